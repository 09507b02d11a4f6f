//! Fuzzes the FTP control-line parser from both sides.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vigil::decode::ftp::parse(data, true);
    let _ = vigil::decode::ftp::parse(data, false);
    let _ = vigil::decode::app::inspect(6, 21, 40000, data);
});
