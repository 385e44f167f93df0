//! The OVSDB operations of each planned OVS change, exactly as ovs-vsctl
//! sends them (rows, named uuids, mutations of the parent row), and the
//! `next_cfg`/`cur_cfg` handshake that tells when ovs-vswitchd applied them.

use serde_json::{Value, json};

use crate::model::names::Owner;
use crate::model::ovs::{K_NS, K_OWNER, K_PEER, K_ROLE, K_SWITCH, OvsChange};
use crate::ovsdb::OvsdbError;
use crate::ovsdb::ops::{Expect, Op, Txn, cond, named, set, smap, uuid};

pub(super) fn max_cur_cfg(v: &Value) -> Option<i64> {
    // {"Open_vSwitch": {uuid: {"new": {"cur_cfg": N}} or {"cur_cfg": N}}}
    v.get("Open_vSwitch")?
        .as_object()?
        .values()
        .filter_map(|row| {
            row.get("new")
                .and_then(|n| n.get("cur_cfg"))
                .or_else(|| row.get("cur_cfg"))
                .and_then(|c| c.as_i64())
        })
        .max()
}

/// Add `next_cfg += 1` and a select of it; returns the select's index.
pub fn push_next_cfg(t: &mut Txn) -> usize {
    t.push(
        Op::Mutate {
            table: "Open_vSwitch".into(),
            wh: vec![],
            mutations: vec![json!(["next_cfg", "+=", 1])],
        },
        Expect::Count(1),
    );
    t.push(
        Op::Select {
            table: "Open_vSwitch".into(),
            wh: vec![],
            columns: Some(vec!["next_cfg".into()]),
        },
        Expect::Any,
    )
}

pub(super) fn next_cfg_of(r: &[Value], i: usize) -> Result<i64, OvsdbError> {
    r[i]["rows"][0]["next_cfg"]
        .as_i64()
        .ok_or_else(|| OvsdbError::Commit {
            error: "no Open_vSwitch root row (the database was never initialized)".into(),
            details: None,
        })
}

pub(super) fn ids(owner: &Owner, role: &str, extra: &[(&str, &str)]) -> Value {
    let mut kv: Vec<(&str, &str)> = vec![(K_OWNER, owner.as_str()), (K_ROLE, role)];
    kv.extend_from_slice(extra);
    smap(kv)
}

