//! The in-memory OVSDB server against the server's rules: all or nothing,
//! unique names, rows collected with what held them, references that must
//! lead to a row.

use super::*;
use crate::model::names::{Mac, Owner};
use crate::model::ovs::OvsChange;
use crate::ovsdb::ops::Row;

fn bridge(name: &str) -> OvsChange {
    OvsChange::AddBridge {
        db: "unix:x".into(),
        name: name.into(),
        datapath_type: "netdev".into(),
        owner: "lab".parse::<Owner>().unwrap(),
        hwaddr: Mac([2, 0, 0, 0, 0, 1]),
        openflow: Default::default(),
    }
}

fn run(db: &mut MemDb, changes: &[OvsChange]) -> Result<Vec<Value>, crate::ovsdb::OvsdbError> {
    let mut t = Txn::new();
    for (i, c) in changes.iter().enumerate() {
        crate::effect::ovs::txn::build(&mut t, i, c);
    }
    let r = db.transact(&t);
    t.check(&r)
}

#[test]
fn a_second_bridge_of_a_name_is_a_constraint_violation_and_changes_nothing() {
    let mut db = MemDb::new();
    run(&mut db, &[bridge("br0")]).unwrap();
    let before = db.rows("Bridge").len();
    let e = run(&mut db, &[bridge("br1"), bridge("br0")]).unwrap_err();
    assert!(e.to_string().contains("constraint violation"), "{e}");
    assert_eq!(db.rows("Bridge").len(), before, "all or nothing");
    assert_eq!(db.rows("Interface").len(), 1);
}

#[test]
fn a_deleted_bridge_takes_its_ports_and_interfaces_with_it() {
    let mut db = MemDb::new();
    run(&mut db, &[bridge("br0")]).unwrap();
    let uuid = Row(db.rows("Bridge")[0].clone())
        .uuid()
        .unwrap()
        .to_string();
    run(
        &mut db,
        &[OvsChange::DelBridge {
            db: "unix:x".into(),
            name: "br0".into(),
            uuid,
            ports: 1,
        }],
    )
    .unwrap();
    for t in ["Bridge", "Port", "Interface"] {
        assert!(db.rows(t).is_empty(), "{t} left");
    }
}

#[test]
fn a_port_on_a_missing_bridge_counts_zero_rows() {
    let mut db = MemDb::new();
    let e = run(
        &mut db,
        &[OvsChange::AddUplink {
            db: "unix:x".into(),
            bridge: "nope".into(),
            port: "u".into(),
            owner: "lab".parse().unwrap(),
        }],
    )
    .unwrap_err();
    assert!(
        matches!(e, crate::ovsdb::OvsdbError::Count { got: 0, .. }),
        "{e}"
    );
    assert!(db.rows("Port").is_empty(), "rolled back");
}

#[test]
fn a_reference_to_no_row_is_refused() {
    let mut db = MemDb::new();
    let mut t = Txn::new();
    t.push(
        Op::Insert {
            table: "Bridge".into(),
            row: json!({"name": "b", "ports": ["uuid", "0000abcd-0000-0000-0000-000000000099"]}),
            uuid_name: Some("b".into()),
        },
        crate::ovsdb::ops::Expect::Any,
    );
    t.push(
        Op::Mutate {
            table: "Open_vSwitch".into(),
            wh: vec![],
            mutations: vec![json!(["bridges", "insert", ["named-uuid", "b"]])],
        },
        crate::ovsdb::ops::Expect::Count(1),
    );
    let r = db.transact(&t);
    let e = t.check(&r).unwrap_err();
    assert!(
        e.to_string().contains("referential integrity violation"),
        "{e}"
    );
    assert!(db.rows("Bridge").is_empty(), "rolled back");
}
