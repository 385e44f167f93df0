//! The topology commands as use cases: `plan`, `apply`, `status`, `check`,
//! `destroy`, `gc`. A request (`lab::request::lab`) becomes a `TopoJob`
//! (its topology read and validated, nothing touched), run against the
//! effects into a typed `TopoReport` (`report`); the CLI renders it as
//! text, its JSON is what `--json` prints and the API answers. Progress
//! goes to the `Events` handle the caller passes in. Nothing here prints
//! (but an interactive apply's progress line on a terminal).

mod check;
pub mod report;
mod spread;

use std::io::IsTerminal;
use std::time::Instant;

use serde_json::json;

pub use report::{CheckReport, LabReport, TopoReport, Verb};

use crate::effect::Effects;
use crate::lab::events::Events;
use crate::lab::request::lab as req;
use crate::lab::topology::{Topology, TopologyError};
use crate::lab::{self, LabError};
use crate::model::names::{InvalidInput, Owner};

/// Why a topology command was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum TopoError {
    /// a value refused by its rules (a lab's or a machine's name)
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// arguments that do not make sense together, or out of range
    #[error("{0}")]
    Usage(String),
    /// the topology file cannot be read or is not valid
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// `destroy --name` of a lab that is neither applied nor owns anything
    #[error("no lab {name}: nothing is applied or owned under that name ({})",
        if .applied.is_empty() { "no lab is applied".to_string() } else { format!("applied: {}", .applied.join(", ")) })]
    NoLab { name: Owner, applied: Vec<String> },
    #[error(transparent)]
    Lab(#[from] LabError),
    /// an agent's OVN ports not bound and installed in time
    #[error(
        "ovn-controller did not install {} within {secs} s (see ovn-controller.log in this machine's Open vSwitch directory)",
        .ports.join(", ")
    )]
    NotInstalled { ports: Vec<String>, secs: u64 },
    /// an agent could not start its machine's Open vSwitch or chassis
    #[error("the Open vSwitch sandbox")]
    Sandbox(#[from] crate::effect::ovs::sandbox::SandboxError),
    #[error("{0}")]
    Chassis(#[from] crate::lab::ovn::OvnError),
    #[error("cannot read the system state")]
    Observe(#[source] crate::effect::StepError),
}

/// How `check` (and `apply --check`) probes.
#[derive(Debug, Clone, Copy)]
pub struct Probing {
    /// seconds each wave of probes may take
    pub timeout: f64,
    /// probe every pair, not a ring per segment, in a big lab
    pub full: bool,
}

impl Probing {
    fn new(timeout: f64, full: bool) -> Result<Probing, TopoError> {
        if !(timeout > 0.0 && timeout <= 600.0) {
            return Err(TopoError::Usage(
                "--timeout must be between 0 and 600 seconds".into(),
            ));
        }
        Ok(Probing { timeout, full })
    }
}

#[derive(Debug, Clone)]
pub enum TopoCmd {
    Plan,
    /// with the check to run afterwards; adopting the imperative
    /// commands' objects the file describes first (`--adopt`)
    Apply(Option<Probing>, bool),
    Status,
    /// probes from every host, or (an agent) from this machine's hosts only
    Check(Probing, Option<Owner>),
    /// with `--forget`: the record of parts that cannot be reached dropped
    Destroy(Owner, bool),
    /// dry run or not
    Gc(bool),
}

/// A topology command, validated: its topology (read and checked) and the
/// file it came from (empty: by name, or none).
#[derive(Debug, Clone)]
pub struct TopoJob {
    pub cmd: TopoCmd,
    pub topology: Option<Box<Topology>>,
    pub file: String,
}

/// The topology of `file` (`-`: standard input); with `machine`, only
/// that machine's part, owned by LAB+MACHINE (an agent's view).
fn load_part(file: &str, machine: Option<&str>) -> Result<Box<Topology>, TopoError> {
    let mut t = if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| TopoError::Usage(format!("cannot read the topology from stdin: {e}")))?;
        let json = text.trim_start().starts_with('{');
        lab::topology::parse(&text, json, "-")?
    } else {
        lab::topology::load(std::path::Path::new(file))?
    };
    if let Some(m) = machine {
        let m: Owner = m.parse()?;
        if !t.desired.machines.contains_key(&m) {
            return Err(TopoError::Usage(format!(
                "{file}: no machine {m} in [machines]"
            )));
        }
        t.desired = lab::machines::agent_part(&t.desired, &m);
        t.name = t.desired.owner.clone();
    }
    Ok(Box::new(t))
}

