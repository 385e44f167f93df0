//! A topology tree checked and turned into a `Desired` state: every key,
//! type, name, address, reference and duplicate, with every problem
//! reported (key path, line, column), not just the first. The same rules as
//! the imperative commands (`model::names`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::machines;
use super::tree::{Node, Pos, Problem, Reader, get, join};
use crate::model::impair;
use crate::model::names::{self, Cidr, IfName, Loc, NsName, Owner, RouteDest, parse_ip};
use crate::model::{
    Backend, Desired, Key, LinkSpec, NsSpec, PortSpec, RouteSpec, SwitchSpec, TrunkSpec, Via,
};
use crate::plan::backend as plan_backend;
use crate::plan::switch::all_options;

#[path = "validate_ends.rs"]
mod ends;
#[path = "validate_host.rs"]
mod host;

const TOP: &[&str] = &[
    "name", "backend", "machines", "switches", "hosts", "links", "trunks", "ovn", "routers",
    "names", "expect",
];
const ROUTER: &[&str] = &["ports"];
const ROUTER_PORT: &[&str] = &["switch", "ip"];
/// A switch's own keys; each backend adds its options (`Rules::options`).
const SWITCH: &[&str] = &["backend", "address", "namespace", "span", "vni"];

const HOST: &[&str] = &[
    "machine", "forward", "routes", "ports", "sysctls", "run", "exec",
];
const ROUTE: &[&str] = &["to", "via"];
/// A port's, a link's and a trunk's own keys; each adds its ends' keys
/// (`END_SHARED`, `END_SIDED`, read by `V::end_spec`).
const PORT: &[&str] = &["switch", "via", "ifname", "vlan"];
const LINK: &[&str] = &["a", "b", "a_ifname", "b_ifname"];
const TRUNK: &[&str] = &["a", "b", "vlans", "native", "bond"];
/// What a topology asks of a device's ends (`EndSpec`), keys read by one
/// function for ports, links and trunks: one value for every end of the
/// table (`mtu`) ...
const END_SHARED: &[&str] = &["mtu"];
/// ... and one for each end (`ip` on a port, `a_ip`/`b_ip` on a link; a
/// trunk, layer 2, has none) ...
const END_SIDED: &[&str] = &["ip"];
/// ... and the impairments (`model::impair::KEYS`), shared by every end
/// (`delay`: each direction delayed) unless one end of a link says its own
/// (`a_delay`: only what `a` sends).
const END_EITHER: &[&str] = impair::KEYS;

/// A table's keys: its own, then its ends' (`sides`: the prefix of each
/// end's own keys; none on a trunk).
fn with_end_keys(own: &[&str], sides: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = own.iter().map(|k| k.to_string()).collect();
    for side in sides {
        keys.extend(END_SIDED.iter().map(|k| format!("{side}{k}")));
        if !side.is_empty() {
            keys.extend(END_EITHER.iter().map(|k| format!("{side}{k}")));
        }
    }
    keys.extend(END_SHARED.iter().map(|k| k.to_string()));
    keys.extend(END_EITHER.iter().map(|k| k.to_string()));
    keys
}

struct V {
    r: Reader,
    /// every address given, and where (no address twice in a lab)
    ips: BTreeMap<IpAddr, String>,
}

impl V {
    fn parse<T: std::str::FromStr>(&mut self, s: &str, path: &str, at: Option<Pos>) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        s.parse()
            .map_err(|e: T::Err| self.r.err(path, at, e.to_string()))
            .ok()
    }

    /// Addresses (one string or a list), each unique in the lab.
    fn addrs(&mut self, n: Option<&Node>, path: &str) -> Vec<Cidr> {
        let mut out = Vec::new();
        for (s, p, at) in self.r.strings(n, path) {
            let Some(c) = self.parse::<Cidr>(&s, &p, at) else {
                continue;
            };
            if let Some(prev) = self.ips.get(&c.addr) {
                let m = format!("address {} is already used at {prev}", c.addr);
                self.r.err(&p, at, m);
            } else {
                self.ips.insert(c.addr, p);
                out.push(c);
            }
        }
        out
    }

    fn ifname(&mut self, n: Option<&Node>, path: &str) -> Option<IfName> {
        let (s, at) = self.r.str(n, path)?;
        let name: IfName = self.parse(s, path, at)?;
        if name.as_str() == "lo" {
            self.r.err(path, at, "`lo` is the namespace's loopback");
            return None;
        }
        Some(name)
    }
}

