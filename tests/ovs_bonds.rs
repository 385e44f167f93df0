//! Bonds on the real kernel and Open vSwitch: two OVS switches joined by a
//! trunk of two veth pairs bonded at each end (balance-tcp over LACP).
//! Oracles: `ovs-appctl bond/show` and `lacp/show`, ovs-vsctl. Traffic at
//! once after apply (ping, 1 MB TCP); a member deleted by hand under a
//! 100-per-second ping loses (almost) nothing, is drift in words, and is
//! put back by apply with LACP negotiated on it again; the mode changed by
//! hand is drift and put back; the members counted up, then the bond
//! dropped for a plain trunk; destroy leaves no member; bad bonds are
//! refused before anything exists.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Lab, ping_once, text, vsctl_ok, write};

fn lab_text(p: &str, bond: &str) -> String {
    let host = |h: &str, sw: &str, ip: &str| {
        format!("[hosts.{p}{h}]\n[[hosts.{p}{h}.ports]]\nswitch = \"{p}{sw}\"\nip = \"{ip}\"\n")
    };
    format!(
        "name = \"{p}\"\n[switches.{p}s1]\nbackend = \"ovs\"\n[switches.{p}s2]\nbackend = \"ovs\"\n{}{}\n[[trunks]]\na = \"{p}s1\"\nb = \"{p}s2\"\n{bond}\n",
        host("h1", "s1", "198.18.64.1/24"),
        host("h2", "s2", "198.18.64.2/24"),
    )
}

