//! Whole topologies on the system: apply, destroy, status (drift) and gc,
//! all as plans from the same planner. Applied topologies are recorded in
//! /run/swctl/topologies/NAME (written before the first change, removed
//! after a complete destroy), which is how `gc` tells a live topology from
//! the leftovers of one that is gone.

pub mod capture;
pub mod change;
pub mod check;
pub mod drift;
pub mod events;
pub mod expect;
pub mod export;
pub mod flows;
pub mod graph;
pub mod graph_svg;
pub mod impair;
pub mod logs;
pub mod machines;
pub mod ovn;
pub mod probes;
pub mod reach;
pub mod request;
pub mod show;
pub mod spread;
pub mod topo;
pub mod topology;
pub mod underlay;
pub mod watch;
pub mod watch_flows;

use std::collections::BTreeSet;

use crate::effect::apply::{ApplyError, apply_with};
use crate::effect::observe::{Scan, observe, prune_run_state};
use crate::effect::paths::topology_dir;
use crate::effect::{Effects, StepError};
use crate::model::names::Owner;
use crate::model::{Desired, Observed};
use crate::plan::switch::all_switches;
use crate::plan::{Plan, PlanError, Scope, Step, plan};

/// Record that topology `name` is applied (from `file`), by the file's
/// absolute path: `destroy --name`, `labs`, `graph --name` and the API's
/// server read it from other working directories (seen: a lab applied as
/// `swctl apply lab.toml` could not be watched by the server).
pub fn register(name: &Owner, file: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(topology_dir())?;
    let path = std::path::Path::new(file);
    let file = match std::path::absolute(path) {
        Ok(p) if file != "-" && !path.is_absolute() => p.display().to_string(),
        _ => file.to_string(),
    };
    std::fs::write(topology_dir().join(name.as_str()), format!("{file}\n"))
}

/// The file topology `name` was applied from, while it is applied.
pub fn registered_file(name: &Owner) -> Option<String> {
    let f = std::fs::read_to_string(topology_dir().join(name.as_str())).ok()?;
    Some(f.trim().to_string())
}

pub fn unregister(name: &Owner) {
    let _ = std::fs::remove_file(topology_dir().join(name.as_str()));
}

