//! The parts of a topology file that spread a lab over several machines:
//! `[machines.NAME]` (its VTEP address and how swctl reaches it), a host's
//! `machine`, a switch's `span` and `vni`; checked with every problem
//! reported, like the rest of the file. What a machine's part is, and the
//! VXLAN identifiers, are `lab::machines`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::tree::{Pos, Reader, Table, get, join};
use crate::model::names::{NsName, Owner, parse_ip};
use crate::model::{Desired, MachineSpec, Reach, SpanSpec};

pub const MACHINE: &[&str] = &["vtep", "reach", "netns", "mtu"];

/// `[machines.*]`
pub fn read_machines(r: &mut Reader, top: Table, d: &mut Desired) {
    let mut vteps: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (m, n) in r.entries(get(top, "machines"), "machines") {
        let path = join("machines", m);
        let name = match m.parse::<Owner>() {
            Ok(_) if m.contains('+') => {
                r.err(
                    &path,
                    n.at,
                    "`+` joins a lab's name to a machine's; not in a name",
                );
                None
            }
            Ok(o) => Some(o),
            Err(e) => {
                r.err(&path, n.at, e.to_string());
                None
            }
        };
        let Some(t) = r.table(n, &path, MACHINE) else {
            continue;
        };
        let vp = join(&path, "vtep");
        let vtep = r
            .required_str(t, n.at, &path, "vtep")
            .and_then(|(s, at)| match parse_ip(s) {
                Ok(ip) => Some((ip, at)),
                Err(e) => {
                    r.err(&vp, at, e.to_string());
                    None
                }
            });
        if let Some((ip, at)) = vtep
            && let Some(prev) = vteps.insert(ip, path.clone())
        {
            r.err(&vp, at, format!("{ip} is already the VTEP of {prev}"));
        }
        let reach = match (
            r.str(get(t, "reach"), &join(&path, "reach")),
            r.str(get(t, "netns"), &join(&path, "netns")),
        ) {
            (Some(_), Some((_, at))) => {
                let m =
                    "a machine is either reached (`reach`) or simulated here (`netns`), not both";
                r.err(&join(&path, "netns"), at, m);
                None
            }
            (None, None) => {
                let m = "missing: `reach = \"local\"` or `\"ssh:USER@HOST\"`, or `netns = \"NAME\"` for a simulated machine";
                r.err(&path, n.at, m);
                None
            }
            (Some((s, at)), None) => reach(r, s, &join(&path, "reach"), at),
            (None, Some((s, at))) => match s.parse::<NsName>() {
                Ok(ns) => Some(Reach::Netns(ns)),
                Err(e) => {
                    r.err(&join(&path, "netns"), at, e.to_string());
                    None
                }
            },
        };
        let mp = join(&path, "mtu");
        let mtu = r
            .int(get(t, "mtu"), &mp)
            .and_then(|(v, at)| match crate::model::names::mtu(v) {
                Ok(m) if m >= 1280 => Some(m),
                Ok(m) => {
                    r.err(
                        &mp,
                        at,
                        format!("{m}: an underlay carries 1280 bytes or more"),
                    );
                    None
                }
                Err(e) => {
                    r.err(&mp, at, e.to_string());
                    None
                }
            });
        if let (Some(name), Some((vtep, _)), Some(reach)) = (name, vtep, reach) {
            d.machines.insert(name, MachineSpec { vtep, reach, mtu });
        }
    }
    let locals = d
        .machines
        .iter()
        .filter(|(_, m)| m.reach == Reach::Local)
        .count();
    if locals > 1 {
        r.err(
            "machines",
            None,
            "more than one machine is `reach = \"local\"`",
        );
    }
}

fn reach(r: &mut Reader, s: &str, path: &str, at: Option<Pos>) -> Option<Reach> {
    if s == "local" {
        return Some(Reach::Local);
    }
    match s.strip_prefix("ssh:") {
        Some(dest)
            if !dest.is_empty()
                && !dest.starts_with('-')
                && dest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "@.-_:[]".contains(c)) =>
        {
            Some(Reach::Ssh(dest.to_string()))
        }
        _ => {
            r.err(
                path,
                at,
                format!("{s:?}: expected \"local\" or \"ssh:USER@HOST\""),
            );
            None
        }
    }
}

