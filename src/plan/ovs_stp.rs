//! Spanning tree on an OVS bridge: the switch options `stp = true` (802.1D)
//! and `rstp = true` (802.1w, converging in about a second instead of 30),
//! the bridge's `stp_enable`/`rstp_enable` made what the file says (drift in
//! words when changed by hand). What needs one — a loop of trunks — is the
//! topology validator's to find (`lab::topology::loops`).

use serde_json::Value;

use super::switch::SwitchOption;
use super::{Cx, PlanError, Step};
use crate::model::names::{IfName, InvalidInput};
use crate::model::ovs::{OvsBridge, OvsChange};
use crate::model::{Backend, SwitchSpec};

fn boolean(v: &Value) -> Result<Value, InvalidInput> {
    match v {
        Value::Bool(_) => Ok(v.clone()),
        other => Err(InvalidInput::OptionType {
            expected: "true or false",
            found: other.to_string(),
        }),
    }
}

/// `stp = true`
pub(super) const STP: SwitchOption = SwitchOption {
    key: "stp",
    check: boolean,
    get: |s| s.spanning.filter(|x| x.stp).map(|_| Value::Bool(true)),
    set: |s, v| s.spanning.get_or_insert_default().stp = v.as_bool() == Some(true),
};

/// `rstp = true`
pub(super) const RSTP: SwitchOption = SwitchOption {
    key: "rstp",
    check: boolean,
    get: |s| s.spanning.filter(|x| x.rstp).map(|_| Value::Bool(true)),
    set: |s, v| s.spanning.get_or_insert_default().rstp = v.as_bool() == Some(true),
};

/// `ovs-vsctl set Bridge BR stp_enable=.. rstp_enable=..` when bridge `b`
/// (None: made by this plan, without either) runs other than the file
/// says; a bridge swctl does not own here is left alone.
pub(super) fn ensure(
    cx: &mut Cx,
    name: &IfName,
    db: &str,
    b: Option<&OvsBridge>,
    spec: &SwitchSpec,
) -> Result<(), PlanError> {
    let Some(want) = spec.spanning else {
        return Ok(());
    };
    if want.stp && want.rstp {
        return Err(PlanError::BadSwitch {
            switch: name.clone(),
            backend: Backend::Ovs,
            why: "stp and rstp both: give one (rstp converges in about a second, stp in 30)".into(),
        });
    }
    let was = match b {
        Some(b) => {
            if super::ovs_rows::changeable(cx, name, b).is_none() {
                return Ok(());
            }
            b.spanning
        }
        None => Default::default(),
    };
    if was != want {
        cx.steps.push(Step::Ovs(OvsChange::SetSpanning {
            db: db.to_string(),
            bridge: name.to_string(),
            spanning: want,
            was,
        }));
    }
    Ok(())
}
