//! Benign: a working day's traffic and logs that must raise nothing at level medium or above:
//! web-to-database traffic inside a tenant, the allowed acme -> globex peering, DNS and NTP to
//! the shared services, an IMDSv2 read of the instance id, HTTPS to the internet, an admin's
//! SSH session, and routine hypervisor, node and cluster logs.

use std::net::Ipv4Addr;

use serde_json::json;

use super::logs::{self, Audit, K8s, Proc};
use super::wire::{self, Conn, Pcap};
use super::{at, Input, Scenario, T0};

pub const SUMMARY: &str = "ordinary intra-tenant traffic, an allowed peering, routine metadata reads, normal admin logs; expects nothing";

const WEB: Ipv4Addr = Ipv4Addr::new(10, 1, 4, 20);
const IMDS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// Ordinary traffic, from `base` seconds on.
pub(super) fn traffic_pcap(base: i64) -> Input {
    let mut p = Pcap::new();
    let db = Ipv4Addr::new(10, 1, 7, 7);
    let query = b"\x00\x00\x00\x08\x04\xd2\x16\x2f";
    for i in 0..10u16 {
        let c = Conn::new(WEB, 52_000 + i, db, 5432);
        c.session(
            &mut p,
            at(base + i64::from(i) * 20).micros(),
            &[(query, b"S"), (&[b'Q'; 180], &[b'D'; 2_400])],
            40_000,
        );
    }
    // The allowed peering.
    let hello = wire::tls_client_hello("api.globex.internal");
    let c = Conn::new(WEB, 53_000, Ipv4Addr::new(10, 2, 9, 30), 443);
    c.session(
        &mut p,
        at(base + 15).micros(),
        &[
            (&hello, &[0x16, 0x03, 0x03, 0x00, 0x02, 0x02, 0x00]),
            (&wire::tls_app_data(700), &wire::tls_app_data(5_200)),
        ],
        50_000,
    );
    // Shared DNS and NTP.
    for (i, name) in [
        "www.example.com",
        "api.github.com",
        "security.ubuntu.com",
        "db.acme.internal",
        "login.microsoftonline.com",
    ]
    .iter()
    .enumerate()
    {
        let c = Conn::new(WEB, 33_500 + i as u16, Ipv4Addr::new(10, 255, 0, 53), 53);
        let id = 0x1200 + i as u16;
        let q = wire::dns_query(id, name, wire::DNS_A);
        let a = wire::dns_answer(
            id,
            name,
            wire::DNS_A,
            Ipv4Addr::new(140, 82, 112, 3 + i as u8),
            "",
        );
        wire::udp_exchange(&mut p, at(base + 30 + i as i64).micros(), &c, &q, Some(&a));
    }
    let mut ntp = vec![0u8; 48];
    ntp[0] = 0x23;
    let c = Conn::new(WEB, 123, Ipv4Addr::new(10, 255, 0, 123), 123);
    let mut reply = ntp.clone();
    reply[0] = 0x24;
    wire::udp_exchange(&mut p, at(base + 40).micros(), &c, &ntp, Some(&reply));
    // IMDSv2: token, then the instance id and availability zone.
    let ua = "aws-sdk-go-v2/1.30.3";
    let put = wire::http_request(
        "PUT",
        "/latest/api/token",
        "169.254.169.254",
        ua,
        &[("X-aws-ec2-metadata-token-ttl-seconds", "21600")],
    );
    Conn::new(WEB, 45_010, IMDS, 80).session(
        &mut p,
        at(base + 50).micros(),
        &[(&put, &wire::http_ok("text/plain", "AQAEAFExampleToken=="))],
        1_000,
    );
    let tok = [("X-aws-ec2-metadata-token", "AQAEAFExampleToken==")];
    for (i, (path, body)) in [
        ("/latest/meta-data/instance-id", "i-0a1b2c3d4e5f60718"),
        (
            "/latest/meta-data/placement/availability-zone",
            "eu-west-1a",
        ),
    ]
    .iter()
    .enumerate()
    {
        let get = wire::http_request("GET", path, "169.254.169.254", ua, &tok);
        Conn::new(WEB, 45_012 + i as u16, IMDS, 80).session(
            &mut p,
            at(base + 51 + i as i64).micros(),
            &[(&get, &wire::http_ok("text/plain", body))],
            1_000,
        );
    }
    // HTTPS to the internet.
    let hello = wire::tls_client_hello("api.github.com");
    Conn::new(WEB, 53_100, Ipv4Addr::new(140, 82, 112, 3), 443).session(
        &mut p,
        at(base + 60).micros(),
        &[
            (&hello, &[0x16, 0x03, 0x03, 0x00, 0x02, 0x02, 0x00]),
            (&wire::tls_app_data(500), &wire::tls_app_data(9_000)),
        ],
        80_000,
    );
    // An administrator's SSH session from the bastion.
    Conn::new(Ipv4Addr::new(10, 1, 0, 5), 55_001, WEB, 22).session(
        &mut p,
        at(base + 70).micros(),
        &[
            (
                b"SSH-2.0-OpenSSH_9.6\r\n",
                b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n",
            ),
            (&wire::ssh_packet(20, 1_100), &wire::ssh_packet(20, 1_300)),
            (&wire::ssh_packet(94, 3_000), &wire::ssh_packet(94, 24_000)),
        ],
        20_000_000,
    );
    // globex's own NFS traffic.
    Conn::new(
        Ipv4Addr::new(10, 2, 9, 30),
        901,
        Ipv4Addr::new(10, 2, 50, 10),
        2049,
    )
    .session(
        &mut p,
        at(base + 80).micros(),
        &[(&[0x80, 0, 0, 0x28], &[0x80, 0, 0, 0x18])],
        1_000,
    );
    Input {
        name: "benign_traffic.pcap",
        bytes: p.into_bytes(),
    }
}

