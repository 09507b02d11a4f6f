//! Bearer tokens: `vigil token create|list|revoke` and the daemon's [`TokenFile`].
//!
//! `DATA/tokens.json` (mode 0600, replaced atomically) holds each token's SHA-256, never the
//! token itself. The running daemon notices a changed file (by mtime, length, inode and mode,
//! at most once a second, or at once on an unknown token), so tokens work without a restart.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hyper::header::HeaderValue;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::api::auth::{bearer, Authenticate, Principal, Role};
use crate::event::Timestamp;
use crate::hex;

/// The token file's name inside the data folder.
pub const FILE_NAME: &str = "tokens.json";
/// Every token starts with this, so that leaked ones are easy to scan for.
pub const PREFIX: &str = "vgl_";
/// How often the daemon looks at the file when all tokens it sees are known.
const RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a token file ({message}); fix or remove it", path.display())]
    Format { path: PathBuf, message: String },
    #[error("no random numbers from the system")]
    Random,
    #[error("{}: no token with id `{id}` (see `vigil token list`)", path.display())]
    NoSuchToken { path: PathBuf, id: String },
    #[error("{}: another `vigil token` command holds it; retry, or remove it if none runs", path.display())]
    Locked { path: PathBuf },
    #[error("{what} `{value}` is not allowed: use letters, digits, `-`, `_` and `.` (at most 64)")]
    BadName { what: &'static str, value: String },
}

/// One stored token: everything but the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// RFC 3339, UTC.
    pub created: String,
    /// SHA-256 of the whole token (prefix included), lowercase hex.
    pub sha256: String,
}

impl TokenRecord {
    /// What incident histories name as the actor.
    pub fn subject(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} ({})", self.id),
            None => self.id.clone(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    version: u32,
    tokens: Vec<TokenRecord>,
}

/// What `create` asks for.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub role: Role,
    pub tenant: Option<String>,
    pub name: Option<String>,
}

/// The token file of a data folder.
pub fn path_in(data: &Path) -> PathBuf {
    data.join(FILE_NAME)
}

/// How long `create` and `revoke` wait for another one to finish, and the age past which a
/// lock left by a killed process is taken over.
const LOCK_WAIT: Duration = Duration::from_secs(5);
const LOCK_STALE: Duration = Duration::from_secs(30);

/// Held while a command reads, changes and replaces the file, so that two `vigil token create`
/// at once do not lose one token. The daemon only reads and needs no lock.
struct FileLock(PathBuf);

impl FileLock {
    fn take(path: &Path) -> Result<FileLock, TokenError> {
        let lock = path.with_extension("json.lock");
        let started = Instant::now();
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&lock)
            {
                Ok(_) => return Ok(FileLock(lock)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&lock)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > LOCK_STALE);
                    if stale {
                        let _ = fs::remove_file(&lock);
                    } else if started.elapsed() > LOCK_WAIT {
                        return Err(TokenError::Locked { path: lock });
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Err(source) => return Err(TokenError::Io { path: lock, source }),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Makes a token, stores its hash in `DATA/tokens.json` (making DATA, 0750, if missing) and
/// returns the token (shown once, never stored) with its record.
pub fn create(data: &Path, new: NewToken) -> Result<(String, TokenRecord), TokenError> {
    for (what, v) in [("tenant", &new.tenant), ("name", &new.name)] {
        if let Some(v) = v {
            check_name(what, v)?;
        }
    }
    let rng = SystemRandom::new();
    let mut secret = [0u8; 32];
    rng.fill(&mut secret).map_err(|_| TokenError::Random)?;
    let mut id = [0u8; 6];
    rng.fill(&mut id).map_err(|_| TokenError::Random)?;
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let record = TokenRecord {
        id: format!("t-{}", hex::encode(&id)),
        name: new.name,
        role: new.role,
        tenant: new.tenant,
        created: Timestamp::now().to_string(),
        sha256: hex::encode(&sha256(&token)),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(data)
        .map_err(|source| TokenError::Io {
            path: data.to_path_buf(),
            source,
        })?;
    let path = path_in(data);
    let _lock = FileLock::take(&path)?;
    let mut contents = read(&path)?;
    contents.tokens.push(record.clone());
    write(&path, &contents)?;
    Ok((token, record))
}

/// The stored tokens (no secrets: the file holds none).
pub fn list(data: &Path) -> Result<Vec<TokenRecord>, TokenError> {
    Ok(read(&path_in(data))?.tokens)
}

/// Removes a token; the daemon refuses it from its next look at the file (within a second).
pub fn revoke(data: &Path, id: &str) -> Result<TokenRecord, TokenError> {
    let path = path_in(data);
    let _lock = FileLock::take(&path)?;
    let mut contents = read(&path)?;
    let Some(at) = contents.tokens.iter().position(|t| t.id == id) else {
        return Err(TokenError::NoSuchToken {
            path,
            id: id.to_string(),
        });
    };
    let gone = contents.tokens.remove(at);
    write(&path, &contents)?;
    Ok(gone)
}

fn check_name(what: &'static str, v: &str) -> Result<(), TokenError> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(TokenError::BadName {
            what,
            value: v.to_string(),
        })
    }
}

