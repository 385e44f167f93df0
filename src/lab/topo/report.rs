//! What the topology use cases answer: typed reports, serialized as the
//! JSON the CLI's `--json` prints and the API answers with. The shared
//! vocabulary of a command that plans or changes: `{"command", "topology",
//! "changes", "steps", "wiring", "elapsed_ms"}`, each step an object with
//! its data and `"command"` (its ip/ovs-vsctl equivalent).

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lab::check::{CheckPlan, Outcome};
use crate::lab::drift::Drift;
use crate::lab::spread::{AgentRun, Unreached};
use crate::model::names::Owner;
use crate::plan::{Plan, Step};

/// Which topology command made a report (its `"command"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Plan,
    Apply,
    Status,
    Destroy,
    Gc,
}

/// One step as JSON: its data and its `ip`/`ovs-vsctl` text.
pub fn step_json(s: &Step) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_else(|_| serde_json::json!({}));
    v["command"] = serde_json::json!(s.to_string());
    v
}

/// A plan's `"steps"` (each with its `"command"`) and `"wiring"`.
#[derive(Debug, Clone, Default)]
pub struct Planned(pub Plan);

impl Serialize for Planned {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        let steps: Vec<Value> = self.0.steps.iter().map(step_json).collect();
        m.serialize_entry("steps", &steps)?;
        m.serialize_entry("wiring", &self.0.wiring)?;
        m.end()
    }
}

/// Milliseconds to the microsecond (what the JSON shows).
pub fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// What a topology command planned, ran or found (`plan`, `apply`,
/// `status`, `destroy`, `gc`), here and, for a lab over machines, on
/// every machine.
#[derive(Debug, Clone, Serialize)]
pub struct LabReport {
    pub command: Verb,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<Owner>,
    /// the steps run (or that would be): here and on every machine
    pub changes: usize,
    /// this machine's plan (a lab over machines: the underlay)
    #[serde(flatten)]
    pub plan: Planned,
    pub elapsed_ms: f64,
    /// `status`: whether the system matches the file
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_sync: Option<bool>,
    /// `status`: what differs here, in words
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// `apply --adopt`: the marks taken over from imperative commands
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopted: Option<usize>,
    /// a lab over machines: what each machine's agent did
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machines: Option<Vec<AgentRun>>,
    /// `destroy` over machines: the parts it could not reach
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreached: Option<Vec<Unreached>>,
    /// with `unreached`: whether their record was dropped (`--forget`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forgotten: Option<bool>,
    /// `gc`: the labs whose leftovers went (or would)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_owners: Option<Vec<Owner>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// `apply --check`: the probes run after it
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckReport>,
    /// an agent: its machine's Open vSwitch daemons this apply started again
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restarted: Vec<String>,
    /// `status`: flows on the lab's OVS switches that are not the lab's (a
    /// controller's, added by hand): not drift, left alone; by switch
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub foreign_flows: std::collections::BTreeMap<String, Vec<String>>,
    /// `status`: qdiscs not swctl's on the lab's devices where the file
    /// impairs nothing (not drift, left alone), by device ("eth0 (h1)")
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub foreign_qdiscs: std::collections::BTreeMap<String, String>,
    /// `status`: the controllers of the lab's OVS switches, connected or
    /// not (not drift: a controller comes and goes on its own), by switch
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub controllers: std::collections::BTreeMap<String, Vec<crate::model::openflow::Controller>>,
    /// the file the lab came from (for the repair hint), empty by name
    #[serde(skip)]
    pub file: String,
}

impl LabReport {
    /// The report of `plan`, everything else unset.
    pub fn new(command: Verb, topology: Option<Owner>, plan: Plan, ms: f64) -> LabReport {
        LabReport {
            command,
            topology,
            changes: plan.steps.len(),
            plan: Planned(plan),
            elapsed_ms: round_ms(ms),
            in_sync: None,
            drift: None,
            adopted: None,
            machines: None,
            unreached: None,
            forgotten: None,
            removed_owners: None,
            dry_run: None,
            check: None,
            restarted: vec![],
            foreign_flows: Default::default(),
            foreign_qdiscs: Default::default(),
            controllers: Default::default(),
            file: String::new(),
        }
    }

