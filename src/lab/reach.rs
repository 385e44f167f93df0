//! What a lab promises, derived from the lab itself (pure): which address
//! each namespace must reach, which it must not (a VLAN or a separate
//! switch isolates it), and which a route points at but cannot work (no
//! route back, no forwarding on the way). A packet is followed hop by hop:
//! longest-prefix match over each host's connected subnets and static
//! routes, the next hop found on the same layer-2 segment (switch and VLAN,
//! or link), forwarded only by hosts with `forward = true`; a pair works
//! when the echo gets there and the reply gets back.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::model::names::{Cidr, Loc, NsName, RouteDest};
use crate::model::{Desired, Key, RouteSpec};

/// One interface of the lab: where it is, its layer-2 segment, its addresses.
#[derive(Debug, Clone)]
pub struct Iface {
    pub loc: Loc,
    /// `switch sw0`, `switch sw0 vlan 10`, `link a<->b`
    pub seg: String,
    /// the switch the segment is on (for isolation promises)
    pub switch: Option<String>,
    pub cidrs: Vec<Cidr>,
    /// who has the address, for reports (`h1`, `switch sw0`, `host`)
    pub owner: String,
    /// the least delay the lab declares on what this interface sends and
    /// on what reaches it from its segment (a port's impairment shapes
    /// both of its ends; a link's end shapes what it sends), microseconds
    pub delay_out_us: u32,
    pub delay_in_us: u32,
}

/// The least one-way delay of an end's impairment: its delay less its
/// jitter (netem spreads it evenly over delay ± jitter).
fn least_delay(e: &crate::model::EndSpec) -> u32 {
    e.impair
        .and_then(|i| Some(i.delay?.0.saturating_sub(i.jitter.map_or(0, |j| j.0))))
        .unwrap_or(0)
}

/// The lab as a network to follow packets through.
pub struct Net {
    pub ifaces: Vec<Iface>,
    routes: HashMap<Loc, Vec<RouteSpec>>,
    forward: HashMap<Loc, bool>,
    /// address -> the interface that has it
    by_addr: HashMap<IpAddr, usize>,
    /// location -> its interfaces
    at: HashMap<Loc, Vec<usize>>,
    /// nodes with no kernel of their own (OVN logical routers): they
    /// forward, answer, never probe, and keep no neighbour table of ours
    virt: std::collections::HashSet<Loc>,
}

/// One neighbour entry a packet needs: `at` resolves `addr`.
pub type Neigh = (Loc, IpAddr);

/// A path that works both ways, with the neighbour entries it creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub hops: usize,
    pub neigh: Vec<Neigh>,
}

/// Layer-2 segments by switch and VLAN (0: untagged): a trunk joins the
/// VLANs it carries (all when it lists none) and, untagged on the wire,
/// its native VLAN (or VLAN 0 when it carries all and has none). A Linux
/// bridge knows no VLANs: its hosts are untagged, tagged frames cross it
/// as they are. A segment is named by its first switch and VLAN.
struct VlanSegs {
    rep: std::collections::BTreeMap<(String, u16), (String, u16)>,
}

impl VlanSegs {
    fn of(d: &Desired) -> VlanSegs {
        let mut s = VlanSegs {
            rep: Default::default(),
        };
        let ovs = |sw: &crate::model::names::IfName| {
            d.switches
                .get(sw)
                .is_some_and(|x| x.backend == crate::model::Backend::Ovs)
        };
        let mut used: std::collections::BTreeSet<u16> =
            d.ports.iter().filter_map(|p| p.vlan).collect();
        for t in &d.trunks {
            used.extend(t.vlans.iter().copied());
            used.extend(t.native);
        }
        for t in &d.trunks {
            let (a, b) = (t.a.to_string(), t.b.to_string());
            let tagged: Vec<u16> = if t.vlans.is_empty() {
                used.iter().copied().collect()
            } else {
                t.vlans.clone()
            };
            for v in tagged {
                s.join((a.clone(), v), (b.clone(), v));
            }
            // what crosses untagged: the native VLAN on an OVS end, VLAN 0
            // (untagged) on a bridge's, or everything when nothing is said
            let untagged = |sw: &crate::model::names::IfName| match t.native {
                Some(n) if ovs(sw) => Some(n),
                Some(_) => Some(0),
                None if t.vlans.is_empty() => Some(0),
                None if !ovs(sw) => Some(0),
                None => None,
            };
            if let (Some(x), Some(y)) = (untagged(&t.a), untagged(&t.b))
                && (t.native.is_some() || t.vlans.is_empty())
            {
                s.join((a, x), (b, y));
            }
        }
        s
    }