/// The file's contents; a missing file holds no tokens.
fn read(path: &Path) -> Result<Contents, TokenError> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Contents {
                version: 1,
                tokens: Vec::new(),
            })
        }
        Err(source) => {
            return Err(TokenError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_slice(&text).map_err(|e| TokenError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes a temporary file (0600) beside `path`, syncs it and renames it over `path`, so a
/// reader sees the old file or the new one, never half of one.
fn write(path: &Path, contents: &Contents) -> Result<(), TokenError> {
    let io = |source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut text = serde_json::to_vec_pretty(contents).map_err(|e| TokenError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    text.push(b'\n');
    let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            // Makes the rename itself durable; not every file system allows it, hence `ok`.
            fs::File::open(dir).and_then(|d| d.sync_all()).ok();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

fn sha256(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

/// Equal without an early exit, so that timing tells nothing about where hashes differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The daemon's [`Authenticate`]: the tokens of `DATA/tokens.json`, followed as it changes.
///
/// A file that cannot be read or parsed, or that group or others may write, leaves no token
/// valid (fail closed): a broken edit must not keep a revoked token alive. A missing file is
/// simply no tokens.
pub struct TokenFile {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

struct Loaded {
    /// What the file looked like when read; `None` if missing.
    stamp: Option<Stamp>,
    checked: Option<Instant>,
    tokens: Vec<([u8; 32], Principal)>,
}

/// What tells a changed file: mtime, length, inode (a rename), mode (a chmod).
type Stamp = (SystemTime, u64, u64, u32);

fn stamp(path: &Path) -> Option<Stamp> {
    fs::metadata(path).ok().map(|m| {
        let mtime = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        (mtime, m.len(), m.ino(), m.mode())
    })
}

impl TokenFile {
    /// Follows `DATA/tokens.json`; the file need not exist yet.
    pub fn new(data: &Path) -> TokenFile {
        let tf = TokenFile {
            path: path_in(data),
            loaded: Mutex::new(Loaded {
                stamp: None,
                checked: None,
                tokens: Vec::new(),
            }),
        };
        tf.refresh(true);
        tf
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many tokens are valid now.
    pub fn len(&self) -> usize {
        self.lock().tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-reads the file if it changed; `force` skips the once-a-second limit.
    fn refresh(&self, force: bool) {
        let mut l = self.lock();
        let now = Instant::now();
        if !force && l.checked.is_some_and(|c| now.duration_since(c) < RECHECK) {
            return;
        }
        l.checked = Some(now);
        let stamp = stamp(&self.path);
        if stamp == l.stamp && !force {
            return;
        }
        l.stamp = stamp;
        // Whoever may write the file may mint tokens: refuse one that others may write.
        let mode = stamp.map_or(0o600, |s| s.3);
        if mode & 0o022 != 0 {
            eprintln!(
                "vigil: {}: writable by group or others (mode {:o}); no API token is accepted \
                 until `chmod 600` is run on it",
                self.path.display(),
                mode & 0o777
            );
            l.tokens = Vec::new();
            return;
        }
        l.tokens = match read(&self.path) {
            Ok(c) => c
                .tokens
                .into_iter()
                .filter_map(|t| {
                    let hash = hex::decode_array::<32>(&t.sha256)?;
                    let who = Principal {
                        subject: t.subject(),
                        role: t.role,
                        tenant: t.tenant,
                    };
                    Some((hash, who))
                })
                .collect(),
            Err(e) => {
                eprintln!("vigil: {e}; no API token is accepted until it is fixed");
                Vec::new()
            }
        };
    }

    fn find(&self, hash: &[u8; 32]) -> Option<Principal> {
        let l = self.lock();
        // Every entry is compared, found or not.
        let mut found = None;
        for (h, who) in &l.tokens {
            if same(h, hash) && found.is_none() {
                found = Some(who.clone());
            }
        }
        found
    }
}

impl Authenticate for TokenFile {
    fn authenticate(&self, authorization: Option<&HeaderValue>) -> Option<Principal> {
        let token = bearer(authorization)?;
        if !token.starts_with(PREFIX) {
            return None;
        }
        let hash = sha256(token);
        self.refresh(false);
        if let Some(who) = self.find(&hash) {
            return Some(who);
        }
        // Perhaps made a moment ago: look at the file now rather than within a second.
        // Unknown tokens are counted by the failed-auth limit, which bounds this.
        let before = self.lock().stamp;
        if stamp(&self.path) != before {
            self.refresh(true);
            return self.find(&hash);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "vigil-tokens-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn auth(token: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
    }

    #[test]
    fn created_tokens_are_stored_as_hashes_in_a_private_file() {
        let dir = temp_dir("create").join("data");
        let (token, rec) = create(
            &dir,
            NewToken {
                role: Role::Operator,
                tenant: Some("acme".into()),
                name: Some("soc-1".into()),
            },
        )
        .unwrap();
        assert!(token.starts_with(PREFIX));
        assert_eq!(token.len(), PREFIX.len() + 43, "32 bytes, base64url");
        let path = path_in(&dir);
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&token));
        assert!(!text.contains(&token[PREFIX.len()..]));
        assert!(text.contains(&rec.sha256));
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o750);
        assert_eq!(list(&dir).unwrap(), vec![rec.clone()]);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);

        let tf = TokenFile::new(&dir);
        let who = tf.authenticate(Some(&auth(&token))).unwrap();
        assert_eq!(who.role, Role::Operator);
        assert_eq!(who.tenant.as_deref(), Some("acme"));
        assert_eq!(who.subject, format!("soc-1 ({})", rec.id));
        assert_eq!(tf.authenticate(Some(&auth("vgl_nope"))), None);
        assert_eq!(tf.authenticate(Some(&auth(&token[1..]))), None);
        assert_eq!(tf.authenticate(None), None);
        let _ = fs::remove_dir_all(dir.parent().unwrap());
    }

    #[test]
    fn the_daemon_follows_the_file_while_it_runs() {
        let dir = temp_dir("reload");
        let tf = TokenFile::new(&dir);
        assert!(tf.is_empty());
        let new = |role| NewToken {
            role,
            tenant: None,
            name: None,
        };
        // Made after the daemon started: accepted at once (unknown tokens look at the file).
        let (t1, r1) = create(&dir, new(Role::Viewer)).unwrap();
        assert_eq!(
            tf.authenticate(Some(&auth(&t1))).unwrap().role,
            Role::Viewer
        );
        let (t2, _) = create(&dir, new(Role::Admin)).unwrap();
        assert_eq!(tf.authenticate(Some(&auth(&t2))).unwrap().role, Role::Admin);
        assert_eq!(tf.len(), 2);
        // Revoked: refused once the daemon looks again (at most a second later).
        revoke(&dir, &r1.id).unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert_eq!(tf.authenticate(Some(&auth(&t1))), None);
        assert!(tf.authenticate(Some(&auth(&t2))).is_some());
        assert!(matches!(
            revoke(&dir, &r1.id),
            Err(TokenError::NoSuchToken { .. })
        ));
        // A broken file accepts nothing (fail closed), a fixed one works again.
        let good = fs::read(path_in(&dir)).unwrap();
        fs::write(path_in(&dir), b"{not json").unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert_eq!(tf.authenticate(Some(&auth(&t2))), None);
        fs::write(path_in(&dir), good).unwrap();
        assert!(tf.authenticate(Some(&auth(&t2))).is_some());
        // So does a file that others may write (and so mint tokens with).
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path_in(&dir), fs::Permissions::from_mode(0o666)).unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert_eq!(tf.authenticate(Some(&auth(&t2))), None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_creates_lose_no_token() {
        let dir = temp_dir("concurrent");
        let made: Vec<TokenRecord> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let new = NewToken {
                            role: Role::Viewer,
                            tenant: None,
                            name: None,
                        };
                        create(&dir, new).unwrap().1
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let stored = list(&dir).unwrap();
        assert_eq!(stored.len(), made.len());
        assert!(made.iter().all(|m| stored.contains(m)));
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no lock or temp left"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_and_tenants_are_checked() {
        let dir = temp_dir("names");
        let e = create(
            &dir,
            NewToken {
                role: Role::Viewer,
                tenant: Some("acme corp".into()),
                name: None,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("tenant `acme corp`"), "{e}");
        assert!(!path_in(&dir).exists());
    }

    #[test]
    fn hashes_compare_whole() {
        let a = sha256("vgl_a");
        let mut b = a;
        assert!(same(&a, &b));
        b[31] ^= 1;
        assert!(!same(&a, &b));
        assert_eq!(hex::decode_array::<32>(&hex::encode(&a)), Some(a));
        assert_eq!(hex::decode_array::<32>("zz"), None);
    }
}
