//! Raw auditd: `type=SYSCALL msg=audit(1481077231.371:479): key=value ...` records, assembled
//! into one event per serial (at its EOE, when event time has moved on past a timeout, or at
//! the end of the input). Hex-encoded values are decoded (`proctitle`, EXECVE's `aN`, `cwd`,
//! `exe`, ...), user-space `msg='...'` payloads are flattened, and every record's type is kept.

use std::collections::VecDeque;
use std::sync::OnceLock;

use compact_str::CompactString;

use crate::event::{intern, Event, FieldId, Key, Kind, LogSource, Timestamp, Value};
use crate::logs::LogError;

/// Fields whose value auditd hex-encodes when it holds a space, a quote or a control
/// character; a quoted value is plain text (auparse's "encoded" fields).
const ENCODED: &[&str] = &[
    "cwd",
    "name",
    "exe",
    "comm",
    "path",
    "cmd",
    "data",
    "acct",
    "proctitle",
    "key",
    "old_name",
    "new_name",
    "ocomm",
    "watch",
    "vm",
    "root_dir",
    "sw",
    "grp",
    "new_group",
];

/// One parsed record, before it is merged into its event.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub node: Option<CompactString>,
    /// `SYSCALL`, `EXECVE`, `PATH`, `EOE`, `UNKNOWN[1329]`, ...
    pub kind: CompactString,
    pub ts: Timestamp,
    pub serial: u64,
    pub fields: Vec<(Key, Value)>,
}

struct Ids {
    kind: FieldId,
    serial: FieldId,
    node: FieldId,
    syscall_name: FieldId,
}

fn ids() -> &'static Ids {
    static IDS: OnceLock<Ids> = OnceLock::new();
    IDS.get_or_init(|| Ids {
        kind: intern("type"),
        serial: intern("serial"),
        node: intern("node"),
        syscall_name: intern("SYSCALL"),
    })
}

/// Whether `line` starts like a raw audit record (for format detection).
pub fn looks_like(line: &str) -> bool {
    let l = strip_node(line).1;
    l.starts_with("type=") && l.contains("audit(")
}

fn strip_node(line: &str) -> (Option<&str>, &str) {
    match line.strip_prefix("node=").and_then(|r| r.split_once(' ')) {
        Some((node, rest)) => (Some(node), rest.trim_start()),
        None => (None, line),
    }
}

/// Parses one record. Values stay text, as auditd wrote them, except that hex-encoded ones
/// are decoded, `key` becomes a list when it holds several keys, a SOCKADDR's `saddr` is
/// also given as `family`, `addr`, `port` or `path`, and unknown markers (`?`, `(null)`) are
/// left out. On x86_64, a SYSCALL record without auditd's own interpretation gets `SYSCALL`
/// (the call's name, as `log_format = ENRICHED` writes it) so Sigma's auditd rules apply.
pub fn parse_record(line: &str) -> Result<Record, LogError> {
    parse_record_with(line, &mut Keys::default())
}

/// Interned record keys, so that a key is interned once per input rather than once per
/// record (a lock and a hash each time otherwise). Bounded: past the cap, keys are interned
/// per record as before.
#[derive(Default)]
pub struct Keys(hashbrown::HashMap<CompactString, Key>);

impl Keys {
    const CAP: usize = 4096;

    fn get(&mut self, name: &str) -> Key {
        if let Some(k) = self.0.get(name) {
            return k.clone();
        }
        let k = Key::new(name);
        if self.0.len() < Keys::CAP {
            self.0.insert(CompactString::from(name), k.clone());
        }
        k
    }
}

