//! Mixed: a day in which several attacks happen among benign noise, for drills that must sort
//! signal from noise. One expectation (a kernel module loaded from a container) is
//! deliberately absent from the data, so a drill report shows what a miss looks like.

use super::{
    at, benign, container_escape, expect, metadata, network, vm_escape, Expectation, Scenario,
    Within,
};

pub const SUMMARY: &str = "VM escape, SSH brute force, metadata theft and a privileged pod among benign noise; one expectation is deliberately missing";

/// The expectation no input supports: no scenario input loads a kernel module.
pub fn deliberate_miss() -> Expectation {
    Expectation {
        name: "Kernel module loaded from a container (deliberately absent: shows a miss)"
            .to_string(),
        tags: vec![
            "cloud.container_escape".to_string(),
            "attack.persistence".to_string(),
            "attack.t1547.006".to_string(),
        ],
        min_level: Some("high".to_string()),
        within: Some(Within {
            start: at(0).rfc3339_secs(),
            end: at(3600).rfc3339_secs(),
        }),
    }
}

pub fn scenario() -> Scenario {
    Scenario {
        name: "mixed",
        description: "Benign traffic and admin logs from 16:00, then a QEMU escape on hv1 (16:10), an SSH brute force that succeeds on acme-web01 (16:20), metadata credentials fetched from a container (16:30) and a privileged pod (16:40). The last expectation, a kernel module loaded from a container, is deliberately NOT in the data: a drill over this scenario must report it as missed.",
        inputs: vec![
            benign::traffic_pcap(0),
            benign::admin_syslog(0),
            benign::admin_k8s(0),
            vm_escape::qemu_audit(600),
            network::auth_log(1_200),
            network::bruteforce_pcap(1_200),
            metadata::metadata_pcap(1_800),
            container_escape::k8s_audit(2_400),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, mut input)| {
            // Two inputs share a file name (k8s_audit.jsonl); number them all in replay order.
            input.name = MIXED_NAMES.get(i).copied().unwrap_or(input.name);
            input
        })
        .collect(),
        expect: vec![
            expect("QEMU spawns a shell", &["cloud.vm_escape", "attack.privilege_escalation", "attack.t1611", "attack.t1059"], "critical"),
            expect("Login after SSH brute force", &["attack.initial_access", "attack.t1110.001", "attack.t1078"], "high"),
            expect("Metadata credentials from a container", &["cloud.metadata_abuse", "cloud.container_escape", "attack.credential_access", "attack.t1552.005"], "high"),
            expect("Privileged pod", &["cloud.container_escape", "attack.t1611", "attack.privilege_escalation"], "high"),
            deliberate_miss(),
        ],
    }
}

const MIXED_NAMES: &[&str] = &[
    "01_benign_traffic.pcap",
    "02_admin_syslog.log",
    "03_k8s_audit_routine.jsonl",
    "04_hv1_audit.log",
    "05_auth.log",
    "06_bruteforce.pcap",
    "07_metadata.pcap",
    "08_k8s_audit_attack.jsonl",
];
