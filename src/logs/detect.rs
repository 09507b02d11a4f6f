//! Names the format of an input from its first bytes, as `vigil replay` needs: a capture
//! (pcap, pcapng), or one of the log formats. The first non-blank line decides; a format is
//! recognized by what its lines must start with, checked from the most specific to the
//! least (auditd, VPC flow logs, libvirt/QEMU, then syslog).

use crate::logs::{auditd, hypervisor, vpc_flow, Format};
use crate::source::pcap::is_capture;

/// What an input holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detected {
    Capture,
    Log(Format),
}

/// Why an input is not one vigil reads.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DetectError {
    #[error("empty input")]
    Empty,
    #[error("gzip-compressed; decompress it first (e.g. `zcat FILE | vigil replay -`)")]
    Gzip,
    #[error("unrecognized content: not a pcap/pcapng capture, syslog (RFC 3164/5424), raw auditd, JSON, AWS VPC flow logs, or a libvirt/QEMU log (first line: `{0}`)")]
    Unknown(String),
}

/// How many bytes [`detect`] wants to see (more is fine, less works for short inputs).
pub const HEAD: usize = 8192;

/// The format of an input that starts with `head`.
pub fn detect(head: &[u8]) -> Result<Detected, DetectError> {
    if is_capture(head) {
        return Ok(Detected::Capture);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(DetectError::Gzip);
    }
    let full = head.len() >= HEAD;
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    let mut lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    // The last line of a full head may be cut; keep it only if it is the only one.
    if full && lines.len() > 1 && !text.ends_with('\n') {
        lines.pop();
    }
    let Some(first) = lines.first() else {
        return Err(DetectError::Empty);
    };
    let start = first.trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        return Ok(Detected::Log(Format::Json));
    }
    // The first of the first few lines that is recognized decides, so that a cut first line
    // (a rotated file) or ausearch's `----` separators do not hide the format.
    for line in lines.iter().take(LINES) {
        if let Some(f) = line_format(line) {
            return Ok(Detected::Log(f));
        }
    }
    Err(DetectError::Unknown(
        crate::logs::truncate(first, 80).to_owned(),
    ))
}

/// Lines looked at before giving up.
const LINES: usize = 5;

fn line_format(line: &str) -> Option<Format> {
    if auditd::looks_like(line) {
        return Some(Format::Auditd);
    }
    if vpc_flow::looks_like(line) {
        return Some(Format::VpcFlow);
    }
    if hypervisor::looks_like(line) {
        return Some(Format::Hypervisor);
    }
    if looks_like_syslog(line) {
        return Some(Format::Syslog);
    }
    None
}

/// `<PRI>`, a BSD stamp (`Mmm dd hh:mm:ss`) or an RFC 3339 stamp, then more.
fn looks_like_syslog(line: &str) -> bool {
    if let Some(rest) = line.strip_prefix('<') {
        return rest.split_once('>').is_some_and(|(d, _)| {
            !d.is_empty() && d.len() <= 3 && d.bytes().all(|c| c.is_ascii_digit())
        });
    }
    let now = crate::event::Timestamp(0);
    let mut ev = Vec::new();
    let bsd = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .any(|m| line.starts_with(m) && line.as_bytes().get(3) == Some(&b' '));
    let rfc3339 = line
        .split_once(' ')
        .is_some_and(|(tok, _)| crate::logs::parse_rfc3339(tok).is_some());
    (bsd || rfc3339)
        && crate::logs::syslog::Parser::new(now)
            .line(line, &mut ev)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Result<Detected, DetectError> {
        detect(s.as_bytes())
    }

    #[test]
    fn formats_by_first_line() {
        use Format::*;
        let log = |f| Ok(Detected::Log(f));
        assert_eq!(d("\n\n{\"kind\":\"Event\"}"), log(Json));
        assert_eq!(d("[\n"), log(Json));
        assert_eq!(d("type=SYSCALL msg=audit(1.2:3): a=b"), log(Auditd));
        assert_eq!(d("node=h type=EOE msg=audit(1.2:3):"), log(Auditd));
        assert_eq!(d(vpc_flow::DEFAULT_HEADER), log(VpcFlow));
        assert_eq!(
            d("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"),
            log(VpcFlow)
        );
        assert_eq!(d("<34>1 2003-10-11T22:14:15.003Z h a - - - m"), log(Syslog));
        assert_eq!(
            d("Oct 11 22:14:15 mymachine su: 'su root' failed"),
            log(Syslog)
        );
        assert_eq!(
            d("2013-09-12T19:16:34.457849+04:00 localhost through rsyslog: x"),
            log(Syslog)
        );
        assert_eq!(
            d("2024-03-12 10:15:32.123+0000: 2231: error : f:1 : m"),
            log(Hypervisor)
        );
        assert_eq!(
            d("2024-03-12T10:15:32.123456Z qemu-kvm: terminating on signal 15"),
            log(Hypervisor)
        );
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Err(DetectError::Gzip));
        assert_eq!(d("  \n"), Err(DetectError::Empty));
        assert!(matches!(d("hello world"), Err(DetectError::Unknown(_))));
        assert_eq!(detect(&[0xd4, 0xc3, 0xb2, 0xa1, 0]), Ok(Detected::Capture));
        assert_eq!(
            d("----\ntime->Mon Apr 10 22:24:46 2017\ntype=EXECVE msg=audit(1.2:3): argc=1"),
            log(Auditd)
        );
        assert_eq!(
            d("ed: x\nOct 11 22:14:15 mymachine su: failed"),
            log(Syslog)
        );
    }
}
