//! The data model shared by the planner, the observer and the CLI: what the
//! user wants (`Desired`), what the system has (`Observed`), and the
//! ownership marks swctl writes on everything it creates.
//!
//! Ownership marks live on the objects themselves (the link alias,
//! `ip link set DEV alias ...`), so they survive a crash of swctl and `gc`
//! can find them without any state file. Namespaces cannot carry an alias;
//! they are recorded in a registry directory (see `netns`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::names::{Cidr, IfName, Loc, NsName, Owner, RouteDest};
use crate::ovs::OvsState;

/// The switch implementations swctl drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Bridge,
    Ovs,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Bridge => "bridge",
            Backend::Ovs => "ovs",
        })
    }
}

/// How a namespace is wired to a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    #[default]
    Auto,
    Veth,
    Internal,
}

/// Which end of a pair a mark sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// switch end of a port / `a` end of a link
    A,
    /// namespace end of a port / `b` end of a link
    B,
}

/// The ownership mark swctl writes into the alias of each link it creates.
/// Text form: `swctl:1 owner=O role=port ns=N sw=S side=a`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Mark {
    Switch {
        owner: Owner,
    },
    Port {
        owner: Owner,
        ns: NsName,
        sw: IfName,
        side: Side,
    },
    Link {
        owner: Owner,
        a: Loc,
        b: Loc,
        side: Side,
    },
}

pub const MARK_PREFIX: &str = "swctl:1";

impl Mark {
    pub fn owner(&self) -> &Owner {
        match self {
            Mark::Switch { owner } | Mark::Port { owner, .. } | Mark::Link { owner, .. } => owner,
        }
    }

    /// For a port mark: its namespace and switch, as text (OVS external_ids).
    pub fn port_ids(&self) -> (String, String) {
        match self {
            Mark::Port { ns, sw, .. } => (ns.to_string(), sw.to_string()),
            _ => (String::new(), String::new()),
        }
    }

    pub fn to_alias(&self) -> String {
        let side = |s: &Side| match s {
            Side::A => "a",
            Side::B => "b",
        };
        match self {
            Mark::Switch { owner } => format!("{MARK_PREFIX} owner={owner} role=switch"),
            Mark::Port {
                owner,
                ns,
                sw,
                side: s,
            } => format!(
                "{MARK_PREFIX} owner={owner} role=port ns={ns} sw={sw} side={}",
                side(s)
            ),
            Mark::Link {
                owner,
                a,
                b,
                side: s,
            } => format!(
                "{MARK_PREFIX} owner={owner} role=link a={a} b={b} side={}",
                side(s)
            ),
        }
    }

    /// Parse an alias; anything that is not a well-formed swctl mark is
    /// `None` (that link is not ours, whatever its name).
    pub fn from_alias(alias: &str) -> Option<Mark> {
        let mut words = alias.split(' ');
        if words.next()? != MARK_PREFIX {
            return None;
        }
        let mut kv = BTreeMap::new();
        for w in words {
            let (k, v) = w.split_once('=')?;
            kv.insert(k, v);
        }
        let owner: Owner = kv.get("owner")?.parse().ok()?;
        let side = || match *kv.get("side")? {
            "a" => Some(Side::A),
            "b" => Some(Side::B),
            _ => None,
        };
        match *kv.get("role")? {
            "switch" => Some(Mark::Switch { owner }),
            "port" => Some(Mark::Port {
                owner,
                ns: kv.get("ns")?.parse().ok()?,
                sw: kv.get("sw")?.parse().ok()?,
                side: side()?,
            }),
            "link" => Some(Mark::Link {
                owner,
                a: kv.get("a")?.parse().ok()?,
                b: kv.get("b")?.parse().ok()?,
                side: side()?,
            }),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- desired

/// A static route inside a namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RouteSpec {
    pub dest: RouteDest,
    pub via: IpAddr,
}

/// A namespace ("host" in Mininet's words) as the user wants it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NsSpec {
    /// net.ipv4.ip_forward (and net.ipv6.conf.all.forwarding); None: leave as is
    pub forward: Option<bool>,
    pub routes: Vec<RouteSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchSpec {
    pub backend: Backend,
    /// where the switch device lives (bridge backend only)
    pub loc: Loc,
    /// addresses on the switch device itself
    pub addrs: Vec<Cidr>,
    /// OVS only: force `system` or `netdev`; None: what works on this host
    pub datapath: Option<String>,
    /// OVS only: the OVSDB server of this switch (`unix:PATH`,
    /// `tcp:HOST:PORT`); None: the default one
    pub ovsdb: Option<String>,
}

/// A namespace attached to a switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    pub ns: NsName,
    pub switch: IfName,
    /// name inside the namespace; None: the first free `ethN`
    pub ifname: Option<IfName>,
    pub addrs: Vec<Cidr>,
    pub via: Via,
    /// access VLAN (OVS: the Port's `tag`)
    pub vlan: Option<u16>,
    /// MTU of the port's devices; None: the kernel's default
    pub mtu: Option<u32>,
}

/// A direct veth pair between two locations (`host` allowed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkSpec {
    pub a: Loc,
    pub b: Loc,
    pub a_ifname: Option<IfName>,
    pub b_ifname: Option<IfName>,
    pub a_addrs: Vec<Cidr>,
    pub b_addrs: Vec<Cidr>,
    /// MTU of both ends; None: the kernel's default (1500)
    pub mtu: Option<u32>,
}