/// Check the whole tree; the topology, or every problem found.
pub fn validate(root: &Node) -> Result<(Owner, Desired), Vec<Problem>> {
    let mut v = V {
        r: Reader::default(),
        ips: BTreeMap::new(),
    };
    let port_keys = with_end_keys(PORT, &[""]);
    let link_keys_known = with_end_keys(LINK, &["a_", "b_"]);
    let trunk_keys_known = with_end_keys(TRUNK, &[]);
    let Some(top) = v.r.table(root, "", TOP) else {
        return Err(v.r.problems);
    };
    let name: Option<Owner> = match v.r.required_str(top, root.at, "", "name") {
        Some(("cli", at)) => {
            v.r.err("name", at, "`cli` is reserved for imperative commands");
            None
        }
        Some((s, at)) if s.contains('+') => {
            v.r.err(
                "name",
                at,
                "`+` joins a lab's name to a machine's; not in a name",
            );
            None
        }
        Some((s, at)) => v.parse(s, "name", at),
        None => None,
    };
    let default_backend = match v.r.str(get(top, "backend"), "backend") {
        Some((s, at)) => v.parse(s, "backend", at).unwrap_or(Backend::Bridge),
        None => Backend::Bridge,
    };
    let mut d = Desired::new(name.clone().unwrap_or_else(Owner::cli));
    machines::read_machines(&mut v.r, top, &mut d);
    // where each host, switch, link is in the file, for problems found later
    let mut pos: BTreeMap<String, Option<Pos>> = BTreeMap::new();
    let mut given_machine = BTreeMap::new();
    let mut spans = BTreeMap::new();

    // hosts first: switches and links refer to them
    let hosts_t = v.r.entries(get(top, "hosts"), "hosts");
    let mut hosts: BTreeSet<NsName> = BTreeSet::new();
    for (h, n) in hosts_t {
        if let Some(ns) = v.parse::<NsName>(h, &join("hosts", h), n.at) {
            hosts.insert(ns);
        }
    }
    let switches_t = v.r.entries(get(top, "switches"), "switches");
    let options = all_options();
    let switch_keys: Vec<&str> = SWITCH
        .iter()
        .copied()
        .chain(options.iter().map(|o| o.key))
        .collect();
    for (sname, n) in switches_t {
        let path = join("switches", sname);
        let name: Option<IfName> = v.parse(sname, &path, n.at);
        let Some(s) = v.r.table(n, &path, &switch_keys) else {
            continue;
        };
        let bp = join(&path, "backend");
        let backend = match v.r.str(get(s, "backend"), &bp) {
            Some((b, at)) => v.parse(b, &bp, at).unwrap_or(default_backend),
            None => default_backend,
        };
        let np = join(&path, "namespace");
        let mut ns_at = None;
        let loc = match v.r.str(get(s, "namespace"), &np) {
            None => Loc::Host,
            Some((ns, at)) => match v.parse::<NsName>(ns, &np, at) {
                Some(ns) => {
                    ns_at = Some(at);
                    if !hosts.contains(&ns) {
                        // the namespace only hosts the bridge: create it too
                        d.namespaces.insert(ns.clone(), NsSpec::default());
                    }
                    Loc::Ns(ns)
                }
                None => Loc::Host,
            },
        };
        let addrs = v.addrs(get(s, "address"), &join(&path, "address"));
        pos.insert(path.clone(), n.at);
        let (span, ovn) = machines::switch_span(&mut v.r, s, &path);
        if let (Some(n), Some(sp)) = (&name, span) {
            spans.insert(n.clone(), sp);
        }
        let backend = match ovn {
            // OVN's logical switches run on Open vSwitch: a backend whose
            // data plane is Open vSwitch ("ovs") says the same
            Some(at)
                if !plan_backend(backend).rules().data_plane.uses_open_vswitch()
                    && get(s, "backend").is_some() =>
            {
                let m = format!(
                    "span = \"ovn\" makes an OVN logical switch (on Open vSwitch), not a {backend} switch"
                );
                v.r.err(&join(&path, "span"), at, m);
                backend
            }
            Some(_) => Backend::Ovn,
            None => backend,
        };
        // what the backend allows, asked of the backend
        let rules = plan_backend(backend).rules();
        if let (Some(at), Some(why)) = (ns_at, rules.no_namespace) {
            v.r.err(&np, at, why);
        }
        let mut opts = vec![];
        for o in &options {
            let p = join(&path, o.key);
            let Some(node) = get(s, o.key) else {
                continue;
            };
            let (x, at) = (node.to_json(), node.at);
            if !rules.options.iter().any(|m| m.key == o.key) {
                v.r.err(&p, at, crate::plan::switch::only_who_has(o.key));
                continue;
            }
            match (o.check)(&x) {
                Ok(x) => opts.push((o.set, x)),
                Err(e) => v.r.err(&p, at, e.to_string()),
            }
        }
        if let Some(n) = name {
            let mut spec = SwitchSpec {
                backend,
                loc,
                addrs,
                ..Default::default()
            };
            // each option where its backend keeps it
            for (set, x) in opts {
                set(&mut spec, x);
            }
            // a file says all of an OVS bridge's spanning tree: neither
            // key is none
            if backend == Backend::Ovs {
                spec.spanning.get_or_insert_default();
            }
            d.switches.insert(n, spec);
        }
    }
    for (hname, n) in hosts_t {
        let path = join("hosts", hname);
        let Some(h) = v.r.table(n, &path, HOST) else {
            continue;
        };
        let Ok(ns) = hname.parse::<NsName>() else {
            continue; // said above
        };
        pos.insert(path.clone(), n.at);
        if let Some(m) = machines::host_machine(&mut v.r, h, &path, &d) {
            given_machine.insert(ns.clone(), m);
        }
        let mut routes: Vec<RouteSpec> = Vec::new();
        let rp = join(&path, "routes");
        for (i, r) in v.r.array(get(h, "routes"), &rp).iter().enumerate() {
            let p = format!("{rp}[{i}]");
            let Some(rt) = v.r.table(r, &p, ROUTE) else {
                continue;
            };
            let to = v.r.required_str(rt, r.at, &p, "to");
            let via = v.r.required_str(rt, r.at, &p, "via");
            let dest = to.and_then(|(s, at)| v.parse::<RouteDest>(s, &join(&p, "to"), at));
            let gw = via.and_then(|(s, at)| {
                parse_ip(s)
                    .map_err(|e| v.r.err(&join(&p, "via"), at, e.to_string()))
                    .ok()
            });
            let (Some(dest), Some(gw)) = (dest, gw) else {
                continue;
            };
            if let RouteDest::Net(c) = dest
                && c.addr.is_ipv4() != gw.is_ipv4()
            {
                let m = format!("{dest} and gateway {gw} are of different IP families");
                v.r.err(&p, r.at, m);
            } else if routes.iter().any(|x| x.dest == dest) {
                v.r.err(&p, r.at, format!("a route to {dest} is already given"));
            } else {
                routes.push(RouteSpec { dest, via: gw });
            }
        }
        let forward = v.r.bool(get(h, "forward"), &join(&path, "forward"));
        let mut spec = NsSpec {
            forward,
            routes,
            ..Default::default()
        };
        v.host_runs(h, &path, &mut spec);
        d.namespaces.insert(ns.clone(), spec);
        let mut ifnames: BTreeSet<String> = BTreeSet::new();
        let mut attached: BTreeSet<String> = BTreeSet::new();
        let pp = join(&path, "ports");
        for (i, pn) in v.r.array(get(h, "ports"), &pp).iter().enumerate() {
            let p = format!("{pp}[{i}]");
            let Some(pt) = v.r.table(pn, &p, &port_keys) else {
                continue;
            };
            let swp = join(&p, "switch");
            let sw = match v.r.required_str(pt, pn.at, &p, "switch") {
                Some((s, at)) if !switches_t.iter().any(|(k, _)| k == s) => {
                    v.r.err(&swp, at, format!("no switch {s:?} in [switches]"));
                    None
                }
                Some((s, at)) => {
                    if !attached.insert(s.to_string()) {
                        v.r.err(&swp, at, format!("{hname} is already attached to {s}"));
                    }
                    v.parse::<IfName>(s, &swp, at)
                }
                None => None,
            };
            let sw_backend = sw
                .as_ref()
                .and_then(|s| d.switches.get(s))
                .map(|s| s.backend);
            let vp = join(&p, "via");
            let via = match v.r.str(get(pt, "via"), &vp) {
                Some((s, at)) => {
                    let via = v.parse::<Via>(s, &vp, at).unwrap_or_default();
                    if let Some(b) = sw_backend.map(plan_backend)
                        && via != Via::Auto
                        && !b.wirings().contains(&via)
                    {
                        let ways: Vec<String> = b.wirings().iter().map(|w| w.to_string()).collect();
                        let m = format!(
                            "a {} switch has no {via} ports; it attaches by {}",
                            b.backend(),
                            ways.join(", ")
                        );
                        v.r.err(&vp, at, m);
                    }
                    via
                }
                None => Via::Auto,
            };
            let ifp = join(&p, "ifname");
            let ifname = v.ifname(get(pt, "ifname"), &ifp);
            if let Some(x) = &ifname
                && !ifnames.insert(x.to_string())
            {
                let at = get(pt, "ifname").and_then(|n| n.at);
                v.r.err(&ifp, at, format!("{x} is used twice in {hname}"));
            }
            let vlp = join(&p, "vlan");
            let vlan = v.r.int(get(pt, "vlan"), &vlp).and_then(|(x, at)| {
                let id = names::vlan(x)
                    .map_err(|e| v.r.err(&vlp, at, e.to_string()))
                    .ok()?;
                if let Some(why) = sw_backend.and_then(|b| plan_backend(b).rules().no_vlans) {
                    v.r.err(&vlp, at, format!("no access VLANs here: {why}"));
                }
                Some(id)
            });
            let shared = v.shared_end(pt, &p);
            let end = v.own_end(pt, &p, "", &shared);
            if let Some(sw) = sw {
                d.ports.push(PortSpec {
                    ns: ns.clone(),
                    switch: sw,
                    ifname,
                    via,
                    vlan,
                    end,
                });
            }
        }
    }
    let mut link_keys = BTreeSet::new();
    for (i, ln) in v.r.array(get(top, "links"), "links").iter().enumerate() {
        let lp = format!("links[{i}]");
        let Some(l) = v.r.table(ln, &lp, &link_keys_known) else {
            continue;
        };
        let end = |v: &mut V, key: &str| -> Option<Loc> {
            let p = join(&lp, key);
            let (s, at) = v.r.required_str(l, ln.at, &lp, key)?;
            match v.parse::<Loc>(s, &p, at)? {
                Loc::Ns(n) if !hosts.contains(&n) => {
                    v.r.err(&p, at, format!("no host \"{n}\" in [hosts] (or `host`)"));
                    None
                }
                loc => Some(loc),
            }
        };
        let a = end(&mut v, "a");
        let b = end(&mut v, "b");
        let a_ifname = v.ifname(get(l, "a_ifname"), &join(&lp, "a_ifname"));
        let b_ifname = v.ifname(get(l, "b_ifname"), &join(&lp, "b_ifname"));
        let shared = v.shared_end(l, &lp);
        let a_end = v.own_end(l, &lp, "a_", &shared);
        let b_end = v.own_end(l, &lp, "b_", &shared);
        pos.insert(lp.clone(), ln.at);
        let (Some(a), Some(b)) = (a, b) else {
            continue;
        };
        if !link_keys.insert(Key::link(&a, &b)) {
            v.r.err(&lp, ln.at, format!("{a} and {b} are already linked"));
            continue;
        }
        d.links.push(LinkSpec {
            a,
            b,
            a_ifname,
            b_ifname,
            a_end,
            b_end,
        });
    }
    let mut trunk_keys = BTreeSet::new();
    for (i, tn) in v.r.array(get(top, "trunks"), "trunks").iter().enumerate() {
        let tp = format!("trunks[{i}]");
        let Some(t) = v.r.table(tn, &tp, &trunk_keys_known) else {
            continue;
        };
        let end = |v: &mut V, key: &str| -> Option<IfName> {
            let p = join(&tp, key);
            let (s, at) = v.r.required_str(t, tn.at, &tp, key)?;
            let Some((_, spec)) = d.switches.iter().find(|(k, _)| k.as_str() == s) else {
                v.r.err(&p, at, format!("no switch {s:?} in [switches]"));
                return None;
            };
            if let Some(why) = plan_backend(spec.backend).rules().no_trunks {
                v.r.err(&p, at, why);
                return None;
            }
            s.parse().ok()
        };
        let a = end(&mut v, "a");
        let b = end(&mut v, "b");
        let end = v.shared_end(t, &tp);
        let vlans = v.vlans(get(t, "vlans"), &join(&tp, "vlans"));
        let native =
            v.r.int(get(t, "native"), &join(&tp, "native"))
                .and_then(|(x, at)| {
                    names::vlan(x)
                        .map_err(|e| v.r.err(&join(&tp, "native"), at, e.to_string()))
                        .ok()
                });
        // VLANs are an OVS end's to filter: a Linux bridge here forwards
        // every frame as it is (no VLAN filtering)
        let ovs_end = [&a, &b].iter().any(|s| {
            s.as_ref()
                .and_then(|s| d.switches.get(s))
                .is_some_and(|x| x.backend == Backend::Ovs)
        });
        // a bond is two OVS bonds: both ends OVS (`model::bond`)
        let bond = get(t, "bond").and_then(|n| {
            let bp = join(&tp, "bond");
            let bond = crate::model::bond::Bond::from_json(&n.to_json())
                .map_err(|e| v.r.err(&bp, n.at, e))
                .ok()?;
            let not_ovs = [&a, &b].into_iter().flatten().find(|s| {
                d.switches.get(s).is_some_and(|x| x.backend != Backend::Ovs)
            });
            if let Some(s) = not_ovs {
                v.r.err(&bp, n.at, format!("a bond needs an OVS switch at each end; {s} is not one (a Linux bridge here has no bonding)"));
                return None;
            }
            Some(bond)
        });
        if (!vlans.is_empty() || native.is_some()) && !ovs_end && a.is_some() && b.is_some() {
            v.r.err(
                &tp,
                tn.at,
                "vlans and native need an OVS end: a Linux bridge forwards every VLAN as it is (no VLAN filtering)",
            );
        }
        let (Some(a), Some(b)) = (a, b) else {
            continue;
        };
        if a == b {
            v.r.err(
                &tp,
                tn.at,
                format!("a trunk joins two switches, not {a} to itself"),
            );
            continue;
        }
        if !trunk_keys.insert(Key::trunk(&a, &b)) {
            v.r.err(
                &tp,
                tn.at,
                format!("{a} and {b} are already joined by a trunk"),
            );
            continue;
        }
        let (a, b) = if a < b { (a, b) } else { (b, a) };
        pos.entry("trunks".into()).or_insert(tn.at);
        d.trunks.push(TrunkSpec {
            a,
            b,
            end,
            vlans,
            native,
            bond,
        });
    }
    // every host names the lab's hosts (/etc/netns/NAME/hosts), and the
    // file's other `names`
    v.names(get(top, "names"), &mut d);
    v.expectations(get(top, "expect"), &mut d);
    let names: std::sync::Arc<str> = crate::plan::host::hosts_file(&d).into();
    for s in d.namespaces.values_mut() {
        s.hosts = Some(names.clone());
    }
    super::loops::check(&mut v.r, &d, pos.get("trunks").copied().flatten());
    machines::finish(&mut v.r, &mut d, given_machine, spans, &|p| {
        pos.get(p).copied().flatten()
    });
    // OVN logical routers: ports on the lab's OVN switches
    for (rname, n) in v.r.entries(get(top, "routers"), "routers") {
        let path = join("routers", rname);
        let name: Option<IfName> = v.parse(rname, &path, n.at);
        let Some(rt) = v.r.table(n, &path, ROUTER) else {
            continue;
        };
        let mut spec = crate::model::RouterSpec::default();
        let pp = join(&path, "ports");
        for (i, pn) in v.r.array(get(rt, "ports"), &pp).iter().enumerate() {
            let ip = format!("{pp}[{i}]");
            let Some(t) = v.r.table(pn, &ip, ROUTER_PORT) else {
                continue;
            };
            let sp = join(&ip, "switch");
            let Some((sw, at)) = v.r.str(get(t, "switch"), &sp) else {
                v.r.err(&ip, pn.at, "a router port names its `switch`");
                continue;
            };
            let Some(sw) = v.parse::<IfName>(sw, &sp, at) else {
                continue;
            };
            match d.switches.get(&sw) {
                Some(s) if s.backend == Backend::Ovn => {}
                Some(_) => {
                    v.r.err(&sp, at, format!("{sw} is not an OVN switch (span = \"ovn\"): a router joins OVN switches"));
                    continue;
                }
                None => {
                    v.r.err(&sp, at, format!("no switch {sw} in [switches]"));
                    continue;
                }
            }
            if spec.ports.iter().any(|p| p.switch == sw) {
                v.r.err(&sp, at, format!("the router has a port on {sw} already"));
                continue;
            }
            let addrs = v.addrs(get(t, "ip"), &join(&ip, "ip"));
            if addrs.is_empty() {
                v.r.err(&ip, pn.at, "a router port needs an address (`ip`)");
                continue;
            }
            spec.ports
                .push(crate::model::RouterPortSpec { switch: sw, addrs });
        }
        if let Some(n) = name {
            d.routers.insert(n, spec);
        }
    }
    machines::read_ovn(&mut v.r, top, &mut d);
    match name {
        Some(name) if v.r.problems.is_empty() => {
            d.owner = name.clone();
            Ok((name, d))
        }
        _ => Err(v.r.problems),
    }
}
