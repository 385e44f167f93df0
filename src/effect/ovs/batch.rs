//! A batch of OVS changes as one transaction's operations (one server's
//! part of a phase): each change's own operations (`txn::build`), and a
//! mirror's ports found as `ovs-vsctl -- --id=@p get Port P` finds them —
//! among the ports the same transaction makes, else among those that
//! exist.

use serde_json::{Value, json};

use super::txn::{build, ids};
use crate::model::ovs::{K_NS, K_SWITCH, OvsChange};
use crate::ovsdb::OvsdbError;
use crate::ovsdb::ops::{Expect, Op, Txn, cond, named, set, uuid};

/// The operations of a batch of changes (one transaction of one server),
/// a mirror's ports found as `ovs-vsctl -- --id=@p get Port P` finds them:
/// among the ports the same batch makes (their named uuids), else among
/// `bridges` as they are (the port swctl made for the host on the bridge,
/// by its external_ids).
pub fn build_batch(
    t: &mut Txn,
    changes: &[&OvsChange],
    bridges: &[crate::model::ovs::OvsBridge],
) -> Result<(), OvsdbError> {
    let mut made: std::collections::BTreeMap<(String, String), Value> = Default::default();
    for (i, c) in changes.iter().enumerate() {
        if let OvsChange::AddPort { bridge, mark, .. } = c {
            let (ns, _) = mark.port_ids();
            made.insert((bridge.clone(), ns), named(&format!("p{i}")));
        }
    }
    for (i, c) in changes.iter().enumerate() {
        let OvsChange::SetMirror {
            bridge,
            name,
            uuid: u,
            owner,
            select,
            vlans,
            output,
            ..
        } = c
        else {
            build(t, i, c);
            continue;
        };
        let port = |h: &crate::model::ovs::HostPort| -> Result<Value, OvsdbError> {
            if let Some(v) = made.get(&(bridge.clone(), h.ns.to_string())) {
                return Ok(v.clone());
            }
            bridges
                .iter()
                .filter(|b| &b.name == bridge)
                .flat_map(|b| &b.ports)
                .find(|p| {
                    p.external_ids.get(K_NS).map(String::as_str) == Some(h.ns.as_str())
                        && p.external_ids.get(K_SWITCH) == Some(bridge)
                })
                .map(|p| uuid(&p.uuid))
                .ok_or_else(|| OvsdbError::Commit {
                    error: format!("mirror {name}: {bridge} has no port of {}", h.ns),
                    details: None,
                })
        };
        let mut row = json!({
            "name": name,
            "output_port": port(output)?,
            "select_vlan": set(vlans.iter().map(|v| json!(v)).collect()),
            "external_ids": ids(owner, "mirror", &[(K_SWITCH, bridge.as_str())]),
        });
        match select {
            None => {
                row["select_all"] = json!(true);
                row["select_src_port"] = set(vec![]);
                row["select_dst_port"] = set(vec![]);
            }
            Some(hosts) => {
                let ps = hosts.iter().map(port).collect::<Result<Vec<_>, _>>()?;
                row["select_all"] = json!(false);
                row["select_src_port"] = set(ps.clone());
                row["select_dst_port"] = set(ps);
            }
        }
        match u {
            Some(u) => {
                t.push(
                    Op::Update {
                        table: "Mirror".into(),
                        wh: vec![cond("_uuid", "==", uuid(u))],
                        row,
                    },
                    Expect::Count(1),
                );
            }
            None => {
                let m = format!("m{i}");
                t.push(
                    Op::Insert {
                        table: "Mirror".into(),
                        row,
                        uuid_name: Some(m.clone()),
                    },
                    Expect::Any,
                );
                t.push(
                    Op::Mutate {
                        table: "Bridge".into(),
                        wh: vec![cond("name", "==", json!(bridge))],
                        mutations: vec![json!(["mirrors", "insert", set(vec![named(&m)])])],
                    },
                    Expect::Count(1),
                );
            }
        }
    }
    Ok(())
}
