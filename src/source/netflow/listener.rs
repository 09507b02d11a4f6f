//! The daemon's NetFlow/IPFIX/sFlow collector: one UDP socket, one decoder, datagrams of any
//! of the four formats (recognized by their version), events stamped with the record's own
//! times and handed to the ingest queue in batches, like the syslog listener.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::{FlowExportDecoder, KernelDrops};
use crate::event::Timestamp;
use crate::metrics;
use crate::source::ingest::{BoxFuture, EventSender, Shutdown, Source};

const NAME: &str = "netflow";

/// Flow exports over UDP.
pub struct NetflowUdp {
    sock: UdpSocket,
    decoder: FlowExportDecoder,
    drops: KernelDrops,
    events: Vec<crate::event::Event>,
}

impl NetflowUdp {
    pub async fn bind(addr: SocketAddr, decoder: FlowExportDecoder) -> std::io::Result<NetflowUdp> {
        let sock = UdpSocket::bind(addr).await?;
        let drops = KernelDrops::new(&sock);
        Ok(NetflowUdp {
            sock,
            decoder,
            drops,
            events: Vec::new(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    fn take(&mut self, data: &[u8], peer: SocketAddr, out: &mut EventSender) {
        metrics::PACKETS.with_label_values(&[NAME]).inc();
        metrics::BYTES
            .with_label_values(&[NAME])
            .inc_by(data.len() as u64);
        // A malformed datagram keeps the records before the fault; it is counted in publish.
        let _ = self
            .decoder
            .datagram(peer.ip(), Timestamp::now(), data, &mut self.events);
        for ev in self.events.drain(..) {
            out.push(ev);
        }
    }

    /// Takes every datagram already queued in the kernel, without waiting.
    fn drain(&mut self, buf: &mut [u8], out: &mut EventSender, limit: usize) {
        for _ in 0..limit {
            match self.sock.try_recv_from(buf) {
                Ok((n, peer)) => self.take(&buf[..n], peer, out),
                Err(_) => break,
            }
        }
    }

    async fn serve(mut self, mut out: EventSender, mut shutdown: Shutdown) {
        let mut buf = vec![0u8; 65_536];
        loop {
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => match r {
                    Ok((n, peer)) => {
                        self.take(&buf[..n], peer, &mut out);
                        self.drain(&mut buf, &mut out, 255);
                        out.flush();
                        self.decoder.publish(NAME);
                        self.drops.publish(NAME);
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
                _ = shutdown.wait() => break,
            }
        }
        self.drain(&mut buf, &mut out, usize::MAX);
        out.flush();
        self.decoder.publish(NAME);
        self.drops.publish(NAME);
    }
}

impl Source for NetflowUdp {
    fn name(&self) -> &'static str {
        NAME
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
