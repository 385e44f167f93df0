//! A lab over several machines, cut into one part per machine (pure): the
//! coordinator resolves the whole lab once (the VXLAN identifier of every
//! spanning switch, deterministic from the lab and the switch), and each
//! machine's part is the hosts placed on it, their ports and links, the
//! switches they use, and one tunnel per spanning switch to every other
//! machine that has ports on it. Each part is planned and applied on its
//! machine by the same planner as a one-machine lab.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::switch::DataPlane;

pub use super::underlay::{UNDERLAY_IF, UNDERLAY_MTU, phy_bridge, simulated, underlay};
use super::underlay::{data_plane, switch_on};

use crate::model::names::{Cidr, IfName, Loc, Owner, stable_hash};
use crate::model::{
    Backend, Desired, Reach, SpanSpec, SwitchSpec, TunnelSpec, UplinkSpec, VXLAN_PORT,
    VXLAN_PORT_OVS_BESIDE_KERNEL, XLinkSpec,
};

/// Whether the lab has kernel VXLAN devices: a Linux bridge span or a
/// direct link between hosts on two machines.
fn kernel_vxlan(d: &Desired) -> bool {
    let machine_of = |loc: &Loc| loc.ns().and_then(|n| d.placement.get(n));
    d.spans.keys().any(|sw| switch_on(d, sw, DataPlane::Kernel))
        || d.links.iter().any(|l| {
            let (a, b) = (machine_of(&l.a), machine_of(&l.b));
            a.is_some() && b.is_some() && a != b
        })
}

/// The UDP port of switch `sw`'s tunnels: 4789, but for an OVS span in a
/// lab that also has kernel VXLAN (see `VXLAN_PORT_OVS_BESIDE_KERNEL`).
pub fn span_port(d: &Desired, sw: &IfName) -> u16 {
    if switch_on(d, sw, DataPlane::OpenVswitch) && kernel_vxlan(d) {
        VXLAN_PORT_OVS_BESIDE_KERNEL
    } else {
        VXLAN_PORT
    }
}

/// Whether an agent's part `p` is on a simulated machine and has OVS
/// switches: then the machine's own Open vSwitch runs in its namespace
/// (its agent starts it, the coordinator stops it when the lab goes).
pub fn needs_sandbox(p: &Desired) -> bool {
    let m = p.owner.machine().and_then(|m| m.parse::<Owner>().ok());
    let sim = m
        .and_then(|m| p.machines.get(&m))
        .is_some_and(|s| matches!(s.reach, Reach::Netns(_)));
    sim && p
        .switches
        .values()
        .any(|s| data_plane(s).uses_open_vswitch())
}

/// Whether an agent's part makes its machine's Open vSwitch carry tunnels:
/// an OVS switch spanning machines (VXLAN), or an OVN chassis (Geneve).
/// (Decides the machine's userspace TSO: `effect::ovs::tso`.)
pub fn ovs_carries_tunnels(p: &Desired) -> bool {
    needs_chassis(p)
        || p.tunnels.iter().any(|t| {
            p.switches
                .get(&t.switch)
                .is_some_and(|s| data_plane(s).uses_open_vswitch())
        })
}

/// Whether an agent's part has OVN switches: its machine must be a
/// chassis.
pub fn needs_chassis(p: &Desired) -> bool {
    p.switches
        .values()
        .any(|s| data_plane(s) == DataPlane::OvnChassis)
}

/// How many machines of the lab run on this box (the simulated ones; at
/// least this one): what shares its kernel's tables.
pub fn sharing_this_box(d: &Desired) -> usize {
    simulated(d).len().max(1)
}

/// The VNI of switch `sw` of `lab` when the file gives none: 1..=16777215.
pub fn derived_vni(lab: &Owner, sw: &IfName) -> u32 {
    1 + stable_hash(&["vni", lab.as_str(), sw.as_str()]) % 0xff_fffe
}

/// The VNI of a direct link across machines: derived from the lab and the
/// link's two ends (the same on both machines), past the switches' ones.
fn link_vni(lab: &Owner, l: &crate::model::LinkSpec, used: &BTreeSet<u32>) -> u32 {
    let (a, b) = (l.a.to_string(), l.b.to_string());
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let mut v = 1 + stable_hash(&["vni-link", lab.as_str(), &a, &b]) % 0xff_fffe;
    while used.contains(&v) {
        v = v % 0xff_ffff + 1;
    }
    v
}

