//! The store against the real `vigil store verify` binary: an intact store passes, and each
//! kind of tampering (modified, removed, re-inserted, reordered, truncated, a chain entry's
//! record list edited) fails with exit 1 naming the problem; a store left by a killed writer
//! still verifies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use vigil::event::{f, Event, Kind, LogSource, Timestamp};
use vigil::incident::{Action, Filter, Scope, SledStore, Store};
use vigil::rules::{Alert, RuleInfo, RuleKind, RuleLogSource};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("vigil-store-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn alert(tenant: &str, src: &str, sec: i64) -> Alert {
    let rule = Arc::new(RuleInfo {
        id: "5a1b2c3d-0000-4000-8000-000000000001".into(),
        name: None,
        title: "Hypervisor reached from a tenant".into(),
        level: "high".into(),
        status: None,
        tags: vec!["attack.t1611".into(), "cloud.vm_escape".into()],
        file: "rules/vm_escape.yml".into(),
        line: 1,
        logsource: RuleLogSource::default(),
        kind: RuleKind::Detection,
    });
    let mut ev = Event::new(
        Timestamp(1_764_000_000_000_000_000 + sec * 1_000_000_000),
        Kind::Flow,
        LogSource::category("flow"),
    );
    ev.fields.set(f::SRC_IP, src.to_string());
    ev.fields.set(f::DST_IP, "192.168.100.7".to_string());
    ev.fields.set(f::SRC_TENANT, tenant.to_string());
    Alert::new(rule, &ev)
}

/// A store with 20 alerts over two tenants, written in ten batches of two (chain entries 1 to
/// 10, one per batch), and one acknowledged incident (entry 11).
fn build(d: &Path) {
    let s = SledStore::open(d).expect("open store");
    let mut b: Vec<Alert> = (0..20)
        .map(|i| {
            let t = if i % 2 == 0 { "acme" } else { "globex" };
            alert(t, &format!("10.1.0.{}", i % 4), i)
        })
        .collect();
    for pair in b.chunks_mut(2) {
        s.append_alerts(pair).expect("append");
    }
    let id = b[0].incident_id.clone().expect("incident id");
    s.update_incident(&Scope::All, &id, Action::Acknowledge, "ana")
        .expect("ack")
        .expect("incident exists");
    assert_eq!(
        s.alerts(&Scope::All, &Filter::default(), 100, None)
            .expect("list")
            .items
            .len(),
        20
    );
}

fn verify(d: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["store", "verify", "--data"])
        .arg(d)
        .output()
        .expect("run vigil")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn expect_tampered(d: &Path, words: &[&str]) {
    let o = verify(d);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    for w in words {
        assert!(t.contains(w), "expected {w:?} in: {t}");
    }
}

fn tamper(d: &Path, f: impl FnOnce(&sled::Db)) {
    let db = vigil::incident::chain::open_sled(sled::Config::new().path(d.join("store")))
        .expect("raw open");
    f(&db);
    db.flush().expect("flush");
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

#[test]
fn intact_store_verifies() {
    let d = TempDir::new("intact");
    build(&d.0);
    let o = verify(&d.0);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.starts_with("store ok: ") && t.contains("records, chain intact"),
        "{t}"
    );
}

#[test]
fn modified_value_is_detected() {
    let d = TempDir::new("modified");
    build(&d.0);
    tamper(&d.0, |db| {
        let t = db.open_tree("alerts").expect("tree");
        let v = t.get(key(7)).expect("get").expect("the page of alerts 7-8");
        let v = String::from_utf8_lossy(&v).replace("\"high\"", "\"low\"");
        t.insert(key(7), v.as_bytes()).expect("insert");
    });
    expect_tampered(&d.0, &["modified", "alerts", "a-0000000000000007"]);
}

#[test]
fn modified_incident_is_detected() {
    let d = TempDir::new("modified-incident");
    build(&d.0);
    tamper(&d.0, |db| {
        let t = db.open_tree("incidents").expect("tree");
        let v = t.get("i-0000000000000001").expect("get").expect("incident");
        let v = String::from_utf8_lossy(&v).replace("acknowledged", "resolved");
        t.insert("i-0000000000000001", v.as_bytes())
            .expect("insert");
    });
    expect_tampered(&d.0, &["modified", "incidents", "i-0000000000000001"]);
}