/// The operations of one change, as ovs-vsctl would send them (`i`
/// keeps the named uuids of different changes apart).
pub fn build(t: &mut Txn, i: usize, c: &OvsChange) {
    match c {
        OvsChange::AddBridge {
            name,
            datapath_type,
            owner,
            hwaddr,
            openflow,
            ..
        } => {
            let controllers = insert_controllers(t, i, owner, &openflow.controllers);
            let mut other = vec![("hwaddr", hwaddr.to_string())];
            if let Some(id) = &openflow.datapath_id {
                other.push(("datapath-id", id.clone()));
            }
            let (iface, port, br) = (format!("i{i}"), format!("p{i}"), format!("b{i}"));
            t.push(
                Op::Insert {
                    table: "Interface".into(),
                    row: json!({"name": name, "type": "internal"}),
                    uuid_name: Some(iface.clone()),
                },
                Expect::Any,
            );
            t.push(
                Op::Insert {
                    table: "Port".into(),
                    row: json!({"name": name, "interfaces": named(&iface)}),
                    uuid_name: Some(port.clone()),
                },
                Expect::Any,
            );
            t.push(
                Op::Insert {
                    table: "Bridge".into(),
                    row: json!({
                        "name": name,
                        "ports": set(vec![named(&port)]),
                        // standalone: forward like a learning switch
                        // without a controller (unless the file says secure)
                        "fail_mode": openflow.fail_mode.as_str(),
                        "datapath_type": datapath_type,
                        "external_ids": ids(owner, "switch", &[]),
                        "other_config": smap(other.iter().map(|(k, v)| (*k, v.as_str()))),
                        "protocols": set(openflow.protocols.iter().map(|p| json!(p)).collect()),
                        "controller": set(controllers),
                    }),
                    uuid_name: Some(br.clone()),
                },
                Expect::Any,
            );
            t.push(
                Op::Mutate {
                    table: "Open_vSwitch".into(),
                    wh: vec![],
                    mutations: vec![json!(["bridges", "insert", set(vec![named(&br)])])],
                },
                Expect::Count(1),
            );
        }
        OvsChange::SetOpenflow {
            uuid: u,
            owner,
            openflow: o,
            was,
            ..
        } => {
            // only what differs: controllers made again would drop their
            // OpenFlow sessions for nothing
            let mut row = json!({});
            if o.controllers != was.controllers {
                let cs = insert_controllers(t, i, owner, &o.controllers);
                row["controller"] = set(cs);
            }
            if o.fail_mode != was.fail_mode {
                row["fail_mode"] = json!(o.fail_mode.as_str());
            }
            if o.protocols != was.protocols {
                row["protocols"] = set(o.protocols.iter().map(|p| json!(p)).collect());
            }
            let wh = vec![cond("_uuid", "==", uuid(u))];
            if row.as_object().is_some_and(|r| !r.is_empty()) {
                t.push(
                    Op::Update {
                        table: "Bridge".into(),
                        wh: wh.clone(),
                        row,
                    },
                    Expect::Count(1),
                );
            }
            if o.datapath_id != was.datapath_id {
                let mut mutations = vec![json!([
                    "other_config",
                    "delete",
                    set(vec![json!("datapath-id")])
                ])];
                if let Some(id) = &o.datapath_id {
                    mutations.push(json!([
                        "other_config",
                        "insert",
                        smap([("datapath-id", id.as_str())])
                    ]));
                }
                t.push(
                    Op::Mutate {
                        table: "Bridge".into(),
                        wh,
                        mutations,
                    },
                    Expect::Count(1),
                );
            }
        }
        OvsChange::DelBridge { uuid: u, .. } => {
            t.push(
                Op::Mutate {
                    table: "Open_vSwitch".into(),
                    wh: vec![],
                    mutations: vec![json!(["bridges", "delete", set(vec![uuid(u)])])],
                },
                Expect::Count(1),
            );
        }
        OvsChange::AddTrunk {
            bridge,
            port,
            peer,
            owner,
            vlans,
            native,
            ..
        } => {
            let mut prow = trunk_row(vlans, *native);
            prow["external_ids"] = ids(owner, "trunk", &[(K_SWITCH, bridge), (K_PEER, peer)]);
            add_port(t, i, bridge, port, json!({ "name": port }), prow);
        }
        OvsChange::AddBond {
            bridge,
            port,
            members,
            peer,
            owner,
            vlans,
            native,
            mode,
            lacp,
            ..
        } => {
            let ifaces: Vec<Value> = members
                .iter()
                .enumerate()
                .map(|(k, m)| {
                    let n = format!("i{i}_{k}");
                    t.push(
                        Op::Insert {
                            table: "Interface".into(),
                            row: json!({ "name": m }),
                            uuid_name: Some(n.clone()),
                        },
                        Expect::Any,
                    );
                    named(&n)
                })
                .collect();
            let mut prow = trunk_row(vlans, *native);
            prow["external_ids"] = ids(owner, "trunk", &[(K_SWITCH, bridge), (K_PEER, peer)]);
            prow["bond_mode"] = json!(mode.as_str());
            prow["lacp"] = json!(lacp.as_str());
            prow["other_config"] = smap([("lacp-time", "fast")]);
            prow["name"] = json!(port);
            prow["interfaces"] = set(ifaces);
            insert_port(t, &format!("p{i}"), bridge, prow);
        }
        OvsChange::SetBond {
            uuid: u,
            mode,
            lacp,
            ..
        } => {
            let wh = vec![cond("_uuid", "==", uuid(u))];
            t.push(
                Op::Update {
                    table: "Port".into(),
                    wh: wh.clone(),
                    row: json!({"bond_mode": mode.as_str(), "lacp": lacp.as_str()}),
                },
                Expect::Count(1),
            );
            t.push(
                Op::Mutate {
                    table: "Port".into(),
                    wh,
                    mutations: vec![
                        json!(["other_config", "delete", set(vec![json!("lacp-time")])]),
                        json!(["other_config", "insert", smap([("lacp-time", "fast")])]),
                    ],
                },
                Expect::Count(1),
            );
        }
        OvsChange::AddBondIface { uuid: u, iface, .. } => {
            let n = format!("i{i}");
            t.push(
                Op::Insert {
                    table: "Interface".into(),
                    row: json!({ "name": iface }),
                    uuid_name: Some(n.clone()),
                },
                Expect::Any,
            );
            t.push(
                Op::Mutate {
                    table: "Port".into(),
                    wh: vec![cond("_uuid", "==", uuid(u))],
                    mutations: vec![json!(["interfaces", "insert", set(vec![named(&n)])])],
                },
                Expect::Count(1),
            );
        }
        OvsChange::DelBondIface {
            uuid: u,
            iface_uuid,
            ..
        } => {
            // the Interface row goes once the port no longer refers to it
            t.push(
                Op::Mutate {
                    table: "Port".into(),
                    wh: vec![cond("_uuid", "==", uuid(u))],
                    mutations: vec![json!(["interfaces", "delete", set(vec![uuid(iface_uuid)])])],
                },
                Expect::Count(1),
            );
        }
        OvsChange::SetMirror { .. } => {
            unreachable!("a mirror names ports: built by build_batch")
        }
        OvsChange::DelMirror {
            bridge, uuid: u, ..
        } => {
            // the Mirror row goes once no bridge refers to it
            forget_in_bridge(t, bridge, "mirrors", u);
        }
        OvsChange::SetSpanning {
            bridge, spanning, ..
        } => {
            t.push(
                Op::Update {
                    table: "Bridge".into(),
                    wh: vec![cond("name", "==", json!(bridge))],
                    row: json!({"stp_enable": spanning.stp, "rstp_enable": spanning.rstp}),
                },
                Expect::Count(1),
            );
        }
        OvsChange::AddPatch {
            a_bridge,
            a_port,
            b_bridge,
            b_port,
            owner,
            vlans,
            native,
            ..
        } => {
            for (k, br, port, peer, other) in [
                ("a", a_bridge, a_port, b_port, b_bridge),
                ("b", b_bridge, b_port, a_port, a_bridge),
            ] {
                let mut prow = trunk_row(vlans, *native);
                prow["external_ids"] = ids(owner, "trunk", &[(K_SWITCH, br), (K_PEER, other)]);
                let irow = json!({"name": port, "type": "patch", "options": smap(vec![("peer", peer.as_str())])});
                add_port_as(t, &format!("{i}{k}"), br, port, irow, prow);
            }
        }
        OvsChange::SetTrunk {
            uuid: u,
            vlans,
            native,
            ..
        } => {
            t.push(
                Op::Update {
                    table: "Port".into(),
                    wh: vec![cond("_uuid", "==", uuid(u))],
                    row: trunk_row(vlans, *native),
                },
                Expect::Count(1),
            );
        }
        OvsChange::SetTag { uuid: u, tag, .. } => {
            let v = match tag {
                Some(t) => json!(t),
                None => set(vec![]),
            };
            t.push(
                Op::Update {
                    table: "Port".into(),
                    wh: vec![cond("_uuid", "==", uuid(u))],
                    row: json!({ "tag": v }),
                },
                Expect::Count(1),
            );
        }
        OvsChange::AddPort {
            bridge,
            port,
            internal,
            tag,
            mark,
            mac,
            iface_id,
            mtu,
            ..
        } => {
            let mut irow = json!({"name": port});
            if *internal {
                irow["type"] = json!("internal");
                if let Some(m) = mac {
                    irow["mac"] = json!(m.to_string());
                }
                if let Some(m) = mtu {
                    irow["mtu_request"] = json!(m);
                }
            }
            if let Some(id) = iface_id {
                irow["external_ids"] = smap(vec![("iface-id", id.as_str())]);
            }
            let (ns, sw) = mark.port_ids();
            let mut prow = json!({
                "external_ids": ids(mark.owner(), "port", &[(K_NS, &ns), (K_SWITCH, &sw)]),
            });
            if let Some(tag) = tag {
                prow["tag"] = json!(tag);
            }
            add_port(t, i, bridge, port, irow, prow);
        }
        OvsChange::AddTunnel {
            bridge,
            port,
            remote,
            key,
            dst_port,
            owner,
            ..
        } => {
            let (remote, key, dst_port) =
                (remote.to_string(), key.to_string(), dst_port.to_string());
            let irow = json!({
                "name": port,
                "type": "vxlan",
                "options": smap(vec![
                    ("remote_ip", remote.as_str()),
                    ("key", key.as_str()),
                    ("dst_port", dst_port.as_str()),
                ]),
            });
            let prow = json!({
                "protected": true,
                "external_ids": ids(owner, "tunnel", &[(K_SWITCH, bridge.as_str())]),
            });
            add_port(t, i, bridge, port, irow, prow);
        }
        OvsChange::AddUplink {
            bridge,
            port,
            owner,
            ..
        } => {
            let prow = json!({
                "external_ids": ids(owner, "uplink", &[(K_SWITCH, bridge.as_str())]),
            });
            add_port(t, i, bridge, port, json!({ "name": port }), prow);
        }
        OvsChange::SetOwner {
            table,
            uuid: u,
            owner,
            ..
        } => {
            // delete, then insert: a map insert keeps an existing key's value
            t.push(
                Op::Mutate {
                    table: table.clone(),
                    wh: vec![cond("_uuid", "==", uuid(u))],
                    mutations: vec![
                        json!(["external_ids", "delete", set(vec![json!(K_OWNER)])]),
                        json!(["external_ids", "insert", smap([(K_OWNER, owner.as_str())])]),
                    ],
                },
                Expect::Count(1),
            );
        }
        OvsChange::SetMtu { iface, mtu, .. } => {
            t.push(
                Op::Update {
                    table: "Interface".into(),
                    wh: vec![cond("name", "==", json!(iface))],
                    row: json!({ "mtu_request": mtu }),
                },
                Expect::Count(1),
            );
        }
        OvsChange::DelPort {
            bridge, uuid: u, ..
        } => {
            // the Port row (and its Interface) is garbage-collected once
            // no bridge references it
            forget_in_bridge(t, bridge, "ports", u);
        }
    }
}

