//! What hosts run and are set to, on the real kernel: an iperf3 server
//! kept running in a host (`run`), reached by its host's name from the
//! other host (`/etc/netns/NAME/hosts`, through `swctl ns exec` and
//! `ip netns exec`); killed by hand it is drift in words (how it ended)
//! and `apply` starts it again; its log read by `swctl logs`; sysctls set,
//! changed by hand, put back (`sysctl` as the oracle); one-shot commands
//! run once, again when the list changes, a failing one exits 1 with its
//! output; `destroy` leaves no process and no hosts file; a host deleted
//! by hand leaves its process to `gc`; a machine-wide sysctl is refused.

mod common;

use std::time::{Duration, Instant};

use common::{Lab, sh, text, write};

fn lab_text(p: &str, port: u16, exec: &str) -> String {
    format!(
        r#"name = "{p}"
[switches.{p}s]
backend = "bridge"
[hosts.{p}a]
sysctls = {{ "net.ipv4.conf.all.rp_filter" = 2, "net.ipv4.ip_default_ttl" = "32" }}
exec = [{exec}]
run = [{{ name = "iperf", cmd = "iperf3 -s -p {port} -B 198.18.70.1" }}]
[[hosts.{p}a.ports]]
switch = "{p}s"
ip = "198.18.70.1/24"
[hosts.{p}b]
[[hosts.{p}b.ports]]
switch = "{p}s"
ip = "198.18.70.2/24"
"#
    )
}

