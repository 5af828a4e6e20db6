//! External programs some tests drive (Debian packages that `scripts/test.sh` installs):
//! found on PATH, or the test fails saying what to install.

use std::path::PathBuf;

/// The first of `names` on PATH.
pub fn program(names: &[&str], package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "none of {names:?} on PATH: install the Debian package `{package}` (scripts/test.sh does)"
    )
}

/// A TCP port free on loopback right now, for a server that cannot report the one it got.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}