    /// 3: `status` found drift; 1: a destroy left parts it could not
    /// reach and did not forget them, or the check after an apply failed.
    pub fn exit_code(&self) -> i32 {
        if let Some(c) = &self.check {
            return c.exit_code();
        }
        if self.unreached.as_ref().is_some_and(|u| !u.is_empty()) && self.forgotten != Some(true) {
            return 1;
        }
        if self.in_sync == Some(false) { 3 } else { 0 }
    }
}

/// What `check` (or `apply --check`) found.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CheckReport {
    /// probes from this machine's hosts (or all of a lab's)
    Here(Probed),
    /// a lab over machines: each machine's agent probed from its hosts
    Machines(ProbedOnMachines),
}

impl CheckReport {
    /// 1 when a probe failed.
    pub fn exit_code(&self) -> i32 {
        let failed = match self {
            CheckReport::Here(p) => p.failed,
            CheckReport::Machines(p) => p.failed,
        };
        if failed == 0 { 0 } else { 1 }
    }
}

/// The probes run from here, and what cannot work by design.
#[derive(Debug, Clone, Serialize)]
pub struct Probed {
    /// always `"check"`
    pub command: &'static str,
    pub topology: Owner,
    pub pairs: Vec<Outcome>,
    pub failed: usize,
    pub waves: usize,
    pub impossible: Vec<crate::lab::check::Impossible>,
    pub impossible_total: usize,
    pub reduced: Option<String>,
    /// pairs not checked: their way crosses a switch OpenFlow programs
    pub unpromised: usize,
    pub programmed: Vec<String>,
    pub elapsed_ms: f64,
}

impl Probed {
    pub fn new(topology: Owner, plan: CheckPlan, pairs: Vec<Outcome>, ms: f64) -> Probed {
        Probed {
            command: "check",
            topology,
            failed: pairs.iter().filter(|r| !r.ok).count(),
            pairs,
            waves: plan.waves.len(),
            impossible: plan.impossible,
            impossible_total: plan.impossible_total,
            reduced: plan.reduced,
            unpromised: plan.unpromised,
            programmed: plan.programmed,
            elapsed_ms: ms,
        }
    }
}

/// The probes of a lab over machines: every agent's pairs, merged.
#[derive(Debug, Clone, Serialize)]
pub struct ProbedOnMachines {
    /// always `"check"`
    pub command: &'static str,
    pub topology: Owner,
    /// the agents' pairs (their own reports' `pairs`)
    pub pairs: Vec<Value>,
    pub failed: usize,
    pub machines: Vec<AgentRun>,
    pub elapsed_ms: f64,
}

/// Any topology command's report.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum TopoReport {
    Lab(Box<LabReport>),
    Check(CheckReport),
}

impl TopoReport {
    pub fn exit_code(&self) -> i32 {
        match self {
            TopoReport::Lab(r) => r.exit_code(),
            TopoReport::Check(c) => c.exit_code(),
        }
    }

    /// The steps it ran or would run (0 for a check).
    pub fn changes(&self) -> usize {
        match self {
            TopoReport::Lab(r) => r.changes,
            TopoReport::Check(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_report_serializes_to_the_shared_vocabulary() {
        let r = LabReport::new(
            Verb::Plan,
            Some("l1".parse().unwrap()),
            Plan::default(),
            1.23456,
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"command": "plan", "topology": "l1", "changes": 0,
                   "steps": [], "wiring": [], "elapsed_ms": 1.235})
        );
        assert_eq!(r.exit_code(), 0);
        let mut s = r.clone();
        s.in_sync = Some(false);
        assert_eq!(s.exit_code(), 3);
        s.unreached = Some(vec![Unreached {
            part: "m1".parse().unwrap(),
            error: "gone".into(),
            may_remain: "x".into(),
        }]);
        s.forgotten = Some(false);
        assert_eq!(s.exit_code(), 1);
        s.forgotten = Some(true);
        assert_eq!(s.exit_code(), 3);
    }
}