/// [`parse_record`] with a key cache that lives as long as the input.
pub fn parse_record_with(line: &str, keys: &mut Keys) -> Result<Record, LogError> {
    let line = line.trim_end_matches(['\n', '\r', '\0']);
    if line.trim().is_empty() {
        return Err(LogError::Empty);
    }
    let (node, rest) = strip_node(line);
    let rest = rest.strip_prefix("type=").ok_or(LogError::AuditType)?;
    let (kind, rest) = rest.split_once(' ').ok_or(LogError::AuditStamp)?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("msg=").unwrap_or(rest);
    let rest = rest.strip_prefix("audit(").ok_or(LogError::AuditStamp)?;
    let (stamp, rest) = rest.split_once(')').ok_or(LogError::AuditStamp)?;
    let (time, serial) = stamp.split_once(':').ok_or(LogError::AuditStamp)?;
    let (secs, millis) = time.split_once('.').unwrap_or((time, "0"));
    let secs: i64 = secs.parse().map_err(|_| LogError::AuditStamp)?;
    let serial: u64 = serial.parse().map_err(|_| LogError::AuditStamp)?;
    let mut nanos: i64 = 0;
    for (i, c) in millis.bytes().take(9).enumerate() {
        if !c.is_ascii_digit() {
            return Err(LogError::AuditStamp);
        }
        nanos += (c - b'0') as i64 * 10i64.pow(8 - i as u32);
    }
    if !(0..=i64::MAX / 1_000_000_000 - 1).contains(&secs) {
        return Err(LogError::AuditStamp);
    }
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    // auditd's ENRICHED format appends its interpretations after a 0x1d separator.
    let (raw, enriched) = rest.split_once('\x1d').unwrap_or((rest, ""));
    let mut rec = Record {
        node: node.map(CompactString::from),
        kind: CompactString::from(kind),
        ts: Timestamp(secs * 1_000_000_000 + nanos),
        serial,
        fields: Vec::with_capacity(24),
    };
    let mut args = Args::default();
    let execve = kind == "EXECVE";
    pairs(raw, &mut |k, v| {
        field(&mut rec, &mut args, keys, execve, k, v)
    });
    pairs(enriched, &mut |k, v| {
        field(&mut rec, &mut args, keys, false, k, v)
    });
    args.finish(&mut rec.fields);
    if kind == "SYSCALL"
        && !rec
            .fields
            .iter()
            .any(|(k, _)| *k == Key::Id(ids().syscall_name))
    {
        let arch = get(&rec.fields, "arch");
        let nr = get(&rec.fields, "syscall").and_then(|s| s.parse::<usize>().ok());
        if let (Some("c000003e"), Some(nr)) = (arch, nr) {
            if let Some(name) = x86_64_syscall(nr) {
                rec.fields
                    .push((Key::Id(ids().syscall_name), Value::static_str(name)));
            }
        }
    }
    Ok(rec)
}

fn get<'a>(fields: &'a [(Key, Value)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k.name() == name)
        .and_then(|(_, v)| v.as_str())
}

/// How a value was written.
#[derive(Clone, Copy, PartialEq)]
enum Raw<'a> {
    Quoted(&'a str),
    Single(&'a str),
    Bare(&'a str),
}

/// Calls `each` for every `key=value` in `s`; words without `=` (free text such as
/// `auditd start,`) are skipped.
fn pairs<'a>(s: &'a str, each: &mut dyn FnMut(&'a str, Raw<'a>)) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b' ' && b[i] != b'=' {
            i += 1;
        }
        if i >= b.len() || b[i] == b' ' {
            continue;
        }
        let key = &s[start..i];
        i += 1;
        let (raw, end) = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let close = s[i + 1..].find(q as char).map_or(b.len(), |p| i + 1 + p);
                let v = &s[i + 1..close];
                let raw = if q == b'"' {
                    Raw::Quoted(v)
                } else {
                    Raw::Single(v)
                };
                (raw, (close + 1).min(b.len()))
            }
            _ => {
                let end = s[i..].find(' ').map_or(b.len(), |p| i + p);
                (Raw::Bare(&s[i..end]), end)
            }
        };
        i = end;
        if !key.is_empty() {
            each(key, raw);
        }
    }
}

