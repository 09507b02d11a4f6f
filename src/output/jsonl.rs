//! JSON lines: one event or alert per line, on stdout for `vigil replay` or into a file.
//! The daemon's file is a [`RotatingFile`]: it moves aside at a size (`alerts.jsonl.1` ..
//! `.N`, oldest dropped), reopens on request (SIGHUP, after an outside logrotate), is made with
//! mode 0640, and only ever cuts between lines.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Deserialize;

use crate::event::{Event, Kind};
use crate::pipeline::Sink;
use crate::rules::Alert;

/// Counts of what went through a sink, readable from another thread.
#[derive(Debug, Default)]
pub struct Tally {
    pub events: AtomicU64,
    pub flows: AtomicU64,
    pub alerts: AtomicU64,
}

/// What a [`JsonLines`] sink writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Print {
    Nothing,
    Events,
    Alerts,
    Both,
}

/// Writes events and/or alerts as JSON lines, counting everything that passes.
pub struct JsonLines<W: Write + Send> {
    out: W,
    print: Print,
    line: Vec<u8>,
    pub tally: Arc<Tally>,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W, print: Print) -> JsonLines<W> {
        JsonLines {
            out,
            print,
            line: Vec::with_capacity(1024),
            tally: Arc::default(),
        }
    }

    fn write<T: serde::Serialize>(&mut self, item: &T) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, item).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }
}

impl<W: Write + Send> Sink for JsonLines<W> {
    fn events(&mut self, events: &mut Vec<Event>) -> io::Result<()> {
        let flows = events.iter().filter(|e| e.kind == Kind::Flow).count() as u64;
        self.tally
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.tally.flows.fetch_add(flows, Ordering::Relaxed);
        if matches!(self.print, Print::Events | Print::Both) {
            for ev in events.iter() {
                self.write(ev)?;
            }
        }
        Ok(())
    }

