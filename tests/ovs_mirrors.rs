//! Mirrors on the real kernel and Open vSwitch: a switch with hosts on
//! VLANs 10 and 20 and two mirrors — `tap` copies h1's port to `ids`,
//! `v20` copies everything on VLAN 20 to `ids2`. What each output host
//! sees is read by tcpdump from `swctl capture` (h1's pings with their VLAN
//! tag at `ids`, none of VLAN 20's; VLAN 20's at `ids2`, none of h1's);
//! ovs-vsctl as the oracle of the rows. Changed by hand, removed by hand,
//! h1's port deleted by hand: drift, put back, mirrored again at once; a
//! mirror made by someone else is left alone and listed; dropped from the
//! file: gone; bad mirrors refused before anything exists.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Lab, ping_once, sh, text, vsctl_ok, write};

fn lab_text(p: &str, mirrors: &str) -> String {
    let host = |h: &str, ip: &str, vlan: Option<u16>| {
        let v = vlan.map_or(String::new(), |v| format!("vlan = {v}\n"));
        format!("[hosts.{p}{h}]\n[[hosts.{p}{h}.ports]]\nswitch = \"{p}s\"\nip = \"{ip}\"\n{v}")
    };
    format!(
        "name = \"{p}\"\n[switches.{p}s]\nbackend = \"ovs\"\n{mirrors}\n{}{}{}{}{}{}",
        host("h1", "198.18.65.1/24", Some(10)),
        host("h2", "198.18.65.2/24", Some(10)),
        host("g1", "198.18.66.1/24", Some(20)),
        host("g2", "198.18.66.2/24", Some(20)),
        host("ids", "198.18.67.1/24", None),
        host("ids2", "198.18.67.2/24", None),
    )
}

fn mirrors(p: &str) -> String {
    format!(
        "mirrors = [{{ name = \"{p}tap\", select = [\"{p}h1\"], output = \"{p}ids\" }}, {{ name = \"{p}v20\", select = \"all\", vlans = [20], output = \"{p}ids2\" }}]"
    )
}

