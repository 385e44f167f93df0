//! `swctl status`: the drift between a topology and the system, read off
//! the plan that would repair it (what is missing, what differs, what
//! leaked).

use serde::Serialize;

use crate::model::Mark;
use crate::model::ovs::OvsChange;
use crate::plan::{Plan, Step};

/// Drift between a topology and the system.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drift {
    pub in_sync: bool,
    /// what the file has and the system lacks
    pub missing: Vec<String>,
    /// what exists but differs (addresses, routes, state, wiring)
    pub differs: Vec<String>,
    /// what the topology owns on the system but the file no longer has
    pub leaked: Vec<String>,
    /// the steps `apply` would run
    pub steps: Vec<String>,
}

pub fn drift(p: &Plan) -> Drift {
    let mut d = Drift {
        in_sync: p.is_empty(),
        ..Default::default()
    };
    for s in &p.steps {
        let text = s.to_string();
        match s {
            Step::CreateNs { ns, .. } => d.missing.push(format!("namespace {ns}")),
            Step::CreateBridge { name, loc, .. } => {
                d.missing.push(format!("switch {name} (bridge in {loc})"))
            }
            Step::Ovs(OvsChange::AddBridge { name, .. }) => {
                d.missing.push(format!("switch {name} (OVS)"))
            }
            Step::CreateVeth { mark, .. } | Step::MoveLink { mark, .. } => {
                d.missing.push(describe_mark(mark))
            }
            Step::Ovs(OvsChange::AddPort { mark, .. }) => {
                d.missing.push(format!("OVS {}", describe_mark(mark)))
            }
            Step::DeleteNs { ns } => d.leaked.push(format!("namespace {ns}")),
            Step::DeleteLink { loc, dev } => d.leaked.push(format!("link {dev} in {loc}")),
            Step::Ovs(OvsChange::DelBridge { name, .. }) => {
                d.leaked.push(format!("OVS bridge {name}"))
            }
            Step::Ovs(OvsChange::DelPort { bridge, port, .. }) => {
                d.leaked.push(format!("OVS port {port} on {bridge}"))
            }
            Step::AwaitGone { .. } => {}
            _ => d.differs.push(text.clone()),
        }
        d.steps.push(text);
    }
    d
}

fn describe_mark(m: &Mark) -> String {
    match m {
        Mark::Port { ns, sw, .. } => format!("port {ns} on {sw}"),
        Mark::Link { a, b, .. } => format!("link {a} <-> {b}"),
        Mark::Switch { .. } => "switch".into(),
    }
}