/// What the user wants. For imperative commands this holds only the objects
/// the command is about; for a topology, everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desired {
    pub owner: Owner,
    pub namespaces: BTreeMap<NsName, NsSpec>,
    pub switches: BTreeMap<IfName, SwitchSpec>,
    pub ports: Vec<PortSpec>,
    pub links: Vec<LinkSpec>,
}

impl Desired {
    pub fn new(owner: Owner) -> Desired {
        Desired {
            owner,
            namespaces: BTreeMap::new(),
            switches: BTreeMap::new(),
            ports: Vec::new(),
            links: Vec::new(),
        }
    }
}

/// An object swctl manages, as a key: what `Scope::Objects` lists for
/// removal and what the planner matches observed state by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Key {
    Ns {
        ns: NsName,
    },
    Switch {
        name: IfName,
    },
    Port {
        ns: NsName,
        switch: IfName,
    },
    Link {
        a: Loc,
        b: Loc,
    },
    Route {
        ns: NsName,
        dest: RouteDest,
        via: IpAddr,
    },
}

impl Key {
    /// Links are unordered: `link a b` and `link b a` are the same link.
    pub fn link(a: &Loc, b: &Loc) -> Key {
        if a <= b {
            Key::Link {
                a: a.clone(),
                b: b.clone(),
            }
        } else {
            Key::Link {
                a: b.clone(),
                b: a.clone(),
            }
        }
    }
}

// ---------------------------------------------------------------- observed

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

    /// Find a switch by name: an OVS bridge, else a Linux bridge.
    pub fn find_switch(&self, name: &str) -> Option<(Backend, Loc)> {
        if self.ovs.as_ref().is_some_and(|o| o.bridge(name).is_some()) {
            return Some((Backend::Ovs, Loc::Host));
        }
        self.find_bridge(name).map(|(l, _)| (Backend::Bridge, l))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip() {
        let marks = [
            Mark::Switch {
                owner: Owner::cli(),
            },
            Mark::Port {
                owner: "lab".parse().unwrap(),
                ns: "h1".parse().unwrap(),
                sw: "br0".parse().unwrap(),
                side: Side::B,
            },
            Mark::Link {
                owner: Owner::cli(),
                a: Loc::Host,
                b: Loc::Ns("x".parse().unwrap()),
                side: Side::A,
            },
        ];
        for m in marks {
            let a = m.to_alias();
            assert!(a.len() < 256, "IFALIASZ");
            assert_eq!(Mark::from_alias(&a), Some(m));
        }
        assert_eq!(Mark::from_alias("uplink to rack 3"), None);
        assert_eq!(Mark::from_alias("swctl:1 owner=x role=weird"), None);
        assert_eq!(Mark::from_alias("swctl:1 owner=a b role=switch"), None);
    }

    #[test]
    fn link_keys_are_unordered() {
        let a = Loc::Host;
        let b = Loc::Ns("n".parse().unwrap());
        assert_eq!(Key::link(&a, &b), Key::link(&b, &a));
    }
}
