//! `vigil replay`: reads capture files in order through the pipeline, at full speed or paced
//! by packet time, and reports what it saw. Windows and timeouts run on packet time, so the
//! output does not depend on the pace.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::decode::DecodeError;
use crate::event::Timestamp;
use crate::pipeline::{Enricher, PacketInput, Pipeline, PipelineConfig, Rules, Sink};
use crate::source::pcap::{CaptureError, CaptureReader};
// Log inputs (syslog, auditd, JSON, VPC flow logs, hypervisor logs).
use crate::logs::detect::Detected;
use crate::logs::LogSourceSpec;
use crate::source::logfile::{self, LogFileError, LogReader};

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// As fast as the machine goes.
    Max,
    /// Packet time scaled: `1x` is real time, `10x` ten times faster.
    Factor(f64),
}

impl FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Speed, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        let n = s.strip_suffix(['x', 'X']).unwrap_or(s);
        match n.parse::<f64>() {
            Ok(k) if k > 0.0 && k.is_finite() => Ok(Speed::Factor(k)),
            _ => Err(format!(
                "speed `{s}` is not `max` or a positive factor like `1x`, `10x`, `0.5x`"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("{file}: {reason}")]
    Unrecognized { file: PathBuf, reason: String },
    #[error("output: {0}")]
    Output(std::io::Error),
    #[error(transparent)]
    Log(#[from] LogFileError),
}

/// What a replay saw.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub files: usize,
    pub packets: u64,
    pub bytes: u64,
    pub non_ip: u64,
    pub decode_errors: u64,
    pub elapsed: Duration,
    /// Log inputs: lines read, events they made, lines that did not parse.
    pub log_lines: u64,
    pub log_events: u64,
    pub parse_errors: u64,
    /// Time of the first packet or log event read, in input order (a drill's start when its
    /// expectations give no window).
    pub first_ts: Option<Timestamp>,
}

pub struct Replay {
    pub files: Vec<PathBuf>,
    pub speed: Speed,
    pub progress: bool,
    pub pipeline: PipelineConfig,
    /// Rules to evaluate; `None` runs without detection.
    pub rules: Option<Rules>,
    /// `--logsource`: what log inputs hold (applied to their events), or `any`.
    pub logsource: Option<LogSourceSpec>,
}

/// Decode errors reported one by one before the rest are only counted.
const ERRORS_SHOWN: u64 = 10;

impl Replay {
    pub fn new(files: Vec<PathBuf>) -> Replay {
        Replay {
            files,
            speed: Speed::Max,
            progress: std::io::stderr().is_terminal(),
            // Replays give the same alerts on every run, whatever the worker count.
            pipeline: PipelineConfig {
                ordered: true,
                ..PipelineConfig::default()
            },
            rules: None,
            logsource: None,
        }
    }

    /// Checks that every file exists and is of a kind vigil reads, before anything runs.
    /// Stdin (`-`) can only be looked at when it is read.
    pub fn check_inputs(&self) -> Result<(), ReplayError> {
        for f in self.files.iter().filter(|f| f.as_os_str() != "-") {
            logfile::open(f)?;
        }
        Ok(())
    }

    pub fn run(&self, enricher: Enricher, sink: Box<dyn Sink>) -> Result<Summary, ReplayError> {
        self.check_inputs()?;
        let started = Instant::now();
        let pipeline =
            Pipeline::start_with_rules(self.pipeline.clone(), enricher, self.rules.clone(), sink);
        let mut input = pipeline.packet_input("pcap", true);
        let progress = Progress::start(self.progress);
        let mut summary = Summary {
            files: self.files.len(),
            ..Summary::default()
        };
        let mut pace = Pace::new(self.speed);
        let mut result = Ok(());
        for f in &self.files {
            progress.file(f);
            if let Err(e) = self.one_input(f, &mut input, &mut summary, &mut pace, &progress) {
                result = Err(e);
                break;
            }
        }
        input.flush();
        drop(input);
        progress.stop();
        let out = pipeline.finish();
        summary.elapsed = started.elapsed();
        result?;
        out.map_err(ReplayError::Output)?;
        Ok(summary)
    }

    /// One input: a capture, or a log in the format its content shows.
    fn one_input(
        &self,
        path: &Path,
        input: &mut PacketInput,
        summary: &mut Summary,
        pace: &mut Pace,
        progress: &Progress,
    ) -> Result<(), ReplayError> {
        let (kind, stream) = logfile::open(path)?;
        match kind {
            Detected::Capture if path.as_os_str() != "-" => {
                drop(stream);
                self.one_file(path, None, input, summary, pace, progress)
            }
            Detected::Capture => self.one_file(path, Some(stream), input, summary, pace, progress),
            Detected::Log(format) => {
                let reader = LogReader::new(
                    path,
                    stream,
                    format,
                    "file",
                    Timestamp::now(),
                    self.logsource.clone(),
                );
                self.one_log(reader, input, summary, pace)
            }
        }
    }

    /// A log input: its events go to the pipeline in batches (enrichment applies); the
    /// pipeline's bounded queues make this wait when the workers are behind.
    fn one_log(
        &self,
        mut reader: LogReader,
        input: &mut PacketInput,
        summary: &mut Summary,
        pace: &mut Pace,
    ) -> Result<(), ReplayError> {
        let batch = match self.speed {
            Speed::Max => self.pipeline.batch.max(1),
            Speed::Factor(_) => 1,
        };
        let mut events = Vec::with_capacity(batch);
        loop {
            let more = reader.next_batch(&mut events, batch)?;
            if let Some(first) = events.first() {
                summary.first_ts.get_or_insert(first.ts);
                pace.wait(first.ts, input);
            }
            summary.log_events += events.len() as u64;
            input.push_events(std::mem::replace(&mut events, Vec::with_capacity(batch)));
            if !more {
                break;
            }
        }
        summary.log_lines += reader.lines();
        summary.parse_errors += reader.errors();
        Ok(())
    }

    fn one_file(
        &self,
        path: &Path,
        stream: Option<logfile::Stream>,
        input: &mut PacketInput,
        summary: &mut Summary,
        pace: &mut Pace,
        progress: &Progress,
    ) -> Result<(), ReplayError> {
        let mut reader = match stream {
            Some(s) => CaptureReader::from_reader(path, s, 0)?,
            None => CaptureReader::open(path)?,
        };
        let mut unsupported_link = None;
        let mut n = 0u64;
        reader.for_each(|frame| {
            n += 1;
            summary.packets += 1;
            summary.bytes += frame.wire_len as u64;
            summary.first_ts.get_or_insert(frame.ts);
            pace.wait(frame.ts, input);
            let Some(link) = frame.link else {
                summary.decode_errors += 1;
                input.count_frame(frame.wire_len);
                input.count_decode_error("link");
                if unsupported_link.is_none() {
                    unsupported_link = Some(frame.link_raw);
                    eprintln!(
                        "vigil: {}: packet {} (offset {}): link type {} is not decoded; its packets are counted as decode errors",
                        path.display(),
                        frame.number,
                        frame.offset,
                        frame.link_raw
                    );
                }
                return true;
            };
            match input.push_frame(frame.ts, link, frame.data, frame.wire_len) {
                Ok(true) => {}
                Ok(false) => summary.non_ip += 1,
                Err(e) => {
                    summary.decode_errors += 1;
                    report_decode_error(path, frame.number, frame.offset, &e, summary.decode_errors);
                }
            }
            if n % 4096 == 0 {
                progress.update(frame.offset, summary.packets);
            }
            true
        })?;
        input.flush();
        Ok(())
    }
}

fn report_decode_error(path: &Path, packet: u64, offset: u64, e: &DecodeError, seen: u64) {
    if seen <= ERRORS_SHOWN {
        eprintln!(
            "vigil: {}: packet {packet} (offset {offset}): malformed packet: {e}",
            path.display()
        );
    }
    if seen == ERRORS_SHOWN {
        eprintln!(
            "vigil: further malformed packets are counted (vigil_decode_errors_total), not shown"
        );
    }
}

/// Paces packets by their timestamps at a speed factor.
struct Pace {
    speed: Speed,
    origin: Option<(Timestamp, Instant)>,
}

impl Pace {
    fn new(speed: Speed) -> Pace {
        Pace {
            speed,
            origin: None,
        }
    }

    fn wait(&mut self, ts: Timestamp, input: &mut PacketInput) {
        let Speed::Factor(k) = self.speed else { return };
        let (t0, w0) = *self.origin.get_or_insert((ts, Instant::now()));
        let due = Duration::from_secs_f64(((ts.0 - t0.0).max(0) as f64 / 1e9) / k);
        let elapsed = w0.elapsed();
        if due > elapsed {
            // Let the workers see what came before the pause.
            input.flush();
            std::thread::sleep(due - elapsed);
        }
    }
}

/// Progress on stderr, for a person watching a long replay on a terminal.
struct Progress {
    shared: Option<Arc<ProgressState>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct ProgressState {
    running: AtomicBool,
    offset: AtomicU64,
    size: AtomicU64,
    packets: AtomicU64,
    name: std::sync::Mutex<String>,
}

impl Progress {
    fn start(enabled: bool) -> Progress {
        if !enabled {
            return Progress {
                shared: None,
                thread: None,
            };
        }
        let st = Arc::new(ProgressState::default());
        st.running.store(true, Ordering::Relaxed);
        let s = st.clone();
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut shown = false;
            while s.running.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                if t0.elapsed() < Duration::from_secs(1) {
                    continue; // short replays print nothing
                }
                let (off, size, pk) = (
                    s.offset.load(Ordering::Relaxed),
                    s.size.load(Ordering::Relaxed),
                    s.packets.load(Ordering::Relaxed),
                );
                let pct = if size > 0 {
                    off as f64 * 100.0 / size as f64
                } else {
                    0.0
                };
                let rate = pk as f64 / t0.elapsed().as_secs_f64();
                let name = s.name.lock().map(|n| n.clone()).unwrap_or_default();
                eprint!(
                    "\r\x1b[Kvigil replay: {name} {pct:5.1}%  {pk} packets  {rate:.0} packets/s"
                );
                shown = true;
            }
            if shown {
                eprint!("\r\x1b[K");
            }
        });
        Progress {
            shared: Some(st),
            thread: Some(thread),
        }
    }

    fn file(&self, path: &Path) {
        if let Some(s) = &self.shared {
            if let Ok(mut n) = s.name.lock() {
                *n = path.display().to_string();
            }
            s.size.store(
                std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
                Ordering::Relaxed,
            );
            s.offset.store(0, Ordering::Relaxed);
        }
    }

    fn update(&self, offset: u64, packets: u64) {
        if let Some(s) = &self.shared {
            s.offset.store(offset, Ordering::Relaxed);
            s.packets.store(packets, Ordering::Relaxed);
        }
    }

    fn stop(mut self) {
        if let Some(s) = &self.shared {
            s.running.store(false, Ordering::Relaxed);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