/// `iperf3 -c NAME -n 1M` from `from` (by the lab's name), retried up to 3 s
/// while the server is not yet listening: whether it got through.
fn iperf_by_name(from: &str, to: &str, port: u16) -> Result<(), String> {
    let t = Instant::now();
    loop {
        let o = sh(&[
            env!("CARGO_BIN_EXE_swctl"),
            "ns",
            "exec",
            from,
            "--",
            "iperf3",
            "-c",
            to,
            "-p",
            &port.to_string(),
            "-n",
            "1M",
        ]);
        if o.status.success() {
            return Ok(());
        }
        if t.elapsed() > Duration::from_secs(3) {
            let t = text(&o);
            return Err(t[t.len().saturating_sub(600)..].to_string());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sysctl(ns: &str, key: &str) -> String {
    let o = sh(&["ip", "netns", "exec", ns, "sysctl", "-n", key]);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The pids of this test's iperf3 server (by its unique port): the
/// iperf3 processes only, not its shell or supervisor.
fn servers(port: u16) -> Vec<String> {
    let o = sh(&["pgrep", "-a", "-x", "iperf3"]);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(&format!("-s -p {port} ")))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

#[test]
fn a_host_runs_its_processes_names_its_neighbours_and_keeps_its_settings() {
    let lab = Lab::new("hr");
    let p = lab.p.clone();
    let (a, b) = (lab.name("a"), lab.name("b"));
    let port = 5700 + (std::process::id() % 200) as u16;
    let out = format!("/tmp/swctl-test-{p}-exec");
    let _ = std::fs::remove_file(&out);
    let exec = format!(r#""cat /proc/sys/net/ipv4/conf/all/rp_filter >> {out}""#);
    let f = write(&lab, "h.toml", &lab_text(&p, port, &exec));
    lab.ok(&["apply", &f]);

    // the server runs in a, reached from b by a's name
    iperf_by_name(&b, &a, port).expect("iperf3 -c a from b");
    let hosts = std::fs::read_to_string(format!("/etc/netns/{b}/hosts")).unwrap();
    assert!(hosts.contains(&format!("198.18.70.1\t{a}\n")), "{hosts}");
    let o = sh(&["ip", "netns", "exec", &b, "getent", "hosts", &a]);
    assert!(
        text(&o).starts_with("198.18.70.1"),
        "ip netns exec: {}",
        text(&o)
    );
    // the sysctls, and the one-shot command ran after them, once
    assert_eq!(sysctl(&a, "net.ipv4.conf.all.rp_filter"), "2");
    assert_eq!(sysctl(&a, "net.ipv4.ip_default_ttl"), "32");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "2\n");
    assert!(lab.swctl(&["status", &f]).status.success());
    lab.ok(&["apply", &f]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "2\n", "ran once");

    // killed by hand: drift in words, started again by apply
    let pids = servers(port);
    assert_eq!(pids.len(), 1, "{pids:?}");
    sh(&["kill", "-TERM", &pids[0]]);
    let t = Instant::now();
    while !servers(port).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(5), "iperf3 did not end");
        std::thread::sleep(Duration::from_millis(10));
    }
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    assert!(
        text(&st).contains(&format!("missing  process iperf in {a} (")),
        "{}",
        text(&st)
    );
    lab.ok(&["apply", &f]);
    iperf_by_name(&b, &a, port).expect("iperf3 again");
    let logs = lab.ok(&["logs", &a, "iperf"]);
    assert!(logs.contains("running (pid"), "{logs}");
    // the same over the API
    let srv = common::serve::Server::start(&lab);
    let v = srv.call("logs", serde_json::json!({"host": a, "name": "iperf"}));
    assert_eq!(v["result"]["procs"][0]["state"]["state"], "running", "{v}");
    let lines = v["result"]["procs"][0]["lines"].to_string();
    assert!(lines.contains("Server listening on"), "{v}");
    let v = srv.call("logs", serde_json::json!({"host": b}));
    assert!(
        v["error"]["message"]
            .to_string()
            .contains("runs no process"),
        "{v}"
    );
    drop(srv);
    assert!(logs.contains("Server listening on"), "{logs}");
    assert!(
        logs.contains("-- swctl: killed by signal 15") || logs.contains("exited with status"),
        "{logs}"
    );

    // a sysctl changed by hand: drift, put back
    sh(&[
        "ip",
        "netns",
        "exec",
        &a,
        "sysctl",
        "-w",
        "net.ipv4.ip_default_ttl=64",
    ]);
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    lab.ok(&["apply", &f]);
    assert_eq!(sysctl(&a, "net.ipv4.ip_default_ttl"), "32");

    // the command list changed: it runs again; a failing one exits 1 with
    // its output
    let f2 = write(
        &lab,
        "h2.toml",
        &lab_text(&p, port, &format!("{exec}, \"echo again >> {out}\"")),
    );
    lab.ok(&["apply", &f2]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "2\n2\nagain\n");
    let bad = write(
        &lab,
        "bad.toml",
        &lab_text(&p, port, "\"echo oops >&2; exit 7\""),
    );
    let o = lab.swctl(&["apply", &bad]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("exited with status 7") && text(&o).contains("oops"),
        "{}",
        text(&o)
    );

    // destroy: no process, no hosts file
    lab.ok(&["destroy", &f]);
    assert!(
        servers(port).is_empty(),
        "left running: {:?}",
        servers(port)
    );
    assert!(!std::path::Path::new(&format!("/etc/netns/{a}")).exists());

    // a host deleted by hand: its process is gc's
    lab.ok(&["apply", &f]);
    iperf_by_name(&b, &a, port).expect("iperf3 once more");
    sh(&["ip", "netns", "del", &a]);
    assert_eq!(
        servers(port).len(),
        1,
        "the process outlives its host's name"
    );
    lab.ok(&["gc"]);
    assert!(servers(port).is_empty(), "gc left: {:?}", servers(port));
    lab.ok(&["destroy", &f]);
    let _ = std::fs::remove_file(&out);
}

#[test]
fn a_machine_wide_sysctl_is_refused() {
    let lab = Lab::new("hm");
    let p = lab.p.clone();
    let f = write(
        &lab,
        "m.toml",
        &format!("name = \"{p}\"\n[hosts.{p}a]\nsysctls = {{ \"kernel.pid_max\" = 4194304 }}\n"),
    );
    let o = lab.swctl(&["apply", &f]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the others are the machine's"),
        "{}",
        text(&o)
    );
    assert!(lab.namespaces().is_empty());
}