#[test]
fn removed_record_is_detected() {
    let d = TempDir::new("removed");
    build(&d.0);
    tamper(&d.0, |db| {
        db.open_tree("alerts")
            .expect("tree")
            .remove(key(5))
            .expect("remove");
    });
    expect_tampered(&d.0, &["removed", "alerts", "a-0000000000000005"]);
}

#[test]
fn reinserted_record_is_detected() {
    let d = TempDir::new("reinserted");
    build(&d.0);
    // Moved: removed from its place and inserted under a new sequence number.
    tamper(&d.0, |db| {
        let t = db.open_tree("alerts").expect("tree");
        let v = t
            .remove(key(3))
            .expect("remove")
            .expect("the page of alerts 3-4");
        t.insert(key(99), v).expect("insert");
    });
    expect_tampered(&d.0, &["removed", "a-0000000000000003"]);
    // Inserted: a copy of a real record under a new key, nothing removed.
    let d = TempDir::new("inserted");
    build(&d.0);
    tamper(&d.0, |db| {
        let t = db.open_tree("alerts").expect("tree");
        let v = t.get(key(3)).expect("get").expect("the page of alerts 3-4");
        t.insert(key(99), v).expect("insert");
    });
    expect_tampered(&d.0, &["inserted", "a-0000000000000063"]);
}

#[test]
fn reordered_records_are_detected() {
    let d = TempDir::new("swapped");
    build(&d.0);
    // Two records' values swapped (the pages of alerts 3-4 and 9-10).
    tamper(&d.0, |db| {
        let t = db.open_tree("alerts").expect("tree");
        let a = t.get(key(3)).expect("get").expect("alerts 3-4");
        let b = t.get(key(9)).expect("get").expect("alerts 9-10");
        t.insert(key(3), b).expect("insert");
        t.insert(key(9), a).expect("insert");
    });
    expect_tampered(&d.0, &["modified", "a-0000000000000003"]);
    // Two chain entries swapped.
    let d = TempDir::new("chain-swapped");
    build(&d.0);
    tamper(&d.0, |db| {
        let t = db.open_tree("chain").expect("tree");
        let a = t.get(key(4)).expect("get").expect("entry 4");
        let b = t.get(key(5)).expect("get").expect("entry 5");
        t.insert(key(4), b).expect("insert");
        t.insert(key(5), a).expect("insert");
    });
    expect_tampered(&d.0, &["chain entry 4", "MAC does not match"]);
}

#[test]
fn an_edited_chain_entry_is_detected() {
    let d = TempDir::new("chain-edited");
    build(&d.0);
    // One digest byte of the last record entry 3 lists: the entry no longer matches its MAC.
    tamper(&d.0, |db| {
        let t = db.open_tree("chain").expect("tree");
        let mut v = t.get(key(3)).expect("get").expect("entry 3").to_vec();
        let last = v.len() - 1;
        v[last] ^= 1;
        t.insert(key(3), v).expect("insert");
    });
    expect_tampered(&d.0, &["chain entry 3", "MAC does not match"]);
}

#[test]
fn removed_chain_entries_are_detected() {
    let d = TempDir::new("chain-gap");
    build(&d.0);
    tamper(&d.0, |db| {
        db.open_tree("chain")
            .expect("tree")
            .remove(key(6))
            .expect("remove");
    });
    expect_tampered(&d.0, &["entry 6 is missing"]);
    // The newest records and their chain entries cut off the end together.
    let d = TempDir::new("chain-truncated");
    build(&d.0);
    tamper(&d.0, |db| {
        let chain = db.open_tree("chain").expect("tree");
        let (last, _) = chain.last().expect("last").expect("entries");
        let n = u64::from_be_bytes(last.as_ref().try_into().expect("8 bytes"));
        chain.remove(key(n)).expect("remove");
    });
    expect_tampered(&d.0, &["signed head"]);
}

