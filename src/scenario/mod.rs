//! Attack and benign scenarios for drills: each scenario is a set of inputs (pcaps and logs in
//! the formats vigil reads), the tenants file they assume and a drill file naming the alerts a
//! replay must raise. `vigil scenario write NAME|all --out DIR` writes them; everything is
//! deterministic (fixed times from 2025-11-24T16:00:00Z, fixed seeds).

pub mod logs;
pub mod wire;

mod benign;
mod container_escape;
mod metadata;
mod mixed;
mod network;
mod tenant_isolation;
mod vm_escape;

use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use logs::At;

/// 2025-11-24T16:00:00Z: the start of every scenario's timeline.
pub const T0: i64 = 1_764_000_000;

/// The start of the timeline plus `secs`.
pub fn at(secs: i64) -> At {
    At::new(T0 + secs, 0)
}

/// The tenants file every scenario uses: three tenants, the infrastructure zones and one
/// allowed peering (acme may reach globex on 443).
pub const TENANTS: &str = "\
# Tenants and zones of the vigil scenarios (written by `vigil scenario write`).
tenants:
  - id: acme
    cidrs: [10.1.0.0/16]
    vnis: [1001]
  - id: globex
    cidrs: [10.2.0.0/16]
    vnis: [1002]
  - id: initech
    cidrs: [10.3.0.0/16]
    vnis: [1003]
shared_services:
  - name: dns
    cidrs: [10.255.0.53/32]
    ports: [53]
  - name: ntp
    cidrs: [10.255.0.123/32]
    ports: [123]
allow:
  - from: acme
    to: globex
    ports: [443]
infrastructure:
  hypervisors: [192.168.100.0/24]
  management: [192.168.200.0/24]
  metadata: [169.254.169.254/32]
";

/// One input file of a scenario.
#[derive(Clone, Debug)]
pub struct Input {
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

impl Input {
    pub fn text(name: &'static str, text: String) -> Input {
        Input {
            name,
            bytes: text.into_bytes(),
        }
    }
}

/// A time range an expected alert must fall in.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Within {
    pub start: String,
    pub end: String,
}

/// One alert the drill expects: some alert must carry all `tags`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Expectation {
    pub name: String,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within: Option<Within>,
}

/// An expectation with a minimum level, within the scenario's first hour.
pub fn expect(name: &str, tags: &[&str], min_level: &str) -> Expectation {
    Expectation {
        name: name.to_string(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        min_level: Some(min_level.to_string()),
        within: Some(Within {
            start: at(0).rfc3339_secs(),
            end: at(3600).rfc3339_secs(),
        }),
    }
}

/// The drill file (`NAME.drill.yaml`), read by `vigil replay --drill`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Drill {
    pub name: String,
    pub description: String,
    /// Relative to the drill file.
    pub tenants: String,
    /// Relative to the drill file, replayed in this order.
    pub inputs: Vec<String>,
    pub expect: Vec<Expectation>,
}

/// A scenario: its inputs and what a replay of them must raise.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    pub inputs: Vec<Input>,
    pub expect: Vec<Expectation>,
}

impl Scenario {
    pub fn drill(&self) -> Drill {
        Drill {
            name: self.name.to_string(),
            description: self.description.to_string(),
            tenants: "tenants.yaml".to_string(),
            inputs: self.inputs.iter().map(|i| i.name.to_string()).collect(),
            expect: self.expect.clone(),
        }
    }
}

/// Errors writing scenarios.
#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("no scenario named `{0}`; `vigil scenario list` shows them")]
    Unknown(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("drill file: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
}

/// The scenarios, by name, with a one-line summary.
pub const SCENARIOS: &[(&str, &str)] = &[
    ("vm-escape", vm_escape::SUMMARY),
    ("container-escape", container_escape::SUMMARY),
    ("tenant-isolation", tenant_isolation::SUMMARY),
    ("metadata-abuse", metadata::SUMMARY),
    ("network-attacks", network::SUMMARY),
    ("benign", benign::SUMMARY),
    ("mixed", mixed::SUMMARY),
];

/// Builds one scenario.
pub fn build(name: &str) -> Result<Scenario, ScenarioError> {
    match name {
        "vm-escape" => Ok(vm_escape::scenario()),
        "container-escape" => Ok(container_escape::scenario()),
        "tenant-isolation" => Ok(tenant_isolation::scenario()),
        "metadata-abuse" => Ok(metadata::scenario()),
        "network-attacks" => Ok(network::scenario()),
        "benign" => Ok(benign::scenario()),
        "mixed" => Ok(mixed::scenario()),
        other => Err(ScenarioError::Unknown(other.to_string())),
    }
}

fn write_file(path: PathBuf, bytes: &[u8]) -> Result<PathBuf, ScenarioError> {
    std::fs::write(&path, bytes).map_err(|source| ScenarioError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Writes scenario `name` (or every one for `all`) under `out/NAME/`: its inputs,
/// `tenants.yaml` and `NAME.drill.yaml`. Returns the drill files written.
pub fn write(name: &str, out: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let names: Vec<&str> = if name == "all" {
        SCENARIOS.iter().map(|(n, _)| *n).collect()
    } else {
        vec![name]
    };
    let mut drills = Vec::new();
    for n in names {
        let s = build(n)?;
        let dir = out.join(s.name);
        std::fs::create_dir_all(&dir).map_err(|source| ScenarioError::Io {
            path: dir.clone(),
            source,
        })?;
        for input in &s.inputs {
            write_file(dir.join(input.name), &input.bytes)?;
        }
        write_file(dir.join("tenants.yaml"), TENANTS.as_bytes())?;
        let yaml = serde_yaml_ng::to_string(&s.drill())?;
        drills.push(write_file(
            dir.join(format!("{}.drill.yaml", s.name)),
            yaml.as_bytes(),
        )?);
    }
    Ok(drills)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_builds_deterministically() {
        for (name, _) in SCENARIOS {
            let a = build(name).expect("known scenario");
            let b = build(name).expect("known scenario");
            assert_eq!(a.name, *name);
            assert!(!a.inputs.is_empty(), "{name} has no inputs");
            for (x, y) in a.inputs.iter().zip(&b.inputs) {
                assert_eq!(x.bytes, y.bytes, "{name}/{} differs between builds", x.name);
            }
            assert_eq!(a.drill(), b.drill());
        }
        assert!(build("nope").is_err());
    }
}
