//! `swctl check`: connectivity of a topology, tested with real packets from
//! inside the namespaces. Which pairs to test comes from the desired state:
//! hosts on the same switch or link with an address in the same subnet, the
//! switch's own address, and whatever a host's routes promise. ICMP echo
//! (IPv4 and IPv6) on raw sockets opened by one thread per source
//! namespace; every request is retried until a deadline, so the whole check
//! is bounded in time.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use serde::Serialize;

use crate::model::names::{Cidr, NsName, RouteDest};
use crate::model::{Desired, Key};

/// One thing to test: `from` should reach `to`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Probe {
    pub from: NsName,
    pub to: IpAddr,
    /// who has the address (a host, `host`, or a switch)
    pub owner: String,
    /// why it should be reachable: `switch sw0`, `link`, `route default`
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub probe: Probe,
    pub ok: bool,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
}

fn same_subnet(a: &Cidr, b: &IpAddr) -> bool {
    a.contains(b)
}

/// The host's neighbour-table limit. The ARP table is one table for all
/// network namespaces (net.ipv4.neigh.default.gc_thresh3, 1024 by
/// default); every probed pair puts an entry on both sides, so a full
/// mesh of more than ~30 hosts overflows it ("neighbor table overflow!")
/// and most probes are dropped.
pub fn neighbour_limit() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

/// The probes to run: the full mesh when it fits in half the neighbour
/// table (or when `full` is asked for), else a ring per segment (each host
/// to its next and previous neighbour, so every host is tested as sender
/// and receiver) plus one target per remote segment reached by a route.
/// The second value says why the mesh was reduced.
pub fn plan_probes(d: &Desired, full: bool) -> (Vec<Probe>, Option<String>) {
    let all = probes(d);
    let limit = neighbour_limit();
    if full || all.len() * 4 <= limit {
        return (all, None);
    }
    let mut by_seg: BTreeMap<String, BTreeSet<NsName>> = BTreeMap::new();
    for p in &all {
        if !p.why.starts_with("route") {
            by_seg
                .entry(p.why.clone())
                .or_default()
                .insert(p.from.clone());
        }
    }
    let mut keep: BTreeSet<(NsName, String)> = BTreeSet::new();
    for (seg, hosts) in &by_seg {
        let v: Vec<&NsName> = hosts.iter().collect();
        for (i, h) in v.iter().enumerate() {
            for j in [(i + 1) % v.len(), (i + v.len() - 1) % v.len()] {
                keep.insert(((*h).clone(), format!("{seg}|{}", v[j])));
            }
        }
    }
    let mut remote_seen: BTreeSet<(NsName, String)> = BTreeSet::new();
    let reduced: Vec<Probe> = all
        .iter()
        .filter(|p| {
            if p.why.starts_with("route") {
                // one target per (source, owner's first address family and route)
                remote_seen.insert((p.from.clone(), format!("{}{}", p.why, p.to.is_ipv4())))
            } else {
                // ring neighbours, and every host still reaches its switch's own address
                keep.contains(&(p.from.clone(), format!("{}|{}", p.why, p.owner)))
                    || p.owner.starts_with("switch ")
            }
        })
        .cloned()
        .collect();
    let why = format!(
        "the full mesh is {} probes, more than the host's neighbour table allows (net.ipv4.neigh.default.gc_thresh3 = {limit}): testing {} (a ring per switch and one target per route); --full tests every pair",
        all.len(),
        reduced.len()
    );
    (reduced, Some(why))
}

