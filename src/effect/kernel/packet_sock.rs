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

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

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

/// One of ovs-vswitchd's AF_PACKET sockets: its process (a pidfd), its
/// descriptor number there, its inode (to tell a number reused for
/// another socket).
#[derive(Clone)]
struct Socket {
    pidfd: Arc<OwnedFd>,
    fd: i32,
    inode: u64,
}

/// ovs-vswitchd's AF_PACKET sockets in this namespace, by the interface
/// each is bound to: read at once (`/proc/PID/net/packet`: `sk RefCnt
/// Type Proto Iface R Rmem User Inode`, and `/proc/PID/fd`), so that many
/// ports cost one pass, not one each.
fn snapshot() -> io::Result<HashMap<u32, Vec<Socket>>> {
    let mut out: HashMap<u32, Vec<Socket>> = HashMap::new();
    for pid in vswitchds_here() {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/packet")) else {
            continue;
        };
        let bound: HashMap<u64, u32> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((f.get(8)?.parse().ok()?, f.get(4)?.parse().ok()?))
            })
            .filter(|(_, ifindex)| *ifindex != 0)
            .collect();
        if bound.is_empty() {
            continue;
        }
        // SAFETY: pidfd_open takes a pid and flags, returns a new descriptor
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if pidfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor we just opened and own
        let pidfd = Arc::new(unsafe { OwnedFd::from_raw_fd(pidfd as i32) });
        for e in std::fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
            let Ok(target) = std::fs::read_link(e.path()) else {
                continue;
            };
            let inode = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok());
            let fd = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok());
            if let (Some(inode), Some(fd)) = (inode, fd)
                && let Some(ifindex) = bound.get(&inode)
            {
                out.entry(*ifindex).or_default().push(Socket {
                    pidfd: pidfd.clone(),
                    fd,
                    inode,
                });
            }
        }
    }
    Ok(out)
}

/// A copy of ours of socket `s` (`pidfd_getfd`), if it is still that
/// socket.
fn copy(s: &Socket) -> io::Result<Option<OwnedFd>> {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_getfd(pidfd, targetfd, flags) returns a new descriptor
    // of ours for the target's open file
    let mine = unsafe { libc::syscall(libc::SYS_pidfd_getfd, s.pidfd.as_raw_fd(), s.fd, 0) };
    if mine < 0 {
        let e = io::Error::last_os_error();
        // the process or the descriptor is gone: not that socket any more
        return match e.raw_os_error() {
            Some(libc::ESRCH) | Some(libc::EBADF) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: a descriptor the kernel just gave us
    let fd = unsafe { OwnedFd::from_raw_fd(mine as i32) };
    let same = nix::sys::stat::fstat(&fd).is_ok_and(|st| st.st_ino == s.inode);
    Ok(same.then_some(fd))
}

/// The sockets `grow` found last: a plan grows one port at a time, and a
/// pass over ovs-vswitchd's descriptors per port would cost as many
/// passes as ports (1000 ports: a million readlinks). Read again when a
/// device is not in it or a socket changed.
static KNOWN: Mutex<Option<HashMap<u32, Vec<Socket>>>> = Mutex::new(None);

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

/// The receive buffers of ovs-vswitchd's sockets of each of `devs`
/// (devices of this namespace), the smallest where it has several (as
/// SO_RCVBUF says: twice what was set); a device it has no socket of (not
/// its port, or not a socket-read port) is left out. One pass for all.
pub fn sizes(devs: &[&str]) -> io::Result<BTreeMap<String, usize>> {
    let all = snapshot()?;
    let mut out = BTreeMap::new();
    for dev in devs {
        let Ok(index) = ifindex(dev) else { continue };
        for s in all.get(&index).into_iter().flatten() {
            if let Some(fd) = copy(s)? {
                let b = rcvbuf(&fd)?;
                let min = out.entry(dev.to_string()).or_insert(b);
                *min = (*min).min(b);
            }
        }
    }
    *KNOWN.lock().unwrap_or_else(|e| e.into_inner()) = Some(all);
    Ok(out)
}

/// Set SO_RCVBUFFORCE `BYTES` on one socket.
fn force(fd: &OwnedFd) -> io::Result<()> {
    super::set_int_opt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        BYTES as libc::c_int,
    )
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
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    for fresh in [false, true] {
        if fresh || known.as_ref().is_none_or(|k| !k.contains_key(&index)) {
            *known = Some(snapshot().map_err(err)?);
        }
        let sockets = known
            .as_ref()
            .and_then(|k| k.get(&index))
            .cloned()
            .unwrap_or_default();
        let mut n = 0;
        let mut stale = false;
        for s in &sockets {
            match copy(s).map_err(err)? {
                Some(fd) => {
                    force(&fd).map_err(err)?;
                    n += 1;
                }
                None => stale = true,
            }
        }
        // a socket that changed since: read them again, once
        if n > 0 && (!stale || fresh) {
            return Ok(n);
        }
    }
    Err(NlError::Request {
        words: "ovs-vswitchd has no receive socket of it here (not its port yet?)".into(),
        errno: libc::ENOENT,
        op,
    })
}
