//! The imperative changes (`ns add/del`, `switch add/del`, `attach`,
//! `detach`, `link`, `unlink`, `route add/del`, `forward`) as use cases:
//! a request (`lab::request::Change`) validated into a desired state and a
//! scope for the planner (`parse`), then observed, guarded (what a lab
//! owns), planned and applied like a topology; the answer a typed
//! `ChangeReport`. The CLI and the API render it; nothing here prints.

mod parse;

use std::time::Instant;

use serde::Serialize;

use crate::effect::Effects;
use crate::effect::apply::{ApplyError, apply};
use crate::effect::observe::{Scan, observe, prune_run_state};
use crate::lab::request::{BackendChoice, Change};
use std::collections::{BTreeMap, BTreeSet};

use crate::model::names::{Cidr, IfName, Loc, NsName, Owner};
use crate::model::{Backend, Desired, Key, Observed};
use crate::plan::switch::{all_switches, find_switch};
use crate::plan::{Plan, Step};
use crate::plan::{PlanError, Scope, plan};

/// Why an imperative change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// a value refused by its rules
    #[error(transparent)]
    Invalid(#[from] crate::model::names::InvalidInput),
    /// arguments that do not make sense together, or out of range
    #[error("{0}")]
    Usage(String),
    /// the change would alter what an applied lab owns
    #[error("{0}")]
    Refused(String),
    #[error("cannot make a plan")]
    Plan(#[from] PlanError),
    #[error("cannot read the system state")]
    Observe(#[source] crate::effect::StepError),
    #[error("cannot apply the plan")]
    Apply(#[from] ApplyError),
    #[error("cannot read the OVSDB state")]
    Ovs(#[from] crate::ovsdb::OvsdbError),
}

/// What an imperative change did.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeReport {
    /// the command, in the CLI's words (`attach h1 br0`)
    pub what: String,
    /// the steps run (with each port's or link's wiring)
    pub plan: Plan,
    pub ms: f64,
    /// `switch del`: the ports that went with the switches
    pub removed_ports: Vec<String>,
    /// `switch add`: the backend chosen, and why
    pub backend: Option<(Backend, String)>,
}

/// A request validated: an imperative change, or `ns attach` (which
/// adopts a process's namespace, no plan).
pub enum Validated {
    Change(Box<ChangeJob>),
    NsAttach(NsName, u32),
}

/// The backend for a new switch, and why it was chosen.
async fn choose_backend<S: Effects>(
    arg: Option<BackendChoice>,
    k: &S,
) -> Result<(Backend, String), ChangeError> {
    if let Some(b) = arg {
        return Ok((b.into(), "--backend".into()));
    }
    if let Ok(s) = std::env::var("SWCTL_BACKEND") {
        let b: Backend = s
            .parse()
            .map_err(|e| ChangeError::Usage(format!("$SWCTL_BACKEND: {e}")))?;
        return Ok((b, "$SWCTL_BACKEND".into()));
    }
    match k.ovs_state().await? {
        Ok(st) => Ok((
            Backend::Ovs,
            format!("an OVSDB server answers at {}", st.addr),
        )),
        Err(_) => Ok((Backend::Bridge, "no OVSDB server answers".into())),
    }
}

/// A validated command that changes the system: (desired, scope) for the
/// planner, and what to observe.
pub struct ChangeJob {
    pub what: String,
    pub desired: Desired,
    pub scope: Scope,
    pub scan: Scan,
    /// teardown-like: keep going past failures, report them all
    pub keep_going: bool,
    /// names that must exist for the command to make sense (del of a
    /// missing object is an error, as with `ip`)
    pub must_exist: Vec<Key>,
    /// expected switch kind from an explicit --backend
    pub backend_check: Option<(IfName, Backend)>,
    /// `switch add`: pick the backend at run time (it may ask OVSDB)
    pub pick_backend: Option<Option<BackendChoice>>,
    /// talk to OVSDB (commands that may involve an OVS switch)
    pub ovs: bool,
    /// why the backend was picked, when not by the usual rules
    pub backend_reason: Option<String>,
    /// change what a topology owns all the same (`--force`)
    pub force: bool,
    /// attach/link: Some(--replace) (addresses on ends that exist already)
    pub replace: Option<bool>,
}

impl ChangeJob {
    pub fn new(what: String, desired: Desired, scope: Scope, scan: Scan) -> ChangeJob {
        ChangeJob {
            what,
            desired,
            scope,
            scan,
            keep_going: false,
            must_exist: vec![],
            backend_check: None,
            pick_backend: None,
            ovs: false,
            backend_reason: None,
            force: false,
            replace: None,
        }
    }
    fn teardown(mut self, must_exist: Vec<Key>) -> ChangeJob {
        self.keep_going = true;
        self.must_exist = must_exist;
        self
    }
    fn replacing(mut self, replace: bool) -> ChangeJob {
        self.replace = Some(replace);
        self
    }
    fn with_ovs(mut self, check: Option<(IfName, Backend)>) -> ChangeJob {
        self.ovs = true;
        self.backend_check = check;
        self
    }
}

/// The imperative change `c`, validated (nothing touched).
pub fn validate(c: &Change) -> Result<Validated, ChangeError> {
    let mut job = match c {
        Change::NsAdd(r) => parse::ns_add(r)?,
        Change::NsDel(r) => parse::ns_del(r)?,
        Change::NsAttach(r) => return Ok(Validated::NsAttach(r.name.parse()?, r.pid)),
        Change::SwitchAdd(r) => parse::switch_add(r)?,
        Change::SwitchDel(r) => parse::switch_del(r)?,
        Change::Attach(r) => parse::attach(r)?,
        Change::Detach(r) => parse::detach(r)?,
        Change::Link(r) => parse::link(r)?,
        Change::Unlink(r) => parse::unlink(r)?,
        Change::RouteAdd(r) => parse::route(r, true)?,
        Change::RouteDel(r) => parse::route(r, false)?,
        Change::Forward(r) => parse::forward(r)?,
    };
    job.force = c.force();
    Ok(Validated::Change(Box::new(job)))
}

async fn run_change<S: Effects>(k: &S, mut job: ChangeJob) -> Result<ChangeReport, ChangeError> {
    for ns in job.desired.namespaces.keys() {
        job.scan.namespaces.insert(ns.clone());
    }
    let t0 = Instant::now();
    let o = observe(k, &job.scan).await.map_err(ChangeError::Observe)?;
    prune_run_state(&o);
    check_exists(&o, &job.must_exist)?;
    if let Some((sw, want)) = &job.backend_check
        && let Some((have, loc)) = find_switch(&o, sw.as_str())
        && *want != have
    {
        return Err(ChangeError::Usage(format!(
            "switch {sw} (in {loc}) is on the {have} backend, but --backend {want} was given"
        )));
    }
    let mut p = plan(&job.desired, &o, &job.scope)?;
    if !p.is_empty() && !job.force {
        guard(&o, &job)?;
    }
    if let Some(replace) = job.replace {
        other_addrs(&o, &mut p, &job, replace)?;
    }
    let removed = ports_going(&o, &job);
    apply(k, &p, job.keep_going).await?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    Ok(ChangeReport {
        what: job.what,
        plan: p,
        ms,
        removed_ports: removed,
        backend: None,
    })
}

/// A second `attach`/`link` with addresses for an end that has others:
/// refused (it would silently add a second address), or with `--replace`
/// the others go (`ip addr del`) and the new ones take their place.
fn other_addrs(
    o: &Observed,
    p: &mut Plan,
    job: &ChangeJob,
    replace: bool,
) -> Result<(), ChangeError> {
    let d = &job.desired;
    let mine: BTreeSet<Cidr> = d
        .ports
        .iter()
        .flat_map(|x| x.end.addrs.iter())
        .chain(
            d.links
                .iter()
                .flat_map(|l| l.a_end.addrs.iter().chain(&l.b_end.addrs)),
        )
        .copied()
        .collect();
    let mut dels = vec![];
    for s in &p.steps {
        let Step::AddAddr { loc, dev, .. } = s else {
            continue;
        };
        let Some(l) = o.loc(loc).and_then(|st| st.link(dev)) else {
            continue;
        };
        for c in l
            .addrs
            .iter()
            .filter(|c| !c.is_link_local() && !mine.contains(c))
        {
            let del = Step::DelAddr {
                loc: loc.clone(),
                dev: dev.clone(),
                cidr: *c,
            };
            if !dels.contains(&del) {
                dels.push(del);
            }
        }
    }
    if dels.is_empty() {
        return Ok(());
    }
    if !replace {
        let have: Vec<String> = dels
            .iter()
            .map(|s| match s {
                Step::DelAddr { loc, dev, cidr } => format!("{cidr} on {dev} (in {loc})"),
                _ => unreachable!(),
            })
            .collect();
        return Err(ChangeError::Refused(format!(
            "{}: the end exists already with {}; the new address would be added beside it. Give --replace to put the new address in its place, or add one with `ip -n NS addr add`",
            job.what,
            have.join(", ")
        )));
    }
    p.steps.extend(dels);
    p.steps.sort_by_key(Step::phase);
    Ok(())
}

/// `switch del`: the ports that go with the switches (named, with their
/// namespaces, so the user sees what went).
fn ports_going(o: &Observed, job: &ChangeJob) -> Vec<String> {
    let Scope::Objects(keys) = &job.scope else {
        return vec![];
    };
    all_switches(o)
        .iter()
        .filter(|s| {
            keys.iter()
                .any(|k| matches!(k, Key::Switch { name } if name.as_str() == s.name))
        })
        .flat_map(|s| {
            s.ports.iter().map(|p| match &p.ns {
                Some(n) => format!("{} ({n})", p.dev),
                None => p.dev.clone(),
            })
        })
        .collect()
}

/// The objects a command changes or removes: the namespaces and switches
/// its desired state names, and those of the objects in its scope.
fn touched(job: &ChangeJob) -> (BTreeSet<NsName>, BTreeSet<IfName>) {
    let d = &job.desired;
    let mut ns: BTreeSet<NsName> = d.namespaces.keys().cloned().collect();
    let mut sw: BTreeSet<IfName> = d.switches.keys().cloned().collect();
    let loc = |l: &Loc, ns: &mut BTreeSet<NsName>| {
        if let Loc::Ns(n) = l {
            ns.insert(n.clone());
        }
    };
    for p in &d.ports {
        ns.insert(p.ns.clone());
        sw.insert(p.switch.clone());
    }
    for l in &d.links {
        loc(&l.a, &mut ns);
        loc(&l.b, &mut ns);
    }
    if let Scope::Objects(keys) = &job.scope {
        for k in keys {
            match k {
                Key::Ns { ns: n } | Key::Route { ns: n, .. } => {
                    ns.insert(n.clone());
                }
                Key::Switch { name } => {
                    sw.insert(name.clone());
                }
                Key::Port { ns: n, switch } => {
                    ns.insert(n.clone());
                    sw.insert(switch.clone());
                }
                Key::Link { a, b } => {
                    loc(a, &mut ns);
                    loc(b, &mut ns);
                }
                Key::Trunk { a, b } => {
                    sw.insert(a.clone());
                    sw.insert(b.clone());
                }
            }
        }
    }
    (ns, sw)
}

/// An imperative command leaves what an applied topology owns alone: the
/// next `apply` would silently undo it, or it would break the lab. Refused
/// (naming the topology and the way out) unless `--force`.
fn guard(o: &Observed, job: &ChangeJob) -> Result<(), ChangeError> {
    let cli = Owner::cli();
    let (nss, sws) = touched(job);
    let mut why = Vec::new();
    for n in &nss {
        if let Some(t) = o.namespaces.get(n).and_then(|x| x.owner.as_ref())
            && t != &cli
        {
            why.push((format!("namespace {n}"), t.clone()));
        }
    }
    for s in all_switches(o)
        .iter()
        .filter(|s| sws.iter().any(|n| n.as_str() == s.name))
    {
        if let Some(t) = s.owner.as_ref().filter(|t| **t != cli) {
            why.push((format!("switch {}", s.name), t.clone()));
        }
        // deleting a switch deletes every port on it
        let deleting = matches!(&job.scope, Scope::Objects(keys)
            if s.name.parse::<IfName>().is_ok_and(|name| keys.contains(&Key::Switch { name })));
        if deleting {
            let mut by_owner: BTreeMap<&Owner, usize> = BTreeMap::new();
            for p in &s.ports {
                if let Some(t) = p.owner.as_ref().filter(|t| **t != cli) {
                    *by_owner.entry(t).or_default() += 1;
                }
            }
            for (t, n) in by_owner {
                let ports = if n == 1 { "port" } else { "ports" };
                why.push((format!("{n} {ports} on it"), t.clone()));
            }
        }
    }
    why.dedup();
    if why.is_empty() {
        return Ok(());
    }
    let mut by_topo: BTreeMap<&Owner, Vec<&str>> = BTreeMap::new();
    for (what, t) in &why {
        by_topo.entry(t).or_default().push(what);
    }
    let lines: Vec<String> = by_topo
        .iter()
        .map(|(t, whats)| format!("{} owned by topology {t}", whats.join(", ")))
        .collect();
    let hint = by_topo
        .keys()
        .map(|t| format!("`swctl destroy --name {t}`"))
        .collect::<Vec<_>>()
        .join(" or ");
    Err(ChangeError::Refused(format!(
        "{}: {}; change the topology's file and `swctl apply` it, or remove the lab with {hint} (--force does it anyway; the next apply may undo it)",
        job.what,
        lines.join(", ")
    )))
}

/// A `del` of something that does not exist is an error, as with `ip`.
fn check_exists(o: &Observed, keys: &[Key]) -> Result<(), ChangeError> {
    for k in keys {
        let ok = match k {
            Key::Ns { ns } => o.namespaces.contains_key(ns),
            Key::Switch { name } => find_switch(o, name.as_str()).is_some(),
            Key::Port { ns, switch } => {
                if !o.namespaces.contains_key(ns) {
                    return Err(PlanError::UnknownNamespace(ns.clone()).into());
                }
                if find_switch(o, switch.as_str()).is_none() {
                    return Err(PlanError::UnknownSwitch(switch.clone()).into());
                }
                let ovs_port = o.ovs.as_ref().and_then(|s| s.bridge(switch.as_str())).is_some_and(|b| {
                    b.ports
                        .iter()
                        .any(|p| p.ns().as_ref() == Some(ns) && p.external_ids.get(crate::model::ovs::K_SWITCH) == Some(&switch.to_string()))
                });
                ovs_port || o.locs().any(|(_, st)| {
                    st.marked(|m| matches!(m, crate::model::Mark::Port { ns: n, sw, .. } if n == ns && sw == switch))
                        .next()
                        .is_some()
                })
            }
            Key::Route { ns, dest, via } => o
                .namespaces
                .get(ns)
                .is_some_and(|n| n.state.routes.iter().any(|r| &r.dest == dest && r.via == Some(*via))),
            Key::Link { a, b } => o.locs().any(|(_, st)| {
                st.marked(|m| matches!(m, crate::model::Mark::Link { a: x, b: y, .. } if Key::link(x, y) == Key::link(a, b)))
                    .next()
                    .is_some()
            }),
            Key::Trunk { a, b } => o.locs().any(|(_, st)| {
                st.marked(|m| matches!(m, crate::model::Mark::Trunk { a: x, b: y, .. } if Key::trunk(x, y) == Key::trunk(a, b)))
                    .next()
                    .is_some()
            }),
        };
        if !ok {
            return Err(match k {
                Key::Ns { ns } => PlanError::UnknownNamespace(ns.clone()),
                Key::Switch { name } => PlanError::UnknownSwitch(name.clone()),
                Key::Port { ns, switch } => PlanError::NotAttached(ns.clone(), switch.clone()),
                Key::Link { a, b } => PlanError::NoSuchLink(a.clone(), b.clone()),
                Key::Trunk { a, b } => PlanError::NoSuchTrunk(a.clone(), b.clone()),
                Key::Route { ns, dest, via } => PlanError::NoSuchRoute(ns.clone(), *dest, *via),
            }
            .into());
        }
    }
    Ok(())
}

/// Run an imperative command; `switch add` picks its backend first.
pub async fn run<S: Effects>(k: &S, mut job: ChangeJob) -> Result<ChangeReport, ChangeError> {
    let Some(arg) = job.pick_backend else {
        return run_change(k, job).await;
    };
    let (backend, mut why) = choose_backend(arg, k).await?;
    if let Some(r) = job.backend_reason.take() {
        why = r;
    }
    for s in job.desired.switches.values_mut() {
        s.backend = backend;
    }
    let mut report = run_change(k, job).await?;
    report.backend = Some((backend, why));
    Ok(report)
}
