//! The planner: a pure function from (desired, observed, scope) to an
//! ordered list of steps. Nothing here touches the system; `apply` executes
//! the steps. Teardown is a plan against an empty desired state with the
//! objects to remove in scope.
//!
//! Steps are ordered by phase (removals first, then namespaces, switches,
//! wiring, configuration, routes). Steps of one phase are independent of each
//! other, so `apply` may run them concurrently; a failure stops the plan at a
//! phase boundary, and the next plan (from a fresh observation) finishes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::model::*;
use crate::names::{Cidr, IfName, Loc, NsName, Owner, RouteDest, derived_ifname};
use crate::ovs::{K_NS, K_SWITCH, OvsChange, OvsPort, OvsState};

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

/// One effect. `Display` gives the equivalent `ip` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Step {
    DelRoute {
        ns: NsName,
        dest: RouteDest,
        via: IpAddr,
    },
    DelAddr {
        loc: Loc,
        dev: String,
        cidr: Cidr,
    },
    DeleteLink {
        loc: Loc,
        dev: String,
    },
    DeleteNs {
        ns: NsName,
    },
    /// wait until the kernel has removed a device whose veth peer was in a
    /// deleted namespace (namespaces are freed asynchronously); delete it
    /// explicitly if that does not happen in time
    AwaitGone {
        loc: Loc,
        dev: String,
    },
    CreateNs {
        ns: NsName,
        owner: Owner,
    },
    CreateBridge {
        loc: Loc,
        name: IfName,
        mark: Mark,
    },
    /// a veth pair whose peer is created directly in its namespace
    CreateVeth {
        loc: Loc,
        name: IfName,
        peer_loc: Loc,
        peer: IfName,
        master: Option<IfName>,
        mark: Mark,
        peer_mark: Mark,
    },
    SetMaster {
        loc: Loc,
        dev: String,
        master: IfName,
    },
    SetUp {
        loc: Loc,
        dev: String,
    },
    SetMtu {
        loc: Loc,
        dev: String,
        mtu: u32,
    },
    AddAddr {
        loc: Loc,
        dev: String,
        cidr: Cidr,
    },
    SetForward {
        ns: NsName,
        on: bool,
    },
    /// a sysctl under /proc/sys, `key` as a path (net/ipv4/conf/DEV/...)
    SetSysctl {
        loc: Loc,
        key: String,
        value: String,
    },
    AddRoute {
        ns: NsName,
        dest: RouteDest,
        via: IpAddr,
    },
    /// an OVSDB change; all of one phase go in one transaction
    Ovs(OvsChange),
    /// move a device (an OVS internal port) into a namespace, renaming it
    MoveLink {
        from: Loc,
        dev: String,
        ns: NsName,
        name: IfName,
        mark: Mark,
    },
    /// write a mark whose writing was interrupted (`ip link set DEV alias ..`)
    SetMark {
        loc: Loc,
        dev: String,
        mark: Mark,
    },
    /// transmit checksum offload off on a veth end (OVS userspace datapath)
    TxCsumOff {
        ns: NsName,
        dev: String,
    },
}

impl Step {
    /// Steps of a lower phase run before steps of a higher one.
    pub fn phase(&self) -> u8 {
        match self {
            Step::DelRoute { .. } | Step::DelAddr { .. } => 0,
            Step::DeleteLink { .. } => 1,
            Step::DeleteNs { .. } => 2,
            // after the namespaces: ovs-vswitchd then finds the internal
            // ports' devices already gone (measured, 200 internal ports:
            // del-br before the namespaces 3.8 s, after them 0.07 s)
            Step::Ovs(OvsChange::DelPort { .. } | OvsChange::DelBridge { .. }) => 3,
            Step::AwaitGone { .. } => 3,
            Step::CreateNs { .. } => 4,
            Step::CreateBridge { .. } => 5,
            Step::CreateVeth { .. } => 6,
            Step::Ovs(
                OvsChange::AddBridge { .. } | OvsChange::AddPort { .. } | OvsChange::SetTag { .. },
            ) => 7,
            Step::MoveLink { .. } | Step::TxCsumOff { .. } => 8,
            Step::SetMaster { .. }
            | Step::SetUp { .. }
            | Step::AddAddr { .. }
            | Step::SetForward { .. }
            | Step::SetSysctl { .. }
            | Step::SetMark { .. }
            | Step::SetMtu { .. } => 9,
            Step::AddRoute { .. } => 10,
        }
    }
}

fn ipn(loc: &Loc) -> String {
    match loc {
        Loc::Host => String::new(),
        Loc::Ns(n) => format!("-n {n} "),
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::DelRoute { ns, dest, via } => write!(f, "ip -n {ns} route del {dest} via {via}"),
            Step::DelAddr { loc, dev, cidr } => {
                write!(f, "ip {}addr del {cidr} dev {dev}", ipn(loc))
            }
            Step::DeleteLink { loc, dev } => write!(f, "ip {}link del {dev}", ipn(loc)),
            Step::DeleteNs { ns } => write!(f, "ip netns del {ns}"),
            Step::AwaitGone { loc, dev } => write!(
                f,
                "# wait until {dev} (in {loc}) goes with its peer's namespace"
            ),
            Step::CreateNs { ns, .. } => {
                write!(f, "ip netns add {ns} && ip -n {ns} link set lo up")
            }
            Step::CreateBridge { loc, name, .. } => write!(
                f,
                "ip {}link add {name} type bridge stp_state 0 && ip {}link set {name} up",
                ipn(loc),
                ipn(loc)
            ),
            Step::CreateVeth {
                loc,
                name,
                peer_loc,
                peer,
                master,
                ..
            } => {
                let netns = match peer_loc {
                    Loc::Host => String::new(),
                    Loc::Ns(n) => format!(" netns {n}"),
                };
                write!(f, "ip {}link add {name} up", ipn(loc))?;
                if let Some(m) = master {
                    write!(f, " master {m}")?;
                }
                write!(f, " type veth peer name {peer}{netns} up")
            }
            Step::SetMaster { loc, dev, master } => {
                write!(f, "ip {}link set {dev} master {master}", ipn(loc))
            }
            Step::SetUp { loc, dev } => write!(f, "ip {}link set {dev} up", ipn(loc)),
            Step::SetMtu { loc, dev, mtu } => write!(f, "ip {}link set {dev} mtu {mtu}", ipn(loc)),
            Step::AddAddr { loc, dev, cidr } => {
                write!(f, "ip {}addr add {cidr} dev {dev}", ipn(loc))
            }
            Step::SetForward { ns, on } => {
                write!(
                    f,
                    "ip netns exec {ns} sysctl -w net.ipv4.ip_forward={}",
                    *on as u8
                )
            }
            Step::AddRoute { ns, dest, via } => write!(f, "ip -n {ns} route add {dest} via {via}"),
            Step::Ovs(c) => c.fmt(f),
            Step::MoveLink {
                from,
                dev,
                ns,
                name,
                ..
            } => {
                write!(
                    f,
                    "ip {}link set {dev} netns {ns} name {name} && ip -n {ns} link set {name} up",
                    ipn(from)
                )
            }
            Step::TxCsumOff { ns, dev } => write!(f, "ip netns exec {ns} ethtool -K {dev} tx off"),
            Step::SetMark { loc, dev, mark } => {
                write!(
                    f,
                    "ip {}link set {dev} alias \"{}\"",
                    ipn(loc),
                    mark.to_alias()
                )
            }
            Step::SetSysctl { loc, key, value } => {
                let exec = match loc {
                    Loc::Host => String::new(),
                    Loc::Ns(n) => format!("ip netns exec {n} "),
                };
                write!(f, "{exec}sysctl -w {}={value}", key.replace('/', "."))
            }
        }
    }
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

