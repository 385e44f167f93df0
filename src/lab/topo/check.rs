//! `check` and `apply --check`: the lab probed with real packets (the
//! probes planned by `lab::check`, or for a lab over machines by every
//! machine's agent), answered as a report.

use std::collections::BTreeSet;

use super::report::{Probed, ProbedOnMachines};
use super::{Probing, TopoError};
use crate::effect::Netlink;
use crate::lab;
use crate::lab::topology::Topology;
use crate::model::names::NsName;

/// Probe the lab from here: from every host, or from `from` only (an
/// agent's hosts).
pub(super) async fn here<S: Netlink>(
    k: &S,
    t: &Topology,
    c: Probing,
    from: Option<&BTreeSet<NsName>>,
    ms: impl Fn() -> f64,
) -> Result<Probed, TopoError> {
    let mut limit = lab::check::neighbour_limit();
    let mut plan = lab::check::plan_check(&t.desired, c.full, limit);
    if let Some(hosts) = from {
        // the kernel's neighbour table is one for the whole box: the agents
        // of the machines simulated here (probing at once) share it
        // (seen: 20 machines' agents, each within its own budget,
        // overflowed it together — "neighbor table overflow!" — and lost
        // 60-80 % of their probes)
        limit /= lab::machines::sharing_this_box(&t.desired).max(1);
        plan = plan.only_from(hosts, limit);
    }
    let res = lab::check::run(k, &plan, std::time::Duration::from_secs_f64(c.timeout))
        .await
        .map_err(|e| TopoError::Observe(e.into()))?;
    Ok(Probed::new(t.name.clone(), plan, res, ms()))
}

/// `check` of a lab over machines: the agents' pairs, merged.
pub(super) async fn machines(
    t: &Topology,
    c: Probing,
    ms: impl Fn() -> f64,
) -> Result<ProbedOnMachines, TopoError> {
    let (pairs, failed, runs) = lab::spread::check(&t.desired, c.timeout, c.full).await?;
    Ok(ProbedOnMachines {
        command: "check",
        topology: t.name.clone(),
        pairs,
        failed,
        machines: runs,
        elapsed_ms: ms(),
    })
}
