//! An OVS switch's end of a trunk: the veth end in the host's namespace
//! made a port of the bridge carrying the trunk's VLANs (`ovs-vsctl
//! add-port BR DEV trunks=10,20 [tag=N vlan_mode=native-untagged]`),
//! marked in external_ids as a trunk port with the switch at the other
//! end; its VLANs set again when changed by hand or in the file; the row
//! made again when the device was (ovs-vswitchd reads a port's device when
//! the row appears). Removed with the trunk (`ovs::remove_ports`).
//!
//! Two bridges of one Open vSwitch are joined by patch ports instead
//! (`patch`): two rows, no device, nothing for the kernel to carry — what
//! ovs-vsctl users do. An impaired trunk keeps its veth pair (a qdisc needs
//! a device), so does one between RSTP bridges (see `patch`).

use super::{Cx, PlanError, Step};
use crate::model::names::{IfName, Loc};
use crate::model::ovs::{K_PEER, OvsChange, OvsPort};
use crate::model::{Backend, Key, Mark, TrunkSpec};

/// What a trunk port's VLAN columns should read.
pub(super) fn right(p: &OvsPort, t: &TrunkSpec) -> bool {
    let mut have = p.trunks.clone();
    have.sort();
    let want: Vec<i64> = t.vlans.iter().map(|&v| v as i64).collect();
    let mode = if t.native.is_some() {
        "native-untagged"
    } else {
        "trunk"
    };
    have == want
        && p.tag == t.native.map(i64::from)
        && p.vlan_mode.as_deref().unwrap_or("trunk") == mode
}

/// The steps that make `dev` (in the host's namespace: an OVS bridge is
/// there) switch `sw`'s end of trunk `t`.
pub(super) fn plan_end(
    cx: &mut Cx,
    sw: &IfName,
    dev: &str,
    t: &TrunkSpec,
) -> Result<(), PlanError> {
    let st = super::ovs_rows::state(cx, sw)?;
    let peer = if &t.a == sw { &t.b } else { &t.a };
    let bridge = st.bridge(sw.as_str());
    let db = match bridge {
        Some(b) => b.db.clone(),
        None => super::ovs_rows::db_of(cx, st, sw),
    };
    let row = bridge.and_then(|b| b.ports.iter().find(|p| p.name == dev));
    let device = cx.o.loc(&Loc::Host).and_then(|s| s.link(dev)).is_some();
    // a port of another shape (a bond's, a patch port) is made again
    let single = |p: &OvsPort| p.ifaces.len() == 1 && p.ifaces[0].name == dev;
    match row {
        Some(p) if device && single(p) => {
            if !right(p, t) {
                cx.steps.push(Step::Ovs(OvsChange::SetTrunk {
                    db,
                    port: p.name.clone(),
                    uuid: p.uuid.clone(),
                    vlans: t.vlans.clone(),
                    native: t.native,
                }));
            }
            let wanted = super::ovs_rows::rx_buffer_wanted(cx, sw);
            super::ovs_rows::rx_buffer(cx, wanted, dev, false);
            return Ok(());
        }
        Some(p) => cx.steps.push(Step::Ovs(OvsChange::DelPort {
            db: db.clone(),
            bridge: sw.to_string(),
            port: p.name.clone(),
            uuid: p.uuid.clone(),
        })),
        None => {}
    }
    cx.steps.push(Step::Ovs(OvsChange::AddTrunk {
        db,
        bridge: sw.to_string(),
        port: dev.to_string(),
        peer: peer.to_string(),
        owner: cx.d.owner.clone(),
        vlans: t.vlans.clone(),
        native: t.native,
    }));
    let wanted = super::ovs_rows::rx_buffer_wanted(cx, sw);
    super::ovs_rows::rx_buffer(cx, wanted, dev, true);
    Ok(())
}

