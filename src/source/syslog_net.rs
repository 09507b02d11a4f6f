//! Syslog over the network: a UDP listener (one message per datagram, RFC 5426) and a TCP
//! listener (newline-delimited or octet-counted frames, RFC 6587) with per-connection limits.
//! Both stamp messages at arrival and turn them into events in [`line_to_event`], the single
//! place where the log parsers plug in. [`read_stream`] frames any byte stream, so syslog over
//! TLS (`syslog_tls.rs`) reads its decrypted connections the same way.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::event::{intern, Event, FieldId, Timestamp};
use crate::metrics;
use crate::source::ingest::{BoxFuture, EventSender, Shutdown, Source};

/// The address a message came from, as a field (the message's own `host` may differ).
static PEER_IP: LazyLock<FieldId> = LazyLock::new(|| intern("peer_ip"));

/// Reads one TCP connection takes in a row before it flushes and yields to the runtime.
const MAX_READS_PER_WAKE: usize = 64;

/// How long a TCP connection waits before looking again at a backlogged ingest queue.
const BACKLOG_PAUSE: Duration = Duration::from_millis(1);
/// The longest a TCP reader holds off for the pipeline; past it, it reads again and a full
/// queue drops and counts, so a stalled pipeline never blocks the socket reader forever.
const MAX_BACKLOG_WAIT: Duration = Duration::from_secs(2);

/// How long open TCP connections may go on delivering after shutdown began.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Turns one received syslog message (RFC 3164 or 5424) into an event, with the sender in
/// `peer_ip`. A message that does not parse still becomes an event (its text in `message`,
/// stamped at arrival) and is counted in `vigil_parse_errors_total`.
pub fn line_to_event(line: &[u8], ts: Timestamp, peer: SocketAddr) -> Event {
    let line = trim_line(line);
    // Valid UTF-8 is the rule; checking it first is faster than the lossy decoder.
    let text = match std::str::from_utf8(line) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(line),
    };
    let (mut ev, err) = crate::logs::syslog::parse_or_raw(&text, ts);
    if err.is_some() {
        metrics::PARSE_ERRORS
            .with_label_values(&["syslog", "syslog"])
            .inc();
    }
    ev.fields.push(*PEER_IP, peer.ip());
    ev
}

/// The message without the line end and trailing NULs some senders add.
fn trim_line(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | 0] = line {
        line = rest;
    }
    line
}

/// Syslog over UDP.
pub struct SyslogUdp {
    sock: UdpSocket,
    max_message: usize,
}