/// The lab with every spanning switch's VNI filled in (given ones kept;
/// derived ones moved on past a clash with another switch of the lab).
pub fn resolve(d: &Desired) -> Desired {
    let mut out = d.clone();
    let mut used: BTreeSet<u32> = d.spans.values().filter_map(|s| s.vni).collect();
    for (sw, spec) in out.spans.iter_mut() {
        if spec.vni.is_none() {
            let mut v = derived_vni(&d.owner, sw);
            while used.contains(&v) {
                v = v % 0xff_ffff + 1;
            }
            used.insert(v);
            *spec = SpanSpec { vni: Some(v) };
        }
    }
    out
}

/// Machine `m`'s part of a resolved lab.
pub fn part(d: &Desired, m: &Owner) -> Desired {
    let mut p = Desired::new(d.owner.clone());
    p.machines = d.machines.clone();
    p.ovn = d.ovn.clone();
    let here = |ns: &crate::model::names::NsName| d.placement.get(ns) == Some(m);
    for (ns, spec) in &d.namespaces {
        if here(ns) {
            p.namespaces.insert(ns.clone(), spec.clone());
            p.placement.insert(ns.clone(), m.clone());
        }
    }
    // the other machines' hosts by name, as the whole lab's are
    let all = crate::plan::host::names(d);
    p.names = all
        .iter()
        .filter(|(n, _)| n.parse().map_or(true, |ns| !here(&ns)))
        .map(|(n, a)| (n.clone(), a.clone()))
        .collect();
    p.expect = d.expect.iter().filter(|e| here(&e.from)).cloned().collect();
    p.ports = d.ports.iter().filter(|x| here(&x.ns)).cloned().collect();
    // a spanning switch's guests: what its tunnel leaves of the underlay
    super::underlay::fit_guests(d, &mut p.ports);
    p.links = d
        .links
        .iter()
        .filter(|l| [&l.a, &l.b].iter().all(|loc| loc.ns().is_none_or(&here)))
        .cloned()
        .collect();
    // a link between hosts on two machines: a point-to-point VXLAN each side
    let used: BTreeSet<u32> = d.spans.values().filter_map(|s| s.vni).collect();
    let machine_of = |loc: &Loc| loc.ns().and_then(|n| d.placement.get(n));
    for l in &d.links {
        let (ma, mb) = (machine_of(&l.a), machine_of(&l.b));
        let (Some(ma), Some(mb)) = (ma, mb) else {
            continue;
        };
        if ma == mb || (ma != m && mb != m) {
            continue;
        }
        let (here_a, there) = if ma == m { (true, mb) } else { (false, ma) };
        let (Some(local), Some(remote)) = (
            d.machines.get(m).map(|x| x.vtep),
            d.machines.get(there).map(|x| x.vtep),
        ) else {
            continue;
        };
        p.xlinks.push(XLinkSpec {
            link: l.clone(),
            here_a,
            vni: link_vni(&d.owner, l, &used),
            local,
            remote,
        });
    }
    for (sw, spec) in &d.switches {
        if d.switch_on(sw, m) {
            p.switches.insert(sw.clone(), spec.clone());
        }
    }
    p.trunks = d
        .trunks
        .iter()
        .filter(|t| d.trunk_machine(t).as_ref() == Some(m))
        .cloned()
        .collect();
    let vtep = |x: &Owner| d.machines.get(x).map(|s| s.vtep);
    for (sw, span) in &d.spans {
        let on = d.machines_of(sw);
        let (Some(local), Some(vni)) = (vtep(m), span.vni) else {
            continue;
        };
        if !on.contains(m) {
            continue;
        }
        p.spans.insert(sw.clone(), *span);
        let remotes = on
            .iter()
            .filter(|x| **x != m)
            .filter_map(|x| vtep(x))
            .collect();
        p.tunnels.push(TunnelSpec {
            switch: sw.clone(),
            vni,
            local,
            remotes,
            port: span_port(d, sw),
        });
    }
    if let (Some(phy), Some(vtep)) = (phy_bridge(d, m), vtep(m)) {
        let vteps: Vec<_> = simulated(d).iter().map(|s| s.2).collect();
        let prefix = super::underlay::underlay_prefix(&vteps).unwrap_or(24);
        p.switches.insert(
            phy.clone(),
            SwitchSpec {
                backend: Backend::Ovs,
                loc: Loc::Host,
                addrs: vec![Cidr { addr: vtep, prefix }],
                ..Default::default()
            },
        );
        p.uplinks.push(UplinkSpec {
            switch: phy,
            dev: UNDERLAY_IF.parse().expect("valid name"),
        });
    }
    p
}

/// Machine `m`'s part, owned by `LAB+m` (what its agent plans).
pub fn agent_part(d: &Desired, m: &Owner) -> Desired {
    let mut p = part(&resolve(d), m);
    p.owner = d.owner.for_machine(m);
    p
}

