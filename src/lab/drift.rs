//! `swctl status`: the drift between a topology and the system, read off
//! the plan that would repair it (what is missing, what differs, what
//! leaked).

use serde::Serialize;

use crate::plan::Plan;
use crate::plan::step::Meaning;

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
        match s.meaning() {
            Meaning::Creates(what) => d.missing.push(what),
            Meaning::Removes(what) => d.leaked.push(what),
            Meaning::Changes => d.differs.push(text.clone()),
            Meaning::Waits => {}
        }
        d.steps.push(text);
    }
    d
}
