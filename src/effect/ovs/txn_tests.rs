//! The OVSDB operations of each planned change against the pinned schema:
//! every column a builder writes is one swctl declares it uses and one the
//! schema has, for one sample of every kind of change.

use super::*;
use crate::model::mark::{Mark, Side};
use crate::ovsdb::schema::{PINNED, USED};
use std::collections::BTreeSet;

/// One change of every kind (`kind` names them all: a new kind must be
/// added here too, or the count below says so).
fn samples() -> Vec<OvsChange> {
    let owner: Owner = "lab".parse().unwrap();
    let db = "unix:x".to_string();
    let of = crate::model::openflow::OpenFlow {
        controllers: vec!["tcp:198.18.0.1:6653".into()],
        fail_mode: crate::model::openflow::FailMode::Secure,
        protocols: vec!["OpenFlow13".into()],
        datapath_id: Some("0000000000000001".into()),
    };
    let mark = Mark::Port {
        owner: owner.clone(),
        ns: "h1".parse().unwrap(),
        sw: "br0".parse().unwrap(),
        side: Side::A,
    };
    vec![
        OvsChange::AddBridge {
            db: db.clone(),
            name: "br0".into(),
            datapath_type: "netdev".into(),
            owner: owner.clone(),
            hwaddr: crate::model::names::Mac([2, 0, 0, 0, 0, 1]),
            openflow: of.clone(),
        },
        OvsChange::DelBridge {
            db: db.clone(),
            name: "br0".into(),
            uuid: "u1".into(),
            ports: 2,
        },
        OvsChange::AddPort {
            db: db.clone(),
            bridge: "br0".into(),
            port: "p1".into(),
            internal: true,
            tag: Some(10),
            mark,
            mac: Some(crate::model::names::Mac([2, 0, 0, 0, 0, 2])),
            iface_id: Some("lsp1".into()),
            mtu: Some(9000),
        },
        OvsChange::SetOwner {
            db: db.clone(),
            table: "Port".into(),
            uuid: "u2".into(),
            name: "p1".into(),
            owner: owner.clone(),
        },
        OvsChange::AddTrunk {
            db: db.clone(),
            bridge: "br0".into(),
            port: "tkbr1".into(),
            peer: "br1".into(),
            owner: owner.clone(),
            vlans: vec![10, 20],
            native: Some(5),
        },
        OvsChange::SetSpanning {
            db: db.clone(),
            bridge: "br0".into(),
            spanning: crate::model::ovs::Spanning {
                stp: false,
                rstp: true,
            },
            was: Default::default(),
        },
        OvsChange::AddPatch {
            db: db.clone(),
            a_bridge: "br0".into(),
            a_port: "tkbr1".into(),
            b_bridge: "br1".into(),
            b_port: "tkbr0".into(),
            owner: owner.clone(),
            vlans: vec![10],
            native: None,
        },
        OvsChange::AddBond {
            db: db.clone(),
            bridge: "br0".into(),
            port: "tkbr1".into(),
            members: vec!["m0".into(), "m1".into()],
            peer: "br1".into(),
            owner: owner.clone(),
            vlans: vec![10],
            native: None,
            mode: crate::model::bond::BondMode::BalanceTcp,
            lacp: crate::model::bond::Lacp::Active,
        },
        OvsChange::SetBond {
            db: db.clone(),
            port: "tkbr1".into(),
            uuid: "u9".into(),
            mode: crate::model::bond::BondMode::BalanceSlb,
            lacp: crate::model::bond::Lacp::Off,
            was: "balance-tcp".into(),
        },
        OvsChange::AddBondIface {
            db: db.clone(),
            port: "tkbr1".into(),
            uuid: "u9".into(),
            iface: "m2".into(),
        },
        OvsChange::DelBondIface {
            db: db.clone(),
            port: "tkbr1".into(),
            uuid: "u9".into(),
            iface: "m2".into(),
            iface_uuid: "u10".into(),
            again: true,
        },
        OvsChange::SetMirror {
            db: db.clone(),
            bridge: "br0".into(),
            name: "m".into(),
            uuid: None,
            owner: owner.clone(),
            select: Some(vec![crate::model::ovs::HostPort {
                ns: "h1".parse().unwrap(),
                name: None,
            }]),
            vlans: vec![10],
            output: crate::model::ovs::HostPort {
                ns: "h1".parse().unwrap(),
                name: None,
            },
            was: None,
        },
        OvsChange::DelMirror {
            db: db.clone(),
            bridge: "br0".into(),
            name: "m".into(),
            uuid: "u11".into(),
        },
        OvsChange::SetTrunk {
            db: db.clone(),
            port: "tkbr1".into(),
            uuid: "u9".into(),
            vlans: vec![],
            native: None,
        },
        OvsChange::SetTag {
            db: db.clone(),
            port: "p1".into(),
            uuid: "u2".into(),
            tag: None,
        },
        OvsChange::AddTunnel {
            db: db.clone(),
            bridge: "br0".into(),
            port: "vx1".into(),
            remote: "198.18.0.2".parse().unwrap(),
            key: 5,
            dst_port: 4789,
            owner: owner.clone(),
        },
        OvsChange::AddUplink {
            db: db.clone(),
            bridge: "br0".into(),
            port: "underlay".into(),
            owner: owner.clone(),
        },
        OvsChange::SetMtu {
            db: db.clone(),
            iface: "br0".into(),
            mtu: 1600,
        },
        OvsChange::DelPort {
            db: db.clone(),
            bridge: "br0".into(),
            port: "p1".into(),
            uuid: "u2".into(),
        },
        OvsChange::SetOpenflow {
            db,
            bridge: "br0".into(),
            uuid: "u0".into(),
            owner,
            openflow: Default::default(),
            was: of,
        },
    ]
}

