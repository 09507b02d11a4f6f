//! Fuzzes the store's decoders: any bytes read back as a record value, an alert page, a chain
//! entry, a signed head or an index entry must decode or give an error, never panic.
//!
//! Run: `cd fuzz && cargo fuzz run store_records` (on stable: `RUSTC_BOOTSTRAP=1 cargo fuzz run ...`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::incident::chain::{self, BatchEntry, ChainKey};
use vigil::incident::pages::{self, AlertPage};
use vigil::incident::postings::{self, Summary};

fuzz_target!(|data: &[u8]| {
    let _ = vigil::incident::decode_alert(data);
    let _ = vigil::incident::decode_incident(data);
    if let Ok(page) = AlertPage::decode(7, data) {
        // A page that decodes gives back each alert it lists, and re-encodes to itself.
        let (first, last) = page.range();
        assert!(first <= last);
        let items: Vec<(u64, &[u8])> = page.iter().collect();
        assert_eq!(items.len(), page.len());
        for (seq, r) in &items {
            assert_eq!(page.get(*seq), Some(*r));
        }
        if data.first() != Some(&b'{') {
            assert_eq!(pages::encode(items.iter().copied()), data);
        }
    }
    if let Ok(e) = BatchEntry::decode(data) {
        // What decodes re-encodes to the same bytes (batch form) and can be checked.
        if !e.legacy {
            assert_eq!(e.encode(), data);
        }
        let key = ChainKey::from_bytes(&[7u8; 32]);
        let _ = e.expected_mac(&key, &[0u8; 32], 1);
        for l in &e.links {
            let _ = chain::show_key(l.tree_name(), &l.key);
        }
    }
    let _ = chain::Entry::decode(data);
    let key = ChainKey::from_bytes(&[7u8; 32]);
    let _ = chain::decode_head(&key, data);
    let _ = chain::decode_base(&key, data);
    if data.len() >= 9 {
        let (k, v) = data.split_at(9);
        let _ = Summary::decode(k, v);
    }
    let _ = postings::decode_posting(u64::MAX - 3, data);
});
