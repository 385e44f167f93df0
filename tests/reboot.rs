//! A simulated reboot, in a test binary of its own (it restarts the shared
//! ovs-vswitchd; cargo runs test binaries one after the other): every
//! namespace and bridge of a lab gone, swctl's run state under /run gone,
//! ovs-vswitchd restarted (its database kept, as on disk). One `apply`
//! must give back a lab that passes traffic at once. Requires root and OVS.

mod common;

use common::*;

#[test]
fn one_apply_after_a_reboot_gives_back_a_working_lab() {
    let lab = Lab::ovs("rb");
    let f = write(&lab, "lab.toml", &two_segment_lab(&lab));
    lab.ok(&["apply", &f]);
    let n = |s: &str| lab.name(s);
    let pairs = [
        ("h1", "198.18.60.2"),
        ("h1", "198.18.61.3"),
        ("h1", "198.18.61.4"),
        ("h3", "198.18.61.4"),
        ("h4", "198.18.60.2"),
    ];
    for (from, to) in pairs {
        ping(Some(&n(from)), to).unwrap();
    }
    // the reboot: namespaces and the Linux bridge gone (with every veth)
    for ns in lab.namespaces() {
        assert!(sh(&["ip", "netns", "del", &ns]).status.success());
    }
    assert!(sh(&["ip", "link", "del", &n("br")]).status.success());
    // /run is a tmpfs: swctl's records of the lab are gone too (only this
    // lab's: other labs on the machine keep theirs)
    let _ = std::fs::remove_file(format!("/run/swctl/topologies/{}", lab.p));
    if let Ok(j) = std::fs::read_to_string("/run/swctl/pending.log") {
        let kept: String = j
            .lines()
            .filter(|l| !l.contains(&lab.p))
            .map(|l| format!("{l}\n"))
            .collect();
        let _ = std::fs::write("/run/swctl/pending.log", kept);
    }
    // ovs-vswitchd starts again from its database
    let addr = lab.ovsdb.clone().unwrap();
    let dir = std::path::PathBuf::from(addr.strip_prefix("unix:").unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    let pid = std::fs::read_to_string(dir.join("ovs-vswitchd.pid")).unwrap();
    assert!(sh(&["kill", "-9", pid.trim()]).status.success());
    // wait (bounded) for it to be gone before starting the new one
    for _ in 0..100 {
        if !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    lab.ok(&["ovs", "start", "--dir", dir.to_str().unwrap()]);
    // one apply, then one ping per pair, at once
    lab.ok(&["apply", &f]);
    let failed: Vec<String> = pairs
        .iter()
        .filter(|(from, to)| !ping_once(&n(from), to))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(failed.is_empty(), "after the reboot: {failed:?}");
    let st = lab.json(&["status", &f]);
    assert_eq!(st["in_sync"], true, "{st}");
    lab.ok(&["destroy", &f]);
    assert!(lab.namespaces().is_empty());
    let bridges = vsctl_ok(&addr, &["list-br"]);
    assert!(!bridges.contains(&lab.p), "{bridges}");
}
