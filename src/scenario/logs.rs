//! Log lines for scenarios, in the shapes real producers write them: raw auditd records
//! (SYSCALL, EXECVE, CWD, PATH, PROCTITLE with auditd's hex encoding), RFC 5424 syslog,
//! libvirtd's and QEMU's own logs, Kubernetes audit events (audit.k8s.io/v1) and AWS VPC flow
//! log records.

use serde_json::{json, Value};

use crate::event::Timestamp;

/// Seconds since the epoch plus milliseconds, the scenarios' unit of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct At {
    pub secs: i64,
    pub millis: u32,
}

impl At {
    pub fn new(secs: i64, millis: u32) -> At {
        At { secs, millis }
    }

    pub fn plus(self, secs: i64) -> At {
        At::new(self.secs + secs, self.millis)
    }

    pub fn plus_ms(self, ms: i64) -> At {
        let total = self.secs * 1000 + i64::from(self.millis) + ms;
        At::new(total.div_euclid(1000), total.rem_euclid(1000) as u32)
    }

    pub fn micros(self) -> i64 {
        self.secs * 1_000_000 + i64::from(self.millis) * 1000
    }

    /// `2025-11-24T16:00:03.120000Z`.
    pub fn rfc3339(self) -> String {
        Timestamp::from_secs_nanos(self.secs, self.millis * 1_000_000).to_string()
    }

    /// `2025-11-24T16:00:03Z`, for drill windows.
    pub fn rfc3339_secs(self) -> String {
        let s = self.rfc3339();
        format!("{}Z", &s[..19])
    }

    /// libvirt's `2025-11-24 16:00:03.120+0000`.
    pub fn libvirt(self) -> String {
        let s = self.rfc3339();
        format!("{} {}+0000", &s[..10], &s[11..23])
    }
}

/// auditd's value encoding: quoted when plain, upper-case hex when the value holds a space, a
/// quote or a control character (auparse's "encoded" fields).
fn audit_value(v: &str) -> String {
    if v.bytes().any(|b| b <= b' ' || b == b'"' || b >= 0x7f) {
        crate::hex::encode_upper(v.as_bytes())
    } else {
        format!("\"{v}\"")
    }
}

/// Who does something in an audit record.
#[derive(Clone, Copy, Debug)]
pub struct Proc<'a> {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub auid: u32,
    pub exe: &'a str,
    /// The SELinux context or AppArmor profile (`subj=`).
    pub subj: &'a str,
}

impl Proc<'_> {
    fn comm(&self) -> &str {
        let base = self.exe.rsplit('/').next().unwrap_or(self.exe);
        &base[..base.len().min(15)]
    }
}

/// An audit log being written: one serial per event, records as the kernel emits them.
pub struct Audit {
    node: &'static str,
    serial: u64,
    pub text: String,
}

impl Audit {
    pub fn new(node: &'static str, first_serial: u64) -> Audit {
        Audit {
            node,
            serial: first_serial,
            text: String::new(),
        }
    }

    fn record(&mut self, kind: &str, at: At, body: &str) {
        self.text.push_str(&format!(
            "node={} type={kind} msg=audit({}.{:03}:{}): {body}\n",
            self.node, at.secs, at.millis, self.serial
        ));
    }

    #[allow(clippy::too_many_arguments)]
    fn syscall(
        &mut self,
        at: At,
        p: &Proc<'_>,
        nr: u32,
        exit: i64,
        a: [&str; 4],
        items: usize,
        key: Option<&str>,
    ) {
        let comm = p.comm().to_string();
        let key = key.map_or("(null)".to_string(), audit_value);
        let body = format!(
            "arch=c000003e syscall={nr} success=yes exit={exit} a0={} a1={} a2={} a3={} items={items} ppid={} pid={} auid={} uid={} gid={} euid={} suid={} fsuid={} egid={} sgid={} fsgid={} tty=(none) ses={} comm={} exe={} subj={} key={key}",
            a[0], a[1], a[2], a[3], p.ppid, p.pid, p.auid, p.uid, p.uid, p.uid, p.uid, p.uid, p.uid, p.uid, p.uid,
            if p.auid == u32::MAX { u32::MAX } else { 3 },
            audit_value(&comm),
            audit_value(p.exe),
            p.subj
        );
        self.record("SYSCALL", at, &body);
    }