#[test]
fn missing_store_exits_2() {
    let d = TempDir::new("missing");
    let o = verify(&d.0);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no store here"), "{}", text(&o));
}

#[test]
fn reopen_continues_where_it_left_off() {
    let d = TempDir::new("reopen");
    build(&d.0);
    let s = SledStore::open(&d.0).expect("reopen");
    let mut b = vec![
        alert("acme", "10.1.0.0", 30),
        alert("acme", "10.1.0.200", 30),
    ];
    let recs = s.append_alerts(&mut b).expect("append");
    assert_eq!(recs[0].seq, 21);
    // The open incident from before the restart takes the alert; a new entity gets a new one.
    assert_eq!(b[0].incident_id.as_deref(), Some("i-0000000000000001"));
    assert_eq!(b[1].incident_id.as_deref(), Some("i-0000000000000005"));
    drop(s);
    assert_eq!(verify(&d.0).status.code(), Some(0));
}

/// Writes batches until killed; run as a child process by `killed_writer_leaves_a_verifiable_store`.
#[test]
fn writer_child() {
    let Some(dir) = std::env::var_os("VIGIL_STORE_CHILD") else {
        return;
    };
    let s = SledStore::open(Path::new(&dir)).expect("open store");
    for round in 0i64.. {
        let mut b: Vec<Alert> = (0..256)
            .map(|i| {
                alert(
                    if i % 3 == 0 { "acme" } else { "globex" },
                    &format!("10.1.{}.{}", i % 7, i % 11),
                    round,
                )
            })
            .collect();
        s.append_alerts(&mut b).expect("append");
        // The last round whose alerts were acknowledged (stored durably).
        let acked = Path::new(&dir).join("acked");
        std::fs::write(acked.with_extension("new"), round.to_string()).expect("acked");
        std::fs::rename(acked.with_extension("new"), &acked).expect("acked");
        if round == 3 {
            std::fs::write(Path::new(&dir).join("ready"), b"").expect("marker");
        }
    }
}

#[test]
fn killed_writer_leaves_a_verifiable_store() {
    let d = TempDir::new("killed");
    std::fs::create_dir_all(&d.0).expect("mkdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "writer_child", "--nocapture"])
        .env("VIGIL_STORE_CHILD", &d.0)
        .spawn()
        .expect("spawn writer");
    let ready = d.0.join("ready");
    for _ in 0..600 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ready.exists(), "the writer never got going");
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("SIGKILL the writer");
    child.wait().expect("reap");
    let o = verify(&d.0);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // And the daemon can open it again, with every acknowledged alert counted in its incident,
    // and carry on.
    let s = SledStore::open(&d.0).expect("reopen after kill");
    let acked: i64 = std::fs::read_to_string(d.0.join("acked"))
        .expect("acked")
        .parse()
        .expect("round");
    let mut stored: HashMap<String, (u64, u64)> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = s
            .alerts(&Scope::All, &Filter::default(), 1000, cursor.as_deref())
            .expect("list alerts");
        for a in &page.items {
            let slot = stored.entry(a.incident_id.clone()).or_default();
            slot.1 += 1;
            if a.ts_ms <= 1_764_000_000_000 + acked * 1000 {
                slot.0 += 1;
            }
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert!(!stored.is_empty());
    for (id, (acknowledged, all)) in &stored {
        let inc = s
            .incident(&Scope::All, id)
            .expect("read incident")
            .expect("incident of a stored alert");
        assert!(
            *acknowledged <= inc.alert_count && inc.alert_count <= *all,
            "{id}: {} alerts counted, {acknowledged} acknowledged, {all} stored",
            inc.alert_count
        );
    }
    let mut b = vec![alert("acme", "10.1.0.1", 100)];
    s.append_alerts(&mut b).expect("append");
    drop(s);
    assert_eq!(
        verify(&d.0).status.code(),
        Some(0),
        "{}",
        text(&verify(&d.0))
    );
}
