//! Fuzzes generic JSON input (lines and multi-line documents) and the hypervisor log lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::event::Timestamp;
use vigil::logs::{Format, LogParser};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for format in [Format::Json, Format::Hypervisor] {
        let mut p = LogParser::new(format, Timestamp(0));
        let mut out = Vec::new();
        for line in text.lines() {
            let _ = p.line(line, &mut out);
        }
        let _ = p.finish(&mut out);
    }
});
