//! An OVS bridge's OpenFlow settings in the planner: the switch options
//! of a topology file (`controller`, `fail_mode`, `protocols`,
//! `datapath_id`, their values as `model::openflow` checks them) and the
//! one change that makes a bridge's settings what the file says when they
//! differ (`OvsChange::SetOpenflow`, a drift in `status`). A new bridge is
//! made with them (`OvsChange::AddBridge`).

use serde_json::Value;

use super::switch::{SwitchOption, as_string, string};
use super::{Cx, PlanError};
use crate::model::SwitchSpec;
use crate::model::names::IfName;
use crate::model::names::InvalidInput;
use crate::model::openflow::{self, FailMode};
use crate::model::ovs::{OvsBridge, OvsChange};
use crate::plan::Step;

/// A string or a list of strings, each checked by `rule`, in their order
/// (`expected`: what the value must be, for the error).
fn each(
    v: &Value,
    expected: &'static str,
    rule: fn(&str) -> Result<String, InvalidInput>,
) -> Result<Vec<String>, InvalidInput> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    items
        .into_iter()
        .map(|x| match x {
            Value::String(s) => rule(s),
            other => Err(InvalidInput::OptionType {
                expected,
                found: other.to_string(),
            }),
        })
        .collect()
}

/// A string or a list of strings, each checked by `rule`; a list back,
/// sorted, each entry once.
fn strings(
    v: &Value,
    rule: fn(&str) -> Result<String, InvalidInput>,
) -> Result<Value, InvalidInput> {
    let mut out = each(v, "a string or a list of strings", rule)?;
    out.sort();
    out.dedup();
    Ok(Value::from(out))
}

fn list(v: Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.into_iter().map(as_string).collect(),
        one => vec![as_string(one)],
    }
}

/// `controller = "tcp:IP:PORT"` or a list of targets.
pub(super) const CONTROLLER: SwitchOption = SwitchOption {
    key: "controller",
    check: |v| strings(v, openflow::controller),
    get: |s| (!s.openflow.controllers.is_empty()).then(|| s.openflow.controllers.clone().into()),
    set: |s, v| s.openflow.controllers = list(v),
};

/// `fail_mode = "standalone" | "secure"`.
pub(super) const FAIL_MODE: SwitchOption = SwitchOption {
    key: "fail_mode",
    check: |v| string(v, |m| m.parse::<FailMode>().map(|m| m.as_str().to_string())),
    get: |s| {
        (s.openflow.fail_mode != FailMode::Standalone).then(|| s.openflow.fail_mode.as_str().into())
    },
    set: |s, v| s.openflow.fail_mode = as_string(v).parse().unwrap_or_default(),
};

/// `protocols = ["OpenFlow13", ..]` (or one).
pub(super) const PROTOCOLS: SwitchOption = SwitchOption {
    key: "protocols",
    check: |v| strings(v, openflow::protocol),
    get: |s| (!s.openflow.protocols.is_empty()).then(|| s.openflow.protocols.clone().into()),
    set: |s, v| s.openflow.protocols = list(v),
};

/// `datapath_id = "0000000000000001"`.
pub(super) const DATAPATH_ID: SwitchOption = SwitchOption {
    key: "datapath_id",
    check: |v| string(v, openflow::datapath_id),
    get: |s| s.openflow.datapath_id.clone().map(Into::into),
    set: |s, v| s.openflow.datapath_id = Some(as_string(v)),
};

/// `flows = ["FLOW", ..]`: each read as ovs-ofctl's syntax before
/// anything changes (its ports are looked up when it is written).
pub(super) const FLOWS: SwitchOption = SwitchOption {
    key: "flows",
    check: |v| {
        let flows = each(v, "a list of flows (strings in ovs-ofctl's syntax)", |t| {
            crate::openflow::text::check(t)
                .map(|_| t.to_string())
                .map_err(|e| InvalidInput::Flow(t.to_string(), e.to_string()))
        })?;
        Ok(Value::from(flows))
    },
    get: |s| (!s.flows.is_empty()).then(|| s.flows.clone().into()),
    set: |s, v| s.flows = list(v),
};

/// A bridge of this plan's (`b`: as observed; None: made by this plan):
/// its OpenFlow settings made what the file says, when they differ, and
/// its flows of this lab's (`plan::flows`). A bridge swctl does not own
/// here is left alone.
pub(super) fn ensure(
    cx: &mut Cx,
    name: &IfName,
    db: &str,
    b: Option<&OvsBridge>,
    spec: &SwitchSpec,
) -> Result<(), PlanError> {
    if let Some(b) = b {
        let Some(owner) = super::ovs_rows::changeable(cx, name, b) else {
            return Ok(());
        };
        if b.openflow != spec.openflow {
            cx.steps.push(Step::Ovs(OvsChange::SetOpenflow {
                db: b.db.clone(),
                bridge: b.name.clone(),
                uuid: b.uuid.clone(),
                owner,
                openflow: spec.openflow.clone(),
                was: b.openflow.clone(),
            }));
        }
    }
    // the hosts this lab attaches to the switch (their ports may be new)
    let later: Vec<String> =
        cx.d.ports
            .iter()
            .filter(|p| &p.switch == name)
            .map(|p| p.ns.to_string())
            .collect();
    let owner = cx.d.owner.clone();
    let batch =
        super::flows::plan(db, name.as_str(), b, &owner, &spec.flows, &later).map_err(|why| {
            PlanError::BadSwitch {
                switch: name.clone(),
                backend: crate::model::Backend::Ovs,
                why,
            }
        })?;
    if let Some(batch) = batch {
        cx.steps.push(Step::Flows(batch));
    }
    Ok(())
}
