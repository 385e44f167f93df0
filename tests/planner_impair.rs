//! Impairments in the planner, on the fake (no root): read from a topology
//! file, planned on each end they shape, applied through the same messages
//! the kernel gets (the fake keeps what they decode to), converged, drift
//! in words, removed when the file drops them; a qdisc not swctl's is left
//! alone or replaced (and said); what the kernel cannot give refused before
//! anything changes.

use swctl::effect::apply::apply;
use swctl::effect::fake::Fake;
use swctl::effect::observe::observe;
use swctl::lab::scan_for;
use swctl::lab::topology::parse;
use swctl::model::impair::{QdiscKinds, QdiscObs};
use swctl::model::names::Loc;
use swctl::model::*;
use swctl::plan::{PlanError, Scope, Step, plan};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn lab(extra_port: &str, extra_link: &str) -> Desired {
    let text = format!(
        r#"
name = "imp"
[switches.sw0]
backend = "bridge"
[hosts.h1]
[[hosts.h1.ports]]
switch = "sw0"
ip = "198.18.0.1/24"
{extra_port}
[hosts.h2]
[[hosts.h2.ports]]
switch = "sw0"
ip = "198.18.0.2/24"
[[links]]
a = "h1"
b = "h2"
a_ip = "198.18.1.1/24"
b_ip = "198.18.1.2/24"
{extra_link}
"#
    );
    parse(&text, false, "imp.toml").unwrap().desired
}

fn qdisc_steps(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| matches!(s, Step::SetQdisc { .. } | Step::DelQdisc { .. }))
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn impairments_are_planned_on_each_end_converge_and_go_with_the_file() {
    let f = Fake::new();
    rt().block_on(async {
        let d = lab(
            r#"rate = "100mbit""#,
            r#"a_delay = "10ms"
loss = "1%""#,
        );
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let q = qdisc_steps(&p.steps);
        // the port: both ends, a rate alone is a token bucket
        assert_eq!(
            q.iter().filter(|s| s.contains("tbf rate 100mbit")).count(),
            2,
            "{q:#?}"
        );
        // the link: loss on both ends, the delay only on a's
        assert!(
            q.iter()
                .any(|s| s.starts_with("tc -n h1 ") && s.contains("netem delay 10ms loss 1%")),
            "{q:#?}"
        );
        assert!(
            q.iter().any(|s| s.starts_with("tc -n h2 ")
                && s.contains("netem loss 1%")
                && !s.contains("delay")),
            "{q:#?}"
        );
        assert_eq!(q.len(), 4, "{q:#?}");
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());

        // changed by hand: one end's delay is gone; said in words
        {
            let mut sys = f.sys.lock().unwrap();
            let st = &mut sys
                .namespaces
                .get_mut(&"h1".parse().unwrap())
                .unwrap()
                .state;
            let l = st
                .links
                .iter_mut()
                .find(|l| l.qdisc.as_ref().is_some_and(|q| q.kind == "netem"))
                .unwrap();
            l.qdisc = None;
        }
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let words: Vec<String> = p
            .steps
            .iter()
            .map(|s| format!("{:?}", s.meaning()))
            .collect();
        assert_eq!(p.steps.len(), 1, "{words:?}");
        assert!(
            words[0].contains("is impaired by none, the file says delay=10ms loss=1%"),
            "{words:?}"
        );
        apply(&f, &p, false).await.unwrap();

        // the file drops them: swctl's qdiscs go
        let plain = lab("", "");
        let o = observe(&f, &scan_for(&plain)).await.unwrap();
        let p = plan(&plain, &o, &Scope::Owner).unwrap();
        let q = qdisc_steps(&p.steps);
        assert_eq!(q.len(), 4, "{q:#?}");
        assert!(q.iter().all(|s| s.contains("qdisc del dev")), "{q:#?}");
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan_for(&plain)).await.unwrap();
        assert!(plan(&plain, &o, &Scope::Owner).unwrap().is_empty());
    });
}