impl SyslogUdp {
    pub async fn bind(addr: SocketAddr, max_message: usize) -> std::io::Result<SyslogUdp> {
        Ok(SyslogUdp {
            sock: UdpSocket::bind(addr).await?,
            max_message,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    fn take(&self, data: &[u8], peer: SocketAddr, out: &mut EventSender) {
        if data.len() > self.max_message {
            out.dropped("too_long", 1);
        } else if !trim_line(data).is_empty() {
            out.push(line_to_event(data, Timestamp::now(), peer));
        }
    }

    /// Takes every datagram already queued in the kernel, without waiting.
    fn drain(&self, buf: &mut [u8], out: &mut EventSender, limit: usize) {
        for _ in 0..limit {
            match self.sock.try_recv_from(buf) {
                Ok((n, peer)) => self.take(&buf[..n], peer, out),
                Err(_) => break,
            }
        }
    }

    async fn serve(self, mut out: EventSender, mut shutdown: Shutdown) {
        // The largest UDP payload; a longer message cannot arrive whole anyway.
        let mut buf = vec![0u8; 65_536];
        loop {
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => match r {
                    Ok((n, peer)) => {
                        self.take(&buf[..n], peer, &mut out);
                        // Batch what is already waiting before handing it on.
                        self.drain(&mut buf, &mut out, 1023);
                        out.flush();
                    }
                    // ICMP errors from earlier sends and the like; the socket is still good.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
                _ = shutdown.wait() => break,
            }
        }
        self.drain(&mut buf, &mut out, usize::MAX);
        out.flush();
    }
}

impl Source for SyslogUdp {
    fn name(&self) -> &'static str {
        "syslog_udp"
    }
    fn describe(&self) -> String {
        match self.local_addr() {
            Ok(a) => format!("udp {a}"),
            Err(_) => "udp".into(),
        }
    }
    fn run(self: Box<Self>, out: EventSender, shutdown: Shutdown) -> BoxFuture {
        Box::pin(self.serve(out, shutdown))
    }
}

/// Syslog over a TCP stream: plain, or TLS when built by `syslog_tls::bind` (RFC 5425). One
/// accept loop serves both; only the first step of a connection, the handshake, differs.
pub struct SyslogTcp {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    max_message: usize,
    connections: Arc<Semaphore>,
}

impl SyslogTcp {
    pub async fn bind(
        addr: SocketAddr,
        max_message: usize,
        max_connections: usize,
    ) -> std::io::Result<SyslogTcp> {
        SyslogTcp::bind_with(addr, None, max_message, max_connections).await
    }

    pub(crate) async fn bind_with(
        addr: SocketAddr,
        tls: Option<TlsAcceptor>,
        max_message: usize,
        max_connections: usize,
    ) -> std::io::Result<SyslogTcp> {
        Ok(SyslogTcp {
            listener: TcpListener::bind(addr).await?,
            tls,
            max_message,
            connections: Arc::new(Semaphore::new(max_connections.max(1))),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    fn listener_name(&self) -> &'static str {
        if self.tls.is_some() {
            "syslog_tls"
        } else {
            "syslog_tcp"
        }
    }

    /// One connection: the TLS handshake when there is one, then the framed stream.
    fn spawn(
        &self,
        conns: &mut JoinSet<()>,
        tcp: TcpStream,
        peer: SocketAddr,
        out: &EventSender,
        shutdown: &Shutdown,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        let (name, tls, max) = (self.listener_name(), self.tls.clone(), self.max_message);
        let (out, mut sd) = (out.fork(), shutdown.clone());
        conns.spawn(async move {
            let _permit = permit;
            match tls {
                None => read_stream(name, tcp, out, max, peer, sd).await,
                Some(acceptor) => {
                    if let Some(stream) =
                        crate::source::syslog_tls::handshake(&acceptor, tcp, &mut sd).await
                    {
                        read_stream(name, stream, out, max, peer, sd).await;
                    }
                }
            }
        });
    }

    async fn serve(self, out: EventSender, mut shutdown: Shutdown) {
        let mut conns = JoinSet::new();
        loop {
            // Past the connection limit new peers wait in the kernel's backlog.
            let permit = tokio::select! {
                p = self.connections.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = shutdown.wait() => break,
            };
            tokio::select! {
                r = self.listener.accept() => match r {
                    Ok((tcp, peer)) => self.spawn(&mut conns, tcp, peer, &out, &shutdown, Some(permit)),
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                _ = shutdown.wait() => break,
            }
            // Reap finished connections so the set does not grow.
            while conns.try_join_next().is_some() {}
        }
        // Peers that connected just before shutdown still get read.
        while let Ok(Ok((tcp, peer))) =
            tokio::time::timeout(Duration::from_millis(20), self.listener.accept()).await
        {
            self.spawn(&mut conns, tcp, peer, &out, &shutdown, None);
        }
        // Open connections read what their peers already sent, for a bounded time.
        while conns.join_next().await.is_some() {}
    }
}

impl Source for SyslogTcp {
    fn name(&self) -> &'static str {
        self.listener_name()
    }
    fn describe(&self) -> String {
        let proto = if self.tls.is_some() { "tls" } else { "tcp" };
        match self.local_addr() {
            Ok(a) => format!("{proto} {a}"),
            Err(_) => proto.into(),
        }
    }
    fn run(self: Box<Self>, out: EventSender, shutdown: Shutdown) -> BoxFuture {
        Box::pin(self.serve(out, shutdown))
    }
}

/// Reads one stream-oriented syslog connection (plain TCP, or TLS once its handshake is done)
/// until the peer closes it, or until shortly after shutdown; counts it in
/// `vigil_connections_open{listener}`.
pub async fn read_stream<S: AsyncRead + Unpin>(
    listener: &'static str,
    stream: S,
    out: EventSender,
    max_message: usize,
    peer: SocketAddr,
    shutdown: Shutdown,
) {
    Connection::new(out, max_message, peer)
        .read(listener, stream, shutdown)
        .await
}

struct Connection {
    out: EventSender,
    framer: Framer,
    peer: SocketAddr,
}

impl Connection {
    fn new(out: EventSender, max_message: usize, peer: SocketAddr) -> Connection {
        Connection {
            out,
            framer: Framer::new(max_message),
            peer,
        }
    }

    async fn read<S: AsyncRead + Unpin>(
        mut self,
        listener: &'static str,
        mut stream: S,
        mut shutdown: Shutdown,
    ) {
        let gauge = metrics::CONNECTIONS.with_label_values(&[listener]);
        gauge.inc();
        // Big reads amortise the wakeups; what one read brings is batched whole.
        let mut chunk = vec![0u8; 256 * 1024];
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            // Backpressure: leave the bytes in the socket while the pipeline catches up.
            let held_since = std::time::Instant::now();
            while self.out.backlogged()
                && deadline.is_none()
                && !shutdown.is_fired()
                && held_since.elapsed() < MAX_BACKLOG_WAIT
            {
                tokio::time::sleep(BACKLOG_PAUSE).await;
            }
            let n = match deadline {
                None => tokio::select! {
                    r = stream.read(&mut chunk) => r,
                    _ = shutdown.wait() => {
                        // Keep reading what the peer already sent, for a bounded time.
                        deadline = Some(tokio::time::Instant::now() + DRAIN_GRACE);
                        continue;
                    }
                },
                Some(d) => match tokio::time::timeout_at(d, stream.read(&mut chunk)).await {
                    Ok(r) => r,
                    Err(_) => break,
                },
            };
            match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.take(n, &chunk);
                    // A busy sender has more waiting already: keep filling batches, and hand
                    // a partial one on only when the socket is momentarily empty. Bounded, so
                    // that a sender that never pauses still lets shutdown be seen.
                    for _ in 0..MAX_READS_PER_WAKE {
                        // A zero timeout polls the read once: data already there, or stop.
                        // (Plain TCP and TLS streams alike; `read` is cancel-safe.)
                        match tokio::time::timeout(Duration::ZERO, stream.read(&mut chunk)).await {
                            Ok(Ok(n)) if n > 0 => self.take(n, &chunk),
                            _ => break,
                        }
                    }
                    self.out.flush();
                }
            }
        }
        let (peer, out, ts) = (self.peer, &mut self.out, Timestamp::now());
        self.framer.finish(&mut |frame| emit(frame, ts, peer, out));
        self.out.flush();
        gauge.dec();
    }

    /// Frames what one read brought; its messages share one arrival stamp.
    fn take(&mut self, n: usize, chunk: &[u8]) {
        let (peer, out, ts) = (self.peer, &mut self.out, Timestamp::now());
        self.framer
            .feed(&chunk[..n], &mut |frame| emit(frame, ts, peer, out));
    }
}

fn emit(frame: Result<&[u8], FrameError>, ts: Timestamp, peer: SocketAddr, out: &mut EventSender) {
    match frame {
        Ok(line) if !trim_line(line).is_empty() => out.push(line_to_event(line, ts, peer)),
        Ok(_) => {}
        Err(FrameError::TooLong) => out.dropped("too_long", 1),
    }
}

/// Receives each frame, or why one was skipped.
pub type FrameOut<'a> = dyn FnMut(Result<&[u8], FrameError>) + 'a;

/// Why a frame was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Longer than the configured maximum; skipped whole.
    TooLong,
}