/// A host's `machine` (None when not given).
pub fn host_machine(
    r: &mut Reader,
    h: Table,
    path: &str,
    d: &Desired,
) -> Option<(Owner, Option<Pos>)> {
    let mp = join(path, "machine");
    let (s, at) = r.str(get(h, "machine"), &mp)?;
    match s.parse::<Owner>() {
        Ok(m) if d.machines.contains_key(&m) => Some((m, at)),
        Ok(_) => {
            r.err(&mp, at, format!("no machine {s:?} in [machines]"));
            None
        }
        Err(e) => {
            r.err(&mp, at, e.to_string());
            None
        }
    }
}

/// A VXLAN span and where it is in the file.
pub type Span = (SpanSpec, Option<Pos>);

/// A switch's `span` and `vni`; and where `span = "ovn"` is, when it is
/// (an OVN logical switch: no VXLAN of swctl's).
pub fn switch_span(r: &mut Reader, s: Table, path: &str) -> (Option<Span>, Option<Option<Pos>>) {
    let sp = join(path, "span");
    let vp = join(path, "vni");
    let span = r.str(get(s, "span"), &sp);
    let vni = r.int(get(s, "vni"), &vp).and_then(|(v, at)| {
        if (1..=0xff_ffff).contains(&v) {
            Some(v as u32)
        } else {
            r.err(&vp, at, format!("{v}: a VNI is 1 to 16777215"));
            None
        }
    });
    match span {
        Some(("vxlan", at)) => (Some((SpanSpec { vni }, at)), None),
        Some(("ovn", at)) => {
            if vni.is_some() {
                r.err(
                    &vp,
                    at,
                    "an OVN switch's tunnels are OVN's (geneve): no `vni`",
                );
            }
            (None, Some(at))
        }
        Some((x, at)) => {
            r.err(&sp, at, format!("{x:?}: expected \"vxlan\" or \"ovn\""));
            (None, None)
        }
        None if vni.is_some() => (Some((SpanSpec { vni }, None)), None),
        None => (None, None),
    }
}

/// `[ovn]`: the central of a lab with OVN switches (default: swctl's
/// private one, `swctl ovn start`).
pub fn read_ovn(r: &mut Reader, top: Table, d: &mut Desired) {
    let t = get(top, "ovn");
    let dir = std::path::Path::new(crate::effect::paths::OVN_DIR);
    let mut spec = crate::model::OvnSpec {
        nb: format!("unix:{}", dir.join("nb.sock").display()),
        sb: format!("unix:{}", dir.join("sb.sock").display()),
    };
    if let Some(n) = t
        && let Some(tt) = r.table(n, "ovn", &["nb", "sb"])
    {
        for (key, slot) in [("nb", &mut spec.nb), ("sb", &mut spec.sb)] {
            let p = join("ovn", key);
            if let Some((x, at)) = r.str(get(tt, key), &p) {
                match crate::model::names::ovsdb_addr(x) {
                    Ok(a) => *slot = a,
                    Err(e) => r.err(&p, at, e.to_string()),
                }
            }
        }
    }
    if d.switches
        .values()
        .any(|s| s.backend == crate::model::Backend::Ovn)
    {
        d.ovn = Some(spec);
    } else if t.is_some() {
        r.err("ovn", None, "[ovn] without a switch with span = \"ovn\"");
    }
}