/// The file of a request's lab (its `file`, an applied lab's `name`, an
/// inline `topology`).
fn source(
    file: &Option<String>,
    name: &Option<String>,
    topology: Option<&serde_json::Value>,
) -> Result<String, TopoError> {
    req::resolve(file.as_deref(), name.as_deref(), topology)
        .map_err(|e| TopoError::Usage(e.to_string()))
}

impl TopoJob {
    fn new(cmd: TopoCmd, topology: Box<Topology>, file: String) -> TopoJob {
        TopoJob {
            cmd,
            topology: Some(topology),
            file,
        }
    }

    pub fn plan(r: &req::Plan) -> Result<TopoJob, TopoError> {
        let file = source(&r.file, &r.name, r.topology.as_ref())?;
        let t = load_part(&file, r.machine.as_deref())?;
        Ok(TopoJob::new(TopoCmd::Plan, t, file))
    }

    pub fn apply(r: &req::Apply) -> Result<TopoJob, TopoError> {
        let c = Probing::new(r.timeout, r.full)?;
        let file = source(&r.file, &r.name, r.topology.as_ref())?;
        let t = load_part(&file, r.machine.as_deref())?;
        let cmd = TopoCmd::Apply(r.check.then_some(c), r.adopt);
        Ok(TopoJob::new(cmd, t, file))
    }

    pub fn status(r: &req::Status) -> Result<TopoJob, TopoError> {
        let file = source(&r.file, &r.name, None)?;
        let t = load_part(&file, r.machine.as_deref())?;
        Ok(TopoJob::new(TopoCmd::Status, t, file))
    }

    pub fn check(r: &req::Check) -> Result<TopoJob, TopoError> {
        let c = Probing::new(r.timeout, r.full)?;
        let file = source(&r.file, &r.name, None)?;
        let machine = r.machine.as_deref().map(str::parse).transpose()?;
        let t = load_part(&file, None)?;
        Ok(TopoJob::new(TopoCmd::Check(c, machine), t, file))
    }

    pub fn destroy(r: &req::Destroy) -> Result<TopoJob, TopoError> {
        match (&r.file, &r.name) {
            (Some(f), None) => {
                let t = load_part(f, None)?;
                let cmd = TopoCmd::Destroy(t.name.clone(), r.forget);
                Ok(TopoJob::new(cmd, t, f.clone()))
            }
            (None, Some(n)) => Ok(TopoJob {
                cmd: TopoCmd::Destroy(n.parse()?, r.forget),
                topology: None,
                file: String::new(),
            }),
            _ => Err(TopoError::Usage(
                "destroy needs a topology FILE or --name NAME".into(),
            )),
        }
    }

    pub fn gc(r: &req::Gc) -> TopoJob {
        TopoJob {
            cmd: TopoCmd::Gc(r.dry_run),
            topology: None,
            file: String::new(),
        }
    }

    /// Whether it changes anything (and takes the lock).
    pub fn changes(&self) -> bool {
        matches!(
            self.cmd,
            TopoCmd::Apply(..) | TopoCmd::Destroy(..) | TopoCmd::Gc(false)
        )
    }

