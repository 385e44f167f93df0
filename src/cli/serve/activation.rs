//! Socket activation (sd_listen_fds(3)): the listening Unix socket a
//! service manager hands `swctl serve` — systemd's `swctl.socket` owning
//! /run/swctl/api.sock, or `systemd-socket-activate -l PATH swctl serve` —
//! taken as fd 3 when `LISTEN_PID` is this process and `LISTEN_FDS` is 1.
//! Nothing handed: None, and `serve` binds its socket itself.

use std::os::fd::FromRawFd;

/// The first fd a service manager passes (SD_LISTEN_FDS_START).
const FIRST: i32 = 3;

/// The Unix listener handed to this process, when one was.
pub(super) fn listener() -> std::io::Result<Option<tokio::net::UnixListener>> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        == Some(std::process::id());
    let n: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    if !ours || n < 1 {
        return Ok(None);
    }
    if n > 1 {
        return Err(std::io::Error::other(format!(
            "{n} sockets handed (LISTEN_FDS): swctl serve takes one, a Unix stream socket"
        )));
    }
    // (the variables stay: a child's pid is not LISTEN_PID, so nothing it
    // runs takes them for its own)
    // SAFETY: fd 3 is the listening socket the manager passed to this
    // process (LISTEN_PID is ours); nothing else in it owns the fd
    let std_l = unsafe { std::os::unix::net::UnixListener::from_raw_fd(FIRST) };
    std_l.set_nonblocking(true)?;
    // SAFETY: as above; FD_CLOEXEC so the processes swctl starts do not
    // inherit the API's socket
    unsafe {
        libc::fcntl(FIRST, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    tokio::net::UnixListener::from_std(std_l).map(Some)
}
