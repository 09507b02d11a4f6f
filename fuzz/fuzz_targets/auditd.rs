//! Fuzzes raw auditd parsing and the assembly of records into events by serial.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::event::Timestamp;
use vigil::logs::{auditd, Format, LogParser};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = auditd::parse_record(&text);
    let mut p = LogParser::new(Format::Auditd, Timestamp(0));
    let mut out = Vec::new();
    for line in text.lines() {
        let _ = p.line(line, &mut out);
    }
    let _ = p.finish(&mut out);
});