    /// A simulated machine's agent about to apply OVS switches: the
    /// machine's own Open vSwitch (and OVN chassis) started first, before
    /// anything connects to it (this process is in the machine's
    /// namespace). The daemons it had to start again, by name.
    pub async fn prepare(&self) -> Result<Vec<String>, TopoError> {
        let (TopoCmd::Apply(..), Some(t)) = (&self.cmd, &self.topology) else {
            return Ok(vec![]);
        };
        if !lab::machines::needs_sandbox(&t.desired) {
            return Ok(vec![]);
        }
        let dir = crate::effect::paths::machine_sandbox(crate::effect::paths::run_dir());
        let mut restarted = vec![];
        // daemons of a machine that had its Open vSwitch already: said
        // when this apply starts them again (it is not a plan step)
        if dir.join("conf.db").exists() {
            restarted = crate::effect::ovs::sandbox::not_running_here(&dir)
                .into_iter()
                .map(String::from)
                .collect();
        }
        let tunnels = lab::machines::ovs_carries_tunnels(&t.desired);
        crate::effect::ovs::sandbox::start_here(&dir, tunnels).await?;
        if lab::machines::needs_chassis(&t.desired) {
            lab::ovn::make_chassis(&t.desired, &dir).await?;
        }
        Ok(restarted)
    }
}

/// Run a topology command; an apply's and a destroy's start, progress and
/// end go to `events`.
pub async fn run<S: Effects>(
    k: &S,
    job: TopoJob,
    events: &Events,
) -> Result<TopoReport, TopoError> {
    let watched = match (&job.cmd, &job.topology) {
        (TopoCmd::Apply(..), Some(t)) => Some(("apply", t.desired.owner.clone())),
        (TopoCmd::Destroy(n, _), _) => Some(("destroy", n.clone())),
        _ => None,
    };
    let Some((verb, lab)) = watched else {
        return run_job(k, job, events).await;
    };
    let t0 = Instant::now();
    events.emit(&lab, json!({"event": verb, "phase": "started"}));
    let res = run_job(k, job, events).await;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    events.emit(
        &lab,
        match &res {
            Ok(r) => json!({"event": verb, "phase": "finished", "ms": ms,
                "changes": r.changes(), "exit_code": r.exit_code()}),
            Err(e) => {
                let mut causes = vec![];
                let mut src = std::error::Error::source(e);
                while let Some(c) = src {
                    causes.push(c.to_string());
                    src = c.source();
                }
                json!({"event": verb, "phase": "failed", "ms": ms,
                    "error": {"error": e.to_string(), "causes": causes}})
            }
        },
    );
    res
}

