//! An OVS switch across three simulated machines, beside a Linux-bridge
//! switch across them, a gateway on one machine routing between the two and
//! a direct link across machines: each machine runs its own Open vSwitch in
//! its namespace, its VTEP on an OVS bridge holding its underlay, a
//! protected vxlan port per remote. Ping across machines and through the
//! gateway, TCP with checksummed transfers, full-size frames with DF;
//! re-apply changes nothing; a machine's namespace deleted by hand and a
//! machine's ovs-vswitchd killed are each repaired by one apply (pinged at
//! once); destroy leaves nothing, no daemon either. The oracles: ovs-vsctl
//! on each machine's database, ip inside each machine. Requires root.

mod common;

use common::*;

fn lab_file(p: &str) -> String {
    let mut t = format!("name = \"{p}\"\n");
    t.push_str(&three_machines(p, 250));
    t.push_str("[switches.s1]\nbackend = \"ovs\"\n[switches.s2]\nbackend = \"bridge\"\n");
    t.push_str(&format!(
        "[hosts.{p}g]\nmachine = \"m1\"\nforward = true\n\
         [[hosts.{p}g.ports]]\nswitch = \"s1\"\nip = \"198.18.91.254/24\"\n\
         [[hosts.{p}g.ports]]\nswitch = \"s2\"\nip = \"198.18.92.254/24\"\n"
    ));
    for (h, m, sw, net, a, via) in [
        ("a", "m1", "s1", 91, 1, "auto"),
        ("b", "m2", "s1", 91, 2, "auto"),
        ("c", "m3", "s1", 91, 3, "veth"),
        ("d", "m2", "s2", 92, 4, "auto"),
        ("e", "m3", "s2", 92, 5, "auto"),
    ] {
        t.push_str(&format!(
            "[hosts.{p}{h}]\nmachine = \"{m}\"\nroutes = [{{ to = \"default\", via = \"198.18.{net}.254\" }}]\n\
             [[hosts.{p}{h}.ports]]\nswitch = \"{sw}\"\nip = \"198.18.{net}.{a}/24\"\nvia = \"{via}\"\n"
        ));
    }
    t.push_str(&format!(
        "[[links]]\na = \"{p}a\"\nb = \"{p}e\"\na_ip = \"198.18.93.1/30\"\nb_ip = \"198.18.93.2/30\"\n"
    ));
    t
}

/// The OVSDB of machine `m` of lab `p`.
fn db(p: &str, m: &str) -> String {
    format!("unix:/run/swctl/machines/{p}+{m}/ovs/db.sock")
}

