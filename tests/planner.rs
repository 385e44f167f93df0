//! Planner and apply logic against the recording fake: no root needed.
//! Exact step lists for the scenarios, convergence (a second plan after
//! applying the first is empty), teardown, ownership, and recovery from a
//! failure at every step.

use std::collections::BTreeSet;

use swctl::effect::apply::apply;
use swctl::effect::fake::Fake;
use swctl::effect::observe::{Scan, observe};
use swctl::effect::{Namespaces, Netlink};
use swctl::model::names::*;
use swctl::model::*;
use swctl::plan::{PlanError, Scope, Step, plan};

fn ns(s: &str) -> NsName {
    s.parse().unwrap()
}
fn ifn(s: &str) -> IfName {
    s.parse().unwrap()
}
fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn all() -> Scan {
    Scan {
        all_owned: true,
        ..Default::default()
    }
}

/// S4: three namespaces on one bridge, the bridge with an address.
fn s4(owner: &str) -> Desired {
    let mut d = Desired::new(owner.parse().unwrap());
    d.switches.insert(
        ifn("br0"),
        SwitchSpec {
            backend: Backend::Bridge,
            loc: Loc::Host,
            addrs: vec![cidr("198.18.0.254/24")],
            ..Default::default()
        },
    );
    for (i, h) in ["h1", "h2", "h3"].iter().enumerate() {
        d.namespaces.insert(ns(h), NsSpec::default());
        d.ports.push(PortSpec {
            ns: ns(h),
            switch: ifn("br0"),
            ifname: None,
            via: Via::Auto,
            vlan: None,
            end: EndSpec {
                addrs: vec![cidr(&format!("198.18.0.{}/24", i + 1))],
                mtu: None,
                impair: None,
            },
        });
    }
    d
}

/// S7: client - gateway - server, routes through the gateway.
fn s7() -> Desired {
    let mut d = Desired::new("s7".parse().unwrap());
    d.namespaces.insert(
        ns("gw"),
        NsSpec {
            forward: Some(true),
            routes: vec![],
            ..Default::default()
        },
    );
    d.namespaces.insert(
        ns("cli"),
        NsSpec {
            forward: None,
            routes: vec![RouteSpec {
                dest: RouteDest::Default,
                via: "198.18.1.254".parse().unwrap(),
            }],
            ..Default::default()
        },
    );
    d.namespaces.insert(
        ns("srv"),
        NsSpec {
            forward: None,
            routes: vec![RouteSpec {
                dest: "198.18.2.0/24".parse().unwrap(),
                via: "198.18.3.254".parse().unwrap(),
            }],
            ..Default::default()
        },
    );
    d.links.push(LinkSpec {
        a: Loc::Ns(ns("cli")),
        b: Loc::Ns(ns("gw")),
        a_ifname: None,
        b_ifname: None,
        a_end: EndSpec {
            addrs: vec![cidr("198.18.1.1/24")],
            mtu: None,
            impair: None,
        },
        b_end: EndSpec {
            addrs: vec![cidr("198.18.1.254/24")],
            mtu: None,
            impair: None,
        },
    });
    d.links.push(LinkSpec {
        a: Loc::Ns(ns("gw")),
        b: Loc::Ns(ns("srv")),
        a_ifname: Some(ifn("to-srv")),
        b_ifname: Some(ifn("eth0")),
        a_end: EndSpec {
            addrs: vec![cidr("198.18.3.254/24")],
            mtu: None,
            impair: None,
        },
        b_end: EndSpec {
            addrs: vec![cidr("198.18.3.1/24")],
            mtu: None,
            impair: None,
        },
    });
    d
}

/// The stable address swctl gives device `dev` of `owner` in `loc`.
fn mac(owner: &str, loc: &str, dev: &str) -> String {
    Mac::stable(&[owner, loc, dev]).to_string()
}

const G: u32 = swctl::model::LINK_GROUP;

#[test]
fn s4_exact_steps() {
    let o = Observed::default();
    let p = plan(&s4("lab"), &o, &Scope::Owner).unwrap();
    let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
    let h1 = derived_ifname("h1", &["h1", "br0"]);
    let h2 = derived_ifname("h2", &["h2", "br0"]);
    let h3 = derived_ifname("h3", &["h3", "br0"]);
    assert_eq!(
        text,
        vec![
            "ip netns add h1 && ip -n h1 link set lo up".to_string(),
            "ip netns add h2 && ip -n h2 link set lo up".into(),
            "ip netns add h3 && ip -n h3 link set lo up".into(),
            format!(
                "ip link add br0 address {} group {G} type bridge stp_state 0 && ip link set br0 up",
                mac("lab", "host", "br0")
            ),
            format!(
                "ip link add {h1} address {} group {G} addrgenmode none up master br0 type veth peer name eth0 address {} group {G} addrgenmode none netns h1 up",
                mac("lab", "host", h1.as_str()),
                mac("lab", "h1", "eth0")
            ),
            format!(
                "ip link add {h2} address {} group {G} addrgenmode none up master br0 type veth peer name eth0 address {} group {G} addrgenmode none netns h2 up",
                mac("lab", "host", h2.as_str()),
                mac("lab", "h2", "eth0")
            ),
            format!(
                "ip link add {h3} address {} group {G} addrgenmode none up master br0 type veth peer name eth0 address {} group {G} addrgenmode none netns h3 up",
                mac("lab", "host", h3.as_str()),
                mac("lab", "h3", "eth0")
            ),
            "ip addr add 198.18.0.254/24 dev br0".into(),
            "ip -n h1 addr add 198.18.0.1/24 dev eth0".into(),
            "ip -n h2 addr add 198.18.0.2/24 dev eth0".into(),
            "ip -n h3 addr add 198.18.0.3/24 dev eth0".into(),
            // (a lab made from nothing has no neighbour to tell about its addresses)
        ]
    );
    // phases never go backwards
    assert!(p.steps.windows(2).all(|w| w[0].phase() <= w[1].phase()));
    assert_eq!(p.wiring.len(), 3);
    assert!(
        p.wiring
            .iter()
            .all(|w| w.via == Via::Veth && w.b_dev == "eth0")
    );
}

