//! Container escape: a developer account creates a privileged, hostPID, hostNetwork pod that
//! mounts the node's root; inside it an attacker nsenters PID 1, mounts the node's disk, arms
//! the cgroup release_agent and core_pattern; a stolen service-account token then execs into
//! a kube-system pod.

use serde_json::json;

use super::logs::{self, Audit, K8s, Proc};
use super::{at, expect, Input, Scenario};

pub const SUMMARY: &str = "privileged/hostPID/hostPath pod, nsenter -t 1, host disk mount, release_agent and core_pattern writes, exec by a service account";

const SPC: &str = "system_u:system_r:spc_t:s0";
const KUBECTL: &str = "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350";

/// The node's audit log, from `base` seconds on.
pub(super) fn node_audit(base: i64) -> Input {
    let mut a = Audit::new("k8s-node-2", 88_100);
    let sh = Proc {
        pid: 31_300,
        ppid: 31_211,
        uid: 0,
        auid: u32::MAX,
        exe: "/usr/bin/bash",
        subj: SPC,
    };
    let nsenter = Proc { pid: 31_337, ..sh };
    let nsenter = Proc {
        exe: "/usr/bin/nsenter",
        ppid: 31_300,
        ..nsenter
    };
    a.execve(
        at(base + 60).plus_ms(250),
        &nsenter,
        &[
            "nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", "bash",
        ],
        "/",
        None,
    );
    let mount = Proc {
        pid: 31_402,
        ppid: 31_300,
        exe: "/usr/bin/mount",
        ..sh
    };
    a.execve(
        at(base + 90).plus_ms(10),
        &mount,
        &["mount", "/dev/sda1", "/mnt/host"],
        "/",
        None,
    );
    let echo = &[
        "sh",
        "-c",
        "echo /var/lib/containerd/x/cmd > /tmp/cgrp/release_agent",
    ];
    a.on_path(
        at(base + 120).plus_ms(3),
        &sh,
        257,
        "241",
        "/tmp/cgrp/release_agent",
        echo,
        None,
    );
    a.on_path(
        at(base + 125).plus_ms(3),
        &sh,
        257,
        "241",
        "/tmp/cgrp/x/notify_on_release",
        &["sh", "-c", "echo 1 > /tmp/cgrp/x/notify_on_release"],
        None,
    );
    a.on_path(
        at(base + 150).plus_ms(9),
        &sh,
        257,
        "241",
        "/proc/sys/kernel/core_pattern",
        &[
            "sh",
            "-c",
            "echo '|/var/lib/containerd/x/cmd' > /proc/sys/kernel/core_pattern",
        ],
        Some("core_pattern"),
    );
    Input::text("node_audit.log", a.text)
}

/// The API server's audit log.
pub(super) fn k8s_audit(base: i64) -> Input {
    let admin_groups: &[&str] = &["system:masters", "system:authenticated"];
    let dev_groups: &[&str] = &["developers", "system:authenticated"];
    let sa_groups: &[&str] = &[
        "system:serviceaccounts",
        "system:serviceaccounts:shop",
        "system:authenticated",
    ];
    let mut s = String::new();
    s += &K8s {
        verb: "list",
        resource: "pods",
        namespace: "shop",
        name: None,
        subresource: None,
        user: "kubernetes-admin",
        groups: admin_groups,
        source_ip: "192.168.200.21",
        user_agent: KUBECTL,
        code: 200,
        request: None,
    }
    .line(at(base), 1);
    let bad_pod = logs::pod(
        "debug-tools",
        "shop",
        "docker.io/library/alpine:3.19",
        json!({
            "hostPID": true,
            "hostNetwork": true,
            "volumes": [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}],
        }),
        json!({
            "securityContext": {"privileged": true},
            "volumeMounts": [{"name": "host", "mountPath": "/host"}],
            "command": ["sleep", "infinity"],
        }),
    );
    s += &K8s {
        verb: "create",
        resource: "pods",
        namespace: "shop",
        name: None,
        subresource: None,
        user: "jane@acme.example",
        groups: dev_groups,
        source_ip: "10.1.9.40",
        user_agent: KUBECTL,
        code: 201,
        request: Some(bad_pod),
    }
    .line(at(base + 10), 2);
    s += &K8s {
        verb: "create",
        resource: "pods",
        namespace: "shop",
        name: Some("debug-tools"),
        subresource: Some("exec"),
        user: "jane@acme.example",
        groups: dev_groups,
        source_ip: "10.1.9.40",
        user_agent: KUBECTL,
        code: 101,
        request: None,
    }
    .line(at(base + 40), 3);
    s += &K8s {
        verb: "create",
        resource: "pods",
        namespace: "kube-system",
        name: Some("kube-proxy-8xk2f"),
        subresource: Some("exec"),
        user: "system:serviceaccount:shop:default",
        groups: sa_groups,
        source_ip: "10.1.9.77",
        user_agent: "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f",
        code: 101,
        request: None,
    }
    .line(at(base + 200), 4);
    Input::text("k8s_audit.jsonl", s)
}

pub fn scenario() -> Scenario {
    Scenario {
        name: "container-escape",
        description: "On cluster node k8s-node-2: a privileged hostPID/hostNetwork pod mounting / is created and exec'd into; inside it nsenter joins PID 1's namespaces, the node disk is mounted, release_agent and core_pattern are armed; the shop namespace's default service account execs into kube-proxy.",
        inputs: vec![k8s_audit(0), node_audit(0)],
        expect: vec![
            expect("nsenter into PID 1", &["cloud.container_escape", "attack.privilege_escalation", "attack.t1611"], "critical"),
            expect("core_pattern written", &["cloud.container_escape", "attack.persistence", "attack.t1546"], "high"),
            expect("Privileged pod created", &["cloud.container_escape", "attack.t1611", "attack.privilege_escalation"], "high"),
            expect("Host-network pod created", &["cloud.container_escape", "attack.defense_evasion", "attack.t1599"], "medium"),
            expect("Exec into a pod", &["cloud.container_escape", "attack.execution", "attack.t1609"], "low"),
            expect("Service account execs into a pod", &["cloud.container_escape", "attack.lateral_movement", "attack.t1550.001"], "high"),
        ],
    }
}
