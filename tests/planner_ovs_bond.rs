//! Bonds in the planner, on the fake (no root): a bonded trunk read from a
//! topology file is N veth pairs and an OVS bond at each end, applied
//! through the same OVSDB transactions a real server gets (the fake's
//! in-memory server keeps its rules: a Port needs an interface), converged;
//! a member deleted by hand is made again and its rows taken out and put
//! back in two phases; the mode changed is drift in words; members counted
//! up and down; the bond dropped (patch ports) and given back.

use swctl::effect::apply::apply;
use swctl::effect::fake::Fake;
use swctl::effect::observe::observe;
use swctl::effect::{Netlink, OvsDb};
use swctl::lab::scan_for;
use swctl::lab::topology::parse;
use swctl::model::names::Loc;
use swctl::model::ovs::OvsChange;
use swctl::model::*;
use swctl::plan::{Scope, Step, plan};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn lab(bond: &str) -> Desired {
    let text = format!(
        r#"
name = "bd"
[switches.s1]
backend = "ovs"
[switches.s2]
backend = "ovs"
[hosts.h1]
[[hosts.h1.ports]]
switch = "s1"
ip = "198.18.0.1/24"
[hosts.h2]
[[hosts.h2.ports]]
switch = "s2"
ip = "198.18.0.2/24"
[[trunks]]
a = "s1"
b = "s2"
vlans = [10]
{bond}
"#
    );
    parse(&text, false, "bd.toml").unwrap().desired
}

fn bond_port(o: &Observed, sw: &str) -> swctl::model::ovs::OvsPort {
    o.ovs
        .as_ref()
        .unwrap()
        .bridge(sw)
        .unwrap()
        .ports
        .iter()
        .find(|p| p.role() == Some("trunk"))
        .unwrap()
        .clone()
}

fn ovs_changes(steps: &[Step]) -> Vec<&OvsChange> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Ovs(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn a_bond_is_made_converges_and_is_repaired_member_by_member() {
    let d = lab(r#"bond = { members = 2, mode = "balance-tcp", lacp = "active" }"#);
    let f = Fake::with_ovs("netdev");
    let scan = scan_for(&d);
    rt().block_on(async {
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let veths = p
            .steps
            .iter()
            .filter(|s| {
                matches!(s, Step::CreateVeth { mark: Mark::Trunk { member: Some(_), .. }, .. })
            })
            .count();
        assert_eq!(veths, 2, "{:#?}", p.steps);
        let bonds: Vec<String> = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Ovs(OvsChange::AddBond { .. })))
            .map(|s| s.to_string())
            .collect();
        assert_eq!(bonds.len(), 2);
        assert!(
            bonds[0].contains("bond_mode=balance-tcp lacp=active other_config:lacp-time=fast trunks=10"),
            "{bonds:#?}"
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        let b1 = bond_port(&o, "s1");
        assert_eq!(b1.ifaces.len(), 2);
        assert_eq!(b1.bond_mode.as_deref(), Some("balance-tcp"));
        assert_eq!(b1.trunks, vec![10]);

        // member 0 deleted by hand: the pair made again, its rows out
        // (phase 3) and in again (phase 7) at both ends
        let gone = b1.ifaces[0].name.clone();
        f.del_link(&Loc::Host, &gone).await.unwrap();
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        let dels = ovs_changes(&p.steps)
            .into_iter()
            .filter(|c| matches!(c, OvsChange::DelBondIface { again: true, .. }))
            .count();
        let adds = ovs_changes(&p.steps)
            .into_iter()
            .filter(|c| matches!(c, OvsChange::AddBondIface { .. }))
            .count();
        assert_eq!((dels, adds), (2, 2), "{text:#?}");
        let phase = |want: fn(&Step) -> bool| p.steps.iter().find(|s| want(s)).unwrap().phase();
        assert!(
            phase(|s| matches!(s, Step::Ovs(OvsChange::DelBondIface { .. })))
                < phase(|s| matches!(s, Step::Ovs(OvsChange::AddBondIface { .. })))
        );
        let drift = swctl::lab::drift::drift(&p);
        assert!(
            drift.missing.iter().any(|m| m.contains("bond member 0 of trunk s1 <-> s2")),
            "{drift:#?}"
        );
        assert!(drift.leaked.is_empty(), "{drift:#?}");
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        assert_eq!(bond_port(&o, "s1").uuid, b1.uuid, "the bond port is kept");

        // the mode changed by hand: drift in words, one update
        let b2 = bond_port(&o, "s2");
        f.ovs_apply(&[OvsChange::SetBond {
            db: b2.external_ids.get("swctl-owner").map(|_| o.ovs.as_ref().unwrap().addr.clone()).unwrap(),
            port: b2.name.clone(),
            uuid: b2.uuid.clone(),
            mode: swctl::model::bond::BondMode::ActiveBackup,
            lacp: swctl::model::bond::Lacp::Active,
            was: String::new(),
        }])
        .await
        .unwrap();
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let drift = swctl::lab::drift::drift(&p);
        assert_eq!(
            drift.differs,
            vec![format!(
                "OVS bond {} runs active-backup, LACP active, the file says balance-tcp, LACP active",
                b2.name
            )]
        );
        apply(&f, &p, false).await.unwrap();

        // three members, then two again
        let three = lab(r#"bond = { members = 3, mode = "balance-tcp", lacp = "active" }"#);
        for want in [&three, &d] {
            let o = observe(&f, &scan_for(want)).await.unwrap();
            let p = plan(want, &o, &Scope::Owner).unwrap();
            apply(&f, &p, false).await.unwrap();
            let o = observe(&f, &scan_for(want)).await.unwrap();
            assert!(plan(want, &o, &Scope::Owner).unwrap().is_empty());
            let n = want.trunks[0].bond.unwrap().members as usize;
            assert_eq!(bond_port(&o, "s1").ifaces.len(), n);
            let veths = o
                .loc(&Loc::Host)
                .unwrap()
                .marked(|m| matches!(m, Mark::Trunk { member: Some(_), .. }))
                .count();
            assert_eq!(veths, 2 * n);
        }

        // no bond: patch ports, the members gone; a bond again
        let plain = lab("");
        for want in [&plain, &d] {
            let o = observe(&f, &scan_for(want)).await.unwrap();
            let p = plan(want, &o, &Scope::Owner).unwrap();
            apply(&f, &p, false).await.unwrap();
            let o = observe(&f, &scan_for(want)).await.unwrap();
            assert!(plan(want, &o, &Scope::Owner).unwrap().is_empty());
        }
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&plain, &o, &Scope::Owner).unwrap();
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan).await.unwrap();
        assert_eq!(bond_port(&o, "s1").ifaces[0].kind, "patch");
        let members = o
            .loc(&Loc::Host)
            .unwrap()
            .marked(|m| matches!(m, Mark::Trunk { member: Some(_), .. }))
            .count();
        assert_eq!(members, 0);
    });
}
