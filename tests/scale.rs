//! A lab past one Linux bridge's 1023 ports, in a test binary of its own
//! (it fills the host's neighbour table and its ARP traffic): 2000 hosts on
//! two bridges joined by a forwarding gateway, applied, checked with real
//! packets (waves), applied again with nothing to change, destroyed with
//! nothing left. No timing is asserted; the figures are in the README.
//! Requires root.

mod common;

use common::*;

#[test]
fn two_thousand_hosts_on_two_bridges_apply_check_destroy() {
    let lab = Lab::new("sc");
    let p = lab.p.clone();
    let n = 1000;
    let mut t = format!(
        "name = \"{p}\"\n[switches.{p}a]\nbackend = \"bridge\"\n[switches.{p}b]\nbackend = \"bridge\"\n\
         [hosts.{p}gw]\nforward = true\n\
         [[hosts.{p}gw.ports]]\nswitch = \"{p}a\"\nip = \"198.18.103.254/22\"\n\
         [[hosts.{p}gw.ports]]\nswitch = \"{p}b\"\nip = \"198.18.107.254/22\"\n"
    );
    for (side, sw, base, gw) in [
        (0, "a", 100, "198.18.103.254"),
        (1, "b", 104, "198.18.107.254"),
    ] {
        for i in 0..n {
            let a = i + 1;
            t.push_str(&format!(
                "[hosts.{p}{side}x{i}]\nroutes = [{{ to = \"default\", via = \"{gw}\" }}]\n\
                 [[hosts.{p}{side}x{i}.ports]]\nswitch = \"{p}{sw}\"\nip = \"198.18.{}.{}/22\"\n",
                base + a / 256,
                a % 256
            ));
        }
    }
    let f = write(&lab, "scale.toml", &t);
    lab.ok(&["apply", &f]);
    assert_eq!(lab.namespaces().len(), 2 * n + 1);
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
