//! Log files and stdin: opens an input (`-` is stdin), names its format from its first bytes,
//! and reads it line by line into events, in batches. A line that does not parse is counted
//! (`vigil_parse_errors_total`) and a rate-limited, truncated sample is shown as
//! `FILE:LINE: reason: sample`; it never stops the input. Only I/O errors do.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::event::{Event, Kind, Timestamp};
use crate::logs::detect::{detect, DetectError, Detected, HEAD};
use crate::logs::{truncate, Format, LogError, LogParser, LogSourceSpec};
use crate::metrics;

/// Longest line kept; the rest of a longer line is skipped and the line counted as an error.
pub const MAX_LINE: usize = crate::logs::json::MAX_DOCUMENT;
/// Parse errors shown one by one before sampling sets in.
const ERRORS_SHOWN: u64 = 10;
/// After those, at most one sample per this interval.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Bytes of an offending line shown.
const SAMPLE_BYTES: usize = 120;

#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    #[error("{file}: {reason}")]
    Open { file: PathBuf, reason: String },
    #[error("{file}: {reason}")]
    Format { file: PathBuf, reason: DetectError },
    #[error("{file}:{line}: read error: {reason}")]
    Read {
        file: PathBuf,
        line: u64,
        reason: std::io::Error,
    },
}

/// A byte stream read from its start, whatever was consumed to detect its format.
pub type Stream = Box<dyn Read + Send>;

/// Opens `path` (`-` for stdin) and detects what it holds. The stream returned starts at the
/// input's first byte.
pub fn open(path: &Path) -> Result<(Detected, Stream), LogFileError> {
    let open_err = |e: std::io::Error| LogFileError::Open {
        file: path.to_owned(),
        reason: e.to_string(),
    };
    let mut input: Stream = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(path).map_err(open_err)?)
    };
    let mut head = Vec::with_capacity(HEAD);
    (&mut input)
        .take(HEAD as u64)
        .read_to_end(&mut head)
        .map_err(open_err)?;
    let kind = detect(&head).map_err(|reason| LogFileError::Format {
        file: path.to_owned(),
        reason,
    })?;
    Ok((kind, Box::new(Cursor::new(head).chain(input))))
}

/// Reads one log input into events.
pub struct LogReader {
    file: PathBuf,
    input: BufReader<Stream>,
    parser: LogParser,
    source: &'static str,
    logsource: Option<LogSourceSpec>,
    buf: Vec<u8>,
    line: u64,
    errors: u64,
    unpublished: u64,
    last_sample: Option<Instant>,
    hidden: u64,
    done: bool,
}

impl LogReader {
    /// A reader of `input` in `format`. `source` labels the metrics; `now` is the reference
    /// for stamps without a year; `logsource` (from `--logsource`) is applied to every event.
    pub fn new(
        file: &Path,
        input: Stream,
        format: Format,
        source: &'static str,
        now: Timestamp,
        logsource: Option<LogSourceSpec>,
    ) -> LogReader {
        LogReader {
            file: file.to_owned(),
            input: BufReader::with_capacity(1 << 16, input),
            parser: LogParser::new(format, now),
            source,
            logsource,
            buf: Vec::with_capacity(1024),
            line: 0,
            errors: 0,
            unpublished: 0,
            last_sample: None,
            hidden: 0,
            done: false,
        }
    }

    pub fn format(&self) -> Format {
        self.parser.format()
    }

