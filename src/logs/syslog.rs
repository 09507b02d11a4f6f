//! Syslog: RFC 5424 (structured data, BOM) and RFC 3164 with the variants real systems send
//! (no priority as in `/var/log` files, no year, no hostname, RFC 3339 stamps as rsyslog
//! writes them, `program[pid]:` tags, kernel lines). One line is one event: product `linux`,
//! service the program's name (`sshd`, `kernel`, ...; `syslog` when the line names none).

use std::sync::OnceLock;

use compact_str::CompactString;

use crate::event::{
    civil_from_days, days_from_civil, f, intern, Event, FieldId, Fields, Key, Kind, LogSource,
    Timestamp, Value,
};
use crate::logs::{auditd, hypervisor, parse_rfc3339, LogError};

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAY: i64 = 86_400 * 1_000_000_000;

struct Ids {
    msgid: FieldId,
    sd: FieldId,
}

fn ids() -> &'static Ids {
    static IDS: OnceLock<Ids> = OnceLock::new();
    IDS.get_or_init(|| Ids {
        msgid: intern("msgid"),
        sd: intern("sd"),
    })
}

/// The facility name of a facility code (`kern`, `user`, ..., `local7`).
pub fn facility_name(code: u8) -> Option<&'static str> {
    FACILITIES.get(code as usize).copied()
}

/// The severity name of a severity code (`emerg` ... `debug`).
pub fn severity_name(code: u8) -> Option<&'static str> {
    SEVERITIES.get(code as usize).copied()
}

/// Line-by-line syslog parsing with a fixed reference time for stamps without a year.
/// Audit records forwarded through syslog (auditd's `audisp-syslog` plugin, `audispd`) are
/// assembled into auditd events, as if read from `audit.log`.
pub struct Parser {
    now: Timestamp,
    audit: auditd::Assembler,
}

impl Parser {
    pub fn new(now: Timestamp) -> Parser {
        Parser {
            now,
            audit: auditd::Assembler::default(),
        }
    }

    pub fn line(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), LogError> {
        if line.trim().is_empty() {
            return Ok(());
        }
        let ev = parse(line, self.now)?;
        match ev.get_str(f::MESSAGE).filter(|m| auditd::looks_like(m)) {
            Some(msg) => {
                let mut rec = self.audit.parse(msg)?;
                // Serials are per host: without `node=`, the sender names the host.
                if rec.node.is_none() {
                    rec.node = ev.get_str(f::HOST).map(CompactString::from);
                }
                self.audit.push(rec, out);
            }
            None => out.push(ev),
        }
        Ok(())
    }

    /// Time has passed without input: emits forwarded audit events left open too long.
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        self.audit.expire(now, out);
    }

    /// The end of the input: emits the forwarded audit events still open.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        self.audit.flush_all(out);
    }
}

/// Parses one syslog message. `now` is the reference time: RFC 3164 stamps carry no year, so
/// the year is `now`'s unless that puts the message more than a day in the future, in which
/// case it is the year before (rsyslog's rule for December messages read in January). Stamps
/// without a zone are UTC. A message with no stamp at all is stamped `now`.
pub fn parse(line: &str, now: Timestamp) -> Result<Event, LogError> {
    let s = line.trim_end_matches(['\n', '\r', '\0']);
    if s.trim().is_empty() {
        return Err(LogError::Empty);
    }
    let (pri, rest) = priority(s)?;
    let mut ev = if pri.is_some() && rest.starts_with("1 ") {
        parse_5424(&rest[2..], now)?
    } else {
        parse_3164(rest, now)?
    };
    if let Some(p) = pri {
        let (fac, sev) = (p >> 3, p & 7);
        if let Some(n) = facility_name(fac) {
            ev.fields.push(f::FACILITY, n);
        }
        if let Some(n) = severity_name(sev) {
            ev.fields.push(f::SEVERITY, n);
        }
    }
    hypervisor::annotate(&mut ev);
    Ok(ev)
}

