//! Fuzzes the packet decoder with every link type: it must return a value or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil::decode::{decode, LinkType};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else { return };
    let link = [
        LinkType::Ethernet,
        LinkType::Raw,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
        LinkType::Loop,
        LinkType::Ipv4,
        LinkType::Ipv6,
    ][sel as usize % 8];
    if let Ok(Some(d)) = decode(link, frame, frame.len() as u32) {
        let _ = vigil::decode::app::inspect(d.tuple.proto, d.tuple.sport, d.tuple.dport, d.payload);
    }
});