/// Every pair the desired state promises (the full mesh).
pub fn probes(d: &Desired) -> Vec<Probe> {
    // every address, by owner, with the segment it sits on
    struct Addr {
        host: Option<NsName>,
        owner: String,
        cidr: Cidr,
        segment: String,
    }
    let mut addrs: Vec<Addr> = Vec::new();
    for p in &d.ports {
        for c in &p.addrs {
            addrs.push(Addr {
                host: Some(p.ns.clone()),
                owner: p.ns.to_string(),
                cidr: *c,
                segment: format!("switch {}", p.switch),
            });
        }
    }
    for (name, s) in &d.switches {
        for c in &s.addrs {
            addrs.push(Addr {
                host: s.loc.ns().cloned(),
                owner: format!("switch {name}"),
                cidr: *c,
                segment: format!("switch {name}"),
            });
        }
    }
    for l in &d.links {
        let seg = match Key::link(&l.a, &l.b) {
            Key::Link { a, b } => format!("link {a}<->{b}"),
            _ => unreachable!("Key::link makes a link key"),
        };
        for (loc, cs) in [(&l.a, &l.a_addrs), (&l.b, &l.b_addrs)] {
            for c in cs {
                addrs.push(Addr {
                    host: loc.ns().cloned(),
                    owner: loc.to_string(),
                    cidr: *c,
                    segment: seg.clone(),
                });
            }
        }
    }
    let mut out: BTreeMap<(NsName, IpAddr), Probe> = BTreeMap::new();
    let hosts: BTreeSet<&NsName> = addrs.iter().filter_map(|a| a.host.as_ref()).collect();
    for from in hosts {
        let mine: Vec<&Addr> = addrs
            .iter()
            .filter(|a| a.host.as_ref() == Some(from))
            .collect();
        for t in &addrs {
            if t.host.as_ref() == Some(from) {
                continue;
            }
            let key = (from.clone(), t.cidr.addr);
            if out.contains_key(&key) {
                continue;
            }
            // directly: same segment, same subnet
            let direct = mine
                .iter()
                .any(|m| m.segment == t.segment && same_subnet(&m.cidr, &t.cidr.addr));
            let why = if direct {
                Some(t.segment.clone())
            } else {
                // through a route of `from`
                d.namespaces.get(from).and_then(|spec| {
                    spec.routes.iter().find_map(|r| {
                        let covers = match r.dest {
                            RouteDest::Default => r.via.is_ipv4() == t.cidr.addr.is_ipv4(),
                            RouteDest::Net(n) => n.contains(&t.cidr.addr),
                        };
                        covers.then(|| format!("route {} via {}", r.dest, r.via))
                    })
                })
            };
            if let Some(why) = why {
                out.insert(
                    key,
                    Probe {
                        from: from.clone(),
                        to: t.cidr.addr,
                        owner: t.owner.clone(),
                        why,
                    },
                );
            }
        }
    }
    out.into_values().collect()
}

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
fn from_namespace(
    ns: &NsName,
    targets: &[IpAddr],
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
    let start = Instant::now();
    let deadline = start + timeout;
    // At most WINDOW probes in flight per namespace: a full mesh of 200
    // hosts is 39,800 probes, and sending them all at once floods every
    // port with ARP broadcasts until most of them are dropped.
    const WINDOW: usize = 8;
    let mut last: Vec<Option<Instant>> = vec![None; targets.len()];
    while Instant::now() < deadline && res.iter().any(|r| r.is_none()) {
        let mut inflight = (0..targets.len())
            .filter(|&i| res[i].is_none() && last[i].is_some())
            .count();
        for (i, t) in targets.iter().enumerate() {
            if res[i].is_some() {
                continue;
            }
            let due = match last[i] {
                Some(at) => at.elapsed() >= Duration::from_millis(250),
                None if inflight < WINDOW => {
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
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(50));
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
            if rid == id && i < targets.len() && targets[i] == src && res[i].is_none() {
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

/// The probes of one source namespace and their results.
type NsResults<'a> = (Vec<&'a Probe>, Vec<Result<Duration, String>>);

/// Run all probes: one thread per source namespace, all in parallel.
pub fn run(probes: &[Probe], timeout: Duration) -> Vec<Outcome> {
    let mut by_ns: BTreeMap<&NsName, Vec<&Probe>> = BTreeMap::new();
    for p in probes {
        by_ns.entry(&p.from).or_default().push(p);
    }
    let results: Vec<NsResults> = std::thread::scope(|s| {
        let handles: Vec<_> = by_ns
            .into_iter()
            .map(|(ns, ps)| {
                s.spawn(move || {
                    let targets: Vec<IpAddr> = ps.iter().map(|p| p.to).collect();
                    let r = from_namespace(ns, &targets, timeout);
                    (ps, r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| (vec![], vec![])))
            .collect()
    });
    let mut out: Vec<Outcome> = results
        .into_iter()
        .flat_map(|(ps, rs)| {
            ps.into_iter().zip(rs).map(|(p, r)| Outcome {
                probe: p.clone(),
                ok: r.is_ok(),
                rtt_ms: r.as_ref().ok().map(|d| d.as_secs_f64() * 1000.0),
                error: r.err(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.probe.cmp(&b.probe));
    out
}