/// For live input, where every message must become an event: the parsed event, or on a
/// parse error the raw message (service `syslog`, stamped `now`) and the error to count.
pub fn parse_or_raw(line: &str, now: Timestamp) -> (Event, Option<LogError>) {
    match parse(line, now) {
        Ok(ev) => (ev, None),
        Err(e) => {
            let mut ev = event(now, None);
            let msg = line.trim_end_matches(['\n', '\r', '\0']);
            ev.fields.push(f::MESSAGE, Value::Str(msg.into()));
            (ev, Some(e))
        }
    }
}

fn priority(s: &str) -> Result<(Option<u8>, &str), LogError> {
    let Some(body) = s.strip_prefix('<') else {
        return Ok((None, s));
    };
    let end = body
        .bytes()
        .take(4)
        .position(|c| c == b'>')
        .ok_or_else(|| LogError::Priority(crate::logs::truncate(s, 6).to_owned()))?;
    let digits = &body[..end];
    match digits.parse::<u8>() {
        Ok(p) if p <= 191 && !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) => {
            Ok((Some(p), &body[end + 1..]))
        }
        _ => Err(LogError::Priority(format!("<{digits}>"))),
    }
}

/// The event a syslog line becomes, before its fields.
fn event(ts: Timestamp, program: Option<&str>) -> Event {
    Event {
        ts,
        kind: Kind::Log,
        logsource: LogSource::product_service("linux", service_of(program)),
        // Room for what a line carries (header, message, priority, the listener's peer and
        // the kernel's extras) without growing, and not much more: queued events add up.
        fields: Fields::with_capacity(SYSLOG_FIELDS),
    }
}

/// Fields a syslog event usually ends up with (host, program, pid, message, facility,
/// severity, the listener's peer, and one of structured data, msgid or a kernel extra); see
/// [`event`]. Each slot is 56 bytes, and a batch of events passes through three threads'
/// caches: a line with more fields pays one reallocation, every line pays for unused slots.
const SYSLOG_FIELDS: usize = 9;

