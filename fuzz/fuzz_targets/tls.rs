//! Fuzzes the ClientHello parser, JA3, and the dispatch; a leading 0x16 0x03 .. 0x01 is
//! forced half of the time so that inputs reach past the record header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::decode::{app, tls};
use vigil::event::Fields;

fuzz_target!(|data: &[u8]| {
    let mut buf = data.to_vec();
    if buf.first().is_some_and(|b| b & 1 == 1) && buf.len() >= 6 {
        buf[0] = 0x16;
        buf[1] = 0x03;
        buf[5] = 0x01;
    }
    if let Ok(h) = tls::parse_client_hello(&buf) {
        let _ = h.ja3();
        let _ = h.max_version();
    }
    if let Some(a) = app::inspect(6, 40000, 443, &buf) {
        a.fill(&mut Fields::new());
    }
});
