//! Fuzzes the syslog parser (RFC 3164 and 5424, and the hypervisor annotations it applies)
//! line by line, and the format detector on the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::event::Timestamp;
use vigil::logs::{detect, syslog, Format, LogParser};

fuzz_target!(|data: &[u8]| {
    let _ = detect::detect(data);
    let text = String::from_utf8_lossy(data);
    let now = Timestamp::from_secs_nanos(1_795_867_200, 0);
    let _ = syslog::parse(&text, now);
    let _ = syslog::parse_or_raw(&text, now);
    let mut p = LogParser::new(Format::Syslog, now);
    let mut out = Vec::new();
    for line in text.lines() {
        let _ = p.line(line, &mut out);
    }
    let _ = p.finish(&mut out);
    for ev in &out {
        let _ = vigil::logs::service_aliases(ev);
    }
});
