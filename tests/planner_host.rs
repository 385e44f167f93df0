//! What hosts run and are set to, in the planner, on the fake (no root):
//! sysctls, the hosts file, one-shot commands and processes read from a
//! topology file, planned, applied through `HostRuns` (the fake keeps
//! them), converged; a process that ended is started again with how it
//! ended in the drift; a changed command restarts it; a host made again
//! runs its commands again and its processes anew; dropped from the file
//! or destroyed: stopped, the hosts file gone; an imperative command
//! leaves them alone; a sysctl the kernel lacks refused before anything.

use swctl::effect::apply::apply;
use swctl::effect::fake::Fake;
use swctl::effect::observe::observe;
use swctl::effect::{HostRuns, Namespaces};
use swctl::lab::scan_for;
use swctl::lab::topology::parse;
use swctl::model::host::HostStep;
use swctl::model::host::ProcState;
use swctl::model::names::{NsName, Owner};
use swctl::model::*;
use swctl::plan::{PlanError, Scope, Step, plan};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn lab(h1: &str) -> Desired {
    let text = format!(
        r#"
name = "hr"
[switches.sw0]
backend = "bridge"
[hosts.h1]
{h1}
[[hosts.h1.ports]]
switch = "sw0"
ip = "198.18.0.1/24"
[hosts.h2]
[[hosts.h2.ports]]
switch = "sw0"
ip = "198.18.0.2/24"
"#
    );
    parse(&text, false, "hr.toml").unwrap().desired
}

const FULL: &str = r#"sysctls = { "net.ipv4.conf.all.rp_filter" = 2 }
exec = ["echo ready"]
run = ["iperf3 -s", { name = "web", cmd = "python3 -m http.server" }]"#;

fn ns(s: &str) -> NsName {
    s.parse().unwrap()
}

fn host_steps(p: &swctl::plan::Plan) -> Vec<&HostStep> {
    p.steps
        .iter()
        .filter_map(|s| match s {
            Step::Host(h) => Some(h),
            _ => None,
        })
        .collect()
}

