//! The imperative changes as use cases, without root: a request (the very
//! type the CLI parses and the API deserializes) validated and run on the
//! fake system, answered with a typed report — what changed, the wiring,
//! the ports that went with a switch, the backend chosen and why.

use serde_json::json;
use swctl::effect::fake::Fake;
use swctl::lab::change::{ChangeError, ChangeReport, Validated, run, validate};
use swctl::lab::request::Change;
use swctl::model::Backend;

fn change(f: &Fake, method: &str, params: serde_json::Value) -> Result<ChangeReport, ChangeError> {
    let c = Change::from_params(method, params).unwrap();
    let Validated::Change(job) = validate(&c)? else {
        panic!("{method} is a change")
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(f, *job))
}

#[test]
fn a_request_runs_as_a_use_case_and_answers_a_report() {
    let f = Fake::with_ovs("netdev");
    let r = change(&f, "ns.add", json!({"names": ["h1", "h2"]})).unwrap();
    assert_eq!(r.what, "ns add h1 h2");
    assert_eq!(r.plan.steps.len(), 2, "{:?}", r.plan.steps);
    // the backend is chosen at run time, and said
    let r = change(&f, "switch.add", json!({"name": "s1"})).unwrap();
    let (backend, why) = r.backend.unwrap();
    assert_eq!(
        backend,
        Backend::Ovs,
        "an OVSDB server answers (the fake's)"
    );
    assert!(why.contains("unix:/fake/db.sock"), "{why}");
    let r = change(
        &f,
        "attach",
        json!({"ns": "h1", "switch": "s1", "ip": "198.18.3.1/24"}),
    )
    .unwrap();
    assert_eq!(r.plan.wiring.len(), 1, "the wiring is in the report");
    change(
        &f,
        "attach",
        json!({"ns": "h2", "switch": "s1", "via": "veth"}),
    )
    .unwrap();
    // another address on an attached end: refused without replace
    let e = change(
        &f,
        "attach",
        json!({"ns": "h1", "switch": "s1", "ip": "198.18.3.9/24"}),
    )
    .unwrap_err();
    assert!(matches!(e, ChangeError::Refused(_)), "{e}");
    let r = change(
        &f,
        "attach",
        json!({"ns": "h1", "switch": "s1", "ip": "198.18.3.9/24", "replace": true}),
    )
    .unwrap();
    assert!(!r.plan.steps.is_empty());
    // a switch deleted names the ports that went with it
    let r = change(&f, "switch.del", json!({"names": ["s1"]})).unwrap();
    assert_eq!(r.removed_ports.len(), 2, "{:?}", r.removed_ports);
    // deleting what is not there is an error, as with ip
    let e = change(&f, "switch.del", json!({"names": ["s1"]})).unwrap_err();
    assert!(matches!(e, ChangeError::Plan(_)), "{e}");
    // validation alone touches nothing
    let c = Change::from_params("ns.add", json!({"names": ["bad/name"]})).unwrap();
    assert!(matches!(validate(&c), Err(ChangeError::Invalid(_))));
}
