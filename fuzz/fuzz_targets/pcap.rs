//! Fuzzes the capture-file reader (pcap and pcapng): any bytes end in frames or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil::source::pcap::CaptureReader;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.pcap");
    if let Ok(mut r) = CaptureReader::from_reader(path, std::io::Cursor::new(data.to_vec()), data.len() as u64) {
        let mut n = 0u32;
        let _ = r.for_each(|f| {
            if let Some(link) = f.link {
                let _ = vigil::decode::decode(link, f.data, f.wire_len);
            }
            n += 1;
            n < 100_000
        });
    }
});