#[test]
fn s7_exact_steps() {
    let p = plan(&s7(), &Observed::default(), &Scope::Owner).unwrap();
    let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        text,
        vec![
            "ip netns add cli && ip -n cli link set lo up".to_string(),
            "ip netns add gw && ip -n gw link set lo up".into(),
            "ip netns add srv && ip -n srv link set lo up".into(),
            format!(
                "ip -n cli link add gw address {} group {G} addrgenmode none up type veth peer name cli address {} group {G} addrgenmode none netns gw up",
                mac("s7", "cli", "gw"),
                mac("s7", "gw", "cli")
            ),
            format!(
                "ip -n gw link add to-srv address {} group {G} addrgenmode none up type veth peer name eth0 address {} group {G} addrgenmode none netns srv up",
                mac("s7", "gw", "to-srv"),
                mac("s7", "srv", "eth0")
            ),
            "ip netns exec gw sysctl -w net.ipv4.ip_forward=1".into(),
            "ip -n cli addr add 198.18.1.1/24 dev gw".into(),
            "ip -n gw addr add 198.18.1.254/24 dev cli".into(),
            "ip -n gw addr add 198.18.3.254/24 dev to-srv".into(),
            "ip -n srv addr add 198.18.3.1/24 dev eth0".into(),
            "ip -n cli route add default via 198.18.1.254".into(),
            "ip -n srv route add 198.18.2.0/24 via 198.18.3.254".into(),
        ]
    );
}

/// A host made again on a switch that stayed announces its address (its
/// neighbours may hold a stale or failed entry); a lab made from nothing
/// announces nothing (nobody could hold one).
#[test]
fn only_a_host_made_again_among_old_neighbours_announces() {
    let f = Fake::new();
    rt().block_on(async {
        let d = s4("lab");
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        assert!(!p.steps.iter().any(|s| matches!(s, Step::Announce { .. })));
        apply(&f, &p, false).await.unwrap();
        // h2 deleted by hand
        f.delete_ns(&[ns("h2")]).await.pop().unwrap().unwrap();
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let ann: Vec<String> = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Announce { .. }))
            .map(|s| s.to_string())
            .collect();
        assert_eq!(ann, ["ip netns exec h2 arping -U -c 1 -I eth0 198.18.0.2"]);
        apply(&f, &p, false).await.unwrap();
    });
}

/// plan → apply → observe → plan is empty; teardown leaves nothing.
fn converges(d: &Desired) {
    converges_on(d, Fake::new());
}

fn converges_on(d: &Desired, f: Fake) {
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(d, &o, &Scope::Owner).unwrap();
        assert!(!p.is_empty());
        apply(&f, &p, false).await.unwrap();
        let mut scan = all();
        scan.forward = d.namespaces.keys().cloned().collect();
        let o2 = observe(&f, &scan).await.unwrap();
        let p2 = plan(d, &o2, &Scope::Owner).unwrap();
        assert!(p2.is_empty(), "second plan not empty: {:#?}", p2.steps);
        // teardown = plan against an empty desired state
        let empty = Desired::new(d.owner.clone());
        let p3 = plan(&empty, &o2, &Scope::Owner).unwrap();
        apply(&f, &p3, true).await.unwrap();
        let o3 = observe(&f, &all()).await.unwrap();
        assert!(o3.namespaces.is_empty(), "left: {:?}", o3.namespaces.keys());
        assert!(
            o3.host.links.iter().all(|l| l.mark.is_none()),
            "host links left: {:?}",
            o3.host.links
        );
        if let Some(ovs) = &o3.ovs {
            assert!(
                ovs.bridges.is_empty(),
                "OVS bridges left: {:?}",
                ovs.bridges
            );
            assert!(
                o3.host
                    .links
                    .iter()
                    .all(|l| l.kind.as_deref() != Some("tun"))
            );
        }
    });
}

/// S5/S6: three namespaces on an OVS bridge, by veth or internal port.
fn ovs_lab(via: Via) -> Desired {
    let mut d = s4("lab");
    let sw = d.switches.get_mut(&ifn("br0")).unwrap();
    sw.backend = Backend::Ovs;
    sw.addrs.clear();
    for p in &mut d.ports {
        p.via = via;
    }
    d
}

fn ovs_observed(datapath: &str) -> Observed {
    let f = Fake::with_ovs(datapath);
    rt().block_on(observe(&f, &all())).unwrap()
}

#[test]
fn s5_ovs_veth_exact_steps_userspace_datapath() {
    let p = plan(&ovs_lab(Via::Veth), &ovs_observed("netdev"), &Scope::Owner).unwrap();
    let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
    let h1 = derived_ifname("h1", &["h1", "br0"]);
    assert_eq!(
        text[3],
        format!(
            "ip link add {h1} address {} group {G} addrgenmode none up type veth peer name eth0 address {} group {G} addrgenmode none netns h1 up",
            mac("lab", "host", h1.as_str()),
            mac("lab", "h1", "eth0")
        )
    );
    assert_eq!(
        text[6],
        format!(
            "ovs-vsctl --db=unix:/fake/db.sock add-br br0 -- set Bridge br0 datapath_type=netdev fail_mode=standalone other_config:hwaddr=\"{}\"",
            mac("lab", "host", "br0")
        )
    );
    assert_eq!(
        text[7],
        format!("ovs-vsctl --db=unix:/fake/db.sock add-port br0 {h1}")
    );
    // tx checksum offload off on each namespace end: the netdev datapath needs it
    assert_eq!(text[10], "ip netns exec h1 ethtool -K eth0 tx off");
    // and ovs-vswitchd's receive socket of each port a bigger buffer
    let grown = format!("# ovs-vswitchd's socket of {h1}: setsockopt SO_RCVBUFFORCE");
    assert!(text.iter().any(|t| t.starts_with(&grown)), "{text:#?}");
    assert_eq!(text.len(), 19, "{text:#?}");
    // the same on the kernel datapath: no ethtool step
    let p = plan(&ovs_lab(Via::Veth), &ovs_observed("system"), &Scope::Owner).unwrap();
    assert!(p.steps.iter().all(|s| !matches!(s, Step::TxCsumOff { .. })));
    assert!(
        p.steps
            .iter()
            .any(|s| s.to_string().contains("datapath_type=system"))
    );
}

