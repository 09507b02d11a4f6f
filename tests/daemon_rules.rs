//! Rules in the running daemon: syslog from real `logger(1)` raises alerts, SIGHUP with a
//! broken rule file keeps the running rules (and counts the failure), and a fixed file is
//! picked up by the file watch without any signal.

mod common;

use std::process::Command;

use common::*;

fn rule(id: &str, needle: &str) -> String {
    format!(
        "title: test rule {needle}\nid: {id}\nlogsource:\n    product: linux\ndetection:\n    sel:\n        message|contains: {needle}\n    condition: sel\nlevel: high\n"
    )
}

fn logger(port: u16, msg: &str) {
    let st = Command::new("logger")
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--tcp",
            "-t",
            "vigiltest",
            msg,
        ])
        .status()
        .expect("run logger");
    assert!(st.success());
}

fn alerts_for(dir: &std::path::Path, needle: &str) -> usize {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"rule\":") && l.contains(needle))
        .count()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn rules_alert_reload_on_sighup_and_on_file_change() {
    let dir = tempdir("daemon-rules");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let file = rules.join("test.yml");
    std::fs::write(
        &file,
        rule("5f0a6a1e-0000-4000-8000-00000000000a", "trigger-a"),
    )
    .unwrap();
    let mut d = Daemon::start(&dir, &["--rules", rules.to_str().unwrap()]);
    assert!(
        d.stderr_text().contains("vigil: rules: 1 loaded from"),
        "{}",
        d.stderr_text()
    );
    assert_eq!(d.metric("vigil_rules_loaded"), 1.0);
    let port = d.syslog.unwrap();

    logger(port, "trigger-a once");
    wait_for("the first alert", || alerts_for(&dir, "trigger-a") == 1);

    // A broken rule file: SIGHUP reports it, the running rules stay.
    std::fs::write(&file, "title: broken\nid: x\nlogsource:\n    product: linux\ndetection:\n    sel:\n        message|contians: x\n    condition: sel\n").unwrap();
    d.signal("HUP");
    d.wait_metric("vigil_rules_reload_total{result=\"error\"}", 1.0);
    assert!(
        d.stderr_text().contains("the running rules stay"),
        "{}",
        d.stderr_text()
    );
    logger(port, "trigger-a again");
    wait_for("an alert from the old rules", || {
        alerts_for(&dir, "trigger-a") == 2
    });

    // A good file again: the watch reloads it without a signal.
    std::fs::write(
        &file,
        rule("5f0a6a1e-0000-4000-8000-00000000000b", "trigger-b"),
    )
    .unwrap();
    d.wait_metric("vigil_rules_reload_total{result=\"ok\"}", 1.0);
    logger(port, "trigger-b now");
    wait_for("an alert from the new rule", || {
        alerts_for(&dir, "trigger-b") == 1
    });
    logger(port, "trigger-a ignored");
    assert!(d.stop().success(), "{}", d.stderr_text());
    assert_eq!(
        alerts_for(&dir, "trigger-a ignored"),
        0,
        "the old rule is gone"
    );
}

/// A rule set with an error refuses to start the daemon, naming the file and line.
#[test]
fn daemon_refuses_broken_rules_at_start() {
    let dir = tempdir("daemon-badrules");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("bad.yml"), "title: b\nid: y\nlogsource:\n    product: linux\ndetection:\n    sel:\n        message|contians: x\n    condition: sel\n").unwrap();
    let out = vigil(&[
        "run",
        "--data",
        dir.to_str().unwrap(),
        "--api",
        "127.0.0.1:0",
        "--syslog",
        "off",
        "--netflow",
        "off",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml:7"), "{err}");
    assert!(err.contains("did you mean 'contains'"), "{err}");
}