    fn path(&mut self, at: At, item: usize, name: &str, mode: &str, obj: &str) {
        let body = format!(
            "item={item} name={} inode={} dev=fd:00 mode={mode} ouid=0 ogid=0 rdev=00:00 obj={obj} nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0",
            audit_value(name),
            1_835_000 + (self.serial % 9_000) * 7 + item as u64
        );
        self.record("PATH", at, &body);
    }

    fn proctitle(&mut self, at: At, argv: &[&str]) {
        let joined = argv.join("\0");
        let body = format!("proctitle={}", crate::hex::encode_upper(joined.as_bytes()));
        self.record("PROCTITLE", at, &body);
    }

    /// A successful execve of `p.exe` with `argv`, from `cwd`.
    pub fn execve(&mut self, at: At, p: &Proc<'_>, argv: &[&str], cwd: &str, key: Option<&str>) {
        self.serial += 1;
        self.syscall(
            at,
            p,
            59,
            0,
            ["55d0c1a2b3c0", "55d0c1a2b4e0", "55d0c1a2b5f0", "0"],
            2,
            key,
        );
        let mut args = format!("argc={}", argv.len());
        for (i, a) in argv.iter().enumerate() {
            args.push_str(&format!(" a{i}={}", audit_value(a)));
        }
        self.record("EXECVE", at, &args);
        self.record("CWD", at, &format!("cwd={}", audit_value(cwd)));
        self.path(at, 0, p.exe, "0100755", "system_u:object_r:bin_t:s0");
        self.path(
            at,
            1,
            "/lib64/ld-linux-x86-64.so.2",
            "0100755",
            "system_u:object_r:ld_so_t:s0",
        );
        self.proctitle(at, argv);
    }

    /// A syscall on one path (`openat` = 257 with `flags` as a2, `mount` = 165, `connect` =
    /// 42, `finit_module` = 313), by a process whose command line is `argv`.
    #[allow(clippy::too_many_arguments)]
    pub fn on_path(
        &mut self,
        at: At,
        p: &Proc<'_>,
        nr: u32,
        flags: &str,
        path: &str,
        argv: &[&str],
        key: Option<&str>,
    ) {
        self.serial += 1;
        self.syscall(
            at,
            p,
            nr,
            3,
            ["ffffff9c", "7ffd3c1e2a40", flags, "1b6"],
            1,
            key,
        );
        self.record("CWD", at, "cwd=\"/\"");
        self.path(at, 0, path, "0100644", "system_u:object_r:unlabeled_t:s0");
        self.proctitle(at, argv);
    }
}

/// An RFC 5424 syslog line (`<PRI>1 TIMESTAMP HOST APP PROCID - - MSG`).
pub fn syslog(pri: u8, at: At, host: &str, app: &str, pid: Option<u32>, msg: &str) -> String {
    let pid = pid.map_or("-".to_string(), |p| p.to_string());
    format!("<{pri}>1 {} {host} {app} {pid} - - {msg}\n", at.rfc3339())
}

/// A line of libvirtd's own log.
pub fn libvirt(at: At, thread: u32, level: &str, function: &str, line: u32, msg: &str) -> String {
    format!(
        "{}: {thread}: {level} : {function}:{line} : {msg}\n",
        at.libvirt()
    )
}

/// A stamped line of a QEMU guest log (`/var/log/libvirt/qemu/GUEST.log`).
pub fn qemu(at: At, program: &str, msg: &str) -> String {
    format!("{} {program}: {msg}\n", at.rfc3339())
}

/// A Kubernetes audit event at stage ResponseComplete, as the API server writes it.
pub struct K8s<'a> {
    pub verb: &'a str,
    pub resource: &'a str,
    pub namespace: &'a str,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
    pub user: &'a str,
    pub groups: &'a [&'a str],
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    pub code: u16,
    pub request: Option<Value>,
}