async fn run_job<S: Effects>(
    k: &S,
    job: TopoJob,
    events: &Events,
) -> Result<TopoReport, TopoError> {
    let t0 = Instant::now();
    let ms = move || t0.elapsed().as_secs_f64() * 1000.0;
    let TopoJob {
        cmd,
        topology,
        file,
    } = job;
    let topo = match (&cmd, topology) {
        (TopoCmd::Destroy(name, _), None) => registered_topology(name),
        (_, t) => t,
    };
    // a lab over machines, run from here: fan out to the machines' agents
    if let Some(t) = topo
        .as_ref()
        .filter(|t| !t.desired.machines.is_empty() && t.desired.owner.machine().is_none())
        && !matches!(cmd, TopoCmd::Check(_, Some(_)) | TopoCmd::Gc(_))
    {
        return spread::run(k, cmd, t, &file, ms, events).await;
    }
    let lab_report = |r: LabReport| Ok(TopoReport::Lab(Box::new(r)));
    match cmd {
        TopoCmd::Plan => {
            let t = topo.expect("loaded");
            let (_, p) = lab::plan_for(k, &t.desired).await?;
            lab_report(LabReport::new(Verb::Plan, Some(t.name.clone()), p, ms()))
        }
        TopoCmd::Apply(then_check, adopt) => {
            let t = topo.expect("loaded");
            lab_report(apply(k, &t, &file, then_check, adopt, ms, events).await?)
        }
        TopoCmd::Status => lab_report(status(k, &topo.expect("loaded"), file, ms).await?),
        TopoCmd::Check(c, machine) => {
            let t = topo.expect("loaded");
            let from = machine.map(|m| {
                t.desired
                    .placement
                    .iter()
                    .filter(|(_, x)| **x == m)
                    .map(|(h, _)| h.clone())
                    .collect()
            });
            let r = check::here(k, &t, c, from.as_ref(), ms).await?;
            Ok(TopoReport::Check(CheckReport::Here(r)))
        }
        TopoCmd::Destroy(name, _) => {
            // by name (no file): a name that is neither applied nor owns
            // anything is a typo, said as such
            // (an agent's destroy of its part stays quiet: its coordinator
            // asks every machine, whatever each has)
            let known =
                !file.is_empty() || name.machine().is_some() || lab::registered().contains(&name);
            let p = lab::destroy(k, &name).await?;
            if p.is_empty() && !known {
                let applied = lab::registered().iter().map(|o| o.to_string()).collect();
                return Err(TopoError::NoLab { name, applied });
            }
            lab_report(LabReport::new(Verb::Destroy, Some(name), p, ms()))
        }
        TopoCmd::Gc(dry_run) => {
            let (dead, p) = lab::gc(k, dry_run).await?;
            let mut r = LabReport::new(Verb::Gc, None, p, ms());
            r.removed_owners = Some(dead);
            r.dry_run = Some(dry_run);
            lab_report(r)
        }
    }
}

/// `apply` here: adopt first if asked, apply, wait for an agent's OVN
/// ports, check if asked.
async fn apply<S: Effects>(
    k: &S,
    t: &Topology,
    file: &str,
    then_check: Option<Probing>,
    adopt: bool,
    ms: impl Fn() -> f64,
    events: &Events,
) -> Result<LabReport, TopoError> {
    let tty = std::io::stderr().is_terminal();
    let owner = t.desired.owner.clone();
    let mut said = 0;
    let mut progress = |done: usize, total: usize| {
        // at most ~20 progress events an apply
        if done == total || done >= said + total.div_ceil(20) {
            said = done;
            let ev = json!({"event": "apply", "phase": "progress", "done": done, "total": total});
            events.emit(&owner, ev);
        }
        if tty && total >= 20 {
            eprint!("\rswctl: applying {}: {done}/{total} steps", t.name);
            if done >= total {
                eprintln!();
            }
        }
    };
    let adopted = if adopt {
        Some(lab::export::adopt(k, &t.desired).await?)
    } else {
        None
    };
    let p = lab::apply_topology(k, &t.desired, file, &mut progress).await?;
    // an agent's OVN ports: bound and installed before it returns
    if t.desired.owner.machine().is_some() && lab::machines::needs_chassis(&t.desired) {
        let limit = std::time::Duration::from_secs(20);
        lab::ovn::await_installed(k, &t.desired, limit)
            .await
            .map_err(|ports| TopoError::NotInstalled {
                ports,
                secs: limit.as_secs(),
            })?;
    }
    let mut r = LabReport::new(Verb::Apply, Some(t.name.clone()), p, ms());
    r.adopted = adopted;
    if let Some(c) = then_check {
        r.check = Some(CheckReport::Here(check::here(k, t, c, None, &ms).await?));
    }
    Ok(r)
}