#[test]
fn s6_ovs_internal_exact_steps() {
    let p = plan(&ovs_lab(Via::Auto), &ovs_observed("netdev"), &Scope::Owner).unwrap();
    let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
    let h1 = derived_ifname("h1", &["h1", "br0"]);
    assert_eq!(
        text[4],
        format!(
            "ovs-vsctl --db=unix:/fake/db.sock add-port br0 {h1} -- set Interface {h1} type=internal mac=\"{}\"",
            mac("lab", "h1", "eth0")
        )
    );
    assert_eq!(
        text[7],
        format!("ip link set {h1} netns h1 name eth0 group {G} && ip -n h1 link set eth0 up")
    );
    assert_eq!(text[10], "ip -n h1 addr add 198.18.0.1/24 dev eth0");
    assert_eq!(text.len(), 13, "{text:#?}");
    assert!(p.wiring.iter().all(|w| w.via == Via::Internal));
}

/// On a userspace datapath with TSO: no tx checksum workaround, and
/// ovs-vswitchd's receive socket of each veth port given room for TSO
/// packets; a socket made again (ovs-vswitchd restarted) is drift, repaired.
#[test]
fn ovs_veth_ports_on_a_tso_datapath() {
    let mut f = Fake::new();
    *f.ovs.get_mut().unwrap() =
        Some(swctl::effect::fake::FakeOvs::new("unix:/fake/db.sock", "netdev").with_tso());
    let d = ovs_lab(Via::Veth);
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        assert!(p.steps.iter().all(|s| !matches!(s, Step::TxCsumOff { .. })));
        let grown: Vec<&Step> = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::OvsRxBuffer { .. }))
            .collect();
        assert_eq!(grown.len(), d.ports.len(), "{:#?}", p.steps);
        // after the port's OVSDB change (ovs-vswitchd makes the socket then)
        let at = |f: &dyn Fn(&Step) -> bool| p.steps.iter().position(f).unwrap();
        assert!(
            at(&|s| matches!(s, Step::Ovs(_))) < at(&|s| matches!(s, Step::OvsRxBuffer { .. }))
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        // ovs-vswitchd restarted: its new sockets have the default buffer
        for v in f
            .ovs
            .lock()
            .unwrap()
            .as_mut()
            .unwrap()
            .rx_buffers
            .values_mut()
        {
            *v = 212_992;
        }
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        assert_eq!(p.steps.len(), d.ports.len(), "{:#?}", p.steps);
        let drift = swctl::lab::drift::drift(&p);
        assert!(
            drift.differs[0].contains("receive buffer"),
            "{:?}",
            drift.differs
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
    });
}

#[test]
fn ovs_labs_converge_and_tear_down() {
    converges_on(&ovs_lab(Via::Veth), Fake::with_ovs("netdev"));
    converges_on(&ovs_lab(Via::Internal), Fake::with_ovs("netdev"));
    converges_on(&ovs_lab(Via::Internal), Fake::with_ovs("system"));
}

/// One OVSDB transaction per apply, whatever the number of ports.
#[test]
fn ovs_changes_go_in_one_transaction() {
    let f = Fake::with_ovs("netdev");
    rt().block_on(async {
        let mut d = ovs_lab(Via::Internal);
        for i in 4..40 {
            let h = ns(&format!("h{i}"));
            d.namespaces.insert(h.clone(), NsSpec::default());
            d.ports.push(PortSpec {
                ns: h,
                switch: ifn("br0"),
                ifname: None,
                via: Via::Internal,
                vlan: None,
                end: EndSpec {
                    addrs: vec![],
                    mtu: None,
                    impair: None,
                },
            });
        }
        let o = observe(&f, &all()).await.unwrap();
        apply(&f, &plan(&d, &o, &Scope::Owner).unwrap(), false)
            .await
            .unwrap();
        let txns = f
            .calls()
            .iter()
            .filter(|c| c.starts_with("ovsdb transact"))
            .count();
        assert_eq!(txns, 1);
    });
}

#[test]
fn ovs_port_back_in_host_after_vswitchd_restart_is_moved_again() {
    let f = Fake::with_ovs("netdev");
    rt().block_on(async {
        let d = ovs_lab(Via::Internal);
        let o = observe(&f, &all()).await.unwrap();
        apply(&f, &plan(&d, &o, &Scope::Owner).unwrap(), false)
            .await
            .unwrap();
        // simulate: the tap of h2's port is back in the host, h2's end is gone
        let h2 = derived_ifname("h2", &["h2", "br0"]);
        f.move_link(&Loc::Ns(ns("h2")), "eth0", &Loc::Host, h2.as_str(), "")
            .await
            .unwrap();
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            text[0],
            format!("ip link set {h2} netns h2 name eth0 group {G} && ip -n h2 link set eth0 up")
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
    });
}

#[test]
fn s4_converges_and_tears_down() {
    converges(&s4("lab"));
}

#[test]
fn s7_converges_and_tears_down() {
    converges(&s7());
}

#[test]
fn bridge_in_namespace_converges() {
    let mut d = s4("lab");
    d.namespaces.insert(ns("core"), NsSpec::default());
    d.switches.get_mut(&ifn("br0")).unwrap().loc = Loc::Ns(ns("core"));
    converges(&d);
    let p = plan(&d, &Observed::default(), &Scope::Owner).unwrap();
    assert!(p.steps.iter().any(|s| s.to_string()
        == format!(
            "ip -n core link add br0 address {} group {G} type bridge stp_state 0 && ip -n core link set br0 up",
            mac("lab", "core", "br0")
        )));
}

