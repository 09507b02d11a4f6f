//! Fuzzes the rule loader: any bytes as a rule file must load or be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vigil::rules::check_source(text);
    }
});
