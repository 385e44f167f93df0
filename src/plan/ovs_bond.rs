//! A bonded trunk between two OVS switches: N veth pairs, each end marked
//! as member M of the trunk, and at each switch one OVS bond port over its
//! ends (`ovs-vsctl add-bond BR PORT M1 M2 bond_mode=.. lacp=..
//! other_config:lacp-time=fast trunks=..`), named as the trunk's single
//! end would be. Repaired member by member: a veth pair deleted by hand is
//! made again and its interface rows taken out of the bonds and put back
//! (ovs-vswitchd opens a member's device when its row appears; two
//! transactions, phases apart), so the bond keeps forwarding over the other
//! members meanwhile. A bond that would be left without an interface, or a
//! port of another shape (a single trunk end, patch port), is made again.

use super::{Cx, PlanError, Step, Via};
use crate::model::bond::{Bond, Lacp};
use crate::model::names::{IfName, Loc};
use crate::model::ovs::{OvsChange, OvsPort};
use crate::model::{Backend, Mark, Side, TrunkSpec};

/// Trunk `t` as a bond when the file gives it one: planned here (true),
/// else false.
pub(super) fn plan(cx: &mut Cx, t: &TrunkSpec) -> Result<bool, PlanError> {
    let Some(bond) = t.bond else {
        return Ok(false);
    };
    let (ba, la) = cx.switch_of(&t.a)?;
    let (bb, lb) = cx.switch_of(&t.b)?;
    for (b, sw) in [(ba, &t.a), (bb, &t.b)] {
        if b.backend() != Backend::Ovs {
            return Err(PlanError::BadSwitch {
                switch: sw.clone(),
                backend: b.backend(),
                why: "a bond needs an OVS switch at each end of its trunk".into(),
            });
        }
    }
    let key = t.key();
    let o = cx.o;
    let mut members: [Vec<String>; 2] = Default::default();
    let mut remade: [Vec<String>; 2] = Default::default();
    for m in 0..bond.members {
        let key = &key;
        let end = |loc: &Loc, side: Side| {
            o.loc(loc).and_then(move |st| {
                st.marked(move |x| {
                    matches!(x, Mark::Trunk { a, b, side: s, member: Some(k), .. }
                        if &crate::model::Key::trunk(a, b) == key && *s == side && *k == m)
                })
                .next()
            })
        };
        let (ea, eb) = (end(&la, Side::A), end(&lb, Side::B));
        if let (Some(ea), Some(eb)) = (ea, eb) {
            cx.ensure_end(&la, &ea.name, Some(ea), t.either_end());
            cx.ensure_end(&lb, &eb.name, Some(eb), t.either_end());
            members[0].push(ea.name.clone());
            members[1].push(eb.name.clone());
            continue;
        }
        // half there: the rest goes, the pair is made again
        for (loc, e) in [(&la, ea), (&lb, eb)] {
            if let Some(e) = e {
                cx.delete_link(loc, &e.name);
            }
        }
        let (na, nb) = t.member_names(m);
        cx.trunk_pair(t, Some(m), (&la, &na), (&lb, &nb))?;
        cx.ensure_end(&la, na.as_str(), None, t.either_end());
        cx.ensure_end(&lb, nb.as_str(), None, t.either_end());
        for (k, n) in [(0, &na), (1, &nb)] {
            members[k].push(n.to_string());
            remade[k].push(n.to_string());
        }
    }
    let (pa, pb) = t.end_names();
    for (k, sw, port, peer) in [(0, &t.a, &pa, &t.b), (1, &t.b, &pb, &t.a)] {
        bond_end(
            cx,
            sw,
            port.as_str(),
            peer,
            t,
            &bond,
            bond.lacp[k],
            &members[k],
            &remade[k],
        )?;
    }
    cx.wired(
        key,
        Via::Veth,
        (&la, members[0][0].as_str()),
        (&lb, members[1][0].as_str()),
    );
    Ok(true)
}

