//! `plan`, `apply`, `status`, `check`, `destroy` of a lab over machines,
//! run from here: the underlay here and each machine's part by its agent
//! (`lab::spread`), answered as one report.

use super::report::{CheckReport, LabReport, TopoReport, Verb};
use super::{TopoCmd, TopoError, check};
use crate::effect::Effects;
use crate::lab;
use crate::lab::events::Events;
use crate::lab::topology::Topology;

pub(super) async fn run<S: Effects>(
    k: &S,
    cmd: TopoCmd,
    t: &Topology,
    file: &str,
    ms: impl Fn() -> f64,
    events: &Events,
) -> Result<TopoReport, TopoError> {
    use crate::lab::spread;
    if let TopoCmd::Check(c, None) = &cmd {
        let r = check::machines(t, *c, ms).await?;
        return Ok(TopoReport::Check(CheckReport::Machines(r)));
    }
    let mut unreached = None;
    let (verb, (local, runs)) = match &cmd {
        TopoCmd::Apply(..) => (
            Verb::Apply,
            spread::apply(k, &t.desired, file, events).await?,
        ),
        TopoCmd::Status => (Verb::Status, spread::status(k, &t.desired).await?),
        TopoCmd::Destroy(_, forget) => {
            let d = spread::destroy(k, &t.desired, *forget).await?;
            unreached = Some((d.unreached, d.forgotten));
            (Verb::Destroy, (d.local, d.runs))
        }
        _ => (Verb::Plan, spread::plan(k, &t.desired).await?),
    };
    let changes = |v: &serde_json::Value| v["changes"].as_u64().unwrap_or(0) as usize;
    let total = local.steps.len() + runs.iter().map(|r| changes(&r.output)).sum::<usize>();
    let in_sync = local.is_empty() && runs.iter().all(|r| r.output["in_sync"] != false);
    let here = (verb == Verb::Status).then(|| {
        let mut d = lab::drift::drift(&local);
        d.about(&lab::graph::Graph::of(&t.desired).names());
        d
    });
    let mut r = LabReport::new(verb, Some(t.name.clone()), local, ms());
    r.changes = total;
    r.machines = Some(runs);
    r.file = file.to_string();
    if verb == Verb::Status {
        r.in_sync = Some(in_sync);
        r.drift = here;
    }
    if let Some((parts, forgotten)) = unreached.filter(|(p, _)| !p.is_empty()) {
        r.unreached = Some(parts);
        r.forgotten = Some(forgotten);
    }
    if let TopoCmd::Apply(Some(c), _) = &cmd {
        r.check = Some(CheckReport::Machines(check::machines(t, *c, &ms).await?));
    }
    Ok(TopoReport::Lab(Box::new(r)))
}
