//! `swctl export`: a lab, or what the imperative commands made, as a
//! topology file. A lab's is its desired state written back; the
//! imperative objects' is read off the system (namespaces, their gateway
//! routes and forwarding, switches, ports with the namespace end's name,
//! addresses, wiring, VLAN and MTU, direct links, trunks: everything whose
//! mark says `cli`). Applied with `apply --adopt`, that file takes those
//! objects over (`adoption`: their marks rewritten for the lab) and then
//! changes nothing else.

use crate::model::names::{Cidr, IfName, Loc, Owner};
use crate::model::ovs::OvsChange;
use crate::model::{
    Backend, Desired, EndSpec, LinkObs, LinkSpec, Mark, NsSpec, Observed, PortSpec, RouteSpec,
    Side, SwitchSpec, TrunkSpec, Via,
};
use crate::plan::Step;
use crate::plan::switch::all_switches;

fn global(v: &[Cidr]) -> Vec<Cidr> {
    v.iter().filter(|c| !c.is_link_local()).copied().collect()
}

/// MTU worth writing down: not the kernel's default.
/// What swctl's qdisc on an end gives, as a file says it (another's qdisc
/// is not the lab's).
fn impair(l: &LinkObs) -> Option<crate::model::impair::Impair> {
    Some(
        l.qdisc
            .as_ref()
            .filter(|q| q.is_swctl())
            .and_then(|q| q.config)
            .map(|c| c.impair())
            .unwrap_or_default(),
    )
}

fn mtu(l: &LinkObs) -> Option<u32> {
    (l.mtu != 1500).then_some(l.mtu)
}

