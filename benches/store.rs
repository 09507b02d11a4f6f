//! The store's benchmark: alerts stored per second (batches of 1,024, flushed per batch) and
//! the latency of "newest 100 for one tenant" over a million stored alerts, beside two peers on
//! the same alert JSON: bare sled (one tree, no indexes, no chain; one alert per key, then four
//! per key as vigil's pages hold) and SQLite (the `sqlite3` CLI, WAL, one transaction per
//! batch, an index on tenant and time), when it is installed.
//!
//! Then retention removes the older half (timed, with the chain prune it triggers) and
//! `vigil store verify` checks what is left.
//!
//! `cargo bench --bench store` works under `target/bench/store/` and removes it at the end.
//! Set `VIGIL_BENCH_ALERTS` to change the number of alerts (default 1,000,000) and
//! `VIGIL_BENCH_BATCH` the batch size, for every store alike (default 1,024).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil::event::{f, Event, Kind, LogSource, Timestamp};
use vigil::incident::{Filter, Scope, SledStore, Store};
use vigil::rules::{Alert, RuleInfo, RuleKind, RuleLogSource};

const DEFAULT_BATCH: usize = 1024;
const TENANTS: usize = 10;
const QUERIES: usize = 1000;

fn rules() -> Vec<Arc<RuleInfo>> {
    let levels = ["low", "medium", "high", "critical"];
    (0..40)
        .map(|i| {
            Arc::new(RuleInfo {
                id: format!("9f1c{i:04}-3b2a-4c1d-9e8f-0123456789ab"),
                name: None,
                title: format!("Tenant workload reaches hypervisor management port ({i})"),
                level: levels[i % 4].into(),
                status: Some("stable".into()),
                tags: vec![
                    "attack.t1611".into(),
                    "attack.privilege_escalation".into(),
                    "cloud.vm_escape".into(),
                ],
                file: format!("rules/cloud/rule_{i}.yml").into(),
                line: 1,
                logsource: RuleLogSource {
                    category: Some("flow".into()),
                    ..RuleLogSource::default()
                },
                kind: RuleKind::Detection,
            })
        })
        .collect()
}

