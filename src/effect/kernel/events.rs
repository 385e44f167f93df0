//! `ip monitor link address route` and `tc monitor` inside one namespace:
//! a netlink socket opened there (by a thread that entered it, as for
//! every socket of swctl's), bound to the link, qdisc, IPv4/IPv6 address
//! and route multicast groups and driven from tokio; each message read as
//! a `KernelEvent` (links added, removed or changed, root qdiscs put or
//! removed, addresses and gateway routes added or removed), devices named
//! from a table the first dump fills.
//!
//! The socket pins its namespace while it is open (a socket holds a
//! reference to its network namespace): its owner drops the `Monitor` as
//! soon as the namespace's name goes, or `ip netns del` would leave the
//! namespace, and its devices, alive.

use std::collections::HashMap;
use std::os::fd::{FromRawFd, IntoRawFd};

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::SocketAddr;

use super::{dump, netns};
use crate::effect::NlError;
use crate::model::LinkObs;
use crate::model::names::NsName;

/// RTMGRP_LINK | RTMGRP_TC | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE |
/// RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE (linux/rtnetlink.h).
const GROUPS: u32 = 0x1 | 0x8 | 0x10 | 0x40 | 0x100 | 0x400;

/// Room for a burst (a destroy of many devices) before the kernel drops
/// events with ENOBUFS.
const RCVBUF: usize = 4 << 20;

/// One change the kernel announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelEvent {
    /// "link", "qdisc", "address", "route"
    pub object: &'static str,
    /// "added", "removed", "changed"
    pub change: &'static str,
    /// the device's name (as last known)
    pub dev: String,
    /// the device's alias (swctl's mark), as last known
    pub alias: Option<String>,
    /// what changed, in `ip`'s words ("198.18.0.1/24", "default via ...",
    /// "down", "mtu 1400", ...)
    pub detail: String,
}

/// The monitor of one namespace (`ip -n NS monitor link address route`).
pub struct Monitor {
    rx: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    links: HashMap<u32, LinkObs>,
    conn: tokio::task::JoinHandle<()>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // the connection task owns the socket: ending it closes the socket
        self.conn.abort();
    }
}

/// What of a link counts as a change: state, MTU, master, name, address.
fn summary(l: &LinkObs) -> (bool, u32, Option<String>, String, Option<String>) {
    (
        l.up,
        l.mtu,
        l.master.clone(),
        l.name.clone(),
        l.mac.map(|m| m.to_string()),
    )
}

fn diff(old: &LinkObs, new: &LinkObs) -> String {
    let mut d = vec![];
    if old.up != new.up {
        d.push(if new.up { "up" } else { "down" }.to_string());
    }
    if old.mtu != new.mtu {
        d.push(format!("mtu {}", new.mtu));
    }
    if old.master != new.master {
        d.push(match &new.master {
            Some(m) => format!("master {m}"),
            None => "nomaster".into(),
        });
    }
    if old.name != new.name {
        d.push(format!("renamed from {}", old.name));
    }
    if old.mac != new.mac {
        d.push(format!(
            "address {}",
            new.mac.map(|m| m.to_string()).unwrap_or_default()
        ));
    }
    d.join(", ")
}

impl Monitor {
    /// Open the monitor in `ns` (None: this process's namespace) and read
    /// its devices.
    pub async fn open(ns: Option<&NsName>) -> Result<Monitor, NlError> {
        let where_ = || ns.map_or("host".to_string(), |n| n.to_string());
        let fd =
            netns::run_in(ns, netns::netlink_socket)?.map_err(|e| NlError::Socket(where_(), e))?;
        // SAFETY: fd was just opened and is owned by nobody else.
        let mut s = unsafe { netlink_sys::Socket::from_raw_fd(fd.into_raw_fd()) };
        s.bind(&SocketAddr::new(0, GROUPS))
            .and_then(|_| s.set_rx_buf_sz(RCVBUF))
            .and_then(|_| s.set_non_blocking(true))
            .map_err(|e| NlError::Socket(where_(), e))?;
        // SAFETY: the fd moves from one owner to the other.
        let sock = unsafe { netlink_sys::TokioSocket::from_raw_fd(s.into_raw_fd()) };
        let (conn, handle, rx) = rtnetlink::from_socket(sock);
        let conn = tokio::spawn(conn);
        let mut m = Monitor {
            rx,
            links: HashMap::new(),
            conn,
        };
        let mut dump = handle.link().get().execute();
        let mut rows = vec![];
        while let Some(l) = dump.next().await {
            let l = l.map_err(|e| NlError::Socket(where_(), std::io::Error::other(e)))?;
            if let Some(r) = dump::link_row(RouteNetlinkMessage::NewLink(l)) {
                rows.push(r);
            }
        }
        m.learn(rows);
        Ok(m)
    }

