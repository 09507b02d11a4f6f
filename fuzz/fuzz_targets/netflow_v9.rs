//! Fuzzes the NetFlow v9 decoder with its state: the input is cut into several datagrams
//! (at `|` bytes) fed to one decoder, so templates from one datagram apply to data in the next,
//! data may wait for a template, and options records change sampling.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::event::Timestamp;
use vigil::source::netflow::FlowExportDecoder;

fuzz_target!(|data: &[u8]| {
    let mut d = FlowExportDecoder::default();
    let mut out = Vec::new();
    for (i, part) in data.split(|&b| b == b'|').enumerate() {
        let mut msg = vec![0, 9];
        msg.extend_from_slice(part);
        let ts = Timestamp(i as i64 * 30_000_000_000);
        let _ = d.datagram([192, 0, 2, 1].into(), ts, &msg, &mut out);
    }
});
