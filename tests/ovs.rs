//! Scenarios S5 and S6 on a real ovsdb-server and ovs-vswitchd (the shared
//! sandbox), driven through the `swctl` binary, checked with ping, a TCP
//! transfer, `ip -j` and `ovs-vsctl` as independent oracles; interop with
//! ports made by ovs-vsctl; the same switch commands as the bridge backend.
//! Requires root and Open vSwitch installed.

mod common;

use common::*;
use serde_json::Value;

fn three_hosts_on_ovs(lab: &Lab, via: &str, net: u8) -> (String, Vec<String>, Vec<Value>) {
    let br = lab.name("br");
    let hosts: Vec<String> = (1..=3).map(|i| lab.name(&format!("h{i}"))).collect();
    let mut args = vec!["ns", "add"];
    args.extend(hosts.iter().map(|s| s.as_str()));
    lab.ok(&args);
    let out = lab.ok(&["switch", "add", &br]);
    assert!(out.contains("backend: ovs"), "{out}");
    let mut wiring = vec![];
    for (i, h) in hosts.iter().enumerate() {
        let ip = format!("198.18.{net}.{}/24", i + 1);
        let v = lab.json(&["attach", h, &br, "--ip", &ip, "--via", via]);
        wiring.push(v["wiring"][0].clone());
    }
    (br, hosts, wiring)
}

fn all_pairs_ping_and_tcp(hosts: &[String], net: u8) {
    for (i, h) in hosts.iter().enumerate() {
        for j in 0..hosts.len() {
            if i != j {
                ping(Some(h), &format!("198.18.{net}.{}", j + 1)).unwrap();
            }
        }
    }
    // TCP between every ordered pair (1 MiB each)
    for (i, a) in hosts.iter().enumerate() {
        for (j, b) in hosts.iter().enumerate() {
            if i != j {
                let port = 5300 + (i * 3 + j) as u16;
                let addr = format!("198.18.{net}.{}:{port}", j + 1).parse().unwrap();
                let got = tcp_transfer(b, a, addr, 1 << 20)
                    .unwrap_or_else(|e| panic!("TCP {a} -> {b}: {e}"));
                assert_eq!(got, 1 << 20);
            }
        }
    }
}

