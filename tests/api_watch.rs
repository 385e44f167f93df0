//! `lab.watch` over a WebSocket on `swctl serve`'s Unix socket, with a
//! client written in Python (`websockets.unix_connect`, tests/ws_client.py):
//! a lab with a Linux bridge and an OVS switch applied over the WebSocket;
//! watching an unknown lab or without a name: -32602; the subscription's
//! first event says what it watches; then changes made by hand, each heard
//! within a second (the wait for each is bounded by 1 s): an address
//! deleted, a route deleted, a device set down, a link impaired over the
//! API (`impair`) and a qdisc put by hand, an OVS port deleted with
//! ovs-vsctl, a namespace deleted; status over the WebSocket says drift;
//! apply over it reports started, progress and finished to the watcher and
//! repairs (ping at once); a second client that goes away mid-apply while a
//! CLI apply of the same lab waits for the lock: the lab is whole after;
//! check; destroy (its events); unwatch. Over simulated machines: a
//! machine's OVSDB and namespaces are watched, its ovsdb-server killed is
//! heard, said by status, restarted on its database by one apply.
//! Requires root, OVS, python3-websockets.

mod common;

use common::serve::{Server, WsClient};
use common::*;
use serde_json::{Value, json};

fn drift(v: &Value, object: &str, change: &str) -> bool {
    v["event"] == "drift" && v["object"] == object && v["change"] == change
}

/// Wait at most 1 s (between events) for the one `matches` picks.
fn heard(ws: &mut WsClient, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let (hit, seen) = ws.until(1.0, matches);
    hit.unwrap_or_else(|| panic!("{what}: not heard within a second; heard {seen:#?}"))
}

