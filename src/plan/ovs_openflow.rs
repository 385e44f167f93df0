//! An OVS bridge's OpenFlow settings in the planner: the switch options
//! of a topology file (`controller`, `fail_mode`, `protocols`,
//! `datapath_id`, their values as `model::openflow` checks them) and the
//! one change that makes a bridge's settings what the file says when they
//! differ (`OvsChange::SetOpenflow`, a drift in `status`). A new bridge is
//! made with them (`OvsChange::AddBridge`).

use serde_json::Value;

use super::Cx;
use super::switch::{SwitchOption, as_string, string};
use crate::model::names::InvalidInput;
use crate::model::openflow::{self, FailMode};
use crate::model::ovs::{OvsBridge, OvsChange};
use crate::model::{Key, SwitchSpec};
use crate::plan::Step;

/// A string or a list of strings, each checked by `rule`; a list back,
/// sorted, each entry once.
fn strings(
    v: &Value,
    rule: fn(&str) -> Result<String, InvalidInput>,
) -> Result<Value, InvalidInput> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    let mut out = vec![];
    for x in items {
        match x {
            Value::String(s) => out.push(rule(s)?),
            other => {
                return Err(InvalidInput::OptionType {
                    expected: "a string or a list of strings",
                    found: other.to_string(),
                });
            }
        }
    }
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

/// An existing bridge of this plan's: its OpenFlow settings made what the
/// file says (`ovs-vsctl set-fail-mode`, `set-controller`, ...), when they
/// differ. A bridge swctl does not own here is left alone.
pub(super) fn ensure(cx: &mut Cx, b: &OvsBridge, spec: &SwitchSpec) {
    let Ok(name) = b.name.parse() else { return };
    let key = Key::Switch { name };
    let Some(owner) = b.owner() else { return };
    if !cx.in_scope(&key, &owner) || b.openflow == spec.openflow {
        return;
    }
    cx.steps.push(Step::Ovs(OvsChange::SetOpenflow {
        db: b.db.clone(),
        bridge: b.name.clone(),
        uuid: b.uuid.clone(),
        owner,
        openflow: spec.openflow.clone(),
        was: b.openflow.clone(),
    }));
}
