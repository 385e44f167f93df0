//! What the system has (`Observed`): the links, addresses and routes of the
//! host namespace and of every namespace looked at, who owns each
//! namespace, and the OVSDB servers' state.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::mark::Mark;
use super::names::{Cidr, Loc, Mac, NsName, Owner, RouteDest};
use super::ovs::OvsState;

/// The host's per-CPU input queue limit, as a /proc/sys path.
pub const BACKLOG_KEY: &str = "net/core/netdev_max_backlog";

/// One link as a netlink dump shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkObs {
    pub name: String,
    pub index: u32,
    /// IFLA_INFO_KIND: "veth", "bridge", "tun", ...
    pub kind: Option<String>,
    pub alias: Option<String>,
    #[serde(skip)]
    pub mark: Option<Mark>,
    /// name of the master device (bridge), resolved within the same namespace
    pub master: Option<String>,
    pub up: bool,
    pub mtu: u32,
    pub addrs: Vec<Cidr>,
    /// the Ethernet address (None: the device has none, e.g. a tun)
    pub mac: Option<Mac>,
    /// IFLA_GROUP (`LINK_GROUP` on swctl's devices)
    pub group: u32,
    /// a vxlan device's identifier and local address
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<VxlanObs>,
    /// the device's IPv4 `arp_ignore` (None: no IPv4 configuration)
    #[serde(skip)]
    pub arp_ignore: Option<i32>,
    /// its root qdisc, unless the kernel's default
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qdisc: Option<crate::model::impair::QdiscObs>,
}

impl LinkObs {
    /// A device known so far by its index and state only (a dump's
    /// message reads its attributes into it next; tests build on it).
    pub fn unnamed(index: u32, up: bool) -> LinkObs {
        LinkObs {
            name: String::new(),
            index,
            kind: None,
            alias: None,
            mark: None,
            master: None,
            up,
            mtu: 0,
            addrs: vec![],
            mac: None,
            group: 0,
            vxlan: None,
            arp_ignore: None,
            qdisc: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VxlanObs {
    pub vni: u32,
    pub local: Option<IpAddr>,
    /// a point-to-point device's other end
    pub remote: Option<IpAddr>,
}

/// A head-end replication entry of a vxlan device (`bridge fdb append
/// 00:00:00:00:00:00 dev DEV dst IP`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FdbObs {
    pub dev: String,
    pub dst: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteObs {
    pub dest: RouteDest,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
}

/// One namespace (or the host's) as observed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LocObs {
    pub links: Vec<LinkObs>,
    /// main-table routes with a gateway (the ones swctl manages)
    pub routes: Vec<RouteObs>,
    /// net.ipv4.ip_forward, when it was read
    pub forward: Option<bool>,
    /// the all-zero (flooding) entries of vxlan devices
    pub fdb: Vec<FdbObs>,
    /// a bridge's ports counted and not read (part of the host, read by an
    /// imperative command: `model::part`): how many besides those in `links`
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unread_ports: BTreeMap<String, usize>,
}

impl LocObs {
    pub fn link(&self, name: &str) -> Option<&LinkObs> {
        self.links.iter().find(|l| l.name == name)
    }
    pub fn marked<'a>(
        &'a self,
        f: impl Fn(&Mark) -> bool + 'a,
    ) -> impl Iterator<Item = &'a LinkObs> + 'a {
        self.links
            .iter()
            .filter(move |l| l.mark.as_ref().is_some_and(&f))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NsObs {
    /// who created it, from swctl's registry; None: not swctl's
    pub owner: Option<Owner>,
    pub state: LocObs,
    /// adopted by `swctl ns attach` from this process (a namespace swctl
    /// did not create, that `ns del` only forgets)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopted: Option<u32>,
    /// its sysctls asked about, hosts file, processes, one-shot commands
    pub host: super::host::HostObs,
}

/// What the system has: the host namespace and every namespace that was
/// looked at (a namespace missing from `namespaces` does not exist).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub host: LocObs,
    pub namespaces: BTreeMap<NsName, NsObs>,
    /// the OVSDB server's state; None when no OVSDB server answers
    pub ovs: Option<OvsState>,
    /// why `ovs` is None (shown when an OVS switch is needed)
    #[serde(skip)]
    pub ovs_missing: Option<String>,
    /// the host's net.core.netdev_max_backlog (None: not read)
    #[serde(skip)]
    pub backlog: Option<u32>,
    /// which qdiscs the kernel has (None: not probed; probed when the
    /// desired state has impairments)
    #[serde(skip)]
    pub qdisc_kinds: Option<crate::model::impair::QdiscKinds>,
    /// the host's devices were read in part (`part::Part`): a device not
    /// in `host` may exist all the same
    #[serde(skip)]
    pub host_part: bool,
}

impl Observed {
    pub fn loc(&self, loc: &Loc) -> Option<&LocObs> {
        match loc {
            Loc::Host => Some(&self.host),
            Loc::Ns(n) => self.namespaces.get(n).map(|o| &o.state),
        }
    }

    /// Every location observed, host first.
    pub fn locs(&self) -> impl Iterator<Item = (Loc, &LocObs)> {
        std::iter::once((Loc::Host, &self.host)).chain(
            self.namespaces
                .iter()
                .map(|(n, o)| (Loc::Ns(n.clone()), &o.state)),
        )
    }

    /// Find a switch device (a bridge) by name: in the host namespace first,
    /// then in any observed namespace.
    pub fn find_bridge(&self, name: &str) -> Option<(Loc, &LinkObs)> {
        self.locs().find_map(|(loc, st)| {
            st.link(name)
                .filter(|l| l.kind.as_deref() == Some("bridge"))
                .map(|l| (loc, l))
        })
    }
}
