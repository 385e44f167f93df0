//! Reading an Open_vSwitch database into `OvsState` (`ovs-vsctl show`, as
//! data): the one transaction of four selects, and its answer parsed —
//! pure, so the fake's in-memory server is read by the very same code as a
//! real one.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::openflow::{Controller, OpenFlow};
use crate::model::ovs::{OvsBridge, OvsIface, OvsMirror, OvsPort, Vswitchd};
use crate::ovsdb::ops::{Txn, rows};

/// The selects of Bridge, Port, Interface and the root row, with the
/// columns swctl reads.
pub fn query() -> Txn {
    let mut t = Txn::new();
    t.select_all(&[
        (
            "Bridge",
            &[
                "_uuid",
                "name",
                "ports",
                "datapath_type",
                "external_ids",
                "fail_mode",
                "stp_enable",
                "rstp_enable",
                "protocols",
                "controller",
                "other_config",
                "datapath_id",
                "mirrors",
            ],
        ),
        (
            "Port",
            &[
                "_uuid",
                "name",
                "interfaces",
                "external_ids",
                "tag",
                "trunks",
                "vlan_mode",
                "protected",
                "bond_mode",
                "lacp",
                "other_config",
            ],
        ),
        (
            "Interface",
            &[
                "_uuid",
                "name",
                "type",
                "ofport",
                "error",
                "options",
                "external_ids",
                "link_state",
                "lacp_current",
            ],
        ),
        ROOT,
        ("Controller", &["_uuid", "target", "is_connected", "role"]),
        (
            "Mirror",
            &[
                "_uuid",
                "name",
                "select_all",
                "select_src_port",
                "select_dst_port",
                "select_vlan",
                "output_port",
                "external_ids",
            ],
        ),
    ]);
    t
}

/// The index of the root row's select in `query()`'s answer.
pub const ROOT_AT: usize = 3;

/// The select of the root row: what it says of ovs-vswitchd.
pub const ROOT: (&str, &[&str]) = ("Open_vSwitch", &["other_config", "ovs_version"]);

/// What the root row in answer `i` of `r` (a select of `ROOT`) says of
/// ovs-vswitchd; None without a root row.
pub fn vswitchd(r: &[Value], i: usize) -> Option<Vswitchd> {
    let root = rows(r, i).into_iter().next()?;
    Some(Vswitchd {
        tso: root
            .map("other_config")
            .get(crate::model::tso::KEY)
            .map(String::as_str)
            == Some("true"),
        version: root
            .opt("ovs_version")
            .and_then(|v| v.as_str())
            .map(String::from),
    })
}

