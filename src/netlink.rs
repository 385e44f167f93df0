//! The kernel effect layer: the narrow traits `Netlink` (links, addresses,
//! routes, dumps) and `Namespaces` (create, delete, sysctls), and `Kernel`,
//! their real implementation over rtnetlink with one netlink socket per
//! namespace. Messages are built here from netlink-packet-route types and
//! sent through rtnetlink's `Handle::request`, so swctl controls every
//! attribute (e.g. IFLA_NET_NS_FD on the veth peer) and sees every errno.
//!
//! Each method names its `ip` equivalent. Errors carry that command and the
//! errno in the user's words.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Mutex;

use futures::StreamExt;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    BridgeStpState, InfoBridge, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::Handle;

use crate::model::{LinkObs, LocObs, Mark, RouteObs};
use crate::names::{Cidr, Loc, NsName, Owner, RouteDest};
use crate::netns::{self, NsError};

/// A failed netlink request, in the user's words.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    #[error("`{op}` failed: {words}")]
    Request {
        op: String,
        errno: i32,
        words: String,
    },
    #[error("cannot open a netlink socket in namespace {0}")]
    Socket(String, #[source] io::Error),
    #[error(transparent)]
    Namespace(#[from] NsError),
    #[error("`{0}` failed: the netlink connection closed")]
    Closed(String),
    #[error("`{0}` failed: no such device")]
    NoDevice(String),
}

impl NlError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::Request { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// errno → words, with the context of the request that failed.
fn words(errno: i32, op: &str) -> String {
    let base = io::Error::from_raw_os_error(errno).to_string();
    let hint = match errno {
        libc::EEXIST => "it already exists",
        libc::ENODEV => "no such device",
        libc::EPERM | libc::EACCES => "permission denied: swctl must run as root (CAP_NET_ADMIN)",
        libc::ENETUNREACH if op.contains("route") => {
            "the gateway is not on a network this namespace is connected to"
        }
        libc::ESRCH if op.contains("route") => "no such route",
        libc::EADDRNOTAVAIL => "no such address on this device",
        libc::EOPNOTSUPP => "not supported by this kernel",
        libc::EINVAL if op.contains("netns") => {
            "invalid argument: the device cannot change namespace (a bridge is netns-local)"
        }
        libc::ENOSPC | libc::EMLINK => "too many devices",
        _ => "",
    };
    if hint.is_empty() {
        base
    } else {
        format!("{hint} ({base})")
    }
}

/// What `set_link` changes; None leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkChange {
    pub up: Option<bool>,
    pub master: Option<String>,
    pub alias: Option<String>,
    pub mtu: Option<u32>,
}

/// Link, address and route operations in one namespace (`ip -n NS ...`).
#[allow(async_fn_in_trait)]
pub trait Netlink {
    /// `ip link add NAME type bridge stp_state 0; ip link set NAME up alias A`
    async fn add_bridge(&self, loc: &Loc, name: &str, alias: &str) -> Result<(), NlError>;
    /// `ip link add NAME up [master M] type veth peer name PEER netns PEER_NS up`,
    /// then the aliases of both ends.
    #[allow(clippy::too_many_arguments)]
    async fn add_veth(
        &self,
        loc: &Loc,
        name: &str,
        peer_loc: &Loc,
        peer: &str,
        master: Option<&str>,
        alias: &str,
        peer_alias: &str,
    ) -> Result<(), NlError>;
    /// `ip link del NAME`
    async fn del_link(&self, loc: &Loc, name: &str) -> Result<(), NlError>;
    /// `ip link set NAME [up|down] [master M] [alias A]`
    async fn set_link(&self, loc: &Loc, name: &str, change: &LinkChange) -> Result<(), NlError>;
    /// `ip addr add CIDR dev DEV`
    async fn add_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError>;
    /// `ip addr del CIDR dev DEV`
    async fn del_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError>;
    /// `ip route add DEST via GW`
    async fn add_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError>;
    /// `ip route del DEST via GW`
    async fn del_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError>;
    /// `ip -j link; ip -j addr; ip -j route` in one namespace
    async fn dump(&self, loc: &Loc) -> Result<LocObs, NlError>;
    /// `ip link set DEV netns TO name NEW && ip -n TO link set NEW alias A up`
    /// (one RTM_SETLINK moves and renames)
    async fn move_link(
        &self,
        from: &Loc,
        dev: &str,
        to: &Loc,
        new_name: &str,
        alias: &str,
    ) -> Result<(), NlError>;
    /// `ethtool -K DEV tx on|off`
    async fn set_tx_csum(&self, loc: &Loc, dev: &str, on: bool) -> Result<(), NlError>;
}

/// Namespace lifecycle and per-namespace sysctls.
#[allow(async_fn_in_trait)]
pub trait Namespaces {
    /// `ip netns add NAME; ip -n NAME link set lo up`, for each name
    async fn create_ns(&self, names: &[NsName], owner: &Owner) -> Vec<Result<(), NlError>>;
    /// `ip netns del NAME`
    async fn delete_ns(&self, name: &NsName) -> Result<(), NlError>;
    /// `ip netns list`, with swctl's owner of each (None: not swctl's)
    fn list_ns(&self) -> Result<Vec<(NsName, Option<Owner>)>, NlError>;
    /// `ip netns exec NS sysctl -w net.ipv4.ip_forward=V` (and IPv6 forwarding)
    fn set_forward(&self, ns: &NsName, on: bool) -> Result<(), NlError>;
    /// `ip netns exec NS sysctl net.ipv4.ip_forward`
    fn forward(&self, ns: &NsName) -> Result<bool, NlError>;
    /// `[ip netns exec NS] sysctl -w KEY=VALUE` (KEY as a /proc/sys path)
    fn set_sysctl(&self, loc: &Loc, key: &str, value: &str) -> Result<(), NlError>;
}

/// The real kernel: one rtnetlink connection per namespace, opened lazily
/// (or handed over by namespace creation), driven from tokio.
pub struct Kernel {
    handles: Mutex<HashMap<Loc, Handle>>,
    /// ifindex by (namespace, name); filled by dumps and look-ups
    index: Mutex<HashMap<(Loc, String), u32>>,
    /// the host's namespace, for veth peers that go back to it
    host_ns: File,
    /// the default OVSDB server, when one answers (or why not)
    pub ovs: Result<crate::ovs::Ovs, String>,
    /// further OVSDB servers (switches with their own server)
    pub ovs_extra: Vec<crate::ovs::Ovs>,
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
            ovs: Err("not connected".into()),
            ovs_extra: Vec::new(),
        })
    }

    fn adopt(&self, loc: Loc, fd: OwnedFd) -> Handle {
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
        self.handles.lock().expect("lock").remove(loc);
        self.index
            .lock()
            .expect("lock")
            .retain(|(l, _), _| l != loc);
    }

    fn handle(&self, loc: &Loc) -> Result<Handle, NlError> {
        if let Some(h) = self.handles.lock().expect("lock").get(loc) {
            return Ok(h.clone());
        }
        let fd = netns::run_in(loc.ns(), netns::netlink_socket)?
            .map_err(|e| NlError::Socket(loc.to_string(), e))?;
        Ok(self.adopt(loc.clone(), fd))
    }

    /// Send one request; collect the answers; turn a NACK into an error.
    async fn request(
        &self,
        loc: &Loc,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: impl Fn() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        crate::apply::crash_point();
        let mut handle = self.handle(loc)?;
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | flags;
        let mut resp = handle.request(req).map_err(|_| NlError::Closed(op()))?;
        let mut out = Vec::new();
        while let Some(m) = resp.next().await {
            match m.payload {
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
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
    async fn ifindex(&self, loc: &Loc, name: &str) -> Result<u32, NlError> {
        let key = (loc.clone(), name.to_string());
        if let Some(i) = self.index.lock().expect("lock").get(&key) {
            return Ok(*i);
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        let op = || format!("ip {}link show {name}", ipn(loc));
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

    fn ns_fd(&self, loc: &Loc) -> Result<File, NlError> {
        match loc {
            Loc::Host => self
                .host_ns
                .try_clone()
                .map_err(|e| NlError::Socket("host".into(), e)),
            Loc::Ns(n) => Ok(netns::open(n)?),
        }
    }
}

fn ipn(loc: &Loc) -> String {
    match loc {
        Loc::Host => String::new(),
        Loc::Ns(n) => format!("-n {n} "),
    }
}

fn up_header(m: &mut LinkMessage, up: bool) {
    m.header.change_mask |= LinkFlags::Up;
    if up {
        m.header.flags |= LinkFlags::Up;
    }
}

fn addr_msg(index: u32, cidr: &Cidr) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = if cidr.addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.prefix_len = cidr.prefix;
    m.header.index = index;
    m.header.scope = AddressScope::Universe;
    if cidr.addr.is_ipv4() {
        m.attributes.push(AddressAttribute::Local(cidr.addr));
    } else {
        // No duplicate address detection: a lab address is usable at once
        // instead of staying "tentative" for a second or more.
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    m.attributes.push(AddressAttribute::Address(cidr.addr));
    m
}

fn route_msg(dest: &RouteDest, via: &IpAddr) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if via.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    // iproute2 marks routes the admin adds as `proto boot`.
    m.header.protocol = RouteProtocol::Boot;
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    if let RouteDest::Net(c) = dest {
        m.header.destination_prefix_length = c.prefix;
        m.attributes
            .push(RouteAttribute::Destination(route_addr(&c.addr)));
    }
    m.attributes.push(RouteAttribute::Gateway(route_addr(via)));
    m
}

fn route_addr(ip: &IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(*a),
        IpAddr::V6(a) => RouteAddress::Inet6(*a),
    }
}

fn from_route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

const CREATE: u16 = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

impl Netlink for Kernel {
    async fn add_bridge(&self, loc: &Loc, name: &str, alias: &str) -> Result<(), NlError> {
        let mut m = LinkMessage::default();
        up_header(&mut m, true);
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Bridge),
            // STP off, as people set it with `brctl stp BR off`: a lab bridge
            // must forward at once, not after 30 s of listening/learning.
            LinkInfo::Data(InfoData::Bridge(vec![InfoBridge::StpState(
                BridgeStpState::Disabled,
            )])),
        ]));
        write_pending(loc, name, alias);
        self.request(loc, RouteNetlinkMessage::NewLink(m), CREATE, || {
            format!("ip {}link add {name} type bridge", ipn(loc))
        })
        .await?;
        self.set_link(
            loc,
            name,
            &LinkChange {
                alias: Some(alias.into()),
                ..Default::default()
            },
        )
        .await
    }

    async fn add_veth(
        &self,
        loc: &Loc,
        name: &str,
        peer_loc: &Loc,
        peer: &str,
        master: Option<&str>,
        alias: &str,
        peer_alias: &str,
    ) -> Result<(), NlError> {
        let master_idx = match master {
            Some(m) => Some(self.ifindex(loc, m).await?),
            None => None,
        };
        let peer_fd = if peer_loc != loc {
            Some(self.ns_fd(peer_loc)?)
        } else {
            None
        };
        // The peer cannot be created UP: veth_open() answers ENOTCONN until
        // the first end is registered too. It is set up with its alias below.
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.into()));
        if let Some(f) = &peer_fd {
            // The peer is born in its namespace: no RTM_NEWLINK move later
            // (a move costs ~16 ms per link on this kernel).
            p.attributes.push(LinkAttribute::NetNsFd(f.as_raw_fd()));
        }
        let mut m = LinkMessage::default();
        up_header(&mut m, true);
        m.attributes.push(LinkAttribute::IfName(name.into()));
        if let Some(i) = master_idx {
            m.attributes.push(LinkAttribute::Controller(i));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        write_pending(loc, name, alias);
        write_pending(peer_loc, peer, peer_alias);
        self.request(loc, RouteNetlinkMessage::NewLink(m), CREATE, || {
            let netns = peer_loc
                .ns()
                .map(|n| format!(" netns {n}"))
                .unwrap_or_default();
            let master = master.map(|m| format!(" master {m}")).unwrap_or_default();
            format!(
                "ip {}link add {name}{master} type veth peer name {peer}{netns}",
                ipn(loc)
            )
        })
        .await?;
        drop(peer_fd);
        let a = LinkChange {
            alias: Some(alias.into()),
            ..Default::default()
        };
        let b = LinkChange {
            alias: Some(peer_alias.into()),
            up: Some(true),
            ..Default::default()
        };
        let (ra, rb) = futures::join!(
            self.set_link(loc, name, &a),
            self.set_link(peer_loc, peer, &b)
        );
        ra.and(rb)
    }

    async fn del_link(&self, loc: &Loc, name: &str) -> Result<(), NlError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        self.request(loc, RouteNetlinkMessage::DelLink(m), NLM_F_ACK, || {
            format!("ip {}link del {name}", ipn(loc))
        })
        .await?;
        self.index
            .lock()
            .expect("lock")
            .remove(&(loc.clone(), name.to_string()));
        Ok(())
    }

    async fn set_link(&self, loc: &Loc, name: &str, change: &LinkChange) -> Result<(), NlError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        let mut words = Vec::new();
        if let Some(up) = change.up {
            up_header(&mut m, up);
            words.push(if up { "up".to_string() } else { "down".into() });
        }
        if let Some(mtu) = change.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
            words.push(format!("mtu {mtu}"));
        }
        if let Some(master) = &change.master {
            let i = self.ifindex(loc, master).await?;
            m.attributes.push(LinkAttribute::Controller(i));
            words.push(format!("master {master}"));
        }
        if let Some(a) = &change.alias {
            m.attributes.push(LinkAttribute::IfAlias(a.clone()));
            words.push(format!("alias {a:?}"));
        }
        self.request(loc, RouteNetlinkMessage::SetLink(m), NLM_F_ACK, || {
            format!("ip {}link set {name} {}", ipn(loc), words.join(" "))
        })
        .await?;
        if change.alias.is_some() {
            clear_pending(loc, name);
        }
        Ok(())
    }

    async fn add_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError> {
        let i = self.ifindex(loc, dev).await?;
        self.request(
            loc,
            RouteNetlinkMessage::NewAddress(addr_msg(i, cidr)),
            CREATE,
            || format!("ip {}addr add {cidr} dev {dev}", ipn(loc)),
        )
        .await?;
        Ok(())
    }

    async fn del_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError> {
        let i = self.ifindex(loc, dev).await?;
        self.request(
            loc,
            RouteNetlinkMessage::DelAddress(addr_msg(i, cidr)),
            NLM_F_ACK,
            || format!("ip {}addr del {cidr} dev {dev}", ipn(loc)),
        )
        .await?;
        Ok(())
    }

    async fn add_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError> {
        self.request(
            loc,
            RouteNetlinkMessage::NewRoute(route_msg(dest, via)),
            CREATE,
            || format!("ip {}route add {dest} via {via}", ipn(loc)),
        )
        .await?;
        Ok(())
    }

    async fn del_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError> {
        self.request(
            loc,
            RouteNetlinkMessage::DelRoute(route_msg(dest, via)),
            NLM_F_ACK,
            || format!("ip {}route del {dest} via {via}", ipn(loc)),
        )
        .await?;
        Ok(())
    }

    async fn move_link(
        &self,
        from: &Loc,
        dev: &str,
        to: &Loc,
        new_name: &str,
        alias: &str,
    ) -> Result<(), NlError> {
        self.move_link_impl(from, dev, to, new_name, alias).await
    }

    async fn set_tx_csum(&self, loc: &Loc, dev: &str, on: bool) -> Result<(), NlError> {
        ethtool_tx_csum(loc.ns(), dev, on)
    }

    async fn dump(&self, loc: &Loc) -> Result<LocObs, NlError> {
        let links_f = self.request(
            loc,
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            || format!("ip {}link show", ipn(loc)),
        );
        let mut am = AddressMessage::default();
        am.header.family = AddressFamily::Unspec;
        let addrs_f = self.request(loc, RouteNetlinkMessage::GetAddress(am), NLM_F_DUMP, || {
            format!("ip {}addr show", ipn(loc))
        });
        let routes_f = async {
            let mut v = Vec::new();
            for fam in [AddressFamily::Inet, AddressFamily::Inet6] {
                let mut rm = RouteMessage::default();
                rm.header.address_family = fam;
                v.extend(
                    self.request(loc, RouteNetlinkMessage::GetRoute(rm), NLM_F_DUMP, || {
                        format!("ip {}route show", ipn(loc))
                    })
                    .await?,
                );
            }
            Ok::<_, NlError>(v)
        };
        // One dump at a time per socket: a second concurrent dump on the
        // same socket is refused with EBUSY by the kernel.
        let links = links_f.await?;
        let addrs = addrs_f.await?;
        let routes = routes_f.await?;
        Ok(self.parse_dump(loc, links, addrs, routes))
    }
}