    fn find(&self, mut n: (String, u16)) -> (String, u16) {
        while let Some(p) = self.rep.get(&n) {
            if *p == n {
                break;
            }
            n = p.clone();
        }
        n
    }

    fn join(&mut self, x: (String, u16), y: (String, u16)) {
        let (rx, ry) = (self.find(x), self.find(y));
        if rx != ry {
            let (lo, hi) = if rx < ry { (rx, ry) } else { (ry, rx) };
            self.rep.insert(hi, lo);
        }
    }

    fn name(&self, sw: &crate::model::names::IfName, vlan: u16) -> String {
        match self.find((sw.to_string(), vlan)) {
            (s, 0) => format!("switch {s}"),
            (s, v) => format!("switch {s} vlan {v}"),
        }
    }
}

impl Net {
    pub fn of(d: &Desired) -> Net {
        let mut ifaces = Vec::new();
        // switches joined by trunks are one group (what isolation promises
        // are about); a VLAN of one is a segment with the VLANs a trunk
        // carries to the others (`VlanSegs`)
        let group = d.switch_groups();
        let seg_of = |sw: &crate::model::names::IfName| group.get(sw).unwrap_or(sw).to_string();
        let vsegs = VlanSegs::of(d);
        for p in &d.ports {
            let g = seg_of(&p.switch);
            // a mirror's output port: OVS forwards nothing else to or from it
            let output = d
                .switches
                .get(&p.switch)
                .is_some_and(|s| s.mirrors.iter().any(|m| m.output == p.ns));
            let seg = if output {
                format!("mirror output {} on {}", p.ns, p.switch)
            } else {
                vsegs.name(&p.switch, p.vlan.unwrap_or(0))
            };
            ifaces.push(Iface {
                loc: Loc::Ns(p.ns.clone()),
                seg,
                switch: Some(g),
                cidrs: p.end.addrs.clone(),
                owner: p.ns.to_string(),
                delay_out_us: least_delay(&p.end),
                delay_in_us: least_delay(&p.end),
            });
        }
        for (name, s) in &d.switches {
            if !s.addrs.is_empty() {
                ifaces.push(Iface {
                    loc: s.loc.clone(),
                    seg: vsegs.name(name, 0),
                    switch: Some(seg_of(name)),
                    cidrs: s.addrs.clone(),
                    owner: format!("switch {name}"),
                    delay_out_us: 0,
                    delay_in_us: 0,
                });
            }
        }
        for l in &d.links {
            let seg = match Key::link(&l.a, &l.b) {
                Key::Link { a, b } => format!("link {a}<->{b}"),
                _ => unreachable!("Key::link makes a link key"),
            };
            for (loc, end) in [(&l.a, &l.a_end), (&l.b, &l.b_end)] {
                ifaces.push(Iface {
                    loc: loc.clone(),
                    seg: seg.clone(),
                    switch: None,
                    cidrs: end.addrs.clone(),
                    owner: loc.to_string(),
                    delay_out_us: least_delay(end),
                    delay_in_us: 0,
                });
            }
        }
        // OVN logical routers: a forwarding node with a port on each switch
        let mut virt = std::collections::HashSet::new();
        for (name, r) in &d.routers {
            let Ok(ns) = format!("router:{name}").parse::<NsName>() else {
                continue;
            };
            let loc = Loc::Ns(ns);
            for p in &r.ports {
                let g = seg_of(&p.switch);
                ifaces.push(Iface {
                    loc: loc.clone(),
                    seg: vsegs.name(&p.switch, 0),
                    switch: Some(g),
                    cidrs: p.addrs.clone(),
                    owner: format!("router {name}"),
                    delay_out_us: 0,
                    delay_in_us: 0,
                });
            }
            virt.insert(loc);
        }
        let mut by_addr = HashMap::new();
        let mut at: HashMap<Loc, Vec<usize>> = HashMap::new();
        for (i, f) in ifaces.iter().enumerate() {
            for c in &f.cidrs {
                by_addr.entry(c.addr).or_insert(i);
            }
            at.entry(f.loc.clone()).or_default().push(i);
        }
        let routes = d
            .namespaces
            .iter()
            .map(|(n, s)| (Loc::Ns(n.clone()), s.routes.clone()))
            .collect();
        let mut forward: HashMap<Loc, bool> = d
            .namespaces
            .iter()
            .map(|(n, s)| (Loc::Ns(n.clone()), s.forward == Some(true)))
            .collect();
        for v in &virt {
            forward.insert(v.clone(), true);
        }
        Net {
            ifaces,
            routes,
            forward,
            by_addr,
            at,
            virt,
        }
    }

