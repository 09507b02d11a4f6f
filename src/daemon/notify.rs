//! systemd's readiness protocol (`Type=notify`): one datagram such as `READY=1` to the Unix
//! socket named by `NOTIFY_SOCKET`, written directly so that vigil needs no libsystemd.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `state` (`READY=1`, `RELOADING=1`, `STOPPING=1`, `STATUS=...`) to systemd. Returns
/// `Ok(false)` when vigil does not run under systemd's notify protocol.
pub fn notify(state: &str) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let path = path.as_bytes();
    let sock = UnixDatagram::unbound()?;
    // `@name` is a socket in the abstract namespace.
    let addr = match path.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(path))?,
    };
    sock.send_to_addr(state.as_bytes(), &addr)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn silent_without_a_socket() {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            assert!(!super::notify("READY=1").unwrap());
        }
    }
}
