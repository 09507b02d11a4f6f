//! Fuzzes the NetFlow v5 parser and the conversion of its records into flow events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::event::Timestamp;
use vigil::source::netflow::{v5, FlowExportDecoder};

fuzz_target!(|data: &[u8]| {
    let _ = v5::parse(data, &mut |_| {});
    let mut d = FlowExportDecoder::default();
    let mut out = Vec::new();
    let mut msg = vec![0, 5];
    msg.extend_from_slice(data);
    let _ = d.datagram([192, 0, 2, 1].into(), Timestamp(0), &msg, &mut out);
});