impl K8s<'_> {
    pub fn line(&self, at: At, serial: u32) -> String {
        let mut uri = format!("/api/v1/namespaces/{}/{}", self.namespace, self.resource);
        if let Some(n) = self.name {
            uri.push('/');
            uri.push_str(n);
        }
        if let Some(s) = self.subresource {
            uri.push('/');
            uri.push_str(s);
            if s == "exec" {
                uri.push_str("?command=sh&container=app&stdin=true&stdout=true&tty=true");
            }
        }
        let mut object_ref = json!({
            "resource": self.resource,
            "namespace": self.namespace,
            "apiVersion": "v1",
        });
        if let Some(n) = self.name {
            object_ref["name"] = json!(n);
        }
        if let Some(s) = self.subresource {
            object_ref["subresource"] = json!(s);
        }
        let mut ev = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "RequestResponse",
            "auditID": format!("5d3c2b1a-{serial:04x}-4e6f-8a9b-0c1d2e3f{serial:04x}"),
            "stage": "ResponseComplete",
            "requestURI": uri,
            "verb": self.verb,
            "user": {"username": self.user, "groups": self.groups},
            "sourceIPs": [self.source_ip],
            "userAgent": self.user_agent,
            "objectRef": object_ref,
            "responseStatus": {"metadata": {}, "code": self.code},
            "requestReceivedTimestamp": at.rfc3339(),
            "stageTimestamp": at.plus_ms(23).rfc3339(),
            "annotations": {
                "authorization.k8s.io/decision": "allow",
                "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\"",
            },
        });
        if let Some(r) = &self.request {
            ev["requestObject"] = r.clone();
        }
        format!("{ev}\n")
    }
}

/// A pod manifest as a request object.
pub fn pod(
    name: &str,
    namespace: &str,
    image: &str,
    spec_extra: Value,
    container_extra: Value,
) -> Value {
    let mut container = json!({
        "name": "app",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
    });
    if let (Some(c), Value::Object(extra)) = (container.as_object_mut(), container_extra) {
        c.extend(extra);
    }
    let mut spec = json!({
        "containers": [container],
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
    });
    if let (Some(s), Value::Object(extra)) = (spec.as_object_mut(), spec_extra) {
        s.extend(extra);
    }
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": spec,
        "status": {},
    })
}

/// The header of a VPC flow log file (version 2 fields, as S3 delivery writes it).
pub const VPC_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";

/// One VPC flow log record (version 2).
#[allow(clippy::too_many_arguments)]
pub fn vpc(
    eni: &str,
    src: &str,
    dst: &str,
    sport: u16,
    dport: u16,
    proto: u8,
    packets: u32,
    bytes: u64,
    start: i64,
    end: i64,
    action: &str,
) -> String {
    format!("2 123456789012 {eni} {src} {dst} {sport} {dport} {proto} {packets} {bytes} {start} {end} {action} OK\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_records_encode_like_auditd() {
        let mut a = Audit::new("hv1", 100);
        let p = Proc {
            pid: 7,
            ppid: 1,
            uid: 0,
            auid: 1000,
            exe: "/usr/bin/bash",
            subj: "unconfined_u:unconfined_r:unconfined_t:s0",
        };
        a.execve(
            At::new(1_764_000_000, 123),
            &p,
            &["sh", "-c", "id; uname -a"],
            "/root",
            None,
        );
        assert!(a.text.contains(
            "node=hv1 type=SYSCALL msg=audit(1764000000.123:101): arch=c000003e syscall=59"
        ));
        assert!(a.text.contains("a2=69643B20756E616D65202D61"), "{}", a.text);
        assert!(a
            .text
            .contains("proctitle=7368002D630069643B20756E616D65202D61"));
    }

    #[test]
    fn times_render() {
        let t = At::new(1_764_000_003, 120);
        assert_eq!(t.rfc3339(), "2025-11-24T16:00:03.120000Z");
        assert_eq!(t.libvirt(), "2025-11-24 16:00:03.120+0000");
        assert_eq!(t.rfc3339_secs(), "2025-11-24T16:00:03Z");
        assert_eq!(t.plus_ms(900).plus(1), At::new(1_764_000_005, 20));
    }
}