/// What `swctl capture NS` sees while `pings` run (each `(from, to)`, 3
/// echoes), as tcpdump reads it: the ICMP lines, with link headers.
fn seen_at(ns: &str, pings: &[(&str, &str)]) -> String {
    let pcap = format!("/tmp/swctl-mirror-{}-{ns}.pcap", std::process::id());
    let mut cap = Command::new(env!("CARGO_BIN_EXE_swctl"))
        .args(["capture", ns, "-w", &pcap])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the capture's socket opens in well under this (bounded, not a race:
    // a frame before it is missed, and the assertions want every ping)
    std::thread::sleep(Duration::from_millis(300));
    for (from, to) in pings {
        sh(&[
            "ip", "netns", "exec", from, "ping", "-c", "3", "-i", "0.1", "-W", "1", to,
        ]);
    }
    std::thread::sleep(Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(cap.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let t = Instant::now();
    while cap.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(5), "capture did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    // (no filter: `icmp` would not match a tagged frame)
    let o = sh(&["tcpdump", "-enr", &pcap]);
    let _ = std::fs::remove_file(&pcap);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains("ICMP"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn mirrors_copy_what_they_select_and_are_kept_so() {
    let lab = Lab::ovs("om");
    let p = lab.p.clone();
    let db = lab.ovsdb.clone().unwrap();
    let f = write(&lab, "m.toml", &lab_text(&p, &mirrors(&p)));
    lab.ok(&["apply", &f]);
    let n = |s: &str| lab.name(s);
    let (h1, g1, ids, ids2) = (n("h1"), n("g1"), n("ids"), n("ids2"));
    let h_and_g = [(h1.as_str(), "198.18.65.2"), (g1.as_str(), "198.18.66.2")];

    // at once: ids sees h1's pings tagged VLAN 10 both ways, none of VLAN 20
    let at_ids = seen_at(&ids, &h_and_g);
    assert!(
        at_ids.contains("vlan 10")
            && at_ids.contains("198.18.65.1 > 198.18.65.2: ICMP echo request"),
        "{at_ids}"
    );
    assert!(
        at_ids.contains("198.18.65.2 > 198.18.65.1: ICMP echo reply"),
        "{at_ids}"
    );
    assert!(!at_ids.contains("198.18.66."), "VLAN 20 at ids: {at_ids}");
    // ids2 sees VLAN 20 only
    let at_ids2 = seen_at(&ids2, &h_and_g);
    assert!(
        at_ids2.contains("198.18.66.1 > 198.18.66.2: ICMP echo request"),
        "{at_ids2}"
    );
    assert!(
        !at_ids2.contains("198.18.65."),
        "VLAN 10 at ids2: {at_ids2}"
    );
    // check: the output hosts forward nothing else (isolated), the rest reach
    let out = lab.ok(&["check", &f]);
    assert!(out.contains("0 failed"), "{out}");
    assert!(
        !ping_once(&ids, "198.18.67.2"),
        "an output port forwards nothing"
    );

    // the oracle
    let tap = format!("{p}tap");
    let port = |ns: &str| {
        vsctl_ok(
            &db,
            &[
                "--bare",
                "--columns=_uuid",
                "find",
                "Port",
                &format!("external_ids:swctl-ns={ns}"),
            ],
        )
        .trim()
        .to_string()
    };
    assert_eq!(
        vsctl_ok(&db, &["get", "Mirror", &tap, "select_src_port"]).trim(),
        format!("[{}]", port(&h1))
    );
    assert_eq!(
        vsctl_ok(&db, &["get", "Mirror", &tap, "output_port"]).trim(),
        port(&ids)
    );
    assert_eq!(
        vsctl_ok(&db, &["get", "Mirror", &format!("{p}v20"), "select_vlan"]).trim(),
        "[20]"
    );
    assert!(lab.swctl(&["status", &f]).status.success());

    // changed by hand: drift in words, put back
    vsctl_ok(&db, &["clear", "Mirror", &tap, "select_src_port"]);
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    assert!(
        text(&st).contains(&format!("OVS mirror {tap} on {p}s copies from no port")),
        "{}",
        text(&st)
    );
    lab.ok(&["apply", &f]);
    assert!(lab.swctl(&["status", &f]).status.success());
    // removed by hand: missing, made again
    vsctl_ok(
        &db,
        &[
            "--",
            "--id=@m",
            "get",
            "Mirror",
            &tap,
            "--",
            "remove",
            "Bridge",
            &format!("{p}s"),
            "mirrors",
            "@m",
        ],
    );
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    assert!(
        text(&st).contains(&format!("missing  OVS mirror {tap}")),
        "{}",
        text(&st)
    );
    lab.ok(&["apply", &f]);
    // h1's port deleted by hand: made again, and mirrored at once
    let h1_port = vsctl_ok(
        &db,
        &[
            "--bare",
            "--columns=name",
            "find",
            "Port",
            &format!("external_ids:swctl-ns={h1}"),
        ],
    );
    vsctl_ok(&db, &["del-port", &format!("{p}s"), h1_port.trim()]);
    lab.ok(&["apply", &f]);
    let at_ids = seen_at(&ids, &h_and_g[..1]);
    assert!(
        at_ids.contains("198.18.65.1 > 198.18.65.2: ICMP echo request"),
        "{at_ids}"
    );
    assert!(lab.swctl(&["status", &f]).status.success());

    // someone else's mirror: left, listed
    vsctl_ok(
        &db,
        &[
            "--",
            "--id=@m",
            "create",
            "Mirror",
            "name=theirs",
            "select_all=true",
            "--",
            "add",
            "Bridge",
            &format!("{p}s"),
            "mirrors",
            "@m",
        ],
    );
    assert!(lab.swctl(&["status", &f]).status.success());
    let shown = lab.ok(&["show", &format!("{p}s")]);
    assert!(
        shown.contains("mirror theirs: everything to no port (not swctl's)"),
        "{shown}"
    );
    assert!(shown.contains(&format!("mirror {tap}: ")), "{shown}");

    // dropped from the file: the lab's go, theirs stays
    let none = write(&lab, "none.toml", &lab_text(&p, ""));
    lab.ok(&["apply", &none]);
    let left = vsctl_ok(&db, &["--bare", "--columns=name", "list", "Mirror"]);
    assert!(!left.contains(&tap) && left.contains("theirs"), "{left}");
    // (the earlier probe left ids's neighbour entry for ids2 failed: the
    // kernel answers "unreachable" at once until it is flushed)
    sh(&["ip", "-n", &ids, "neigh", "flush", "all"]);
    assert!(ping_once(&ids, "198.18.67.2"), "ids forwards again");
    lab.ok(&["destroy", &none]);
}

#[test]
fn mirrors_that_cannot_be_are_refused_before_anything_exists() {
    let lab = Lab::ovs("on");
    let p = lab.p.clone();
    for (m, why) in [
        (
            format!("mirrors = [{{ select = [\"{p}h1\"], output = \"{p}nohost\" }}]"),
            format!("{p}nohost has no port on {p}s"),
        ),
        (
            format!("mirrors = [{{ select = [\"{p}h1\"], output = \"{p}h1\" }}]"),
            "both selected and the output".to_string(),
        ),
        (
            format!("mirrors = [{{ output = \"{p}ids\" }}]"),
            "select is required".to_string(),
        ),
    ] {
        let f = write(&lab, "bad.toml", &lab_text(&p, &m));
        let o = lab.swctl(&["apply", &f]);
        assert_eq!(o.status.code(), Some(2), "{m}: {}", text(&o));
        assert!(text(&o).contains(&why), "{m}: {}", text(&o));
        assert!(lab.namespaces().is_empty());
    }
    let on_bridge = lab_text(&p, &mirrors(&p)).replace("backend = \"ovs\"", "backend = \"bridge\"");
    let f = write(&lab, "br.toml", &on_bridge);
    let o = lab.swctl(&["apply", &f]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("only an OVS bridge has mirrors"),
        "{}",
        text(&o)
    );
}
