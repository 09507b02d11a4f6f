//! The shipped systemd unit: `systemd-analyze verify` accepts it (with ExecStart pointing at
//! the binary just built, since /usr/bin/vigil is not installed here), and `systemd-analyze
//! security --offline=true` rates its exposure at most 2.0.

mod common;

use std::process::Command;

use common::*;

fn unit() -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/vigil.service"
    ))
    .expect("read systemd/vigil.service");
    let dir = tempdir("systemd-unit");
    let path = dir.join("vigil.service");
    std::fs::write(
        &path,
        text.replace("/usr/bin/vigil", env!("CARGO_BIN_EXE_vigil")),
    )
    .expect("write the unit");
    path
}

#[test]
fn the_unit_verifies() {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit())
        .output()
        .expect("run systemd-analyze (apt-get install systemd)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_units_exposure_is_at_most_2() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit())
        .output()
        .expect("run systemd-analyze (apt-get install systemd)");
    // The table goes to stdout, the overall rating to stderr.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for vigil.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    eprintln!("systemd-analyze security: exposure {level}");
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{text}");
}