/// Alert `n`: a flow event from one of 10 tenants, 500 sources each, 10 ms apart, each source
/// tripping two of the 40 rules.
fn alert(rules: &[Arc<RuleInfo>], n: u64) -> Alert {
    let tenant = (n % TENANTS as u64) as usize;
    let ts = Timestamp(1_764_000_000_000_000_000 + n as i64 * 10_000_000);
    let mut ev = Event::new(ts, Kind::Flow, LogSource::category("flow"));
    let host = (n / 7) % 500;
    let src = format!("10.{}.{}.{}", tenant + 1, host % 2, host / 2);
    ev.fields.push(f::SRC_IP, src);
    ev.fields.push(f::SRC_PORT, 40000 + (n % 20000));
    ev.fields.push(f::DST_IP, format!("192.168.100.{}", n % 20));
    ev.fields.push(f::DST_PORT, 16509u64);
    ev.fields.push(f::PROTO, "tcp".to_string());
    ev.fields.push(f::BYTES_TOSERVER, 1200 + n % 5000);
    ev.fields.push(f::BYTES_TOCLIENT, 800 + n % 3000);
    ev.fields.push(f::PKTS_TOSERVER, 9u64);
    ev.fields.push(f::PKTS_TOCLIENT, 7u64);
    ev.fields.push(f::STATE, "established".to_string());
    ev.fields.push(f::SRC_TENANT, format!("tenant-{tenant:02}"));
    ev.fields.push(f::SRC_ZONE, "tenant".to_string());
    ev.fields.push(f::DST_ZONE, "hypervisor".to_string());
    ev.fields.push(
        f::COMMUNITY_ID,
        format!("1:{:027x}=", n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    );
    // Each source trips two of the rules, as a host under attack tends to.
    let rule = (host * 7 + tenant as u64 + n % 2) % rules.len() as u64;
    Alert::new(rules[rule as usize].clone(), &ev)
}

fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn du(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    };
    rd.flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                du(&path)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

fn mb(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let total: u64 = std::env::var("VIGIL_BENCH_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let batch_size: usize = std::env::var("VIGIL_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&b| b > 0)
        .unwrap_or(DEFAULT_BATCH);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/store");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("bench folder");
    let rules = rules();
    println!(
        "store benchmark: {total} alerts, {TENANTS} tenants, batches of {batch_size}, flush per batch"
    );

    // vigil: grouping, 5+ index entries per alert, the HMAC chain, flush per batch.
    let vdir = root.join("vigil");
    let store = SledStore::open(&vdir).expect("open store");
    let mut spent = Duration::ZERO;
    let mut json_lines: Vec<String> = Vec::new();
    let keep_json = total <= 2_000_000;
    let mut n = 0u64;
    while n < total {
        let k = batch_size.min((total - n) as usize);
        let mut batch: Vec<Alert> = (0..k as u64).map(|i| alert(&rules, n + i)).collect();
        let t = Instant::now();
        let recs = store.append_alerts(&mut batch).expect("append");
        spent += t.elapsed();
        if keep_json {
            json_lines.extend(recs.iter().map(|r| r.json.get().to_string()));
        }
        n += k as u64;
    }
    let vigil_rate = total as f64 / spent.as_secs_f64();
    let st = store.stats();
    println!(
        "write  vigil SledStore        {:>9.0} alerts/s  ({} alerts, {} incidents, {:.1} s)",
        vigil_rate,
        st.alerts,
        st.incidents,
        spent.as_secs_f64()
    );

    // Newest 100 for one tenant.
    let scope = Scope::Tenant("tenant-03".into());
    let mut lat = Vec::with_capacity(QUERIES);
    for _ in 0..QUERIES {
        let t = Instant::now();
        let page = store
            .alerts(&scope, &Filter::default(), 100, None)
            .expect("list");
        lat.push(t.elapsed());
        assert_eq!(page.items.len(), 100);
    }
    lat.sort();
    println!(
        "query  vigil newest 100/tenant  p50 {:.2} ms  p99 {:.2} ms  ({QUERIES} queries)",
        pct(&lat, 0.50),
        pct(&lat, 0.99)
    );
    // Retention of the older half (event times span 10,000 s), which then prunes the chain.
    let t = Instant::now();
    let r = store
        .apply_retention(Some(Duration::from_secs(5_000)), None)
        .expect("retention");
    println!(
        "retain vigil older half         {:.1} s: {} alerts removed, {} chain entries pruned{}",
        t.elapsed().as_secs_f64(),
        r.alerts_removed,
        r.chain_entries_pruned,
        r.prune_error
            .map(|e| format!(", prune failed: {e}"))
            .unwrap_or_default()
    );
    store.flush().expect("flush");
    drop(store);
    let vsize = du(&vdir);
    println!(
        "size   vigil store on disk     {:.0} MB; peak RSS of this process so far {:.0} MB",
        mb(vsize),
        peak_rss_mb()
    );
    let t = Instant::now();
    let report = vigil::incident::verify(&vdir).expect("verify");
    println!(
        "verify vigil store verify      {:.1} s for {} records ({} alerts), problem: {:?}",
        t.elapsed().as_secs_f64(),
        report.records,
        report.alerts,
        report.problem.map(|p| p.to_string())
    );

    if !keep_json {
        return;
    }
    // Peer 1: bare sled, same JSON, one tree keyed by seq, same batching and flush; once with
    // one alert per key (sled's own rate), once with four per key (about what vigil's pages
    // hold: what paging alone buys).
    for per_key in [1usize, 4] {
        let sdir = root.join(format!("sled-{per_key}"));
        let db = sled::Config::new()
            .path(&sdir)
            .cache_capacity(128 << 20)
            .open()
            .expect("sled");
        let tree = db.open_tree("alerts").expect("tree");
        let t = Instant::now();
        let mut value = Vec::new();
        for (b, chunk) in json_lines.chunks(batch_size).enumerate() {
            let mut batch = sled::Batch::default();
            for (i, group) in chunk.chunks(per_key).enumerate() {
                let seq = (b * batch_size + i * per_key) as u64;
                value.clear();
                for j in group {
                    value.extend_from_slice(j.as_bytes());
                }
                batch.insert(&seq.to_be_bytes(), &value[..]);
            }
            tree.apply_batch(batch).expect("batch");
            db.flush().expect("flush");
        }
        let sled_rate = total as f64 / t.elapsed().as_secs_f64();
        drop(tree);
        drop(db);
        println!(
            "write  bare sled, {per_key} alert(s) per key (no index/chain) {:>7.0} alerts/s  ({:.0} MB on disk)",
            sled_rate,
            mb(du(&sdir))
        );
        let _ = std::fs::remove_dir_all(&sdir);
    }

    // Peer 2: SQLite through its CLI.
    if Command::new("sqlite3").arg("-version").output().is_ok() {
        sqlite_peer(&root, &json_lines, batch_size);
    } else {
        println!("sqlite3 not installed: no SQLite figures");
    }
    drop(json_lines);
    println!("peak RSS {:.0} MB", peak_rss_mb());
    let _ = std::fs::remove_dir_all(&root);
}

fn sqlite_peer(root: &Path, lines: &[String], batch_size: usize) {
    use std::io::Write;
    let db = root.join("alerts.sqlite");
    let sql = root.join("load.sql");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&sql).expect("sql"));
        writeln!(
            w,
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;\n\
             CREATE TABLE alerts(seq INTEGER PRIMARY KEY, tenant TEXT, ts INTEGER, json TEXT);\n\
             CREATE INDEX alerts_tenant ON alerts(tenant, ts, seq);"
        )
        .expect("write");
        for (b, chunk) in lines.chunks(batch_size).enumerate() {
            writeln!(w, "BEGIN;").expect("write");
            for (i, j) in chunk.iter().enumerate() {
                let seq = b * batch_size + i;
                let tenant = format!("tenant-{:02}", seq % TENANTS);
                writeln!(
                    w,
                    "INSERT INTO alerts VALUES({seq},'{tenant}',{seq},'{}');",
                    j.replace('\'', "''")
                )
                .expect("write");
            }
            writeln!(w, "COMMIT;").expect("write");
        }
    }
    let t = Instant::now();
    let ok = Command::new("sqlite3")
        .arg(&db)
        .stdin(std::fs::File::open(&sql).expect("sql"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let secs = t.elapsed().as_secs_f64();
    if !ok {
        println!("sqlite3 failed; no SQLite figures");
        return;
    }
    println!(
        "write  SQLite (sqlite3 CLI, WAL, tx/batch, 1 index) {:>7.0} alerts/s  ({:.0} MB on disk; SQL parsing included)",
        lines.len() as f64 / secs,
        mb(du(&db) + du(&root.join("alerts.sqlite-wal")))
    );
    let q = root.join("query.sql");
    let one =
        "SELECT json FROM alerts WHERE tenant='tenant-03' ORDER BY ts DESC, seq DESC LIMIT 100;\n";
    std::fs::write(&q, one.repeat(QUERIES)).expect("query file");
    let t = Instant::now();
    let ok = Command::new("sqlite3")
        .arg(&db)
        .stdin(std::fs::File::open(&q).expect("query"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        println!(
            "query  SQLite newest 100/tenant mean {:.2} ms  ({QUERIES} queries in one sqlite3 process; no per-query percentiles)",
            t.elapsed().as_secs_f64() * 1000.0 / QUERIES as f64
        );
    }
}