/// `ovs-vsctl remove Bridge BRIDGE COLUMN UUID`: the row leaves the
/// bridge's COLUMN (and is garbage-collected once nothing refers to it).
fn forget_in_bridge(t: &mut Txn, bridge: &str, column: &str, u: &str) {
    t.push(
        Op::Mutate {
            table: "Bridge".into(),
            wh: vec![cond("name", "==", json!(bridge))],
            mutations: vec![json!([column, "delete", set(vec![uuid(u)])])],
        },
        Expect::Count(1),
    );
}

/// A Controller row per target (named `c{i}_{k}`), marked as swctl's;
/// their named uuids for the bridge's `controller` column. Rows the
/// bridge no longer refers to are garbage-collected by the server.
fn insert_controllers(t: &mut Txn, i: usize, owner: &Owner, targets: &[String]) -> Vec<Value> {
    targets
        .iter()
        .enumerate()
        .map(|(k, target)| {
            let name = format!("c{i}_{k}");
            t.push(
                Op::Insert {
                    table: "Controller".into(),
                    row: json!({
                        "target": target,
                        "external_ids": ids(owner, "controller", &[]),
                    }),
                    uuid_name: Some(name.clone()),
                },
                Expect::Any,
            );
            named(&name)
        })
        .collect()
}

