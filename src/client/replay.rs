//! `vigil replay FILE... --server URL --token T`: a replay into a running daemon, so that the
//! SOC sees a drill live. Captures are re-cut into pcap chunks (nanosecond timestamps, one
//! link type per chunk) and log files into chunks of whole lines, each at most 1 MiB, and
//! posted to `/api/v1/ingest` in order; the daemon decodes them as a local replay would.
//! `--speed Nx` paces packets by their capture time, as a local replay does.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;

use crate::client::{join, Client, ClientError, ClientOptions};
use crate::event::Timestamp;
use crate::logs::detect::{detect, Detected, HEAD};
use crate::replay::Speed;
use crate::source::pcap::{CaptureError, CaptureReader};

/// Largest body sent at once (the API takes up to 4 MiB).
const CHUNK: usize = 1 << 20;
/// When pacing, packets are sent at least this often.
const PACED_FLUSH: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Capture(#[from] CaptureError),
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("the server refused {what} (HTTP {status}): {body}")]
    Refused {
        what: String,
        status: u16,
        body: String,
    },
    #[error("cannot start the client runtime: {0}")]
    Runtime(std::io::Error),
}

/// What a remote replay sent and the server accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteSummary {
    pub files: usize,
    pub requests: u64,
    pub packets: u64,
    pub lines: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// The first problem the server reported in a body it took.
    pub first_error: Option<String>,
}

pub struct RemoteReplay {
    client: Client,
    url: String,
    speed: Speed,
    rt: tokio::runtime::Runtime,
    pub summary: RemoteSummary,
}

