//! The planner's OVS switch across machines, without root: a machine's part
//! with an OVS bridge that holds the underlay and the VTEP, and a spanning
//! OVS switch with a protected vxlan port per remote machine.

use swctl::effect::apply::apply;
use swctl::effect::fake::Fake;
use swctl::effect::observe::{Scan, observe};
use swctl::model::names::*;
use swctl::model::*;
use swctl::plan::{PlanError, Scope, Step, plan};

fn ifn(s: &str) -> IfName {
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

fn ovs_switch(addrs: Vec<Cidr>) -> SwitchSpec {
    SwitchSpec {
        backend: Backend::Ovs,
        loc: Loc::Host,
        addrs,
        ..Default::default()
    }
}

/// Machine m1's part: host h1 on OVS switch s1, which spans to two other
/// machines; the VTEP on OVS bridge `phy`, which holds the underlay.
fn part() -> Desired {
    let mut d = Desired::new("ml+m1".parse().unwrap());
    d.switches.insert(ifn("s1"), ovs_switch(vec![]));
    d.switches.insert(
        ifn("phy"),
        ovs_switch(vec!["198.18.200.1/24".parse().unwrap()]),
    );
    d.uplinks.push(UplinkSpec {
        switch: ifn("phy"),
        dev: ifn("underlay"),
    });
    d.namespaces
        .insert("h1".parse().unwrap(), NsSpec::default());
    d.ports.push(PortSpec {
        ns: "h1".parse().unwrap(),
        switch: ifn("s1"),
        ifname: None,
        via: Via::Auto,
        vlan: None,
        end: EndSpec {
            addrs: vec!["198.18.1.1/24".parse().unwrap()],
            mtu: None,
            impair: None,
        },
    });
    d.tunnels.push(TunnelSpec {
        switch: ifn("s1"),
        vni: 77,
        local: "198.18.200.1".parse().unwrap(),
        remotes: vec![
            "198.18.200.2".parse().unwrap(),
            "198.18.200.3".parse().unwrap(),
        ],
        port: 8472,
    });
    d
}

/// A fake machine on the userspace datapath with its underlay (no address:
/// the VTEP goes on `phy`).
fn machine() -> Fake {
    let f = Fake::with_ovs("netdev");
    let mut l = f.new_link("underlay", "veth", "");
    l.alias = None;
    l.mark = None;
    l.mtu = 1600;
    f.sys.lock().unwrap().host.links.push(l);
    f
}

fn texts(steps: &[Step]) -> Vec<String> {
    steps.iter().map(|s| s.to_string()).collect()
}

#[test]
fn an_ovs_span_gets_a_protected_vxlan_port_per_remote_and_the_vtep_on_an_ovs_bridge() {
    let d = part();
    let f = machine();
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text = texts(&p.steps);
        let has = |want: &str| {
            assert!(
                text.iter().any(|t| t.contains(want)),
                "{want:?} not in {text:#?}"
            )
        };
        has("add-br phy -- set Bridge phy datapath_type=netdev");
        has("add-port phy underlay");
        has("set Interface phy mtu_request=1600");
        // the kernel must not answer ARP for the VTEP on the uplink (it sees
        // the uplink's frames beside OVS's AF_PACKET socket)
        has("sysctl -w net.ipv4.conf.underlay.arp_ignore=8");
        has("ip addr add 198.18.200.1/24 dev phy");
        for r in ["198.18.200.2", "198.18.200.3"] {
            has("protected=true -- set Interface vx-");
            has(&format!(
                "type=vxlan options:remote_ip={r} options:key=77 options:dst_port=8472"
            ));
        }
        // the guest keeps 1500: the underlay's 1600 leaves room
        assert!(!text.iter().any(|t| t.contains("mtu 1450")), "{text:#?}");
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        let again = plan(&d, &o, &Scope::Owner).unwrap();
        assert!(again.is_empty(), "{:#?}", texts(&again.steps));

        // a remote leaves, another comes: one tunnel port goes, one comes
        let mut d2 = d.clone();
        d2.tunnels[0].remotes = vec![
            "198.18.200.3".parse().unwrap(),
            "198.18.200.4".parse().unwrap(),
        ];
        let p = plan(&d2, &o, &Scope::Owner).unwrap();
        let text = texts(&p.steps);
        assert_eq!(text.len(), 2, "{text:#?}");
        assert!(text[0].contains("del-port s1 vx-"), "{text:#?}");
        assert!(text[1].contains("remote_ip=198.18.200.4"), "{text:#?}");

        // another VNI: the ports are made again
        let mut d3 = d.clone();
        d3.tunnels[0].vni = 78;
        let p = plan(&d3, &o, &Scope::Owner).unwrap();
        let n_del = p
            .steps
            .iter()
            .filter(|s| s.to_string().contains("del-port"))
            .count();
        assert_eq!(n_del, 2, "{:#?}", texts(&p.steps));

        // the switch stops spanning: its tunnel ports go, nothing else
        let mut d4 = d.clone();
        d4.tunnels.clear();
        let p = plan(&d4, &o, &Scope::Owner).unwrap();
        let text = texts(&p.steps);
        assert_eq!(text.len(), 2, "{text:#?}");
        assert!(text.iter().all(|t| t.contains("del-port s1 vx-")));

        // teardown: everything of the part goes, the underlay stays
        let empty = Desired::new(d.owner.clone());
        let p = plan(&empty, &o, &Scope::Owner).unwrap();
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &all()).await.unwrap();
        assert!(o.ovs.as_ref().unwrap().bridges.is_empty());
        assert!(o.host.link("underlay").is_some());
    });
}