/// An Interface row, its Port (`prow` plus name and interface) and the
/// bridge's `ports += ` that takes it in.
/// A trunk port's VLAN columns: `trunks`, and `tag` with
/// `vlan_mode=native-untagged` for a native VLAN (else `trunk`).
fn trunk_row(vlans: &[u16], native: Option<u16>) -> Value {
    let tag = native.map_or(set(vec![]), |n| json!(n));
    let mode = if native.is_some() {
        "native-untagged"
    } else {
        "trunk"
    };
    json!({"trunks": set(vlans.iter().map(|v| json!(v)).collect()), "tag": tag, "vlan_mode": mode})
}

fn add_port(t: &mut Txn, i: usize, bridge: &str, port: &str, irow: Value, prow: Value) {
    add_port_as(t, &i.to_string(), bridge, port, irow, prow)
}

/// `add_port` with the named uuids `i{key}`, `p{key}` (two ports of one
/// change need two keys).
fn add_port_as(t: &mut Txn, key: &str, bridge: &str, port: &str, irow: Value, mut prow: Value) {
    let (iface, p) = (format!("i{key}"), format!("p{key}"));
    t.push(
        Op::Insert {
            table: "Interface".into(),
            row: irow,
            uuid_name: Some(iface.clone()),
        },
        Expect::Any,
    );
    prow["name"] = json!(port);
    prow["interfaces"] = named(&iface);
    insert_port(t, &p, bridge, prow);
}

/// Port row `prow` inserted as `p` and taken into `bridge`'s ports.
fn insert_port(t: &mut Txn, p: &str, bridge: &str, prow: Value) {
    t.push(
        Op::Insert {
            table: "Port".into(),
            row: prow,
            uuid_name: Some(p.to_string()),
        },
        Expect::Any,
    );
    t.push(
        Op::Mutate {
            table: "Bridge".into(),
            wh: vec![cond("name", "==", json!(bridge))],
            mutations: vec![json!(["ports", "insert", set(vec![named(p)])])],
        },
        Expect::Count(1),
    );
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod tests;