/// The Sigma service of a program: its name, lower case, without a path (`CRON` → `cron`,
/// `/usr/sbin/sshd` → `sshd`); `syslog` when there is none.
pub fn service_of(program: Option<&str>) -> CompactString {
    // A byte search: `rsplit('/')` sets up a searcher, which costs more than these short
    // names take to scan.
    match program.map(|p| match p.bytes().rposition(|c| c == b'/') {
        Some(i) => &p[i + 1..],
        None => p,
    }) {
        Some(p) if !p.is_empty() => {
            if p.bytes().any(|c| c.is_ascii_uppercase()) {
                CompactString::from(p.to_ascii_lowercase())
            } else {
                CompactString::from(p)
            }
        }
        _ => CompactString::const_new("syslog"),
    }
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// The five space-separated RFC 5424 header fields after the version (stamp, host, app,
/// procid, msgid) and what follows them; the error names the first part missing.
fn header_5424(s: &str) -> Result<([&str; 5], &str), LogError> {
    const PARTS: [&str; 6] = [
        "timestamp",
        "hostname",
        "app-name",
        "procid",
        "msgid",
        "structured data",
    ];
    let mut fields = [""; 5];
    let mut rest = s;
    for (i, field) in fields.iter_mut().enumerate() {
        // Header fields are a few bytes long: a plain loop beats setting up a searcher.
        let Some(end) = rest.bytes().position(|c| c == b' ') else {
            return Err(LogError::Header5424(PARTS[i + 1]));
        };
        *field = &rest[..end];
        rest = &rest[end + 1..];
    }
    Ok((fields, rest))
}

/// An RFC 5424 stamp. The shape nearly every sender writes (`2025-11-28T10:00:00.123456Z`) is
/// read here directly; anything else goes to [`parse_rfc3339`], which gives the same result
/// for this shape (see the `stamp_fast_path_agrees` test) but costs several times as much.
fn stamp_5424(t: &str) -> Option<Timestamp> {
    stamp_5424_fast(t.as_bytes()).or_else(|| parse_rfc3339(t))
}

/// `YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z` with fields in range, else `None`.
fn stamp_5424_fast(b: &[u8]) -> Option<Timestamp> {
    let head: &[u8; 19] = b.get(..19)?.try_into().ok()?;
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let mut v = [0i64; 19];
    for (i, (&c, d)) in head.iter().zip(v.iter_mut()).enumerate() {
        let sep = match i {
            4 | 7 => b'-',
            10 => b'T',
            13 | 16 => b':',
            _ => {
                if !c.is_ascii_digit() {
                    return None;
                }
                *d = (c - b'0') as i64;
                continue;
            }
        };
        if c != sep {
            return None;
        }
    }
    let two = |i: usize| v[i] * 10 + v[i + 1];
    let (y, mo, d) = (two(0) * 100 + two(2), two(5), two(8));
    let (h, mi, sec) = (two(11), two(14), two(17));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let frac = &b[19..b.len() - 1];
    let nanos = match frac.split_first() {
        None => 0,
        Some((b'.', digits)) if (1..=9).contains(&digits.len()) => {
            let mut n = 0i64;
            for &c in digits {
                if !c.is_ascii_digit() {
                    return None;
                }
                n = n * 10 + (c - b'0') as i64;
            }
            n * 10i64.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + sec;
    Some(Timestamp(
        secs.checked_mul(1_000_000_000)?.checked_add(nanos)?,
    ))
}

fn parse_5424(s: &str, now: Timestamp) -> Result<Event, LogError> {
    let ([stamp, host, app, procid, msgid], rest) = header_5424(s)?;
    let ts = match nil(stamp) {
        None => now,
        Some(t) => stamp_5424(t).ok_or_else(|| LogError::Timestamp(t.into()))?,
    };
    let app = nil(app);
    let mut ev = event(ts, app);
    let (sd, msg) = structured_data(rest)?;
    let fs = &mut ev.fields;
    if let Some(h) = nil(host) {
        fs.push(f::HOST, Value::Str(h.into()));
    }
    if let Some(a) = app {
        fs.push(f::PROGRAM, Value::Str(a.into()));
    }
    if let Some(p) = nil(procid) {
        fs.push(f::PID, number_or_str(p));
    }
    if let Some(m) = nil(msgid) {
        fs.push(ids().msgid, Value::Str(m.into()));
    }
    if let Some(sd) = sd {
        fs.push(ids().sd, Value::Map(sd));
    }
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    fs.push(f::MESSAGE, Value::Str(msg.into()));
    Ok(ev)
}

fn number_or_str(s: &str) -> Value {
    // Digits only (no sign), and they must fit: a plain loop, as `parse` checks more.
    let mut n = 0i64;
    for c in s.bytes() {
        match (c.is_ascii_digit(), n.checked_mul(10)) {
            (true, Some(m)) => match m.checked_add((c - b'0') as i64) {
                Some(m) => n = m,
                None => return Value::Str(s.into()),
            },
            _ => return Value::Str(s.into()),
        }
    }
    if s.is_empty() {
        return Value::Str(s.into());
    }
    Value::Int(n)
}

/// Parses `-` or `[id name="value" ...]...`, returning the elements as a map of maps (so that
/// `sd.<id>.<name>` is a dotted path) and the message after them.
fn structured_data(s: &str) -> Result<(Option<Fields>, &str), LogError> {
    if let Some(rest) = s.strip_prefix('-') {
        if rest.is_empty() || rest.starts_with(' ') {
            return Ok((None, rest.strip_prefix(' ').unwrap_or(rest)));
        }
        return Err(LogError::StructuredData(
            "`-` followed by more than a space",
        ));
    }
    let b = s.as_bytes();
    if b.first() != Some(&b'[') {
        return Err(LogError::StructuredData("neither `-` nor `[`"));
    }
    let mut sd = Fields::new();
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        i += 1;
        let id_start = i;
        while i < b.len() && !matches!(b[i], b' ' | b']' | b'=' | b'"') {
            i += 1;
        }
        if i == id_start {
            return Err(LogError::StructuredData("empty SD-ID"));
        }
        let id = &s[id_start..i];
        let mut params = Fields::new();
        loop {
            match b.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => i += 1,
                _ => return Err(LogError::StructuredData("element not closed by `]`")),
            }
            if b.get(i) == Some(&b']') {
                continue;
            }
            let name_start = i;
            while i < b.len() && !matches!(b[i], b'=' | b' ' | b']' | b'"') {
                i += 1;
            }
            if i == name_start || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                return Err(LogError::StructuredData(
                    "parameter is not `name=\"value\"`",
                ));
            }
            let name = &s[name_start..i];
            i += 2;
            let mut value = CompactString::default();
            let mut seg = i;
            loop {
                match b.get(i) {
                    None => return Err(LogError::StructuredData("unterminated parameter value")),
                    Some(b'"') => break,
                    Some(b'\\') if matches!(b.get(i + 1), Some(b'"' | b'\\' | b']')) => {
                        value.push_str(&s[seg..i]);
                        seg = i + 1;
                        i += 2;
                    }
                    Some(_) => i += 1,
                }
            }
            value.push_str(&s[seg..i]);
            i += 1;
            params.push_key(Key::new(name), Value::Str(value));
        }
        sd.push_key(Key::new(id), Value::Map(params));
    }
    let rest = &s[i..];
    Ok((Some(sd), rest.strip_prefix(' ').unwrap_or(rest)))
}