/// EXECVE arguments too long for one field come as `aN[0]`, `aN[1]`, ... and are joined.
#[derive(Default)]
struct Args {
    parts: Vec<(u32, String)>,
    /// Where argument N is in `parts`: hostile records may split thousands of arguments.
    at: hashbrown::HashMap<u32, usize>,
}

impl Args {
    fn finish(self, fields: &mut Vec<(Key, Value)>) {
        for (n, text) in self.parts {
            fields.push((Key::new(&format!("a{n}")), Value::Str(text.into())));
        }
    }
}

fn field(
    rec: &mut Record,
    args: &mut Args,
    keys: &mut Keys,
    execve: bool,
    key: &str,
    raw: Raw<'_>,
) {
    let value = match raw {
        // A user-space record's payload: its own key=value pairs.
        Raw::Single(inner) if key == "msg" => {
            pairs(inner, &mut |k, v| field(rec, args, keys, execve, k, v));
            return;
        }
        Raw::Quoted(v) | Raw::Single(v) => Value::Str(v.into()),
        Raw::Bare("?" | "(null)") => return,
        Raw::Bare(v) => {
            if execve && is_arg(key) {
                if let Some((n, _)) = key.strip_prefix('a').and_then(|k| k.split_once('[')) {
                    let Ok(n) = n.parse::<u32>() else { return };
                    let part = hex_text(v).unwrap_or_else(|| v.to_owned());
                    match args.at.get(&n).and_then(|&i| args.parts.get_mut(i)) {
                        Some((_, text)) => text.push_str(&part),
                        None => {
                            args.at.insert(n, args.parts.len());
                            args.parts.push((n, part));
                        }
                    }
                    return;
                }
                match hex_text(v) {
                    Some(t) => Value::Str(t.into()),
                    None => Value::Str(v.into()),
                }
            } else if execve && key.ends_with("_len") && is_arg(&key[..key.len() - 4]) {
                return;
            } else if key == "proctitle" {
                match hex_bytes(v) {
                    Some(b) => {
                        let t: Vec<u8> = b.iter().map(|&c| if c == 0 { b' ' } else { c }).collect();
                        Value::Str(String::from_utf8_lossy(&t).trim_end().into())
                    }
                    None => Value::Str(v.into()),
                }
            } else if key == "key" {
                match hex_bytes(v) {
                    Some(b) => Value::List(
                        b.split(|&c| c == 1)
                            .map(|k| Value::Str(String::from_utf8_lossy(k).into()))
                            .collect(),
                    ),
                    None => Value::Str(v.into()),
                }
            } else if ENCODED.contains(&key) {
                match hex_text(v) {
                    Some(t) => Value::Str(t.into()),
                    None => Value::Str(v.into()),
                }
            } else {
                Value::Str(v.into())
            }
        }
    };
    if key == "saddr" {
        if let Value::Str(s) = &value {
            sockaddr(s, keys, &mut rec.fields);
        }
    }
    rec.fields.push((keys.get(key), value));
}

/// `a0`, `a12`, `a3[1]`.
fn is_arg(key: &str) -> bool {
    let Some(rest) = key.strip_prefix('a') else {
        return false;
    };
    let digits = rest.split('[').next().unwrap_or(rest);
    !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit())
}

fn hex_bytes(v: &str) -> Option<Vec<u8>> {
    crate::hex::decode(v).filter(|b| !b.is_empty())
}

