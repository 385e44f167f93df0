//! The topology commands as use cases, without root: a request (the very
//! type the CLI parses and the API deserializes) made into a job and run
//! on the fake system, answered with a typed report whose JSON is the
//! shared vocabulary; progress heard through the handle the caller passes.

use serde_json::json;
use swctl::effect::fake::Fake;
use swctl::lab::events::Events;
use swctl::lab::request::lab::{Apply, Destroy, Gc, Plan, Status};
use swctl::lab::topo::{TopoError, TopoJob, TopoReport, Verb, run};

const LAB: &str = r#"
name = "tp1"
backend = "ovs"

[switches.tp1-s]

[hosts.tp1-a]
[[hosts.tp1-a.ports]]
switch = "tp1-s"
via = "veth"
ip = ["198.18.44.1/24"]

[hosts.tp1-b]
[[hosts.tp1-b.ports]]
switch = "tp1-s"
via = "internal"
ip = ["198.18.44.2/24"]
"#;

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn lab(r: TopoReport) -> Box<swctl::lab::topo::LabReport> {
    match r {
        TopoReport::Lab(l) => l,
        TopoReport::Check(_) => panic!("a lab report"),
    }
}

#[test]
fn a_topology_request_runs_as_a_use_case_and_answers_a_report() {
    let dir = std::env::temp_dir().join(format!("swctl-topo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // run state (the labs' records) in a directory of this test's own
    unsafe { std::env::set_var("SWCTL_RUN_DIR", dir.join("run")) };
    let file = dir.join("tp1.toml");
    std::fs::write(&file, LAB).unwrap();
    let file = Some(file.display().to_string());
    let f = Fake::with_ovs("netdev");
    let none = Events::none();

    let plan: Plan = serde_json::from_value(json!({"file": file})).unwrap();
    let r = lab(block(run(&f, TopoJob::plan(&plan).unwrap(), &none)).unwrap());
    assert_eq!(r.command, Verb::Plan);
    assert!(r.changes > 5, "{}", r.changes);
    assert!(
        f.calls().is_empty(),
        "a plan touches nothing: {:?}",
        f.calls()
    );
    let v = serde_json::to_value(&r).unwrap();
    for k in [
        "command",
        "topology",
        "changes",
        "steps",
        "wiring",
        "elapsed_ms",
    ] {
        assert!(v.get(k).is_some(), "{k} in {v}");
    }
    assert_eq!(v["topology"], "tp1");
    assert!(v["steps"][0]["command"].is_string(), "{v}");
    assert_eq!(v["wiring"].as_array().unwrap().len(), 2, "{v}");

    // an apply reports its start, progress and end to whoever listens
    let events = Events::channel();
    let mut heard = events.subscribe();
    let apply: Apply = serde_json::from_value(json!({"file": file})).unwrap();
    let r = lab(block(run(&f, TopoJob::apply(&apply).unwrap(), &events)).unwrap());
    assert_eq!(r.changes, v["changes"].as_u64().unwrap() as usize);
    let mut phases = vec![];
    while let Ok(e) = heard.try_recv() {
        assert_eq!(e.lab, "tp1");
        phases.push(e.body["phase"].as_str().unwrap().to_string());
    }
    assert_eq!(phases.first().map(String::as_str), Some("started"));
    assert_eq!(phases.last().map(String::as_str), Some("finished"));
    assert!(phases.iter().any(|p| p == "progress"), "{phases:?}");

    let status: Status = serde_json::from_value(json!({"file": file})).unwrap();
    let r = block(run(&f, TopoJob::status(&status).unwrap(), &none)).unwrap();
    assert_eq!(r.exit_code(), 0);
    assert_eq!(lab(r).in_sync, Some(true));

    // a host deleted by hand: drift, exit 3, the namespace named missing
    f.sys
        .lock()
        .unwrap()
        .namespaces
        .remove(&"tp1-a".parse().unwrap());
    let r = block(run(&f, TopoJob::status(&status).unwrap(), &none)).unwrap();
    assert_eq!(r.exit_code(), 3);
    let r = lab(r);
    let d = r.drift.as_ref().unwrap();
    assert!(d.missing.iter().any(|m| m.contains("tp1-a")), "{d:?}");
    assert!(r.changes > 0);
    // by name: the same lab, found through its record
    let by_name: Status = serde_json::from_value(json!({"name": "tp1"})).unwrap();
    let r = block(run(&f, TopoJob::status(&by_name).unwrap(), &none)).unwrap();
    assert_eq!(r.exit_code(), 3);

    let r = lab(block(run(&f, TopoJob::apply(&apply).unwrap(), &none)).unwrap());
    assert!(r.changes > 0, "repaired");
    let r = block(run(&f, TopoJob::status(&status).unwrap(), &none)).unwrap();
    assert_eq!(r.exit_code(), 0, "in sync again");

    let destroy: Destroy = serde_json::from_value(json!({"name": "tp1"})).unwrap();
    let r = lab(block(run(&f, TopoJob::destroy(&destroy).unwrap(), &none)).unwrap());
    assert_eq!(r.command, Verb::Destroy);
    assert!(r.changes >= 3, "{}", r.changes);
    assert!(f.sys.lock().unwrap().namespaces.is_empty());
    // a name nothing answers to: said, with what is applied
    let e = block(run(&f, TopoJob::destroy(&destroy).unwrap(), &none)).unwrap_err();
    assert!(matches!(e, TopoError::NoLab { .. }), "{e}");
    assert!(e.to_string().contains("no lab is applied"), "{e}");

    let r = lab(block(run(&f, TopoJob::gc(&Gc { dry_run: true }), &none)).unwrap());
    assert_eq!((r.changes, r.dry_run), (0, Some(true)));
    // a bad timeout is refused before anything runs
    let bad: Apply =
        serde_json::from_value(json!({"file": file, "check": true, "timeout": 0})).unwrap();
    assert!(matches!(TopoJob::apply(&bad), Err(TopoError::Usage(_))));
    let _ = std::fs::remove_dir_all(&dir);
}