#[test]
fn an_ovs_switch_across_three_simulated_machines() {
    let lab = Lab::new("mv");
    let p = lab.p.clone();
    let f = write(&lab, "machines.toml", &lab_file(&p));
    let out = lab.ok(&["apply", &f]);
    for m in ["m1", "m2", "m3"] {
        assert!(out.contains(&format!("{m}: ")), "{out}");
    }
    let (a, b, c, d, e) = (
        lab.name("a"),
        lab.name("b"),
        lab.name("c"),
        lab.name("d"),
        lab.name("e"),
    );
    // each machine: its own Open vSwitch, s1 with a protected vxlan port to
    // each other machine (VNI the same everywhere; UDP 8472 beside the
    // kernel's VXLAN), the VTEP on the OVS bridge that holds the underlay
    let mut keys = std::collections::BTreeSet::new();
    for (i, m) in ["m1", "m2", "m3"].iter().enumerate() {
        let db = db(&p, m);
        let ports = vsctl_ok(&db, &["list-ports", "s1"]);
        let vx: Vec<&str> = ports.lines().filter(|l| l.starts_with("vx-")).collect();
        assert_eq!(vx.len(), 2, "{m}: {ports}");
        let mut remotes = vec![];
        for port in vx {
            assert_eq!(
                vsctl_ok(&db, &["get", "Port", port, "protected"]).trim(),
                "true"
            );
            assert_eq!(
                vsctl_ok(&db, &["get", "Interface", port, "type"]).trim(),
                "vxlan"
            );
            let opt = |k: &str| {
                vsctl_ok(&db, &["get", "Interface", port, &format!("options:{k}")])
                    .trim()
                    .trim_matches('"')
                    .to_string()
            };
            assert_eq!(opt("dst_port"), "8472");
            keys.insert(opt("key"));
            remotes.push(opt("remote_ip"));
        }
        remotes.sort();
        let want: Vec<String> = (1..=3)
            .filter(|k| *k != i + 1)
            .map(|k| format!("198.18.250.{k}"))
            .collect();
        assert_eq!(remotes, want, "{m}");
        let ns = format!("{p}{m}");
        let vtep = ip_addrs(Some(&ns))
            .into_iter()
            .find(|(_, a)| a.starts_with(&format!("198.18.250.{}/", i + 1)))
            .unwrap_or_else(|| panic!("{m}: no VTEP address"));
        let brs = vsctl_ok(&db, &["list-br"]);
        assert!(
            brs.lines().any(|b| b == vtep.0),
            "{m}: VTEP on {} not in {brs}",
            vtep.0
        );
        let up = vsctl_ok(&db, &["port-to-br", "underlay"]);
        assert_eq!(
            up.trim(),
            vtep.0,
            "{m}: the underlay is not on the VTEP's bridge"
        );
    }
    assert_eq!(keys.len(), 1, "one VNI for s1 on every machine: {keys:?}");
    // across machines on OVS, at once; the Linux-bridge span beside it;
    // through the gateway on m1 (TTL 63) from an OVS host to a bridge host
    assert!(ping_once(&a, "198.18.91.2"));
    assert!(ping_once(&a, "198.18.91.3"));
    assert!(ping_once(&b, "198.18.91.3"));
    assert!(ping_once(&d, "198.18.92.5"));
    let out = ping(Some(&b), "198.18.92.5").unwrap();
    assert!(out.contains("ttl=63"), "{out}");
    // the direct link across machines (m1 to m3)
    assert!(
        ping_once(&a, "198.18.93.2"),
        "no answer over the direct link"
    );
    // full-size frames with DF over OVS's tunnels, the kernel's, the link
    for (from, to) in [
        (&a, "198.18.91.3"),
        (&c, "198.18.91.2"),
        (&d, "198.18.92.5"),
        (&e, "198.18.93.1"),
    ] {
        assert!(
            ping_df(from, to, "1472"),
            "{from} -> {to}: 1500-byte frames lost"
        );
        assert!(
            !ping_df(from, to, "1473"),
            "{from} -> {to}: bigger than the MTU passed"
        );
    }
    // TCP, checksummed: OVS to OVS by veth (tx checksum offload handled),
    // OVS to a bridge host through the gateway
    let (sent, got) = checksummed(&c, &b, "198.18.91.3:5201".parse().unwrap(), 8 << 20);
    assert_eq!(sent, got, "the transfer over OVS arrived changed");
    let (sent, got) = checksummed(&e, &a, "198.18.92.5:5202".parse().unwrap(), 8 << 20);
    assert_eq!(
        sent, got,
        "the transfer through the gateway arrived changed"
    );
    // converged: a second apply changes nothing; status and check agree
    assert!(lab.ok(&["apply", &f]).contains("nothing to change"));
    assert_eq!(lab.swctl(&["status", &f]).status.code(), Some(0));
    let chk = lab.json(&["check", &f]);
    assert_eq!(chk["failed"], 0, "{chk}");
    // a machine's namespace deleted by hand (its Open vSwitch still runs
    // in the old one): one apply, then ping at once
    sh(&["ip", "netns", "del", &format!("{p}m2")]);
    assert_eq!(lab.swctl(&["status", &f]).status.code(), Some(3));
    lab.ok(&["apply", &f]);
    assert!(
        ping_once(&a, "198.18.91.2"),
        "m2's OVS host not repaired at once"
    );
    assert!(ping_once(&b, "198.18.92.5"), "m2's host lost its route");
    assert!(
        ping_once(&d, "198.18.92.5"),
        "m2's bridge host not repaired"
    );
    // a machine's ovs-vswitchd killed: status says so, one apply restarts
    // it and repairs its ports, ping at once
    let pidfile = format!("/run/swctl/machines/{p}+m3/ovs/ovs-vswitchd.pid");
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    sh(&["kill", "-9", pid.trim()]);
    let t = std::time::Instant::now();
    while std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
        && t.elapsed().as_secs() < 5
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3));
    let text = String::from_utf8_lossy(&st.stdout);
    assert!(
        text.contains("ovs-vswitchd of this machine (not running)"),
        "{text}"
    );
    lab.ok(&["apply", &f]);
    assert!(
        ping_once(&a, "198.18.91.3"),
        "m3's internal port not repaired"
    );
    assert!(ping_once(&b, "198.18.91.3"));
    assert!(lab.ok(&["apply", &f]).contains("nothing to change"));
    // destroy: nothing left on any machine, no daemon, nor here
    lab.ok(&["destroy", &f]);
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    assert!(lab.host_links().is_empty(), "{:?}", lab.host_links());
    let out = sh(&["pgrep", "-af", &format!("/run/swctl/machines/{p}+")]);
    let text = String::from_utf8_lossy(&out.stdout);
    let left: Vec<&str> = text.lines().filter(|l| !l.contains("pgrep")).collect();
    assert!(left.is_empty(), "daemons left: {left:?}");
    assert!(
        !std::fs::read_dir("/run/swctl/machines")
            .map(|rd| rd
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(&p)))
            .unwrap_or(false),
        "agents' run state left"
    );
}

