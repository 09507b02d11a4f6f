//! Fuzzes the drill file parser: any text must give `Ok` or an error naming the file, never
//! a panic.
//!
//! Run: `cd fuzz && cargo fuzz run drill` (on stable: `RUSTC_BOOTSTRAP=1 cargo fuzz run ...`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::drill::spec::Drill;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Drill::parse(std::path::Path::new("fuzz.drill"), text) {
        let shown = e.to_string();
        assert!(shown.starts_with("fuzz.drill"), "{shown}");
    }
});