/// Marks being written. The kernel does not take IFLA_IFALIAS in
/// RTM_NEWLINK, so a device exists unmarked for a moment after it is
/// created; the mark it will get is written here first
/// (/run/swctl/pending/LOC/NAME) and removed once the alias is set. A run
/// killed in between leaves the file, and the next observation reads the
/// mark from it (the planner then writes the alias).
pub const PENDING_DIR: &str = "/run/swctl/pending";

fn pending_path(loc: &Loc, name: &str) -> std::path::PathBuf {
    std::path::Path::new(PENDING_DIR)
        .join(loc.to_string())
        .join(name)
}

fn write_pending(loc: &Loc, name: &str, alias: &str) {
    let p = pending_path(loc, name);
    if let Some(dir) = p.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(p, alias);
}

fn clear_pending(loc: &Loc, name: &str) {
    let _ = std::fs::remove_file(pending_path(loc, name));
}

fn read_pending(loc: &Loc, name: &str) -> Option<String> {
    std::fs::read_to_string(pending_path(loc, name)).ok()
}

/// Forget the pending marks of a namespace that is being deleted.
pub fn clear_pending_ns(ns: &NsName) {
    let _ = std::fs::remove_dir_all(std::path::Path::new(PENDING_DIR).join(ns.as_str()));
}