/// `ovs-vsctl --format=json list Interface NAME` as a column → value map.
fn iface(addr: &str, name: &str) -> Value {
    let out = vsctl_ok(addr, &["--format=json", "list", "Interface", name]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let heads = v["headings"].as_array().unwrap().clone();
    let row = v["data"][0].as_array().unwrap().clone();
    let mut m = serde_json::Map::new();
    for (h, x) in heads.iter().zip(row) {
        m.insert(h.as_str().unwrap().to_string(), x);
    }
    Value::Object(m)
}

#[test]
fn s5_ovs_veth_three_namespaces() {
    let lab = Lab::ovs("o");
    let addr = lab.ovsdb.clone().unwrap();
    let (br, hosts, wiring) = three_hosts_on_ovs(&lab, "veth", 20);
    for w in &wiring {
        assert_eq!(w["via"], "veth");
    }
    all_pairs_ping_and_tcp(&hosts, 20);
    // oracle: ovs-vsctl lists each port, with an OpenFlow port number
    let ports = vsctl_ok(&addr, &["list-ports", &br]);
    for w in &wiring {
        let p = w["a_dev"].as_str().unwrap();
        assert!(ports.lines().any(|l| l == p), "{p} not in {ports}");
        let i = iface(&addr, p);
        assert!(i["ofport"].as_i64().unwrap() > 0, "{i}");
        assert_eq!(i["type"], "");
        let ids = vsctl_ok(&addr, &["get", "Port", p, "external_ids:swctl-owner"]);
        assert_eq!(ids.trim(), "cli");
    }
    // the host ends are veths; on netdev without userspace TSO the
    // namespace ends have tx checksumming off; with it (swctl's sandbox)
    // they keep it, and ovs-vswitchd's receive socket of each port has
    // room for TSO packets (`ss`'s skmem rb: the buffer, doubled)
    let dp = vsctl_ok(&addr, &["get", "Bridge", &br, "datapath_type"]);
    let tso = sh(&[
        "ovs-vsctl",
        &format!("--db={addr}"),
        "get",
        "Open_vSwitch",
        ".",
        "other_config:userspace-tso-enable",
    ]);
    let tso = String::from_utf8_lossy(&tso.stdout).contains("true");
    let sockets =
        String::from_utf8_lossy(&sh(&["ss", "-f", "link", "-m", "-p"]).stdout).to_string();
    for (h, w) in hosts.iter().zip(&wiring) {
        let l = ip_links(None);
        assert_eq!(
            link(&l, w["a_dev"].as_str().unwrap()).unwrap()["linkinfo"]["info_kind"],
            "veth"
        );
        if dp.trim() == "netdev" {
            let k = sh(&["ip", "netns", "exec", h, "ethtool", "-k", "eth0"]);
            let t = String::from_utf8_lossy(&k.stdout);
            let csum = if tso { "on" } else { "off" };
            assert!(t.contains(&format!("tx-checksumming: {csum}")), "{t}");
            if tso {
                let dev = w["a_dev"].as_str().unwrap();
                let line = sockets
                    .lines()
                    .find(|l| l.contains(&format!(":{dev} ")) && l.contains("ovs-vswitchd"))
                    .unwrap_or_else(|| panic!("no socket of {dev} in {sockets}"));
                assert!(line.contains("rb8388608"), "{line}");
            }
        }
    }
    // detach leaves no row and no veth behind
    lab.ok(&["detach", &hosts[0], &br]);
    let p0 = wiring[0]["a_dev"].as_str().unwrap();
    assert!(
        !vsctl_ok(&addr, &["list-ports", &br])
            .lines()
            .any(|l| l == p0)
    );
    assert!(link(&ip_links(None), p0).is_none());
    assert!(link(&ip_links(Some(&hosts[0])), "eth0").is_none());
    lab.ok(&["switch", "del", &br]);
    assert!(!vsctl_ok(&addr, &["list-br"]).lines().any(|l| l == br));
    for w in &wiring {
        assert!(link(&ip_links(None), w["a_dev"].as_str().unwrap()).is_none());
    }
}

#[test]
fn s6_ovs_internal_ports_three_namespaces() {
    let lab = Lab::ovs("p");
    let addr = lab.ovsdb.clone().unwrap();
    let (br, hosts, wiring) = three_hosts_on_ovs(&lab, "internal", 21);
    for (h, w) in hosts.iter().zip(&wiring) {
        assert_eq!(w["via"], "internal");
        assert_eq!(w["b_dev"], "eth0");
        // the internal port's device is inside the namespace, renamed, and gone from the host
        assert!(link(&ip_links(Some(h)), "eth0").is_some());
        assert!(link(&ip_links(None), w["a_dev"].as_str().unwrap()).is_none());
        let i = iface(&addr, w["a_dev"].as_str().unwrap());
        assert_eq!(i["type"], "internal");
        assert!(i["ofport"].as_i64().unwrap() > 0, "{i}");
    }
    all_pairs_ping_and_tcp(&hosts, 21);
    // attach again: nothing to change
    assert!(
        lab.ok(&["attach", &hosts[0], &br])
            .contains("nothing to change")
    );
    // ns del removes the port row too
    lab.ok(&["ns", "del", &hosts[2]]);
    let p2 = wiring[2]["a_dev"].as_str().unwrap();
    assert!(
        !vsctl_ok(&addr, &["list-ports", &br])
            .lines()
            .any(|l| l == p2)
    );
    // detach: no row, no tap anywhere
    lab.ok(&["detach", &hosts[1], &br]);
    let p1 = wiring[1]["a_dev"].as_str().unwrap();
    assert!(
        !vsctl_ok(&addr, &["list-ports", &br])
            .lines()
            .any(|l| l == p1)
    );
    assert!(link(&ip_links(Some(&hosts[1])), "eth0").is_none());
    assert!(link(&ip_links(None), p1).is_none());
}

#[test]
fn interop_with_ovs_vsctl() {
    let lab = Lab::ovs("q");
    let addr = lab.ovsdb.clone().unwrap();
    let br = lab.name("br");
    let h = lab.name("h");
    lab.ok(&["ns", "add", &h]);
    lab.ok(&["switch", "add", &br]);
    // someone adds a port by hand
    let extra = lab.name("x");
    vsctl_ok(
        &addr,
        &[
            "add-port",
            &br,
            &extra,
            "--",
            "set",
            "Interface",
            &extra,
            "type=internal",
        ],
    );
    let s = lab.switch_entry(&br).expect("listed");
    assert_eq!(s["backend"], "ovs");
    assert!(
        s["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["dev"] == extra.as_str())
    );
    // swctl's own operations leave it alone
    lab.ok(&["attach", &h, &br, "--ip", "198.18.22.1/24"]);
    lab.ok(&["detach", &h, &br]);
    assert!(
        vsctl_ok(&addr, &["list-ports", &br])
            .lines()
            .any(|l| l == extra)
    );
    // ovs-vsctl show lists swctl's bridge like one made by hand
    let show = vsctl_ok(&addr, &["show"]);
    assert!(show.contains(&format!("Bridge {br}")), "{show}");
    assert!(show.contains("fail_mode: standalone"), "{show}");
    // a bridge made by ovs-vsctl is not deleted by swctl
    let foreign = lab.name("fb");
    vsctl_ok(
        &addr,
        &[
            "add-br",
            &foreign,
            "--",
            "set",
            "Bridge",
            &foreign,
            "datapath_type=netdev",
        ],
    );
    let out = lab.swctl(&["switch", "del", &foreign]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not created by swctl"));
    assert!(vsctl_ok(&addr, &["list-br"]).lines().any(|l| l == foreign));
    lab.ok(&["switch", "del", &br]);
    assert!(!vsctl_ok(&addr, &["list-br"]).lines().any(|l| l == br));
}

/// The same switch commands give the same shape of answer on both backends.
#[test]
fn switch_commands_behave_the_same_on_both_backends() {
    let lab = Lab::ovs("r");
    let h = lab.name("h");
    lab.ok(&["ns", "add", &h]);
    let mut shapes = vec![];
    for backend in ["bridge", "ovs"] {
        let br = lab.name(&backend[..1]);
        let v = lab.json(&["--backend", backend, "switch", "add", &br]);
        assert_eq!(v["backend"], backend);
        let a = lab.json(&[
            "attach",
            &h,
            &br,
            "--ifname",
            &format!("n{}", &backend[..1]),
        ]);
        let again = lab.json(&[
            "attach",
            &h,
            &br,
            "--ifname",
            &format!("n{}", &backend[..1]),
        ]);
        assert_eq!(again["changes"], 0);
        let s = lab.switch_entry(&br).expect("listed");
        assert_eq!(s["backend"], backend);
        assert_eq!(s["ports"].as_array().unwrap().len(), 1, "{s}");
        assert_eq!(s["ports"][0]["ns"], h.as_str());
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        shapes.push((keys(&a), keys(&s), keys(&a["wiring"][0])));
        let show = lab.json(&["show"]);
        assert!(find_named(&show["switches"], &br).is_some());
        lab.ok(&["detach", &h, &br]);
        lab.ok(&["switch", "del", &br]);
        assert!(lab.switch_entry(&br).is_none());
    }
    assert_eq!(shapes[0], shapes[1]);
}
