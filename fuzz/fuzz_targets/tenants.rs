//! Fuzzes the tenants file parser: any text must give `Ok` or a located error, never a panic.
//!
//! Run: `cd fuzz && cargo fuzz run tenants` (on stable: `RUSTC_BOOTSTRAP=1 cargo fuzz run ...`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::enrich::Tenants;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Tenants::parse(text, "fuzz.yaml") {
        // A file that parses must also enrich without panicking.
        Ok(tenants) => {
            let mut fields = vigil::event::Fields::new();
            fields.push(vigil::event::f::SRC_IP, std::net::IpAddr::from([10, 1, 2, 3]));
            fields.push(
                vigil::event::f::DST_IP,
                std::net::IpAddr::from([0xfd00, 1, 0, 0, 0, 0, 0, 1]),
            );
            fields.push(vigil::event::f::DST_PORT, 443);
            fields.push(vigil::event::f::VNI, 1001);
            tenants.enrich(&mut fields);
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("fuzz.yaml:"), "{shown}");
        }
    }
});
