//! Hypervisor messages: the kernel's (KVM), libvirtd's and QEMU's, whether they arrive through
//! syslog ([`annotate`] adds their structure to a syslog event) or come from libvirtd's own
//! log and QEMU's per-guest log ([`parse`]). All are product `linux` with the program as
//! service: `kernel`, `libvirtd`, `qemu-kvm` (or `qemu-system-x86_64`, as the line names it).

use std::sync::OnceLock;

use crate::event::{f, intern, Event, FieldId, Kind, LogSource, Timestamp, Value};
use crate::logs::{parse_rfc3339, LogError};

struct Ids {
    thread: FieldId,
    level: FieldId,
    function: FieldId,
    subsystem: FieldId,
    uptime: FieldId,
    signal: FieldId,
    sender_pid: FieldId,
    sender: FieldId,
}

fn ids() -> &'static Ids {
    static IDS: OnceLock<Ids> = OnceLock::new();
    IDS.get_or_init(|| Ids {
        thread: intern("thread"),
        level: intern("level"),
        function: intern("function"),
        subsystem: intern("subsystem"),
        uptime: intern("uptime"),
        signal: intern("signal"),
        sender_pid: intern("sender_pid"),
        sender: intern("sender"),
    })
}

/// Adds the structure of kernel, libvirtd and QEMU messages to a syslog event: the kernel's
/// `[uptime]` prefix and subsystem (`kvm`), libvirt's thread, level and function, QEMU's
/// signal and the process that sent it. The message keeps only the text after that structure.
pub fn annotate(ev: &mut Event) {
    let Some(program) = ev.get_str(f::PROGRAM) else {
        return;
    };
    let Some(msg) = ev.get_str(f::MESSAGE) else {
        return;
    };
    let mut extra: Vec<(FieldId, Value)> = Vec::new();
    let mut new_msg = None;
    if program == "kernel" {
        let (uptime, rest) = kernel_uptime(msg);
        if let Some(u) = uptime {
            extra.push((ids().uptime, Value::Float(u)));
            new_msg = Some(rest);
        }
        if let Some(sub) = kernel_subsystem(rest) {
            extra.push((ids().subsystem, Value::Str(sub.into())));
        }
    } else if program.starts_with("libvirtd") || program == "virtqemud" {
        if let Some((thread, level, function, rest)) = libvirt_body(msg) {
            extra.push((ids().thread, Value::Int(thread)));
            extra.push((ids().level, Value::Str(level.into())));
            extra.push((ids().function, Value::Str(function.into())));
            new_msg = Some(rest);
        }
    } else if program.starts_with("qemu") {
        qemu_signal(msg, &mut extra);
    }
    let new_msg = new_msg.map(|m| Value::Str(m.into()));
    if let Some(m) = new_msg {
        ev.fields.set(f::MESSAGE, m);
    }
    for (id, v) in extra {
        ev.fields.push(id, v);
    }
}

/// `[  123.456789] rest` → (123.456789, rest).
fn kernel_uptime(msg: &str) -> (Option<f64>, &str) {
    let Some(body) = msg.strip_prefix('[') else {
        return (None, msg);
    };
    let Some((num, rest)) = body.split_once(']') else {
        return (None, msg);
    };
    match num.trim().parse::<f64>() {
        Ok(u) if u.is_finite() => (Some(u), rest.strip_prefix(' ').unwrap_or(rest)),
        _ => (None, msg),
    }
}

/// The subsystem that prefixes a kernel message: `kvm: ...`, `kvm [1234]: ...`,
/// `kvm_intel: ...`, `vfio-pci 0000:01:00.0: ...`.
fn kernel_subsystem(msg: &str) -> Option<&str> {
    let end = msg.find([':', ' '])?;
    let word = &msg[..end];
    let ok = !word.is_empty()
        && word.len() <= 24
        && word
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
    ok.then_some(word)
}

/// libvirt's `THREAD: LEVEL : FUNCTION:LINE : MESSAGE`.
fn libvirt_body(msg: &str) -> Option<(i64, &str, &str, &str)> {
    let (thread, rest) = msg.split_once(": ")?;
    let thread = thread.trim().parse::<i64>().ok()?;
    let (level, rest) = rest.split_once(" : ")?;
    let level = level.trim();
    if !matches!(level, "debug" | "info" | "warning" | "error") {
        return None;
    }
    let (func, rest) = rest.split_once(" : ")?;
    let func = func.split(':').next().unwrap_or(func).trim();
    Some((thread, level, func, rest))
}