/// `ovs-appctl -t DIR/ovs-vswitchd.ctl ARGS` (the sandbox's daemon).
fn appctl(db: &str, args: &[&str]) -> String {
    let dir = PathBuf::from(db.trim_start_matches("unix:"))
        .parent()
        .unwrap()
        .to_path_buf();
    let ctl = dir.join("ovs-vswitchd.ctl");
    let mut a = vec!["ovs-appctl", "-t", ctl.to_str().unwrap()];
    a.extend_from_slice(args);
    let o = common::sh(&a);
    assert!(o.status.success(), "ovs-appctl {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The bond port of switch `sw` (found by the switch at its other end).
fn bond_port(db: &str, p: &str, sw: &str, peer: &str) -> String {
    vsctl_ok(
        db,
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
}

/// Wait (bounded) until both bonds have `n` members enabled and LACP
/// negotiated; the last bond/show otherwise.
fn wait_negotiated(db: &str, ports: &[&str], n: usize) -> Result<(), String> {
    let t = Instant::now();
    loop {
        let mut ok = true;
        let mut last = String::new();
        for port in ports {
            let s = appctl(db, &["bond/show", port]);
            let enabled = s.matches(": enabled").count();
            ok &= s.contains("lacp_status: negotiated") && enabled == n;
            last += &s;
        }
        if ok {
            return Ok(());
        }
        if t.elapsed() > Duration::from_secs(15) {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A ping every 10 ms for `secs` from `ns`, in the background: its summary
/// line when joined.
fn ping_flood(ns: &str, addr: &str, n: u32) -> std::thread::JoinHandle<String> {
    let (ns, addr) = (ns.to_string(), addr.to_string());
    std::thread::spawn(move || {
        let o = common::sh(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "ping",
            "-i",
            "0.01",
            "-W",
            "1",
            "-c",
            &n.to_string(),
            &addr,
        ]);
        text(&o)
    })
}

/// "600 packets transmitted, 598 received" -> (600, 598)
fn counts(summary: &str) -> (u32, u32) {
    let line = summary
        .lines()
        .find(|l| l.contains("transmitted"))
        .unwrap_or_else(|| panic!("no summary: {summary}"));
    let num = |w: &str| -> u32 {
        let i = line.find(w).unwrap();
        line[..i]
            .split_whitespace()
            .last()
            .unwrap()
            .parse()
            .unwrap()
    };
    (num(" packets transmitted"), num(" received"))
}

#[test]
fn a_bonded_trunk_negotiates_lacp_and_survives_a_member_deleted_by_hand() {
    let lab = Lab::ovs("ob");
    let p = lab.p.clone();
    let db = lab.ovsdb.clone().unwrap();
    let bond = "bond = { members = 2, mode = \"balance-tcp\", lacp = \"active\" }";
    let f = write(&lab, "b.toml", &lab_text(&p, bond));
    lab.ok(&["apply", &f]);
    let (h1, h2) = (lab.name("h1"), lab.name("h2"));
    // at once
    assert!(ping_once(&h1, "198.18.64.2"), "h1 -> h2 over the bond");
    common::tcp_transfer(&h2, &h1, "198.18.64.2:5611".parse().unwrap(), 1 << 20)
        .expect("1 MB over the bond");
    let (b1, b2) = (
        bond_port(&db, &p, "s1", "s2"),
        bond_port(&db, &p, "s2", "s1"),
    );
    assert!(!b1.is_empty() && !b2.is_empty());
    wait_negotiated(&db, &[&b1, &b2], 2).unwrap_or_else(|s| panic!("not negotiated: {s}"));
    let show = appctl(&db, &["bond/show", &b1]);
    assert!(show.contains("bond_mode: balance-tcp"), "{show}");
    let lacp = appctl(&db, &["lacp/show", &b1]);
    assert!(lacp.contains("status: active negotiated"), "{lacp}");
    assert!(lacp.contains("lacp_time: fast"), "{lacp}");
    assert!(lab.swctl(&["status", &f]).status.success());

    // the member that carries the pings, deleted by hand under a ping
    // every 10 ms
    let members: Vec<String> = appctl(&db, &["bond/show", &b1])
        .lines()
        .filter_map(|l| {
            l.strip_prefix("member ")
                .map(|m| m.split(':').next().unwrap().to_string())
        })
        .collect();
    assert_eq!(members.len(), 2, "{members:?}");
    // the kernel's counters (OVSDB's statistics lag by 5 s)
    let tx = |m: &str| -> u64 {
        let o = common::sh(&["ip", "-s", "-j", "link", "show", m]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v[0]["stats64"]["tx"]["packets"].as_u64().unwrap()
    };
    let flood = ping_flood(&h1, "198.18.64.2", 300);
    std::thread::sleep(Duration::from_millis(500));
    let before: Vec<u64> = members.iter().map(|m| tx(m)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let busiest = (0..2).max_by_key(|&k| tx(&members[k]) - before[k]).unwrap();
    let first = members[busiest].clone();
    eprintln!(
        "pings carried by {first}: {} packets in 0.3 s (the other: {})",
        tx(&first) - before[busiest],
        tx(&members[1 - busiest]) - before[1 - busiest]
    );
    common::sh(&["ip", "link", "del", &first]);
    std::thread::sleep(Duration::from_millis(500));
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    assert!(text(&st).contains("bond member"), "{}", text(&st));
    lab.ok(&["apply", &f]);
    let (sent, got) = counts(&flood.join().unwrap());
    eprintln!("member deleted and restored under ping -i 0.01: {sent} sent, {got} answered");
    assert!(sent - got <= 5, "{} of {sent} pings lost", sent - got);
    // the member is back in both bonds and LACP runs on it
    wait_negotiated(&db, &[&b1, &b2], 2).unwrap_or_else(|s| panic!("not back: {s}"));
    assert!(appctl(&db, &["bond/show", &b1]).contains(&first));
    assert!(lab.swctl(&["status", &f]).status.success());

    // the mode changed by hand: drift in words, put back
    vsctl_ok(&db, &["set", "Port", &b2, "bond_mode=active-backup"]);
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    assert!(
        text(&st).contains("runs active-backup, LACP active, the file says balance-tcp"),
        "{}",
        text(&st)
    );
    lab.ok(&["apply", &f]);
    assert_eq!(
        vsctl_ok(&db, &["get", "Port", &b2, "bond_mode"]).trim(),
        "balance-tcp"
    );

    // three members, then no bond (patch ports: one Open vSwitch)
    let f3 = write(
        &lab,
        "b3.toml",
        &lab_text(&p, &bond.replace("members = 2", "members = 3")),
    );
    lab.ok(&["apply", &f3]);
    assert!(ping_once(&h1, "198.18.64.2"));
    wait_negotiated(&db, &[&b1, &b2], 3).unwrap_or_else(|s| panic!("3 members: {s}"));
    let plain = write(&lab, "plain.toml", &lab_text(&p, ""));
    lab.ok(&["apply", &plain]);
    assert!(ping_once(&h1, "198.18.64.2"), "over patch ports");
    let left: Vec<String> = lab
        .host_links()
        .into_iter()
        .filter(|l| l.starts_with("tk"))
        .collect();
    assert!(left.is_empty(), "members left: {left:?}");
    assert_eq!(
        vsctl_ok(&db, &["get", "Interface", &b1, "type"]).trim(),
        "patch"
    );
    // and a bond again; destroy leaves none of it
    lab.ok(&["apply", &f]);
    assert!(ping_once(&h1, "198.18.64.2"));
    lab.ok(&["destroy", &f]);
    let left: Vec<String> = common::ip_links(None)
        .iter()
        .filter_map(|l| l["ifalias"].as_str().map(String::from))
        .filter(|a| a.contains(&format!("owner={p}")))
        .collect();
    assert!(left.is_empty(), "left after destroy: {left:?}");
    assert!(!vsctl_ok(&db, &["list-br"]).contains(&format!("{p}s1")));
}

#[test]
fn bonds_that_cannot_work_are_refused_before_anything_exists() {
    let lab = Lab::ovs("oc");
    let p = lab.p.clone();
    for (bond, why) in [
        (
            "bond = { members = 2, mode = \"balance-tcp\" }",
            "balance-tcp needs LACP",
        ),
        (
            "bond = { members = 2, lacp = \"passive\" }",
            "never negotiate",
        ),
        ("bond = { members = 1 }", "2 to 8"),
    ] {
        let f = write(&lab, "bad.toml", &lab_text(&p, bond));
        let o = lab.swctl(&["apply", &f]);
        assert_eq!(o.status.code(), Some(2), "{bond}: {}", text(&o));
        assert!(text(&o).contains(why), "{bond}: {}", text(&o));
        assert!(text(&o).contains("trunks[0].bond"), "{}", text(&o));
    }
    let on_bridge = lab_text(&p, "bond = { members = 2 }").replace(
        &format!("[switches.{p}s2]\nbackend = \"ovs\""),
        &format!("[switches.{p}s2]\nbackend = \"bridge\""),
    );
    let f = write(&lab, "br.toml", &on_bridge);
    let o = lab.swctl(&["apply", &f]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("a bond needs an OVS switch at each end"),
        "{}",
        text(&o)
    );
    assert!(lab.namespaces().is_empty());
}
