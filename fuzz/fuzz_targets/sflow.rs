//! Fuzzes the sFlow v5 parser and the decoding of sampled packet headers into flow events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::event::Timestamp;
use vigil::source::netflow::FlowExportDecoder;
use vigil::source::sflow;

fuzz_target!(|data: &[u8]| {
    let _ = sflow::parse(data, &mut |_| {});
    let mut msg = vec![0, 0, 0, 5];
    msg.extend_from_slice(data);
    let mut d = FlowExportDecoder::default();
    let mut out = Vec::new();
    let _ = d.datagram([192, 0, 2, 1].into(), Timestamp(0), &msg, &mut out);
});