/// The bond port `port` of switch `sw`: made, or its members, VLANs and
/// bond settings repaired.
#[allow(clippy::too_many_arguments)]
fn bond_end(
    cx: &mut Cx,
    sw: &IfName,
    port: &str,
    peer: &IfName,
    t: &TrunkSpec,
    bond: &Bond,
    lacp: Lacp,
    members: &[String],
    remade: &[String],
) -> Result<(), PlanError> {
    let st = super::ovs_rows::state(cx, sw)?;
    let bridge = st.bridge(sw.as_str());
    let db = match bridge {
        Some(b) => b.db.clone(),
        None => super::ovs_rows::db_of(cx, st, sw),
    };
    let wanted = super::ovs_rows::rx_buffer_wanted(cx, sw);
    let row = bridge.and_then(|b| b.ports.iter().find(|p| p.name == port));
    if let Some(p) = row {
        // rows to take out: members no longer wanted, members made again
        let out: Vec<_> = p
            .ifaces
            .iter()
            .filter(|i| !members.contains(&i.name) || remade.contains(&i.name))
            .collect();
        if out.len() < p.ifaces.len() {
            for i in &out {
                cx.steps.push(Step::Ovs(OvsChange::DelBondIface {
                    db: db.clone(),
                    port: p.name.clone(),
                    uuid: p.uuid.clone(),
                    iface: i.name.clone(),
                    iface_uuid: i.uuid.clone(),
                    again: members.contains(&i.name),
                }));
            }
            for m in members {
                let kept = p.ifaces.iter().any(|i| &i.name == m) && !remade.contains(m);
                if !kept {
                    cx.steps.push(Step::Ovs(OvsChange::AddBondIface {
                        db: db.clone(),
                        port: p.name.clone(),
                        uuid: p.uuid.clone(),
                        iface: m.clone(),
                    }));
                }
                super::ovs_rows::rx_buffer(cx, wanted, m, !kept);
            }
            if !super::ovs_trunk::right(p, t) {
                cx.steps.push(Step::Ovs(OvsChange::SetTrunk {
                    db: db.clone(),
                    port: p.name.clone(),
                    uuid: p.uuid.clone(),
                    vlans: t.vlans.clone(),
                    native: t.native,
                }));
            }
            if let Some(was) = differs(p, bond, lacp) {
                cx.steps.push(Step::Ovs(OvsChange::SetBond {
                    db,
                    port: p.name.clone(),
                    uuid: p.uuid.clone(),
                    mode: bond.mode,
                    lacp,
                    was,
                }));
            }
            return Ok(());
        }
        // nothing of it would be left: made again
        cx.steps.push(Step::Ovs(OvsChange::DelPort {
            db: db.clone(),
            bridge: sw.to_string(),
            port: p.name.clone(),
            uuid: p.uuid.clone(),
        }));
    }
    cx.steps.push(Step::Ovs(OvsChange::AddBond {
        db,
        bridge: sw.to_string(),
        port: port.to_string(),
        members: members.to_vec(),
        peer: peer.to_string(),
        owner: cx.d.owner.clone(),
        vlans: t.vlans.clone(),
        native: t.native,
        mode: bond.mode,
        lacp,
    }));
    for m in members {
        super::ovs_rows::rx_buffer(cx, wanted, m, true);
    }
    Ok(())
}

/// What bond port `p` runs, in words, when it is not what the file says
/// (mode, LACP, LACP's fast timer).
fn differs(p: &OvsPort, bond: &Bond, lacp: Lacp) -> Option<String> {
    let mode = p.bond_mode.as_deref().unwrap_or("active-backup");
    let have = p.lacp.as_deref().unwrap_or("off");
    let fast = p.other_config.get("lacp-time").map(String::as_str) == Some("fast");
    (mode != bond.mode.as_str() || have != lacp.as_str() || !fast)
        .then(|| format!("{mode}, LACP {have}{}", if fast { "" } else { " (slow)" }))
}