/// Routine syslog of a tenant host and a hypervisor.
pub(super) fn admin_syslog(base: i64) -> Input {
    let mut s = String::new();
    s += &logs::syslog(38, at(base + 70).plus_ms(412), "acme-web01", "sshd", Some(30_101), "Accepted publickey for deploy from 10.1.0.5 port 55001 ssh2: ED25519 SHA256:3vQk9b7e2qZcF0xUuJ4p8m1YbXy6wT5sR2nL0aK9dE8");
    s += &logs::syslog(
        86,
        at(base + 70).plus_ms(430),
        "acme-web01",
        "sshd",
        Some(30_101),
        "pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)",
    );
    s += &logs::syslog(85, at(base + 90), "acme-web01", "sudo", None, "  deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx");
    s += &logs::syslog(
        30,
        at(base + 91),
        "acme-web01",
        "systemd",
        Some(1),
        "Started nginx.service - A high performance web server and a reverse proxy server.",
    );
    s += &logs::syslog(
        38,
        at(base + 95),
        "acme-web01",
        "sshd",
        Some(30_140),
        "Failed password for deploy from 10.1.0.5 port 55011 ssh2",
    );
    s += &logs::syslog(
        38,
        at(base + 99),
        "acme-web01",
        "sshd",
        Some(30_140),
        "Accepted password for deploy from 10.1.0.5 port 55011 ssh2",
    );
    s += &logs::syslog(6, at(base + 120), "hv1", "kernel", None, "[90010.551203] kvm: SMP vm created on host with unstable TSC; guest TSC will not be reliable");
    s += &logs::syslog(
        6,
        at(base + 121),
        "hv1",
        "kernel",
        None,
        "[90011.004417] virbr0: port 2(vnet7) entered forwarding state",
    );
    s += &logs::syslog(
        30,
        at(base + 122),
        "hv1",
        "libvirtd",
        Some(1190),
        "2231: info : qemuProcessLaunch:7650 : Domain id=8 is tainted: host-cpu",
    );
    Input::text("admin_syslog.log", s)
}

/// Routine audit records on the hypervisor: libvirt starts a guest, QEMU opens /dev/kvm and
/// its own disk, an administrator inspects an image with qemu-img.
pub(super) fn admin_audit(base: i64) -> Input {
    let mut a = Audit::new("hv1", 9_100);
    let svirt = "system_u:system_r:svirt_t:s0:c211,c640";
    let qemu = Proc {
        pid: 5120,
        ppid: 1190,
        uid: 107,
        auid: u32::MAX,
        exe: "/usr/bin/qemu-system-x86_64",
        subj: svirt,
    };
    a.execve(
        at(base + 120).plus_ms(300),
        &qemu,
        &[
            "/usr/bin/qemu-system-x86_64",
            "-name",
            "guest=acme-db01,debug-threads=on",
            "-accel",
            "kvm",
            "-m",
            "8192",
        ],
        "/",
        None,
    );
    a.on_path(
        at(base + 120).plus_ms(340),
        &qemu,
        257,
        "80002",
        "/dev/kvm",
        &["/usr/bin/qemu-system-x86_64", "-name", "guest=acme-db01"],
        Some("kvm"),
    );
    a.on_path(
        at(base + 120).plus_ms(360),
        &qemu,
        257,
        "84002",
        "/var/lib/libvirt/images/acme-db01.qcow2",
        &["/usr/bin/qemu-system-x86_64", "-name", "guest=acme-db01"],
        Some("libvirt_images"),
    );
    let admin = Proc {
        pid: 9_001,
        ppid: 8_990,
        uid: 0,
        auid: 1000,
        exe: "/usr/bin/qemu-img",
        subj: "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023",
    };
    a.execve(
        at(base + 200),
        &admin,
        &[
            "qemu-img",
            "info",
            "/var/lib/libvirt/images/acme-db01.qcow2",
        ],
        "/root",
        None,
    );
    a.on_path(
        at(base + 200).plus_ms(4),
        &admin,
        257,
        "0",
        "/var/lib/libvirt/images/acme-db01.qcow2",
        &[
            "qemu-img",
            "info",
            "/var/lib/libvirt/images/acme-db01.qcow2",
        ],
        Some("libvirt_images"),
    );
    let ls = Proc {
        exe: "/usr/bin/ls",
        pid: 9_010,
        ..admin
    };
    a.execve(
        at(base + 210),
        &ls,
        &["ls", "-l", "/var/lib/libvirt/images"],
        "/root",
        None,
    );
    let systemctl = Proc {
        exe: "/usr/bin/systemctl",
        pid: 9_020,
        ..admin
    };
    a.execve(
        at(base + 220),
        &systemctl,
        &["systemctl", "status", "libvirtd"],
        "/root",
        None,
    );
    Input::text("hv1_audit.log", a.text)
}