/// Topologies currently applied.
pub fn registered() -> BTreeSet<Owner> {
    std::fs::read_dir(topology_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// Everything in the observation that belongs to someone.
pub fn owners(o: &Observed) -> BTreeSet<Owner> {
    let mut v = BTreeSet::new();
    for ns in o.namespaces.values() {
        if let Some(ow) = &ns.owner {
            v.insert(ow.clone());
        }
    }
    for (_, st) in o.locs() {
        for l in &st.links {
            if let Some(m) = &l.mark {
                v.insert(m.owner().clone());
            }
        }
    }
    // switches and their ports, on every backend
    for sw in all_switches(o) {
        v.extend(sw.owner.clone());
        v.extend(sw.ports.iter().filter_map(|p| p.owner.clone()));
    }
    v
}

/// Objects the topology wants that exist but belong to someone else: apply
/// refuses to adopt them (a namespace or bridge with the same name made by
/// hand or by another topology is never touched).
pub fn conflicts(d: &Desired, o: &Observed) -> Vec<String> {
    let mut v = Vec::new();
    for ns in d.namespaces.keys() {
        match o.namespaces.get(ns).map(|n| &n.owner) {
            Some(None) => v.push(format!(
                "namespace {ns} exists and was not created by swctl"
            )),
            Some(Some(ow)) if ow != &d.owner => {
                v.push(format!("namespace {ns} belongs to {}", describe_owner(ow)))
            }
            _ => {}
        }
    }
    let switches = all_switches(o);
    // another lab's machine part lives, for that lab, on another machine:
    // its switches are only seen here because the machine is simulated on
    // this box (seen: a local lab's `s1` refused for a switch `s1` inside
    // another lab's simulated machine)
    let elsewhere = |ow: &Owner| ow.machine().is_some() && ow.lab() != d.owner.lab();
    for name in d.switches.keys() {
        for sw in switches
            .iter()
            .filter(|s| s.name == name.as_str() && !s.owner.as_ref().is_some_and(elsewhere))
        {
            let what = format!("switch {name} ({} in {})", sw.backend, sw.loc);
            match &sw.owner {
                Some(ow) if ow == &d.owner => {}
                Some(ow) => v.push(format!("{what} belongs to {}", describe_owner(ow))),
                None => v.push(format!("{what} exists and was not created by swctl")),
            }
        }
    }
    v
}

fn describe_owner(o: &Owner) -> String {
    if o.as_str() == "cli" {
        "swctl's imperative commands (owner cli)".into()
    } else {
        format!("topology {o}")
    }
}

/// What to observe for a topology: its namespaces and everything swctl owns.
pub fn scan_for(d: &Desired) -> Scan {
    Scan {
        namespaces: d.namespaces.keys().cloned().collect(),
        all_owned: true,
        forward: d
            .namespaces
            .iter()
            .filter(|(_, s)| s.forward.is_some())
            .map(|(n, _)| n.clone())
            .collect(),
        switch: None,
        links_only: false,
        machine_part: d.owner.machine().map(|_| d.owner.clone()),
        flows: true,
        qdisc_kinds: d.impaired(),
        host_part: None,
        sysctls: d
            .namespaces
            .iter()
            .filter(|(_, s)| !s.sysctls.is_empty())
            .map(|(n, s)| (n.clone(), s.sysctls.keys().cloned().collect()))
            .collect(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot read the system state")]
    Observe(#[source] StepError),
    #[error("cannot make a plan")]
    Plan(#[from] PlanError),
    #[error("the topology collides with what exists:\n  {}", .0.join("\n  "))]
    Conflicts(Vec<String>),
    #[error("cannot apply the plan")]
    Apply(#[from] ApplyError),
    #[error("cannot record the topology in {}", topology_dir().display())]
    Register(#[source] std::io::Error),
    #[error("a machine's part failed:\n  {}", .0.join("\n  "))]
    Machines(Vec<String>),
    #[error("cannot make the simulated machines' underlay: {0}")]
    Underlay(String),
}

/// The plan that makes the system match `d`.
pub async fn plan_for<S: Effects>(sys: &S, d: &Desired) -> Result<(Observed, Plan), LabError> {
    let o = observe(sys, &scan_for(d))
        .await
        .map_err(LabError::Observe)?;
    let c = conflicts(d, &o);
    if !c.is_empty() {
        return Err(LabError::Conflicts(c));
    }
    let p = plan(d, &o, &Scope::Owner)?;
    Ok((o, p))
}

/// Make the system match `d`; returns the plan that was applied.
pub async fn apply_topology<S: Effects>(
    sys: &S,
    d: &Desired,
    file: &str,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Plan, LabError> {
    let (o, p) = plan_for(sys, d).await?;
    prune_run_state(&o);
    // recorded before the first change: a crash leaves a topology that
    // `destroy --name` and `gc` know about
    register(&d.owner, file).map_err(LabError::Register)?;
    apply_with(sys, &p, false, progress).await?;
    Ok(p)
}

/// Remove everything `name` owns, and nothing else; keep going past
/// failures and report them all.
pub async fn destroy<S: Effects>(sys: &S, name: &Owner) -> Result<Plan, LabError> {
    // a teardown plan reads devices and marks, not addresses or routes
    let scan = Scan {
        all_owned: true,
        links_only: true,
        machine_part: name.machine().map(|_| name.clone()),
        ..Default::default()
    };
    let o = observe(sys, &scan).await.map_err(LabError::Observe)?;
    prune_run_state(&o);
    let p = plan(&Desired::new(name.clone()), &o, &Scope::Owner)?;
    apply_with(sys, &p, true, &mut |_, _| {}).await?;
    unregister(name);
    Ok(p)
}

/// Leftovers of topologies that are not applied any more (after a crash, or
/// a destroy that could not finish), and namespace registry entries whose
/// namespace is gone. Objects of imperative commands (owner `cli`) are the
/// user's and stay.
///
/// With `dry_run` nothing is removed: the owners and the plan say what
/// would be.
pub async fn gc<S: Effects>(sys: &S, dry_run: bool) -> Result<(Vec<Owner>, Plan), LabError> {
    let scan = Scan {
        all_owned: true,
        links_only: true,
        ..Default::default()
    };
    let live = registered();
    let mut gone_parts = vec![];
    // parts of labs over machines that are gone, by their agents first (the
    // machines' namespaces, owned by the lab itself, go below); an agent's
    // own gc (another run-state directory) has no machines of its own
    if crate::effect::paths::run_dir() == std::path::Path::new(crate::effect::paths::RUN_DIR) {
        let (parts, runs) = spread::gc_parts(&live, dry_run).await;
        gone_parts = parts;
        let bad: Vec<String> = runs
            .iter()
            .filter(|r| !r.ok)
            .map(|r| format!("{}: {}", r.machine, r.error.clone().unwrap_or_default()))
            .collect();
        if !bad.is_empty() {
            return Err(LabError::Machines(bad));
        }
    }
    let nb_dead =
        if crate::effect::paths::run_dir() == std::path::Path::new(crate::effect::paths::RUN_DIR) {
            ovn::gc_northbound(sys, &live, dry_run)
                .await
                .map_err(|e| LabError::Machines(vec![format!("ovn: {e}")]))?
        } else {
            vec![]
        };
    let o = observe(sys, &scan).await.map_err(LabError::Observe)?;
    if !dry_run {
        prune_run_state(&o);
    }
    // a machine's part of a lab over machines (LAB+MACHINE) is its agent's
    // to remove, never a leftover here
    let mut dead: Vec<Owner> = owners(&o)
        .into_iter()
        .filter(|ow| ow.as_str() != "cli" && !live.contains(ow) && ow.machine().is_none())
        .collect();
    let mut all = Plan::default();
    for ow in &dead {
        let p = plan(&Desired::new(ow.clone()), &o, &Scope::Owner)?;
        all.steps.extend(p.steps);
    }
    // processes and hosts files of hosts deleted by hand
    let (procs, files) = crate::effect::host::orphans();
    for (ns, name) in procs {
        all.steps
            .push(Step::Host(crate::model::host::HostStep::StopProc {
                ns,
                name,
                why: None,
            }));
    }
    for ns in files {
        all.steps
            .push(Step::Host(crate::model::host::HostStep::DelHosts { ns }));
    }
    all.steps.sort_by_key(Step::phase);
    if !dry_run {
        apply_with(sys, &all, true, &mut |_, _| {}).await?;
    }
    for o in nb_dead.into_iter().chain(gone_parts) {
        if !dead.contains(&o) {
            dead.push(o);
        }
    }
    Ok((dead, all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::names::Loc;
    use crate::model::{Backend, Mark, NsObs, SwitchSpec};

    fn with_bridge_in(ns: &str, owner: &str) -> Observed {
        let mut o = Observed::default();
        let mut st = crate::model::LocObs::default();
        let mark = Mark::Switch {
            owner: owner.parse().unwrap(),
        };
        let mut l = crate::effect::fake::Fake::new().new_link("s1", "bridge", &mark.to_alias());
        l.mark = Some(mark);
        st.links.push(l);
        o.namespaces.insert(
            ns.parse().unwrap(),
            NsObs {
                owner: Some(owner.parse().unwrap()),
                state: st,
                adopted: None,
                host: Default::default(),
            },
        );
        o
    }

    #[test]
    fn another_labs_simulated_machine_is_another_machine() {
        let mut d = Desired::new("mine".parse().unwrap());
        d.switches.insert(
            "s1".parse().unwrap(),
            SwitchSpec {
                backend: Backend::Bridge,
                loc: Loc::Host,
                addrs: vec![],
                ..Default::default()
            },
        );
        // a switch s1 of lab `other` on its simulated machine m1: not ours to mind
        assert!(conflicts(&d, &with_bridge_in("otherm1", "other+m1")).is_empty());
        // a switch s1 of lab `other` on this machine: a collision
        let c = conflicts(&d, &with_bridge_in("otherns", "other"));
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].contains("belongs to topology other"), "{c:?}");
    }
}
