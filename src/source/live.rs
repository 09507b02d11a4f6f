//! Live capture on Ethernet interfaces through pnet's datalink channel (AF_PACKET), one
//! thread per socket, with the kernel's flow-hash fanout spreading packets over several
//! sockets. Packets are stamped at arrival; a full pipeline queue drops and counts, never
//! stalls the socket.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pnet_datalink::{
    Channel, Config, DataLinkReceiver, FanoutOption, FanoutType, NetworkInterface,
};

use crate::decode::LinkType;
use crate::event::Timestamp;
use crate::metrics;
use crate::pipeline::PacketInput;

/// Large enough for jumbo frames and for the 64 KiB packets GRO hands to AF_PACKET on veth
/// and virtio interfaces (pnet's default of 4096 would cut them).
const READ_BUFFER: usize = 256 * 1024;
/// How long a read waits before the thread checks for shutdown and flushes its batches.
const POLL: Duration = Duration::from_millis(100);

/// What to capture.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    pub interface: String,
    /// Sockets (and threads) for this interface; above one, they join one fanout group.
    pub threads: usize,
    pub promiscuous: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("live capture: no interface `{name}` (this host has: {available})")]
    NoInterface { name: String, available: String },
    #[error(
        "live capture on `{name}` needs the CAP_NET_RAW capability (and CAP_NET_ADMIN for promiscuous mode): \
         run vigil as root, or grant them: the systemd unit does with AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN \
         (systemd/vigil.service); for a manual run, `setcap cap_net_raw,cap_net_admin+ep $(command -v vigil)`"
    )]
    Permission { name: String },
    #[error("live capture on `{name}`: {source}")]
    Open { name: String, source: io::Error },
    #[error("live capture on `{name}`: the interface is not Ethernet")]
    NotEthernet { name: String },
}

impl CaptureError {
    /// Whether this is the operator's to fix (exit code 2) rather than a fault of the run.
    pub fn is_config(&self) -> bool {
        !matches!(self, CaptureError::Open { .. })
    }
}

fn find(name: &str) -> Result<NetworkInterface, CaptureError> {
    let all = pnet_datalink::interfaces();
    match all.iter().find(|i| i.name == name) {
        Some(i) => Ok(i.clone()),
        None => Err(CaptureError::NoInterface {
            name: name.to_string(),
            available: all
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn open(
    iface: &NetworkInterface,
    cfg: &CaptureConfig,
    group: u16,
) -> Result<Box<dyn DataLinkReceiver>, CaptureError> {
    let config = Config {
        read_buffer_size: READ_BUFFER,
        read_timeout: Some(POLL),
        promiscuous: cfg.promiscuous,
        linux_fanout: (cfg.threads > 1).then_some(FanoutOption {
            group_id: group,
            fanout_type: FanoutType::HASH,
            defrag: true,
            rollover: false,
        }),
        ..Config::default()
    };
    match pnet_datalink::channel(iface, config) {
        Ok(Channel::Ethernet(_tx, rx)) => Ok(rx),
        Ok(_) => Err(CaptureError::NotEthernet {
            name: iface.name.clone(),
        }),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(CaptureError::Permission {
            name: iface.name.clone(),
        }),
        Err(source) => Err(CaptureError::Open {
            name: iface.name.clone(),
            source,
        }),
    }
}

/// Opens every socket first, so that a missing interface or capability fails at start, then
/// runs one capture thread per socket until `stop` is set. `input` makes each thread's
/// handle into the pipeline (a network source: drops and counts when full).
pub fn start(
    captures: &[CaptureConfig],
    input: impl Fn() -> PacketInput,
    stop: Arc<AtomicBool>,
) -> Result<Vec<JoinHandle<()>>, CaptureError> {
    let mut sockets = Vec::new();
    for (n, cfg) in captures.iter().enumerate() {
        let iface = find(&cfg.interface)?;
        // One fanout group per interface, distinct from other processes' groups.
        let group = (std::process::id() as u16).wrapping_add(n as u16);
        for _ in 0..cfg.threads.max(1) {
            sockets.push((cfg.interface.clone(), open(&iface, cfg, group)?));
        }
    }
    let mut threads = Vec::new();
    for (i, (name, rx)) in sockets.into_iter().enumerate() {
        let input = input();
        let stop = stop.clone();
        let t = std::thread::Builder::new()
            .name(format!("capture-{name}-{i}"))
            .spawn(move || capture(&name, rx, input, &stop))
            .map_err(|source| CaptureError::Open {
                name: format!("thread {i}"),
                source,
            })?;
        threads.push(t);
    }
    Ok(threads)
}

fn capture(
    name: &str,
    mut rx: Box<dyn DataLinkReceiver>,
    mut input: PacketInput,
    stop: &AtomicBool,
) {
    let mut beat = Instant::now();
    let mut read_errors = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match rx.next() {
            Ok(frame) => {
                // Malformed frames are counted by layer; a live link has nobody to tell.
                let _ = input.push_frame(
                    Timestamp::now(),
                    LinkType::Ethernet,
                    frame,
                    frame.len() as u32,
                );
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
            Err(e) => {
                read_errors += 1;
                if read_errors == 1 || read_errors.is_power_of_two() {
                    eprintln!("vigil: capture on {name}: read error ({read_errors} so far): {e}");
                }
                std::thread::sleep(POLL);
            }
        }
        // A quiet link still moves time on (flows expire) and hands over what it has.
        if beat.elapsed() >= POLL {
            beat = Instant::now();
            input.heartbeat(Timestamp::now());
            publish_interface_drops(name);
        }
    }
    input.flush();
}

/// The interface's own receive drops, as the kernel counts them (sysfs), where readable.
fn publish_interface_drops(name: &str) {
    let path = format!("/sys/class/net/{name}/statistics/rx_dropped");
    if let Some(n) = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
    {
        metrics::INTERFACE_RX_DROPPED
            .with_label_values(&[name])
            .set(n);
    }
}