/// The bridges (with their ports and interfaces) in the answer `r` to
/// `query()` from the server at `addr`, sorted by name.
pub fn bridges(r: &[Value], addr: &str) -> Vec<OvsBridge> {
    let ifaces: BTreeMap<String, OvsIface> = rows(r, 2)
        .iter()
        .filter_map(|r| {
            Some((
                r.uuid()?.to_string(),
                OvsIface {
                    uuid: r.uuid()?.to_string(),
                    name: r.str("name")?.to_string(),
                    kind: r.str("type").unwrap_or("").to_string(),
                    ofport: r.int("ofport"),
                    error: r.opt("error").and_then(|e| e.as_str()).map(String::from),
                    options: r.map("options"),
                    external_ids: r.map("external_ids"),
                    link_state: r
                        .opt("link_state")
                        .and_then(|v| v.as_str())
                        .map(String::from),
                    lacp_current: r.opt("lacp_current").and_then(|v| v.as_bool()),
                },
            ))
        })
        .collect();
    let ports: BTreeMap<String, OvsPort> = rows(r, 1)
        .iter()
        .filter_map(|r| {
            Some((
                r.uuid()?.to_string(),
                OvsPort {
                    uuid: r.uuid()?.to_string(),
                    name: r.str("name")?.to_string(),
                    tag: r.int("tag"),
                    trunks: atoms_i64(r, "trunks"),
                    vlan_mode: r
                        .opt("vlan_mode")
                        .and_then(|v| v.as_str())
                        .map(String::from),
                    protected: r.opt("protected").and_then(|v| v.as_bool()) == Some(true),
                    bond_mode: r
                        .opt("bond_mode")
                        .and_then(|v| v.as_str())
                        .map(String::from),
                    lacp: r.opt("lacp").and_then(|v| v.as_str()).map(String::from),
                    other_config: r.map("other_config"),
                    external_ids: r.map("external_ids"),
                    ifaces: r.refs("interfaces", &ifaces),
                },
            ))
        })
        .collect();
    let controllers: BTreeMap<String, Controller> = rows(r, 4)
        .iter()
        .filter_map(|r| {
            Some((
                r.uuid()?.to_string(),
                Controller {
                    target: r.str("target")?.to_string(),
                    is_connected: r.opt("is_connected").and_then(|v| v.as_bool()) == Some(true),
                    role: r.opt("role").and_then(|v| v.as_str()).map(String::from),
                },
            ))
        })
        .collect();
    let port_names: BTreeMap<&str, &str> = ports
        .iter()
        .map(|(u, p)| (u.as_str(), p.name.as_str()))
        .collect();
    let names_of = |r: &crate::ovsdb::ops::Row, col: &str| -> Vec<String> {
        let mut v: Vec<String> = r
            .uuids(col)
            .iter()
            .filter_map(|u| port_names.get(u.as_str()).map(|n| n.to_string()))
            .collect();
        v.sort();
        v
    };
    let mirrors: BTreeMap<String, OvsMirror> = rows(r, 5)
        .iter()
        .filter_map(|r| {
            let mut vlans: Vec<u16> = atoms_i64(r, "select_vlan")
                .into_iter()
                .filter_map(|v| u16::try_from(v).ok())
                .collect();
            vlans.sort();
            Some((
                r.uuid()?.to_string(),
                OvsMirror {
                    uuid: r.uuid()?.to_string(),
                    name: r.str("name")?.to_string(),
                    select_all: r.opt("select_all").and_then(|v| v.as_bool()) == Some(true),
                    src: names_of(r, "select_src_port"),
                    dst: names_of(r, "select_dst_port"),
                    vlans,
                    output: names_of(r, "output_port").into_iter().next(),
                    external_ids: r.map("external_ids"),
                },
            ))
        })
        .collect();
    let mut bridges: Vec<OvsBridge> = rows(r, 0)
        .iter()
        .filter_map(|r| {
            let mut ms: Vec<OvsMirror> = r.refs("mirrors", &mirrors);
            ms.sort_by(|a, b| a.name.cmp(&b.name));
            let mut ps: Vec<OvsPort> = r.refs("ports", &ports);
            ps.sort_by(|a, b| a.name.cmp(&b.name));
            let mut cs: Vec<Controller> = r.refs("controller", &controllers);
            cs.sort_by(|a, b| a.target.cmp(&b.target));
            let mut protocols = r.strings("protocols");
            protocols.sort();
            let openflow = OpenFlow {
                controllers: cs.iter().map(|c| c.target.clone()).collect(),
                fail_mode: r
                    .opt("fail_mode")
                    .and_then(|v| v.as_str())
                    .and_then(|m| m.parse().ok())
                    .unwrap_or_default(),
                protocols,
                datapath_id: r.map("other_config").get("datapath-id").cloned(),
            };
            Some(OvsBridge {
                openflow,
                controllers: cs,
                dpid: r
                    .opt("datapath_id")
                    .and_then(|v| v.as_str())
                    .map(String::from),
                flows: None,
                spanning: crate::model::ovs::Spanning {
                    stp: r.opt("stp_enable").and_then(|v| v.as_bool()) == Some(true),
                    rstp: r.opt("rstp_enable").and_then(|v| v.as_bool()) == Some(true),
                },
                mirrors: ms,
                db: addr.to_string(),
                uuid: r.uuid()?.to_string(),
                name: r.str("name")?.to_string(),
                datapath_type: r.str("datapath_type").unwrap_or("").to_string(),
                external_ids: r.map("external_ids"),
                ports: ps,
            })
        })
        .collect();
    bridges.sort_by(|a, b| a.name.cmp(&b.name));
    bridges
}

/// A set-of-integers column (one integer alone is the set of it).
fn atoms_i64(r: &crate::ovsdb::ops::Row, col: &str) -> Vec<i64> {
    match r.0.get(col) {
        Some(serde_json::Value::Array(a)) if a.len() == 2 && a[0] == "set" => a[1]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_i64())
            .collect(),
        Some(v) => v.as_i64().into_iter().collect(),
        None => vec![],
    }
}