/// `ethtool -K DEV tx off` through the SIOCETHTOOL ioctl (ETHTOOL_STXCSUM),
/// on a socket opened inside the namespace.
fn ethtool_tx_csum(ns: Option<&NsName>, dev: &str, on: bool) -> Result<(), NlError> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_STXCSUM: u32 = 0x17;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    let name = dev.to_string();
    let res = netns::run_in(ns, move || -> io::Result<()> {
        // SAFETY: plain socket/ioctl calls on a zeroed ifreq whose name is
        // NUL-terminated (≤ 15 bytes, checked) and whose data pointer
        // outlives the call.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let mut ev = EthtoolValue {
                cmd: ETHTOOL_STXCSUM,
                data: on as u32,
            };
            let mut ifr: libc::ifreq = std::mem::zeroed();
            for (i, b) in name.bytes().take(15).enumerate() {
                ifr.ifr_name[i] = b as libc::c_char;
            }
            ifr.ifr_ifru.ifru_data = &mut ev as *mut EthtoolValue as *mut libc::c_char;
            if libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL as _, &mut ifr) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    })?;
    res.map_err(|e| {
        let op = format!(
            "ethtool -K {dev} tx {}{}",
            if on { "on" } else { "off" },
            ns.map(|n| format!(" (in {n})")).unwrap_or_default()
        );
        let errno = e.raw_os_error().unwrap_or(0);
        NlError::Request {
            words: words(errno, &op),
            op,
            errno,
        }
    })
}