/// Routine cluster activity: listing, an ordinary deployment's pod, logs, a kubectl exec by
/// an administrator, and a kube-system daemonset pod on the host network.
pub(super) fn admin_k8s(base: i64) -> Input {
    let admin: &[&str] = &["system:masters", "system:authenticated"];
    let kubectl = "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350";
    let mut s = String::new();
    s += &K8s {
        verb: "list",
        resource: "pods",
        namespace: "shop",
        name: None,
        subresource: None,
        user: "kubernetes-admin",
        groups: admin,
        source_ip: "192.168.200.21",
        user_agent: kubectl,
        code: 200,
        request: None,
    }
    .line(at(base + 300), 101);
    let web = logs::pod(
        "web-7d4b9c6f5-x2x9k",
        "shop",
        "registry.acme.example/shop/web:2.14.1",
        json!({}),
        json!({"securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}, "ports": [{"containerPort": 8080}]}),
    );
    s += &K8s { verb: "create", resource: "pods", namespace: "shop", name: None, subresource: None, user: "system:serviceaccount:kube-system:replicaset-controller", groups: &["system:serviceaccounts", "system:authenticated"], source_ip: "192.168.200.11", user_agent: "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:serviceaccount:kube-system:replicaset-controller", code: 201, request: Some(web) }.line(at(base + 310), 102);
    s += &K8s {
        verb: "get",
        resource: "pods",
        namespace: "shop",
        name: Some("web-7d4b9c6f5-x2x9k"),
        subresource: Some("log"),
        user: "kubernetes-admin",
        groups: admin,
        source_ip: "192.168.200.21",
        user_agent: kubectl,
        code: 200,
        request: None,
    }
    .line(at(base + 320), 103);
    s += &K8s {
        verb: "create",
        resource: "pods",
        namespace: "shop",
        name: Some("web-7d4b9c6f5-x2x9k"),
        subresource: Some("exec"),
        user: "kubernetes-admin",
        groups: admin,
        source_ip: "192.168.200.21",
        user_agent: kubectl,
        code: 101,
        request: None,
    }
    .line(at(base + 330), 104);
    let cni = logs::pod(
        "calico-node-4kq8p",
        "kube-system",
        "docker.io/calico/node:v3.28.0",
        json!({"hostNetwork": true}),
        json!({"securityContext": {"privileged": true}}),
    );
    s += &K8s {
        verb: "create",
        resource: "pods",
        namespace: "kube-system",
        name: None,
        subresource: None,
        user: "system:serviceaccount:kube-system:daemon-set-controller",
        groups: &["system:serviceaccounts", "system:authenticated"],
        source_ip: "192.168.200.11",
        user_agent: "kube-controller-manager/v1.30.2",
        code: 201,
        request: Some(cni),
    }
    .line(at(base + 340), 105);
    Input::text("k8s_audit.jsonl", s)
}

/// Accepted flows in VPC flow logs.
pub(super) fn vpc_accepts(base: i64) -> Input {
    let mut s = String::from(logs::VPC_HEADER);
    for i in 0..8i64 {
        let t = T0 + base + 400 + i * 10;
        s += &logs::vpc(
            "eni-0a1b2c3d4e5f60718",
            "10.1.4.20",
            "10.1.7.7",
            52_100 + i as u16,
            5432,
            6,
            14,
            3_400,
            t,
            t + 60,
            "ACCEPT",
        );
        s += &logs::vpc(
            "eni-0a1b2c3d4e5f60718",
            "10.1.4.20",
            "140.82.112.3",
            53_200 + i as u16,
            443,
            6,
            22,
            6_100,
            t,
            t + 60,
            "ACCEPT",
        );
    }
    Input::text("acme_vpc_flow.log", s)
}

pub fn scenario() -> Scenario {
    Scenario {
        name: "benign",
        description: "Ordinary activity only: web-to-database traffic inside acme, the allowed acme -> globex peering on 443, shared DNS and NTP, IMDSv2 reads of the instance id, HTTPS to GitHub, an administrator's SSH session and sudo, libvirt starting a guest, qemu-img info, routine cluster operations. No alert at level medium or above is expected.",
        inputs: vec![traffic_pcap(0), admin_syslog(0), admin_audit(0), admin_k8s(0), vpc_accepts(0)],
        expect: Vec::new(),
    }
}