fn parse_3164(s: &str, now: Timestamp) -> Result<Event, LogError> {
    let (ts, rest) = match bsd_stamp(s, now) {
        Some((ts, rest)) => (Some(ts), rest),
        None => match s.split_once(' ') {
            Some((tok, rest)) if tok.len() >= 19 && tok.as_bytes()[4] == b'-' => {
                let t = parse_rfc3339(tok).ok_or_else(|| LogError::Timestamp(tok.into()))?;
                (Some(t), rest)
            }
            _ => (None, s),
        },
    };
    let rest = rest.trim_start_matches(' ');
    // A host only follows a stamp, and only when the word there is not already the tag.
    let (host, rest) = match (ts, rest.split_once(' ')) {
        (Some(_), Some((word, after))) if tag(word).is_none() && !word.is_empty() => {
            (Some(word), after.trim_start_matches(' '))
        }
        _ => (None, rest),
    };
    let (program, pid, msg) = match tag(rest) {
        Some((prog, pid, after)) => (Some(prog), pid, after),
        None => (None, None, rest),
    };
    let mut ev = event(ts.unwrap_or(now), program);
    let fs = &mut ev.fields;
    if let Some(h) = host {
        fs.push(f::HOST, Value::Str(h.into()));
    }
    if let Some(p) = program {
        fs.push(f::PROGRAM, Value::Str(p.into()));
    }
    if let Some(p) = pid {
        fs.push(f::PID, number_or_str(p));
    }
    fs.push(f::MESSAGE, Value::Str(msg.into()));
    Ok(ev)
}

/// A tag at the start of `s`: `program:` or `program[pid]:`, followed by the message.
fn tag(s: &str) -> Option<(&str, Option<&str>, &str)> {
    let end = s.find([':', '[', ' '])?;
    let prog = &s[..end];
    if prog.is_empty() || prog.len() > 64 {
        return None;
    }
    let (pid, after) = match s.as_bytes()[end] {
        b':' => (None, &s[end + 1..]),
        b'[' => {
            let close = s[end..].find(']')? + end;
            let pid = &s[end + 1..close];
            let after = s[close + 1..].strip_prefix(':')?;
            (Some(pid).filter(|p| !p.is_empty()), after)
        }
        _ => return None,
    };
    Some((prog, pid, after.strip_prefix(' ').unwrap_or(after)))
}