/// QEMU's `terminating on signal 15 from pid 1234 (/usr/sbin/libvirtd)`.
fn qemu_signal(msg: &str, extra: &mut Vec<(FieldId, Value)>) {
    let Some(at) = msg.find("terminating on signal ") else {
        return;
    };
    let rest = &msg[at + "terminating on signal ".len()..];
    let (sig, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let Ok(sig) = sig.parse::<i64>() else {
        return;
    };
    extra.push((ids().signal, Value::Int(sig)));
    if let Some(rest) = rest.strip_prefix("from pid ") {
        let (pid, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Ok(pid) = pid.parse::<i64>() {
            extra.push((ids().sender_pid, Value::Int(pid)));
        }
        if let Some(name) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            extra.push((ids().sender, Value::Str(name.into())));
        }
    }
}

/// Lines of libvirtd's log or a QEMU guest log. Lines without a stamp (QEMU's own messages
/// often have none) take the previous line's.
#[derive(Default)]
pub struct Parser {
    last: Option<Timestamp>,
}

impl Parser {
    pub fn line(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), LogError> {
        if line.trim().is_empty() {
            return Ok(());
        }
        let ev = parse(line, self.last)?;
        self.last = Some(ev.ts);
        out.push(ev);
        Ok(())
    }
}

/// Whether `line` looks like a libvirtd or QEMU log line (for format detection).
pub fn looks_like(line: &str) -> bool {
    // libvirt's own stamp (`2024-03-12 10:15:32.123+0000: `) is found in no syslog format.
    let libvirt_stamp =
        line.get(..28).is_some_and(|h| parse_rfc3339(h).is_some()) && line[28..].starts_with(": ");
    libvirt_stamp || qemu_program(stamp(line).1).is_some()
}

/// One line of libvirtd's log (`2024-03-12 10:15:32.123+0000: 2231: error :
/// qemuProcessReportLogError:2051 : internal error: ...`) or of a QEMU guest log
/// (`2024-03-12T10:15:32.123456Z qemu-kvm: terminating on signal 15 from pid 2231
/// (/usr/sbin/libvirtd)`; libvirt's own lines there, like `starting up libvirt version`,
/// become service `libvirtd` too; unstamped lines there are QEMU's and become `qemu-kvm`).
/// `last` stamps lines that carry none; without it the line is an error.
pub fn parse(line: &str, last: Option<Timestamp>) -> Result<Event, LogError> {
    let line = line.trim_end_matches(['\n', '\r', '\0']);
    let (ts, rest) = stamp(line);
    let stamped = ts.is_some();
    let ts = ts.or(last).ok_or(LogError::Unrecognized)?;
    let (program, pid, msg) = match qemu_program(rest) {
        Some((p, pid, m)) => (p, pid, m),
        // Every line of libvirtd's log is stamped; an unstamped line is QEMU's own stderr
        // in a guest log (`KVM internal error. Suberror: 1`).
        None if !stamped => ("qemu-kvm", None, rest),
        None => ("libvirtd", None, rest),
    };
    let mut ev = Event::new(ts, Kind::Log, LogSource::product_service("linux", program));
    ev.fields.push(f::PROGRAM, Value::Str(program.into()));
    if let Some(p) = pid {
        ev.fields.push(f::PID, Value::Int(p));
    }
    ev.fields.push(f::MESSAGE, Value::Str(msg.into()));
    annotate(&mut ev);
    Ok(ev)
}

/// A leading stamp: RFC 3339 followed by a space, or libvirt's `YYYY-MM-DD HH:MM:SS.mmm+0000: `.
fn stamp(line: &str) -> (Option<Timestamp>, &str) {
    if let Some(head) = line.get(..28) {
        if let Some(rest) = line[28..].strip_prefix(": ") {
            if let Some(t) = parse_rfc3339(head) {
                return (Some(t), rest);
            }
        }
    }
    if let Some((tok, rest)) = line.split_once(' ') {
        if tok.len() >= 20 && tok.as_bytes()[4] == b'-' {
            if let Some(t) = parse_rfc3339(tok) {
                return (Some(t), rest);
            }
        }
    }
    (None, line)
}

/// `qemu-kvm: msg`, `qemu-system-x86_64: msg`, `qemu-kvm[1234]: msg`.
fn qemu_program(s: &str) -> Option<(&str, Option<i64>, &str)> {
    if !s.starts_with("qemu") {
        return None;
    }
    let end = s.find([':', '[', ' '])?;
    let prog = &s[..end];
    let (pid, rest) = match s.as_bytes()[end] {
        b':' => (None, &s[end + 1..]),
        b'[' => {
            let close = s[end..].find("]:")? + end;
            (s[end + 1..close].parse().ok(), &s[close + 2..])
        }
        _ => return None,
    };
    Some((prog, pid, rest.strip_prefix(' ').unwrap_or(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::syslog;

    fn get<'a>(ev: &'a Event, name: &str) -> Option<&'a Value> {
        ev.fields.get_name(name)
    }

    #[test]
    fn kvm_emulation_failure_via_syslog() {
        let ev = syslog::parse(
            "<4>Mar 12 10:15:32 hv1 kernel: [8812.123456] kvm [4821]: vcpu0, guest rIP: 0xffffffff8100a2b3 emulation failure",
            Timestamp::from_secs_nanos(1_773_000_000, 0),
        )
        .expect("test input");
        assert_eq!(ev.logsource.service.as_deref(), Some("kernel"));
        assert_eq!(get(&ev, "subsystem"), Some(&Value::from("kvm")));
        assert_eq!(get(&ev, "uptime"), Some(&Value::Float(8812.123456)));
        assert!(ev
            .get_str(f::MESSAGE)
            .expect("test input")
            .starts_with("kvm [4821]: vcpu0"));
    }

    #[test]
    fn libvirt_native_and_via_syslog() {
        let line = "2024-03-12 10:15:32.123+0000: 2231: error : qemuProcessReportLogError:2051 : internal error: qemu unexpectedly closed the monitor: 2024-03-12T10:15:32.100000Z qemu-kvm: -device vfio-pci,host=0000:01:00.0: vfio error";
        let ev = parse(line, None).expect("test input");
        assert_eq!(ev.ts.to_string(), "2024-03-12T10:15:32.123000Z");
        assert_eq!(ev.logsource.service.as_deref(), Some("libvirtd"));
        assert_eq!(
            get(&ev, "function"),
            Some(&Value::from("qemuProcessReportLogError"))
        );
        assert_eq!(get(&ev, "level"), Some(&Value::from("error")));
        assert_eq!(get(&ev, "thread"), Some(&Value::Int(2231)));
        assert!(ev
            .get_str(f::MESSAGE)
            .expect("test input")
            .starts_with("internal error: qemu"));
        assert!(looks_like(line));

        let ev = syslog::parse(
            "Mar 12 10:15:32 hv1 libvirtd[1190]: 2231: error : qemuProcessReportLogError:2051 : internal error: process exited while connecting to monitor",
            Timestamp::from_secs_nanos(1_773_000_000, 0),
        )
        .expect("test input");
        assert_eq!(ev.logsource.service.as_deref(), Some("libvirtd"));
        assert_eq!(
            get(&ev, "function"),
            Some(&Value::from("qemuProcessReportLogError"))
        );
    }

    #[test]
    fn qemu_terminating_on_signal() {
        let line = "2024-03-12T10:16:01.437000Z qemu-kvm: terminating on signal 15 from pid 2231 (/usr/sbin/libvirtd)";
        assert!(looks_like(line));
        let ev = parse(line, None).expect("test input");
        assert_eq!(ev.logsource.service.as_deref(), Some("qemu-kvm"));
        assert_eq!(get(&ev, "signal"), Some(&Value::Int(15)));
        assert_eq!(get(&ev, "sender_pid"), Some(&Value::Int(2231)));
        assert_eq!(get(&ev, "sender"), Some(&Value::from("/usr/sbin/libvirtd")));
        let ev =
            parse("qemu-system-x86_64: terminating on signal 2", Some(ev.ts)).expect("test input");
        assert_eq!(ev.logsource.service.as_deref(), Some("qemu-system-x86_64"));
        assert!(parse("qemu-kvm: no stamp and no previous line", None).is_err());
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for l in [
            "",
            "qemu",
            "qemu[",
            "qemu[x]:",
            "qemu-kvm: terminating on signal ",
            "[",
            "[1.0",
            "2024-03-12 10:15:32.123+0000: ",
            "2024-03-12 10:15:32.123+0000: x: error : ",
            "éééééééééééééééééééééééééééééé: x",
        ] {
            let _ = parse(l, Some(Timestamp(0)));
            let _ = looks_like(l);
        }
    }
}
