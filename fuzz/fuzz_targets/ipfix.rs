//! Fuzzes the IPFIX decoder with its state: the input is cut into several messages (at `|`
//! bytes) fed to one decoder, so templates, withdrawals, options records (sampling, init time)
//! and variable-length and enterprise fields meet data across messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::event::Timestamp;
use vigil::source::netflow::FlowExportDecoder;

fuzz_target!(|data: &[u8]| {
    let mut d = FlowExportDecoder::default();
    let mut out = Vec::new();
    for (i, part) in data.split(|&b| b == b'|').enumerate() {
        // The header's length field is made to match, so the fuzzer explores the sets.
        let mut msg = vec![0, 10];
        msg.extend_from_slice(&((part.len() + 4) as u16).to_be_bytes());
        msg.extend_from_slice(part);
        let ts = Timestamp(i as i64 * 30_000_000_000);
        let _ = d.datagram([192, 0, 2, 1].into(), ts, &msg, &mut out);
    }
});
