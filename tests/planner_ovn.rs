//! The Northbound planner without root: a lab's OVN switches and ports as
//! Northbound changes, converged, changed, torn down; someone else's rows
//! (even of the same name) untouched; a forwarding host's port security
//! without addresses.

use serde_json::json;
use swctl::effect::fake::ovsdb::MemDb;
use swctl::effect::ovn::nb::{apply_txn, state_of, state_query};
use swctl::lab::topology::parse;
use swctl::model::ovn::{NbChange, NbState};
use swctl::model::*;
use swctl::ovsdb::ops::{Expect, Op, Txn};
use swctl::plan::ovn_nb::plan_nb;

const LAB: &str = r#"
name = "lo"
[machines.m1]
vtep = "198.18.240.1"
netns = "lom1"
[machines.m2]
vtep = "198.18.240.2"
netns = "lom2"
[switches.ls1]
span = "ovn"
[hosts.a]
machine = "m1"
[[hosts.a.ports]]
switch = "ls1"
ip = "198.18.90.1/24"
[hosts.b]
machine = "m2"
forward = true
[[hosts.b.ports]]
switch = "ls1"
ip = "198.18.90.2/24"
"#;

/// The Northbound state after `changes`: the very transaction the real
/// effect sends, executed by the fake's in-memory OVN_Northbound (under the
/// NB schema's rules), read back by the real reader — no second
/// interpretation of a change here.
fn after(db: &mut MemDb, changes: &[NbChange]) -> NbState {
    let t = apply_txn(changes);
    t.check(&db.transact(&t)).unwrap();
    let q = state_query();
    state_of(&q.check(&db.transact(&q)).unwrap(), "unix:nb")
}

#[test]
fn a_labs_ovn_switch_and_ports_converge_and_go() {
    let d = parse(LAB, false, "lo.toml").unwrap().desired;
    // someone else's logical switch of the same name (`ovn-nbctl create`)
    let mut db = MemDb::northbound();
    let mut t = Txn::for_db("OVN_Northbound");
    t.push(
        Op::Insert {
            table: "Logical_Switch".into(),
            row: json!({"name": "ls1"}),
            uuid_name: None,
        },
        Expect::Any,
    );
    t.check(&db.transact(&t)).unwrap();
    let st = after(&mut db, &[]);
    let foreign = st.switches[0].clone();
    let c = plan_nb(&d, &st);
    let text: Vec<String> = c.iter().map(|c| c.to_string()).collect();
    assert_eq!(c.len(), 3, "{text:#?}");
    assert!(text[0].starts_with("ovn-nbctl ls-add ls1"), "{text:#?}");
    // a: "MAC IP" in both, bound to m1's chassis; its MAC the one the
    // machine's agent gives eth0
    let mac = swctl::model::ovn::port_mac(
        &"lo+m1".parse().unwrap(),
        &"a".parse().unwrap(),
        &"eth0".parse().unwrap(),
    );
    let want_a = format!("{mac} 198.18.90.1");
    assert!(
        text[1].contains(&format!("lsp-add ls1 lo.a.ls1 -- lsp-set-addresses lo.a.ls1 \"{want_a}\" -- lsp-set-port-security lo.a.ls1 \"{want_a}\""))
            && text[1].ends_with("requested-chassis=lo+m1"),
        "{text:#?}"
    );
    // b forwards: port security by MAC only
    let NbChange::AddPort {
        address, security, ..
    } = &c[2]
    else {
        panic!("{c:?}")
    };
    assert!(address.ends_with(" 198.18.90.2"));
    assert_eq!(security.split_whitespace().count(), 1, "{security}");
    // converged
    let st = after(&mut db, &c);
    assert!(plan_nb(&d, &st).is_empty());
    // a host leaves the file: its port goes, nothing else
    let mut d2 = d.clone();
    d2.ports.retain(|p| p.ns.as_str() != "b");
    d2.namespaces.retain(|n, _| n.as_str() != "b");
    let c2 = plan_nb(&d2, &st);
    assert!(
        matches!(&c2[..], [NbChange::DelPort { name, .. }] if name == "lo.b.ls1"),
        "{c2:?}"
    );
    // teardown: the lab's switch only; the foreign one of the same name stays
    let gone = plan_nb(&Desired::new(d.owner.clone()), &st);
    assert!(
        matches!(&gone[..], [NbChange::DelSwitch { uuid, .. }] if *uuid != foreign.uuid),
        "{gone:?}"
    );
    let st = after(&mut db, &gone);
    assert_eq!(st.switches, vec![foreign]);
}

#[test]
fn ovn_switches_are_refused_where_they_cannot_work() {
    for (bad, want) in [
        (
            "name = \"x\"\n[switches.s]\nspan = \"ovn\"\n",
            "an OVN switch needs [machines]",
        ),
        (
            &*LAB.replace("span = \"ovn\"", "span = \"ovn\"\nvni = 5"),
            "no `vni`",
        ),
        (
            &*LAB.replace(
                "span = \"ovn\"",
                "span = \"ovn\"\naddress = \"198.18.90.9/24\"",
            ),
            "an OVN switch has no address",
        ),
        (
            &*LAB.replace("span = \"ovn\"", "span = \"ovn\"\nbackend = \"bridge\""),
            "span = \"ovn\" makes an OVN logical switch (on Open vSwitch), not a bridge switch",
        ),
        (&*format!("{LAB}[ovn]\nnb = \"nowhere\"\n"), "ovn.nb"),
    ] {
        let Err(e) = parse(bad, false, "t") else {
            panic!("accepted: {bad}")
        };
        let text = e.to_string();
        let all = match e {
            swctl::lab::topology::TopologyError::Invalid { problems, .. } => problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => text,
        };
        assert!(all.contains(want), "{want:?} not in {all}");
    }
}