/// Whether trunk port `p` of bridge `sw` (its external_ids name the other
/// switch) is one of the lab's trunks.
pub(super) fn wanted(cx: &Cx, sw: &IfName, p: &OvsPort) -> bool {
    let Some(peer) = p.external_ids.get(K_PEER) else {
        return false;
    };
    cx.d.trunks
        .iter()
        .any(|t| (t.a == *sw && t.b.as_str() == peer) || (t.b == *sw && t.a.as_str() == peer))
}

/// Trunk `t` as patch ports when both its switches are OVS bridges of one
/// server and it is not impaired: planned here (true), else false (a veth
/// pair, `Cx::trunks`).
pub(super) fn patch(cx: &mut Cx, t: &TrunkSpec) -> Result<bool, PlanError> {
    let ovs = |sw: &IfName| {
        cx.d.switches
            .get(sw)
            .is_some_and(|s| s.backend == Backend::Ovs)
    };
    if !(ovs(&t.a) && ovs(&t.b)) || t.end.impair.is_some_and(|i| !i.is_empty()) {
        return Ok(false);
    }
    // RSTP on patch ports kills ovs-vswitchd 3.1 (userspace datapath,
    // here: the process gone the moment `add-port .. type=patch` joins two
    // rstp_enable bridges; STP on patch ports and RSTP on veth ports live)
    let rstp = |sw: &IfName| {
        cx.d.switches
            .get(sw)
            .and_then(|s| s.spanning)
            .is_some_and(|s| s.rstp)
    };
    if rstp(&t.a) || rstp(&t.b) {
        return Ok(false);
    }
    let st = super::ovs_rows::state(cx, &t.a)?;
    let db = super::ovs_rows::db_of(cx, st, &t.a);
    if db != super::ovs_rows::db_of(cx, st, &t.b) {
        return Ok(false);
    }
    let (na, nb) = t.end_names();
    // the veth pair of this trunk from before goes
    let key = t.key();
    let old: Vec<String> =
        cx.o.loc(&Loc::Host)
            .map(|s| {
                s.marked(
                |m| matches!(m, Mark::Trunk { a, b, member: None, .. } if Key::trunk(a, b) == key),
            )
            .map(|l| l.name.clone())
            .collect()
            })
            .unwrap_or_default();
    if let Some(n) = old.first() {
        cx.delete_link(&Loc::Host, n);
    }
    let row = |sw: &IfName, name: &IfName| {
        st.bridge(sw.as_str())
            .and_then(|b| b.ports.iter().find(|p| p.name == name.as_str()))
    };
    let patched = |p: &OvsPort, peer: &IfName| {
        p.ifaces.first().is_some_and(|i| {
            i.kind == "patch" && i.options.get("peer").map(String::as_str) == Some(peer.as_str())
        })
    };
    match (row(&t.a, &na), row(&t.b, &nb)) {
        (Some(pa), Some(pb)) if patched(pa, &nb) && patched(pb, &na) => {
            for p in [pa, pb] {
                if !right(p, t) {
                    cx.steps.push(Step::Ovs(OvsChange::SetTrunk {
                        db: db.clone(),
                        port: p.name.clone(),
                        uuid: p.uuid.clone(),
                        vlans: t.vlans.clone(),
                        native: t.native,
                    }));
                }
            }
        }
        (ra, rb) => {
            for (sw, r) in [(&t.a, ra), (&t.b, rb)] {
                if let Some(p) = r {
                    cx.steps.push(Step::Ovs(OvsChange::DelPort {
                        db: db.clone(),
                        bridge: sw.to_string(),
                        port: p.name.clone(),
                        uuid: p.uuid.clone(),
                    }));
                }
            }
            cx.steps.push(Step::Ovs(OvsChange::AddPatch {
                db,
                a_bridge: t.a.to_string(),
                a_port: na.to_string(),
                b_bridge: t.b.to_string(),
                b_port: nb.to_string(),
                owner: cx.d.owner.clone(),
                vlans: t.vlans.clone(),
                native: t.native,
            }));
        }
    }
    Ok(true)
}
