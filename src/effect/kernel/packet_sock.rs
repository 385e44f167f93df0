//! ovs-vswitchd's receive sockets of its veth ports, given room for TSO
//! packets.
//!
//! Why (measured here, OVS 3.1.0 userspace datapath with userspace TSO,
//! two namespaces on veth ports, iperf3 4 s): 10.3 Gbit/s with 274,108
//! retransmitted segments. The sender's port counted 87,831 packets in,
//! the receiver's 81,601 out, ovs-vswitchd's own counters no drop: the
//! packets were lost before it read them, on the AF_PACKET socket it
//! receives a port's packets on. OVS 3.1 opens that socket with the
//! default buffer (`net.core.rmem_default`, 212,992 bytes here;
//! lib/netdev-linux.c sets no SO_RCVBUF), room for about three 64 KB TSO
//! packets. With the same sockets made while `rmem_default` was 4 MiB:
//! 12.8 Gbit/s, 225 retransmits. `rmem_default` is one value for the
//! whole machine (not writable per network namespace on this kernel), so
//! swctl sets the buffer of exactly those sockets: it takes a copy of
//! each one's descriptor from ovs-vswitchd (`pidfd_getfd`, root only) and
//! sets SO_RCVBUFFORCE on it — the same socket, shared by both. There is
//! no ip/ovs-vsctl equivalent.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::effect::NlError;

/// The receive buffer a port's socket gets.
pub use crate::model::tso::RX_BUFFER as BYTES;

/// ovs-vswitchd processes in this process's network namespace.
fn vswitchds_here() -> Vec<i32> {
    let here = std::fs::read_link("/proc/self/ns/net").ok();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "ovs-vswitchd")
                && std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == here
        })
        .collect()
}

/// The inodes of the AF_PACKET sockets bound to interface `ifindex`, from
/// `/proc/PID/net/packet` (`sk RefCnt Type Proto Iface R Rmem User
/// Inode`).
fn bound_to(pid: i32, ifindex: u32) -> Vec<u64> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/packet")) else {
        return vec![];
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(4)?.parse::<u32>().ok()? == ifindex).then_some(())?;
            f.get(8)?.parse().ok()
        })
        .collect()
}

/// ovs-vswitchd's descriptors of those sockets, each as a copy of ours
/// (`pidfd_getfd`).
fn copies(pid: i32, inodes: &[u64]) -> io::Result<Vec<OwnedFd>> {
    let mut out = vec![];
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd"))?;
    // SAFETY: pidfd_open takes a pid and flags, returns a new descriptor
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened and own
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    for e in dir.flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        let Some(inode) = t
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if !inodes.contains(&inode) {
            continue;
        }
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_getfd(pidfd, targetfd, flags) returns a new
        // descriptor of ours for the target's open file
        let mine = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        if mine < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor the kernel just gave us
        out.push(unsafe { OwnedFd::from_raw_fd(mine as i32) });
    }
    Ok(out)
}

fn rcvbuf(fd: &OwnedFd) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into an int of the right size
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v as usize)
}

fn ifindex(dev: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(dev).map_err(io::Error::from)
}

/// The receive buffers of ovs-vswitchd's sockets for device `dev` of
/// this namespace (as SO_RCVBUF says: twice what was set); empty when
/// ovs-vswitchd has none (not its port, or not a socket-read port).
pub fn sizes(dev: &str) -> io::Result<Vec<usize>> {
    let index = ifindex(dev)?;
    let mut out = vec![];
    for pid in vswitchds_here() {
        let inodes = bound_to(pid, index);
        if inodes.is_empty() {
            continue;
        }
        for fd in copies(pid, &inodes)? {
            out.push(rcvbuf(&fd)?);
        }
    }
    Ok(out)
}

/// Give ovs-vswitchd's receive sockets of device `dev` `BYTES` of buffer;
/// how many sockets got it.
pub fn grow(dev: &str) -> Result<usize, NlError> {
    let op = format!("setsockopt SO_RCVBUFFORCE {BYTES} on ovs-vswitchd's socket of {dev}");
    let err = |e: io::Error| NlError::Request {
        words: e.to_string(),
        errno: e.raw_os_error().unwrap_or(0),
        op: op.clone(),
    };
    let index = ifindex(dev).map_err(err)?;
    let mut n = 0;
    for pid in vswitchds_here() {
        let inodes = bound_to(pid, index);
        if inodes.is_empty() {
            continue;
        }
        for fd in copies(pid, &inodes).map_err(err)? {
            use std::os::fd::AsRawFd;
            let v = BYTES as libc::c_int;
            // SAFETY: setsockopt of an int
            let r = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&v as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if r < 0 {
                return Err(err(io::Error::last_os_error()));
            }
            n += 1;
        }
    }
    if n == 0 {
        return Err(NlError::Request {
            words: "ovs-vswitchd has no receive socket of it here (not its port yet?)".into(),
            errno: libc::ENOENT,
            op,
        });
    }
    Ok(n)
}
