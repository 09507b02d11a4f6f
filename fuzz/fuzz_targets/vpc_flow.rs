//! Fuzzes AWS VPC flow log parsing: header lines choosing the fields, and records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::event::Timestamp;
use vigil::logs::{vpc_flow, Format, LogParser};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = vpc_flow::looks_like(&text);
    let mut p = LogParser::new(Format::VpcFlow, Timestamp(0));
    let mut out = Vec::new();
    for line in text.lines() {
        let _ = p.line(line, &mut out);
    }
});