/// A failure at any single call, then a fresh plan from a fresh observation,
/// always converges (what makes a crash mid-apply recoverable).
#[test]
fn recovers_from_a_failure_at_every_step() {
    let d = s7();
    let total = {
        let f = Fake::new();
        rt().block_on(async {
            let p = plan(&d, &Observed::default(), &Scope::Owner).unwrap();
            apply(&f, &p, false).await.unwrap();
        });
        f.calls().len()
    };
    assert!(total > 5);
    for k in 0..total {
        let f = Fake::new();
        *f.fail_at.lock().unwrap() = Some(k);
        rt().block_on(async {
            let p = plan(&d, &Observed::default(), &Scope::Owner).unwrap();
            assert!(
                apply(&f, &p, false).await.is_err(),
                "failure at call {k} not reported"
            );
            *f.fail_at.lock().unwrap() = None;
            let mut scan = all();
            scan.forward = d.namespaces.keys().cloned().collect();
            let o = observe(&f, &scan).await.unwrap();
            let p = plan(&d, &o, &Scope::Owner).unwrap();
            apply(&f, &p, false)
                .await
                .unwrap_or_else(|e| panic!("after failure at {k}: {e:?}"));
            let o = observe(&f, &scan).await.unwrap();
            assert!(
                plan(&d, &o, &Scope::Owner).unwrap().is_empty(),
                "not converged after failure at {k}"
            );
        });
    }
}

#[test]
fn teardown_never_touches_foreign_objects() {
    let f = Fake::new();
    rt().block_on(async {
        // someone else's bridge and veth with swctl-like names, no mark
        f.add_foreign(&Loc::Host, "br0-x", "bridge", "", None);
        f.add_foreign(&Loc::Host, "h1-abcdef", "veth", "uplink", Some("h1-peer"));
        // another topology's objects
        let other = s4("other");
        let o = observe(&f, &all()).await.unwrap();
        let mut other2 = other.clone();
        other2.switches = [(
            ifn("obr"),
            SwitchSpec {
                backend: Backend::Bridge,
                loc: Loc::Host,
                addrs: vec![],
                ..Default::default()
            },
        )]
        .into();
        for p in &mut other2.ports {
            p.switch = ifn("obr");
        }
        apply(&f, &plan(&other2, &o, &Scope::Owner).unwrap(), false)
            .await
            .unwrap();
        let before = observe(&f, &all()).await.unwrap();
        // tear down "lab", which owns nothing
        let empty = Desired::new("lab".parse().unwrap());
        let p = plan(&empty, &before, &Scope::Owner).unwrap();
        assert!(p.is_empty(), "would touch: {:?}", p.steps);
        // tear down "other": the foreign bridge and veth stay
        let p = plan(
            &Desired::new("other".parse().unwrap()),
            &before,
            &Scope::Owner,
        )
        .unwrap();
        apply(&f, &p, true).await.unwrap();
        let after = observe(&f, &all()).await.unwrap();
        for n in ["br0-x", "h1-abcdef", "h1-peer"] {
            assert!(after.host.link(n).is_some(), "{n} was removed");
        }
        assert!(after.namespaces.is_empty());
    });
}

#[test]
fn imperative_ensure_is_idempotent_and_delete_removes_pair_once() {
    let f = Fake::new();
    rt().block_on(async {
        let d = s4("cli");
        let o = observe(&f, &all()).await.unwrap();
        apply(&f, &plan(&d, &o, &Scope::Nothing).unwrap(), false)
            .await
            .unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&d, &o, &Scope::Nothing).unwrap().is_empty());
        // detach h2: exactly one delete, of the switch end
        let key = Key::Port {
            ns: ns("h2"),
            switch: ifn("br0"),
        };
        let p = plan(
            &Desired::new(Owner::cli()),
            &o,
            &Scope::Objects(BTreeSet::from([key])),
        )
        .unwrap();
        assert_eq!(
            p.steps,
            vec![Step::DeleteLink {
                loc: Loc::Host,
                dev: derived_ifname("h2", &["h2", "br0"]).to_string()
            }]
        );
        apply(&f, &p, true).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(
            o.namespaces[&ns("h2")]
                .state
                .links
                .iter()
                .all(|l| l.name == "lo")
        );
    });
}

#[test]
fn plan_errors_name_the_problem() {
    let mut d = Desired::new(Owner::cli());
    d.ports.push(PortSpec {
        ns: ns("h1"),
        switch: ifn("nosuch"),
        ifname: None,
        via: Via::Auto,
        vlan: None,
        end: EndSpec {
            addrs: vec![],
            mtu: None,
            impair: None,
        },
    });
    assert_eq!(
        plan(&d, &Observed::default(), &Scope::Nothing),
        Err(PlanError::UnknownSwitch(ifn("nosuch")))
    );
    let mut d = s4("cli");
    d.ports[0].via = Via::Internal;
    assert!(matches!(
        plan(&d, &Observed::default(), &Scope::Nothing),
        Err(PlanError::WiringUnsupported {
            via: Via::Internal,
            backend: Backend::Bridge,
            ..
        })
    ));
    let mut d = s4("cli");
    d.switches.get_mut(&ifn("br0")).unwrap().backend = Backend::Ovs;
    assert!(matches!(
        plan(&d, &Observed::default(), &Scope::Nothing),
        Err(PlanError::Unavailable {
            backend: Backend::Ovs,
            ..
        })
    ));
    // a namespace named in a port that neither exists nor is desired
    let mut d = s4("cli");
    d.namespaces.remove(&ns("h3"));
    assert_eq!(
        plan(&d, &Observed::default(), &Scope::Nothing),
        Err(PlanError::UnknownNamespace(ns("h3")))
    );
}

#[test]
fn explicit_ifname_clash_is_refused() {
    let f = Fake::new();
    rt().block_on(async {
        let d = s4("cli");
        apply(
            &f,
            &plan(&d, &Observed::default(), &Scope::Nothing).unwrap(),
            false,
        )
        .await
        .unwrap();
        let o = observe(&f, &all()).await.unwrap();
        let mut d2 = Desired::new(Owner::cli());
        d2.switches.insert(
            ifn("br1"),
            SwitchSpec {
                backend: Backend::Bridge,
                loc: Loc::Host,
                addrs: vec![],
                ..Default::default()
            },
        );
        d2.ports.push(PortSpec {
            ns: ns("h1"),
            switch: ifn("br1"),
            ifname: Some(ifn("eth0")),
            via: Via::Veth,
            vlan: None,
            end: EndSpec {
                addrs: vec![],
                mtu: None,
                impair: None,
            },
        });
        assert!(matches!(
            plan(&d2, &o, &Scope::Nothing),
            Err(PlanError::NameTaken { .. })
        ));
        // without an explicit name the next free ethN is chosen
        d2.ports[0].ifname = None;
        let p = plan(&d2, &o, &Scope::Nothing).unwrap();
        assert_eq!(p.wiring[0].b_dev, "eth1");
    });
}

