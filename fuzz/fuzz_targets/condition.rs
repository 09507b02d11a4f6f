//! Fuzzes the Sigma condition parser and name resolution: never panic, never overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(expr) = vigil::rules::condition::parse(text) {
            let _ = vigil::rules::condition::resolve(&expr, &["selection", "sel_a", "filter_1", "_x"]);
        }
    }
});
