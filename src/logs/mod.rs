//! Log formats: one file per format, each a pure parser from a line (or a JSON document) to
//! typed events, plus `detect` which names the format of a file from its first bytes.
//! [`LogParser`] drives one of them over the lines of an input; it never panics, and its
//! errors say what was wrong so that the caller can add the file and line.

pub mod auditd;
pub mod detect;
pub mod hypervisor;
pub mod json;
pub mod k8s_audit;
pub mod syslog;
pub mod vpc_flow;

use std::fmt;
use std::str::FromStr;

use crate::event::{days_from_civil, Event, LogSource, Timestamp};

/// A log format vigil reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// RFC 3164 (with the variants real systems send) and RFC 5424.
    Syslog,
    /// Raw auditd records (`type=... msg=audit(...)`).
    Auditd,
    /// JSON lines or JSON documents: Kubernetes audit events, or generic JSON.
    Json,
    /// AWS VPC flow logs, space separated, versions 2 to 5 (and later fields by name).
    VpcFlow,
    /// libvirtd's own log and QEMU's per-guest log.
    Hypervisor,
}

impl Format {
    /// The name used in metrics labels and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Syslog => "syslog",
            Format::Auditd => "auditd",
            Format::Json => "json",
            Format::VpcFlow => "vpc_flow",
            Format::Hypervisor => "hypervisor",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a line (or record, or document) could not be parsed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LogError {
    #[error("empty record")]
    Empty,
    #[error("bad syslog priority `{0}` (expected `<0>` to `<191>`)")]
    Priority(String),
    #[error("bad timestamp `{0}`")]
    Timestamp(String),
    #[error("RFC 5424 header is missing its {0}")]
    Header5424(&'static str),
    #[error("bad RFC 5424 structured data: {0}")]
    StructuredData(&'static str),
    #[error("no `msg=audit(SECONDS.MILLIS:SERIAL)` stamp")]
    AuditStamp,
    #[error("no `type=` at the start of the audit record")]
    AuditType,
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("JSON document larger than {0} bytes")]
    JsonTooLarge(usize),
    #[error("a JSON {0} where an object was expected")]
    NotObject(&'static str),
    #[error("{got} fields where the header names {expected}")]
    FieldCount { expected: usize, got: usize },
    #[error("field `{field}`: bad value `{value}`")]
    Field { field: &'static str, value: String },
    #[error("not a libvirt or QEMU log line, and no line before it to date it")]
    Unrecognized,
}

impl LogError {
    pub(crate) fn field(field: &'static str, value: &str) -> LogError {
        LogError::Field {
            field,
            value: truncate(value, 64).to_owned(),
        }
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What `--logsource` declares: a logsource that replaces the detected one's given parts, or
/// `any`, which the rule engine reads as "apply every rule to every event".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogSourceSpec {
    Any,
    Given(LogSource),
}

impl LogSourceSpec {
    /// Applies the declared parts to an event's logsource; `any` leaves it as detected.
    pub fn apply(&self, ls: &mut LogSource) {
        if let LogSourceSpec::Given(g) = self {
            if g.category.is_some() {
                ls.category.clone_from(&g.category);
            }
            if g.product.is_some() {
                ls.product.clone_from(&g.product);
            }
            if g.service.is_some() {
                ls.service.clone_from(&g.service);
            }
        }
    }
}

impl FromStr for LogSourceSpec {
    type Err = String;
    /// `any`, or comma-separated `key=value` pairs with keys `category`, `product`, `service`
    /// (the grammar of the rule engine's `parse_logsource_spec`).
    fn from_str(s: &str) -> Result<LogSourceSpec, String> {
        match crate::rules::parse_logsource_spec(s)? {
            None => Ok(LogSourceSpec::Any),
            Some(ls) if ls == LogSource::default() => {
                Err("empty logsource; give e.g. `product=linux,service=auditd` or `any`".into())
            }
            Some(ls) => Ok(LogSourceSpec::Given(ls)),
        }
    }
}

/// Extra Sigma services a log event answers to besides its own `logsource.service`: every
/// syslog message is also `service: syslog`, and messages of the auth and authpriv
/// facilities are also `service: auth` (what `/var/log/auth.log` holds). The rule engine
/// consults this when it matches a rule's logsource.
pub fn service_aliases(ev: &Event) -> &'static [&'static str] {
    syslog::service_aliases(ev)
}

/// Parses one input's lines in one format, keeping what spans lines (audit records of one
/// serial, the VPC header, a JSON document over several lines).
pub struct LogParser {
    inner: Inner,
}

enum Inner {
    Syslog(syslog::Parser),
    Auditd(auditd::Assembler),
    Json(json::Parser),
    VpcFlow(vpc_flow::Parser),
    Hypervisor(hypervisor::Parser),
}

impl LogParser {
    /// A parser for `format`. `now` is the reference for timestamps without a year (syslog).
    pub fn new(format: Format, now: Timestamp) -> LogParser {
        let inner = match format {
            Format::Syslog => Inner::Syslog(syslog::Parser::new(now)),
            Format::Auditd => Inner::Auditd(auditd::Assembler::default()),
            Format::Json => Inner::Json(json::Parser::default()),
            Format::VpcFlow => Inner::VpcFlow(vpc_flow::Parser::default()),
            Format::Hypervisor => Inner::Hypervisor(hypervisor::Parser::default()),
        };
        LogParser { inner }
    }

    pub fn format(&self) -> Format {
        match self.inner {
            Inner::Syslog(_) => Format::Syslog,
            Inner::Auditd(_) => Format::Auditd,
            Inner::Json(_) => Format::Json,
            Inner::VpcFlow(_) => Format::VpcFlow,
            Inner::Hypervisor(_) => Format::Hypervisor,
        }
    }

    /// Parses one line (without its line ending), appending the events it completes to `out`.
    /// Blank lines are skipped.
    pub fn line(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), LogError> {
        match &mut self.inner {
            Inner::Syslog(p) => p.line(line, out),
            Inner::Auditd(a) => a.line(line, out),
            Inner::Json(p) => p.line(line, out),
            Inner::VpcFlow(p) => p.line(line, out),
            Inner::Hypervisor(p) => p.line(line, out),
        }
    }

    /// Time has passed without input (a live source's clock): emits audit events left open
    /// longer than their timeout.
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        match &mut self.inner {
            Inner::Auditd(a) => a.expire(now, out),
            Inner::Syslog(p) => p.tick(now, out),
            _ => {}
        }
    }

    /// The end of the input: emits what is still pending (audit events without their EOE,
    /// also those forwarded through syslog);
    /// fails on a JSON document cut short.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), LogError> {
        match &mut self.inner {
            Inner::Auditd(a) => {
                a.flush_all(out);
                Ok(())
            }
            Inner::Json(p) => p.finish(out),
            Inner::Syslog(p) => {
                p.finish(out);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM|±HHMM]` (no offset means UTC).
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = s.get(i + 1..)?;
            let (oh, om) = match rest.len() {
                5 if rest.as_bytes()[2] == b':' => (rest.get(0..2)?, rest.get(3..5)?),
                4 => (rest.get(0..2)?, rest.get(2..4)?),
                2 => (rest, "00"),
                _ => return None,
            };
            if !(oh.bytes().chain(om.bytes())).all(|c| c.is_ascii_digit()) {
                return None;
            }
            let secs = oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60;
            if sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(Timestamp(
        secs.checked_mul(1_000_000_000)?.checked_add(nanos)?,
    ))
}

/// A Unix time given as a number: seconds, or milli-, micro- or nanoseconds by magnitude.
pub fn epoch_number(x: f64) -> Option<Timestamp> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let ns = if x >= 1e17 {
        x
    } else if x >= 1e14 {
        x * 1e3
    } else if x >= 1e11 {
        x * 1e6
    } else {
        x * 1e9
    };
    if ns >= i64::MAX as f64 {
        return None;
    }
    Some(Timestamp(ns as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_variants() {
        let t = |s| parse_rfc3339(s).map(|t| t.to_string());
        assert_eq!(
            t("2013-09-12T19:16:34.457849+04:00").as_deref(),
            Some("2013-09-12T15:16:34.457849Z")
        );
        assert_eq!(
            t("2018-10-26T09:09:28Z").as_deref(),
            Some("2018-10-26T09:09:28.000000Z")
        );
        assert_eq!(
            t("2024-03-12 10:15:32.123+0000").as_deref(),
            Some("2024-03-12T10:15:32.123000Z")
        );
        assert_eq!(t("2024-13-12T10:15:32Z"), None);
        assert_eq!(t("2024-03-12T10:15:32Zjunk"), None);
        assert_eq!(t("2024-03-12T10:15:32.Z"), None);
    }

    #[test]
    fn logsource_specs() {
        let s: LogSourceSpec = "product=linux,service=auditd".parse().expect("test input");
        let LogSourceSpec::Given(ls) = &s else {
            panic!("not given")
        };
        assert_eq!(ls.product.as_deref(), Some("linux"));
        assert_eq!(ls.service.as_deref(), Some("auditd"));
        assert_eq!("any".parse::<LogSourceSpec>(), Ok(LogSourceSpec::Any));
        assert!("product".parse::<LogSourceSpec>().is_err());
        assert!("vendor=x".parse::<LogSourceSpec>().is_err());
        assert!("".parse::<LogSourceSpec>().is_err());
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