#[test]
fn a_qdisc_not_swctls_is_left_unless_the_file_impairs_that_end() {
    let f = Fake::new();
    rt().block_on(async {
        let plain = lab("", "");
        let o = observe(&f, &scan_for(&plain)).await.unwrap();
        apply(&f, &plan(&plain, &o, &Scope::Owner).unwrap(), false)
            .await
            .unwrap();
        // someone puts their own qdisc on h1's port end
        {
            let mut sys = f.sys.lock().unwrap();
            let st = &mut sys
                .namespaces
                .get_mut(&"h1".parse().unwrap())
                .unwrap()
                .state;
            let l = st.links.iter_mut().find(|l| l.name == "eth0").unwrap();
            l.qdisc = Some(QdiscObs {
                handle: 0x8001_0000,
                kind: "fq_codel".into(),
                config: None,
            });
        }
        let o = observe(&f, &scan_for(&plain)).await.unwrap();
        assert!(plan(&plain, &o, &Scope::Owner).unwrap().is_empty());
        // the file impairs that port: replaced, and said whose it was
        let d = lab(r#"rate = "10mbit""#, "");
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let replaced = p.steps.iter().find_map(|s| match s {
            Step::SetQdisc { loc, was, .. } if loc == &Loc::Ns("h1".parse().unwrap()) => {
                Some(was.clone())
            }
            _ => None,
        });
        assert_eq!(replaced.as_deref(), Some("fq_codel 8001: (not swctl's)"));
    });
}

#[test]
fn what_the_kernel_cannot_give_is_refused_before_any_change() {
    let f = Fake::new();
    f.sys.lock().unwrap().qdisc_kinds = Some(QdiscKinds {
        tbf: true,
        netem: false,
    });
    rt().block_on(async {
        let d = lab(r#"rate = "100mbit""#, r#"delay = "5ms""#);
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        let e = plan(&d, &o, &Scope::Owner).unwrap_err();
        assert!(matches!(e, PlanError::NoQdisc { kind: "netem", .. }), "{e}");
        let m = e.to_string();
        assert!(
            m.contains("asks for delay") && m.contains("what works here: rate (tbf)"),
            "{m}"
        );
        // a rate alone is given
        let d = lab(r#"rate = "100mbit""#, "");
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).is_ok());
    });
}

#[test]
fn an_impaired_ovs_port_is_a_veth_pair_never_an_internal_port() {
    let f = Fake::with_ovs("netdev");
    rt().block_on(async {
        let text = |via: &str| {
            format!(
                r#"
name = "imp"
[switches.s1]
backend = "ovs"
[hosts.h1]
[[hosts.h1.ports]]
switch = "s1"
{via}
delay = "1ms"
"#
            )
        };
        let d = parse(&text(""), false, "x").unwrap().desired;
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        assert!(p.steps.iter().any(|s| matches!(s, Step::CreateVeth { .. })));
        assert_eq!(qdisc_steps(&p.steps).len(), 2);
        let d = parse(&text(r#"via = "internal""#), false, "x")
            .unwrap()
            .desired;
        let e = plan(&d, &o, &Scope::Owner).unwrap_err();
        assert!(matches!(e, PlanError::ImpairedInternalPort { .. }), "{e}");
    });
}

#[test]
fn bad_impairments_are_reported_where_they_are_written() {
    let bad = r#"
name = "imp"
[switches.sw0]
[hosts.h1]
[[hosts.h1.ports]]
switch = "sw0"
rate = "fast"
jitter = "1ms"
[hosts.h2]
[[links]]
a = "h1"
b = "h2"
a_loss = "150%"
limit = 0
"#;
    let e = parse(bad, false, "bad.toml").unwrap_err().to_string();
    for want in [
        "hosts.h1.ports[0].rate",
        "is not a rate",
        "jitter needs a delay",
        "links[0].a_loss",
        "at most 100%",
        "links[0].limit",
    ] {
        assert!(e.contains(want), "{want:?} not in {e}");
    }
}

#[test]
fn check_expects_the_declared_delays_in_every_round_trip() {
    use std::time::Duration;
    use swctl::lab::check::{Expect, judge, plan_check};
    let d = lab(
        r#"delay = "10ms""#,
        r#"a_delay = "5ms"
b_delay = "3ms"
b_jitter = "1ms""#,
    );
    let c = plan_check(&d, true, 1024);
    let rtt = |from: &str, to: &str| {
        c.probes
            .iter()
            .find(|p| p.from.as_str() == from && p.to.to_string() == to)
            .unwrap_or_else(|| panic!("no probe {from} -> {to}: {:?}", c.probes))
            .min_rtt
    };
    // the port of h1 is delayed both ways, h2's not: 2 x 10 ms
    assert_eq!(rtt("h1", "198.18.0.2"), Duration::from_millis(20));
    assert_eq!(rtt("h2", "198.18.0.1"), Duration::from_millis(20));
    // the link: 5 ms one way, 3 - 1 (jitter) the other
    assert_eq!(rtt("h1", "198.18.1.2"), Duration::from_millis(7));
    assert_eq!(rtt("h2", "198.18.1.1"), Duration::from_millis(7));
    // a reply sooner than that: the impairment is not in effect
    let min = Duration::from_millis(20);
    assert!(judge(Expect::Reach, Ok(Duration::from_millis(21)), min).is_ok());
    let e = judge(Expect::Reach, Ok(Duration::from_micros(80)), min).unwrap_err();
    assert!(e.contains("not in effect") && e.contains("20.0 ms"), "{e}");
    assert!(judge(Expect::Reach, Err("timeout"), min).is_err());
    assert!(
        judge(
            Expect::Isolated,
            Ok(Duration::from_millis(1)),
            Duration::ZERO
        )
        .is_err()
    );
}

#[test]
fn a_trunk_is_impaired_on_both_ends() {
    let f = Fake::new();
    rt().block_on(async {
        let text = |extra: &str| {
            format!(
                r#"
name = "imp"
[switches.s1]
backend = "bridge"
[switches.s2]
backend = "bridge"
[[trunks]]
a = "s1"
b = "s2"
{extra}
"#
            )
        };
        let d = parse(&text(r#"rate = "1gbit""#), false, "x")
            .unwrap()
            .desired;
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let q = qdisc_steps(&p.steps);
        assert_eq!(q.len(), 2, "{q:#?}");
        assert!(q.iter().all(|s| s.contains("tbf rate 1gbit")), "{q:#?}");
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        // sides are a link's: a trunk's ends are alike
        let e = parse(&text(r#"a_rate = "1gbit""#), false, "x").unwrap_err();
        assert!(e.to_string().contains("a_rate"), "{e}");
    });
}
