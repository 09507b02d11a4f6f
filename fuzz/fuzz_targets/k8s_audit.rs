//! Fuzzes Kubernetes audit input: JSON lines, documents over several lines, `EventList`s.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::logs::k8s_audit;

fuzz_target!(|data: &[u8]| {
    let _ = k8s_audit::parse(&String::from_utf8_lossy(data));
});