/// A jumbo underlay (`mtu = 9000` on each simulated machine): the guests
/// of an OVS span and of a Linux-bridge span get what VXLAN leaves
/// (8950; OVS `auto` ports are veths), 8922-byte DF pings pass at once in
/// both, TCP arrives intact; a 9000-byte one does not fit and is refused.
#[test]
fn a_jumbo_underlay_gives_spans_jumbo_guests() {
    let lab = Lab::new("mj");
    let p = lab.p.clone();
    let mut t = format!("name = \"{p}\"\n");
    for (i, m) in ["m1", "m2"].iter().enumerate() {
        t.push_str(&format!(
            "[machines.{m}]\nvtep = \"198.18.249.{}\"\nnetns = \"{p}{m}\"\nmtu = 9000\n",
            i + 1
        ));
    }
    t.push_str("[switches.s1]\nbackend = \"ovs\"\n[switches.s2]\nbackend = \"bridge\"\n");
    for (h, m, sw, net, a) in [
        ("a", "m1", "s1", 94, 1),
        ("b", "m2", "s1", 94, 2),
        ("c", "m1", "s2", 95, 1),
        ("d", "m2", "s2", 95, 2),
    ] {
        t.push_str(&format!(
            "[hosts.{p}{h}]\nmachine = \"{m}\"\n[[hosts.{p}{h}.ports]]\nswitch = \"{sw}\"\nip = \"198.18.{net}.{a}/24\"\n"
        ));
    }
    let f = write(&lab, "jumbo.toml", &t);
    let v = lab.json(&["apply", &f]);
    assert!(v["changes"].as_u64().unwrap() > 0, "{v}");
    for (h, peer) in [("a", "198.18.94.2"), ("c", "198.18.95.2")] {
        let ns = lab.name(h);
        let l = ip_links(Some(&ns));
        let eth = link(&l, "eth0").unwrap_or_else(|| panic!("{ns}: {l:?}"));
        assert_eq!(eth["mtu"], 8950, "{eth}");
        assert!(ping_df(&ns, peer, "8922"), "{ns} -> {peer}: 8922 bytes, DF");
        assert!(!ping_df(&ns, peer, "8973"), "{ns}: over the MTU");
    }
    let (sent, got) = checksummed(
        &lab.name("b"),
        &lab.name("a"),
        "198.18.94.2:5402".parse().unwrap(),
        8 << 20,
    );
    assert_eq!(sent, got);
    assert_eq!(lab.json(&["apply", &f])["changes"], 0);
    lab.ok(&["destroy", &f]);
}