/// Splits a TCP byte stream into syslog messages: octet-counted (`LEN SP <PRI>...`) when a
/// frame starts with a length, a space and a priority, newline-delimited otherwise. A frame
/// longer than the limit is skipped to its end and reported once, never buffered whole.
pub struct Framer {
    buf: Vec<u8>,
    max: usize,
    /// Bytes of an over-long octet-counted frame still to skip.
    skip: usize,
    /// Inside an over-long line: skip to the next newline.
    skip_line: bool,
}

/// Digits of an octet count; 9 allows up to a gigabyte, far past any limit.
const MAX_COUNT_DIGITS: usize = 9;

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            max: max.max(1),
            skip: 0,
            skip_line: false,
        }
    }

    /// Adds bytes and calls `out` with every complete frame.
    pub fn feed(&mut self, data: &[u8], out: &mut FrameOut<'_>) {
        let mut data = data;
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        if self.skip_line {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.skip_line = false;
                    data = &data[i + 1..];
                }
                None => return,
            }
        }
        self.buf.extend_from_slice(data);
        let mut at = 0;
        while at < self.buf.len() {
            let rest = &self.buf[at..];
            match octet_count(rest) {
                Count::Frame(hdr, len) => {
                    if len > self.max {
                        out(Err(FrameError::TooLong));
                        let have = rest.len() - hdr;
                        if have >= len {
                            at += hdr + len;
                            continue;
                        }
                        self.skip = len - have;
                        at = self.buf.len();
                        break;
                    }
                    if rest.len() < hdr + len {
                        break;
                    }
                    out(Ok(&rest[hdr..hdr + len]));
                    at += hdr + len;
                    continue;
                }
                Count::NeedMore => break,
                Count::NotCounted => {}
            }
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    if i > self.max {
                        out(Err(FrameError::TooLong));
                    } else {
                        out(Ok(&rest[..i]));
                    }
                    at += i + 1;
                }
                None => {
                    if rest.len() > self.max {
                        out(Err(FrameError::TooLong));
                        self.skip_line = true;
                        at = self.buf.len();
                    }
                    break;
                }
            }
        }
        self.buf.drain(..at);
    }

    /// At the end of the stream: a last line without its newline is still a message, and so
    /// is what arrived of a cut octet-counted frame (without its count).
    pub fn finish(&mut self, out: &mut FrameOut<'_>) {
        if !self.buf.is_empty() && self.skip == 0 && !self.skip_line {
            let last = match octet_count(&self.buf) {
                Count::Frame(hdr, _) => &self.buf[hdr..],
                _ => &self.buf[..],
            };
            if last.len() > self.max {
                out(Err(FrameError::TooLong));
            } else {
                out(Ok(last));
            }
        }
        self.buf.clear();
    }
}