#[test]
fn a_vtep_on_a_plain_device_is_refused_on_the_userspace_datapath() {
    let mut d = part();
    d.switches.remove(&ifn("phy"));
    d.uplinks.clear();
    let f = machine();
    f.sys.lock().unwrap().host.links[0].addrs = vec!["198.18.200.1/24".parse().unwrap()];
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        match plan(&d, &o, &Scope::Owner) {
            Err(e @ PlanError::VtepNotOnOvs { .. }) => {
                let m = e.to_string();
                assert!(
                    m.contains("198.18.200.1 is on underlay, not on an OVS bridge"),
                    "{m}"
                );
            }
            other => panic!("{:?}", other.map(|p| texts(&p.steps))),
        }
    });
    // the kernel datapath sends from any device
    let f = Fake::with_ovs("system");
    let mut l = f.new_link("underlay", "veth", "");
    l.alias = None;
    l.mark = None;
    l.mtu = 1600;
    l.addrs = vec!["198.18.200.1/24".parse().unwrap()];
    f.sys.lock().unwrap().host.links.push(l);
    rt().block_on(async {
        let o = observe(&f, &all()).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        assert!(texts(&p.steps).iter().any(|t| t.contains("type=vxlan")));
    });
}

/// Open vSwitch below 3.3 drops TSO packets sent into a tunnel: a span on
/// an ovs-vswitchd with userspace TSO is refused before anything changes,
/// saying how to start it without; from 3.3 it is taken.
#[test]
fn a_span_on_a_tso_vswitchd_below_3_3_is_refused() {
    let d = part();
    for (version, refused) in [("3.1.0", true), ("3.3.0", false)] {
        let f = machine();
        let mut ovs = swctl::effect::fake::FakeOvs::new("unix:/fake/db.sock", "netdev").with_tso();
        ovs.set_version(version);
        *f.ovs.lock().unwrap() = Some(ovs);
        rt().block_on(async {
            let o = observe(&f, &all()).await.unwrap();
            match plan(&d, &o, &Scope::Owner) {
                Err(e @ PlanError::TsoUnderTunnel { .. }) if refused => {
                    let m = e.to_string();
                    assert!(m.contains("--tso off") && m.contains(version), "{m}");
                }
                Ok(p) if !refused => {
                    assert!(texts(&p.steps).iter().any(|t| t.contains("type=vxlan")));
                }
                other => panic!("{version}: {:?}", other.map(|p| texts(&p.steps))),
            }
        });
    }
}