/// ovs-vswitchd restarted: a new tap for h1's port is in the host while the
/// old, dead one is still in h1. The stale end goes and the new one moves in.
#[test]
fn ovs_respawned_tap_replaces_the_stale_end() {
    let f = Fake::with_ovs("netdev");
    rt().block_on(async {
        let d = ovs_lab(Via::Internal);
        let o = observe(&f, &all()).await.unwrap();
        apply(&f, &plan(&d, &o, &Scope::Owner).unwrap(), false)
            .await
            .unwrap();
        let h1 = derived_ifname("h1", &["h1", "br0"]);
        f.add_foreign(&Loc::Host, h1.as_str(), "bridge", "", None); // any unmarked device of that name
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "ip -n h1 link del eth0".to_string(),
                format!(
                    "ip link set {h1} netns h1 name eth0 group {G} && ip -n h1 link set eth0 up"
                ),
                "ip -n h1 addr add 198.18.0.1/24 dev eth0".into(),
                "ip netns exec h1 arping -U -c 1 -I eth0 198.18.0.1".into(),
            ]
        );
    });
}

/// A small deterministic random generator (xorshift), so failures replay.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random lab: hosts, Linux bridges and OVS bridges, ports with random
/// wiring, addresses, links (host included), routes and forwarding.
fn random_desired(r: &mut Rng, owner: &str) -> Desired {
    let mut d = Desired::new(owner.parse().unwrap());
    let hosts: Vec<NsName> = (0..1 + r.below(6)).map(|i| ns(&format!("r{i}"))).collect();
    let mut next_ip = 1u32;
    let mut ip = |r: &mut Rng| {
        next_ip += 1 + r.below(3) as u32;
        cidr(&format!(
            "198.18.{}.{}/16",
            next_ip / 200,
            next_ip % 200 + 1
        ))
    };
    for h in &hosts {
        d.namespaces.insert(
            h.clone(),
            NsSpec {
                forward: match r.below(3) {
                    0 => None,
                    1 => Some(true),
                    _ => Some(false),
                },
                routes: vec![],
                ..Default::default()
            },
        );
    }
    for i in 0..r.below(4) {
        let ovs = r.below(2) == 0;
        let in_ns = !ovs && r.below(4) == 0;
        d.switches.insert(
            ifn(&format!("sw{i}")),
            SwitchSpec {
                backend: if ovs { Backend::Ovs } else { Backend::Bridge },
                loc: if in_ns {
                    Loc::Ns(hosts[r.below(hosts.len() as u64) as usize].clone())
                } else {
                    Loc::Host
                },
                addrs: if !ovs && r.below(3) == 0 {
                    vec![ip(r)]
                } else {
                    vec![]
                },
                ..Default::default()
            },
        );
    }
    let switches: Vec<(IfName, Backend)> = d
        .switches
        .iter()
        .map(|(n, s)| (n.clone(), s.backend))
        .collect();
    for h in &hosts {
        for (sw, backend) in &switches {
            if r.below(2) == 0 {
                continue;
            }
            let via = match (backend, r.below(3)) {
                (Backend::Ovs, 0) => Via::Internal,
                (_, 1) => Via::Veth,
                _ => Via::Auto,
            };
            d.ports.push(PortSpec {
                ns: h.clone(),
                switch: sw.clone(),
                ifname: None,
                via,
                vlan: if *backend == Backend::Ovs && r.below(3) == 0 {
                    Some(1 + r.below(20) as u16)
                } else {
                    None
                },
                end: EndSpec {
                    addrs: (0..r.below(3)).map(|_| ip(r)).collect(),
                    mtu: if r.below(4) == 0 {
                        Some(1400 + r.below(200) as u32)
                    } else {
                        None
                    },
                    // an impaired internal port is refused
                    // (tests/planner_impair.rs)
                    impair: match r.below(4) {
                        _ if via == Via::Internal => None,
                        0 => Some(swctl::model::impair::Impair {
                            rate: Some(swctl::model::impair::Rate(8_000 * (1 + r.below(1000)))),
                            ..Default::default()
                        }),
                        1 => Some(swctl::model::impair::Impair {
                            delay: Some(swctl::model::impair::Time(r.below(100_000) as u32 + 1)),
                            loss: Some(swctl::model::impair::Percent(r.below(1 << 30) as u32)),
                            ..Default::default()
                        }),
                        2 => Some(Default::default()),
                        _ => None,
                    },
                },
            });
        }
    }
    let mut locs: Vec<Loc> = hosts.iter().map(|h| Loc::Ns(h.clone())).collect();
    locs.push(Loc::Host);
    let mut linked = BTreeSet::new();
    for _ in 0..r.below(4) {
        let a = locs[r.below(locs.len() as u64) as usize].clone();
        let b = locs[r.below(locs.len() as u64) as usize].clone();
        if a == Loc::Host && b == Loc::Host || !linked.insert(Key::link(&a, &b)) {
            continue;
        }
        let a_addrs = vec![ip(r)];
        let b_addrs = vec![ip(r)];
        // a route through the link, from a namespace end
        if let (Loc::Ns(an), true) = (&a, r.below(2) == 0) {
            let via = b_addrs[0].addr;
            let spec = d.namespaces.get_mut(an).unwrap();
            if spec.routes.is_empty() {
                spec.routes.push(RouteSpec {
                    dest: RouteDest::Net(cidr(&format!("198.19.{}.0/24", r.below(200)))),
                    via,
                });
            }
        }
        d.links.push(LinkSpec {
            a,
            b,
            a_ifname: None,
            b_ifname: None,
            a_end: EndSpec {
                addrs: a_addrs,
                mtu: if r.below(3) == 0 { Some(9000) } else { None },
                impair: None,
            },
            b_end: EndSpec {
                addrs: b_addrs,
                mtu: if r.below(3) == 0 { Some(9000) } else { None },
                impair: None,
            },
        });
    }
    d
}