    fn ifaces_at<'a>(&'a self, at: &Loc) -> impl Iterator<Item = (usize, &'a Iface)> + 'a {
        self.at
            .get(at)
            .into_iter()
            .flatten()
            .map(move |&i| (i, &self.ifaces[i]))
    }

    /// Who has `addr`, and on which interface.
    pub fn owner_of(&self, addr: &IpAddr) -> Option<&Iface> {
        self.by_addr.get(addr).map(|&i| &self.ifaces[i])
    }

    /// Longest-prefix match at `at`: the interface and next hop for `dst`.
    fn lookup(&self, at: &Loc, dst: &IpAddr) -> Option<(usize, IpAddr)> {
        let mut best: Option<(u8, usize, IpAddr)> = None;
        let mut take = |p: u8, i: usize, nh: IpAddr| {
            if best.is_none_or(|(bp, ..)| p > bp) {
                best = Some((p, i, nh));
            }
        };
        for (i, f) in self.ifaces_at(at) {
            for c in f.cidrs.iter().filter(|c| c.contains(dst)) {
                take(c.prefix, i, *dst);
            }
        }
        for r in self.routes.get(at).into_iter().flatten() {
            let prefix = match r.dest {
                RouteDest::Default if r.via.is_ipv4() == dst.is_ipv4() => 0,
                RouteDest::Net(n) if n.contains(dst) => n.prefix,
                _ => continue,
            };
            // the kernel accepts a gateway only on a connected subnet
            let out = self
                .ifaces_at(at)
                .find(|(_, f)| f.cidrs.iter().any(|c| c.contains(&r.via)));
            if let Some((i, _)) = out {
                take(prefix, i, r.via);
            }
        }
        best.map(|(_, i, nh)| (i, nh))
    }

    /// The source address `at` puts on a packet to `dst`.
    fn source(&self, at: &Loc, dst: &IpAddr) -> Option<IpAddr> {
        let (i, nh) = self.lookup(at, dst)?;
        let same = |c: &&Cidr| c.addr.is_ipv4() == dst.is_ipv4();
        let f = &self.ifaces[i];
        f.cidrs
            .iter()
            .filter(same)
            .find(|c| c.contains(&nh))
            .or_else(|| f.cidrs.iter().find(same))
            .map(|c| c.addr)
    }

    fn has(&self, at: &Loc, addr: &IpAddr) -> bool {
        self.owner_of(addr).is_some_and(|f| &f.loc == at)
    }

    /// Follow a packet from `from` to `dst`: where it is delivered, and the
    /// neighbour entries it needs; or why it is not.
    fn walk(&self, from: &Loc, dst: &IpAddr, neigh: &mut Vec<Neigh>) -> Result<Loc, String> {
        let mut cur = from.clone();
        for _ in 0..32 {
            if self.has(&cur, dst) {
                return Ok(cur);
            }
            if &cur != from && !self.forward.get(&cur).copied().unwrap_or(false) {
                return Err(format!(
                    "{cur} does not forward (forward = true is not set)"
                ));
            }
            let (i, nh) = self
                .lookup(&cur, dst)
                .ok_or_else(|| format!("{cur} has no route to {dst}"))?;
            let seg = &self.ifaces[i].seg;
            let next = self
                .owner_of(&nh)
                .filter(|f| &f.seg == seg)
                .ok_or_else(|| format!("nothing on {seg} has {nh}"))?;
            if !self.virt.contains(&cur) {
                neigh.push((cur.clone(), nh));
            }
            cur = next.loc.clone();
        }
        Err("routing loop".into())
    }

    /// Whether an echo from `from` to `dst` is answered: there and back.
    pub fn path(&self, from: &NsName, dst: &IpAddr) -> Result<Path, String> {
        let from = Loc::Ns(from.clone());
        let src = self
            .source(&from, dst)
            .ok_or_else(|| format!("{from} has no route to {dst}"))?;
        let mut neigh = Vec::new();
        let at = self.walk(&from, dst, &mut neigh)?;
        let there = neigh.len();
        let back = self
            .walk(&at, &src, &mut neigh)
            .map_err(|e| format!("no way back from {at} to {src}: {e}"))?;
        if back != from {
            return Err(format!("replies to {src} go to {back}"));
        }
        Ok(Path { hops: there, neigh })
    }

    /// The namespaces that have an address: the sources of probes.
    pub fn sources(&self) -> Vec<NsName> {
        let mut v: Vec<NsName> = self
            .ifaces
            .iter()
            .filter(|f| !f.cidrs.is_empty() && !self.virt.contains(&f.loc))
            .filter_map(|f| f.loc.ns().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Why `from` would try `dst` at all: a connected subnet of one of its
    /// interfaces (on which segment), or a route (which).
    pub fn reason(&self, from: &NsName, dst: &IpAddr) -> Option<(String, bool)> {
        let at = Loc::Ns(from.clone());
        for (_, f) in self.ifaces_at(&at) {
            if f.cidrs.iter().any(|c| c.contains(dst)) {
                return Some((f.seg.clone(), true));
            }
        }
        self.routes.get(&at).into_iter().flatten().find_map(|r| {
            let covers = match r.dest {
                RouteDest::Default => r.via.is_ipv4() == dst.is_ipv4(),
                RouteDest::Net(n) => n.contains(dst),
            };
            covers.then(|| (format!("route {} via {}", r.dest, r.via), false))
        })
    }

    /// The segment of `from`'s interface whose subnet holds `dst`.
    pub fn local_segment(&self, from: &NsName, dst: &IpAddr) -> Option<&Iface> {
        let at = Loc::Ns(from.clone());
        self.ifaces_at(&at)
            .map(|(_, f)| f)
            .find(|f| f.cidrs.iter().any(|c| c.contains(dst)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backend, EndSpec, NsSpec, PortSpec, SwitchSpec, Via};

    fn ns(s: &str) -> NsName {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn lab() -> Desired {
        let mut d = Desired::new("t".parse().unwrap());
        for (sw, b) in [("s1", Backend::Bridge), ("s2", Backend::Ovs)] {
            d.switches.insert(
                sw.parse().unwrap(),
                SwitchSpec {
                    backend: b,
                    loc: Loc::Host,
                    addrs: vec![],
                    ..Default::default()
                },
            );
        }
        let port = |n: &str, sw: &str, a: &str, vlan| PortSpec {
            ns: ns(n),
            switch: sw.parse().unwrap(),
            ifname: None,
            via: Via::Auto,
            vlan,
            end: EndSpec {
                addrs: vec![a.parse().unwrap()],
                mtu: None,
                impair: None,
            },
        };
        d.ports = vec![
            port("a", "s1", "198.18.1.1/24", None),
            port("gw", "s1", "198.18.1.254/24", None),
            port("gw", "s2", "198.18.2.254/24", Some(10)),
            port("b", "s2", "198.18.2.1/24", Some(10)),
            port("c", "s2", "198.18.2.2/24", Some(20)),
        ];
        let route = |to: &str, via: &str| RouteSpec {
            dest: to.parse().unwrap(),
            via: ip(via),
        };
        d.namespaces.insert(
            ns("a"),
            NsSpec {
                routes: vec![route("default", "198.18.1.254")],
                ..Default::default()
            },
        );
        d.namespaces.insert(ns("b"), NsSpec::default());
        d.namespaces.insert(
            ns("c"),
            NsSpec {
                routes: vec![route("default", "198.18.2.254")],
                ..Default::default()
            },
        );
        d.namespaces.insert(
            ns("gw"),
            NsSpec {
                forward: Some(true),
                ..Default::default()
            },
        );
        d
    }

    #[test]
    fn routes_hop_by_hop_both_ways() {
        let d = lab();
        let n = Net::of(&d);
        // a reaches the gateway's far address: there by the default route
        assert!(n.path(&ns("a"), &ip("198.18.2.254")).is_ok());
        // b has no route back to a's subnet: the echo arrives, the reply cannot
        let e = n.path(&ns("a"), &ip("198.18.2.1")).unwrap_err();
        assert!(
            e.contains("no way back") && e.contains("b has no route"),
            "{e}"
        );
        // c is in VLAN 20, the gateway in VLAN 10: its default route's gateway is not on its segment
        let e = n.path(&ns("c"), &ip("198.18.1.1")).unwrap_err();
        assert!(
            e.contains("nothing on switch s2 vlan 20 has 198.18.2.254"),
            "{e}"
        );
        // same subnet, other VLAN: not reachable
        assert!(n.path(&ns("b"), &ip("198.18.2.2")).is_err());
        // on-link neighbours, both ways
        let p = n.path(&ns("a"), &ip("198.18.1.254")).unwrap();
        assert_eq!(p.hops, 1);
        assert_eq!(p.neigh.len(), 2);
    }

    #[test]
    fn forwarding_off_breaks_the_path() {
        let mut d = lab();
        d.namespaces.get_mut(&ns("b")).unwrap().routes = vec![RouteSpec {
            dest: "default".parse().unwrap(),
            via: ip("198.18.2.254"),
        }];
        let n = Net::of(&d);
        let p = n.path(&ns("a"), &ip("198.18.2.1")).unwrap();
        assert_eq!(p.hops, 2);
        assert_eq!(p.neigh.len(), 4);
        d.namespaces.get_mut(&ns("gw")).unwrap().forward = None;
        let e = Net::of(&d).path(&ns("a"), &ip("198.18.2.1")).unwrap_err();
        assert!(e.contains("gw does not forward"), "{e}");
    }
}
