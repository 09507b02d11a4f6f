//! Fuzzes the DNS parser over UDP and TCP framing, the rendering of every record, and the
//! dispatch on DNS ports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::decode::{app, dns};
use vigil::event::Fields;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = dns::parse_message(data) {
        for r in m.answers.iter().chain(&m.authorities).chain(&m.additionals) {
            let _ = r.rdata.to_string();
        }
    }
    let _ = dns::parse_tcp(data);
    for (proto, port) in [(17, 53), (6, 53), (17, 5353)] {
        if let Some(a) = app::inspect(proto, 40000, port, data) {
            a.fill(&mut Fields::new());
        }
    }
});