    /// Record links, naming their masters.
    fn learn(&mut self, rows: Vec<(LinkObs, Option<u32>)>) {
        let mut masters = vec![];
        for (l, master) in rows {
            masters.push((l.index, master));
            self.links.insert(l.index, l);
        }
        for (i, master) in masters {
            let name = master.and_then(|mi| self.links.get(&mi).map(|x| x.name.clone()));
            if let Some(l) = self.links.get_mut(&i) {
                l.master = name;
            }
        }
    }

    fn dev(&self, index: u32) -> (String, Option<String>) {
        self.links.get(&index).map_or_else(
            || (format!("if{index}"), None),
            |l| (l.name.clone(), l.alias.clone()),
        )
    }

    /// The next change; None when the socket failed (closed, or events were
    /// lost to an overflow): open a new monitor to go on.
    pub async fn next(&mut self) -> Option<KernelEvent> {
        loop {
            let (msg, _) = self.rx.next().await?;
            let NetlinkPayload::InnerMessage(m) = msg.payload else {
                if matches!(msg.payload, NetlinkPayload::Overrun(_)) {
                    return None;
                }
                continue;
            };
            if let Some(e) = self.event(m) {
                return Some(e);
            }
        }
    }

    fn event(&mut self, m: RouteNetlinkMessage) -> Option<KernelEvent> {
        let ev = |object, change, (dev, alias): (String, Option<String>), detail: String| {
            Some(KernelEvent {
                object,
                change,
                dev,
                alias,
                detail,
            })
        };
        // a bridge's own news of its ports (AF_BRIDGE: `bridge monitor link`)
        // repeats the link's with fewer attributes: the AF_UNSPEC ones count
        if let RouteNetlinkMessage::NewLink(l) | RouteNetlinkMessage::DelLink(l) = &m
            && l.header.interface_family == AddressFamily::Bridge
        {
            return None;
        }
        match m {
            RouteNetlinkMessage::NewLink(_) => {
                let (mut l, master) = dump::link_row(m)?;
                l.master = master.and_then(|mi| self.links.get(&mi).map(|x| x.name.clone()));
                if l.alias.is_none() {
                    l.alias = self.links.get(&l.index).and_then(|o| o.alias.clone());
                }
                let dev = (l.name.clone(), l.alias.clone());
                match self.links.insert(l.index, l.clone()) {
                    None => ev("link", "added", dev, String::new()),
                    Some(old) if summary(&old) != summary(&l) => {
                        ev("link", "changed", dev, diff(&old, &l))
                    }
                    Some(_) => None,
                }
            }
            RouteNetlinkMessage::DelLink(l) => {
                let i = l.header.index;
                let dev = self.dev(i);
                self.links.remove(&i);
                ev("link", "removed", dev, String::new())
            }
            RouteNetlinkMessage::NewAddress(_) | RouteNetlinkMessage::DelAddress(_) => {
                let added = matches!(m, RouteNetlinkMessage::NewAddress(_));
                let m = match m {
                    RouteNetlinkMessage::DelAddress(a) => RouteNetlinkMessage::NewAddress(a),
                    m => m,
                };
                let (i, cidr) = dump::addr_row(m)?;
                let change = if added { "added" } else { "removed" };
                ev("address", change, self.dev(i), cidr.to_string())
            }
            RouteNetlinkMessage::NewQueueDiscipline(_)
            | RouteNetlinkMessage::DelQueueDiscipline(_) => {
                let added = matches!(m, RouteNetlinkMessage::NewQueueDiscipline(_));
                let m = match m {
                    RouteNetlinkMessage::DelQueueDiscipline(q) => {
                        RouteNetlinkMessage::NewQueueDiscipline(q)
                    }
                    m => m,
                };
                // a root qdisc; the kernel's default (handle 0) comes and
                // goes with the others and is nobody's
                let (i, q) = super::tc::qdisc_row(m).filter(|(_, q)| q.handle != 0)?;
                let change = if added { "added" } else { "removed" };
                let detail = if q.is_swctl() {
                    format!("swctl's: {}", q.words())
                } else {
                    q.words()
                };
                ev("qdisc", change, self.dev(i), detail)
            }
            RouteNetlinkMessage::NewRoute(_) | RouteNetlinkMessage::DelRoute(_) => {
                let added = matches!(m, RouteNetlinkMessage::NewRoute(_));
                let m = match m {
                    RouteNetlinkMessage::DelRoute(r) => RouteNetlinkMessage::NewRoute(r),
                    m => m,
                };
                let (dest, via, oif) = dump::route_row(m)?;
                let change = if added { "added" } else { "removed" };
                let dev = oif.map_or((String::new(), None), |i| self.dev(i));
                ev("route", change, dev, format!("{dest} via {via}"))
            }
            _ => None,
        }
    }
}
