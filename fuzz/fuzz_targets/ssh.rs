//! Fuzzes the SSH identification string parser and the dispatch, with and without `SSH-`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::decode::{app, ssh};
use vigil::event::Fields;

fuzz_target!(|data: &[u8]| {
    let _ = ssh::parse_banner(data);
    let mut buf = b"SSH-".to_vec();
    buf.extend_from_slice(data);
    for input in [data, &buf] {
        if let Some(a) = app::inspect(6, 40000, 22, input) {
            a.fill(&mut Fields::new());
        }
    }
});
