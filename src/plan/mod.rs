//! The planner: a pure function from (desired, observed, scope) to an
//! ordered list of steps. Nothing here touches the system; `effect::apply`
//! executes the steps. Teardown is a plan against an empty desired state
//! with the objects to remove in scope.
//!
//! Split by concern: `step` (the steps as data), `removals` (what goes),
//! `namespaces`, `links` (direct veth pairs), `naming` (interface names and
//! leftovers of interrupted runs), and the switch backends behind the
//! `Switch` trait (`switch`): `bridge` (the Linux bridge) and `ovs` (Open
//! vSwitch). The planner does switch and port work only through that trait,
//! so a backend is one file here plus one line in `switch::backends`.
//!
//! Steps are ordered by phase (removals first, then namespaces, switches,
//! wiring, configuration, routes). Steps of one phase are independent of each
//! other, so `apply` may run them concurrently; a failure stops the plan at a
//! phase boundary, and the next plan (from a fresh observation) finishes it.

mod bridge;
mod ends;
mod error;
pub mod flows;
pub mod host;
pub mod impair;
mod links;
mod namespaces;
mod naming;
mod ovn;
pub mod ovn_nb;
mod ovs;
mod ovs_bond;
mod ovs_mirror;
mod ovs_openflow;
mod ovs_rows;
mod ovs_span;
mod ovs_stp;
mod ovs_trunk;
mod ovs_wiring;
mod removals;
pub mod step;
mod step_text;
pub mod switch;
mod trunks;
pub mod tunnels;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::names::{Cidr, IfName, Loc, Mac, NsName, Owner};
use crate::model::*;
pub use error::PlanError;
pub use step::Step;
pub use switch::{PortInfo, Switch, SwitchInfo};

use naming::Names;

/// Whether any of `addrs` is IPv6. An interface swctl makes without one
/// gets no IPv6 link-local address either: each new interface's IPv6
/// autoconfiguration (duplicate-address detection, router and listener
/// messages) is flooded to every port of its switch, and on a 1000-port
/// bridge it cost 2 s of a 3.3 s veth phase (measured: 1.3 s without).
pub fn has_v6(addrs: &[Cidr]) -> bool {
    addrs.iter().any(|c| c.addr.is_ipv6())
}

/// Every switch backend, in the order the planner consults them. A new
/// backend is a new file implementing `Switch`, and one entry here.
pub fn backends() -> &'static [&'static dyn Switch] {
    static ALL: [&dyn Switch; 3] = [&bridge::LinuxBridge, &ovs::OpenVswitch, &ovn::Ovn];
    &ALL
}

/// The backend of a switch.
pub fn backend(b: Backend) -> &'static dyn Switch {
    *backends()
        .iter()
        .find(|s| s.backend() == b)
        .expect("every Backend has its Switch")
}

/// Which observed objects the plan may remove when the desired state does
/// not list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// only create and fix (imperative `add`-like commands)
    Nothing,
    /// everything the desired state's owner owns (topology apply/destroy);
    /// also removes addresses and routes the desired state does not list
    Owner,
    /// exactly these objects (imperative `del`-like commands)
    Objects(BTreeSet<Key>),
}

/// The plan: steps in phase order. Empty means the system already matches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// what each port or link will be called, for the CLI to report
    pub wiring: Vec<Wiring>,
}

/// How a port or link is (or will be) wired: for `attach`/`link` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wiring {
    pub key: Key,
    pub via: Via,
    pub a_loc: Loc,
    pub a_dev: String,
    pub b_loc: Loc,
    pub b_dev: String,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The planner's working state, handed to the backends: the inputs, the
/// steps so far, and what the steps so far imply (names taken, namespaces
/// that will exist or go).
pub struct Cx<'a> {
    pub d: &'a Desired,
    pub o: &'a Observed,
    pub scope: &'a Scope,
    pub steps: Vec<Step>,
    pub wiring: Vec<Wiring>,
    names: Names,
    /// namespaces that will exist after the plan (observed or created)
    ns_exist: BTreeSet<NsName>,
    /// namespaces this plan deletes: nothing inside them needs removing
    pub ns_deleted: BTreeSet<NsName>,
    /// adopted namespaces whose names go (they live on: what swctl put in
    /// them is removed one by one)
    pub ns_forgotten: BTreeSet<NsName>,
    /// switches that live in a namespace this plan deletes (their ports'
    /// switch ends go with it)
    pub switches_in_deleted: BTreeSet<IfName>,
    /// switches this plan deletes (every port on them goes too)
    pub dead_switches: BTreeSet<IfName>,
}