fn hex_text(v: &str) -> Option<String> {
    hex_bytes(v).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A SOCKADDR's hex `saddr` as go-libaudit names its parts: `family` and `addr`/`port` for
/// IP, `path` for Unix sockets.
fn sockaddr(hex: &str, keys: &mut Keys, fields: &mut Vec<(Key, Value)>) {
    let Some(b) = hex_bytes(hex) else { return };
    if b.len() < 2 {
        return;
    }
    let family = u16::from_le_bytes([b[0], b[1]]);
    let mut push = |k: &str, v: Value| fields.push((keys.get(k), v));
    match family {
        2 if b.len() >= 8 => {
            push("family", "ipv4".into());
            push(
                "addr",
                Value::Str(format!("{}.{}.{}.{}", b[4], b[5], b[6], b[7]).into()),
            );
            push(
                "port",
                Value::Str(u16::from_be_bytes([b[2], b[3]]).to_string().into()),
            );
        }
        10 if b.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            push("family", "ipv6".into());
            push(
                "addr",
                Value::Str(std::net::Ipv6Addr::from(a).to_string().into()),
            );
            push(
                "port",
                Value::Str(u16::from_be_bytes([b[2], b[3]]).to_string().into()),
            );
        }
        1 => {
            let path = &b[2..];
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            push("family", "unix".into());
            if end > 0 {
                push(
                    "path",
                    Value::Str(String::from_utf8_lossy(&path[..end]).into()),
                );
            }
        }
        16 => push("family", "netlink".into()),
        n => push("family", Value::Str(n.to_string().into())),
    }
}

/// One audit event being assembled.
struct Pending {
    serial: u64,
    node: Option<CompactString>,
    ts: Timestamp,
    records: usize,
    types: Vec<Value>,
    fields: Vec<(Key, Value)>,
    /// Where each interned key is in `fields`, so that merging stays linear in the input
    /// however many keys an event has (an EXECVE of thousands of arguments).
    at: hashbrown::HashMap<FieldId, usize>,
}

/// Records merged into one event at most; a serial that goes on past it (only hostile
/// input does) continues in a new event.
const MAX_RECORDS: usize = 1024;

impl Pending {
    fn new(rec: &Record) -> Pending {
        Pending {
            serial: rec.serial,
            node: rec.node.clone(),
            ts: rec.ts,
            records: 0,
            types: Vec::with_capacity(4),
            fields: Vec::with_capacity(rec.fields.len()),
            at: hashbrown::HashMap::new(),
        }
    }

    fn merge(&mut self, rec: Record) {
        self.records += 1;
        let kind = Value::Str(rec.kind);
        if !self.types.contains(&kind) {
            self.types.push(kind);
        }
        for (k, v) in rec.fields {
            let found = match &k {
                Key::Id(id) => self.at.get(id).copied(),
                Key::Name(_) => self.fields.iter().position(|(old, _)| *old == k),
            };
            match found.and_then(|i| self.fields.get_mut(i)) {
                None => {
                    if let Key::Id(id) = k {
                        self.at.insert(id, self.fields.len());
                    }
                    self.fields.push((k, v))
                }
                Some((_, Value::List(items))) => items.push(v),
                Some((_, old)) => {
                    let first = std::mem::replace(old, Value::Null);
                    *old = Value::List(vec![first, v]);
                }
            }
        }
    }

    /// The event: `type` (every record's type, in order), `serial`, `node`, then the
    /// records' fields; a key that several records carry (several PATH records' `name`,
    /// SYSCALL's and EXECVE's `a0`) becomes a list of their values in record order.
    fn event(self) -> Event {
        let mut ev = Event::new(
            self.ts,
            Kind::Log,
            LogSource::product_service("linux", "auditd"),
        );
        let fs = &mut ev.fields;
        fs.push(ids().kind, Value::List(self.types));
        fs.push(ids().serial, self.serial);
        if let Some(n) = self.node {
            fs.push(ids().node, Value::Str(n));
        }
        for (k, v) in self.fields {
            fs.push_key(k, v);
        }
        ev
    }
}

/// Groups records into events by serial.
pub struct Assembler {
    pending: VecDeque<Pending>,
    keys: Keys,
    latest: Timestamp,
    /// An event still open this long (event time) after the newest record is complete.
    pub timeout: i64,
    /// Most events open at once; past it the oldest is complete.
    pub max_pending: usize,
}