/// Property: for random labs and random edits of them,
/// `plan(d, apply(plan(d, o)))` is empty, and teardown leaves nothing.
#[test]
fn property_random_labs_converge() {
    for seed in 1..=150u64 {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let f = Fake::with_ovs(if seed % 2 == 0 { "netdev" } else { "system" });
        let first = random_desired(&mut r, "prop");
        let second = random_desired(&mut r, "prop");
        rt().block_on(async {
            for d in [&first, &second] {
                let mut scan = all();
                scan.forward = d.namespaces.keys().cloned().collect();
                let o = observe(&f, &scan).await.unwrap();
                let p = plan(d, &o, &Scope::Owner)
                    .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{d:#?}"));
                apply(&f, &p, false)
                    .await
                    .unwrap_or_else(|e| panic!("seed {seed}: {e:?}\n{:#?}", p.steps));
                let o = observe(&f, &scan).await.unwrap();
                let p2 = plan(d, &o, &Scope::Owner).unwrap();
                assert!(p2.is_empty(), "seed {seed}: not converged: {:#?}", p2.steps);
            }
            let o = observe(&f, &all()).await.unwrap();
            let p = plan(&Desired::new("prop".parse().unwrap()), &o, &Scope::Owner).unwrap();
            apply(&f, &p, true).await.unwrap();
            let o = observe(&f, &all()).await.unwrap();
            assert!(o.namespaces.is_empty(), "seed {seed}");
            assert!(
                o.host.links.iter().all(|l| l.mark.is_none()),
                "seed {seed}: {:?}",
                o.host.links
            );
            assert!(o.ovs.unwrap().bridges.is_empty(), "seed {seed}");
        });
    }
}

/// A switch on its own OVSDB server: its bridge and ports go there (one
/// transaction per server), and the next plan finds them there.
#[test]
fn a_switch_on_its_own_ovsdb_server() {
    let f = Fake::with_ovs("netdev");
    rt().block_on(async {
        let mut d = ovs_lab(Via::Internal);
        d.switches.get_mut(&ifn("br0")).unwrap().ovsdb = Some("unix:/other/db.sock".into());
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let ovs: Vec<String> = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Ovs(_)))
            .map(|s| s.to_string())
            .collect();
        assert_eq!(ovs.len(), 4);
        assert!(
            ovs.iter()
                .all(|s| s.starts_with("ovs-vsctl --db=unix:/other/db.sock ")),
            "{ovs:#?}"
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert_eq!(o.ovs.as_ref().unwrap().bridges[0].db, "unix:/other/db.sock");
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
    });
}

/// Two bridges joined by a trunk, a host on each.
fn trunked() -> Desired {
    let mut d = s4("tk");
    d.ports.truncate(2);
    d.namespaces.remove(&ns("h3"));
    let mut sw1 = d.switches[&ifn("br0")].clone();
    sw1.addrs.clear();
    d.switches.insert(ifn("br1"), sw1);
    d.ports[1].switch = ifn("br1");
    d.trunks.push(TrunkSpec {
        a: ifn("br0"),
        b: ifn("br1"),
        end: EndSpec {
            mtu: Some(1400),
            impair: None,
            ..Default::default()
        },
        vlans: vec![],
        native: None,
        bond: None,
    });
    d
}

#[test]
fn trunk_exact_steps_converges_and_tears_down() {
    let d = trunked();
    let p = plan(&d, &Observed::default(), &Scope::Owner).unwrap();
    let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
    let a = derived_ifname("tkbr1", &["br0", "br1", "a"]);
    let b = derived_ifname("tkbr0", &["br1", "br0", "b"]);
    let create = format!(
        "ip link add {a} address {} group {G} addrgenmode none up type veth peer name {b} address {} group {G} addrgenmode none up",
        mac("tk", "host", a.as_str()),
        mac("tk", "host", b.as_str())
    );
    assert!(text.contains(&create), "{text:#?}");
    for want in [
        format!("ip link set {a} master br0"),
        format!("ip link set {b} master br1"),
        format!("ip link set {a} mtu 1400"),
        format!("ip link set {b} mtu 1400"),
    ] {
        assert!(text.contains(&want), "{want} not in {text:#?}");
    }
    assert!(p.wiring.iter().any(|w| matches!(w.key, Key::Trunk { .. })));
    converges(&d);
}

#[test]
fn trunk_removed_from_the_file_goes_and_a_half_trunk_is_made_again() {
    let d = trunked();
    let f = Fake::new();
    rt().block_on(async {
        let p = plan(&d, &Observed::default(), &Scope::Owner).unwrap();
        apply(&f, &p, false).await.unwrap();
        // one end deleted by hand: the pair is made again
        let a = derived_ifname("tkbr1", &["br0", "br1", "a"]);
        f.del_link(&Loc::Host, a.as_str()).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        assert!(
            p.steps
                .iter()
                .any(|s| matches!(s, Step::CreateVeth { name, .. } if name == &a)),
            "{:#?}",
            p.steps
        );
        apply(&f, &p, false).await.unwrap();
        // the trunk leaves the file: both ends go, nothing else
        let mut less = d.clone();
        less.trunks.clear();
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&less, &o, &Scope::Owner).unwrap();
        let dels: Vec<&Step> = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::DeleteLink { .. }))
            .collect();
        assert_eq!(dels.len(), 1, "one delete takes the pair: {:#?}", p.steps);
        assert_eq!(p.steps.len(), 1, "{:#?}", p.steps);
    });
}