/// `Mmm dd hh:mm:ss[.frac]` or `Mmm dd yyyy hh:mm:ss`, and what follows it.
fn bsd_stamp(s: &str, now: Timestamp) -> Option<(Timestamp, &str)> {
    let month = MONTHS.iter().position(|m| s.get(..3) == Some(*m))? as u32 + 1;
    let rest = s.get(3..)?.strip_prefix(' ')?.trim_start_matches(' ');
    let (day, rest) = rest.split_once(' ')?;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let rest = rest.trim_start_matches(' ');
    let (mut word, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let mut year = None;
    if word.len() == 4 && word.bytes().all(|c| c.is_ascii_digit()) {
        year = word.parse::<i64>().ok();
        (word, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    }
    let (hms, frac) = word.split_once('.').unwrap_or((word, ""));
    let b = hms.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let two = |i: usize| -> Option<i64> {
        let d = hms.get(i..i + 2)?;
        d.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| d.parse().ok())?
    };
    let (h, m, sec) = (two(0)?, two(3)?, two(6)?);
    if h > 23 || m > 59 || sec > 60 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut nanos = 0i64;
    for (i, c) in frac.bytes().take(9).enumerate() {
        nanos += (c - b'0') as i64 * 10i64.pow(8 - i as u32);
    }
    // A year past 2262 does not fit in nanoseconds: not a stamp then.
    let at = |y: i64| {
        let secs = days_from_civil(y, month, day) * 86_400 + h * 3600 + m * 60 + sec;
        Some(Timestamp(
            secs.checked_mul(1_000_000_000)?.checked_add(nanos)?,
        ))
    };
    let ts = match year {
        Some(y) => at(y)?,
        None => {
            let (this_year, _, _) = civil_from_days(now.secs().div_euclid(86_400));
            let t = at(this_year)?;
            if t.0 > now.0.saturating_add(DAY) {
                at(this_year - 1)?
            } else {
                t
            }
        }
    };
    Some((ts, rest))
}

/// See [`crate::logs::service_aliases`].
pub fn service_aliases(ev: &Event) -> &'static [&'static str] {
    let is_syslog = ev.kind == Kind::Log
        && ev.logsource.product.as_deref() == Some("linux")
        && ev.logsource.service.as_deref() != Some("auditd")
        && ev.get(f::MESSAGE).is_some();
    if !is_syslog {
        return &[];
    }
    let auth = match ev.get_str(f::FACILITY) {
        Some(fac) => fac == "auth" || fac == "authpriv",
        None => matches!(
            ev.logsource.service.as_deref(),
            Some("sshd" | "sudo" | "su" | "login" | "systemd-logind" | "passwd" | "useradd")
        ),
    };
    if auth {
        &["syslog", "auth"]
    } else {
        &["syslog"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-28T12:00:00Z
    const NOW: Timestamp = Timestamp(1_795_867_200 * 1_000_000_000);

    fn s<'a>(ev: &'a Event, name: &str) -> Option<&'a Value> {
        ev.fields.get_name(name)
    }

    #[test]
    fn rfc3164_with_pid_and_host() {
        let ev = parse(
            "<38>Nov 27 06:25:01 web1 sshd[4123]: Accepted publickey for root from 10.0.0.1",
            NOW,
        )
        .expect("test input");
        assert_eq!(ev.ts.to_string(), "2026-11-27T06:25:01.000000Z");
        assert_eq!(ev.logsource.service.as_deref(), Some("sshd"));
        assert_eq!(ev.get_str(f::HOST), Some("web1"));
        assert_eq!(ev.get(f::PID), Some(&Value::Int(4123)));
        assert_eq!(ev.get_str(f::FACILITY), Some("auth"));
        assert_eq!(ev.get_str(f::SEVERITY), Some("info"));
        assert_eq!(
            ev.get_str(f::MESSAGE),
            Some("Accepted publickey for root from 10.0.0.1")
        );
        assert_eq!(service_aliases(&ev), &["syslog", "auth"]);
    }

    #[test]
    fn year_rolls_back_for_future_stamps() {
        let ev = parse("Dec 31 23:59:59 h cron[1]: x", NOW).expect("test input");
        assert_eq!(ev.ts.to_string(), "2025-12-31T23:59:59.000000Z");
    }

    #[test]
    fn file_lines_without_priority_or_host() {
        let ev = parse(
            "Feb  3 04:05:06 kernel: [  12.345678] kvm: disabled by bios",
            NOW,
        )
        .expect("test input");
        assert_eq!(ev.get_str(f::PROGRAM), Some("kernel"));
        assert_eq!(ev.get(f::HOST), None);
        assert_eq!(ev.get(f::FACILITY), None);
        let ev = parse("<13>myprog: hello", NOW).expect("test input");
        assert_eq!(ev.get_str(f::PROGRAM), Some("myprog"));
        assert_eq!(ev.get_str(f::MESSAGE), Some("hello"));
        let ev =
            parse("Feb  3 04:05:06 host last message repeated 3 times", NOW).expect("test input");
        assert_eq!(ev.get_str(f::HOST), Some("host"));
        assert_eq!(ev.get(f::PROGRAM), None);
        assert_eq!(ev.logsource.service.as_deref(), Some("syslog"));
    }

    #[test]
    fn rfc5424_with_sd_and_bom() {
        let ev = parse(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\\]\"] \u{feff}An application event log entry...",
            NOW,
        )
        .expect("test input");
        assert_eq!(ev.ts.to_string(), "2003-10-11T22:14:15.003000Z");
        assert_eq!(ev.get_str(f::HOST), Some("mymachine.example.com"));
        assert_eq!(ev.get_str(f::PROGRAM), Some("evntslog"));
        assert_eq!(ev.get(f::PID), None);
        assert_eq!(s(&ev, "msgid").and_then(Value::as_str), Some("ID47"));
        assert_eq!(
            ev.get_str(f::MESSAGE),
            Some("An application event log entry...")
        );
        let path = [intern("sd"), intern("exampleSDID@32473"), intern("eventID")];
        let mut got = Vec::new();
        crate::event::visit_path(&ev.fields, &path, &mut |v| got.push(v.clone()));
        assert_eq!(got, [Value::from("1011")]);
        let path = [
            intern("sd"),
            intern("examplePriority@32473"),
            intern("class"),
        ];
        let mut got = Vec::new();
        crate::event::visit_path(&ev.fields, &path, &mut |v| got.push(v.clone()));
        assert_eq!(got, [Value::from("high]")]);
        assert_eq!(ev.get_str(f::FACILITY), Some("local4"));
        assert_eq!(ev.get_str(f::SEVERITY), Some("notice"));
    }

    #[test]
    fn rfc5424_nil_fields() {
        let ev = parse("<34>1 - - - - - -", NOW).expect("test input");
        assert_eq!(ev.ts, NOW);
        assert_eq!(ev.get_str(f::MESSAGE), Some(""));
        assert!(parse("<34>1 2003-10-11T22:14:15Z h a p m [x", NOW).is_err());
        assert!(parse("<34>1 garbage h a p m -", NOW).is_err());
    }

    #[test]
    fn audit_records_through_syslog_are_auditd_events() {
        let mut p = Parser::new(NOW);
        let mut out = Vec::new();
        for l in [
            "Nov 28 10:00:00 hv1 audisp-syslog: type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e syscall=59 exe=\"/usr/bin/curl\"",
            "Nov 28 10:00:00 hv1 audisp-syslog: type=EXECVE msg=audit(1700000000.123:42): argc=1 a0=\"curl\"",
            "Nov 28 10:00:00 hv1 sshd[1]: hello",
        ] {
            p.line(l, &mut out).expect("test input");
        }
        p.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].logsource.service.as_deref(), Some("sshd"));
        let a = &out[1];
        assert_eq!(a.logsource.service.as_deref(), Some("auditd"));
        assert_eq!(a.fields.get_name("node"), Some(&Value::from("hv1")));
        assert_eq!(a.fields.get_name("SYSCALL"), Some(&Value::from("execve")));
        assert_eq!(
            a.fields.get_name("exe"),
            Some(&Value::from("/usr/bin/curl"))
        );
    }

    #[test]
    fn live_messages_always_make_an_event() {
        let (ev, err) = parse_or_raw("<999>junk\0", NOW);
        assert!(err.is_some());
        assert_eq!(ev.get_str(f::MESSAGE), Some("<999>junk"));
        assert_eq!(ev.logsource.service.as_deref(), Some("syslog"));
        assert_eq!(ev.ts, NOW);
        assert!(parse_or_raw("<13>a: b", NOW).1.is_none());
    }

    #[test]
    fn stamp_fast_path_agrees() {
        for t in [
            "2025-11-28T10:00:00Z",
            "2025-11-28T10:00:00.1Z",
            "2025-11-28T10:00:00.123456Z",
            "2025-11-28T10:00:00.123456789Z",
            "2025-11-28T10:00:00.1234567891Z",
            "2025-11-28T10:00:00.Z",
            "2025-11-28T23:59:60Z",
            "2025-13-28T10:00:00Z",
            "2025-00-28T10:00:00Z",
            "2025-11-32T10:00:00Z",
            "2025-11-28T24:00:00Z",
            "2025-11-28T10:60:00Z",
            "2025-11-28t10:00:00Z",
            "2025-11-28 10:00:00Z",
            "2025-11-28T10:00:00+02:00",
            "2025-11-28T10:00:00.5-0130",
            "2025-11-28T10:00:00",
            "2025-11-28T10:00:0xZ",
            "+025-11-28T10:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2025-11-28T10:00:00,5Z",
            "2025-11-28T10:00:00zZ",
        ] {
            assert_eq!(stamp_5424(t), parse_rfc3339(t), "{t}");
        }
    }

    #[test]
    fn pids_are_numbers_when_they_fit() {
        assert_eq!(number_or_str("4123"), Value::Int(4123));
        assert_eq!(number_or_str("0"), Value::Int(0));
        assert_eq!(number_or_str(""), Value::from(""));
        assert_eq!(number_or_str("-1"), Value::from("-1"));
        assert_eq!(number_or_str("+1"), Value::from("+1"));
        assert_eq!(number_or_str("12a"), Value::from("12a"));
        assert_eq!(number_or_str("9223372036854775807"), Value::Int(i64::MAX));
        assert_eq!(
            number_or_str("9223372036854775808"),
            Value::from("9223372036854775808")
        );
    }

    #[test]
    fn rfc5424_header_errors_name_the_missing_part() {
        for (line, part) in [
            ("<1>1 ", "hostname"),
            ("<1>1 a", "hostname"),
            ("<1>1 - b", "app-name"),
            ("<1>1 - b c d", "msgid"),
            ("<1>1 - b c d e", "structured data"),
        ] {
            match parse(line, NOW) {
                Err(LogError::Header5424(p)) => assert_eq!(p, part, "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        assert_eq!(service_of(Some("/usr/sbin/sshd")), "sshd");
        assert_eq!(service_of(Some("CRON")), "cron");
        assert_eq!(service_of(Some("/")), "syslog");
        assert_eq!(service_of(None), "syslog");
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for line in [
            "<",
            "<>",
            "<999>x",
            "<1",
            "<12>1 ",
            "<12>1 -",
            "<12>1 - - - - - [",
            "<12>1 - - - - - [a",
            "<12>1 - - - - - [a b",
            "<12>1 - - - - - [a b=\"",
            "<12>1 - - - - - [a b=\"\\",
            "Jan",
            "Jan 1",
            "Jan 99 00:00:00 x",
            "Jan  1 25:00:00 h p: m",
            "é[",
            "p[1",
            "p[]:",
            "Feb 29 12:00:00.ééé h p: m",
            "\u{feff}",
            "<0>Jan  1 00:00:00.99999999999999 a b: c",
            "2024-01-01T00:00:00Z",
            "9999-99-99T99:99:99Z host p: m",
            "Nov  7 9162 19:16:12 thr",
            "Dec 31 9999 23:59:59.999999999 h p: m",
        ] {
            let _ = parse(line, NOW);
        }
    }
}
