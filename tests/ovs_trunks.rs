//! Trunks with OVS ends on the real kernel and Open vSwitch: two OVS
//! switches joined by a trunk that carries VLAN 10 only (patch ports: one
//! Open vSwitch), a Linux bridge joined to one of them with native VLAN 10
//! (a veth pair). Hosts on VLAN 10 reach each
//! other across both trunks (ping, TCP), VLAN 20 stays apart, `check` knows
//! both; ovs-vsctl as the oracle of the trunk port; the VLANs changed by
//! hand are drift and put back (VLAN 20 apart again at once).

mod common;

use common::{Lab, ping_once, text, vsctl_ok, write};

fn lab_text(p: &str) -> String {
    let host = |h: &str, sw: &str, ip: &str, vlan: Option<u16>| {
        let v = vlan.map_or(String::new(), |v| format!("vlan = {v}\n"));
        format!("[hosts.{p}{h}]\n[[hosts.{p}{h}.ports]]\nswitch = \"{p}{sw}\"\nip = \"{ip}\"\n{v}")
    };
    format!(
        r#"name = "{p}"
[switches.{p}s1]
backend = "ovs"
[switches.{p}s2]
backend = "ovs"
[switches.{p}br]
backend = "bridge"
{}{}{}{}{}
[[trunks]]
a = "{p}s1"
b = "{p}s2"
vlans = [10]

[[trunks]]
a = "{p}br"
b = "{p}s1"
native = 10
"#,
        host("a10", "s1", "198.18.60.1/24", Some(10)),
        host("a20", "s1", "198.18.61.1/24", Some(20)),
        host("b10", "s2", "198.18.60.2/24", Some(10)),
        host("b20", "s2", "198.18.61.2/24", Some(20)),
        host("c", "br", "198.18.60.3/24", None),
    )
}

#[test]
fn vlans_cross_the_trunks_they_are_given_and_no_others() {
    let lab = Lab::ovs("ot");
    let p = lab.p.clone();
    let db = lab.ovsdb.clone().unwrap();
    let f = write(&lab, "t.toml", &lab_text(&p));
    lab.ok(&["apply", &f]);
    let (a10, a20, b10, c) = (
        lab.name("a10"),
        lab.name("a20"),
        lab.name("b10"),
        lab.name("c"),
    );
    // at once: VLAN 10 across the OVS trunk and from the bridge's host
    assert!(ping_once(&a10, "198.18.60.2"), "a10 -> b10 over the trunk");
    assert!(
        ping_once(&c, "198.18.60.1"),
        "c (bridge) -> a10: native VLAN 10"
    );
    assert!(ping_once(&c, "198.18.60.2"), "c -> b10 across both trunks");
    assert!(!ping_once(&a20, "198.18.61.2"), "VLAN 20 does not cross");
    common::tcp_transfer(&b10, &a10, "198.18.60.2:5601".parse().unwrap(), 1 << 20)
        .expect("1 MB over the trunk");
    // check knows: VLAN 20's pair isolated, the rest reached
    let out = lab.ok(&["check", &f]);
    assert!(out.contains("0 failed"), "{out}");
    // the OVS oracle
    let s1 = format!("{p}s1");
    // s1's trunk ports, found by the switch at their other end
    let port_to = |sw: &str, peer: &str| {
        vsctl_ok(
            &db,
            &[
                "--bare",
                "--columns=name",
                "find",
                "Port",
                &format!("external_ids:swctl-peer={p}{peer}"),
                &format!("external_ids:swctl-switch={p}{sw}"),
            ],
        )
        .trim()
        .to_string()
    };
    let trunk = port_to("s1", "s2");
    assert!(!trunk.is_empty(), "no trunk port of s1 to s2");
    assert_eq!(
        vsctl_ok(&db, &["get", "Port", &trunk, "trunks"]).trim(),
        "[10]"
    );
    let to_br = port_to("s1", "br");
    assert!(!to_br.is_empty(), "no trunk port of s1 to br");
    assert_eq!(vsctl_ok(&db, &["get", "Port", &to_br, "tag"]).trim(), "10");
    assert_eq!(
        vsctl_ok(&db, &["get", "Port", &to_br, "vlan_mode"]).trim(),
        "native-untagged"
    );
    // VLAN 20 let through by hand at both ends: drift, put back, apart
    // again at once
    vsctl_ok(&db, &["set", "Port", &trunk, "trunks=10,20"]);
    vsctl_ok(&db, &["set", "Port", &port_to("s2", "s1"), "trunks=10,20"]);
    // (check's isolation probe left a20's neighbour entry for b20 failed:
    // the kernel answers "unreachable" at once until it is flushed)
    common::sh(&["ip", "-n", &a20, "neigh", "flush", "all"]);
    let crosses = common::sh(&[
        "ip",
        "netns",
        "exec",
        &a20,
        "ping",
        "-c",
        "1",
        "-W",
        "3",
        "198.18.61.2",
    ]);
    assert!(crosses.status.success(), "by hand, VLAN 20 crosses");
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    assert!(
        text(&st).contains("does not carry VLANs [10]"),
        "{}",
        text(&st)
    );
    lab.ok(&["apply", &f]);
    assert!(!ping_once(&a20, "198.18.61.2"), "VLAN 20 apart again");
    assert!(ping_once(&a10, "198.18.60.2"));
    lab.ok(&["destroy", &f]);
    assert!(!vsctl_ok(&db, &["list-br"]).contains(&s1));
}
