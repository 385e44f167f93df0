//! OVS bridges' OpenFlow settings in the planner, on the fake's in-memory
//! OVSDB server (no root): made with the bridge, read back the same, a
//! change of the file is one `SetOpenflow` said in words, applied it
//! converges, and only what differs is written (a controller kept is not
//! made again).

use swctl::effect::apply::apply;
use swctl::effect::fake::Fake;
use swctl::effect::observe::{Scan, observe};
use swctl::model::openflow::{FailMode, OpenFlow};
use swctl::model::ovs::OvsChange;
use swctl::model::*;
use swctl::plan::{Scope, Step, plan};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What a topology's plan observes (`lab::scan_for`): flows too.
fn all() -> Scan {
    Scan {
        all_owned: true,
        flows: true,
        ..Default::default()
    }
}

fn lab(openflow: OpenFlow) -> Desired {
    let mut d = Desired::new("lab".parse().unwrap());
    d.switches.insert(
        "br0".parse().unwrap(),
        SwitchSpec {
            backend: Backend::Ovs,
            openflow,
            ..Default::default()
        },
    );
    d
}

#[test]
fn openflow_settings_are_made_read_back_and_repaired_in_words() {
    let f = Fake::with_ovs("netdev");
    let secure = OpenFlow::parse(
        &["tcp:198.18.0.9:6653".into(), "ptcp:6634".into()],
        Some("secure"),
        &["OpenFlow13".into()],
        Some("00000000000000a1"),
    )
    .unwrap();
    rt().block_on(async {
        let d = lab(secure.clone());
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert!(
            text[0].contains("fail_mode=secure")
                && text[0].contains("set-controller br0 ptcp:6634 tcp:198.18.0.9:6653")
                && text[0].contains("protocols=OpenFlow13")
                && text[0].contains("other_config:datapath-id=00000000000000a1"),
            "{text:?}"
        );
        apply(&f, &p, false).await.unwrap();
        // read back by the real reader: the same settings, nothing to do
        let o = observe(&f, &all()).await.unwrap();
        let b = o.ovs.as_ref().unwrap().bridge("br0").unwrap();
        assert_eq!(b.openflow, secure);
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());

        // the file now says standalone, one controller fewer
        let mut standalone = secure.clone();
        standalone.fail_mode = FailMode::Standalone;
        standalone.controllers = vec!["tcp:198.18.0.9:6653".into()];
        let d2 = lab(standalone.clone());
        let p = plan(&d2, &o, &Scope::Owner).unwrap();
        assert_eq!(p.steps.len(), 1, "{:?}", p.steps);
        let Step::Ovs(OvsChange::SetOpenflow { .. }) = &p.steps[0] else {
            panic!("{:?}", p.steps)
        };
        let swctl::plan::step::Meaning::Changes(Some(words)) = p.steps[0].meaning() else {
            panic!("{:?}", p.steps[0].meaning())
        };
        assert!(
            words.contains(
                "controllers are ptcp:6634, tcp:198.18.0.9:6653, the file says tcp:198.18.0.9:6653"
            ) && words.contains("fail_mode is secure, the file says standalone"),
            "{words}"
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert_eq!(
            o.ovs.as_ref().unwrap().bridge("br0").unwrap().openflow,
            standalone
        );
        assert!(plan(&d2, &o, &Scope::Owner).unwrap().is_empty());

        // only the fail mode differs: the controllers are not written again
        let p = plan(
            &lab(OpenFlow {
                fail_mode: FailMode::Secure,
                ..standalone.clone()
            }),
            &o,
            &Scope::Owner,
        )
        .unwrap();
        let Step::Ovs(c) = &p.steps[0] else {
            panic!("{:?}", p.steps)
        };
        let mut t = swctl::ovsdb::ops::Txn::new();
        swctl::effect::ovs::txn::build(&mut t, 0, c);
        let ops: Vec<String> = t.ops.iter().map(|(o, _)| o.to_json().to_string()).collect();
        assert_eq!(ops.len(), 1, "{ops:?}");
        assert!(
            ops[0].contains("fail_mode") && !ops[0].contains("controller"),
            "{ops:?}"
        );
        apply(&f, &p, false).await.unwrap();
    });
}

