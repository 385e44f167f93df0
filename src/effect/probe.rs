//! ICMP echo from inside namespaces, with real packets: raw sockets (IPv4
//! and IPv6) opened on a thread that entered each source namespace, at most
//! a few echoes in flight per namespace, each repeated until it is answered
//! or the deadline passes (`ping -c1 -W` for many pairs at once).

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

use crate::model::names::NsName;

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn raw_socket(v6: bool) -> io::Result<OwnedFd> {
    let (fam, proto) = if v6 {
        (libc::AF_INET6, libc::IPPROTO_ICMPV6)
    } else {
        (libc::AF_INET, libc::IPPROTO_ICMP)
    };
    // SAFETY: plain socket(2); the fd is owned by the returned OwnedFd.
    let fd = unsafe {
        libc::socket(
            fam,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket(2).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn send_echo(fd: &OwnedFd, to: IpAddr, id: u16, seq: u16) -> io::Result<()> {
    let v6 = to.is_ipv6();
    let mut pkt = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    pkt.extend_from_slice(&id.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(b"swctl-check-----");
    if !v6 {
        // the kernel fills the ICMPv6 checksum itself
        let c = checksum(&pkt);
        pkt[2..4].copy_from_slice(&c.to_be_bytes());
    }
    let sa: socket2_addr::Addr = SocketAddr::new(to, 0).into();
    // SAFETY: buffer and address are valid for the duration of the call.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            pkt.as_ptr() as *const libc::c_void,
            pkt.len(),
            0,
            sa.ptr(),
            sa.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A sockaddr for sendto, without another crate.
mod socket2_addr {
    use std::net::SocketAddr;

    pub enum Addr {
        V4(libc::sockaddr_in),
        V6(libc::sockaddr_in6),
    }

    impl From<SocketAddr> for Addr {
        fn from(a: SocketAddr) -> Addr {
            match a {
                SocketAddr::V4(a) => {
                    // SAFETY: an all-zero sockaddr_in is valid.
                    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                    s.sin_family = libc::AF_INET as libc::sa_family_t;
                    s.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
                    Addr::V4(s)
                }
                SocketAddr::V6(a) => {
                    // SAFETY: an all-zero sockaddr_in6 is valid.
                    let mut s: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
                    s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    s.sin6_addr.s6_addr = a.ip().octets();
                    Addr::V6(s)
                }
            }
        }
    }

    impl Addr {
        pub fn ptr(&self) -> *const libc::sockaddr {
            match self {
                Addr::V4(s) => s as *const _ as *const libc::sockaddr,
                Addr::V6(s) => s as *const _ as *const libc::sockaddr,
            }
        }
        pub fn len(&self) -> libc::socklen_t {
            (match self {
                Addr::V4(_) => std::mem::size_of::<libc::sockaddr_in>(),
                Addr::V6(_) => std::mem::size_of::<libc::sockaddr_in6>(),
            }) as libc::socklen_t
        }
    }
}

/// Read every waiting echo reply: (source, id, seq).
fn drain_replies(fd: &OwnedFd, v6: bool, out: &mut Vec<(IpAddr, u16, u16)>) {
    let mut buf = [0u8; 2048];
    loop {
        // SAFETY: an all-zero sockaddr_storage is valid; recvfrom writes at most its size.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut sl = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: buffer and address storage are valid and sized.
        let n = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
                &mut ss as *mut _ as *mut libc::sockaddr,
                &mut sl,
            )
        };
        if n <= 0 {
            return;
        }
        let n = n as usize;
        let (icmp, src) = if v6 {
            // SAFETY: the kernel filled an AF_INET6 address.
            let sa = unsafe { &*(&ss as *const _ as *const libc::sockaddr_in6) };
            (&buf[..n], IpAddr::from(sa.sin6_addr.s6_addr))
        } else {
            // IPv4 raw sockets deliver the IP header too
            let ihl = ((buf[0] & 0x0f) as usize) * 4;
            if n < ihl + 8 {
                continue;
            }
            let src = IpAddr::from([buf[12], buf[13], buf[14], buf[15]]);
            (&buf[ihl..n], src)
        };
        if icmp.len() < 8 {
            continue;
        }
        let reply = if v6 { 129 } else { 0 };
        if icmp[0] != reply {
            continue;
        }
        let id = u16::from_be_bytes([icmp[4], icmp[5]]);
        let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
        out.push((src, id, seq));
    }
}

/// Ping every target from inside `ns`; one result per target.
pub fn from_namespace(
    ns: &NsName,
    targets: &[(IpAddr, Instant)],
    deadline: Instant,
    timeout: Duration,
) -> Vec<Result<Duration, String>> {
    let file = match crate::effect::kernel::netns::open(ns) {
        Ok(f) => f,
        Err(e) => return targets.iter().map(|_| Err(e.to_string())).collect(),
    };
    if let Err(e) = setns(file.as_fd(), CloneFlags::CLONE_NEWNET) {
        return targets.iter().map(|_| Err(format!("setns: {e}"))).collect();
    }
    let id =
        (std::process::id() as u16) ^ (crate::model::names::stable_hash(&[ns.as_str()]) as u16);
    let socks = [raw_socket(false), raw_socket(true)];
    let mut res: Vec<Option<Result<Duration, String>>> = vec![None; targets.len()];
    let mut sent_at: Vec<Option<Instant>> = vec![None; targets.len()];
    // At most WINDOW probes in flight per namespace: a full mesh of 200
    // hosts is 39,800 probes, and sending them all at once floods every
    // port with ARP broadcasts until most of them are dropped.
    const WINDOW: usize = 8;
    let mut last: Vec<Option<Instant>> = vec![None; targets.len()];
    while Instant::now() < deadline && res.iter().any(|r| r.is_none()) {
        let mut inflight = (0..targets.len())
            .filter(|&i| res[i].is_none() && last[i].is_some())
            .count();
        let now = Instant::now();
        for (i, (t, not_before)) in targets.iter().enumerate() {
            if res[i].is_some() {
                continue;
            }
            let due = match last[i] {
                Some(at) => at.elapsed() >= Duration::from_millis(250),
                None if inflight < WINDOW && now >= *not_before => {
                    inflight += 1;
                    true
                }
                None => false,
            };
            if !due {
                continue;
            }
            match &socks[t.is_ipv6() as usize] {
                Ok(fd) => {
                    if let Err(e) = send_echo(fd, *t, id, i as u16) {
                        // no route and the like are final answers
                        if e.raw_os_error() != Some(libc::EAGAIN) {
                            res[i] = Some(Err(e.to_string()));
                        }
                    } else if sent_at[i].is_none() {
                        sent_at[i] = Some(Instant::now());
                    }
                    last[i] = Some(Instant::now());
                }
                Err(e) => res[i] = Some(Err(format!("raw socket: {e}"))),
            }
        }
        // wait for replies on both sockets
        let mut fds: Vec<libc::pollfd> = socks
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let next_start = targets
            .iter()
            .enumerate()
            .filter(|(i, (_, nb))| last[*i].is_none() && *nb > now)
            .map(|(_, (_, nb))| nb.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_millis(50));
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(50))
            .min(next_start.max(Duration::from_millis(1)));
        // SAFETY: fds is a valid array of pollfd.
        unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis() as i32,
            )
        };
        let mut got = Vec::new();
        for (v6, s) in [(false, &socks[0]), (true, &socks[1])] {
            if let Ok(fd) = s {
                drain_replies(fd, v6, &mut got);
            }
        }
        for (src, rid, seq) in got {
            let i = seq as usize;
            if rid == id && i < targets.len() && targets[i].0 == src && res[i].is_none() {
                res[i] = Some(Ok(sent_at[i].map_or(Duration::ZERO, |t| t.elapsed())));
            }
        }
    }
    res.into_iter()
        .map(|r| {
            r.unwrap_or_else(|| Err(format!("no answer within {:.1} s", timeout.as_secs_f64())))
        })
        .collect()
}