/// A Linux bridge and an OVS bridge trunked: the bridge's end its port
/// in the kernel, the OVS end a trunk port with the VLANs (a native one
/// here); applied on the fake's OVSDB it converges; VLANs changed by hand
/// are set again in words; the trunk leaving the file takes the OVS row.
#[test]
fn a_trunk_to_an_ovs_bridge_carries_its_vlans_converges_and_goes() {
    let mut d = trunked();
    d.switches.get_mut(&ifn("br1")).unwrap().backend = Backend::Ovs;
    d.trunks[0].vlans = vec![10, 20];
    d.trunks[0].native = Some(10);
    let f = Fake::with_ovs("netdev");
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        let a = derived_ifname("tkbr1", &["br0", "br1", "a"]);
        let b = derived_ifname("tkbr0", &["br1", "br0", "b"]);
        assert!(text.contains(&format!("ip link set {a} master br0")), "{text:#?}");
        assert!(
            text.iter().any(|t| t.contains(&format!(
                "add-port br1 {b} trunks=10,20 tag=10 vlan_mode=native-untagged"
            ))),
            "{text:#?}"
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        let port = o.ovs.as_ref().unwrap().bridge("br1").unwrap().ports.iter().find(|x| x.name == b.as_str()).unwrap().clone();
        assert_eq!((port.trunks.clone(), port.tag, port.vlan_mode.as_deref()), (vec![10, 20], Some(10), Some("native-untagged")));
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        // the file carries VLAN 30 too: one change, said in words
        let mut more = d.clone();
        more.trunks[0].vlans.push(30);
        let p = plan(&more, &o, &Scope::Owner).unwrap();
        assert_eq!(p.steps.len(), 1, "{:#?}", p.steps);
        assert!(matches!(&p.steps[0], Step::Ovs(swctl::model::ovs::OvsChange::SetTrunk { vlans, .. }) if vlans == &vec![10, 20, 30]));
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&more, &o, &Scope::Owner).unwrap().is_empty());
        // the trunk leaves the file: its veth pair and the OVS row go
        let mut less = more.clone();
        less.trunks.clear();
        let p = plan(&less, &o, &Scope::Owner).unwrap();
        assert!(p.steps.iter().any(|s| matches!(s, Step::Ovs(swctl::model::ovs::OvsChange::DelPort { port, .. }) if port == b.as_str())), "{:#?}", p.steps);
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&less, &o, &Scope::Owner).unwrap().is_empty());
    });
}

/// Two OVS bridges of one Open vSwitch trunked: patch ports, no device;
/// converged; one row deleted by hand: both made again; an impaired trunk
/// is a veth pair instead (a qdisc needs a device), the patch rows go.
#[test]
fn ovs_bridges_of_one_server_are_joined_by_patch_ports() {
    let mut d = trunked();
    for b in ["br0", "br1"] {
        d.switches.get_mut(&ifn(b)).unwrap().backend = Backend::Ovs;
    }
    d.switches.get_mut(&ifn("br0")).unwrap().addrs.clear();
    d.trunks[0].vlans = vec![10];
    d.trunks[0].end.mtu = None;
    let f = Fake::with_ovs("netdev");
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert!(
            text.iter().any(|t| t.contains("type=patch options:peer=")),
            "{text:#?}"
        );
        assert!(
            !p.steps.iter().any(|s| matches!(
                s,
                Step::CreateVeth {
                    mark: Mark::Trunk { .. },
                    ..
                }
            )),
            "{text:#?}"
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        // br1's patch port deleted by hand (`ovs-vsctl del-port`): both
        // made again
        let st = o.ovs.as_ref().unwrap();
        let b = st.bridge("br1").unwrap();
        let port = b.ports.iter().find(|p| p.role() == Some("trunk")).unwrap();
        assert_eq!(port.ifaces[0].kind, "patch");
        swctl::effect::OvsDb::ovs_apply(
            &f,
            &[swctl::model::ovs::OvsChange::DelPort {
                db: b.db.clone(),
                bridge: "br1".into(),
                port: port.name.clone(),
                uuid: port.uuid.clone(),
            }],
        )
        .await
        .unwrap();
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        assert!(
            p.steps
                .iter()
                .any(|s| matches!(s, Step::Ovs(swctl::model::ovs::OvsChange::AddPatch { .. }))),
            "{:#?}",
            p.steps
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        // impaired: a veth pair, the patch rows go
        let mut slow = d.clone();
        slow.trunks[0].end.impair = Some(swctl::model::impair::Impair {
            rate: Some(swctl::model::impair::Rate(1_000_000)),
            ..Default::default()
        });
        let p = plan(&slow, &o, &Scope::Owner).unwrap();
        assert!(
            p.steps.iter().any(|s| matches!(
                s,
                Step::CreateVeth {
                    mark: Mark::Trunk { .. },
                    ..
                }
            )),
            "{:#?}",
            p.steps
        );
        assert_eq!(
            p.steps
                .iter()
                .filter(|s| matches!(s, Step::Ovs(swctl::model::ovs::OvsChange::DelPort { .. })))
                .count(),
            2,
            "{:#?}",
            p.steps
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&slow, &o, &Scope::Owner).unwrap().is_empty());
    });
}

#[test]
fn trunks_count_against_the_bridge_port_limit() {
    let mut d = Desired::new("lim".parse().unwrap());
    for b in ["b0", "b1"] {
        d.switches.insert(
            ifn(b),
            SwitchSpec {
                backend: Backend::Bridge,
                loc: Loc::Host,
                addrs: vec![],
                ..Default::default()
            },
        );
    }
    for i in 0..1023 {
        let h = ns(&format!("h{i}"));
        d.namespaces.insert(h.clone(), NsSpec::default());
        d.ports.push(PortSpec {
            ns: h,
            switch: ifn("b0"),
            ifname: None,
            via: Via::Auto,
            vlan: None,
            end: EndSpec {
                addrs: vec![],
                mtu: None,
                impair: None,
            },
        });
    }
    assert!(plan(&d, &Observed::default(), &Scope::Owner).is_ok());
    d.trunks.push(TrunkSpec {
        a: ifn("b0"),
        b: ifn("b1"),
        end: EndSpec::default(),
        vlans: vec![],
        native: None,
        bond: None,
    });
    match plan(&d, &Observed::default(), &Scope::Owner) {
        Err(PlanError::TooManyPorts { want, .. }) => assert_eq!(want, 1024),
        other => panic!("not refused: {:?}", other.map(|p| p.steps.len())),
    }
}