/// Why no plan could be made. Nothing has been touched when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("namespace {0} does not exist (create it with `swctl ns add {0}`)")]
    UnknownNamespace(NsName),
    #[error("switch {0} does not exist (create it with `swctl switch add {0}`)")]
    UnknownSwitch(IfName),
    #[error("{0} exists in {1} but is a {2}, not a bridge")]
    NotABridge(IfName, Loc, String),
    #[error("interface {name} already exists in {loc} and does not belong to this {what}")]
    NameTaken {
        name: String,
        loc: Loc,
        what: String,
    },
    #[error("the {0} backend is not available in this version of swctl")]
    BackendUnavailable(Backend),
    #[error("switch {0} is an OVS bridge, and no OVSDB server answers: {1}")]
    OvsUnavailable(IfName, String),
    #[error("an OVS bridge lives in Open vSwitch, not inside a namespace; drop --netns for {0}")]
    OvsInNamespace(IfName),
    #[error("switch {name} already exists as {have}; it cannot become {want}")]
    SwitchKind {
        name: IfName,
        have: String,
        want: String,
    },
    #[error("datapath type {0:?} is not one of system, netdev")]
    Datapath(String),
    #[error(
        "an internal port exists only on an OVS switch; {0} is a Linux bridge (use --via veth or auto)"
    )]
    InternalOnBridge(IfName),
    #[error(
        "access VLANs need an OVS switch; {0} is a Linux bridge (swctl does not drive Linux bridge VLAN filtering yet)"
    )]
    VlanOnBridge(IfName),
    #[error(
        "namespace {0} was not created by swctl; swctl deletes only its own (use `ip netns del {0}`)"
    )]
    NotOwned(NsName),
    #[error(
        "a Linux bridge cannot change namespace (the kernel answers EINVAL: it is a netns-local device); delete {name} and add it again in {want}"
    )]
    BridgeCannotMove { name: IfName, want: Loc },
    #[error(
        "switch {0} was not created by swctl; swctl deletes only its own (use ovs-vsctl del-br or ip link del)"
    )]
    SwitchNotOwned(IfName),
    #[error("{0} is not attached to {1}")]
    NotAttached(NsName, IfName),
    #[error("there is no link between {0} and {1}")]
    NoSuchLink(Loc, Loc),
    #[error("namespace {0} has no route {1} via {2}")]
    NoSuchRoute(NsName, RouteDest, IpAddr),
    #[error("interface name {0} is planned twice in {1}")]
    DuplicateName(String, Loc),
}

/// Interface names already taken or planned, per location.
#[derive(Default)]
struct Names(BTreeMap<Loc, BTreeSet<String>>);

impl Names {
    fn from_observed(o: &Observed) -> Names {
        let mut n = Names::default();
        for (loc, st) in o.locs() {
            n.0.entry(loc)
                .or_default()
                .extend(st.links.iter().map(|l| l.name.clone()));
        }
        n
    }
    fn taken(&self, loc: &Loc, name: &str) -> bool {
        self.0.get(loc).is_some_and(|s| s.contains(name))
    }
    fn take(&mut self, loc: &Loc, name: &str) {
        self.0
            .entry(loc.clone())
            .or_default()
            .insert(name.to_string());
    }
    fn release(&mut self, loc: &Loc, name: &str) {
        if let Some(s) = self.0.get_mut(loc) {
            s.remove(name);
        }
    }
    /// The first `ethN` free in `loc`.
    fn free_eth(&self, loc: &Loc) -> IfName {
        (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !self.taken(loc, n))
            .and_then(|n| n.parse().ok())
            .expect("some ethN is free")
    }
}

struct Planner<'a> {
    d: &'a Desired,
    o: &'a Observed,
    scope: &'a Scope,
    steps: Vec<Step>,
    wiring: Vec<Wiring>,
    names: Names,
    /// namespaces that will exist after the plan (observed or created)
    ns_exist: BTreeSet<NsName>,
    /// namespaces this plan deletes: nothing inside them needs removing
    ns_deleted: BTreeSet<NsName>,
}

/// Make the plan. Pure: the same inputs give the same steps.
pub fn plan(d: &Desired, o: &Observed, scope: &Scope) -> Result<Plan, PlanError> {
    let mut p = Planner {
        d,
        o,
        scope,
        steps: Vec::new(),
        wiring: Vec::new(),
        names: Names::from_observed(o),
        ns_exist: o.namespaces.keys().cloned().collect(),
        ns_deleted: BTreeSet::new(),
    };
    p.removals()?;
    // Creation works on the system as it will be after the removals: what
    // is being deleted is neither reused nor in the way.
    let after = without_removed(o, &p.steps, &p.ns_deleted);
    let mut p = Planner {
        d,
        o: &after,
        scope,
        names: Names::from_observed(&after),
        ns_exist: after.namespaces.keys().cloned().collect(),
        steps: p.steps,
        wiring: p.wiring,
        ns_deleted: p.ns_deleted,
    };
    p.namespaces();
    p.switches()?;
    p.ports()?;
    p.links()?;
    p.finish_marks();
    let mut steps = p.steps;
    // stable: keeps the deterministic order within a phase
    steps.sort_by_key(Step::phase);
    Ok(Plan {
        steps,
        wiring: p.wiring,
    })
}