#[test]
fn backend_ovs_with_span_ovn_is_an_ovn_switch() {
    // OVN's logical switches run on Open vSwitch: saying so is no conflict
    let text = LAB.replace("span = \"ovn\"", "span = \"ovn\"\nbackend = \"ovs\"");
    let d = parse(&text, false, "t").unwrap().desired;
    let sw = d.switches.values().next().unwrap();
    assert_eq!(sw.backend, swctl::model::Backend::Ovn);
}

#[test]
fn an_ovn_router_is_made_after_its_switches_and_remade_when_it_changes() {
    let text = format!(
        "{LAB}[switches.ls2]\nspan = \"ovn\"\n[routers.r1]\n[[routers.r1.ports]]\nswitch = \"ls1\"\nip = \"198.18.90.254/24\"\n[[routers.r1.ports]]\nswitch = \"ls2\"\nip = \"198.18.93.254/24\"\n"
    );
    let d = parse(&text, false, "lo.toml").unwrap().desired;
    let mut db = MemDb::northbound();
    let st = after(&mut db, &[]);
    let c = plan_nb(&d, &st);
    let kinds: Vec<&str> = c
        .iter()
        .map(|c| match c {
            NbChange::AddSwitch { .. } => "ls",
            NbChange::AddPort { .. } => "lsp",
            NbChange::AddRouter { .. } => "lr",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["ls", "lsp", "lsp", "ls", "lr"], "{c:#?}");
    let text0 = c[4].to_string();
    assert!(
        text0.starts_with("ovn-nbctl lr-add r1 -- lrp-add r1 lo/r1.ls1 ")
            && text0.contains(
                "198.18.90.254/24 -- lsp-add ls1 lo/r1.ls1-ls -- lsp-set-type lo/r1.ls1-ls router"
            ),
        "{text0}"
    );
    let st = after(&mut db, &c);
    assert!(plan_nb(&d, &st).is_empty(), "{:#?}", plan_nb(&d, &st));
    // an address changes: the router is made again, its old switch ports go
    let mut d2 = d.clone();
    d2.routers.values_mut().next().unwrap().ports[1].addrs =
        vec!["198.18.93.1/24".parse().unwrap()];
    let c2 = plan_nb(&d2, &st);
    assert!(
        matches!(&c2[..], [NbChange::DelRouter { lsps, .. }, NbChange::AddRouter { .. }] if lsps.len() == 2),
        "{c2:#?}"
    );
    let st2 = after(&mut db.clone(), &c2);
    assert!(plan_nb(&d2, &st2).is_empty());
    // teardown: the router before the switches
    let gone = plan_nb(&Desired::new(d.owner.clone()), &st);
    assert!(
        matches!(gone.first(), Some(NbChange::DelRouter { .. })),
        "{gone:#?}"
    );
    let st = after(&mut db, &gone);
    assert!(st.switches.is_empty() && st.routers.is_empty());
}

/// The coordinator's Northbound part through the `Northbound` effect, on the
/// fake's in-memory OVN_Northbound: the very transaction the real effect
/// sends, executed under the NB schema's rules, read back by the real
/// reader.
#[test]
fn the_northbound_part_runs_through_the_northbound_effect() {
    use swctl::effect::Northbound;
    use swctl::effect::fake::Fake;
    use swctl::lab::ovn::northbound;
    let d = swctl::lab::machines::resolve(&parse(LAB, false, "lo.toml").unwrap().desired);
    let nb = d.ovn.as_ref().unwrap().nb.clone();
    let f = Fake::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // no database there: said as such
        let e = northbound(&f, &d, "apply").await.unwrap_err().to_string();
        assert!(e.contains("swctl ovn start"), "{e}");
        f.add_northbound(&nb);
        let v = northbound(&f, &d, "plan").await.unwrap();
        assert!(v["changes"].as_u64().unwrap() > 0, "{v}");
        assert!(
            f.nb_state(&nb).await.unwrap().switches.is_empty(),
            "a plan changes nothing"
        );
        // drift in words, from the steps' meanings
        let v = northbound(&f, &d, "status").await.unwrap();
        assert_eq!(v["in_sync"], false, "{v}");
        let missing = v["drift"]["missing"].to_string();
        assert!(missing.contains("OVN logical switch ls1"), "{v}");
        let v = northbound(&f, &d, "apply").await.unwrap();
        assert!(
            v["steps"][0]
                .as_str()
                .unwrap()
                .starts_with("ovn-nbctl --db="),
            "{v}"
        );
        let st = f.nb_state(&nb).await.unwrap();
        assert_eq!(st.switches.len(), 1, "{st:?}");
        let ports = &st.switches[0].ports;
        assert_eq!(ports.len(), 2, "{st:?}");
        assert!(
            ports
                .iter()
                .any(|p| p.addresses.iter().any(|a| a.ends_with(" 198.18.90.1"))),
            "{ports:?}"
        );
        let v = northbound(&f, &d, "status").await.unwrap();
        assert_eq!(v["in_sync"], true, "{v}");
        let v = northbound(&f, &d, "apply").await.unwrap();
        assert_eq!(v["changes"], 0, "converged: {v}");
        northbound(&f, &d, "destroy").await.unwrap();
        let st = f.nb_state(&nb).await.unwrap();
        assert!(st.switches.is_empty() && st.routers.is_empty(), "{st:?}");
        assert!(
            f.calls().iter().all(|c| c.starts_with("ovn-nbctl --db=")),
            "{:?}",
            f.calls()
        );
    });
}
