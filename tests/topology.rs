//! Topology files end to end on the real kernel (and OVS): apply twice
//! (the second changes nothing), status, check with real packets, repair
//! after hand-made damage, foreign look-alikes never touched, validation
//! errors that change nothing, and kill -9 of `swctl apply` before each of
//! its netlink/OVSDB requests, after which apply converges and destroy
//! leaves nothing. Requires root.

mod common;

use std::io::Write;

use common::*;

/// A small S4+S7-like lab: two hosts on a switch, a gateway with a link to
/// a third host, routes through it.
fn lab_toml(lab: &Lab, backend: &str, net: u8) -> String {
    let p = &lab.p;
    let via = if backend == "ovs" { "internal" } else { "auto" };
    format!(
        r#"
name = "{p}"
backend = "{backend}"

[switches.{p}sw]

[hosts.{p}h1]
routes = [{{ to = "198.19.{net}.0/24", via = "198.18.{net}.254" }}]
[[hosts.{p}h1.ports]]
switch = "{p}sw"
ip = ["198.18.{net}.1/24"]
via = "{via}"

[hosts.{p}gw]
forward = true
[[hosts.{p}gw.ports]]
switch = "{p}sw"
ip = ["198.18.{net}.254/24"]
via = "{via}"

[hosts.{p}h2]
routes = [{{ to = "default", via = "198.19.{net}.254" }}]

[[links]]
a = "{p}gw"
b = "{p}h2"
a_ip = ["198.19.{net}.254/24"]
b_ip = ["198.19.{net}.1/24"]
"#
    )
}

fn write_file(lab: &Lab, name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}-{name}", lab.p));
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    path.display().to_string()
}

/// Nothing of the topology is left: namespaces, host links, OVS rows.
fn assert_clean(lab: &Lab) {
    assert!(
        lab.namespaces().is_empty(),
        "namespaces left: {:?}",
        lab.namespaces()
    );
    assert!(
        lab.host_links().is_empty(),
        "host links left: {:?}",
        lab.host_links()
    );
    if let Some(addr) = &lab.ovsdb {
        let brs = vsctl_ok(addr, &["list-br"]);
        assert!(
            !brs.lines().any(|b| b.starts_with(&lab.p)),
            "OVS bridges left: {brs}"
        );
    }
    assert!(!std::path::Path::new(&format!("/run/swctl/topologies/{}", lab.p)).exists());
}

fn apply_check_status_destroy(lab: &Lab, backend: &str, net: u8) {
    let f = write_file(lab, "lab.toml", &lab_toml(lab, backend, net));
    let plan = lab.json(&["plan", &f]);
    let n = plan["steps"].as_array().unwrap().len();
    assert!(n > 5, "{plan}");
    assert!(lab.namespaces().is_empty(), "plan changed something");
    let v = lab.json(&["apply", &f]);
    assert_eq!(v["changes"].as_u64().unwrap() as usize, n);
    // the second apply changes nothing and says so
    let again = lab.ok(&["apply", &f]);
    assert!(again.contains("nothing to change"), "{again}");
    let st = lab.json(&["status", &f]);
    assert_eq!(st["drift"]["in_sync"], true, "{st}");
    let c = lab.json(&["check", &f]);
    assert_eq!(c["failed"], 0, "{c}");
    assert!(c["pairs"].as_array().unwrap().len() >= 6, "{c}");
    // h1 reaches h2 through the gateway: TTL 63
    let out = ping(Some(&lab.name("h1")), &format!("198.19.{net}.1")).unwrap();
    assert!(out.contains("ttl=63"), "{out}");
    lab.ok(&["destroy", &f]);
    assert_clean(lab);
}

#[test]
fn topology_on_the_bridge_backend() {
    let lab = Lab::new("ta");
    apply_check_status_destroy(&lab, "bridge", 50);
}

#[test]
fn topology_on_the_ovs_backend() {
    let lab = Lab::ovs("tb");
    apply_check_status_destroy(&lab, "ovs", 51);
}