#[test]
fn a_big_segment_raises_the_hosts_input_queue_once() {
    let mut d = trunked();
    for i in 0..400 {
        let h = ns(&format!("q{i}"));
        d.namespaces.insert(h.clone(), NsSpec::default());
        d.ports.push(PortSpec {
            ns: h,
            switch: ifn(if i % 2 == 0 { "br0" } else { "br1" }),
            ifname: None,
            via: Via::Auto,
            vlan: None,
            end: EndSpec {
                addrs: vec![],
                mtu: None,
                impair: None,
            },
        });
    }
    let f = Fake::new();
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        assert_eq!(o.backlog, Some(1000));
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        // 402 hosts and the trunk's two ends are one segment: 2 x 404 -> 1024
        let raise: Vec<String> = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::SetSysctl { .. }))
            .map(|s| s.to_string())
            .collect();
        assert_eq!(raise, ["sysctl -w net.core.netdev_max_backlog=1024"]);
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
    });
    // without the trunk, two segments of ~200: nothing to raise
    let mut two = d.clone();
    two.trunks.clear();
    let f = Fake::new();
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&two, &o, &Scope::Owner).unwrap();
        assert!(!p.steps.iter().any(|s| matches!(s, Step::SetSysctl { .. })));
    });
}

/// A machine's part of a lab over machines: br0 spans to two remotes.
fn spanning_part() -> Desired {
    let mut d = s4("ml+m1");
    d.switches.get_mut(&ifn("br0")).unwrap().addrs.clear();
    d.tunnels.push(TunnelSpec {
        switch: ifn("br0"),
        vni: 4242,
        local: "198.18.200.1".parse().unwrap(),
        remotes: vec![
            "198.18.200.2".parse().unwrap(),
            "198.18.200.3".parse().unwrap(),
        ],
        port: VXLAN_PORT,
    });
    d
}

/// A fake machine whose underlay device has the VTEP address.
fn machine_with_underlay(mtu: u32) -> Fake {
    let f = Fake::new();
    let mut l = f.new_link("eth9", "veth", "");
    l.alias = None;
    l.mark = None;
    l.mtu = mtu;
    l.addrs = vec![cidr("198.18.200.1/24")];
    f.sys.lock().unwrap().host.links.push(l);
    f
}

#[test]
fn a_spanning_switch_gets_a_vxlan_device_and_a_flooding_entry_per_remote() {
    let d = spanning_part();
    let f = machine_with_underlay(1600);
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        let vx = derived_ifname("vx", &["vxlan", "br0"]);
        assert!(
            text.iter()
                .any(|t| t.starts_with(&format!("ip link add {vx} "))
                    && t.contains("type vxlan id 4242 local 198.18.200.1 dstport 4789 nolearning")
                    && t.contains("mtu 1500")
                    && t.ends_with("master br0 up")),
            "{text:#?}"
        );
        for r in ["198.18.200.2", "198.18.200.3"] {
            let want = format!("bridge fdb append 00:00:00:00:00:00 dev {vx} dst {r}");
            assert!(text.contains(&want), "{want} not in {text:#?}");
        }
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        // a remote leaves, another comes: one entry goes, one is added
        let mut d2 = d.clone();
        d2.tunnels[0].remotes = vec![
            "198.18.200.3".parse().unwrap(),
            "198.18.200.4".parse().unwrap(),
        ];
        let p = plan(&d2, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            text,
            [
                format!("bridge fdb del 00:00:00:00:00:00 dev {vx} dst 198.18.200.2"),
                format!("bridge fdb append 00:00:00:00:00:00 dev {vx} dst 198.18.200.4"),
            ]
        );
        // the switch stops spanning: the tunnel device goes
        let mut d3 = d.clone();
        d3.tunnels.clear();
        let p = plan(&d3, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(text, [format!("ip link del {vx}")]);
    });
    converges_on(&d, machine_with_underlay(1600));
}

#[test]
fn guests_fit_under_the_tunnel_and_a_missing_vtep_is_said() {
    let d = spanning_part();
    // a 1500-byte underlay: the tunnel and the guests get 1450
    let f = machine_with_underlay(1500);
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("type vxlan") && t.contains("mtu 1450"))
        );
        assert!(
            text.contains(&"ip -n h1 link set eth0 mtu 1450".to_string()),
            "{text:#?}"
        );
    });
    match plan(&d, &Observed::default(), &Scope::Owner) {
        Err(PlanError::NoVtep(ip, sw)) => {
            assert_eq!(
                (ip.to_string(), sw.as_str()),
                ("198.18.200.1".into(), "br0")
            )
        }
        other => panic!("{:?}", other.map(|p| p.steps)),
    }
}

/// `auto` on OVS's userspace datapath: internal ports for a small switch,
/// veth pairs for a big one (the fake's ovs-vswitchd has no TSO: past 64
/// hosts); a port that exists keeps its wiring when the lab grows.
#[test]
fn ovs_auto_wiring_by_size_and_ports_keep_theirs() {
    let f = Fake::with_ovs("netdev");
    rt().block_on(async {
        let grow = |d: &mut Desired, upto: usize| {
            for i in d.ports.len() + 1..=upto {
                let h = ns(&format!("h{i}"));
                d.namespaces.insert(h.clone(), NsSpec::default());
                d.ports.push(PortSpec {
                    ns: h,
                    switch: ifn("br0"),
                    ifname: None,
                    via: Via::Auto,
                    vlan: None,
                    end: EndSpec::default(),
                });
            }
        };
        let wirings = |p: &swctl::plan::Plan| -> BTreeSet<String> {
            p.steps
                .iter()
                .filter_map(|s| match s {
                    Step::Ovs(swctl::model::ovs::OvsChange::AddPort { internal, .. }) => {
                        Some(if *internal { "internal" } else { "veth" }.to_string())
                    }
                    _ => None,
                })
                .collect()
        };
        let mut d = ovs_lab(Via::Auto);
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        assert_eq!(wirings(&p), BTreeSet::from(["internal".to_string()]));
        apply(&f, &p, false).await.unwrap();
        // grown past 64: the new hosts get veth pairs, the old keep theirs
        grow(&mut d, 70);
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        assert_eq!(wirings(&p), BTreeSet::from(["veth".to_string()]));
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        // a new lab of 70 on a fresh server: all veth
        let f2 = Fake::with_ovs("netdev");
        let o = observe(&f2, &all()).await.unwrap();
        assert_eq!(
            wirings(&plan(&d, &o, &Scope::Owner).unwrap()),
            BTreeSet::from(["veth".to_string()])
        );
    });
}