    /// Lines read so far.
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// Lines (or documents) that did not parse so far.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Reads until `out` holds at least `max` events or the input ends, applying
    /// `--logsource` to the new events and counting them and the parse errors in the
    /// metrics. Returns `false` once the input has ended (`out` may still hold its last
    /// events).
    pub fn next_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool, LogFileError> {
        let first = out.len();
        while !self.done && out.len() < max.max(1) {
            self.buf.clear();
            let n = (&mut self.input)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|reason| LogFileError::Read {
                    file: self.file.clone(),
                    line: self.line + 1,
                    reason,
                })?;
            if n == 0 {
                self.done = true;
                if let Err(e) = self.parser.finish(out) {
                    self.error(&e, "");
                }
                break;
            }
            self.line += 1;
            if self.buf.len() > MAX_LINE && self.buf.last() != Some(&b'\n') {
                self.skip_rest()?;
                let e = LogError::Field {
                    field: "line",
                    value: format!("longer than {MAX_LINE} bytes"),
                };
                self.error(&e, "");
                continue;
            }
            let mut bytes = self.buf.as_slice();
            while let Some((b'\n' | b'\r', rest)) = bytes.split_last() {
                bytes = rest;
            }
            let text = String::from_utf8_lossy(bytes);
            if let Err(e) = self.parser.line(&text, out) {
                let sample = truncate(&text, SAMPLE_BYTES).to_owned();
                self.error(&e, &sample);
            }
        }
        self.publish(&mut out[first..]);
        Ok(!self.done)
    }

    fn skip_rest(&mut self) -> Result<(), LogFileError> {
        loop {
            self.buf.clear();
            let n = (&mut self.input)
                .take(1 << 20)
                .read_until(b'\n', &mut self.buf)
                .map_err(|reason| LogFileError::Read {
                    file: self.file.clone(),
                    line: self.line,
                    reason,
                })?;
            if n == 0 || self.buf.last() == Some(&b'\n') {
                return Ok(());
            }
        }
    }

    fn error(&mut self, e: &LogError, sample: &str) {
        self.errors += 1;
        self.unpublished += 1;
        let show = self.errors <= ERRORS_SHOWN
            || self.last_sample.is_none_or(|t| t.elapsed() >= SAMPLE_EVERY);
        if !show {
            self.hidden += 1;
            return;
        }
        if self.errors > ERRORS_SHOWN {
            self.last_sample = Some(Instant::now());
        }
        let hidden = std::mem::take(&mut self.hidden);
        let more = if hidden > 0 {
            format!(" ({hidden} more not shown)")
        } else {
            String::new()
        };
        let sample = if sample.is_empty() {
            String::new()
        } else {
            format!(": {sample:?}")
        };
        eprintln!(
            "vigil: {}:{}: {e}{sample}{more}",
            self.file.display(),
            self.line,
        );
        if self.errors == ERRORS_SHOWN {
            eprintln!(
                "vigil: {}: further parse errors are counted (vigil_parse_errors_total) and sampled",
                self.file.display()
            );
        }
    }

    /// Applies `--logsource` and adds the batch to the metrics.
    fn publish(&mut self, events: &mut [Event]) {
        if let Some(spec) = &self.logsource {
            for ev in events.iter_mut() {
                spec.apply(&mut ev.logsource);
            }
        }
        if self.unpublished > 0 {
            metrics::PARSE_ERRORS
                .with_label_values(&[self.source, self.parser.format().as_str()])
                .inc_by(std::mem::take(&mut self.unpublished));
        }
        let flows = events.iter().filter(|e| e.kind == Kind::Flow).count() as u64;
        let logs = events.len() as u64 - flows;
        for (kind, n) in [(Kind::Log, logs), (Kind::Flow, flows)] {
            if n > 0 {
                metrics::EVENTS
                    .with_label_values(&[self.source, kind.as_str()])
                    .inc_by(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(text: &'static str, format: Format) -> LogReader {
        LogReader::new(
            Path::new("t.log"),
            Box::new(text.as_bytes()),
            format,
            "test",
            Timestamp::now(),
            Some("product=linux,service=auth".parse().expect("test input")),
        )
    }

    #[test]
    fn batches_errors_and_logsource() {
        let mut r = reader(
            "<13>Oct 11 22:14:15 h a: one\r\n<999>bad\n\n<13>Oct 11 22:14:16 h a: two\n<13>Oct 11 22:14:17 h a: three",
            Format::Syslog,
        );
        let mut out = Vec::new();
        assert!(r.next_batch(&mut out, 2).expect("test input"));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].logsource.service.as_deref(), Some("auth"));
        out.clear();
        assert!(!r.next_batch(&mut out, 2).expect("test input"));
        assert_eq!(out.len(), 1);
        assert_eq!((r.lines(), r.errors()), (5, 1));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let bytes: &'static [u8] = b"<13>Oct 11 22:14:15 h a: caf\xe9\n\xff\xfe\n";
        let mut r = LogReader::new(
            Path::new("t.log"),
            Box::new(bytes),
            Format::Syslog,
            "test",
            Timestamp::now(),
            None,
        );
        let mut out = Vec::new();
        assert!(!r.next_batch(&mut out, 10).expect("test input"));
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].get_str(crate::event::f::MESSAGE),
            Some("caf\u{fffd}")
        );
    }

    #[test]
    fn open_reports_unreadable_inputs() {
        let e = open(Path::new("/nonexistent/vigil"))
            .err()
            .expect("test input");
        assert!(e.to_string().starts_with("/nonexistent/vigil: "));
    }
}