/// Every machine's part, by machine.
pub fn parts(d: &Desired) -> BTreeMap<Owner, Desired> {
    let d = resolve(d);
    d.machines
        .keys()
        .map(|m| (m.clone(), part(&d, m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::topology::parse;
    use crate::model::Via;

    const LAB: &str = r#"
name = "ml"
[machines.m1]
vtep = "198.18.200.1"
netns = "mlm1"
[machines.m2]
vtep = "198.18.200.2"
netns = "mlm2"
[machines.m3]
vtep = "198.18.200.3"
reach = "ssh:root@198.18.200.3"
[switches.s0]
[switches.s1]
vni = 77
[switches.solo]
[hosts.a]
machine = "m1"
[[hosts.a.ports]]
switch = "s0"
ip = "198.18.1.1/24"
[[hosts.a.ports]]
switch = "s1"
[hosts.b]
machine = "m2"
[[hosts.b.ports]]
switch = "s0"
ip = "198.18.1.2/24"
[[hosts.b.ports]]
switch = "solo"
[hosts.c]
machine = "m3"
[[hosts.c.ports]]
switch = "s0"
[[hosts.c.ports]]
switch = "s1"
"#;

    #[test]
    fn each_machine_gets_its_hosts_and_a_tunnel_per_spanning_switch() {
        let d = parse(LAB, false, "ml.toml").unwrap().desired;
        // s0 and s1 have ports on several machines: they span; solo does not
        assert_eq!(d.spans.len(), 2);
        assert_eq!(d.spans[&"s1".parse::<IfName>().unwrap()].vni, Some(77));
        let parts = parts(&d);
        let m1 = &parts[&"m1".parse::<Owner>().unwrap()];
        assert_eq!(m1.namespaces.len(), 1);
        assert_eq!(m1.ports.len(), 2);
        let names: Vec<&str> = m1.switches.keys().map(|s| s.as_str()).collect();
        assert_eq!(names, ["s0", "s1"]);
        let t0 = m1
            .tunnels
            .iter()
            .find(|t| t.switch.as_str() == "s0")
            .unwrap();
        assert_eq!(t0.local.to_string(), "198.18.200.1");
        let remotes: Vec<String> = t0.remotes.iter().map(|r| r.to_string()).collect();
        assert_eq!(remotes, ["198.18.200.2", "198.18.200.3"]);
        let t1 = m1
            .tunnels
            .iter()
            .find(|t| t.switch.as_str() == "s1")
            .unwrap();
        assert_eq!((t1.vni, t1.remotes.len()), (77, 1));
        // the same VNI for s0 on every machine, derived, not 77
        let vnis: BTreeSet<u32> = parts
            .values()
            .flat_map(|p| p.tunnels.iter().filter(|t| t.switch.as_str() == "s0"))
            .map(|t| t.vni)
            .collect();
        assert_eq!(vnis.len(), 1);
        assert_ne!(vnis.iter().next(), Some(&77));
        // solo only on m2, with no tunnel
        let m2 = &parts[&"m2".parse::<Owner>().unwrap()];
        assert!(m2.switches.contains_key(&"solo".parse::<IfName>().unwrap()));
        assert!(!m1.switches.contains_key(&"solo".parse::<IfName>().unwrap()));
        assert!(m2.tunnels.iter().all(|t| t.switch.as_str() != "solo"));
        // a part written and read back is the same part (what an agent gets)
        let text = crate::lab::topology::write::to_toml(m1);
        let back = parse(&text, false, "part").unwrap().desired;
        assert_eq!(back.namespaces, m1.namespaces);
        assert_eq!(back.ports, m1.ports);
    }

    #[test]
    fn simulated_machines_get_an_underlay_of_their_own() {
        let d = parse(LAB, false, "ml.toml").unwrap().desired;
        let u = underlay(&d).unwrap().unwrap();
        // m1 and m2 are simulated, m3 is reached over SSH
        let names: Vec<&str> = u.namespaces.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["ml-underlay", "mlm1", "mlm2"]);
        assert_eq!(u.ports.len(), 2);
        assert!(u.ports.iter().all(|p| p.end.mtu == Some(1600)));
        assert_eq!(u.ports[0].end.addrs[0].to_string(), "198.18.200.1/24");
        let p = agent_part(&d, &"m1".parse().unwrap());
        assert_eq!(p.owner.as_str(), "ml+m1");
        assert_eq!(p.owner.lab(), "ml");
    }

    #[test]
    fn a_link_across_machines_is_a_point_to_point_tunnel_on_each_side() {
        let text = format!("{LAB}[[links]]\na = \"a\"\nb = \"c\"\na_ip = \"198.18.9.1/30\"\n");
        let d = parse(&text, false, "ml.toml").unwrap().desired;
        let p1 = agent_part(&d, &"m1".parse().unwrap());
        let p3 = agent_part(&d, &"m3".parse().unwrap());
        assert!(p1.links.is_empty() && p3.links.is_empty());
        let (x1, x3) = (&p1.xlinks[0], &p3.xlinks[0]);
        assert!(x1.here_a && !x3.here_a);
        assert_eq!(x1.vni, x3.vni);
        assert_eq!((x1.local, x1.remote), (x3.remote, x3.local));
        assert!(p1.spans.values().all(|s| s.vni != Some(x1.vni)));
        assert!(agent_part(&d, &"m2".parse().unwrap()).xlinks.is_empty());
    }

    #[test]
    fn an_ovs_span_puts_each_simulated_machines_vtep_on_an_ovs_bridge() {
        let ovs = LAB.replace("[switches.s1]\n", "[switches.s1]\nbackend = \"ovs\"\n");
        let d = parse(&ovs, false, "ml.toml").unwrap().desired;
        let m1 = agent_part(&d, &"m1".parse().unwrap());
        let phy = phy_bridge(&d, &"m1".parse().unwrap()).unwrap();
        assert_eq!(m1.switches[&phy].backend, Backend::Ovs);
        assert_eq!(m1.switches[&phy].addrs[0].to_string(), "198.18.200.1/24");
        assert_eq!(m1.uplinks[0].dev.as_str(), UNDERLAY_IF);
        // beside s0, a Linux bridge span: the OVS span leaves 4789 to it
        let port = |sw: &str| {
            m1.tunnels
                .iter()
                .find(|t| t.switch.as_str() == sw)
                .unwrap()
                .port
        };
        assert_eq!((port("s0"), port("s1")), (4789, 8472));
        // the underlay gives the address to no simulated machine now
        let u = underlay(&d).unwrap().unwrap();
        assert!(u.ports.iter().all(|p| p.end.addrs.is_empty()));
        // the machine over SSH has its own way to its VTEP: no bridge made
        let m3 = agent_part(&d, &"m3".parse().unwrap());
        assert!(m3.uplinks.is_empty() && phy_bridge(&d, &"m3".parse().unwrap()).is_none());
        assert!(needs_sandbox(&m1) && !needs_sandbox(&m3));
        // without the bridge span, OVS takes the standard port
        let only = ovs.replace("[switches.s0]\n", "[switches.s0]\nbackend = \"ovs\"\n");
        let d = parse(&only, false, "ml.toml").unwrap().desired;
        let m1 = agent_part(&d, &"m1".parse().unwrap());
        assert!(m1.tunnels.iter().all(|t| t.port == 4789));
        // a bridge-only lab: the underlay holds the VTEP, no OVS anywhere
        let d = parse(LAB, false, "ml.toml").unwrap().desired;
        let m1 = agent_part(&d, &"m1".parse().unwrap());
        assert!(m1.uplinks.is_empty() && !needs_sandbox(&m1));
    }

    #[test]
    fn a_trunk_is_made_on_one_machine_only() {
        // s0 spans m1, m2, m3; solo is on m2: the trunk goes to m2
        let text = format!("{LAB}[[trunks]]\na = \"s0\"\nb = \"solo\"\n");
        let d = parse(&text, false, "ml.toml").unwrap().desired;
        let n: Vec<usize> = ["m1", "m2", "m3"]
            .iter()
            .map(|m| agent_part(&d, &m.parse().unwrap()).trunks.len())
            .collect();
        assert_eq!(n, [0, 1, 0]);
        // s0 and s1 both span m1 and m3: on m1 alone (on both, a loop)
        let text = format!("{LAB}[[trunks]]\na = \"s0\"\nb = \"s1\"\n");
        let d = parse(&text, false, "ml.toml").unwrap().desired;
        let n: Vec<usize> = ["m1", "m2", "m3"]
            .iter()
            .map(|m| agent_part(&d, &m.parse().unwrap()).trunks.len())
            .collect();
        assert_eq!(n, [1, 0, 0]);
        // switches that share no machine: refused, with why
        let text = LAB.replace(
            "[[hosts.b.ports]]\nswitch = \"s0\"",
            "[[hosts.b.ports]]\nswitch = \"s9\"",
        ) + "[switches.s9]\n[[trunks]]\na = \"s1\"\nb = \"solo\"\n";
        let Err(crate::lab::topology::TopologyError::Invalid { problems, .. }) =
            parse(&text, false, "t")
        else {
            panic!("invalid")
        };
        let got: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            got.iter()
                .any(|g| g.contains("s1 (on m1, m3) and solo (on m2) share none")),
            "{got:#?}"
        );
    }

    #[test]
    fn derived_vnis_are_stable_and_distinct() {
        let lab: Owner = "l".parse().unwrap();
        let a = derived_vni(&lab, &"s0".parse().unwrap());
        assert_eq!(a, derived_vni(&lab, &"s0".parse().unwrap()));
        assert!((1..=0xff_ffff).contains(&a));
        let mut d = parse(LAB, false, "ml.toml").unwrap().desired;
        // a given VNI equal to the derived one of another switch moves it on
        let s0: IfName = "s0".parse().unwrap();
        let clash = derived_vni(&d.owner, &s0);
        d.spans
            .get_mut(&"s1".parse::<IfName>().unwrap())
            .unwrap()
            .vni = Some(clash);
        let r = resolve(&d);
        assert_ne!(r.spans[&s0].vni, Some(clash));
    }

    #[test]
    fn what_a_lab_over_machines_cannot_have_yet_is_refused_with_its_place() {
        let bad = format!(
            "{LAB}[switches.o]\nbackend = \"ovs\"\novsdb = \"unix:/x\"\n[hosts.d]\nmachine = \"m1\"\n[[hosts.d.ports]]\nswitch = \"o\"\n\
             [hosts.e]\nmachine = \"m2\"\n[[hosts.e.ports]]\nswitch = \"o\"\n[hosts.f]\nmachine = \"m9\"\n"
        );
        let Err(crate::lab::topology::TopologyError::Invalid { problems, .. }) =
            parse(&bad, false, "t")
        else {
            panic!("invalid")
        };
        let got: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        for want in [
            "switches.o: a switch across machines uses each machine's own Open vSwitch",
            "hosts.f.machine: no machine \"m9\" in [machines]",
        ] {
            assert!(
                got.iter().any(|g| g.contains(want)),
                "missing {want:?} in {got:#?}"
            );
        }
        assert!(problems.iter().all(|p| p.line.is_some()), "{problems:?}");
    }

    fn jumbo_lab(mtus: [&str; 2], backend: &str, via: &str) -> Desired {
        let text = format!(
            "name = \"u\"\n[machines.m1]\nvtep = \"198.18.250.1\"\nnetns = \"u-m1\"\n{}\n\
             [machines.m2]\nvtep = \"198.18.250.2\"\nnetns = \"u-m2\"\n{}\n\
             [switches.s]\nbackend = \"{backend}\"\n\
             [hosts.a]\nmachine = \"m1\"\n[[hosts.a.ports]]\nswitch = \"s\"\n{via}\n\
             [hosts.b]\nmachine = \"m2\"\n[[hosts.b.ports]]\nswitch = \"s\"\n{via}\n",
            mtus[0], mtus[1]
        );
        parse(&text, false, "u").unwrap().desired
    }

    fn guest(d: &Desired) -> (Option<u32>, Via) {
        let p = part(&resolve(d), &"m1".parse().unwrap());
        (p.ports[0].end.mtu, p.ports[0].via)
    }

    #[test]
    fn guests_get_what_the_tunnel_leaves_of_every_machines_underlay() {
        let jumbo = ["mtu = 9000", "mtu = 9200"];
        assert_eq!(
            guest(&jumbo_lab(jumbo, "bridge", "")),
            (Some(8950), Via::Auto)
        );
        // OVS: auto picks veth (internal ports moved into a namespace are
        // read with 1500-byte buffers by Open vSwitch 3.1)
        assert_eq!(guest(&jumbo_lab(jumbo, "ovs", "")), (Some(8950), Via::Veth));
        assert_eq!(
            guest(&jumbo_lab(jumbo, "ovs", "via = \"internal\"")),
            (None, Via::Internal)
        );
        // OVN: Geneve's share
        assert_eq!(guest(&jumbo_lab(jumbo, "ovn", "")).0, Some(8900));
        // a machine that does not say its underlay: the kernel's default
        assert_eq!(guest(&jumbo_lab(["mtu = 9000", ""], "bridge", "")).0, None);
        // a simulated machine's underlay is made as big as it says
        let u = underlay(&jumbo_lab(jumbo, "bridge", "")).unwrap().unwrap();
        let mut mtus: Vec<Option<u32>> = u.ports.iter().map(|p| p.end.mtu).collect();
        mtus.sort();
        assert_eq!(mtus, vec![Some(9000), Some(9200)]);
    }
}