fn kind(c: &OvsChange) -> &'static str {
    match c {
        OvsChange::AddBridge { .. } => "add_bridge",
        OvsChange::DelBridge { .. } => "del_bridge",
        OvsChange::AddPort { .. } => "add_port",
        OvsChange::SetOwner { .. } => "set_owner",
        OvsChange::SetTag { .. } => "set_tag",
        OvsChange::AddTunnel { .. } => "add_tunnel",
        OvsChange::AddUplink { .. } => "add_uplink",
        OvsChange::SetMtu { .. } => "set_mtu",
        OvsChange::DelPort { .. } => "del_port",
        OvsChange::SetOpenflow { .. } => "set_openflow",
        OvsChange::AddTrunk { .. } => "add_trunk",
        OvsChange::AddPatch { .. } => "add_patch",
        OvsChange::SetSpanning { .. } => "set_spanning",
        OvsChange::SetTrunk { .. } => "set_trunk",
        OvsChange::AddBond { .. } => "add_bond",
        OvsChange::SetBond { .. } => "set_bond",
        OvsChange::AddBondIface { .. } => "add_bond_iface",
        OvsChange::DelBondIface { .. } => "del_bond_iface",
        OvsChange::SetMirror { .. } => "set_mirror",
        OvsChange::DelMirror { .. } => "del_mirror",
    }
}

/// Every (table, column) an operation names: its row's keys, its
/// conditions, its mutations, the columns it selects or waits on.
fn columns(op: &serde_json::Value, out: &mut BTreeSet<(String, String)>) {
    let Some(table) = op["table"].as_str() else {
        return;
    };
    let mut add = |c: &str| {
        if c != "_uuid" {
            out.insert((table.to_string(), c.to_string()));
        }
    };
    for c in op["row"].as_object().into_iter().flat_map(|r| r.keys()) {
        add(c);
    }
    for list in ["where", "mutations"] {
        for x in op[list].as_array().into_iter().flatten() {
            add(x[0].as_str().unwrap());
        }
    }
    for c in op["columns"].as_array().into_iter().flatten() {
        add(c.as_str().unwrap());
    }
}

#[test]
fn every_column_the_builders_write_is_in_used_and_in_the_schema() {
    let all = samples();
    let kinds: BTreeSet<&str> = all.iter().map(kind).collect();
    assert_eq!(kinds.len(), 20, "one sample of each kind of change");
    let mut t = Txn::new();
    push_next_cfg(&mut t);
    // as a batch: the mirror's ports are the batch's AddPort of h1
    let batch: Vec<&OvsChange> = all.iter().collect();
    super::super::batch::build_batch(&mut t, &batch, &[]).unwrap();
    let mut seen = BTreeSet::new();
    for (op, _) in &t.ops {
        columns(&op.to_json(), &mut seen);
    }
    let pinned: serde_json::Value = serde_json::from_str(PINNED).unwrap();
    for (table, col) in &seen {
        let used = USED
            .iter()
            .any(|(t, cs)| t == table && cs.contains(&col.as_str()));
        assert!(used, "{table}.{col} is written but not in schema::USED");
        assert!(
            pinned["tables"][table]["columns"][col].is_object(),
            "{table}.{col} is not in the pinned schema"
        );
    }
    // what the builders must reach: the readers' columns are in USED too
    for must in [("Bridge", "other_config"), ("Interface", "mac")] {
        assert!(
            seen.contains(&(must.0.to_string(), must.1.to_string())),
            "{must:?}"
        );
    }
}

#[test]
fn a_new_port_is_an_interface_a_port_and_the_bridges_ports_plus_one() {
    let mut t = Txn::new();
    build(&mut t, 7, &samples()[2]);
    let ops: Vec<serde_json::Value> = t.ops.iter().map(|(o, _)| o.to_json()).collect();
    assert_eq!(ops[0]["table"], "Interface");
    assert_eq!(ops[0]["row"]["type"], "internal");
    assert_eq!(ops[0]["row"]["mac"], "02:00:00:00:00:02");
    assert_eq!(ops[0]["uuid-name"], "i7");
    assert_eq!(ops[1]["table"], "Port");
    assert_eq!(ops[1]["row"]["tag"], 10);
    assert_eq!(
        ops[1]["row"]["interfaces"],
        serde_json::json!(["named-uuid", "i7"])
    );
    assert_eq!(ops[2]["op"], "mutate");
    assert_eq!(
        ops[2]["mutations"][0],
        serde_json::json!(["ports", "insert", ["set", [["named-uuid", "p7"]]]])
    );
}