#[test]
fn apply_repairs_hand_made_damage_and_status_shows_it() {
    let lab = Lab::new("tc");
    let f = write_file(&lab, "lab.toml", &lab_toml(&lab, "bridge", 52));
    lab.ok(&["apply", &f]);
    let h1 = lab.name("h1");
    let h2 = lab.name("h2");
    // someone deletes h1's port and an address of h2
    assert!(
        sh(&["ip", "-n", &h1, "link", "del", "eth0"])
            .status
            .success()
    );
    let h2_dev = lab.name("gw");
    assert!(
        sh(&[
            "ip",
            "-n",
            &h2,
            "addr",
            "del",
            "198.19.52.1/24",
            "dev",
            &h2_dev
        ])
        .status
        .success()
    );
    let out = lab.swctl(&["status", &f]);
    assert_eq!(out.status.code(), Some(3), "status exit code on drift");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("missing") && text.contains("differs"),
        "{text}"
    );
    lab.ok(&["apply", &f]);
    assert_eq!(lab.json(&["status", &f])["drift"]["in_sync"], true);
    assert_eq!(lab.json(&["check", &f])["failed"], 0);
    // the file loses h2: apply removes exactly what the file no longer has
    let smaller = lab_toml(&lab, "bridge", 52);
    let cut = smaller.find(&format!("[hosts.{}h2]", lab.p)).unwrap();
    let smaller = smaller[..cut].to_string();
    let f2 = write_file(&lab, "smaller.toml", &smaller);
    let v = lab.json(&["apply", &f2]);
    assert!(v["changes"].as_u64().unwrap() >= 1);
    assert!(!lab.namespaces().contains(&h2));
    assert!(lab.namespaces().contains(&h1));
    lab.ok(&["destroy", "--name", &lab.p]);
    assert_clean(&lab);
}