/// Make the plan. Pure: the same inputs give the same steps.
pub fn plan(d: &Desired, o: &Observed, scope: &Scope) -> Result<Plan, PlanError> {
    impair::kernel_gives(d, o)?;
    if d.tunnels.is_empty() && d.xlinks.is_empty() && d.uplinks.is_empty() {
        plan_fitted(d, o, scope)
    } else {
        plan_fitted(&tunnels::fit_mtu(d, o)?, o, scope)
    }
}

fn plan_fitted(d: &Desired, o: &Observed, scope: &Scope) -> Result<Plan, PlanError> {
    let mut cx = Cx::new(d, o, scope);
    cx.removals()?;
    // Creation works on the system as it will be after the removals: what
    // is being deleted is neither reused nor in the way.
    let after = removals::without_removed(o, &cx.steps, &cx.ns_deleted);
    let mut cx = Cx {
        o: &after,
        names: Names::from_observed(&after),
        ns_exist: after.namespaces.keys().cloned().collect(),
        ..cx
    };
    cx.namespaces();
    cx.switches()?;
    cx.ports()?;
    cx.links()?;
    cx.trunks()?;
    cx.late()?;
    cx.uplinks()?;
    cx.tunnels()?;
    cx.xlinks()?;
    cx.routes();
    cx.hosts()?;
    cx.host_limits();
    cx.finish_marks();
    let mut steps = cx.steps;
    only_announce_to_old_neighbours(&mut steps, &cx.wiring, d);
    // stable: keeps the deterministic order within a phase
    steps.sort_by_key(Step::phase);
    Ok(Plan {
        steps,
        wiring: cx.wiring,
    })
}

/// An announcement is for neighbours that may hold a stale or failed
/// entry: on a segment where everything is new in this plan there are none,
/// and announcing there costs a broadcast to every port per device
/// (measured: 1000 hosts on one bridge, 5.3 s of ARP floods). So keep an
/// `Announce` only for a device on a segment (a switch, a link) where
/// something is older than this plan.
fn only_announce_to_old_neighbours(steps: &mut Vec<Step>, wiring: &[Wiring], d: &Desired) {
    let mut created: BTreeSet<(Loc, String)> = BTreeSet::new();
    for s in steps.iter() {
        match s {
            Step::CreateVeth {
                loc,
                name,
                peer_loc,
                peer,
                ..
            } => {
                created.insert((loc.clone(), name.to_string()));
                created.insert((peer_loc.clone(), peer.to_string()));
            }
            Step::MoveLink { ns, name, .. } => {
                created.insert((Loc::Ns(ns.clone()), name.to_string()));
            }
            Step::CreateBridge { loc, name, .. } => {
                created.insert((loc.clone(), name.to_string()));
            }
            Step::Ovs(crate::model::ovs::OvsChange::AddBridge { name, .. }) => {
                created.insert((Loc::Host, name.clone()));
            }
            _ => {}
        }
    }
    // the segment of each wired device, and whether it has an old member;
    // switches joined by trunks are one segment
    let group = d.switch_groups();
    let sw_seg = |sw: &IfName| format!("switch {}", group.get(sw).unwrap_or(sw));
    let mut seg_of: BTreeMap<(Loc, String), String> = BTreeMap::new();
    let mut old: BTreeSet<String> = BTreeSet::new();
    for w in wiring {
        let (seg, ends) = match &w.key {
            // the switch end of a port is the switch itself, for this purpose
            Key::Port { switch, .. } => (sw_seg(switch), vec![(&w.b_loc, &w.b_dev)]),
            // a trunk is part of both switches' segment
            Key::Trunk { a, .. } => (sw_seg(a), vec![(&w.a_loc, &w.a_dev), (&w.b_loc, &w.b_dev)]),
            k => (
                format!("{k:?}"),
                vec![(&w.a_loc, &w.a_dev), (&w.b_loc, &w.b_dev)],
            ),
        };
        for (loc, dev) in ends {
            let key = (loc.clone(), dev.clone());
            if !created.contains(&key) {
                old.insert(seg.clone());
            }
            seg_of.insert(key, seg.clone());
        }
    }
    // a switch with an address of its own that was there before has a
    // neighbour table of its own
    for (name, spec) in &d.switches {
        if !spec.addrs.is_empty() && !created.contains(&(spec.loc.clone(), name.to_string())) {
            old.insert(sw_seg(name));
        }
    }
    steps.retain(|s| {
        let Step::Announce { loc, dev, .. } = s else {
            return true;
        };
        let key = (loc.clone(), dev.clone());
        match seg_of.get(&key) {
            Some(seg) => old.contains(seg),
            // a switch's own device: old unless made now
            None => !created.contains(&key),
        }
    });
}