/// `flows = [...]`: written with the lab's cookie once the hosts' ports
/// exist, read back equal (nothing to do), a flow changed by hand (other
/// actions) or deleted is drift and written again, a flow of the lab's
/// not in the file is deleted, a foreign flow is never touched.
#[test]
fn declared_flows_are_reconciled_by_cookie() {
    use swctl::effect::FlowTables;
    use swctl::openflow::text::parse;
    let f = Fake::with_ovs("netdev");
    let mut d = lab(OpenFlow::default());
    for h in ["h1", "h2"] {
        d.namespaces.insert(h.parse().unwrap(), NsSpec::default());
        d.ports.push(PortSpec {
            ns: h.parse().unwrap(),
            switch: "br0".parse().unwrap(),
            ifname: None,
            via: Via::Veth,
            vlan: None,
            end: EndSpec::default(),
        });
    }
    let flows = vec![
        "priority=100,ip,in_port=h1,nw_dst=198.18.0.2 actions=output:h2".to_string(),
        "priority=90,arp actions=flood".to_string(),
    ];
    d.switches.get_mut(&"br0".parse().unwrap()).unwrap().flows = flows.clone();
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let batch = p.steps.iter().find_map(|s| match s {
            Step::Flows(b) => Some(b.clone()),
            _ => None,
        });
        assert_eq!(
            batch.unwrap().add,
            flows,
            "written when the ports are there"
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        let b = o.ovs.as_ref().unwrap().bridge("br0").unwrap().clone();
        let have = b.flows.clone().unwrap();
        assert_eq!(have.len(), 2);
        let c = swctl::model::openflow::cookie(&d.owner);
        assert!(have.iter().all(|s| s.flow.cookie == c), "{have:?}");
        assert!(
            plan(&d, &o, &Scope::Owner).unwrap().is_empty(),
            "a second plan is empty"
        );

        // by hand: the arp flow given other actions, a foreign flow added,
        // a flow of the lab's that the file does not have
        let ports = swctl::plan::flows::Ports::of(&b);
        let mut changed = parse("priority=90,arp actions=drop", &mut |n| {
            ports.resolve("br0", n)
        })
        .unwrap();
        changed.cookie = c;
        let foreign = parse("priority=5,ip actions=normal", &mut |_| Ok(1)).unwrap();
        let mut stray = parse("priority=7,ipv6 actions=drop", &mut |_| Ok(1)).unwrap();
        stray.cookie = c;
        let add = |flow| {
            (
                String::new(),
                swctl::openflow::Msg::FlowMod {
                    command: swctl::openflow::Command::Add,
                    flow,
                    cookie_mask: 0,
                },
            )
        };
        f.flow_mods(
            &b.db,
            "br0",
            &[add(changed), add(foreign.clone()), add(stray)],
        )
        .await
        .unwrap();
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        assert_eq!(p.steps.len(), 1, "{:?}", p.steps);
        let swctl::plan::step::Meaning::Changes(Some(w)) = p.steps[0].meaning() else {
            panic!("{:?}", p.steps[0].meaning())
        };
        assert!(
            w.contains(
                "with other actions or timeouts than the file's: \"priority=90,arp actions=flood\""
            ),
            "{w}"
        );
        assert!(
            w.contains("not in the file: \"priority=7,ipv6 actions=drop\""),
            "{w}"
        );
        assert!(!w.contains("normal"), "a foreign flow is not drift: {w}");
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        let left = o
            .ovs
            .as_ref()
            .unwrap()
            .bridge("br0")
            .unwrap()
            .flows
            .clone()
            .unwrap();
        assert_eq!(left.len(), 3, "the lab's two and the foreign one");
        assert!(left.iter().any(|s| s.flow == foreign.clone().normalized()));

        // a flow naming a host the lab does not have: refused before anything
        let mut bad = d.clone();
        bad.switches.get_mut(&"br0".parse().unwrap()).unwrap().flows =
            vec!["actions=output:h9".into()];
        let e = plan(&bad, &o, &Scope::Owner).unwrap_err().to_string();
        assert!(e.contains("no port or host \"h9\""), "{e}");
    });
}