impl Planner<'_> {
    fn in_scope(&self, key: &Key, owner: &Owner) -> bool {
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

    fn delete_link(&mut self, loc: &Loc, dev: &str) {
        if let Loc::Ns(n) = loc
            && self.ns_deleted.contains(n)
        {
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

    // ------------------------------------------------------------ removal

    fn removals(&mut self) -> Result<(), PlanError> {
        let o = self.o;
        // namespaces
        if let Scope::Objects(keys) = self.scope {
            for k in keys {
                if let Key::Ns { ns } = k
                    && let Some(obs) = o.namespaces.get(ns)
                    && obs.owner.is_none()
                {
                    return Err(PlanError::NotOwned(ns.clone()));
                }
            }
        }
        // a switch named for removal must be swctl's
        if let Scope::Objects(keys) = self.scope {
            for k in keys {
                if let Key::Switch { name } = k {
                    let ovs_foreign = o
                        .ovs
                        .as_ref()
                        .and_then(|s| s.bridge(name.as_str()))
                        .is_some_and(|b| b.owner().is_none());
                    let br_foreign = o
                        .find_bridge(name.as_str())
                        .is_some_and(|(_, l)| l.mark.is_none());
                    if ovs_foreign || br_foreign {
                        return Err(PlanError::SwitchNotOwned(name.clone()));
                    }
                }
            }
        }
        for (ns, obs) in &o.namespaces {
            let Some(owner) = &obs.owner else { continue };
            if self.d.namespaces.contains_key(ns)
                || !self.in_scope(&Key::Ns { ns: ns.clone() }, owner)
            {
                continue;
            }
            self.ns_deleted.insert(ns.clone());
            self.ns_exist.remove(ns);
            self.steps.push(Step::DeleteNs { ns: ns.clone() });
        }
        // switches (and every port on them, whoever asked for the port)
        let mut dead_switches = BTreeSet::new();
        let mut switches_in_deleted = BTreeSet::new();
        for (loc, st) in o.locs() {
            for l in st.marked(|m| matches!(m, Mark::Switch { .. })) {
                let owner = l.mark.as_ref().expect("marked").owner();
                let Ok(name) = l.name.parse::<IfName>() else {
                    continue;
                };
                let key = Key::Switch { name: name.clone() };
                if loc.ns().is_some_and(|n| self.ns_deleted.contains(n)) {
                    // goes with its namespace, and so do its ports
                    switches_in_deleted.insert(name.clone());
                    dead_switches.insert(name);
                    continue;
                }
                // kept only as the same kind in the same place; a topology
                // that moves a switch or changes its backend replaces it
                let keep = self
                    .d
                    .switches
                    .get(&name)
                    .is_some_and(|s| s.backend == Backend::Bridge && s.loc == loc);
                if keep || !self.in_scope(&key, owner) {
                    continue;
                }
                dead_switches.insert(name);
                self.delete_link(&loc, &l.name);
            }
        }
        // OVS bridges and ports swctl made (marked in external_ids)
        if let Some(ovs) = &o.ovs {
            for b in &ovs.bridges {
                let Some(owner) = b.owner() else { continue };
                let Ok(name) = b.name.parse::<IfName>() else {
                    continue;
                };
                let key = Key::Switch { name: name.clone() };
                let keep = self
                    .d
                    .switches
                    .get(&name)
                    .is_some_and(|s| s.backend == Backend::Ovs);
                if !keep && self.in_scope(&key, &owner) {
                    self.names.release(&Loc::Host, &b.name);
                    self.steps.push(Step::Ovs(OvsChange::DelBridge {
                        db: b.db.clone(),
                        name: b.name.clone(),
                        uuid: b.uuid.clone(),
                    }));
                    dead_switches.insert(name);
                    continue;
                }
                for p in &b.ports {
                    let (Some(owner), Some(ns)) = (p.owner(), p.ns()) else {
                        continue;
                    };
                    let key = Key::Port {
                        ns: ns.clone(),
                        switch: name.clone(),
                    };
                    let desired = self.d.ports.iter().any(|x| x.ns == ns && x.switch == name);
                    if self.ns_deleted.contains(&ns) || (!desired && self.in_scope(&key, &owner)) {
                        self.names.release(&Loc::Host, &p.name);
                        self.steps.push(Step::Ovs(OvsChange::DelPort {
                            db: b.db.clone(),
                            bridge: b.name.clone(),
                            port: p.name.clone(),
                            uuid: p.uuid.clone(),
                        }));
                    }
                }
            }
        }
        // ports and links: each end is removed where it lives. An end whose
        // peer is in a namespace being deleted is not deleted one by one:
        // the kernel removes all of them in one batch when it frees the
        // namespaces (measured: 200 explicit veth deletes take ~3.9 s here,
        // 200 namespace deletions 0.4 s); the plan then waits for them.
        let ns_deleted = self.ns_deleted.clone();
        let deleted = |x: &Loc| x.ns().is_some_and(|n| ns_deleted.contains(n));
        for (loc, st) in o.locs() {
            for l in &st.links {
                let Some(mark) = &l.mark else { continue };
                let (remove, peer_gone) = match mark {
                    Mark::Switch { .. } => (false, false),
                    Mark::Port {
                        owner,
                        ns,
                        sw,
                        side,
                    } => {
                        let key = Key::Port {
                            ns: ns.clone(),
                            switch: sw.clone(),
                        };
                        let desired = self.d.ports.iter().any(|p| &p.ns == ns && &p.switch == sw);
                        let peer_gone = match side {
                            Side::A => self.ns_deleted.contains(ns),
                            Side::B => switches_in_deleted.contains(sw),
                        };
                        let remove = dead_switches.contains(sw)
                            || self.ns_deleted.contains(ns)
                            || (!desired && self.in_scope(&key, owner));
                        (remove, peer_gone)
                    }
                    Mark::Link { owner, a, b, side } => {
                        let key = Key::link(a, b);
                        let desired = self.d.links.iter().any(|s| Key::link(&s.a, &s.b) == key);
                        let peer_gone = match side {
                            Side::A => deleted(b),
                            Side::B => deleted(a),
                        };
                        let remove =
                            deleted(a) || deleted(b) || (!desired && self.in_scope(&key, owner));
                        (remove, peer_gone)
                    }
                };
                if remove && peer_gone {
                    if !deleted(&loc) {
                        self.names.release(&loc, &l.name);
                        self.steps.push(Step::AwaitGone {
                            loc: loc.clone(),
                            dev: l.name.clone(),
                        });
                    }
                } else if remove {
                    self.delete_link(&loc, &l.name);
                }
            }
        }
        // routes named for removal
        if let Scope::Objects(keys) = self.scope {
            for k in keys {
                if let Key::Route { ns, dest, via } = k {
                    let present = o.namespaces.get(ns).is_some_and(|n| {
                        n.state
                            .routes
                            .iter()
                            .any(|r| &r.dest == dest && r.via == Some(*via))
                    });
                    if present && !self.ns_deleted.contains(ns) {
                        self.steps.push(Step::DelRoute {
                            ns: ns.clone(),
                            dest: *dest,
                            via: *via,
                        });
                    }
                }
            }
        }
        // a veth pair goes as a whole: deleting one end is enough
        self.dedupe_pair_deletes();
        // addresses and routes the owner's desired state no longer lists
        if self.scope == &Scope::Owner {
            self.prune_config();
        }
        Ok(())
    }

    /// When both ends of a swctl veth pair are to be deleted, keep only the
    /// first: the kernel removes the peer with it (a second delete would
    /// fail with ENODEV).
    fn dedupe_pair_deletes(&mut self) {
        let o = self.o;
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        self.steps.retain(|s| {
            let Step::DeleteLink { loc, dev } = s else {
                return true;
            };
            let Some(l) = o.loc(loc).and_then(|st| st.link(dev)) else {
                return true;
            };
            let id = match &l.mark {
                Some(Mark::Port { ns, sw, .. }) => ("port".to_string(), format!("{ns} {sw}")),
                Some(Mark::Link { a, b, .. }) => {
                    ("link".to_string(), format!("{:?}", Key::link(a, b)))
                }
                _ => return true,
            };
            seen.insert(id)
        });
    }

    fn prune_config(&mut self) {
        let o = self.o;
        for (ns, spec) in &self.d.namespaces {
            let Some(obs) = o.namespaces.get(ns) else {
                continue;
            };
            for r in &obs.state.routes {
                let Some(via) = r.via else { continue };
                if !spec.routes.iter().any(|s| s.dest == r.dest && s.via == via) {
                    self.steps.push(Step::DelRoute {
                        ns: ns.clone(),
                        dest: r.dest,
                        via,
                    });
                }
            }
        }
        for (loc, st) in o.locs() {
            for l in &st.links {
                let Some(mark) = &l.mark else { continue };
                if mark.owner() != &self.d.owner {
                    continue;
                }
                let Some(want) = self.desired_addrs(&loc, l, mark) else {
                    continue;
                };
                for a in &l.addrs {
                    let link_local =
                        matches!(a.addr, IpAddr::V6(v) if (v.segments()[0] & 0xffc0) == 0xfe80);
                    if !link_local && !want.contains(a) {
                        self.steps.push(Step::DelAddr {
                            loc: loc.clone(),
                            dev: l.name.clone(),
                            cidr: *a,
                        });
                    }
                }
            }
        }
    }

    /// The addresses the desired state wants on an observed, marked link;
    /// None when the link itself is not desired (it is being removed).
    fn desired_addrs(&self, loc: &Loc, l: &LinkObs, mark: &Mark) -> Option<Vec<Cidr>> {
        match mark {
            Mark::Switch { .. } => self
                .d
                .switches
                .iter()
                .find(|(n, s)| n.as_str() == l.name && &s.loc == loc)
                .map(|(_, s)| s.addrs.clone()),
            Mark::Port { ns, sw, side, .. } => {
                let p = self
                    .d
                    .ports
                    .iter()
                    .find(|p| &p.ns == ns && &p.switch == sw)?;
                Some(if *side == Side::B {
                    p.addrs.clone()
                } else {
                    vec![]
                })
            }
            Mark::Link { a, b, side, .. } => {
                let s = self
                    .d
                    .links
                    .iter()
                    .find(|s| Key::link(&s.a, &s.b) == Key::link(a, b))?;
                Some(if spec_a_end(s, a, b, *side) {
                    s.a_addrs.clone()
                } else {
                    s.b_addrs.clone()
                })
            }
        }
    }

    // ------------------------------------------------------------ creation

    fn namespaces(&mut self) {
        for (ns, spec) in &self.d.namespaces {
            let obs = self.o.namespaces.get(ns);
            if obs.is_none() {
                self.steps.push(Step::CreateNs {
                    ns: ns.clone(),
                    owner: self.d.owner.clone(),
                });
                self.ns_exist.insert(ns.clone());
            }
            let st = obs.map(|o| &o.state);
            // `lo` stays down if a run was interrupted right after creating
            // the namespace (or someone took it down): bring it up
            if let Some(lo) = st.and_then(|s| s.link("lo")).filter(|l| !l.up) {
                self.steps.push(Step::SetUp {
                    loc: Loc::Ns(ns.clone()),
                    dev: lo.name.clone(),
                });
            }
            if let Some(on) = spec.forward {
                // a new namespace starts with forwarding off
                let cur = st.map_or(Some(false), |s| s.forward);
                if cur != Some(on) {
                    self.steps.push(Step::SetForward { ns: ns.clone(), on });
                }
            }
            for r in &spec.routes {
                let present = st.is_some_and(|s| {
                    s.routes
                        .iter()
                        .any(|x| x.dest == r.dest && x.via == Some(r.via))
                });
                if !present {
                    self.steps.push(Step::AddRoute {
                        ns: ns.clone(),
                        dest: r.dest,
                        via: r.via,
                    });
                }
            }
        }
    }

    fn ensure_addrs(&mut self, loc: &Loc, dev: &str, have: &[Cidr], want: &[Cidr]) {
        for c in want {
            if !have.contains(c) {
                self.steps.push(Step::AddAddr {
                    loc: loc.clone(),
                    dev: dev.to_string(),
                    cidr: *c,
                });
            }
        }
    }

    /// `have`: the observed MTU, None for a device this plan creates.
    fn ensure_mtu(&mut self, loc: &Loc, dev: &str, have: Option<u32>, want: Option<u32>) {
        if let Some(m) = want
            && have != Some(m)
        {
            self.steps.push(Step::SetMtu {
                loc: loc.clone(),
                dev: dev.to_string(),
                mtu: m,
            });
        }
    }

    fn ensure_up(&mut self, loc: &Loc, l: &LinkObs) {
        if !l.up {
            self.steps.push(Step::SetUp {
                loc: loc.clone(),
                dev: l.name.clone(),
            });
        }
    }

    fn switches(&mut self) -> Result<(), PlanError> {
        let (d, o) = (self.d, self.o);
        for (name, spec) in &d.switches {
            if spec.backend == Backend::Ovs {
                self.ovs_switch(name, spec)?;
                continue;
            }
            if o.ovs
                .as_ref()
                .is_some_and(|s| s.bridge(name.as_str()).is_some())
            {
                return Err(PlanError::SwitchKind {
                    name: name.clone(),
                    have: "an OVS bridge".into(),
                    want: "a Linux bridge".into(),
                });
            }
            if let Loc::Ns(n) = &spec.loc
                && !self.ns_exist.contains(n)
            {
                return Err(PlanError::UnknownNamespace(n.clone()));
            }
            match o.loc(&spec.loc).and_then(|st| st.link(name.as_str())) {
                Some(l) if l.kind.as_deref() == Some("bridge") => {
                    self.ensure_up(&spec.loc, l);
                    self.ensure_addrs(&spec.loc, name.as_str(), &l.addrs, &spec.addrs);
                }
                Some(l) => {
                    return Err(PlanError::NotABridge(
                        name.clone(),
                        spec.loc.clone(),
                        l.kind.clone().unwrap_or_else(|| "device".into()),
                    ));
                }
                None => {
                    if let Some((other, _)) = o.find_bridge(name.as_str())
                        && other != spec.loc
                    {
                        return Err(PlanError::BridgeCannotMove {
                            name: name.clone(),
                            want: spec.loc.clone(),
                        });
                    }
                    self.names.take(&spec.loc, name.as_str());
                    self.steps.push(Step::CreateBridge {
                        loc: spec.loc.clone(),
                        name: name.clone(),
                        mark: Mark::Switch {
                            owner: d.owner.clone(),
                        },
                    });
                    self.ensure_addrs(&spec.loc, name.as_str(), &[], &spec.addrs);
                }
            }
        }
        Ok(())
    }

    /// Which backend switch `name` is (or will be) on, and where it lives.
    fn switch_kind(&self, name: &IfName) -> Result<(Backend, Loc), PlanError> {
        if let Some(s) = self.d.switches.get(name) {
            return Ok((s.backend, s.loc.clone()));
        }
        self.o
            .find_switch(name.as_str())
            .ok_or_else(|| PlanError::UnknownSwitch(name.clone()))
    }

    fn ovs(&self, sw: &IfName) -> Result<&'_ OvsState, PlanError> {
        self.o.ovs.as_ref().ok_or_else(|| {
            PlanError::OvsUnavailable(
                sw.clone(),
                self.o
                    .ovs_missing
                    .clone()
                    .unwrap_or_else(|| "not looked up".into()),
            )
        })
    }

    fn ovs_switch(&mut self, name: &IfName, spec: &SwitchSpec) -> Result<(), PlanError> {
        if spec.loc != Loc::Host {
            return Err(PlanError::OvsInNamespace(name.clone()));
        }
        if let Some((loc, _)) = self.o.find_bridge(name.as_str()) {
            return Err(PlanError::SwitchKind {
                name: name.clone(),
                have: format!("a Linux bridge in {loc}"),
                want: "an OVS bridge".into(),
            });
        }
        let st = self.ovs(name)?;
        let dp = match &spec.datapath {
            Some(d) if d == "system" || d == "netdev" => d.clone(),
            Some(d) => return Err(PlanError::Datapath(d.clone())),
            None => st.datapath.clone(),
        };
        let host = &self.o.host;
        if st.bridge(name.as_str()).is_some() {
            // the bridge's own interface: addresses and up, like `ip addr add .. dev BR`
            if !spec.addrs.is_empty()
                && let Some(l) = host.link(name.as_str())
            {
                self.ensure_up(&Loc::Host, l);
                self.ensure_addrs(&Loc::Host, name.as_str(), &l.addrs, &spec.addrs);
            }
            return Ok(());
        }
        if self.names.taken(&Loc::Host, name.as_str()) {
            return Err(PlanError::NameTaken {
                name: name.to_string(),
                loc: Loc::Host,
                what: "switch".into(),
            });
        }
        let db = spec.ovsdb.clone().unwrap_or_else(|| st.addr.clone());
        self.names.take(&Loc::Host, name.as_str());
        self.steps.push(Step::Ovs(OvsChange::AddBridge {
            db,
            name: name.to_string(),
            datapath_type: dp,
            owner: self.d.owner.clone(),
        }));
        if !spec.addrs.is_empty() {
            self.steps.push(Step::SetUp {
                loc: Loc::Host,
                dev: name.to_string(),
            });
            self.ensure_addrs(&Loc::Host, name.as_str(), &[], &spec.addrs);
        }
        Ok(())
    }

    /// The datapath type of an OVS bridge (planned or existing).
    fn ovs_datapath(&self, sw: &IfName) -> String {
        let st = self.o.ovs.as_ref();
        if let Some(b) = st.and_then(|s| s.bridge(sw.as_str())) {
            return b.datapath_type.clone();
        }
        if let Some(d) = self.d.switches.get(sw).and_then(|s| s.datapath.clone()) {
            return d;
        }
        st.map(|s| s.datapath.clone()).unwrap_or_default()
    }

    /// One port on an OVS bridge: veth or internal port.
    fn ovs_port(&mut self, p: &PortSpec) -> Result<(), PlanError> {
        let d = self.d;
        let st = self.ovs(&p.switch)?;
        // the server of the switch: where it is, or where it will be made
        let db = match st.bridge(p.switch.as_str()) {
            Some(b) => b.db.clone(),
            None => d
                .switches
                .get(&p.switch)
                .and_then(|s| s.ovsdb.clone())
                .unwrap_or_else(|| st.addr.clone()),
        };
        let internal = match p.via {
            // measured here (userspace datapath): internal ports carried
            // 1.31 Gbit/s, veth 0.81 Gbit/s and needed tx checksum offload
            // off to carry TCP at all
            Via::Auto | Via::Internal => true,
            Via::Veth => false,
        };
        let ns_loc = Loc::Ns(p.ns.clone());
        let key = Key::Port {
            ns: p.ns.clone(),
            switch: p.switch.clone(),
        };
        let row = ovs_port_of(st, &p.ns, &p.switch).cloned();
        let b = self.o.loc(&ns_loc).and_then(|s| {
            s.marked(|m| matches!(m, Mark::Port { ns, sw, side: Side::B, .. } if ns == &p.ns && sw == &p.switch))
                .next()
                .cloned()
        });
        let a_host = row
            .as_ref()
            .and_then(|r| self.o.host.link(&r.name).cloned());
        let via = if internal { Via::Internal } else { Via::Veth };
        if let Some(r) = &row {
            let name_ok = |n: &str| p.ifname.as_ref().is_none_or(|w| w.as_str() == n);
            // An internal port's device in the host namespace means
            // ovs-vswitchd restarted and made a new one (the old device in
            // the namespace is a dead tap now): drop the stale end and move
            // the new device in under the same name.
            let respawned = internal && r.internal() && a_host.is_some();
            let stale: Option<IfName> = b.as_ref().and_then(|x| x.name.parse().ok());
            if respawned && let Some(old) = &b {
                self.delete_link(&ns_loc, &old.name);
            }
            let b = if respawned { None } else { b.clone() };
            if r.internal() == internal {
                if let Some(b) = b.as_ref().filter(|b| name_ok(&b.name)) {
                    if r.tag != p.vlan.map(i64::from) {
                        self.steps.push(Step::Ovs(OvsChange::SetTag {
                            db: db.clone(),
                            port: r.name.clone(),
                            uuid: r.uuid.clone(),
                            tag: p.vlan,
                        }));
                    }
                    self.ensure_up(&ns_loc, b);
                    self.ensure_mtu(&ns_loc, &b.name, Some(b.mtu), p.mtu);
                    if let Some(a) = a_host.as_ref().filter(|_| !internal) {
                        self.ensure_up(&Loc::Host, a);
                        self.ensure_mtu(&Loc::Host, &a.name, Some(a.mtu), p.mtu);
                    }
                    self.ensure_addrs(&ns_loc, &b.name, &b.addrs, &p.addrs);
                    self.wiring.push(Wiring {
                        key,
                        via,
                        a_loc: Loc::Host,
                        a_dev: r.name.clone(),
                        b_loc: ns_loc,
                        b_dev: b.name.clone(),
                    });
                    return Ok(());
                }
                // the internal port is back in the host namespace (ovs-vswitchd
                // restarted and made its tap again): move it in again
                if internal
                    && b.is_none()
                    && let Some(tap) = &a_host
                {
                    let want = match (&p.ifname, stale.filter(|_| respawned)) {
                        (Some(n), _) => n.clone(),
                        (None, Some(old)) => old,
                        (None, None) => self.names.free_eth(&ns_loc),
                    };
                    if !self.names.taken(&ns_loc, want.as_str()) {
                        self.names.take(&ns_loc, want.as_str());
                        self.steps.push(Step::MoveLink {
                            from: Loc::Host,
                            dev: tap.name.clone(),
                            ns: p.ns.clone(),
                            name: want.clone(),
                            mark: port_mark(d, p, Side::B),
                        });
                        self.ensure_mtu(&ns_loc, want.as_str(), None, p.mtu);
                        self.ensure_addrs(&ns_loc, want.as_str(), &[], &p.addrs);
                        self.wiring.push(Wiring {
                            key,
                            via,
                            a_loc: Loc::Host,
                            a_dev: r.name.clone(),
                            b_loc: ns_loc,
                            b_dev: want.to_string(),
                        });
                        return Ok(());
                    }
                }
            }
            // wrong wiring, renamed, or half there: remove and make again
            self.steps.push(Step::Ovs(OvsChange::DelPort {
                db: db.clone(),
                bridge: p.switch.to_string(),
                port: r.name.clone(),
                uuid: r.uuid.clone(),
            }));
            if let Some(a) = &a_host {
                self.delete_link(&Loc::Host, &a.name);
            }
        }
        if let Some(b) = &b {
            self.delete_link(&ns_loc, &b.name);
        }
        let (a_name, b_name) = self.port_names(&Loc::Host, &ns_loc, p)?;
        if internal {
            self.steps.push(Step::Ovs(OvsChange::AddPort {
                db: db.clone(),
                bridge: p.switch.to_string(),
                port: a_name.to_string(),
                internal: true,
                tag: p.vlan,
                mark: port_mark(d, p, Side::A),
            }));
            self.steps.push(Step::MoveLink {
                from: Loc::Host,
                dev: a_name.to_string(),
                ns: p.ns.clone(),
                name: b_name.clone(),
                mark: port_mark(d, p, Side::B),
            });
        } else {
            self.steps.push(Step::CreateVeth {
                loc: Loc::Host,
                name: a_name.clone(),
                peer_loc: ns_loc.clone(),
                peer: b_name.clone(),
                master: None,
                mark: port_mark(d, p, Side::A),
                peer_mark: port_mark(d, p, Side::B),
            });
            self.steps.push(Step::Ovs(OvsChange::AddPort {
                db: db.clone(),
                bridge: p.switch.to_string(),
                port: a_name.to_string(),
                internal: false,
                tag: p.vlan,
                mark: port_mark(d, p, Side::A),
            }));
            // Measured here: on the userspace datapath, TCP through OVS and
            // a veth fails until tx checksum offload is off on the
            // namespace end (packets with partial checksums leave through
            // ovs-vswitchd's AF_PACKET socket unfinished).
            if self.ovs_datapath(&p.switch) == "netdev" {
                self.steps.push(Step::TxCsumOff {
                    ns: p.ns.clone(),
                    dev: b_name.to_string(),
                });
            }
            self.ensure_mtu(&Loc::Host, a_name.as_str(), None, p.mtu);
        }
        self.ensure_mtu(&ns_loc, b_name.as_str(), None, p.mtu);
        self.ensure_addrs(&ns_loc, b_name.as_str(), &[], &p.addrs);
        self.wiring.push(Wiring {
            key,
            via,
            a_loc: Loc::Host,
            a_dev: a_name.to_string(),
            b_loc: ns_loc,
            b_dev: b_name.to_string(),
        });
        Ok(())
    }

    fn ports(&mut self) -> Result<(), PlanError> {
        let (d, o) = (self.d, self.o);
        for p in &d.ports {
            let (backend, sw_loc) = self.switch_kind(&p.switch)?;
            if !self.ns_exist.contains(&p.ns) {
                return Err(PlanError::UnknownNamespace(p.ns.clone()));
            }
            if backend == Backend::Ovs {
                self.ovs_port(p)?;
                continue;
            }
            if p.via == Via::Internal {
                return Err(PlanError::InternalOnBridge(p.switch.clone()));
            }
            if p.vlan.is_some() {
                return Err(PlanError::VlanOnBridge(p.switch.clone()));
            }
            let ns_loc = Loc::Ns(p.ns.clone());
            let key = Key::Port {
                ns: p.ns.clone(),
                switch: p.switch.clone(),
            };
            let is_end = |side: Side| move |m: &Mark| matches!(m, Mark::Port { ns, sw, side: s, .. } if ns == &p.ns && sw == &p.switch && *s == side);
            let a = o
                .loc(&sw_loc)
                .and_then(|st| st.marked(is_end(Side::A)).next());
            let b = o
                .loc(&ns_loc)
                .and_then(|st| st.marked(is_end(Side::B)).next());
            if let (Some(a), Some(b)) = (a, b)
                && p.ifname.as_ref().is_none_or(|n| n.as_str() == b.name)
            {
                if a.master.as_deref() != Some(p.switch.as_str()) {
                    self.steps.push(Step::SetMaster {
                        loc: sw_loc.clone(),
                        dev: a.name.clone(),
                        master: p.switch.clone(),
                    });
                }
                self.ensure_up(&sw_loc, a);
                self.ensure_up(&ns_loc, b);
                self.ensure_mtu(&sw_loc, &a.name, Some(a.mtu), p.mtu);
                self.ensure_mtu(&ns_loc, &b.name, Some(b.mtu), p.mtu);
                self.ensure_addrs(&ns_loc, &b.name, &b.addrs, &p.addrs);
                self.wiring.push(Wiring {
                    key,
                    via: Via::Veth,
                    a_loc: sw_loc,
                    a_dev: a.name.clone(),
                    b_loc: ns_loc,
                    b_dev: b.name.clone(),
                });
                continue;
            }
            // missing, half there, or renamed: (re)create the pair
            if let Some(a) = a {
                self.delete_link(&sw_loc, &a.name);
            } else if let Some(b) = b {
                self.delete_link(&ns_loc, &b.name);
            }
            let (a_name, b_name) = self.port_names(&sw_loc, &ns_loc, p)?;
            let mark = |side| Mark::Port {
                owner: d.owner.clone(),
                ns: p.ns.clone(),
                sw: p.switch.clone(),
                side,
            };
            self.steps.push(Step::CreateVeth {
                loc: sw_loc.clone(),
                name: a_name.clone(),
                peer_loc: ns_loc.clone(),
                peer: b_name.clone(),
                master: Some(p.switch.clone()),
                mark: mark(Side::A),
                peer_mark: mark(Side::B),
            });
            self.ensure_mtu(&sw_loc, a_name.as_str(), None, p.mtu);
            self.ensure_mtu(&ns_loc, b_name.as_str(), None, p.mtu);
            self.ensure_addrs(&ns_loc, b_name.as_str(), &[], &p.addrs);
            self.wiring.push(Wiring {
                key,
                via: Via::Veth,
                a_loc: sw_loc,
                a_dev: a_name.to_string(),
                b_loc: ns_loc,
                b_dev: b_name.to_string(),
            });
        }
        Ok(())
    }

    fn links(&mut self) -> Result<(), PlanError> {
        let (d, o) = (self.d, self.o);
        for s in &d.links {
            for loc in [&s.a, &s.b] {
                if !self.loc_exists(loc) {
                    return Err(PlanError::UnknownNamespace(
                        loc.ns().expect("host exists").clone(),
                    ));
                }
            }
            let key = Key::link(&s.a, &s.b);
            let ea = link_end(o, s, true);
            let eb = link_end(o, s, false);
            let names_ok = |e: Option<&LinkObs>, want: &Option<IfName>| {
                e.is_some()
                    && want
                        .as_ref()
                        .is_none_or(|n| e.is_some_and(|e| e.name == n.as_str()))
            };
            if names_ok(ea, &s.a_ifname) && names_ok(eb, &s.b_ifname) {
                let (ea, eb) = (ea.expect("checked"), eb.expect("checked"));
                self.ensure_up(&s.a, ea);
                self.ensure_up(&s.b, eb);
                self.ensure_mtu(&s.a, &ea.name, Some(ea.mtu), s.mtu);
                self.ensure_mtu(&s.b, &eb.name, Some(eb.mtu), s.mtu);
                self.ensure_addrs(&s.a, &ea.name, &ea.addrs, &s.a_addrs);
                self.ensure_addrs(&s.b, &eb.name, &eb.addrs, &s.b_addrs);
                self.wiring.push(Wiring {
                    key,
                    via: Via::Veth,
                    a_loc: s.a.clone(),
                    a_dev: ea.name.clone(),
                    b_loc: s.b.clone(),
                    b_dev: eb.name.clone(),
                });
                continue;
            }
            if let Some(e) = ea {
                self.delete_link(&s.a, &e.name);
            } else if let Some(e) = eb {
                self.delete_link(&s.b, &e.name);
            }
            let derived =
                derived_ifname(&s.b.to_string(), &[&s.a.to_string(), &s.b.to_string(), "a"]);
            self.clear_leftover(&s.a, derived.as_str());
            for (loc, other, want) in [(&s.a, &s.b, &s.a_ifname), (&s.b, &s.a, &s.b_ifname)] {
                let plain = want.clone().or_else(|| match other {
                    Loc::Ns(o) if loc != other => o.as_str().parse().ok(),
                    Loc::Host => "host".parse().ok(),
                    _ => None,
                });
                if let Some(n) = plain {
                    self.clear_own_leftover(loc, n.as_str());
                }
            }
            let a_name = self.link_end_name(&s.a, &s.b, &s.a_ifname, "a")?;
            self.names.take(&s.a, a_name.as_str());
            let b_name = self.link_end_name(&s.b, &s.a, &s.b_ifname, "b")?;
            self.names.take(&s.b, b_name.as_str());
            if s.a == s.b && a_name == b_name {
                return Err(PlanError::DuplicateName(a_name.to_string(), s.a.clone()));
            }
            let mark = |side| Mark::Link {
                owner: d.owner.clone(),
                a: s.a.clone(),
                b: s.b.clone(),
                side,
            };
            self.steps.push(Step::CreateVeth {
                loc: s.a.clone(),
                name: a_name.clone(),
                peer_loc: s.b.clone(),
                peer: b_name.clone(),
                master: None,
                mark: mark(Side::A),
                peer_mark: mark(Side::B),
            });
            self.ensure_mtu(&s.a, a_name.as_str(), None, s.mtu);
            self.ensure_mtu(&s.b, b_name.as_str(), None, s.mtu);
            self.ensure_addrs(&s.a, a_name.as_str(), &[], &s.a_addrs);
            self.ensure_addrs(&s.b, b_name.as_str(), &[], &s.b_addrs);
            if s.a == s.b {
                // Two ends in one namespace do not answer each other's ARP:
                // the reply has a local source address and comes back over
                // `lo`, which rp_filter drops and accept_local refuses.
                for dev in [&a_name, &b_name] {
                    for (k, v) in [("accept_local", "1"), ("rp_filter", "0")] {
                        self.steps.push(Step::SetSysctl {
                            loc: s.a.clone(),
                            key: format!("net/ipv4/conf/{dev}/{k}"),
                            value: v.into(),
                        });
                    }
                }
            }
            self.wiring.push(Wiring {
                key,
                via: Via::Veth,
                a_loc: s.a.clone(),
                a_dev: a_name.to_string(),
                b_loc: s.b.clone(),
                b_dev: b_name.to_string(),
            });
        }
        Ok(())
    }

    /// A veth that carries a name swctl derives (a hash of what it
    /// connects) but no mark is the leftover of a swctl run interrupted
    /// between creating the pair and marking it (the kernel does not take
    /// IFLA_IFALIAS in RTM_NEWLINK): remove it so it can be made again.
    fn clear_leftover(&mut self, loc: &Loc, name: &str) {
        let o = self.o;
        if let Some(l) = o.loc(loc).and_then(|st| st.link(name))
            && l.kind.as_deref() == Some("veth")
            && l.alias.is_none()
        {
            self.delete_link(loc, name);
        }
    }

    /// The two names of a new port: the switch end's derived name, the
    /// namespace end's chosen name or first free `ethN`; both checked free
    /// (after clearing leftovers of interrupted runs) and taken.
    fn port_names(
        &mut self,
        sw_loc: &Loc,
        ns_loc: &Loc,
        p: &PortSpec,
    ) -> Result<(IfName, IfName), PlanError> {
        let a_name = derived_ifname(p.ns.as_str(), &[p.ns.as_str(), p.switch.as_str()]);
        self.clear_leftover(sw_loc, a_name.as_str());
        if self.names.taken(sw_loc, a_name.as_str()) {
            return Err(PlanError::NameTaken {
                name: a_name.to_string(),
                loc: sw_loc.clone(),
                what: "port".into(),
            });
        }
        self.clear_own_leftovers_for(ns_loc, &p.ifname);
        let b_name = match &p.ifname {
            Some(n) if self.names.taken(ns_loc, n.as_str()) => {
                return Err(PlanError::NameTaken {
                    name: n.to_string(),
                    loc: ns_loc.clone(),
                    what: "port".into(),
                });
            }
            Some(n) => n.clone(),
            None => self.names.free_eth(ns_loc),
        };
        self.names.take(sw_loc, a_name.as_str());
        self.names.take(ns_loc, b_name.as_str());
        Ok((a_name, b_name))
    }

    /// Marks recorded as pending (a run was killed between creating a device
    /// and setting its alias) are written, for this owner's devices that
    /// stay.
    fn finish_marks(&mut self) {
        let o = self.o;
        for (loc, st) in o.locs() {
            if loc.ns().is_some_and(|n| self.ns_deleted.contains(n)) {
                continue;
            }
            for l in &st.links {
                let Some(m) = &l.mark else { continue };
                if l.alias.is_some() || m.owner() != &self.d.owner {
                    continue;
                }
                let deleted = self
                    .steps
                    .iter()
                    .any(|s| matches!(s, Step::DeleteLink { loc: x, dev } if x == &loc && dev == &l.name));
                if !deleted {
                    self.steps.push(Step::SetMark {
                        loc: loc.clone(),
                        dev: l.name.clone(),
                        mark: m.clone(),
                    });
                }
            }
        }
    }

    /// Leftovers where a port's namespace end will go: the chosen name, or
    /// (default names) every unmarked `ethN`.
    fn clear_own_leftovers_for(&mut self, ns_loc: &Loc, want: &Option<IfName>) {
        match want {
            Some(n) => self.clear_own_leftover(ns_loc, n.as_str()),
            None => {
                let names: Vec<String> = self
                    .o
                    .loc(ns_loc)
                    .map(|st| {
                        st.links
                            .iter()
                            .filter(|l| {
                                l.name.strip_prefix("eth").is_some_and(|d| {
                                    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
                                })
                            })
                            .map(|l| l.name.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for n in names {
                    self.clear_own_leftover(ns_loc, &n);
                }
            }
        }
    }

    /// Inside a namespace this owner made, an unmarked veth or internal-port
    /// device that has a name the plan wants is a leftover of an interrupted
    /// run too (nobody else puts devices there): remove it.
    fn clear_own_leftover(&mut self, loc: &Loc, name: &str) {
        let Loc::Ns(n) = loc else { return };
        let o = self.o;
        let ours = o
            .namespaces
            .get(n)
            .is_some_and(|x| x.owner.as_ref() == Some(&self.d.owner));
        if let Some(l) = o.loc(loc).and_then(|st| st.link(name))
            && ours
            && l.alias.is_none()
            && matches!(l.kind.as_deref(), Some("veth" | "tun" | "openvswitch"))
        {
            self.delete_link(loc, name);
        }
    }

    /// The name of a link end in `loc` facing `other`: the user's choice, or
    /// the peer's namespace name when it fits (as people name them: the end
    /// in ns1 that leads to ns2 is `ns2`), or a derived name. In the host
    /// namespace always a derived name, so it cannot clash with real NICs.
    fn link_end_name(
        &self,
        loc: &Loc,
        other: &Loc,
        want: &Option<IfName>,
        side: &str,
    ) -> Result<IfName, PlanError> {
        let name = match want {
            Some(n) => n.clone(),
            None => {
                let plain = match (loc, other) {
                    (Loc::Ns(_), Loc::Ns(o)) if loc != other => o.as_str().parse::<IfName>().ok(),
                    (Loc::Ns(_), Loc::Host) => "host".parse::<IfName>().ok(),
                    _ => None,
                };
                match plain {
                    Some(n) if !self.names.taken(loc, n.as_str()) => n,
                    _ => derived_ifname(
                        &other.to_string(),
                        &[&loc.to_string(), &other.to_string(), side],
                    ),
                }
            }
        };
        if self.names.taken(loc, name.as_str()) {
            return Err(PlanError::NameTaken {
                name: name.to_string(),
                loc: loc.clone(),
                what: "link".into(),
            });
        }
        Ok(name)
    }
}

/// Whether the end marked (`a`, `b`, `side`) is the spec's `a` end. The mark
/// keeps the orientation the link was created with; the spec may name the
/// two ends the other way round.
fn spec_a_end(s: &LinkSpec, a: &Loc, b: &Loc, side: Side) -> bool {
    let same_orientation = &s.a == a && &s.b == b;
    (side == Side::A) == same_orientation
}

/// The observed end of link `s` at its `a` end (or `b` end).
fn link_end<'o>(o: &'o Observed, s: &LinkSpec, want_a: bool) -> Option<&'o LinkObs> {
    let loc = if want_a { &s.a } else { &s.b };
    let key = Key::link(&s.a, &s.b);
    o.loc(loc)?.links.iter().find(|l| match &l.mark {
        Some(Mark::Link { a, b, side, .. }) => {
            Key::link(a, b) == key && spec_a_end(s, a, b, *side) == want_a
        }
        _ => false,
    })
}

/// The OVS port swctl made for (ns, switch), by its external_ids.
fn ovs_port_of<'o>(st: &'o OvsState, ns: &NsName, sw: &IfName) -> Option<&'o OvsPort> {
    st.bridge(sw.as_str())?.ports.iter().find(|p| {
        p.external_ids.get(K_NS).map(String::as_str) == Some(ns.as_str())
            && p.external_ids.get(K_SWITCH).map(String::as_str) == Some(sw.as_str())
    })
}