/// The indexes of one namespace's pairs, and their results.
type NsResults = (Vec<usize>, Vec<Result<Duration, String>>);

/// Send an echo from each `(namespace, address, offset)` (not before
/// `offset` from now) and wait for the replies, `timeout` each, one thread
/// per source namespace, all in parallel; for each the round-trip time or
/// why there was none, in the order given. Offsets pace the first echoes:
/// each may need an ARP broadcast, and on a big segment a burst of them
/// overflows the receivers' backlog (measured: a 1000-port bridge drops
/// millions of frames when 500 resolve at once).
pub fn ping_all(
    pairs: &[(NsName, IpAddr, Duration)],
    timeout: Duration,
) -> Vec<Result<Duration, String>> {
    let start = Instant::now();
    let last = pairs.iter().map(|p| p.2).max().unwrap_or_default();
    let deadline = start + last + timeout;
    let mut by_ns: BTreeMap<&NsName, Vec<usize>> = BTreeMap::new();
    for (i, (ns, _, _)) in pairs.iter().enumerate() {
        by_ns.entry(ns).or_default().push(i);
    }
    let mut out: Vec<Option<Result<Duration, String>>> = vec![None; pairs.len()];
    let results: Vec<NsResults> = std::thread::scope(|s| {
        let handles: Vec<_> = by_ns
            .into_iter()
            .map(|(ns, idx)| {
                s.spawn(move || {
                    let targets: Vec<(IpAddr, Instant)> = idx
                        .iter()
                        .map(|&i| (pairs[i].1, start + pairs[i].2))
                        .collect();
                    let r = from_namespace(ns, &targets, deadline, timeout);
                    (idx, r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| (vec![], vec![])))
            .collect()
    });
    for (idx, rs) in results {
        for (i, r) in idx.into_iter().zip(rs) {
            out[i] = Some(r);
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err("the probing thread died".into())))
        .collect()
}
