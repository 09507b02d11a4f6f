//! The peer of the Sigma benchmarks: runs `rsigma engine eval` under GNU time and reads its
//! match count, wall and CPU time and peak memory. Shared by `sigma.rs` and `syslog_tcp.rs`.
#![allow(dead_code)] // each benchmark reads the figures it prints

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

pub struct Peer {
    pub matches: u64,
    pub processed: u64,
    pub secs: f64,
    pub cpu_secs: f64,
    pub peak_kb: u64,
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// `rsigma engine eval [extra...] -r RULES -e @INPUT`, pinned to `core` with taskset when
/// given. `None` when rsigma is not on PATH or cannot run.
pub fn run(rules: &Path, input: &Path, extra: &[&str], core: Option<&str>) -> Option<Peer> {
    let bin = which("rsigma")?;
    let time_out =
        std::env::temp_dir().join(format!("vigil-rsigma-time-{}.txt", std::process::id()));
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M %U %S", "-o"]).arg(&time_out);
    if let Some(c) = core {
        cmd.args(["taskset", "-c", c]);
    }
    cmd.arg(bin)
        .args(["engine", "eval"])
        .args(extra)
        .arg("-r")
        .arg(rules)
        .arg("-e")
        .arg(format!("@{}", input.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output().ok()?;
    let secs = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // "Processed N events, M matches."
    let stats = stderr.lines().find(|l| l.starts_with("Processed "));
    let number_before = |word: &str| {
        stats.and_then(|l| {
            l.split(", ")
                .find(|p| p.contains(word))
                .and_then(|p| p.split_whitespace().find_map(|x| x.parse().ok()))
        })
    };
    let matches = number_before("matches").unwrap_or_else(|| {
        out.stdout
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64
    });
    let timing = std::fs::read_to_string(&time_out).unwrap_or_default();
    let _ = std::fs::remove_file(&time_out);
    let f: Vec<f64> = timing
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    Some(Peer {
        matches,
        processed: number_before("events").unwrap_or(0),
        secs,
        cpu_secs: f.get(1).copied().unwrap_or(0.0) + f.get(2).copied().unwrap_or(0.0),
        peak_kb: f.first().copied().unwrap_or(0.0) as u64,
    })
}