impl Kernel {
    async fn move_link_impl(
        &self,
        from: &Loc,
        dev: &str,
        to: &Loc,
        new_name: &str,
        alias: &str,
    ) -> Result<(), NlError> {
        let idx = self.ifindex(from, dev).await?;
        let fd = self.ns_fd(to)?;
        let mut m = LinkMessage::default();
        m.header.index = idx;
        m.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
        m.attributes.push(LinkAttribute::IfName(new_name.into()));
        let op = || {
            format!(
                "ip {}link set {dev} netns {} name {new_name}",
                ipn(from),
                to.ns().map_or("1".to_string(), |n| n.to_string())
            )
        };
        write_pending(to, new_name, alias);
        let r = self
            .request(from, RouteNetlinkMessage::SetLink(m), NLM_F_ACK, op)
            .await;
        drop(fd);
        self.index
            .lock()
            .expect("lock")
            .remove(&(from.clone(), dev.to_string()));
        r?;
        let c = LinkChange {
            up: Some(true),
            alias: Some(alias.into()),
            ..Default::default()
        };
        self.set_link(to, new_name, &c).await
    }

    fn parse_dump(
        &self,
        loc: &Loc,
        links: Vec<RouteNetlinkMessage>,
        addrs: Vec<RouteNetlinkMessage>,
        routes: Vec<RouteNetlinkMessage>,
    ) -> LocObs {
        let mut out = LocObs::default();
        let mut masters: Vec<Option<u32>> = Vec::new();
        for r in links {
            let RouteNetlinkMessage::NewLink(l) = r else {
                continue;
            };
            let mut o = LinkObs {
                name: String::new(),
                index: l.header.index,
                kind: None,
                alias: None,
                mark: None,
                master: None,
                up: l.header.flags.contains(LinkFlags::Up),
                mtu: 0,
                addrs: vec![],
            };
            let mut master = None;
            for a in &l.attributes {
                match a {
                    LinkAttribute::IfName(n) => o.name = n.clone(),
                    LinkAttribute::IfAlias(s) => {
                        o.mark = Mark::from_alias(s);
                        o.alias = Some(s.clone());
                    }
                    LinkAttribute::Controller(i) => master = Some(*i),
                    LinkAttribute::Mtu(m) => o.mtu = *m,
                    LinkAttribute::LinkInfo(infos) => {
                        for i in infos {
                            if let LinkInfo::Kind(k) = i {
                                o.kind = Some(k.to_string());
                            }
                        }
                    }
                    _ => {}
                }
            }
            masters.push(master);
            out.links.push(o);
        }
        for l in out.links.iter_mut() {
            if l.alias.is_none()
                && matches!(
                    l.kind.as_deref(),
                    Some("veth" | "bridge" | "tun" | "openvswitch")
                )
            {
                l.mark = read_pending(loc, &l.name).and_then(|a| Mark::from_alias(&a));
            }
        }
        let by_index: HashMap<u32, String> = out
            .links
            .iter()
            .map(|l| (l.index, l.name.clone()))
            .collect();
        for (l, m) in out.links.iter_mut().zip(masters) {
            l.master = m.and_then(|i| by_index.get(&i).cloned());
        }
        {
            // a dump is the truth for this namespace: forget indexes of
            // devices that are gone (a long-lived process, like `bench`,
            // meets the same names again with new indexes)
            let mut idx = self.index.lock().expect("lock");
            idx.retain(|(l, _), _| l != loc);
            for l in &out.links {
                idx.insert((loc.clone(), l.name.clone()), l.index);
            }
        }
        for r in addrs {
            let RouteNetlinkMessage::NewAddress(a) = r else {
                continue;
            };
            let mut local = None;
            let mut address = None;
            for at in &a.attributes {
                match at {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    _ => {}
                }
            }
            let Some(ip) = local.or(address) else {
                continue;
            };
            if let Some(l) = out.links.iter_mut().find(|l| l.index == a.header.index) {
                l.addrs.push(Cidr {
                    addr: ip,
                    prefix: a.header.prefix_len,
                });
            }
        }
        for r in routes {
            let RouteNetlinkMessage::NewRoute(rt) = r else {
                continue;
            };
            if rt.header.table != RouteHeader::RT_TABLE_MAIN || rt.header.kind != RouteType::Unicast
            {
                continue;
            }
            let mut dest = None;
            let mut via = None;
            let mut oif = None;
            for at in &rt.attributes {
                match at {
                    RouteAttribute::Destination(a) => dest = from_route_addr(a),
                    RouteAttribute::Gateway(a) => via = from_route_addr(a),
                    RouteAttribute::Oif(i) => oif = Some(*i),
                    _ => {}
                }
            }
            if via.is_none() {
                continue; // connected routes belong to their addresses
            }
            let dest = match dest {
                Some(ip) if rt.header.destination_prefix_length > 0 => RouteDest::Net(Cidr {
                    addr: ip,
                    prefix: rt.header.destination_prefix_length,
                }),
                _ => RouteDest::Default,
            };
            out.routes.push(RouteObs {
                dest,
                via,
                dev: oif.and_then(|i| by_index.get(&i).cloned()),
            });
        }
        out
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
        // lo up in each, concurrently over the fresh sockets
        let futs = names.iter().zip(socks).map(|(n, s)| async move {
            let fd = s?;
            let loc = Loc::Ns(n.clone());
            self.adopt(loc.clone(), fd);
            let mut m = LinkMessage::default();
            // loopback is always ifindex 1 in a new namespace
            m.header.index = 1;
            up_header(&mut m, true);
            self.request(&loc, RouteNetlinkMessage::SetLink(m), NLM_F_ACK, || {
                format!("ip -n {n} link set lo up")
            })
            .await?;
            Ok(())
        });
        futures::future::join_all(futs).await
    }

