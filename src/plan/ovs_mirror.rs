//! An OVS switch's port mirrors in the planner: the switch option
//! `mirrors` (`model::mirror`), each made a Mirror row of the bridge
//! marked with the lab (`external_ids:swctl-owner`), its ports those of
//! the hosts it names (found when the transaction is built:
//! `effect::ovs::batch`). Planned after the ports, so that a host's port
//! made again in the same apply is mirrored again at once (a Mirror refers
//! to its ports weakly: a port deleted leaves the mirror without it).
//! Changed or deleted by hand: drift, put back; dropped from the file:
//! removed; a mirror of the name that is not swctl's: refused.

use serde_json::Value;

use super::switch::SwitchOption;
use super::{Cx, PlanError, Step};
use crate::model::mirror::{MirrorSpec, Select};
use crate::model::names::{IfName, InvalidInput, NsName};
use crate::model::ovs::{HostPort, OvsChange, OvsMirror};
use crate::model::{Backend, SwitchSpec};

/// `mirrors = [{ select = ["h1"], output = "h3" }, ...]`
pub(super) const MIRRORS: SwitchOption = SwitchOption {
    key: "mirrors",
    check: |v| {
        MirrorSpec::list_from_json(v)
            .map(|l| Value::from(l.iter().map(MirrorSpec::to_json).collect::<Vec<_>>()))
            .map_err(InvalidInput::Mirror)
    },
    get: |s| {
        (!s.mirrors.is_empty()).then(|| {
            Value::from(
                s.mirrors
                    .iter()
                    .map(MirrorSpec::to_json)
                    .collect::<Vec<_>>(),
            )
        })
    },
    set: |s, v| s.mirrors = MirrorSpec::list_from_json(&v).unwrap_or_default(),
};

/// The mirrors of switch `name` made what the file says (a bridge swctl
/// does not own here is left alone).
pub(super) fn plan(cx: &mut Cx, name: &IfName, spec: &SwitchSpec) -> Result<(), PlanError> {
    let bad = |why: String| PlanError::BadSwitch {
        switch: name.clone(),
        backend: Backend::Ovs,
        why,
    };
    let mirrors = MirrorSpec::named(spec.mirrors.clone(), name.as_str());
    for (i, m) in mirrors.iter().enumerate() {
        if mirrors[..i].iter().any(|x| x.name == m.name) {
            return Err(bad(format!("two mirrors are named {}", m.name)));
        }
        if let Some(h) = m
            .hosts()
            .into_iter()
            .find(|h| !cx.d.ports.iter().any(|p| &p.ns == *h && &p.switch == name))
        {
            return Err(bad(format!(
                "mirror {}: {h} has no port on {name} in the file",
                m.name
            )));
        }
    }
    let st = super::ovs_rows::state(cx, name)?;
    let b = st.bridge(name.as_str());
    if let Some(b) = b
        && super::ovs_rows::changeable(cx, name, b).is_none()
    {
        return Ok(());
    }
    let db = super::ovs_rows::db_of(cx, st, name);
    let owner = cx.d.owner.clone();
    let port_name =
        |ns: &NsName| super::ovs_rows::ovs_port_of(st, name, ns, name).map(|p| p.name.clone());
    // a host's port this plan makes (again): the mirror is set again with it
    let made = |cx: &Cx, ns: &NsName| {
        cx.steps.iter().any(|s| {
            matches!(s, Step::Ovs(OvsChange::AddPort { bridge, mark, .. })
                if bridge == name.as_str() && mark.port_ids().0 == ns.as_str())
        })
    };
    for m in &mirrors {
        let have = b.and_then(|b| b.mirrors.iter().find(|x| x.name == m.name));
        if let Some(h) = have
            && h.owner().as_ref() != Some(&owner)
        {
            return Err(bad(format!(
                "a mirror named {} is on {name} and is not this lab's (`ovs-vsctl list Mirror`): name this one otherwise",
                m.name
            )));
        }
        let host_port = |ns: &NsName| HostPort {
            ns: ns.clone(),
            name: port_name(ns),
        };
        let select: Option<Vec<HostPort>> = match &m.select {
            Select::All => None,
            Select::Hosts(h) => Some(h.iter().map(host_port).collect()),
        };
        let output = host_port(&m.output);
        let renewed = m.hosts().into_iter().any(|h| made(cx, h));
        let same = have.is_some_and(|h| right(h, m, &select, &output));
        if same && !renewed {
            continue;
        }
        let was = have.map(|h| if same { String::new() } else { h.words() });
        cx.steps.push(Step::Ovs(OvsChange::SetMirror {
            db: db.clone(),
            bridge: name.to_string(),
            name: m.name.clone(),
            uuid: have.map(|h| h.uuid.clone()),
            owner: owner.clone(),
            select,
            vlans: m.vlans.clone(),
            output,
            was,
        }));
    }
    // the lab's mirrors the file no longer has
    for x in b.map(|b| b.mirrors.as_slice()).unwrap_or_default() {
        if x.owner().as_ref() == Some(&owner) && !mirrors.iter().any(|m| m.name == x.name) {
            cx.steps.push(Step::Ovs(OvsChange::DelMirror {
                db: db.clone(),
                bridge: name.to_string(),
                name: x.name.clone(),
                uuid: x.uuid.clone(),
            }));
        }
    }
    Ok(())
}

/// Whether Mirror row `h` copies what `m` asks, its ports those that exist.
fn right(h: &OvsMirror, m: &MirrorSpec, select: &Option<Vec<HostPort>>, output: &HostPort) -> bool {
    let ports = match select {
        None => Some(vec![]),
        Some(ps) => ps
            .iter()
            .map(|p| p.name.clone())
            .collect::<Option<Vec<String>>>()
            .map(|mut v| {
                v.sort();
                v
            }),
    };
    let Some(ports) = ports else {
        return false;
    };
    h.select_all == select.is_none()
        && h.src == ports
        && h.dst == ports
        && h.vlans == m.vlans
        && output.name.is_some()
        && h.output == output.name
}
