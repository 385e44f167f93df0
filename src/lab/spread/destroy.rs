//! `destroy` of a lab over machines: every machine's part by its agent,
//! the Northbound rows, the simulated machines' own daemons, the underlay
//! here; what could not be reached is listed with what may remain there,
//! and the lab stays recorded unless the user lets it go (`--forget`).

use serde::Serialize;

use super::{AgentRun, agent_run_dir, agents, destroy_here, northbound, register, stop_sandbox};
use crate::effect::Effects;
use crate::lab::LabError;
use crate::model::names::Owner;
use crate::model::{Desired, Reach};
use crate::plan::Plan;

/// Remove a lab over machines: every machine's part, then the underlay and
/// the simulated machines here.
pub async fn destroy<S: Effects>(
    sys: &S,
    d: &Desired,
    forget: bool,
) -> Result<Destroyed, LabError> {
    let file = crate::lab::registered_file(&d.owner);
    let mut runs = agents(
        d,
        |_| true,
        |m| {
            vec![
                "destroy".into(),
                "--name".into(),
                d.owner.for_machine(m).to_string(),
            ]
        },
        None,
    )
    .await;
    // the lab's Northbound rows (no machine binds to them any more), even
    // when a machine could not be reached: every part that answers goes
    runs.extend(northbound(sys, d, "destroy").await);
    // the simulated machines' own Open vSwitch, before their namespaces go
    // (a daemon inside keeps a deleted namespace alive)
    for m in d.machines.keys() {
        stop_sandbox(&agent_run_dir(&d.owner, m)).await?;
    }
    let local = destroy_here(sys, &d.owner).await?;
    for m in d.machines.keys() {
        let _ = std::fs::remove_dir_all(agent_run_dir(&d.owner, m));
    }
    let unreached: Vec<Unreached> = runs
        .iter()
        .filter(|r| !r.ok)
        .map(|r| Unreached {
            part: r.machine.clone(),
            error: r.error.clone().unwrap_or_default(),
            may_remain: may_remain(d, &r.machine),
        })
        .collect();
    // a part not reached keeps the lab recorded (a later destroy --name
    // finds it), unless the user lets it go
    if !unreached.is_empty()
        && !forget
        && let Some(f) = file
    {
        register(&d.owner, &f).map_err(LabError::Register)?;
    }
    Ok(Destroyed {
        local,
        runs,
        unreached,
        forgotten: forget,
    })
}

/// What a destroy of a lab over machines did: here, on each part, and what
/// it could not reach.
pub struct Destroyed {
    pub local: Plan,
    pub runs: Vec<AgentRun>,
    pub unreached: Vec<Unreached>,
    /// the record of the unreached parts was dropped (`--forget`)
    pub forgotten: bool,
}

/// A part of a lab a destroy could not reach: which, why, and what of the
/// lab may remain there.
#[derive(Debug, Clone, Serialize)]
pub struct Unreached {
    pub part: Owner,
    pub error: String,
    pub may_remain: String,
}

/// What of lab `d` may remain on `part` (a machine, or "ovn": the
/// Northbound database) when it could not be reached.
fn may_remain(d: &Desired, part: &Owner) -> String {
    if let Some(m) = d.machines.get(part) {
        let at = match &m.reach {
            Reach::Local => "this machine".to_string(),
            Reach::Ssh(h) => format!("{h} (over SSH)"),
            Reach::Netns(n) => format!("the simulated machine {n}"),
        };
        return format!(
            "on {at}: namespaces, links and switches owned by {} (`swctl gc` there removes them)",
            d.owner.for_machine(part)
        );
    }
    match &d.ovn {
        Some(ovn) => format!(
            "in the Northbound database at {nb}: the logical switches, ports and routers with external_ids:{k}={o} (`ovn-nbctl --db={nb} find Logical_Switch external_ids:{k}={o}` lists them once it answers)",
            nb = ovn.nb,
            k = crate::model::ovs::K_OWNER,
            o = d.owner
        ),
        None => String::new(),
    }
}