/// What the imperative commands made (owner `cli`), as a lab named `name`.
pub fn imperative(o: &Observed, name: Owner) -> Desired {
    let cli = Owner::cli();
    let mine = |m: &Option<Mark>| m.as_ref().is_some_and(|m| m.owner() == &cli);
    let mut d = Desired::new(name);
    for (n, obs) in &o.namespaces {
        if obs.owner.as_ref() != Some(&cli) {
            continue;
        }
        let routes = obs
            .state
            .routes
            .iter()
            .filter_map(|r| {
                Some(RouteSpec {
                    dest: r.dest,
                    via: r.via?,
                })
            })
            .collect();
        d.namespaces.insert(
            n.clone(),
            NsSpec {
                forward: (obs.state.forward == Some(true)).then_some(true),
                routes,
                ..Default::default()
            },
        );
    }
    let st = o.ovs.as_ref();
    for s in all_switches(o) {
        if s.owner.as_ref() != Some(&cli) {
            continue;
        }
        let Ok(sw) = s.name.parse::<IfName>() else {
            continue;
        };
        let ovsdb = st
            .and_then(|st| st.bridge(&s.name).map(|b| (b.db.clone(), st.addr.clone())))
            .and_then(|(db, default)| (db != default).then_some(db));
        d.switches.insert(
            sw.clone(),
            SwitchSpec {
                backend: s.backend,
                loc: s.loc.clone(),
                addrs: global(&s.addrs),
                datapath: None,
                ovsdb,
                // what the bridge has: a file exported re-makes it
                openflow: st
                    .and_then(|st| st.bridge(&s.name))
                    .map(|b| b.openflow.clone())
                    .unwrap_or_default(),
                // the flows `swctl flow add` wrote, hosts by their names
                flows: st
                    .and_then(|st| st.bridge(&s.name))
                    .map(|b| {
                        let ports = crate::plan::flows::Ports::of(b);
                        let mine = crate::model::openflow::cookie(&cli);
                        b.flows
                            .iter()
                            .flatten()
                            .filter(|f| f.flow.cookie & crate::model::openflow::OWNER_MASK == mine)
                            .map(|f| crate::openflow::text::flow_text(&f.flow, &|n| ports.name(n)))
                            .collect()
                    })
                    .unwrap_or_default(),
                spanning: st.and_then(|st| st.bridge(&s.name)).map(|b| b.spanning),
                // mirrors are a topology's only
                mirrors: vec![],
            },
        );
        for p in s.ports.iter().filter(|p| p.owner.as_ref() == Some(&cli)) {
            let Some(ns) = &p.ns else { continue };
            let end = o.namespaces.get(ns).and_then(|x| {
                x.state
                    .marked(|m| {
                        matches!(m, Mark::Port { ns: n, sw: w, side: Side::B, .. } if n == ns && *w == sw)
                    })
                    .next()
            });
            let Some(end) = end else { continue };
            d.ports.push(PortSpec {
                ns: ns.clone(),
                switch: sw.clone(),
                ifname: end.name.parse().ok(),
                via: match (s.backend, p.wiring.as_str()) {
                    (Backend::Ovs, "internal") => Via::Internal,
                    (Backend::Ovs, _) => Via::Veth,
                    _ => Via::Auto,
                },
                vlan: p.vlan,
                end: EndSpec {
                    addrs: global(&end.addrs),
                    mtu: mtu(end),
                    impair: impair(end),
                },
            });
        }
    }
    // direct links and trunks, from their A ends (and the B end found by mark)
    for (loc, st) in o.locs() {
        for l in &st.links {
            if !mine(&l.mark) {
                continue;
            }
            match &l.mark {
                Some(Mark::Link {
                    a,
                    b,
                    side: Side::A,
                    ..
                }) if a == &loc => {
                    let peer = o.loc(b).and_then(|x| {
                        x.marked(|m| matches!(m, Mark::Link { a: x, b: y, side: Side::B, .. } if x == a && y == b))
                            .next()
                    });
                    d.links.push(LinkSpec {
                        a: a.clone(),
                        b: b.clone(),
                        a_ifname: l.name.parse().ok(),
                        b_ifname: peer.and_then(|p| p.name.parse().ok()),
                        a_end: EndSpec {
                            addrs: global(&l.addrs),
                            mtu: mtu(l),
                            impair: impair(l),
                        },
                        b_end: EndSpec {
                            addrs: peer.map(|p| global(&p.addrs)).unwrap_or_default(),
                            mtu: mtu(l),
                            impair: peer.and_then(impair),
                        },
                    });
                }
                Some(Mark::Trunk {
                    a,
                    b,
                    side: Side::A,
                    member,
                    ..
                }) if member.is_none_or(|m| m == 0) => d.trunks.push(TrunkSpec {
                    a: a.clone(),
                    b: b.clone(),
                    end: EndSpec {
                        mtu: mtu(l),
                        impair: impair(l),
                        ..Default::default()
                    },
                    vlans: vec![],
                    native: None,
                    bond: member.and_then(|_| bond_of(o, st, &l.name, a, b)),
                }),
                _ => {}
            }
        }
    }
    d
}

/// The steps that hand what `from` owns and `d` describes to `d`'s owner:
/// each mark rewritten (`ip link set DEV alias ...`), each OVS row's
/// `external_ids:swctl-owner` set. Nothing else changes.
pub fn adoption(d: &Desired, o: &Observed, from: &Owner) -> Vec<Step> {
    let to = &d.owner;
    let mut steps = vec![];
    let retag = |m: &Mark| -> Option<Mark> {
        if m.owner() != from {
            return None;
        }
        let wanted = match m {
            Mark::Ns { .. } | Mark::Tunnel { .. } => false,
            Mark::Switch { .. } => true,
            Mark::Port { ns, sw, .. } => d.ports.iter().any(|p| &p.ns == ns && &p.switch == sw),
            Mark::Link { a, b, .. } => d.links.iter().any(|l| &l.a == a && &l.b == b),
            Mark::Trunk { a, b, .. } => d.trunks.iter().any(|t| &t.a == a && &t.b == b),
        };
        wanted.then(|| m.with_owner(to.clone()))
    };
    for (loc, st) in o.locs() {
        for l in &st.links {
            let Some(m) = &l.mark else { continue };
            let new = match m {
                // a namespace's mark on its `lo`
                Mark::Ns { owner } if owner == from => {
                    let keep = matches!(&loc, Loc::Ns(n) if d.namespaces.contains_key(n));
                    keep.then(|| Mark::Ns { owner: to.clone() })
                }
                Mark::Switch { .. } => {
                    retag(m).filter(|_| d.switches.keys().any(|s| s.as_str() == l.name))
                }
                _ => retag(m),
            };
            if let Some(mark) = new {
                steps.push(Step::SetMark {
                    loc: loc.clone(),
                    dev: l.name.clone(),
                    mark,
                });
            }
        }
    }
    if let Some(st) = &o.ovs {
        for b in &st.bridges {
            if b.owner().as_ref() == Some(from) && d.switches.keys().any(|s| s.as_str() == b.name) {
                steps.push(Step::Ovs(OvsChange::SetOwner {
                    db: b.db.clone(),
                    table: "Bridge".into(),
                    uuid: b.uuid.clone(),
                    name: b.name.clone(),
                    owner: to.clone(),
                }));
            }
            for p in &b.ports {
                let ours = p.owner().as_ref() == Some(from)
                    && p.ns().is_some_and(|ns| {
                        d.ports
                            .iter()
                            .any(|x| x.ns == ns && x.switch.as_str() == b.name)
                    });
                if ours {
                    steps.push(Step::Ovs(OvsChange::SetOwner {
                        db: b.db.clone(),
                        table: "Port".into(),
                        uuid: p.uuid.clone(),
                        name: p.name.clone(),
                        owner: to.clone(),
                    }));
                }
            }
        }
    }
    steps
}

