//! A lab past one Linux bridge's 1023 ports, in a test binary of its own
//! (it fills the host's neighbour table and its ARP traffic): 2000 hosts on
//! two bridges joined by a trunk (one segment, one subnet), and a forwarding
//! gateway to a third bridge; applied, checked with real packets (waves),
//! applied again with nothing to change, destroyed with nothing left. No
//! timing is asserted; the figures are in the README.
//! Requires root.

mod common;

use common::*;

#[test]
fn two_thousand_hosts_on_two_trunked_bridges_apply_check_destroy() {
    let lab = Lab::new("sc");
    let p = lab.p.clone();
    let n = 1000;
    // 198.18.96.0/21: the 2000 hosts and the gateway, over bridges a and b
    let mut t = format!(
        "name = \"{p}\"\n[switches.{p}a]\nbackend = \"bridge\"\n[switches.{p}b]\nbackend = \"bridge\"\n\
         [switches.{p}c]\nbackend = \"bridge\"\n\
         [[trunks]]\na = \"{p}a\"\nb = \"{p}b\"\n\
         [hosts.{p}gw]\nforward = true\n\
         [[hosts.{p}gw.ports]]\nswitch = \"{p}b\"\nip = \"198.18.103.254/21\"\n\
         [[hosts.{p}gw.ports]]\nswitch = \"{p}c\"\nip = \"198.18.104.254/24\"\n"
    );
    for side in 0..2 {
        let sw = if side == 0 { "a" } else { "b" };
        for i in 0..n {
            let a = side * n + i + 1;
            t.push_str(&format!(
                "[hosts.{p}{side}x{i}]\nroutes = [{{ to = \"default\", via = \"198.18.103.254\" }}]\n\
                 [[hosts.{p}{side}x{i}.ports]]\nswitch = \"{p}{sw}\"\nip = \"198.18.{}.{}/21\"\n",
                96 + a / 256,
                a % 256
            ));
        }
    }
    // behind the gateway
    for i in 1..=10 {
        t.push_str(&format!(
            "[hosts.{p}c{i}]\nroutes = [{{ to = \"default\", via = \"198.18.104.254\" }}]\n\
             [[hosts.{p}c{i}.ports]]\nswitch = \"{p}c\"\nip = \"198.18.104.{i}/24\"\n"
        ));
    }
    let f = write(&lab, "scale.toml", &t);
    lab.ok(&["apply", &f]);
    assert_eq!(lab.namespaces().len(), 2 * n + 11);
    let out = lab.swctl(&["--json", "check", &f]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<&serde_json::Value> = v["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["ok"] == false)
        .collect();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} failed: {failed:?}",
        failed.len()
    );
    assert!(v["waves"].as_u64().unwrap() > 1);
    // across the gateway too: every host's default route is probed
    assert!(
        v["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["why"].as_str().unwrap_or("").starts_with("route default")),
        "{}",
        v["reduced"]
    );
    assert!(lab.ok(&["apply", &f]).contains("nothing to change"));
    lab.ok(&["destroy", &f]);
    assert!(lab.namespaces().is_empty());
    assert!(lab.host_links().is_empty(), "{:?}", lab.host_links());
}
