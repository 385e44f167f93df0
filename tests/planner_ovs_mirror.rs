//! Mirrors in the planner, on the fake (no root): read from a topology
//! file, planned after the ports they name, applied through the same
//! OVSDB transactions a real server gets (ports found by their hosts when
//! the transaction is built; the fake's server keeps the schema's weak
//! references: a port deleted leaves the mirror without it), converged; a
//! host's port deleted by hand is made again and the mirror set again with
//! it in the same apply; the mirror changed by hand is drift in words;
//! dropped from the file, removed; someone else's left alone.

use swctl::effect::OvsDb;
use swctl::effect::apply::apply;
use swctl::effect::fake::Fake;
use swctl::effect::observe::observe;
use swctl::lab::scan_for;
use swctl::lab::topology::parse;
use swctl::model::ovs::{OvsChange, OvsMirror};
use swctl::model::*;
use swctl::plan::{PlanError, Scope, Step, plan};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn lab(mirrors: &str) -> Desired {
    let text = format!(
        r#"
name = "mi"
[switches.s1]
backend = "ovs"
{mirrors}
[hosts.h1]
[[hosts.h1.ports]]
switch = "s1"
ip = "198.18.0.1/24"
[hosts.h2]
[[hosts.h2.ports]]
switch = "s1"
ip = "198.18.0.2/24"
[hosts.ids]
[[hosts.ids.ports]]
switch = "s1"
ip = "198.18.0.3/24"
"#
    );
    parse(&text, false, "mi.toml").unwrap().desired
}

const TAP: &str = r#"mirrors = [{ select = ["h1"], output = "ids" }]"#;

fn mirrors_of(o: &Observed) -> Vec<OvsMirror> {
    o.ovs
        .as_ref()
        .unwrap()
        .bridge("s1")
        .unwrap()
        .mirrors
        .clone()
}

#[test]
fn a_mirror_follows_its_ports_and_the_file() {
    let d = lab(TAP);
    let f = Fake::with_ovs("netdev");
    let scan = scan_for(&d);
    rt().block_on(async {
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert!(
            text.iter().any(|t| t.contains(
                "create Mirror name=s1-m1 select_src_port=<port of h1> select_dst_port=<port of h1> output_port=<port of ids> -- add Bridge s1 mirrors @m"
            )),
            "{text:#?}"
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        let m = &mirrors_of(&o)[0];
        let port = |ns: &str| {
            o.ovs.as_ref().unwrap().bridge("s1").unwrap().ports.iter()
                .find(|p| p.ns().is_some_and(|n| n.as_str() == ns)).unwrap().clone()
        };
        assert_eq!(m.src, vec![port("h1").name.clone()]);
        assert_eq!(m.dst, m.src);
        assert_eq!(m.output.as_deref(), Some(port("ids").name.as_str()));

        // h1's port deleted by hand: the mirror loses it (weak reference),
        // the port is made again and the mirror set again in one apply
        let h1 = port("h1");
        f.ovs_apply(&[OvsChange::DelPort {
            db: o.ovs.as_ref().unwrap().addr.clone(),
            bridge: "s1".into(),
            port: h1.name.clone(),
            uuid: h1.uuid.clone(),
        }])
        .await
        .unwrap();
        let o = observe(&f, &scan).await.unwrap();
        assert!(mirrors_of(&o)[0].src.is_empty());
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let sets: Vec<&Step> = p.steps.iter().filter(|s| matches!(s, Step::Ovs(OvsChange::SetMirror { .. }))).collect();
        assert_eq!(sets.len(), 1, "{:#?}", p.steps);
        let drift = swctl::lab::drift::drift(&p);
        assert!(
            drift.differs.iter().any(|w| w == &format!(
                "OVS mirror s1-m1 on s1 copies no port both ways to {}; the file says the port of h1 both ways to {}",
                port("ids").name, port("ids").name
            )),
            "{drift:#?}"
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        assert_eq!(mirrors_of(&o)[0].src, vec![h1.name.clone()]);

        // VLANs added in the file: one update of the row
        let v = lab(r#"mirrors = [{ select = ["h1"], vlans = [10], output = "ids" }]"#);
        let p = plan(&v, &o, &Scope::Owner).unwrap();
        assert_eq!(p.steps.len(), 1, "{:#?}", p.steps);
        assert!(p.steps[0].to_string().starts_with("ovs-vsctl --db=unix:/fake/db.sock set Mirror s1-m1"), "{}", p.steps[0]);
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan).await.unwrap();
        assert_eq!(mirrors_of(&o)[0].vlans, vec![10]);

        // dropped from the file: removed
        let none = lab("");
        let p = plan(&none, &o, &Scope::Owner).unwrap();
        assert!(
            matches!(p.steps.as_slice(), [Step::Ovs(OvsChange::DelMirror { .. })]),
            "{:#?}",
            p.steps
        );
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan).await.unwrap();
        assert!(mirrors_of(&o).is_empty());
    });
}

#[test]
fn a_mirror_naming_a_host_not_on_the_switch_is_refused() {
    let d = lab(r#"mirrors = [{ select = ["h1"], output = "h9" }]"#);
    let f = Fake::with_ovs("netdev");
    rt().block_on(async {
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        let e = plan(&d, &o, &Scope::Owner).unwrap_err();
        assert!(matches!(e, PlanError::BadSwitch { .. }), "{e}");
        assert!(
            e.to_string().contains("mirror s1-m1: h9 has no port on s1"),
            "{e}"
        );
    });
}