#[test]
fn watching_a_lab_over_a_websocket() {
    let lab = Lab::ovs("aw");
    let p = lab.p.clone();
    let db = lab.ovsdb.clone().unwrap();
    let srv = Server::start(&lab);
    let mut ws = WsClient::connect(&srv);
    let (a, b, c, d) = (lab.name("a"), lab.name("b"), lab.name("c"), lab.name("d"));
    let (s1, s2) = (lab.name("s1"), lab.name("s2"));
    let topo = json!({
        "name": p,
        "switches": {s1.clone(): {"backend": "bridge"}, s2.clone(): {"backend": "ovs"}},
        "hosts": {
            a.clone(): {"ports": [{"switch": s1, "ip": "198.18.96.1/24"}],
                        "routes": [{"to": "198.18.95.0/24", "via": "198.18.96.2"}]},
            b.clone(): {"forward": true, "ports": [{"switch": s1, "ip": "198.18.96.2/24"},
                                                   {"switch": s2, "ip": "198.18.95.2/24"}]},
            c.clone(): {"ports": [{"switch": s2, "ip": "198.18.95.3/24", "via": "internal"}],
                        "routes": [{"to": "198.18.96.0/24", "via": "198.18.95.2"}]},
            d.clone(): {"ports": [{"switch": s2, "ip": "198.18.95.4/24", "via": "veth"}],
                        "routes": [{"to": "198.18.96.0/24", "via": "198.18.95.2"}]},
        },
    });
    let v = ws.call("lab.apply", json!({"topology": topo}));
    assert!(v["result"]["changes"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(ping_once(&a, "198.18.95.3"), "a to c through b");

    // bad params: no subscription
    let v = ws.call("lab.watch", json!({"name": format!("{p}nope")}));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let v = ws.call("lab.watch", json!({}));
    assert_eq!(v["error"]["code"], -32602, "{v}");

    let v = ws.call("lab.watch", json!({"name": p}));
    let sub = v["result"].clone();
    assert!(sub.is_number() || sub.is_string(), "{v}");
    let hello = ws.next(5.0).expect("the first event");
    assert_eq!(hello["event"], "watching", "{hello}");
    for n in [&a, &b, &c, &d] {
        assert!(
            hello["netns"].as_array().unwrap().iter().any(|x| x == n),
            "{hello}"
        );
    }
    assert!(
        hello["ovsdb"].as_array().unwrap().iter().any(|x| x == &db),
        "{hello}"
    );

    // changes by hand, each heard at once
    sh(&[
        "ip",
        "-n",
        &a,
        "addr",
        "del",
        "198.18.96.1/24",
        "dev",
        "eth0",
    ]);
    let e = heard(&mut ws, "address deleted", |v| {
        drift(v, "address", "removed")
    });
    assert_eq!(e["netns"], a.as_str(), "{e}");
    assert_eq!(e["dev"], "eth0", "{e}");
    assert_eq!(e["detail"], "198.18.96.1/24", "{e}");
    sh(&["ip", "-n", &c, "route", "del", "198.18.96.0/24"]);
    let e = heard(&mut ws, "route deleted", |v| drift(v, "route", "removed"));
    assert_eq!(e["netns"], c.as_str(), "{e}");
    assert!(e["detail"].as_str().unwrap().contains("198.18.95.2"), "{e}");
    sh(&["ip", "-n", &b, "link", "set", "eth0", "down"]);
    let e = heard(&mut ws, "link down", |v| drift(v, "link", "changed"));
    assert_eq!(e["netns"], b.as_str(), "{e}");
    assert_eq!(e["detail"], "down", "{e}");
    // an impairment made live over the API, and someone's qdisc by hand
    let v = ws.call(
        "impair",
        json!({"target": format!("{a}:eth0"), "rate": "20mbit"}),
    );
    assert_eq!(v["result"]["changes"], 2, "{v}");
    let e = heard(&mut ws, "swctl's qdisc", |v| {
        drift(v, "qdisc", "added") && v["netns"] == a.as_str()
    });
    assert_eq!(e["detail"], "swctl's: rate=20mbit", "{e}");
    sh(&[
        "tc", "-n", &b, "qdisc", "add", "dev", "eth0", "root", "handle", "3:", "tbf", "rate",
        "1gbit", "burst", "64k", "limit", "1m",
    ]);
    let e = heard(&mut ws, "a qdisc by hand", |v| drift(v, "qdisc", "added"));
    assert_eq!(e["netns"], b.as_str(), "{e}");
    assert_eq!(e["detail"], "tbf 3: (not swctl's)", "{e}");
    let ports = vsctl_ok(&db, &["list-ports", &s2]);
    let port = ports
        .lines()
        .find(|l| l.starts_with(d.as_str()))
        .unwrap_or_else(|| panic!("no port of {d} in {ports}"))
        .to_string();
    vsctl_ok(&db, &["del-port", &s2, &port]);
    let e = heard(&mut ws, "OVS port deleted", |v| drift(v, "port", "removed"));
    assert_eq!(e["name"], port.as_str(), "{e}");
    assert_eq!(e["ovsdb"], db.as_str(), "{e}");
    sh(&["ip", "netns", "del", &c]);
    let e = heard(&mut ws, "namespace deleted", |v| {
        drift(v, "namespace", "removed")
    });
    assert_eq!(e["netns"], c.as_str(), "{e}");

    // status over the WebSocket; apply repairs, the watcher hears it
    let v = ws.call("lab.status", json!({"name": p}));
    assert_eq!(v["result"]["in_sync"], false, "{v}");
    assert_eq!(v["result"]["exit_code"], 3, "{v}");
    let v = ws.call("lab.apply", json!({"topology": topo}));
    assert!(v["result"]["changes"].as_u64().unwrap_or(0) > 0, "{v}");
    let (done, seen) = ws.until(5.0, |v| v["event"] == "apply" && v["phase"] == "finished");
    let done = done.unwrap_or_else(|| panic!("no apply finished: {seen:#?}"));
    assert_eq!(done["changes"], v["result"]["changes"], "{done}");
    assert!(
        seen.iter()
            .any(|v| v["event"] == "apply" && v["phase"] == "started"),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|v| v["event"] == "apply" && v["phase"] == "progress"),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|v| drift(v, "namespace", "added") && v["netns"] == c.as_str()),
        "the repair is heard too: {seen:#?}"
    );
    assert!(ping_once(&a, "198.18.95.3"), "repaired: a to c");
    assert!(ping_once(&a, "198.18.95.4"), "repaired: a to d");

    // a client that goes away mid-apply, a CLI apply of the lab beside it
    sh(&["ip", "netns", "del", &d]);
    sh(&["ip", "-n", &a, "addr", "flush", "dev", "eth0"]);
    let mut other = WsClient::connect(&srv);
    other.send("lab.apply", json!({"topology": topo}));
    std::thread::sleep(std::time::Duration::from_millis(20));
    other.kill();
    let file = format!("/run/swctl/api/{p}.json");
    lab.ok(&["apply", &file]);
    let (fin, seen) = ws.until(5.0, |v| v["event"] == "apply" && v["phase"] == "finished");
    assert!(fin.is_some(), "the API's apply finished: {seen:#?}");
    assert!(ping_once(&a, "198.18.95.4"), "whole after the client left");
    let v = ws.call("lab.status", json!({"name": p}));
    assert_eq!(v["result"]["in_sync"], true, "{v}");
    let v = ws.call("lab.check", json!({"name": p}));
    assert_eq!(v["result"]["failed"], 0, "{v}");

    // destroy: heard; then unwatch
    while ws.next(0.2).is_some() {}
    let v = ws.call("lab.destroy", json!({"name": p}));
    assert!(v["result"]["changes"].as_u64().unwrap_or(0) > 0, "{v}");
    let (fin, seen) = ws.until(5.0, |v| v["event"] == "destroy" && v["phase"] == "finished");
    assert!(fin.is_some(), "{seen:#?}");
    assert!(
        seen.iter().any(|v| drift(v, "namespace", "removed")),
        "{seen:#?}"
    );
    let v = ws.call("lab.unwatch", json!([sub]));
    assert_eq!(v["result"], true, "{v}");
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    assert!(vsctl_ok(&db, &["list-br"]).lines().all(|l| l != s2));
}

