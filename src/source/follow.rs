//! Following log files as they grow (`[sources] files`): each file is polled, its new complete
//! lines parsed in the format detected from its content, rotations (rename + create, and
//! copytruncate) handled by finishing the old file before reading the new one from its start,
//! and the read position (inode, offset) kept in `DATA/positions.json` across restarts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::{Event, Kind, Timestamp};
use crate::logs::detect::{detect, DetectError, Detected, HEAD};
use crate::logs::{truncate, Format, LogParser};
use crate::metrics;
use crate::pipeline::PacketInput;

/// How often files are looked at when they have nothing new.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// Idle polls (2 s, the audit assembler's timeout) before open multi-line events are closed.
const TICK_AFTER_IDLE_POLLS: u32 = 10;
/// Longest line kept; the rest of a longer line is skipped and the line counted as an error.
const MAX_LINE: usize = crate::logs::json::MAX_DOCUMENT;
/// Bytes read from a file at a time.
const CHUNK: usize = 64 * 1024;
/// Parse errors shown per file; later ones are only counted.
const ERRORS_SHOWN: u64 = 10;
/// Batches read from one file before the next file's turn.
const ROUND: usize = 64;
/// The metrics label of every followed file.
const SOURCE: &str = "file";

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("{}: cannot read the file positions: {source}", path.display())]
    ReadPositions {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a positions file ({source}); remove it to read every followed file from its start", path.display())]
    BadPositions {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: cannot write the file positions: {source}", path.display())]
    WritePositions {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where reading of one file stopped: the file (by inode) and the byte after the last line
/// handed to the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub inode: u64,
    pub offset: u64,
    /// A hash of the bytes just before `offset`: a file that was truncated and written again,
    /// or replaced by one that reuses the inode, while vigil was down is read from its start.
    #[serde(default)]
    pub mark: u64,
}

/// The positions of every followed file, by path, as kept in `DATA/positions.json`.
pub struct Positions {
    path: PathBuf,
    files: BTreeMap<String, Position>,
    dirty: bool,
}

#[derive(Serialize, Deserialize, Default)]
struct PositionsFile {
    files: BTreeMap<String, Position>,
}

impl Positions {
    /// Reads `path`; a missing file means no positions yet.
    pub fn load(path: &Path) -> Result<Positions, FollowError> {
        let files = match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice::<PositionsFile>(&bytes)
                    .map_err(|source| FollowError::BadPositions {
                        path: path.to_owned(),
                        source,
                    })?
                    .files
            }
            Err(e) if e.kind() == ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(FollowError::ReadPositions {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Ok(Positions {
            path: path.to_owned(),
            files,
            dirty: false,
        })
    }

    pub fn get(&self, file: &Path) -> Option<Position> {
        self.files
            .get(&file.to_string_lossy().into_owned())
            .copied()
    }

    pub fn set(&mut self, file: &Path, pos: Position) {
        let key = file.to_string_lossy().into_owned();
        if self.files.get(&key) != Some(&pos) {
            self.files.insert(key, pos);
            self.dirty = true;
        }
    }

    /// Writes the positions if they changed: to a temporary file, synced, then renamed over
    /// the old one, so a crash leaves either the old positions or the new, never half a file.
    pub fn save(&mut self) -> Result<(), FollowError> {
        if !self.dirty {
            return Ok(());
        }
        let err = |source| FollowError::WritePositions {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(&PositionsFile {
            files: self.files.clone(),
        })
        .map_err(|e| err(std::io::Error::other(e)))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(&body).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        self.dirty = false;
        Ok(())
    }
}

/// Every followed file, read in turn by one thread.
pub struct Follower {
    files: Vec<Followed>,
    positions: Positions,
    batch: usize,
}

impl Follower {
    pub fn new(paths: &[PathBuf], positions: Positions, batch: usize) -> Follower {
        Follower {
            files: paths.iter().map(|p| Followed::new(p.clone())).collect(),
            positions,
            batch: batch.max(1),
        }
    }

    /// Reads what every file has new, handing events to `hand` batch by batch and saving the
    /// positions after each batch was handed over. Returns whether anything was read.
    pub fn poll(&mut self, hand: &mut dyn FnMut(Vec<Event>)) -> Result<bool, FollowError> {
        let mut progressed = false;
        let mut events = Vec::new();
        for f in &mut self.files {
            // A bounded number of batches per file and round, so that one busy file neither
            // starves the others nor delays shutdown.
            for _ in 0..ROUND {
                if !f.poll(&mut events, self.batch, &self.positions) {
                    break;
                }
                progressed = true;
                if !events.is_empty() {
                    publish(&events);
                    hand(std::mem::take(&mut events));
                }
                if let Some(pos) = f.position() {
                    self.positions.set(&f.path, pos);
                }
                self.positions.save()?;
            }
        }
        Ok(progressed)
    }

    /// Time passed without input: multi-line events left open too long (audit records
    /// without their end) are handed over.
    pub fn tick(&mut self, hand: &mut dyn FnMut(Vec<Event>)) {
        let mut events = Vec::new();
        for f in &mut self.files {
            if let Some(p) = f.open.as_mut().and_then(|o| o.parser.as_mut()) {
                p.tick(Timestamp::now(), &mut events);
            }
        }
        if !events.is_empty() {
            publish(&events);
            hand(events);
        }
    }

    /// At shutdown: hands over what the parsers still hold (so the saved position loses
    /// nothing) and saves the positions. A line without its newline yet stays unread.
    pub fn finish(&mut self, hand: &mut dyn FnMut(Vec<Event>)) -> Result<(), FollowError> {
        let mut events = Vec::new();
        for f in &mut self.files {
            if let Some(p) = f.open.as_mut().and_then(|o| o.parser.as_mut()) {
                let _ = p.finish(&mut events);
            }
        }
        if !events.is_empty() {
            publish(&events);
            hand(events);
        }
        self.positions.save()
    }

    /// Polls every `POLL_EVERY` into `input` (which waits when the pipeline is full, so
    /// nothing is lost) until `stop` is set; then finishes.
    pub fn run(mut self, mut input: PacketInput, stop: Arc<AtomicBool>) {
        let mut hand = |events: Vec<Event>| {
            input.push_events(events);
        };
        let mut idle: u32 = 0;
        while !stop.load(Ordering::Relaxed) {
            match self.poll(&mut hand) {
                Ok(true) => {
                    idle = 0;
                    continue;
                }
                Ok(false) => {
                    idle = idle.wrapping_add(1);
                    // Only once the files have been quiet for a while: records of one audit
                    // event written a poll apart must still be merged, even in an old file
                    // whose stamps are long past.
                    if idle % TICK_AFTER_IDLE_POLLS == 0 {
                        self.tick(&mut hand);
                    }
                }
                Err(e) => eprintln!("vigil: files: {e}"),
            }
            std::thread::sleep(POLL_EVERY);
        }
        if let Err(e) = self.finish(&mut hand) {
            eprintln!("vigil: files: {e}");
        }
        input.flush();
    }
}

fn publish(events: &[Event]) {
    let flows = events.iter().filter(|e| e.kind == Kind::Flow).count() as u64;
    let logs = events.len() as u64 - flows;
    for (kind, n) in [(Kind::Log, logs), (Kind::Flow, flows)] {
        if n > 0 {
            metrics::EVENTS
                .with_label_values(&[SOURCE, kind.as_str()])
                .inc_by(n);
        }
    }
}

/// One followed path and the file open under it, if any.
struct Followed {
    path: PathBuf,
    open: Option<Open>,
    /// What was last said about the path, so a waiting or failing path is reported once.
    said: Option<String>,
    /// The path was rotated away: its next file is read from its start, whatever the saved
    /// position says.
    from_start: bool,
    /// Not a log (a capture): not followed.
    skipped: bool,
}

/// An open file: `offset` is where the next unread line starts; `partial` holds the bytes of
/// a line read past it whose newline has not arrived yet.
struct Open {
    file: File,
    inode: u64,
    offset: u64,
    partial: Vec<u8>,
    /// Inside a line longer than the limit: skip to its end.
    skipping: bool,
    parser: Option<LogParser>,
    errors: u64,
    /// A hash of the bytes before `offset` as last read: when they read differently now, the
    /// file was truncated and written again past where we were (a size check cannot see that).
    mark: u64,
}

/// Bytes before the offset that [`Open::mark`] covers.
const MARK: u64 = 256;

/// FNV-1a: stable across releases and platforms, unlike std's hasher, since it is saved.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Followed {
    fn new(path: PathBuf) -> Followed {
        Followed {
            path,
            open: None,
            said: None,
            from_start: false,
            skipped: false,
        }
    }

    fn say(&mut self, what: String) {
        if self.said.as_deref() != Some(what.as_str()) {
            eprintln!("vigil: files: {}: {what}", self.path.display());
            self.said = Some(what);
        }
    }

    fn position(&self) -> Option<Position> {
        self.open.as_ref().map(|o| Position {
            inode: o.inode,
            offset: o.offset,
            mark: o.mark,
        })
    }

    /// Reads up to `max` events' worth into `out`; returns whether anything happened (bytes
    /// read, a file opened, a rotation handled) so that the caller polls again at once.
    fn poll(&mut self, out: &mut Vec<Event>, max: usize, saved: &Positions) -> bool {
        if self.skipped {
            return false;
        }
        let Some(open) = self.open.as_mut() else {
            let pos = if self.from_start {
                None
            } else {
                saved.get(&self.path)
            };
            return self.open_file(pos);
        };
        if open.parser.is_none() {
            match open.detect(&self.path) {
                Ok(Some(format)) => {
                    let offset = open.offset;
                    self.say(format!("following ({format}) from byte {offset}"));
                }
                Ok(None) => return false,
                Err(why) => {
                    self.say(why);
                    self.skipped = true;
                    self.open = None;
                    return false;
                }
            }
        }
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        if open.truncated() {
            // copytruncate: what was read is in the copy; the file starts again at 0.
            metrics::FILE_ROTATIONS
                .with_label_values(&["truncate"])
                .inc();
            open.end_of_file(&self.path, out);
            open.offset = 0;
            open.skipping = false;
            open.mark = fnv1a(&[]);
            if open.file.seek(SeekFrom::Start(0)).is_err() {
                self.open = None;
            }
            return true;
        }
        match open.read(&self.path, out, max) {
            Ok(0) => {}
            Ok(_) => return true,
            Err(e) => {
                self.say(format!("read error: {e}; opening it again"));
                self.open = None;
                return false;
            }
        }
        // At the end of the open file: has it been replaced by a new one?
        match std::fs::metadata(&self.path) {
            Ok(m) if m.ino() != open.inode => {
                // Renamed away and a new file created: the old one was read to its end.
                metrics::FILE_ROTATIONS.with_label_values(&["rename"]).inc();
                open.end_of_file(&self.path, out);
                self.open = None;
                self.from_start = true;
                self.said = None;
                true
            }
            // Gone (renamed, not yet recreated): the writer may still append to it.
            _ => false,
        }
    }

    fn open_file(&mut self, pos: Option<Position>) -> bool {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.say("does not exist (yet); waiting for it".into());
                return false;
            }
            Err(e) => {
                self.say(format!("cannot open: {e}; trying again"));
                return false;
            }
        };
        let Ok(meta) = file.metadata() else {
            return false;
        };
        let mut open = Open {
            file,
            inode: meta.ino(),
            offset: 0,
            partial: Vec::new(),
            skipping: false,
            parser: None,
            errors: 0,
            mark: fnv1a(&[]),
        };
        if let Err(e) = open.resume(pos) {
            self.say(format!("cannot seek: {e}; trying again"));
            return false;
        }
        self.open = Some(open);
        self.from_start = false;
        true
    }
}

impl Open {
    /// Names the format from the file's first bytes, once it has a complete first line, and
    /// moves to where reading continues. `Ok(None)`: not enough content yet.
    fn detect(&mut self, path: &Path) -> Result<Option<Format>, String> {
        let mut head = vec![0u8; HEAD];
        let n = self.file.read_at(&mut head, 0).map_err(|e| e.to_string())?;
        head.truncate(n);
        if n < HEAD && !head.contains(&b'\n') {
            return Ok(None);
        }
        let format = match detect(&head) {
            Ok(Detected::Log(f)) => f,
            Ok(Detected::Capture) => {
                return Err("is a packet capture, not a log; not followed".into())
            }
            Err(DetectError::Empty) => return Ok(None),
            Err(e) => {
                eprintln!(
                    "vigil: files: {}: {e}; reading it as syslog (lines that do not parse are counted)",
                    path.display()
                );
                Format::Syslog
            }
        };
        self.parser = Some(LogParser::new(format, Timestamp::now()));
        Ok(Some(format))
    }

    /// Starts at `pos` when it names this file as it was (same inode, not shorter, the same
    /// bytes before the offset); at the start otherwise.
    fn resume(&mut self, pos: Option<Position>) -> std::io::Result<()> {
        let len = self.file.metadata()?.len();
        self.offset = match pos {
            Some(p) if p.inode == self.inode && p.offset <= len => {
                self.offset = p.offset;
                // Saved before marks existed (0): trust inode and length alone.
                if p.mark == 0 || self.mark_now()? == p.mark {
                    p.offset
                } else {
                    0
                }
            }
            _ => 0,
        };
        self.file.seek(SeekFrom::Start(self.offset))?;
        self.mark = self.mark_now()?;
        Ok(())
    }

    fn mark_now(&self) -> std::io::Result<u64> {
        let start = self.offset.saturating_sub(MARK);
        let mut b = vec![0u8; (self.offset - start) as usize];
        self.file.read_exact_at(&mut b, start)?;
        Ok(fnv1a(&b))
    }

    /// Whether the file was truncated since it was last read: it is shorter than what was
    /// read, or what was read is no longer there.
    fn truncated(&self) -> bool {
        let read_to = self.offset + self.partial.len() as u64;
        match self.file.metadata() {
            Ok(m) if m.len() < read_to => true,
            Ok(_) => self.mark_now().map_or(true, |m| m != self.mark),
            Err(_) => false,
        }
    }

    /// Reads complete lines into events until the end of the file or `max` events; returns
    /// the bytes read.
    fn read(&mut self, path: &Path, out: &mut Vec<Event>, max: usize) -> std::io::Result<usize> {
        let mut total = 0;
        let mut chunk = vec![0u8; CHUNK];
        while out.len() < max {
            let n = self.file.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            total += n;
            self.take(path, &chunk[..n], out);
        }
        if total > 0 {
            self.mark = self.mark_now()?;
        }
        Ok(total)
    }

    fn take(&mut self, path: &Path, mut data: &[u8], out: &mut Vec<Event>) {
        while !data.is_empty() {
            let Some(nl) = data.iter().position(|b| *b == b'\n') else {
                if self.skipping {
                    self.offset += data.len() as u64;
                } else {
                    self.partial.extend_from_slice(data);
                    if self.partial.len() > MAX_LINE {
                        self.too_long(path);
                        self.offset += self.partial.len() as u64;
                        self.partial.clear();
                        self.skipping = true;
                    }
                }
                return;
            };
            let (line, rest) = data.split_at(nl + 1);
            data = rest;
            if std::mem::take(&mut self.skipping) {
                // The skipped start of this line is already counted in the offset.
                self.offset += line.len() as u64;
                continue;
            }
            if self.partial.is_empty() {
                self.offset += line.len() as u64;
                self.line(path, line, out);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.offset += whole.len() as u64;
                self.line(path, &whole, out);
            }
        }
    }

    fn line(&mut self, path: &Path, bytes: &[u8], out: &mut Vec<Event>) {
        let mut bytes = bytes;
        while let Some((b'\n' | b'\r', rest)) = bytes.split_last() {
            bytes = rest;
        }
        let Some(parser) = self.parser.as_mut() else {
            return;
        };
        let text = String::from_utf8_lossy(bytes);
        if let Err(e) = parser.line(&text, out) {
            let format = parser.format();
            self.error(path, format, &format!("{e}: {:?}", truncate(&text, 120)));
        }
    }

    fn too_long(&mut self, path: &Path) {
        let format = self.parser.as_ref().map_or(Format::Syslog, |p| p.format());
        self.error(
            path,
            format,
            &format!("a line longer than {MAX_LINE} bytes"),
        );
    }

    fn error(&mut self, path: &Path, format: Format, what: &str) {
        self.errors += 1;
        metrics::PARSE_ERRORS
            .with_label_values(&[SOURCE, format.as_str()])
            .inc();
        if self.errors <= ERRORS_SHOWN {
            eprintln!("vigil: files: {}: {what}", path.display());
        }
    }

    /// The file is done (rotated or truncated): a last line without its newline is still a
    /// line, and multi-line events it left open are complete.
    fn end_of_file(&mut self, path: &Path, out: &mut Vec<Event>) {
        if !self.partial.is_empty() && !self.skipping {
            let last = std::mem::take(&mut self.partial);
            self.line(path, &last, out);
        }
        self.partial.clear();
        if let Some(p) = self.parser.as_mut() {
            let _ = p.finish(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::f;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vigil-follow-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open for append");
        f.write_all(text.as_bytes()).expect("append");
    }

    /// Polls until nothing more comes; returns the messages read.
    fn drain(fo: &mut Follower) -> Vec<String> {
        let mut got = Vec::new();
        let mut hand = |evs: Vec<Event>| {
            for e in evs {
                got.push(e.get_str(f::MESSAGE).unwrap_or("").to_string());
            }
        };
        while fo.poll(&mut hand).expect("poll") {}
        got
    }

    #[test]
    fn partial_lines_wait_for_their_newline_and_positions_resume() {
        let d = dir("partial");
        let log = d.join("a.log");
        let pos = d.join("positions.json");
        let mut fo = Follower::new(
            std::slice::from_ref(&log),
            Positions::load(&pos).expect("positions"),
            2,
        );
        assert!(drain(&mut fo).is_empty(), "waits for a missing file");
        append(
            &log,
            "<13>Nov 29 01:00:00 h app: one\n<13>Nov 29 01:00:01 h app: tw",
        );
        assert_eq!(drain(&mut fo), vec!["one"]);
        append(&log, "o\n<13>Nov 29 01:00:02 h app: three\n");
        assert_eq!(drain(&mut fo), vec!["two", "three"]);
        fo.finish(&mut |_| {}).expect("finish");
        let saved = Positions::load(&pos).expect("positions").get(&log);
        let len = std::fs::metadata(&log).expect("meta").len();
        assert_eq!(saved.map(|p| p.offset), Some(len));

        append(&log, "<13>Nov 29 01:00:03 h app: four\n");
        let mut again = Follower::new(
            std::slice::from_ref(&log),
            Positions::load(&pos).expect("positions"),
            2,
        );
        assert_eq!(drain(&mut again), vec!["four"]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn rename_and_copytruncate_read_the_old_then_the_new() {
        let d = dir("rotate");
        let log = d.join("a.log");
        let mut fo = Follower::new(
            std::slice::from_ref(&log),
            Positions::load(&d.join("p.json")).expect("positions"),
            100,
        );
        append(&log, "<13>Nov 29 01:00:00 h app: 1\n");
        assert_eq!(drain(&mut fo), vec!["1"]);
        std::fs::rename(&log, d.join("a.log.1")).expect("rename");
        append(&d.join("a.log.1"), "<13>Nov 29 01:00:00 h app: 2\n");
        append(&log, "<13>Nov 29 01:00:00 h app: 3\n");
        assert_eq!(drain(&mut fo), vec!["2", "3"]);
        // Truncated and written again to the same length: seen by its content.
        std::fs::write(&log, "<13>Nov 29 01:00:00 h app: 4\n").expect("truncate");
        assert_eq!(drain(&mut fo), vec!["4"]);
        std::fs::write(&log, "").expect("truncate");
        append(
            &log,
            "<13>Nov 29 01:00:00 h app: 5\n<13>Nov 29 01:00:00 h app: 6\n",
        );
        assert_eq!(drain(&mut fo), vec!["5", "6"]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn auditd_records_are_assembled_and_flushed_at_the_end() {
        let d = dir("audit");
        let log = d.join("audit.log");
        append(
            &log,
            "type=SYSCALL msg=audit(1700000000.100:42): arch=c000003e syscall=59 success=yes exe=\"/usr/bin/id\" key=\"exec\"\n\
             type=EXECVE msg=audit(1700000000.100:42): argc=1 a0=\"id\"\n",
        );
        let mut fo = Follower::new(
            std::slice::from_ref(&log),
            Positions::load(&d.join("p.json")).expect("positions"),
            100,
        );
        let mut events = Vec::new();
        let mut hand = |evs: Vec<Event>| events.extend(evs);
        while fo.poll(&mut hand).expect("poll") {}
        fo.finish(&mut hand).expect("finish");
        assert_eq!(events.len(), 1, "one event per audit serial");
        let exe = crate::event::intern("exe");
        assert_eq!(events[0].get_str(exe), Some("/usr/bin/id"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_rewritten_while_stopped_is_read_from_its_start() {
        let d = dir("rewritten");
        let log = d.join("a.log");
        let pos = d.join("positions.json");
        let follower = || {
            Follower::new(
                std::slice::from_ref(&log),
                Positions::load(&pos).expect("positions"),
                10,
            )
        };
        append(&log, "<13>Nov 29 01:00:00 h app: old-1\n");
        let mut fo = follower();
        assert_eq!(drain(&mut fo), vec!["old-1"]);
        fo.finish(&mut |_| {}).expect("finish");
        // Same inode, longer than the saved offset, other content.
        std::fs::write(
            &log,
            "<13>Nov 29 01:00:00 h app: new-1\n<13>Nov 29 01:00:00 h app: new-2\n",
        )
        .expect("rewrite");
        assert_eq!(drain(&mut follower()), vec!["new-1", "new-2"]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_corrupt_positions_file_is_an_error_that_says_what_to_do() {
        let d = dir("corrupt");
        let p = d.join("positions.json");
        std::fs::write(&p, "{not json").expect("write");
        let e = Positions::load(&p).err().expect("an error");
        assert!(e.to_string().contains("remove it"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