#[test]
fn foreign_look_alikes_are_never_touched() {
    let lab = Lab::new("td");
    let p = lab.p.clone();
    // made by hand: a namespace and a bridge with similar names, and a
    // veth with a name like the ones swctl derives
    let ns = format!("{p}h1x");
    assert!(sh(&["ip", "netns", "add", &ns]).status.success());
    let br = format!("{p}swx");
    assert!(
        sh(&["ip", "link", "add", &br, "type", "bridge"])
            .status
            .success()
    );
    let ve = format!("{}-aaaaaa", &lab.name("h1")[..8]);
    assert!(
        sh(&[
            "ip",
            "link",
            "add",
            &ve,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{p}pe")
        ])
        .status
        .success()
    );
    let f = write_file(&lab, "lab.toml", &lab_toml(&lab, "bridge", 53));
    lab.ok(&["apply", &f]);
    lab.ok(&["destroy", &f]);
    lab.ok(&["gc"]);
    assert!(lab.namespaces().contains(&ns));
    let links = ip_links(None);
    assert!(link(&links, &br).is_some());
    assert!(link(&links, &ve).is_some());
    // a namespace with exactly a wanted name, made by hand: apply refuses
    let h1 = lab.name("h1");
    assert!(sh(&["ip", "netns", "add", &h1]).status.success());
    let out = lab.swctl(&["apply", &f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not created by swctl"));
    assert_eq!(
        lab.namespaces().len(),
        2,
        "apply changed something: {:?}",
        lab.namespaces()
    );
}

#[test]
fn a_bad_file_reports_every_problem_and_changes_nothing() {
    let lab = Lab::new("te");
    let p = &lab.p;
    let bad = format!(
        r#"
name = "{p}"
[switches.{p}sw]
[hosts.{p}h1]
[[hosts.{p}h1.ports]]
switch = "{p}sw"
ip = ["198.18.54.1/33"]
ifname = "a-very-long-interface-name"
[[hosts.{p}h1.ports]]
switch = "nosuch"
[[links]]
a = "{p}h1"
b = "{p}h9"
"#
    );
    let f = write_file(&lab, "bad.toml", &bad);
    for cmd in ["plan", "apply", "status", "check"] {
        let out = lab.swctl(&[cmd, &f]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        for needle in [
            format!("hosts.{p}h1.ports[0].ip[0]"),
            format!("hosts.{p}h1.ports[0].ifname"),
            format!("hosts.{p}h1.ports[1].switch"),
            "links[0].b".to_string(),
        ] {
            assert!(err.contains(&needle), "{cmd}: {needle} not in {err}");
        }
    }
    assert!(lab.namespaces().is_empty());
    assert!(lab.host_links().is_empty());
}

/// kill -9 of `swctl apply` right before its k-th netlink/OVSDB request,
/// for every k: the next apply converges, check passes, destroy cleans up.
/// The hook exists only in a build with the `test-hooks` feature (the test
/// suite's; never a release build), and so do these tests.
#[cfg(feature = "test-hooks")]
fn crash_at_every_request(lab: &Lab, backend: &str, net: u8) {
    let f = write_file(lab, "lab.toml", &lab_toml(lab, backend, net));
    // an apply reads every namespace on the machine (any may be swctl's):
    // other namespaces there add requests (seen: 300 left by hand made
    // this bound of 400 too small)
    let others = std::fs::read_dir("/run/netns").map_or(0, |d| d.count());
    let bound = 400 + 2 * others;
    let mut k = 1;
    loop {
        let mut c = std::process::Command::new("timeout");
        c.args(["60", env!("CARGO_BIN_EXE_swctl"), "apply", &f]);
        for (key, v) in &lab.env {
            c.env(key, v);
        }
        c.env("SWCTL_TEST_KILL_AT", k.to_string());
        let out = c.output().unwrap();
        let killed = out.status.code().is_none();
        if !killed {
            // k is past the last request: the whole apply ran
            assert!(
                out.status.success(),
                "k={k}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            break;
        }
        let out = lab.swctl(&["apply", &f]);
        assert!(
            out.status.success(),
            "apply after kill at request {k} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let st = lab.json(&["status", &f]);
        assert_eq!(st["drift"]["in_sync"], true, "after kill at {k}: {st}");
        let chk = lab.json(&["check", &f]);
        assert_eq!(chk["failed"], 0, "after kill at {k}: {chk}");
        lab.ok(&["destroy", &f]);
        assert_clean(lab);
        k += 1;
        assert!(k < bound, "apply never finished (within {bound} requests)");
    }
    // the hook really killed apply at each of its requests
    assert!(
        k > 10,
        "only {} kills: is the test hook compiled in?",
        k - 1
    );
    lab.ok(&["destroy", &f]);
    assert_clean(lab);
}

#[cfg(feature = "test-hooks")]
#[test]
fn kill_9_at_every_request_then_apply_converges_bridge() {
    let lab = Lab::new("tf");
    crash_at_every_request(&lab, "bridge", 55);
}

#[cfg(feature = "test-hooks")]
#[test]
fn kill_9_at_every_request_then_apply_converges_ovs() {
    let lab = Lab::ovs("tg");
    crash_at_every_request(&lab, "ovs", 56);
}

/// A destroy that never happened (the registry entry lost, as after a
/// crash with a wiped /run/swctl/topologies): gc finds the leftovers by
/// their marks.
#[test]
fn gc_removes_leftovers_of_topologies_that_are_gone() {
    let lab = Lab::new("th");
    let f = write_file(&lab, "lab.toml", &lab_toml(&lab, "bridge", 57));
    lab.ok(&["apply", &f]);
    std::fs::remove_file(format!("/run/swctl/topologies/{}", lab.p)).unwrap();
    // --dry-run: says what would go (each step), removes nothing
    let before = lab.namespaces();
    let names_it = |v: &serde_json::Value| {
        let owners = v["removed_owners"].as_array().unwrap();
        assert!(owners.iter().any(|o| o == lab.p.as_str()), "{v}");
    };
    let v = lab.json(&["gc", "--dry-run"]);
    assert_eq!(v["dry_run"], true, "{v}");
    names_it(&v);
    assert!(
        v["steps"].as_array().unwrap().iter().any(|s| s["command"]
            .as_str()
            .is_some_and(|t| t.contains("ip netns del"))),
        "{v}"
    );
    assert_eq!(lab.namespaces(), before, "a dry run removed something");
    names_it(&lab.json(&["gc"]));
    assert_clean(&lab);
}

/// Two Linux bridges joined by a trunk are one segment: hosts on either
/// answer at once; an end deleted by hand or taken off its bridge is
/// repaired by one apply (immediate ping); removing the trunk from the file
/// removes both ends and cuts the segment; destroy leaves nothing.
#[test]
fn a_trunk_joins_two_bridges_and_is_repaired() {
    let lab = Lab::new("tk");
    let p = lab.p.clone();
    let text = |trunk: bool| {
        let mut t = format!(
            "name = \"{p}\"\n[switches.{p}a]\n[switches.{p}b]\n\
             [hosts.{p}1]\n[[hosts.{p}1.ports]]\nswitch = \"{p}a\"\nip = \"198.18.61.1/24\"\n\
             [hosts.{p}2]\n[[hosts.{p}2.ports]]\nswitch = \"{p}b\"\nip = \"198.18.61.2/24\"\n\
             [hosts.{p}3]\n[[hosts.{p}3.ports]]\nswitch = \"{p}b\"\nip = \"198.18.61.3/24\"\n"
        );
        if trunk {
            t.push_str(&format!(
                "[[trunks]]\na = \"{p}a\"\nb = \"{p}b\"\nmtu = 1400\n"
            ));
        }
        t
    };
    let f = write_file(&lab, "trunk.toml", &text(true));
    lab.ok(&["apply", &f]);
    let (h1, h2) = (lab.name("1"), lab.name("2"));
    // the oracle: two marked veth ends, one on each bridge, MTU 1400
    let ends = || -> Vec<serde_json::Value> {
        ip_links(None)
            .into_iter()
            .filter(|l| {
                l["ifalias"]
                    .as_str()
                    .is_some_and(|a| a.contains(&format!("owner={p} role=trunk")))
            })
            .collect()
    };
    let e = ends();
    assert_eq!(e.len(), 2, "{e:?}");
    let mut masters: Vec<&str> = e.iter().filter_map(|l| l["master"].as_str()).collect();
    masters.sort();
    assert_eq!(masters, [format!("{p}a"), format!("{p}b")]);
    assert!(e.iter().all(|l| l["mtu"] == 1400), "{e:?}");
    assert!(ping_once(&h1, "198.18.61.2"), "no answer across the trunk");
    let c = lab.json(&["check", &f]);
    assert_eq!(c["failed"], 0, "{c}");
    // damage: an end deleted by hand, then one taken off its bridge
    let a_end = e[0]["ifname"].as_str().unwrap().to_string();
    sh(&["ip", "link", "del", &a_end]);
    assert!(!ping_once(&h1, "198.18.61.3"), "answers without the trunk");
    lab.ok(&["apply", &f]);
    assert!(ping_once(&h1, "198.18.61.3"), "not repaired at once");
    let b_end = ends()[1]["ifname"].as_str().unwrap().to_string();
    sh(&["ip", "link", "set", &b_end, "nomaster"]);
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "drift not seen");
    lab.ok(&["apply", &f]);
    assert!(ping_once(&h2, "198.18.61.1"), "not repaired at once");
    assert!(lab.ok(&["apply", &f]).contains("nothing to change"));
    // the trunk leaves the file: its ends go, the bridges are two segments
    let f2 = write_file(&lab, "trunk2.toml", &text(false));
    lab.ok(&["apply", &f2]);
    assert!(ends().is_empty(), "{:?}", ends());
    assert!(!ping_once(&h1, "198.18.61.2"));
    lab.ok(&["destroy", &f2]);
    assert_clean(&lab);
}