impl RemoteReplay {
    pub fn new(
        server: &str,
        token: String,
        cacert: Option<PathBuf>,
        speed: Speed,
    ) -> Result<RemoteReplay, RemoteError> {
        let client = Client::new(ClientOptions {
            cacert,
            token: Some(token),
            timeout: Duration::from_secs(120),
            ..ClientOptions::default()
        })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RemoteError::Runtime)?;
        Ok(RemoteReplay {
            client,
            url: join(server, "/api/v1/ingest"),
            speed,
            rt,
            summary: RemoteSummary::default(),
        })
    }

    /// Sends every file in order.
    pub fn run(&mut self, files: &[PathBuf]) -> Result<(), RemoteError> {
        for f in files {
            self.file(f)?;
            self.summary.files += 1;
        }
        Ok(())
    }

    fn file(&mut self, path: &Path) -> Result<(), RemoteError> {
        let read_err = |source| RemoteError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut input: Box<dyn Read + Send> = if path == Path::new("-") {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(path).map_err(read_err)?)
        };
        let mut head = Vec::with_capacity(HEAD);
        (&mut input)
            .take(HEAD as u64)
            .read_to_end(&mut head)
            .map_err(read_err)?;
        let kind = detect(&head).map_err(|e| RemoteError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let whole = std::io::Cursor::new(head).chain(input);
        match kind {
            Detected::Capture => self.capture(path, whole),
            Detected::Log(_) => self.lines(path, whole),
        }
    }

    fn lines(&mut self, path: &Path, r: impl Read) -> Result<(), RemoteError> {
        let mut r = BufReader::with_capacity(1 << 16, r);
        let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = r
                .read_until(b'\n', &mut line)
                .map_err(|source| RemoteError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            if !chunk.is_empty() && chunk.len() + line.len() > CHUNK {
                self.post(path, "text/plain", std::mem::take(&mut chunk))?;
            }
            chunk.extend_from_slice(&line);
            if !line.ends_with(b"\n") {
                chunk.push(b'\n');
            }
            self.summary.lines += 1;
        }
        if !chunk.is_empty() {
            self.post(path, "text/plain", chunk)?;
        }
        Ok(())
    }

    fn capture(&mut self, path: &Path, r: impl Read + Send + 'static) -> Result<(), RemoteError> {
        let mut reader = CaptureReader::from_reader(path, r, 0)?;
        let mut chunk = PcapChunk::default();
        let mut failed: Option<RemoteError> = None;
        let started = Instant::now();
        let mut first_ts: Option<Timestamp> = None;
        let mut last_flush = Instant::now();
        let speed = self.speed;
        reader.for_each(|frame| {
            if chunk.link != Some(frame.link_raw)
                || chunk.bytes.len() + frame.data.len() + 16 > CHUNK
            {
                if let Err(e) = self.flush_chunk(path, &mut chunk) {
                    failed = Some(e);
                    return false;
                }
                chunk.start(frame.link_raw);
            }
            if let Speed::Factor(f) = speed {
                let first = *first_ts.get_or_insert(frame.ts);
                let due = Duration::from_nanos(
                    ((frame.ts.0.saturating_sub(first.0)).max(0) as f64 / f) as u64,
                );
                if due > started.elapsed() || last_flush.elapsed() >= PACED_FLUSH {
                    if let Err(e) = self.flush_chunk(path, &mut chunk) {
                        failed = Some(e);
                        return false;
                    }
                    chunk.start(frame.link_raw);
                    last_flush = Instant::now();
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
            }
            chunk.push(frame.ts, frame.data, frame.wire_len);
            self.summary.packets += 1;
            true
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        self.flush_chunk(path, &mut chunk)
    }

    fn flush_chunk(&mut self, path: &Path, chunk: &mut PcapChunk) -> Result<(), RemoteError> {
        if chunk.records == 0 {
            return Ok(());
        }
        let body = std::mem::take(&mut chunk.bytes);
        chunk.records = 0;
        chunk.link = None;
        self.post(path, "application/vnd.tcpdump.pcap", body)
    }

    fn post(&mut self, path: &Path, ctype: &str, body: Vec<u8>) -> Result<(), RemoteError> {
        let resp = self.rt.block_on(self.client.request(
            Method::POST,
            &self.url,
            &[],
            Some((ctype, Bytes::from(body))),
        ))?;
        self.summary.requests += 1;
        if !resp.is_success() {
            return Err(RemoteError::Refused {
                what: format!("a chunk of {}", path.display()),
                status: resp.status,
                body: resp.text(),
            });
        }
        let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
        self.summary.accepted += v["accepted"].as_u64().unwrap_or(0);
        self.summary.rejected += v["rejected"].as_u64().unwrap_or(0);
        if self.summary.first_error.is_none() {
            if let Some(e) = v["first_error"].as_str() {
                self.summary.first_error = Some(format!("{}: {e}", path.display()));
            }
        }
        Ok(())
    }
}

/// A classic pcap file being built: nanosecond magic, one link type.
#[derive(Default)]
struct PcapChunk {
    bytes: Vec<u8>,
    link: Option<i32>,
    records: u64,
}

impl PcapChunk {
    fn start(&mut self, link: i32) {
        self.bytes.clear();
        self.records = 0;
        self.link = Some(link);
        self.bytes.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        self.bytes.extend_from_slice(&2u16.to_le_bytes());
        self.bytes.extend_from_slice(&4u16.to_le_bytes());
        self.bytes.extend_from_slice(&0i32.to_le_bytes());
        self.bytes.extend_from_slice(&0u32.to_le_bytes());
        self.bytes.extend_from_slice(&262_144u32.to_le_bytes());
        self.bytes.extend_from_slice(&(link as u32).to_le_bytes());
    }

    fn push(&mut self, ts: Timestamp, data: &[u8], wire_len: u32) {
        let secs = ts.0.div_euclid(1_000_000_000);
        let nanos = ts.0.rem_euclid(1_000_000_000);
        self.bytes
            .extend_from_slice(&(secs.clamp(0, u32::MAX as i64) as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(nanos as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(&wire_len.to_le_bytes());
        self.bytes.extend_from_slice(data);
        self.records += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_a_capture_vigil_reads_back_with_its_times() {
        let mut c = PcapChunk::default();
        c.start(1);
        let ts = Timestamp(1_732_464_000_123_456_789);
        c.push(ts, &[0u8; 60], 60);
        c.push(Timestamp(ts.0 + 1), &[1u8; 42], 1500);
        let mut r = CaptureReader::from_reader(
            Path::new("chunk"),
            std::io::Cursor::new(c.bytes.clone()),
            0,
        )
        .expect("a capture");
        let mut seen = Vec::new();
        r.for_each(|f| {
            seen.push((f.ts, f.data.len(), f.wire_len, f.link_raw));
            true
        })
        .expect("read");
        assert_eq!(
            seen,
            vec![(ts, 60, 60, 1), (Timestamp(ts.0 + 1), 42, 1500, 1)]
        );
    }
}
