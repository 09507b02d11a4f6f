//! Fuzzes the HTTP request parser and the dispatch, with and without a method in front.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::decode::{app, http};
use vigil::event::Fields;

fuzz_target!(|data: &[u8]| {
    let _ = http::parse_request(data);
    let mut buf = b"GET ".to_vec();
    buf.extend_from_slice(data);
    for input in [data, &buf] {
        if let Some(a) = app::inspect(6, 40000, 80, input) {
            a.fill(&mut Fields::new());
        }
    }
});
