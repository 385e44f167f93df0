//! `swctl check` knows what must work: derived from the lab (routes hop by
//! hop through forwarding hosts, both ways; VLANs; links), it probes what
//! must answer, probes what the lab isolates (and fails if it answers), and
//! reports what a route points at but cannot work by design, without
//! failing. Healthy labs exit 0; one address removed by hand exits 1 naming
//! the pairs. A 1000-host bridge lab is checked in waves that fit the
//! host's neighbour table. Requires root and Open vSwitch.

mod common;

use common::*;
use serde_json::Value;

fn check(lab: &Lab, f: &str) -> (i32, Value) {
    let out = lab.swctl(&["--json", "check", f]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check --json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

fn failed_pairs(v: &Value) -> Vec<(String, String)> {
    v["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ok"] == false)
        .map(|p| {
            (
                p["from"].as_str().unwrap().to_string(),
                p["to"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// VLANs 10 and 20 on one OVS switch (same subnet), a gateway in VLAN 10
/// with a link to a host that has no route back.
fn vlan_lab(lab: &Lab) -> String {
    let p = &lab.p;
    format!(
        r#"
name = "{p}"
backend = "ovs"
[switches.{p}sw]
[hosts.{p}a]
routes = [{{ to = "default", via = "198.18.70.254" }}]
[[hosts.{p}a.ports]]
switch = "{p}sw"
ip = "198.18.70.1/24"
vlan = 10
[hosts.{p}b]
[[hosts.{p}b.ports]]
switch = "{p}sw"
ip = "198.18.70.2/24"
vlan = 20
[hosts.{p}c]
[[hosts.{p}c.ports]]
switch = "{p}sw"
ip = "198.18.70.3/24"
vlan = 10
[hosts.{p}gw]
forward = true
[[hosts.{p}gw.ports]]
switch = "{p}sw"
ip = "198.18.70.254/24"
vlan = 10
[hosts.{p}d]
[[links]]
a = "{p}gw"
b = "{p}d"
a_ip = "198.18.71.254/24"
b_ip = "198.18.71.1/24"
"#
    )
}

#[test]
fn vlans_and_routes_are_expected_as_the_lab_says() {
    let lab = Lab::ovs("kv");
    let p = lab.p.clone();
    let f = write(&lab, "vlan.toml", &vlan_lab(&lab));
    // apply --check: the lab is made and checked in one command
    let out = lab.swctl(&["--json", "apply", &f, "--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["check"]["failed"], 0, "{v}");
    let (code, v) = check(&lab, &f);
    assert_eq!(code, 0, "{v}");
    let pairs = v["pairs"].as_array().unwrap();
    // a and b share a subnet but not a VLAN: probed, and silent
    let iso: Vec<&Value> = pairs.iter().filter(|x| x["expect"] == "isolated").collect();
    assert!(!iso.is_empty(), "{v}");
    assert!(iso.iter().all(|x| x["ok"] == true), "{v}");
    assert!(
        iso.iter()
            .any(|x| x["from"] == format!("{p}a") && x["to"] == "198.18.70.2"),
        "{v}"
    );
    // a's default route reaches d's link, but d has no route back: by design
    let imp = v["impossible"].as_array().unwrap();
    assert!(
        imp.iter()
            .any(|x| x["to"] == "198.18.71.1"
                && x["because"].as_str().unwrap().contains("no way back")),
        "{v}"
    );
    // and what must work was probed: the gateway's far address by the route
    assert!(pairs.iter().any(|x| x["from"] == format!("{p}a")
        && x["to"] == "198.18.71.254"
        && x["expect"] == "reach"));
    // one address removed by hand: exit 1, naming the pairs that lost it
    assert!(
        sh(&[
            "ip",
            "-n",
            &format!("{p}c"),
            "addr",
            "del",
            "198.18.70.3/24",
            "dev",
            "eth0"
        ])
        .status
        .success()
    );
    let (code, v) = check(&lab, &f);
    assert_eq!(code, 1, "{v}");
    let bad = failed_pairs(&v);
    assert!(!bad.is_empty());
    assert!(
        bad.iter()
            .all(|(from, to)| from == &format!("{p}c") || to == "198.18.70.3"),
        "{bad:?}"
    );
    assert!(
        bad.contains(&(format!("{p}a"), "198.18.70.3".to_string())),
        "{bad:?}"
    );
    // the text names them too
    let out = lab.swctl(&["check", &f]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL") && text.contains("198.18.70.3"),
        "{text}"
    );
    lab.ok(&["destroy", &f]);
}

#[test]
fn a_thousand_hosts_are_checked_in_waves() {
    let lab = Lab::new("kt");
    let p = lab.p.clone();
    let n = 1000;
    let mut t = format!("name = \"{p}\"\n[switches.{p}br]\nbackend = \"bridge\"\n");
    for i in 0..n {
        let a = i + 1;
        t.push_str(&format!(
            "[hosts.{p}{i}]\n[[hosts.{p}{i}.ports]]\nswitch = \"{p}br\"\nip = \"198.18.{}.{}/16\"\n",
            a / 250 + 100,
            a % 250 + 1
        ));
    }
    let f = write(&lab, "big.toml", &t);
    lab.ok(&["apply", &f]);
    let (code, v) = check(&lab, &f);
    assert_eq!(code, 0, "failed: {:?}", failed_pairs(&v));
    assert!(v["waves"].as_u64().unwrap() > 1, "{}", v["waves"]);
    assert!(
        v["pairs"].as_array().unwrap().len() >= 2 * n,
        "a ring: every host sends and answers"
    );
    assert!(v["reduced"].is_string());
    // one host loses its address: exactly its pairs fail
    let victim = format!("{p}500");
    let addr = format!("198.18.{}.{}", 501 / 250 + 100, 501 % 250 + 1);
    assert!(
        sh(&["ip", "-n", &victim, "addr", "flush", "dev", "eth0"])
            .status
            .success()
    );
    let (code, v) = check(&lab, &f);
    assert_eq!(code, 1);
    let bad = failed_pairs(&v);
    assert!(!bad.is_empty());
    assert!(
        bad.iter().all(|(from, to)| from == &victim || to == &addr),
        "{bad:?}"
    );
    lab.ok(&["destroy", &f]);
}