fn port_mark(d: &Desired, p: &PortSpec, side: Side) -> Mark {
    Mark::Port {
        owner: d.owner.clone(),
        ns: p.ns.clone(),
        sw: p.switch.clone(),
        side,
    }
}

/// The observation minus what the removal steps take away: deleted
/// namespaces, deleted links (and, for a veth, its peer), OVS bridges and
/// ports with their devices in the host namespace.
fn without_removed(o: &Observed, steps: &[Step], ns_deleted: &BTreeSet<NsName>) -> Observed {
    let mut after = o.clone();
    after.namespaces.retain(|n, _| !ns_deleted.contains(n));
    let mut gone: BTreeSet<(Loc, String)> = BTreeSet::new();
    let mut ovs_gone_ports: BTreeSet<String> = BTreeSet::new();
    let mut ovs_gone_bridges: BTreeSet<String> = BTreeSet::new();
    for s in steps {
        match s {
            Step::DeleteLink { loc, dev } | Step::AwaitGone { loc, dev } => {
                gone.insert((loc.clone(), dev.clone()));
            }
            Step::Ovs(OvsChange::DelPort { port, .. }) => {
                ovs_gone_ports.insert(port.clone());
            }
            Step::Ovs(OvsChange::DelBridge { name, .. }) => {
                ovs_gone_bridges.insert(name.clone());
            }
            _ => {}
        }
    }
    if let Some(st) = after.ovs.as_mut() {
        for b in st
            .bridges
            .iter()
            .filter(|b| ovs_gone_bridges.contains(&b.name))
        {
            ovs_gone_ports.extend(b.ports.iter().map(|p| p.name.clone()));
        }
        st.bridges.retain(|b| !ovs_gone_bridges.contains(&b.name));
        for b in st.bridges.iter_mut() {
            b.ports.retain(|p| !ovs_gone_ports.contains(&p.name));
        }
    }
    // a deleted veth end takes its peer: find peers by their marks
    let peer_ids: BTreeSet<String> = o
        .locs()
        .flat_map(|(loc, st)| {
            st.links
                .iter()
                .filter(|l| gone.contains(&(loc.clone(), l.name.clone())))
                .filter_map(|l| pair_id(l.mark.as_ref()?))
                .collect::<Vec<_>>()
        })
        .collect();
    let drop_link = |loc: &Loc, l: &LinkObs| {
        gone.contains(&(loc.clone(), l.name.clone()))
            || l.mark.as_ref().and_then(pair_id).is_some_and(|id| peer_ids.contains(&id))
            // an OVS port's or bridge's device in the host namespace
            || (loc == &Loc::Host && l.mark.is_none() && ovs_gone_ports.contains(&l.name))
    };
    after.host.links.retain(|l| !drop_link(&Loc::Host, l));
    for (n, obs) in after.namespaces.iter_mut() {
        let loc = Loc::Ns(n.clone());
        obs.state.links.retain(|l| !drop_link(&loc, l));
    }
    after
}

/// What identifies a swctl veth pair (both ends carry it).
fn pair_id(m: &Mark) -> Option<String> {
    match m {
        Mark::Port { ns, sw, .. } => Some(format!("port {ns} {sw}")),
        Mark::Link { a, b, .. } => Some(format!("link {:?}", Key::link(a, b))),
        Mark::Switch { .. } => None,
    }
}