/// A lab over simulated machines: every machine's namespace and its own
/// Open vSwitch are watched too (a tunnel port deleted in one machine's
/// OVSDB, a host's namespace deleted, a machine's ovsdb-server killed).
#[test]
fn watching_a_lab_over_simulated_machines() {
    let lab = Lab::new("am");
    let p = lab.p.clone();
    let srv = Server::start(&lab);
    let (a, b) = (lab.name("a"), lab.name("b"));
    let mut t = format!("name = \"{p}\"\n");
    t.push_str(&three_machines(&p, 249));
    t.push_str("[switches.s1]\nbackend = \"ovs\"\n");
    for (h, m, ip) in [(&a, "m1", "198.18.79.1/24"), (&b, "m2", "198.18.79.2/24")] {
        t.push_str(&format!(
            "[hosts.{h}]\nmachine = \"{m}\"\n[[hosts.{h}.ports]]\nswitch = \"s1\"\nip = \"{ip}\"\n"
        ));
    }
    let f = write(&lab, "machines.toml", &t);
    lab.ok(&["apply", &f]);
    let mut ws = WsClient::connect(&srv);
    let v = ws.call("lab.watch", json!({"name": p}));
    assert!(v["result"].is_number() || v["result"].is_string(), "{v}");
    let hello = ws.next(5.0).expect("the first event");
    let m2db = format!("unix:/run/swctl/machines/{p}+m2/ovs/db.sock");
    assert!(
        hello["ovsdb"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == &m2db),
        "{hello}"
    );
    assert!(
        hello["netns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == &format!("{p}m1")),
        "{hello}"
    );
    let ports = vsctl_ok(&m2db, &["list-ports", "s1"]);
    let tunnel = ports
        .lines()
        .find(|l| l.starts_with("vx-"))
        .unwrap()
        .to_string();
    vsctl_ok(&m2db, &["del-port", "s1", &tunnel]);
    let e = heard(&mut ws, "tunnel port deleted", |v| {
        drift(v, "port", "removed")
    });
    assert_eq!(e["ovsdb"], m2db.as_str(), "{e}");
    assert_eq!(e["name"], tunnel.as_str(), "{e}");
    sh(&["ip", "netns", "del", &a]);
    let e = heard(&mut ws, "host namespace deleted", |v| {
        drift(v, "namespace", "removed")
    });
    assert_eq!(e["netns"], a.as_str(), "{e}");
    let pid = std::fs::read_to_string(format!("/run/swctl/machines/{p}+m2/ovs/ovsdb-server.pid"))
        .unwrap();
    sh(&["kill", "-9", pid.trim()]);
    let e = heard(&mut ws, "ovsdb-server killed", |v| {
        drift(v, "ovsdb", "removed")
    });
    assert_eq!(e["ovsdb"], m2db.as_str(), "{e}");
    // status says so (the killed daemon is a zombie here: not running),
    // and one apply restarts it on its database (not afresh)
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    assert!(
        text(&st).contains("ovsdb-server of this machine (not running)"),
        "{}",
        text(&st)
    );
    let out = lab.ok(&["apply", &f]);
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("m2:") && l.ends_with("(restarted ovsdb-server)")),
        "{out}"
    );
    assert!(
        vsctl_ok(&m2db, &["list-ports", "s1"]).contains(b.as_str()),
        "m2's database kept its ports"
    );
    assert!(ping_once(&a, "198.18.79.2"), "repaired across machines");
    lab.ok(&["destroy", &f]);
}