    fn alerts(&mut self, alerts: &mut Vec<Alert>) -> io::Result<()> {
        self.tally
            .alerts
            .fetch_add(alerts.len() as u64, Ordering::Relaxed);
        if matches!(self.print, Print::Alerts | Print::Both) {
            for a in alerts.iter() {
                self.write(a)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `[output.rotate]`: when the JSON-lines file moves aside.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RotationConfig {
    /// Size at which the file is moved aside; a single longer line still goes in whole.
    pub max_bytes: u64,
    /// Old files kept (`FILE.1` newest .. `FILE.N`); 0 keeps none.
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn default_keep() -> usize {
    5
}

/// Asks a [`RotatingFile`] on another thread to reopen its path before its next write.
#[derive(Clone, Debug, Default)]
pub struct Reopen(Arc<AtomicBool>);

impl Reopen {
    pub fn request(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Buffer size: whole lines are written out once this much is waiting, or on flush.
const BUFFER: usize = 64 << 10;

/// An append-only file that rotates by size and reopens on request. Writes are buffered and
/// go out only up to the last complete line, so a rotation never splits a line.
pub struct RotatingFile {
    path: PathBuf,
    rotation: Option<RotationConfig>,
    file: File,
    size: u64,
    buf: Vec<u8>,
    reopen: Reopen,
}

impl RotatingFile {
    /// Opens (appends to) `path`, making its folder and the file (mode 0640) when missing.
    pub fn open(path: &Path, rotation: Option<RotationConfig>) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            rotation,
            file,
            size,
            buf: Vec::with_capacity(BUFFER),
            reopen: Reopen::default(),
        })
    }

    /// A handle to ask for a reopen (for SIGHUP).
    pub fn reopen_handle(&self) -> Reopen {
        self.reopen.clone()
    }

    /// Writes `buf[..upto]` (whole lines), rotating between lines so that no file passes
    /// `max_bytes` unless one line alone does.
    fn write_out(&mut self, upto: usize) -> io::Result<()> {
        if upto == 0 {
            return Ok(());
        }
        if self.reopen.0.swap(false, Ordering::AcqRel) {
            self.file = open_append(&self.path)?;
            self.size = self.file.metadata()?.len();
        }
        let mut done = 0;
        while done < upto {
            let rest = &self.buf[done..upto];
            let n = match &self.rotation {
                None => rest.len(),
                Some(r) => {
                    let room = r.max_bytes.saturating_sub(self.size) as usize;
                    let fits = rest[..room.min(rest.len())]
                        .iter()
                        .rposition(|b| *b == b'\n')
                        .map_or(0, |i| i + 1);
                    if fits > 0 {
                        fits
                    } else if self.size > 0 {
                        self.rotate()?;
                        continue;
                    } else {
                        // One line longer than max_bytes: alone in its file, whole.
                        rest.iter()
                            .position(|b| *b == b'\n')
                            .map_or(rest.len(), |i| i + 1)
                    }
                }
            };
            self.file.write_all(&self.buf[done..done + n])?;
            self.size += n as u64;
            done += n;
        }
        self.buf.drain(..upto);
        Ok(())
    }

    /// `FILE.(N-1)` -> `FILE.N` .. `FILE` -> `FILE.1`, then a new empty `FILE`.
    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.rotation.as_ref().map_or(0, |r| r.keep);
        self.file.flush()?;
        let numbered = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..keep).rev() {
                match std::fs::rename(numbered(n), numbered(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

impl Write for RotatingFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BUFFER {
            let upto = self
                .buf
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            self.write_out(upto)?;
        }
        Ok(data.len())
    }

    /// Writes every complete line; a partial one waits for its end.
    fn flush(&mut self) -> io::Result<()> {
        let upto = self
            .buf
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        self.write_out(upto)?;
        self.file.flush()
    }
}

impl Drop for RotatingFile {
    fn drop(&mut self) {
        // What is left (a last line without its newline) is better kept than lost.
        let rest = std::mem::take(&mut self.buf);
        let _ = self.file.write_all(&rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vigil-jsonl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn rotates_at_the_size_and_keeps_n_files_of_whole_lines() {
        let d = dir("rotate");
        let path = d.join("alerts.jsonl");
        let rot = RotationConfig {
            max_bytes: 100,
            keep: 2,
        };
        let mut f = RotatingFile::open(&path, Some(rot)).unwrap();
        for i in 0..20 {
            writeln!(f, "{{\"n\":{i:02},\"pad\":\"xxxxxxxxxxxxxxxxxx\"}}").unwrap();
            f.flush().unwrap();
        }
        drop(f);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        let cur = read(&path);
        let one = read(&d.join("alerts.jsonl.1"));
        let two = read(&d.join("alerts.jsonl.2"));
        assert!(!d.join("alerts.jsonl.3").exists());
        for text in [&cur, &one, &two] {
            assert!(text.len() <= 100, "{text}");
            for line in text.lines() {
                serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
        }
        assert!(cur.ends_with("\"n\":19,\"pad\":\"xxxxxxxxxxxxxxxxxx\"}\n"));
        // 36-byte lines, two to a file: the newest six lines survive, oldest in `.2`.
        assert_eq!(cur.lines().count(), 2);
        assert!(one.starts_with("{\"n\":16,"), "{one}");
        assert!(two.starts_with("{\"n\":14,"), "{two}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn reopens_after_the_file_is_moved_away() {
        let d = dir("reopen");
        let path = d.join("alerts.jsonl");
        let mut f = RotatingFile::open(&path, None).unwrap();
        let reopen = f.reopen_handle();
        writeln!(f, "1").unwrap();
        f.flush().unwrap();
        std::fs::rename(&path, d.join("moved")).unwrap();
        reopen.request();
        writeln!(f, "2").unwrap();
        f.flush().unwrap();
        assert_eq!(std::fs::read_to_string(d.join("moved")).unwrap(), "1\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "2\n");
        let _ = std::fs::remove_dir_all(&d);
    }
}