impl Default for Assembler {
    fn default() -> Assembler {
        Assembler {
            pending: VecDeque::new(),
            keys: Keys::default(),
            latest: Timestamp(i64::MIN),
            timeout: 2_000_000_000,
            max_pending: 256,
        }
    }
}

impl Assembler {
    /// Parses a line and merges it; emits the events it completes.
    pub fn line(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), LogError> {
        let t = line.trim();
        // ausearch separators and blank lines carry nothing.
        if t.is_empty() || t.starts_with("----") || t.starts_with("time->") {
            return Ok(());
        }
        let rec = parse_record_with(line, &mut self.keys)?;
        self.push(rec, out);
        Ok(())
    }

    pub fn push(&mut self, rec: Record, out: &mut Vec<Event>) {
        if rec.ts > self.latest {
            self.latest = rec.ts;
        }
        let at = self
            .pending
            .iter()
            .position(|p| p.serial == rec.serial && p.node == rec.node);
        if rec.kind == "EOE" {
            if let Some(p) = at.and_then(|i| self.pending.remove(i)) {
                out.push(p.event());
            }
        } else {
            let full = at.filter(|&i| self.pending[i].records >= MAX_RECORDS);
            if let Some(p) = full.and_then(|i| self.pending.remove(i)) {
                out.push(p.event());
            }
            match at.filter(|_| full.is_none()) {
                Some(i) => self.pending[i].merge(rec),
                None => {
                    let mut p = Pending::new(&rec);
                    p.merge(rec);
                    self.pending.push_back(p);
                }
            }
        }
        self.expire(self.latest, out);
        while self.pending.len() > self.max_pending.max(1) {
            if let Some(p) = self.pending.pop_front() {
                out.push(p.event());
            }
        }
    }

    /// Emits the events open for longer than the timeout at `now`. Records advance `now`
    /// themselves; a live source also calls this on a clock so that the last event of a
    /// quiet host is not held forever.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        let deadline = now.0.saturating_sub(self.timeout);
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].ts.0 < deadline {
                if let Some(p) = self.pending.remove(i) {
                    out.push(p.event());
                }
            } else {
                i += 1;
            }
        }
    }

    /// Parses a record with this assembler's key cache (for records that come wrapped, as
    /// through syslog) without merging it yet.
    pub fn parse(&mut self, line: &str) -> Result<Record, LogError> {
        parse_record_with(line, &mut self.keys)
    }

    /// Emits every event still open, oldest first.
    pub fn flush_all(&mut self, out: &mut Vec<Event>) {
        out.extend(self.pending.drain(..).map(Pending::event));
    }
}

/// The name of an x86_64 system call.
pub fn x86_64_syscall(nr: usize) -> Option<&'static str> {
    match nr {
        0..=334 => X86_64_SYSCALLS.get(nr).copied(),
        424.. => X86_64_SYSCALLS_424.get(nr - 424).copied(),
        _ => None,
    }
}