impl<'a> Cx<'a> {
    fn new(d: &'a Desired, o: &'a Observed, scope: &'a Scope) -> Cx<'a> {
        Cx {
            d,
            o,
            scope,
            steps: Vec::new(),
            wiring: Vec::new(),
            names: Names::from_observed(o),
            ns_exist: o.namespaces.keys().cloned().collect(),
            ns_deleted: BTreeSet::new(),
            ns_forgotten: BTreeSet::new(),
            switches_in_deleted: BTreeSet::new(),
            dead_switches: BTreeSet::new(),
        }
    }

    /// Whether the plan may remove an object of `owner` that the desired
    /// state does not list.
    pub fn in_scope(&self, key: &Key, owner: &Owner) -> bool {
        match self.scope {
            Scope::Nothing => false,
            Scope::Owner => owner == &self.d.owner,
            Scope::Objects(keys) => keys.contains(key),
        }
    }

    fn loc_exists(&self, loc: &Loc) -> bool {
        match loc {
            Loc::Host => true,
            Loc::Ns(n) => self.ns_exist.contains(n),
        }
    }

    /// Whether `loc` is a namespace this plan deletes.
    pub fn deleted(&self, loc: &Loc) -> bool {
        loc.ns().is_some_and(|n| self.ns_deleted.contains(n))
    }

    /// `ip link del DEV` (once; nothing for a device whose namespace goes).
    pub fn delete_link(&mut self, loc: &Loc, dev: &str) {
        if self.deleted(loc) {
            return; // goes away with its namespace
        }
        let step = Step::DeleteLink {
            loc: loc.clone(),
            dev: dev.to_string(),
        };
        if !self.steps.contains(&step) {
            self.names.release(loc, dev);
            self.steps.push(step);
        }
    }

    /// The stable Ethernet address of device `dev` in `loc` that this
    /// plan's owner makes.
    pub fn mac(&self, loc: &Loc, dev: &str) -> Mac {
        Mac::stable(&[self.d.owner.as_str(), &loc.to_string(), dev])
    }

    /// Record how a port or link is wired (for the CLI's report).
    pub fn wired(&mut self, key: Key, via: Via, a: (&Loc, &str), b: (&Loc, &str)) {
        self.wiring.push(Wiring {
            key,
            via,
            a_loc: a.0.clone(),
            a_dev: a.1.to_string(),
            b_loc: b.0.clone(),
            b_dev: b.1.to_string(),
        });
    }

    /// The mark of one end of port `p`, for this plan's owner.
    pub fn port_mark(&self, p: &PortSpec, side: Side) -> Mark {
        Mark::Port {
            owner: self.d.owner.clone(),
            ns: p.ns.clone(),
            sw: p.switch.clone(),
            side,
        }
    }

    // ------------------------------------------------------------ switches

    /// Which backend switch `name` is (or will be) on, and where it lives.
    fn switch_of(&self, name: &IfName) -> Result<(&'static dyn Switch, Loc), PlanError> {
        if let Some(s) = self.d.switches.get(name) {
            return Ok((backend(s.backend), s.loc.clone()));
        }
        backends()
            .iter()
            .find_map(|b| b.locate(self.o, name.as_str()).map(|loc| (*b, loc)))
            .ok_or_else(|| PlanError::UnknownSwitch(name.clone()))
    }

    /// What each switch's backend plans once its ports and trunks are
    /// (`Switch::plan_late`).
    fn late(&mut self) -> Result<(), PlanError> {
        let d = self.d;
        for (name, spec) in &d.switches {
            backend(spec.backend).plan_late(self, name, spec)?;
        }
        Ok(())
    }

    fn switches(&mut self) -> Result<(), PlanError> {
        let d = self.d;
        for (name, spec) in &d.switches {
            let want = backend(spec.backend);
            // a switch of the same name on another backend is not this one
            for other in backends().iter().filter(|b| b.backend() != spec.backend) {
                if let Some(loc) = other.locate(self.o, name.as_str()) {
                    return Err(PlanError::SwitchKind {
                        name: name.clone(),
                        have: other.describe(&loc),
                        want: want.describe(&spec.loc),
                    });
                }
            }
            // an option of another backend's (`switch add --controller`
            // with --backend bridge): refused in the validator's words
            for o in switch::all_options() {
                if (o.get)(spec).is_some() && !want.rules().options.iter().any(|m| m.key == o.key) {
                    return Err(PlanError::BadSwitch {
                        switch: name.clone(),
                        backend: spec.backend,
                        why: switch::only_who_has(o.key),
                    });
                }
            }
            want.plan_switch(self, name, spec)?;
        }
        Ok(())
    }

    /// Refuse, before anything is made, a switch that would get more ports
    /// than its backend can take: ports that stay plus ports desired.
    fn port_limits(&self) -> Result<(), PlanError> {
        let mut want: BTreeMap<&IfName, BTreeSet<&NsName>> = BTreeMap::new();
        for p in &self.d.ports {
            want.entry(&p.switch).or_default().insert(&p.ns);
        }
        let mut trunks: BTreeMap<&IfName, BTreeSet<&IfName>> = BTreeMap::new();
        for t in &self.d.trunks {
            trunks.entry(&t.a).or_default().insert(&t.b);
            trunks.entry(&t.b).or_default().insert(&t.a);
            want.entry(&t.a).or_default();
            want.entry(&t.b).or_default();
        }
        for (sw, nss) in want {
            let (b, _) = self.switch_of(sw)?;
            let Some(max) = b.max_ports() else { continue };
            let seen = b
                .switches(self.o)
                .into_iter()
                .filter(|s| s.name == sw.as_str());
            // ports counted and not read (an imperative command's part of
            // the host: `model::part`) are none of this plan's
            let unread: usize = seen
                .clone()
                .filter_map(|s| self.o.loc(&s.loc)?.unread_ports.get(&s.name))
                .sum();
            let others = seen
                .flat_map(|s| s.ports)
                .filter(|p| p.ns.as_ref().is_none_or(|n| !nss.contains(n)))
                .filter(|p| {
                    p.trunk
                        .as_ref()
                        .is_none_or(|t| !trunks.get(sw).is_some_and(|w| w.contains(t)))
                })
                .count()
                + unread;
            let total = others + nss.len() + trunks.get(sw).map_or(0, |w| w.len());
            if total > max {
                return Err(PlanError::TooManyPorts {
                    switch: sw.clone(),
                    backend: b.backend(),
                    max,
                    want: total,
                });
            }
        }
        Ok(())
    }

    fn ports(&mut self) -> Result<(), PlanError> {
        self.port_limits()?;
        let d = self.d;
        for p in &d.ports {
            let (sw, sw_loc) = self.switch_of(&p.switch)?;
            if !self.ns_exist.contains(&p.ns) {
                return Err(PlanError::UnknownNamespace(p.ns.clone()));
            }
            let via = match p.via {
                Via::Auto => sw.auto_wiring(self, p),
                v if sw.wirings().contains(&v) => v,
                v => {
                    return Err(PlanError::WiringUnsupported {
                        switch: p.switch.clone(),
                        backend: sw.backend(),
                        via: v,
                        supported: sw
                            .wirings()
                            .iter()
                            .map(|w| w.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            };
            let via = impair::wiring(p, via)?;
            if let (Some(_), Some(why)) = (p.vlan, sw.rules().no_vlans) {
                return Err(PlanError::VlanUnsupported {
                    switch: p.switch.clone(),
                    backend: sw.backend(),
                    why,
                });
            }
            sw.plan_port(self, p, &sw_loc, via)?;
        }
        Ok(())
    }
}