    async fn delete_ns(&self, name: &NsName) -> Result<(), NlError> {
        self.forget(&Loc::Ns(name.clone()));
        clear_pending_ns(name);
        netns::delete(name)?;
        Ok(())
    }

    fn list_ns(&self) -> Result<Vec<(NsName, Option<Owner>)>, NlError> {
        Ok(netns::list()?
            .into_iter()
            .map(|n| {
                let o = netns::owner(&n);
                (n, o)
            })
            .collect())
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
}

fn clone_ns_err(e: &NsError) -> NsError {
    match e {
        NsError::PrepareRunDir(w, io) => {
            NsError::PrepareRunDir(w, io::Error::new(io.kind(), io.to_string()))
        }
        other => NsError::Enter("?".into(), io::Error::other(other.to_string())),
    }
}

impl crate::ovs::OvsDb for Kernel {
    /// The state of every connected server, merged (bridges know their server).
    async fn ovs_state(
        &self,
    ) -> Result<Result<crate::ovs::OvsState, String>, crate::ovsdb::OvsdbError> {
        let mut merged = match &self.ovs {
            Ok(o) => Some(o.state().await?),
            Err(_) => None,
        };
        for o in &self.ovs_extra {
            let st = o.state().await?;
            match merged.as_mut() {
                Some(m) => m.bridges.extend(st.bridges),
                None => merged = Some(st),
            }
        }
        Ok(match (merged, &self.ovs) {
            (Some(m), _) => Ok(m),
            (None, Err(why)) => Err(why.clone()),
            (None, Ok(_)) => unreachable!("a connected default server gives a state"),
        })
    }

    /// One transaction per server (and one wait each).
    async fn ovs_apply(
        &self,
        changes: &[crate::ovs::OvsChange],
    ) -> Result<(), crate::ovsdb::OvsdbError> {
        let mut servers: Vec<&str> = changes.iter().map(|c| c.db()).collect();
        servers.sort();
        servers.dedup();
        for db in servers {
            let conn = self
                .ovs
                .iter()
                .chain(self.ovs_extra.iter())
                .find(|o| o.client.addr() == db)
                .ok_or_else(|| {
                    crate::ovsdb::OvsdbError::Schema(format!(
                        "not connected to the OVSDB server {db}"
                    ))
                })?;
            let batch: Vec<crate::ovs::OvsChange> =
                changes.iter().filter(|c| c.db() == db).cloned().collect();
            let default = self.ovs.as_ref().is_ok_and(|o| o.client.addr() == db);
            if !default
                && batch
                    .iter()
                    .any(|c| matches!(c, crate::ovs::OvsChange::AddBridge { .. }))
            {
                crate::ovs::remember_server(db);
            }
            conn.apply(&batch).await?;
        }
        Ok(())
    }
}