/// x86_64 system call names by number, from Linux's `asm/unistd_64.h` (0 to 334, then 424 on).
const X86_64_SYSCALLS: [&str; 335] = [
    "read",
    "write",
    "open",
    "close",
    "stat",
    "fstat",
    "lstat",
    "poll",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "brk",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "ioctl",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "access",
    "pipe",
    "select",
    "sched_yield",
    "mremap",
    "msync",
    "mincore",
    "madvise",
    "shmget",
    "shmat",
    "shmctl",
    "dup",
    "dup2",
    "pause",
    "nanosleep",
    "getitimer",
    "alarm",
    "setitimer",
    "getpid",
    "sendfile",
    "socket",
    "connect",
    "accept",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
    "bind",
    "listen",
    "getsockname",
    "getpeername",
    "socketpair",
    "setsockopt",
    "getsockopt",
    "clone",
    "fork",
    "vfork",
    "execve",
    "exit",
    "wait4",
    "kill",
    "uname",
    "semget",
    "semop",
    "semctl",
    "shmdt",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "fcntl",
    "flock",
    "fsync",
    "fdatasync",
    "truncate",
    "ftruncate",
    "getdents",
    "getcwd",
    "chdir",
    "fchdir",
    "rename",
    "mkdir",
    "rmdir",
    "creat",
    "link",
    "unlink",
    "symlink",
    "readlink",
    "chmod",
    "fchmod",
    "chown",
    "fchown",
    "lchown",
    "umask",
    "gettimeofday",
    "getrlimit",
    "getrusage",
    "sysinfo",
    "times",
    "ptrace",
    "getuid",
    "syslog",
    "getgid",
    "setuid",
    "setgid",
    "geteuid",
    "getegid",
    "setpgid",
    "getppid",
    "getpgrp",
    "setsid",
    "setreuid",
    "setregid",
    "getgroups",
    "setgroups",
    "setresuid",
    "getresuid",
    "setresgid",
    "getresgid",
    "getpgid",
    "setfsuid",
    "setfsgid",
    "getsid",
    "capget",
    "capset",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "rt_sigsuspend",
    "sigaltstack",
    "utime",
    "mknod",
    "uselib",
    "personality",
    "ustat",
    "statfs",
    "fstatfs",
    "sysfs",
    "getpriority",
    "setpriority",
    "sched_setparam",
    "sched_getparam",
    "sched_setscheduler",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "mlock",
    "munlock",
    "mlockall",
    "munlockall",
    "vhangup",
    "modify_ldt",
    "pivot_root",
    "_sysctl",
    "prctl",
    "arch_prctl",
    "adjtimex",
    "setrlimit",
    "chroot",
    "sync",
    "acct",
    "settimeofday",
    "mount",
    "umount2",
    "swapon",
    "swapoff",
    "reboot",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "create_module",
    "init_module",
    "delete_module",
    "get_kernel_syms",
    "query_module",
    "quotactl",
    "nfsservctl",
    "getpmsg",
    "putpmsg",
    "afs_syscall",
    "tuxcall",
    "security",
    "gettid",
    "readahead",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "tkill",
    "time",
    "futex",
    "sched_setaffinity",
    "sched_getaffinity",
    "set_thread_area",
    "io_setup",
    "io_destroy",
    "io_getevents",
    "io_submit",
    "io_cancel",
    "get_thread_area",
    "lookup_dcookie",
    "epoll_create",
    "epoll_ctl_old",
    "epoll_wait_old",
    "remap_file_pages",
    "getdents64",
    "set_tid_address",
    "restart_syscall",
    "semtimedop",
    "fadvise64",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "clock_settime",
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "exit_group",
    "epoll_wait",
    "epoll_ctl",
    "tgkill",
    "utimes",
    "vserver",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    "kexec_load",
    "waitid",
    "add_key",
    "request_key",
    "keyctl",
    "ioprio_set",
    "ioprio_get",
    "inotify_init",
    "inotify_add_watch",
    "inotify_rm_watch",
    "migrate_pages",
    "openat",
    "mkdirat",
    "mknodat",
    "fchownat",
    "futimesat",
    "newfstatat",
    "unlinkat",
    "renameat",
    "linkat",
    "symlinkat",
    "readlinkat",
    "fchmodat",
    "faccessat",
    "pselect6",
    "ppoll",
    "unshare",
    "set_robust_list",
    "get_robust_list",
    "splice",
    "tee",
    "sync_file_range",
    "vmsplice",
    "move_pages",
    "utimensat",
    "epoll_pwait",
    "signalfd",
    "timerfd_create",
    "eventfd",
    "fallocate",
    "timerfd_settime",
    "timerfd_gettime",
    "accept4",
    "signalfd4",
    "eventfd2",
    "epoll_create1",
    "dup3",
    "pipe2",
    "inotify_init1",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "perf_event_open",
    "recvmmsg",
    "fanotify_init",
    "fanotify_mark",
    "prlimit64",
    "name_to_handle_at",
    "open_by_handle_at",
    "clock_adjtime",
    "syncfs",
    "sendmmsg",
    "setns",
    "getcpu",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "finit_module",
    "sched_setattr",
    "sched_getattr",
    "renameat2",
    "seccomp",
    "getrandom",
    "memfd_create",
    "kexec_file_load",
    "bpf",
    "execveat",
    "userfaultfd",
    "membarrier",
    "mlock2",
    "copy_file_range",
    "preadv2",
    "pwritev2",
    "pkey_mprotect",
    "pkey_alloc",
    "pkey_free",
    "statx",
    "io_pgetevents",
    "rseq",
];