enum Count {
    /// Header length (digits and space) and message length.
    Frame(usize, usize),
    NeedMore,
    NotCounted,
}

fn octet_count(b: &[u8]) -> Count {
    if !b.first().is_some_and(u8::is_ascii_digit) {
        return Count::NotCounted;
    }
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > MAX_COUNT_DIGITS {
        return Count::NotCounted;
    }
    match b.get(digits) {
        None => Count::NeedMore,
        // A syslog message starts with its priority, `<`; without it this is a line that
        // happens to start with digits.
        Some(b' ') => match b.get(digits + 1) {
            None => Count::NeedMore,
            Some(b'<') => {
                let len = b[..digits]
                    .iter()
                    .fold(0usize, |n, d| n * 10 + (d - b'0') as usize);
                Count::Frame(digits + 1, len)
            }
            Some(_) => Count::NotCounted,
        },
        Some(_) => Count::NotCounted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::f;

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<Result<String, FrameError>> {
        let mut f = Framer::new(max);
        let mut got = Vec::new();
        let mut out = |r: Result<&[u8], FrameError>| {
            got.push(r.map(|b| String::from_utf8_lossy(b).into_owned()))
        };
        for c in chunks {
            f.feed(c, &mut out);
        }
        f.finish(&mut out);
        got
    }

    #[test]
    fn newline_frames_across_chunks() {
        let got = frames(100, &[b"<13>a b", b"c\n<13>d\r\n", b"<13>tail"]);
        assert_eq!(
            got,
            vec![
                Ok("<13>a bc".into()),
                Ok("<13>d\r".into()),
                Ok("<13>tail".into())
            ]
        );
    }

    #[test]
    fn octet_counted_frames_split_anywhere() {
        let stream = b"5 <13>a6 <13>bc\n";
        for cut in 0..stream.len() {
            let got = frames(100, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(
                got,
                vec![Ok("<13>a".into()), Ok("<13>bc".into()), Ok("".into())],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn over_long_frames_are_skipped_and_reported_once() {
        let got = frames(
            4,
            &[b"12 <13>toolo", b"ng!<13>\n", b"abcdefgh", b"ij\nok\n"],
        );
        assert_eq!(
            got,
            vec![
                Err(FrameError::TooLong),
                Ok("<13>".into()),
                Err(FrameError::TooLong),
                Ok("ok".into())
            ]
        );
    }

    #[test]
    fn a_cut_octet_counted_frame_keeps_what_arrived() {
        assert_eq!(
            frames(100, &[b"20 <13>cut short"]),
            vec![Ok("<13>cut short".into())]
        );
    }

    #[test]
    fn a_line_starting_with_digits_is_not_a_count() {
        let got = frames(100, &[b"2024 something\n", b"123456789012 x\n"]);
        assert_eq!(
            got,
            vec![Ok("2024 something".into()), Ok("123456789012 x".into())]
        );
    }

    #[test]
    fn line_to_event_trims_and_tags_the_peer() {
        let ev = line_to_event(
            b"<13>Nov 28 12:00:00 h app: hi\r\n\0",
            Timestamp(5),
            "10.1.2.3:514".parse().expect("test input is valid"),
        );
        assert_eq!(ev.get_str(f::MESSAGE), Some("hi"));
        assert_eq!(ev.get_str(f::PROGRAM), Some("app"));
        assert_eq!(ev.logsource.service.as_deref(), Some("app"));
        let raw = line_to_event(
            b"\x01 not syslog",
            Timestamp(5),
            "10.1.2.3:514".parse().expect("test input is valid"),
        );
        assert!(raw
            .get_str(f::MESSAGE)
            .is_some_and(|m| m.contains("not syslog")));
        assert_eq!(
            ev.get_ip(*PEER_IP),
            Some(
                "10.1.2.3"
                    .parse::<std::net::IpAddr>()
                    .expect("test input is valid")
            )
        );
    }
}