#[test]
fn what_hosts_run_is_made_kept_and_taken_away() {
    let d = lab(FULL);
    let f = Fake::new();
    let scan = scan_for(&d);
    rt().block_on(async {
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert!(text.contains(&"ip netns exec h1 sysctl -w net.ipv4.conf.all.rp_filter=2".to_string()), "{text:#?}");
        // processes last, after the one-shot commands, in the file's order
        let hs = host_steps(&p);
        let kinds: Vec<String> = hs
            .iter()
            .map(|h| match h {
                HostStep::WriteHosts { ns, .. } => format!("hosts {ns}"),
                HostStep::RunExec { ns, .. } => format!("exec {ns}"),
                HostStep::StartProc { name, .. } => format!("start {name}"),
                other => format!("{other}"),
            })
            .collect();
        assert_eq!(kinds, ["hosts h1", "hosts h2", "exec h1", "start iperf3", "start web"]);
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan).await.unwrap();
        assert!(plan(&d, &o, &Scope::Owner).unwrap().is_empty());
        let hosts = o.namespaces[&ns("h2")].host.hosts_file.clone().unwrap();
        assert!(hosts.starts_with("# swctl:1 owner=hr"), "{hosts}");
        // one text for the lab's hosts, in the file and as read back (a
        // copy each was O(hosts²) memory)
        let shared = |a: &Option<std::sync::Arc<str>>, b: &Option<std::sync::Arc<str>>| {
            std::sync::Arc::ptr_eq(a.as_ref().unwrap(), b.as_ref().unwrap())
        };
        assert!(shared(&d.namespaces[&ns("h1")].hosts, &d.namespaces[&ns("h2")].hosts));
        let read = |n: &str| o.namespaces[&ns(n)].host.hosts_file.clone();
        assert!(shared(&read("h1"), &read("h2")));
        assert!(hosts.contains("198.18.0.1\th1\n") && hosts.contains("198.18.0.2\th2\n"), "{hosts}");

        // a process ends: started again, how it ended in the drift
        f.end_proc(&ns("h1"), "web", "exited with status 1");
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&d, &o, &Scope::Owner).unwrap();
        let drift = swctl::lab::drift::drift(&p);
        assert_eq!(
            drift.missing,
            ["process web in h1 (exited with status 1; its log ends: web: the end)"]
        );
        apply(&f, &p, false).await.unwrap();
        // its command changed: stopped, started again (said once)
        let d2 = lab(&FULL.replace("python3 -m http.server", "python3 -m http.server 8081"));
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&d2, &o, &Scope::Owner).unwrap();
        let drift = swctl::lab::drift::drift(&p);
        assert_eq!(
            drift.differs,
            ["process web in h1 runs `python3 -m http.server`, the file says `python3 -m http.server 8081`"]
        );
        assert!(drift.missing.is_empty(), "{drift:#?}");
        apply(&f, &p, false).await.unwrap();
        // the commands changed: run again; a sysctl changed by hand: set again
        let d3 = lab(&FULL.replace("echo ready", "echo steady"));
        f.set_sysctl(&swctl::model::names::Loc::Ns(ns("h1")), "net.ipv4.conf.all.rp_filter", "0").unwrap();
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&d3, &o, &Scope::Owner).unwrap();
        let drift = swctl::lab::drift::drift(&p);
        assert!(drift.differs.iter().any(|w| w == "h1: its commands changed since they ran"), "{drift:#?}");
        assert!(p.steps.iter().any(|s| matches!(s, Step::SetSysctl { .. })), "{:#?}", p.steps);

        // an imperative command leaves the lab's processes alone
        let mut route = Desired::new(Owner::cli());
        route.namespaces.insert(ns("h1"), NsSpec::default());
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&route, &o, &Scope::Nothing).unwrap();
        assert!(host_steps(&p).is_empty(), "{:#?}", p.steps);

        // the host made again (deleted by hand): commands run again,
        // processes started anew
        f.delete_ns(&[ns("h1")]).await;
        let o = observe(&f, &scan).await.unwrap();
        let p = plan(&d3, &o, &Scope::Owner).unwrap();
        let hs = host_steps(&p);
        assert!(hs.iter().any(|h| matches!(h, HostStep::RunExec { why, .. } if why.starts_with("new"))), "{hs:#?}");
        apply(&f, &p, false).await.unwrap();
        let o = observe(&f, &scan).await.unwrap();
        assert!(plan(&d3, &o, &Scope::Owner).unwrap().is_empty());
        let h1 = &o.namespaces[&ns("h1")].host;
        assert!(h1.procs.iter().all(|p| p.state == ProcState::Running && Some(p.ns_id) == h1.ns_id));

        // dropped from the file: stopped; destroyed: the rest goes
        let fewer = lab("run = [\"iperf3 -s\"]");
        let p = plan(&fewer, &o, &Scope::Owner).unwrap();
        let hs = host_steps(&p);
        assert!(
            hs.iter().any(|h| matches!(h, HostStep::StopProc { name, why: None, .. } if name == "web")),
            "{hs:#?}"
        );
        let p = plan(&Desired::new("hr".parse().unwrap()), &o, &Scope::Owner).unwrap();
        apply(&f, &p, false).await.unwrap();
        for n in ["h1", "h2"] {
            let h = f.read_host(&ns(n), &[]).await;
            assert!(h.procs.is_empty() && h.hosts_file.is_none(), "{n}: {h:#?}");
        }
    });
}

#[test]
fn a_sysctl_the_kernel_lacks_is_refused_before_anything() {
    let d = lab(r#"sysctls = { "net.ipv4.no_such_thing" = 1 }"#);
    let f = Fake::new();
    f.missing_sysctls
        .lock()
        .unwrap()
        .insert("net.ipv4.no_such_thing".into());
    rt().block_on(async {
        // the host exists (its keys are read there)
        f.create_ns(&[ns("h1")], &"hr".parse().unwrap()).await;
        let o = observe(&f, &scan_for(&d)).await.unwrap();
        let e = plan(&d, &o, &Scope::Owner).unwrap_err();
        assert!(matches!(e, PlanError::NoSysctl { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("h1 has no sysctl net.ipv4.no_such_thing"),
            "{e}"
        );
    });
}