/// After the hosts: every host on a machine, switches with ports on
/// several machines spanning them, and what a lab over machines cannot have
/// yet.
pub fn finish(
    r: &mut Reader,
    d: &mut Desired,
    mut given: BTreeMap<NsName, (Owner, Option<Pos>)>,
    spans: BTreeMap<crate::model::names::IfName, (SpanSpec, Option<Pos>)>,
    at_of: &dyn Fn(&str) -> Option<Pos>,
) {
    if d.machines.is_empty() {
        for (ns, (_, at)) in given {
            r.err(
                &join(&join("hosts", ns.as_str()), "machine"),
                at,
                "no [machines] in this file",
            );
        }
        for (sw, (_, at)) in spans {
            let m = "a span joins machines: this file has no [machines]";
            r.err(&join(&join("switches", sw.as_str()), "span"), at, m);
        }
        for (sw, spec) in &d.switches {
            if spec.backend == crate::model::Backend::Ovn {
                let p = join("switches", sw.as_str());
                let m = "an OVN switch needs [machines] (each machine is a chassis)";
                r.err(&p, at_of(&p), m);
            }
        }
        return;
    }
    // the machine of a host that names none: the only one, or the local one
    let fallback = if d.machines.len() == 1 {
        d.machines.keys().next().cloned()
    } else {
        d.machines
            .iter()
            .find(|(_, m)| m.reach == Reach::Local)
            .map(|(n, _)| n.clone())
    };
    let names: Vec<NsName> = d.namespaces.keys().cloned().collect();
    for ns in names {
        let m = match given.remove(&ns) {
            Some((m, _)) => m,
            None => match &fallback {
                Some(m) => m.clone(),
                None => {
                    let all: Vec<String> = d.machines.keys().map(|m| m.to_string()).collect();
                    let p = join("hosts", ns.as_str());
                    let m = format!("which machine? `machine = ` one of {}", all.join(", "));
                    r.err(&p, at_of(&p), m);
                    continue;
                }
            },
        };
        d.placement.insert(ns, m);
    }
    // a port on an OVN switch gets its name here, where every machine's
    // agent and the coordinator see it alike: its Ethernet address is
    // derived from it, and written into the Northbound database before the
    // device exists (`eth` + its place among the host's ports, the name
    // the planner would pick on a fresh host)
    let ovn: Vec<bool> = d
        .ports
        .iter()
        .map(|p| {
            d.switches
                .get(&p.switch)
                .is_some_and(|s| s.backend == crate::model::Backend::Ovn)
        })
        .collect();
    let mut seen: BTreeMap<NsName, usize> = BTreeMap::new();
    for (p, is_ovn) in d.ports.iter_mut().zip(ovn) {
        let k = seen.entry(p.ns.clone()).or_insert(0);
        if is_ovn && p.ifname.is_none() {
            p.ifname = format!("eth{k}").parse().ok();
        }
        *k += 1;
    }
    let mut spanning = BTreeMap::new();
    for (sw, spec) in &d.switches {
        let many = d.machines_of(sw).len() > 1;
        let given = spans.get(sw);
        if !many && given.is_none() {
            continue;
        }
        let p = join("switches", sw.as_str());
        let at = given.and_then(|g| g.1).or_else(|| at_of(&p));
        if spec.backend == crate::model::Backend::Ovn {
            if !spec.addrs.is_empty() {
                r.err(
                    &p,
                    at,
                    "an OVN switch has no address of its own; give the address to a host on it",
                );
            }
            continue;
        }
        if spec.ovsdb.is_some() {
            r.err(
                &p,
                at,
                "a switch across machines uses each machine's own Open vSwitch; drop `ovsdb`",
            );
            continue;
        }
        if !spec.addrs.is_empty() {
            r.err(&p, at, "a switch across machines has no address of its own; give the address to a host on it");
            continue;
        }
        if spec.loc != crate::model::names::Loc::Host {
            r.err(&p, at, "a switch across machines lives in each machine's own namespace, not in `namespace`");
            continue;
        }
        spanning.insert(sw.clone(), given.map_or(SpanSpec { vni: None }, |g| g.0));
    }
    d.spans = spanning;
    for t in &d.trunks {
        if d.trunk_machine(t).is_none() {
            let on = |sw: &crate::model::names::IfName| {
                let ms: Vec<String> = d.machines_of(sw).iter().map(|m| m.to_string()).collect();
                format!("{sw} (on {})", ms.join(", "))
            };
            let m = format!(
                "a trunk joins two switches on one machine: {} and {} share none",
                on(&t.a),
                on(&t.b)
            );
            r.err("trunks", at_of("trunks"), m);
        }
    }
}