/// `status` here: the drift, read off the plan that would repair it.
async fn status<S: Effects>(
    k: &S,
    t: &Topology,
    file: String,
    ms: impl Fn() -> f64,
) -> Result<LabReport, TopoError> {
    // a simulated machine's own Open vSwitch, not running: its rows
    // still say all is there (and its internal ports' taps linger),
    // or, its ovsdb-server gone, nothing can be planned: either way
    // the daemons are the drift
    let down = if lab::machines::needs_sandbox(&t.desired) {
        let dir = crate::effect::paths::machine_sandbox(crate::effect::paths::run_dir());
        crate::effect::ovs::sandbox::not_running_here(&dir)
    } else {
        vec![]
    };
    let (o, p) = match lab::plan_for(k, &t.desired).await {
        Ok((o, p)) => (Some(o), p),
        Err(_) if !down.is_empty() => (None, crate::plan::Plan::default()),
        Err(e) => return Err(e.into()),
    };
    let mut d = lab::drift::drift(&p);
    for daemon in down {
        d.in_sync = false;
        d.push(
            "missing",
            format!("{daemon} of this machine (not running)"),
            vec![],
        );
    }
    d.about(&lab::graph::Graph::of(&t.desired).names());
    let foreign_qdiscs = o
        .as_ref()
        .map(|o| foreign_qdiscs(o, &t.name, &p))
        .unwrap_or_default();
    let mut r = LabReport::new(Verb::Status, Some(t.name.clone()), p, ms());
    r.foreign_qdiscs = foreign_qdiscs;
    r.in_sync = Some(d.in_sync);
    r.drift = Some(d);
    r.file = file;
    if let Some(o) = &o {
        r.foreign_flows = foreign_flows(o, &t.desired);
        r.controllers = t
            .desired
            .switches
            .keys()
            .filter_map(|n| {
                let b = o.ovs.as_ref()?.bridge(n.as_str())?;
                (!b.controllers.is_empty()).then(|| (n.to_string(), b.controllers.clone()))
            })
            .collect();
    }
    Ok(r)
}

/// The flows on the lab's OVS switches whose cookie is not swctl's (a
/// controller's, added by hand), as text, by switch.
fn foreign_flows(
    o: &crate::model::Observed,
    d: &crate::model::Desired,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    let Some(st) = &o.ovs else { return out };
    for name in d.switches.keys() {
        let Some(b) = st.bridge(name.as_str()) else {
            continue;
        };
        let ports = crate::plan::flows::Ports::of(b);
        let theirs: Vec<String> = b
            .flows
            .iter()
            .flatten()
            .filter(|f| !crate::model::openflow::is_swctl(f.flow.cookie))
            // the bridge's own: priority 0, all packets, NORMAL
            .filter(|f| !(f.flow.cookie == 0 && f.flow.priority == 0 && f.flow.matches.is_empty()))
            .map(|f| crate::openflow::text::flow_text(&f.flow, &|n| ports.name(n)))
            .collect();
        if !theirs.is_empty() {
            out.insert(name.to_string(), theirs);
        }
    }
    out
}

/// Qdiscs not swctl's on devices the lab made, where the plan does not
/// replace them (the file impairs nothing there): "dev (loc)" → "tbf 2:".
fn foreign_qdiscs(
    o: &crate::model::Observed,
    lab: &Owner,
    p: &crate::plan::Plan,
) -> std::collections::BTreeMap<String, String> {
    let replaced = |loc: &crate::model::names::Loc, dev: &str| {
        p.steps.iter().any(|s| {
            matches!(s, crate::plan::Step::SetQdisc { loc: l, dev: d, .. } if l == loc && d == dev)
        })
    };
    let mut out = std::collections::BTreeMap::new();
    for (loc, st) in o.locs() {
        for l in &st.links {
            let ours = l
                .mark
                .as_ref()
                .is_some_and(|m| m.owner().lab() == lab.lab());
            if let Some(q) = l.qdisc.as_ref().filter(|q| !q.is_swctl())
                && ours
                && !replaced(&loc, &l.name)
            {
                out.insert(format!("{} ({loc})", l.name), q.label());
            }
        }
    }
    out
}

/// The topology a lab was applied from, when its file is still readable
/// (how `destroy --name` finds a lab's machines).
fn registered_topology(name: &Owner) -> Option<Box<Topology>> {
    let file = lab::registered_file(name)?;
    lab::topology::load(std::path::Path::new(&file))
        .ok()
        .map(Box::new)
}
