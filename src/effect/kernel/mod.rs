//! The real kernel behind the `Netlink` and `Namespaces` effect traits: one
//! rtnetlink connection per namespace, opened on a thread that entered the
//! namespace (`netns::run_in`) and then driven from tokio. Messages are
//! built from netlink-packet-route types and sent through rtnetlink's
//! `Handle::request`, so swctl controls every attribute (e.g.
//! IFLA_NET_NS_FD on the veth peer) and sees every errno (`links`); dumps
//! are parsed in `dump`; SIOCETHTOOL in `ethtool`; named namespaces in
//! `netns`.

pub mod adopt;
mod dump;
pub mod ethtool;
pub mod events;
mod links;
pub mod netns;
pub mod packet_sock;
mod part;
mod rawlinks;
pub mod rcu;
pub mod tc;
mod vxlan;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Mutex;

use futures::StreamExt;
use netlink_packet_core::{NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::Handle;

use self::netns::NsError;
use crate::effect::{Namespaces, NlError, words};
use crate::model::names::{Loc, NsName, Owner};

/// The real kernel: one rtnetlink connection per namespace, opened lazily
/// (or handed over by namespace creation), driven from tokio.
pub struct Kernel {
    pub(super) handles: Mutex<HashMap<Loc, Handle>>,
    /// ifindex by (namespace, name); filled by dumps and look-ups
    pub(super) index: Mutex<HashMap<(Loc, String), u32>>,
    /// the host's namespace, for veth peers that go back to it
    host_ns: File,
    /// the pending marks, read once (at the first dump) per command
    pub(super) pending: std::sync::OnceLock<HashMap<(String, String), String>>,
    /// marks this process wrote on their devices (location, device,
    /// alias): no longer pending once its changes are applied
    pub(super) written: Mutex<Vec<(String, String, String)>>,
}

impl Kernel {
    /// Must be called from the thread that is in the host namespace.
    pub fn new() -> Result<Kernel, NlError> {
        let host_ns = File::open("/proc/thread-self/ns/net")
            .map_err(|e| NlError::Socket("host".into(), e))?;
        Ok(Kernel {
            handles: Mutex::new(HashMap::new()),
            index: Mutex::new(HashMap::new()),
            host_ns,
            pending: std::sync::OnceLock::new(),
            written: Mutex::new(Vec::new()),
        })
    }

    pub(super) fn adopt(&self, loc: Loc, fd: OwnedFd) -> Handle {
        // SAFETY: we own fd; TokioSocket takes it over.
        let sock = unsafe { netlink_sys::TokioSocket::from_raw_fd(fd.into_raw_fd()) };
        let (conn, handle, _) = rtnetlink::from_socket(sock);
        tokio::spawn(conn);
        self.handles
            .lock()
            .expect("lock")
            .insert(loc, handle.clone());
        handle
    }

    /// Forget the socket of a namespace (so it does not keep it alive).
    pub fn forget(&self, loc: &Loc) {
        self.forget_all(&std::iter::once(loc.clone()).collect());
    }

    /// `forget` for many namespaces, in one pass over the index.
    pub fn forget_all(&self, locs: &std::collections::HashSet<Loc>) {
        let mut h = self.handles.lock().expect("lock");
        for l in locs {
            h.remove(l);
        }
        drop(h);
        self.index
            .lock()
            .expect("lock")
            .retain(|(l, _), _| !locs.contains(l));
    }

    pub(super) fn handle(&self, loc: &Loc) -> Result<Handle, NlError> {
        if let Some(h) = self.handles.lock().expect("lock").get(loc) {
            return Ok(h.clone());
        }
        let fd = netns::run_in(loc.ns(), netns::netlink_socket)?
            .map_err(|e| NlError::Socket(loc.to_string(), e))?;
        Ok(self.adopt(loc.clone(), fd))
    }

    /// Send one request; collect the answers; turn a NACK into an error.
    pub(super) async fn request(
        &self,
        loc: &Loc,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: impl Fn() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        self.request_map(loc, msg, flags, op, Some).await
    }

    /// `request`, each answer turned into a `T` (or dropped) as it arrives:
    /// a dump of 1000 links held whole as parsed messages was most of
    /// swctl's peak memory (massif: 20 of 27 MB, the link attributes).
    pub(super) async fn request_map<T>(
        &self,
        loc: &Loc,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: impl Fn() -> String,
        mut f: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> Result<Vec<T>, NlError> {
        crate::hook::crash_point();
        let mut handle = self.handle(loc)?;
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | flags;
        let mut resp = handle.request(req).map_err(|_| NlError::Closed(op()))?;
        let mut out = Vec::new();
        while let Some(m) = resp.next().await {
            match m.payload {
                NetlinkPayload::InnerMessage(inner) => out.extend(f(inner)),
                NetlinkPayload::Error(e) => {
                    if let Some(code) = e.code {
                        let errno = -code.get();
                        let op = op();
                        let w = words(errno, &op);
                        return Err(NlError::Request {
                            op,
                            errno,
                            words: w,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// ifindex of `name` in `loc` (`ip link show NAME`), cached.
    pub(super) async fn ifindex(&self, loc: &Loc, name: &str) -> Result<u32, NlError> {
        let key = (loc.clone(), name.to_string());
        if let Some(i) = self.index.lock().expect("lock").get(&key) {
            return Ok(*i);
        }
        let m = link_query(Some(name));
        let op = || format!("ip {}link show {name}", loc.ip_n());
        let resp = match self
            .request(loc, RouteNetlinkMessage::GetLink(m), 0, op)
            .await
        {
            Err(NlError::Request { errno, .. }) if errno == libc::ENODEV => {
                return Err(NlError::NoDevice(op()));
            }
            r => r?,
        };
        for r in resp {
            if let RouteNetlinkMessage::NewLink(l) = r {
                self.index.lock().expect("lock").insert(key, l.header.index);
                return Ok(l.header.index);
            }
        }
        Err(NlError::NoDevice(op()))
    }

    /// Whether device `name` is operationally up (`ip link show` says
    /// `state UP` or `UNKNOWN`): the kernel has also attached its queueing
    /// discipline by then. A veth end brought up before its peer gets
    /// both later, from the kernel's link-watch work, and drops what it is
    /// given to send until then (seen: a host's first ARP reply lost when
    /// it was pinged within a few ms of apply).
    pub(super) async fn oper_running(&self, loc: &Loc, name: &str) -> Result<bool, NlError> {
        use netlink_packet_route::link::State;
        let q = link_query(Some(name));
        let op = || format!("ip {}link show {name}", loc.ip_n());
        let resp = self
            .request(loc, RouteNetlinkMessage::GetLink(q), 0, op)
            .await?;
        Ok(resp.iter().any(|m| {
            matches!(m, RouteNetlinkMessage::NewLink(l) if l.attributes.iter().any(|a| {
                matches!(a, LinkAttribute::OperState(State::Up | State::Unknown))
            }))
        }))
    }

    pub(super) fn ns_fd(&self, loc: &Loc) -> Result<File, NlError> {
        match loc {
            Loc::Host => self
                .host_ns
                .try_clone()
                .map_err(|e| NlError::Socket("host".into(), e)),
            Loc::Ns(n) => Ok(netns::open(n)?),
        }
    }
}

impl Namespaces for Kernel {
    async fn create_ns(&self, names: &[NsName], owner: &Owner) -> Vec<Result<(), NlError>> {
        let socks = match netns::create_many(names, owner) {
            Ok(s) => s,
            Err(e) => {
                return names
                    .iter()
                    .map(|_| Err(NlError::Namespace(clone_ns_err(&e))))
                    .collect();
            }
        };
        // `lo` is up and marked already (netns::create_many); keep the
        // sockets opened inside for the steps that follow
        names
            .iter()
            .zip(socks)
            .map(|(n, s)| {
                self.adopt(Loc::Ns(n.clone()), s?);
                Ok(())
            })
            .collect()
    }

    async fn delete_ns(&self, names: &[NsName]) -> Vec<Result<(), NlError>> {
        let locs: std::collections::HashSet<Loc> =
            names.iter().map(|n| Loc::Ns(n.clone())).collect();
        self.forget_all(&locs);
        netns::delete_many(names)
            .into_iter()
            .zip(names)
            .map(|(r, n)| {
                // an adopted namespace's name went: the adoption is over
                // (the namespace lives on with its processes)
                if r.is_ok() {
                    adopt::forget(n);
                }
                r.map_err(NlError::Namespace)
            })
            .collect()
    }

    fn list_ns(&self) -> Result<Vec<NsName>, NlError> {
        Ok(netns::list()?)
    }

    fn set_forward(&self, ns: &NsName, on: bool) -> Result<(), NlError> {
        let v = if on { "1" } else { "0" };
        netns::sysctl_set(Some(ns), "net.ipv4.ip_forward", v)?;
        netns::sysctl_set(Some(ns), "net.ipv6.conf.all.forwarding", v)?;
        Ok(())
    }

    fn forward(&self, ns: &NsName) -> Result<bool, NlError> {
        Ok(netns::sysctl_get(Some(ns), "net.ipv4.ip_forward")? == "1")
    }

    fn set_sysctl(&self, loc: &Loc, key: &str, value: &str) -> Result<(), NlError> {
        Ok(netns::sysctl_set(loc.ns(), key, value)?)
    }

    fn sysctl(&self, loc: &Loc, key: &str) -> Result<String, NlError> {
        Ok(netns::sysctl_get(loc.ns(), key)?)
    }
}

/// `setsockopt(fd, level, name, &value)` of an int option.
pub(super) fn set_int_opt(
    fd: &std::os::fd::OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt with an int option on a descriptor we own
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// An `RTM_GETLINK` question: of the device `name`, or (None) of every
/// device (a dump). Without counters (`RTEXT_FILTER_SKIP_STATS`, as `ip
/// link` without `-s`): swctl reads none, and they are most of each
/// device's answer (IFLA_STATS64, IPv6's per-device statistics), filled by
/// the kernel under RTNL and parsed here (measured: `swctl attach` next to
/// 100 hosts spent a fifth of its time in the host's link dump).
pub(super) fn link_query(name: Option<&str>) -> LinkMessage {
    use netlink_packet_route::link::LinkExtentMask;
    let mut m = LinkMessage::default();
    if let Some(n) = name {
        m.attributes.push(LinkAttribute::IfName(n.into()));
    }
    m.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    m
}

fn clone_ns_err(e: &NsError) -> NsError {
    match e {
        NsError::PrepareRunDir(w, io) => {
            NsError::PrepareRunDir(w, io::Error::new(io.kind(), io.to_string()))
        }
        other => NsError::Enter("?".into(), io::Error::other(other.to_string())),
    }
}