/// `apply --adopt`: hand the imperative commands' objects that `d`
/// describes to `d`'s owner (marks rewritten, nothing else). How many.
pub async fn adopt<S: crate::effect::Effects>(
    sys: &S,
    d: &Desired,
) -> Result<usize, super::LabError> {
    let mut scan = super::scan_for(d);
    scan.all_owned = true;
    let o = crate::effect::observe::observe(sys, &scan)
        .await
        .map_err(super::LabError::Observe)?;
    let steps = adoption(d, &o, &Owner::cli());
    let n = steps.len();
    let plan = crate::plan::Plan {
        steps,
        ..Default::default()
    };
    crate::effect::apply::apply_with(sys, &plan, false, &mut |_, _| {}).await?;
    Ok(n)
}

/// Keep only the namespaces and switches named in `names`, and the ports,
/// links and trunks among them.
pub fn keep_only(d: &mut Desired, names: &[String]) {
    let kept = |s: &str| names.iter().any(|n| n == s);
    d.namespaces.retain(|n, _| kept(n.as_str()));
    d.switches.retain(|n, _| kept(n.as_str()));
    let at = |l: &Loc| match l {
        Loc::Host => true,
        Loc::Ns(n) => kept(n.as_str()),
    };
    d.ports
        .retain(|p| kept(p.ns.as_str()) && kept(p.switch.as_str()));
    d.links.retain(|l| at(&l.a) && at(&l.b));
    d.trunks
        .retain(|t| kept(t.a.as_str()) && kept(t.b.as_str()));
}

/// The bond member `dev` (the first of trunk a-b) belongs to: its members
/// counted by their marks, its mode and LACP read from its OVS port.
fn bond_of(
    o: &Observed,
    st: &crate::model::LocObs,
    dev: &str,
    a: &IfName,
    b: &IfName,
) -> Option<crate::model::bond::Bond> {
    use crate::model::bond::{Bond, BondMode, Lacp};
    let members = st
        .marked(|m| matches!(m, Mark::Trunk { a: x, b: y, side: Side::A, member: Some(_), .. } if x.as_str() == a.as_str() && y.as_str() == b.as_str()))
        .count() as u8;
    let port = o
        .ovs
        .as_ref()?
        .bridges
        .iter()
        .flat_map(|br| &br.ports)
        .find(|p| p.ifaces.iter().any(|i| i.name == dev))?;
    let word = |v: &Option<String>| v.clone().unwrap_or_default();
    let mode = BondMode::ALL
        .into_iter()
        .find(|m| m.as_str() == word(&port.bond_mode))
        .unwrap_or_default();
    let lacp = Lacp::ALL
        .into_iter()
        .find(|l| l.as_str() == word(&port.lacp))
        .unwrap_or_default();
    // the other end's LACP is not read: both ends as this one
    Some(Bond {
        members,
        mode,
        lacp: [lacp, lacp],
    })
}
