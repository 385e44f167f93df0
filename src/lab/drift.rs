//! `swctl status`: the drift between a topology and the system, read off
//! the plan that would repair it (what is missing, what differs, what
//! leaked).

use serde::Serialize;

use crate::plan::Plan;
use crate::plan::Step;
use crate::plan::step::Meaning;

/// Drift between a topology and the system.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drift {
    pub in_sync: bool,
    /// what the file has and the system lacks
    pub missing: Vec<String>,
    /// what exists but differs (addresses, routes, state, wiring), in words
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
    // what is inside a namespace the plan makes comes with it: listed once,
    // as the missing namespace
    let made: Vec<&crate::model::names::NsName> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateNs { ns, .. } => Some(ns),
            _ => None,
        })
        .collect();
    // and what a device the plan makes needs comes with it (the socket
    // buffer of a port made again)
    let new_devs: Vec<&str> = p
        .steps
        .iter()
        .flat_map(|s| match s {
            Step::CreateVeth { name, peer, .. } => vec![name.as_str(), peer.as_str()],
            _ => vec![],
        })
        .collect();
    for s in &p.steps {
        let text = s.to_string();
        if let Step::OvsRxBuffer { dev } = s
            && new_devs.contains(&dev.as_str())
        {
            d.steps.push(text);
            continue;
        }
        match s.meaning() {
            Meaning::Creates(what) => d.missing.push(what),
            Meaning::Removes(what) => d.leaked.push(what),
            Meaning::Changes(Some(what)) if !s.namespaces().iter().any(|n| made.contains(n)) => {
                d.differs.push(what)
            }
            Meaning::Changes(_) | Meaning::Waits => {}
        }
        d.steps.push(text);
    }
    d
}