const X86_64_SYSCALLS_424: [&str; 27] = [
    "pidfd_send_signal",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "pidfd_open",
    "clone3",
    "close_range",
    "openat2",
    "pidfd_getfd",
    "faccessat2",
    "process_madvise",
    "epoll_pwait2",
    "mount_setattr",
    "quotactl_fd",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "memfd_secret",
    "process_mrelease",
    "futex_waitv",
    "set_mempolicy_home_node",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> Vec<Event> {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        for l in text.lines() {
            a.line(l, &mut out).expect("test input");
        }
        a.flush_all(&mut out);
        out
    }

    fn get<'a>(ev: &'a Event, name: &str) -> Option<&'a Value> {
        ev.fields.get_name(name)
    }

    // An execve as RHEL's auditd writes it, with a hex argument, two PATH records and a
    // PROCTITLE.
    const EXECVE: &str = r#"type=SYSCALL msg=audit(1700000000.123:4242): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=1 pid=7 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="curl" exe="/usr/bin/curl" key=7375737001657865
type=EXECVE msg=audit(1700000000.123:4242): argc=3 a0="curl" a1=2D6F202F746D702F61206220 a2="http://169.254.169.254/"
type=CWD msg=audit(1700000000.123:4242): cwd="/root"
type=PATH msg=audit(1700000000.123:4242): item=0 name="/usr/bin/curl" inode=1 dev=fd:00 mode=0100755
type=PATH msg=audit(1700000000.123:4242): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=2 dev=fd:00 mode=0100755
type=PROCTITLE msg=audit(1700000000.123:4242): proctitle=6375726C002D6F
type=EOE msg=audit(1700000000.123:4242): "#;

    #[test]
    fn records_of_a_serial_become_one_event() {
        let evs = events(EXECVE);
        assert_eq!(evs.len(), 1);
        let ev = &evs[0];
        assert_eq!(ev.ts.to_string(), "2023-11-14T22:13:20.123000Z");
        assert_eq!(ev.logsource.service.as_deref(), Some("auditd"));
        assert_eq!(
            get(ev, "type"),
            Some(&Value::List(
                ["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE"]
                    .map(Value::from)
                    .to_vec()
            ))
        );
        assert_eq!(get(ev, "serial"), Some(&Value::Int(4242)));
        assert_eq!(get(ev, "SYSCALL"), Some(&Value::from("execve")));
        assert_eq!(
            get(ev, "a1"),
            Some(&Value::List(vec!["55d1".into(), "-o /tmp/a b ".into()]))
        );
        assert_eq!(
            get(ev, "name"),
            Some(&Value::List(vec![
                "/usr/bin/curl".into(),
                "/lib64/ld-linux-x86-64.so.2".into()
            ]))
        );
        assert_eq!(get(ev, "proctitle"), Some(&Value::from("curl -o")));
        assert_eq!(
            get(ev, "key"),
            Some(&Value::List(vec!["susp".into(), "exe".into()]))
        );
        assert_eq!(get(ev, "cwd"), Some(&Value::from("/root")));
    }

    #[test]
    fn long_arguments_are_joined_and_timeouts_close_events() {
        let evs = events(
            "type=EXECVE msg=audit(10.000:1): argc=2 a0=\"sh\" a1_len=6 a1[0]=616263 a1[1]=646566\n\
             type=SYSCALL msg=audit(20.000:2): arch=c00000b7 syscall=221",
        );
        assert_eq!(evs.len(), 2);
        assert_eq!(get(&evs[0], "a1"), Some(&Value::from("abcdef")));
        assert_eq!(get(&evs[0], "a1_len"), None);
        assert_eq!(get(&evs[1], "SYSCALL"), None);
    }

    #[test]
    fn user_space_payload_and_enrichment() {
        let r = parse_record("node=hv1 type=USER_LOGIN msg=audit(1481077043.193:421): pid=1298 uid=0 auid=1000 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" hostname=? addr=96.241.146.97 terminal=/dev/pts/0 res=success'\x1dUID=\"root\" AUID=\"andrew\"").expect("test input");
        assert_eq!(r.node.as_deref(), Some("hv1"));
        assert_eq!(r.kind, "USER_LOGIN");
        let names: Vec<&str> = r.fields.iter().map(|(k, _)| k.name()).collect();
        assert_eq!(
            names,
            ["pid", "uid", "auid", "op", "id", "exe", "addr", "terminal", "res", "UID", "AUID"]
        );
    }

    #[test]
    fn sockaddr_is_decoded() {
        let r =
            parse_record("type=SOCKADDR msg=audit(1.0:1): saddr=02000050A9FEA9FE0000000000000000")
                .expect("test input");
        assert_eq!(get_rec(&r, "addr"), Some("169.254.169.254"));
        assert_eq!(get_rec(&r, "port"), Some("80"));
    }

    fn get_rec<'a>(r: &'a Record, name: &str) -> Option<&'a str> {
        super::get(&r.fields, name)
    }

    #[test]
    fn hostile_serials_stay_bounded() {
        let mut text = String::new();
        for i in 0..2000 {
            text.push_str(&format!("type=PATH msg=audit(1.0:1): item={i} k{i}=v\n"));
        }
        let evs = events(&text);
        assert_eq!(evs.len(), 2);
        assert_eq!(
            get(&evs[0], "item").map(|v| matches!(v, Value::List(l) if l.len() == MAX_RECORDS)),
            Some(true)
        );
        let args: String = (0..5000)
            .map(|i| format!(" a{i}[0]=41 a{i}[1]=42"))
            .collect();
        let evs = events(&format!("type=EXECVE msg=audit(1.0:2): argc=5000{args}"));
        assert_eq!(get(&evs[0], "a4999"), Some(&Value::from("AB")));
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for l in [
            "type=",
            "type=X",
            "type=X msg=audit(",
            "type=X msg=audit(1",
            "type=X msg=audit(1:2",
            "type=X msg=audit(1.x:2): a",
            "type=X msg=audit(99999999999999999999.1:2): a",
            "type=X msg=audit(-5.1:2): a",
            "type=X msg=audit(1.1:2): a=\"",
            "type=X msg=audit(1.1:2): a='",
            "type=X msg=audit(1.1:2): msg='a='",
            "type=X msg=audit(1.1:2): =",
            "type=X msg=audit(1.1:2): ==",
            "type=EXECVE msg=audit(1.1:2): a0[=1 a[0]=00 a99999999999[0]=41 a1[x]=41",
            "type=SOCKADDR msg=audit(1.1:2): saddr=0A00 saddr=02 saddr=0100",
            "node= type=X msg=audit(1.1:2):",
            "type=PROCTITLE msg=audit(1.1:2): proctitle=0",
            "type=X msg=audit(1.1234567891234:2): \x1d\x1d=",
        ] {
            let _ = parse_record(l);
            let _ = events_lossy(l);
        }
    }

    fn events_lossy(text: &str) -> Vec<Event> {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        for l in text.lines() {
            let _ = a.line(l, &mut out);
        }
        a.flush_all(&mut out);
        out
    }
}
