//! Truthful convergence on the real kernel and OVS, disturbed the way users
//! disturb labs: a host's namespace deleted by hand, then one `apply`, then
//! ONE ping at once (no retry, no sleep) must pass, for hosts on a Linux
//! bridge, on OVS by veth, on OVS by internal port, and for the gateway
//! between them; look-alike namespaces and bridges made by someone else
//! survive destroy, gc, `ns del`, `switch del`; a Linux bridge's port limit
//! refused before anything is made; imperative commands refuse to change a
//! topology's objects. Requires root and Open vSwitch.

mod common;

use common::*;

/// The lines of swctl's pending-marks record that name `p`'s devices.
fn pending_marks(p: &str) -> Vec<String> {
    std::fs::read_to_string("/run/swctl/pending.log")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(p))
        .map(String::from)
        .collect()
}

#[test]
fn a_host_deleted_by_hand_answers_at_once_after_one_apply() {
    let lab = Lab::ovs("cr");
    let f = write(&lab, "lab.toml", &two_segment_lab(&lab));
    lab.ok(&["apply", &f]);
    let n = |s: &str| lab.name(s);
    // warm every neighbour cache the way a running lab has it
    for (from, to) in [
        ("h1", "198.18.60.2"),
        ("h1", "198.18.61.3"),
        ("h1", "198.18.61.4"),
        ("h3", "198.18.61.4"),
        ("h2", "198.18.61.3"),
    ] {
        ping(Some(&n(from)), to).unwrap();
    }
    // (victim, [(from, to)]): its neighbours on its segment and across the gateway
    let cases: [(&str, &[(&str, &str)]); 4] = [
        ("h2", &[("h1", "198.18.60.2"), ("h3", "198.18.60.2")]),
        ("h3", &[("h4", "198.18.61.3"), ("h1", "198.18.61.3")]),
        ("h4", &[("h3", "198.18.61.4"), ("h2", "198.18.61.4")]),
        ("gw", &[("h1", "198.18.61.3"), ("h4", "198.18.60.1")]),
    ];
    let mut failed = vec![];
    let mut tried = 0;
    for round in 0..3 {
        for (victim, probes) in &cases {
            assert!(sh(&["ip", "netns", "del", &n(victim)]).status.success());
            lab.ok(&["apply", &f]);
            for (from, to) in probes.iter() {
                tried += 1;
                if !ping_once(&n(from), to) {
                    failed.push(format!("round {round}: {victim} re-made, {from} -> {to}"));
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {tried} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let st = lab.json(&["status", &f]);
    assert_eq!(st["in_sync"], true, "{st}");
    // the re-made devices have the addresses they had: stable, local, unicast
    let links = ip_links(Some(&n("h1")));
    let eth0 = link(&links, "eth0").unwrap();
    let mac = eth0["address"].as_str().unwrap();
    let first = u8::from_str_radix(&mac[..2], 16).unwrap();
    assert_eq!(first & 3, 2, "locally administered unicast: {mac}");
    assert!(sh(&["ip", "netns", "del", &n("h1")]).status.success());
    lab.ok(&["apply", &f]);
    let again = ip_links(Some(&n("h1")));
    assert_eq!(link(&again, "eth0").unwrap()["address"], mac);
    lab.ok(&["destroy", &f]);
}

#[test]
fn look_alikes_made_by_someone_else_are_never_swctls() {
    let lab = Lab::new("cl");
    let p = lab.p.clone();
    let f = write(
        &lab,
        "lab.toml",
        &format!(
            "name = \"{p}\"\n[switches.{p}br]\n[hosts.{p}a]\n[[hosts.{p}a.ports]]\nswitch = \"{p}br\"\nip = \"198.18.62.1/24\"\n[hosts.{p}b]\n[[hosts.{p}b.ports]]\nswitch = \"{p}br\"\nip = \"198.18.62.2/24\"\n"
        ),
    );
    lab.ok(&["apply", &f]);
    let (a, br) = (lab.name("a"), lab.name("br"));
    // deleted by hand, then made again by someone else with the same names
    assert!(sh(&["ip", "netns", "del", &a]).status.success());
    assert!(sh(&["ip", "netns", "add", &a]).status.success());
    assert!(sh(&["ip", "link", "del", &br]).status.success());
    assert!(
        sh(&["ip", "link", "add", &br, "type", "bridge"])
            .status
            .success()
    );
    // apply refuses to take them over; nothing changes
    let out = lab.swctl(&["apply", &f]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "namespace {a} exists and was not created by swctl"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("switch {br}")), "{err}");
    // the imperative deletes refuse them
    let out = lab.swctl(&["ns", "del", &a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not created by swctl"));
    let out = lab.swctl(&["switch", "del", &br]);
    assert_eq!(out.status.code(), Some(2));
    // destroy and gc remove what is the lab's and nothing else
    lab.ok(&["destroy", "--name", &p]);
    lab.ok(&["gc"]);
    assert!(
        lab.namespaces().contains(&a),
        "the look-alike namespace survives"
    );
    assert!(
        link(&ip_links(None), &br).is_some(),
        "the look-alike bridge survives"
    );
    assert!(
        !lab.namespaces().contains(&lab.name("b")),
        "the lab's own host is gone"
    );
    // no stale record names it as swctl's any more
    let rec = std::fs::read_to_string(format!("/run/swctl/netns/{a}")).unwrap_or_default();
    assert!(!rec.contains(&p), "stale registry record: {rec:?}");
    // and no pending mark of the lab is left behind
    let pending = pending_marks(&p);
    assert!(pending.is_empty(), "{pending:?}");
    let list = lab.json(&["ns", "list"]);
    let entry = find_named(&list["namespaces"], &a).expect("listed");
    assert_eq!(entry["swctl"], false, "{entry}");
}

#[test]
fn a_linux_bridge_past_its_port_limit_is_refused_before_anything_is_made() {
    let lab = Lab::new("cp");
    let p = lab.p.clone();
    let mut t = format!("name = \"{p}\"\n[switches.{p}br]\nbackend = \"bridge\"\n");
    for i in 0..1024 {
        t.push_str(&format!(
            "[hosts.{p}{i}]\n[[hosts.{p}{i}.ports]]\nswitch = \"{p}br\"\n"
        ));
    }
    let f = write(&lab, "big.toml", &t);
    let out = lab.swctl(&["--json", "apply", &f]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = format!("{} {}", v["error"], v["causes"]);
    assert!(
        all.contains("at most 1023 ports") && all.contains("1024"),
        "{v}"
    );
    assert!(all.contains("OVS"), "says what to do: {v}");
    assert!(lab.namespaces().is_empty(), "nothing was made");
    assert!(link(&ip_links(None), &format!("{p}br")).is_none());
}

#[test]
fn imperative_commands_leave_a_topology_alone_unless_forced() {
    let lab = Lab::new("ci");
    let p = lab.p.clone();
    let f = write(
        &lab,
        "lab.toml",
        &format!(
            "name = \"{p}\"\n[switches.{p}br]\n[hosts.{p}a]\n[[hosts.{p}a.ports]]\nswitch = \"{p}br\"\nip = \"198.18.63.1/24\"\n[hosts.{p}b]\n[[hosts.{p}b.ports]]\nswitch = \"{p}br\"\nip = \"198.18.63.2/24\"\n"
        ),
    );
    lab.ok(&["apply", &f]);
    let (a, br) = (lab.name("a"), lab.name("br"));
    let x = lab.name("x");
    lab.ok(&["ns", "add", &x]);
    for args in [
        vec!["ns", "del", a.as_str()],
        vec!["switch", "del", br.as_str()],
        vec!["route", "add", a.as_str(), "default", "via", "198.18.63.2"],
        vec!["forward", a.as_str(), "on"],
        vec!["attach", x.as_str(), br.as_str()],
        vec!["link", a.as_str(), x.as_str()],
    ] {
        let out = lab.swctl(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?} was not refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("topology {p}"))
                && err.contains(&format!("swctl destroy --name {p}")),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let st = lab.json(&["status", &f]);
    assert_eq!(st["in_sync"], true, "nothing was changed: {st}");
    // idempotent no-ops are fine; --force does it
    lab.ok(&["ns", "add", &a]);
    lab.ok(&[
        "--force",
        "route",
        "add",
        &a,
        "default",
        "via",
        "198.18.63.2",
    ]);
    let out = lab.swctl(&["--json", "status", &f]);
    assert_eq!(out.status.code(), Some(3), "the forced route is drift");
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["in_sync"], false, "{st}");
    lab.ok(&["apply", &f]);
    lab.ok(&["ns", "del", &x]);
    lab.ok(&["destroy", &f]);
}

/// Imperative commands scripted one per host leave no pending marks: a
/// mark written on its device is settled by the command that wrote it (it
/// used to stay until a later command looked at that namespace, so the
/// record every command reads and rewrites grew by a line per attach).
#[test]
fn attaches_one_by_one_leave_no_pending_marks() {
    let lab = Lab::new("cq");
    let br = lab.name("br");
    lab.ok(&["--backend", "bridge", "switch", "add", &br]);
    let hosts: Vec<String> = (1..=3).map(|i| lab.name(&format!("h{i}"))).collect();
    let mut add = vec!["ns", "add"];
    add.extend(hosts.iter().map(String::as_str));
    lab.ok(&add);
    for (i, h) in hosts.iter().enumerate() {
        let ip = format!("198.18.64.{}/24", i + 1);
        lab.ok(&["attach", h, &br, "--ip", &ip]);
        let pending = pending_marks(&lab.p);
        assert!(pending.is_empty(), "after attach {h}: {pending:?}");
    }
    // the marks are on the devices (what the record stood in for)
    for h in &hosts {
        let eth0 = link(&ip_links(Some(h)), "eth0").cloned().expect("eth0");
        assert!(
            eth0["ifalias"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("ns={h}")),
            "{eth0}"
        );
    }
    let o = sh(&[
        "ip",
        "netns",
        "exec",
        &hosts[0],
        "ping",
        "-c",
        "1",
        "-W",
        "1",
        "198.18.64.3",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    lab.ok(&["switch", "del", &br]);
    let mut del = vec!["ns", "del"];
    del.extend(hosts.iter().map(String::as_str));
    lab.ok(&del);
}

/// `swctl attach` killed at each of its requests in turn (the test hooks'
/// SWCTL_TEST_KILL_AT): the same attach run again makes the port whole —
/// it reads only part of the host (the switch, its number of ports, its own
/// switch end), which must still show the leftovers of the killed run —
/// and the host answers a ping at once; no pending mark stays behind.
#[cfg(feature = "test-hooks")]
#[test]
fn an_attach_killed_at_every_request_is_made_whole_by_the_next() {
    let lab = Lab::new("ck");
    let br = lab.name("br");
    let (a, b) = (lab.name("a"), lab.name("b"));
    lab.ok(&["--backend", "bridge", "switch", "add", &br]);
    lab.ok(&["ns", "add", &a, &b]);
    lab.ok(&["attach", &b, &br, "--ip", "198.18.65.2/24"]);
    let mut k = 1;
    loop {
        assert!(k < 60, "an attach of more than 60 requests");
        let mut c = std::process::Command::new("timeout");
        c.args([
            "60",
            env!("CARGO_BIN_EXE_swctl"),
            "attach",
            &a,
            &br,
            "--ip",
            "198.18.65.1/24",
        ]);
        c.env("SWCTL_TEST_KILL_AT", k.to_string());
        let out = c.output().unwrap();
        if out.status.code().is_some() {
            // k is past the last request: the whole attach ran
            assert!(out.status.success(), "k={k}: {}", text(&out));
            break;
        }
        lab.ok(&["attach", &a, &br, "--ip", "198.18.65.1/24"]);
        let o = sh(&[
            "ip",
            "netns",
            "exec",
            &b,
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "198.18.65.1",
        ]);
        assert!(o.status.success(), "after kill at {k}: {}", text(&o));
        let again = lab.ok(&["attach", &a, &br, "--ip", "198.18.65.1/24"]);
        assert!(
            again.contains("nothing to change"),
            "after kill at {k}: {again}"
        );
        lab.ok(&["detach", &a, &br]);
        k += 1;
    }
    assert!(k > 3, "the attach was killed at {} requests only", k - 1);
    let pending = pending_marks(&lab.p);
    assert!(pending.is_empty(), "{pending:?}");
    lab.ok(&["switch", "del", &br]);
    lab.ok(&["ns", "del", &a, &b]);
}

/// `swctl attach` checks a bridge's port limit from how many ports the
/// bridge has, counted without reading them (`model::part`): beside 1022
/// ports made by someone else one attach fits (the 1023rd port) and the
/// next is refused before anything is made, the count taken by `ip link
/// show master BR` as the oracle.
#[test]
fn an_attach_to_a_full_bridge_is_refused_before_anything_is_made() {
    let lab = Lab::new("cl");
    let p = lab.p.clone();
    let br = lab.name("br");
    lab.ok(&["--backend", "bridge", "switch", "add", &br]);
    // their other ends in a namespace of their own: deleting it takes all
    // 1022 pairs away in one batch of the kernel's (one by one, each
    // deletion waits for its own RCU grace period: ~10 s)
    let far = lab.name("x");
    lab.ok(&["ns", "add", &far]);
    let pairs: String = (0..1022)
        .map(|i| format!("link add {p}f{i} master {br} type veth peer name g{i} netns {far}\n"))
        .collect();
    let add = write(&lab, "add.batch", &pairs);
    let o = sh(&["ip", "-batch", &add]);
    assert!(o.status.success(), "{}", text(&o));
    let ports = || {
        let out = sh(&["ip", "-j", "link", "show", "master", &br]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array().map_or(0, Vec::len)
    };
    assert_eq!(ports(), 1022);
    let (a, b) = (lab.name("a"), lab.name("b"));
    lab.ok(&["ns", "add", &a, &b]);
    lab.ok(&["attach", &a, &br, "--ip", "198.18.66.1/24"]);
    assert_eq!(ports(), 1023);
    let out = lab.swctl(&["--json", "attach", &b, &br, "--ip", "198.18.66.2/24"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = format!("{} {}", v["error"], v["causes"]);
    assert!(
        all.contains("at most 1023 ports") && all.contains("1024"),
        "{v}"
    );
    assert_eq!(ports(), 1023, "nothing was made on the bridge");
    let in_b: Vec<_> = ip_links(Some(&b))
        .into_iter()
        .filter(|l| l["ifname"] != "lo")
        .collect();
    assert!(in_b.is_empty(), "nothing was made in {b}: {in_b:?}");
    lab.ok(&["ns", "del", &far]);
    let t = std::time::Instant::now();
    while ports() > 1 {
        assert!(t.elapsed().as_secs() < 30, "the pairs are not gone");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // room again: the attach goes through
    lab.ok(&["attach", &b, &br, "--ip", "198.18.66.2/24"]);
    lab.ok(&["switch", "del", &br]);
    lab.ok(&["ns", "del", &a, &b]);
}
