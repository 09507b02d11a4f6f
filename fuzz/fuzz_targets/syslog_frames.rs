//! Fuzzes the syslog-over-TCP framer with hostile streams cut at arbitrary points and small
//! limits: it must never panic nor deliver a frame longer than its limit, and every frame
//! must become an event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::event::Timestamp;
use vigil::source::syslog_net::{line_to_event, Framer};

fuzz_target!(|data: &[u8]| {
    let [max, cut, body @ ..] = data else {
        return;
    };
    let max = 1 + *max as usize;
    let cut = (*cut as usize).min(body.len());
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 514));
    let mut f = Framer::new(max);
    let mut out = |r: Result<&[u8], _>| {
        if let Ok(frame) = r {
            assert!(frame.len() <= max, "frame of {} over limit {max}", frame.len());
            let _ = line_to_event(frame, Timestamp(0), peer);
        }
    };
    f.feed(&body[..cut], &mut out);
    f.feed(&body[cut..], &mut out);
    f.finish(&mut out);
});
