//! OVN as the distributed switch, for real: a private OVN central (`swctl
//! ovn start --dir`), three simulated machines each made a chassis by its
//! agent (its own Open vSwitch and ovn-controller in its namespace), three
//! logical switches across them (`span = "ovn"`), a gateway host between
//! two of them and an OVN logical router (`[routers.r1]`) between two.
//! Ping at once after apply (every port installed, every chassis caught
//! up), TTL 63 through the gateway and through the router, TCP with a checksummed
//! transfer; re-apply changes nothing; a host's port deleted by hand is
//! bound again by one apply; a logical switch made by hand with ovn-nbctl
//! survives destroy; destroy leaves no Northbound row of the lab, no
//! chassis, no namespace, no daemon. Oracles: ovn-nbctl, ovn-sbctl,
//! ovs-vsctl on each machine, ip. Requires root and OVN.

mod common;

use common::*;

/// A private OVN central for one test, stopped and removed at the end.
struct Central {
    dir: String,
}

impl Central {
    fn start(lab: &Lab) -> Central {
        let dir = format!("/run/swctl/ovn-test-{}", lab.p);
        let c = Central { dir };
        lab.ok(&["ovn", "start", "--dir", &c.dir]);
        c
    }
    fn nb(&self) -> String {
        format!("unix:{}/nb.sock", self.dir)
    }
    fn sb(&self) -> String {
        format!("unix:{}/sb.sock", self.dir)
    }
    fn nbctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.nb());
        let mut a = vec!["ovn-nbctl", db.as_str()];
        a.extend_from_slice(args);
        String::from_utf8_lossy(&sh(&a).stdout).into_owned()
    }
    fn sbctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.sb());
        let mut a = vec!["ovn-sbctl", db.as_str()];
        a.extend_from_slice(args);
        String::from_utf8_lossy(&sh(&a).stdout).into_owned()
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        let _ = sh(&[
            env!("CARGO_BIN_EXE_swctl"),
            "ovn",
            "stop",
            "--dir",
            &self.dir,
        ]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn lab_file(p: &str, c: &Central) -> String {
    let mut t = format!(
        "name = \"{p}\"\n[ovn]\nnb = \"{}\"\nsb = \"{}\"\n",
        c.nb(),
        c.sb()
    );
    t.push_str(&three_machines(p, 247));
    t.push_str("[switches.ls1]\nspan = \"ovn\"\n[switches.ls2]\nspan = \"ovn\"\n");
    // a third switch, joined to the first by an OVN logical router
    t.push_str(
        "[switches.ls3]\nspan = \"ovn\"\n[routers.r1]\n\
         [[routers.r1.ports]]\nswitch = \"ls1\"\nip = \"198.18.86.253/24\"\n\
         [[routers.r1.ports]]\nswitch = \"ls3\"\nip = \"198.18.88.254/24\"\n",
    );
    t.push_str(&format!(
        "[hosts.{p}f]\nmachine = \"m3\"\nroutes = [{{ to = \"default\", via = \"198.18.88.254\" }}]\n\
         [[hosts.{p}f.ports]]\nswitch = \"ls3\"\nip = \"198.18.88.6/24\"\n"
    ));
    t.push_str(&format!(
        "[hosts.{p}g]\nmachine = \"m1\"\nforward = true\n\
         [[hosts.{p}g.ports]]\nswitch = \"ls1\"\nip = \"198.18.86.254/24\"\n\
         [[hosts.{p}g.ports]]\nswitch = \"ls2\"\nip = \"198.18.87.254/24\"\n"
    ));
    for (h, m, sw, net, a) in [
        ("a", "m1", "ls1", 86, 1),
        ("b", "m2", "ls1", 86, 2),
        ("c", "m3", "ls1", 86, 3),
        ("d", "m2", "ls2", 87, 4),
        ("e", "m3", "ls2", 87, 5),
    ] {
        let extra = if h == "a" {
            ", { to = \"198.18.88.0/24\", via = \"198.18.86.253\" }"
        } else {
            ""
        };
        t.push_str(&format!(
            "[hosts.{p}{h}]\nmachine = \"{m}\"\nroutes = [{{ to = \"default\", via = \"198.18.{net}.254\" }}{extra}]\n\
             [[hosts.{p}{h}.ports]]\nswitch = \"{sw}\"\nip = \"198.18.{net}.{a}/24\"\n"
        ));
    }
    t
}

#[test]
fn ovn_switches_across_three_simulated_machines() {
    let lab = Lab::new("on");
    let p = lab.p.clone();
    let central = Central::start(&lab);
    let f = write(&lab, "ovn.toml", &lab_file(&p, &central));
    let out = lab.ok(&["apply", &f]);
    assert!(out.contains("ovn: "), "{out}");
    let (a, b, c, e) = (lab.name("a"), lab.name("b"), lab.name("c"), lab.name("e"));
    // at once: every port bound before apply returned
    assert!(ping_once(&a, "198.18.86.2"), "a -> b (m1 -> m2)");
    assert!(ping_once(&a, "198.18.86.3"), "a -> c (m1 -> m3)");
    assert!(ping_once(&b, "198.18.86.3"), "b -> c (m2 -> m3)");
    let out = ping(Some(&b), "198.18.87.5").unwrap();
    assert!(out.contains("ttl=63"), "{out}");
    // through the OVN logical router, m1 -> m3, at once
    let out = ping(Some(&a), "198.18.88.6").unwrap();
    assert!(out.contains("ttl=63"), "through the router: {out}");
    let routers = central.nbctl(&["--bare", "--columns=name", "list", "Logical_Router"]);
    assert_eq!(routers.trim(), "r1", "{routers}");
    let nets = central.nbctl(&[
        "--bare",
        "--columns=networks",
        "list",
        "Logical_Router_Port",
    ]);
    assert!(
        nets.contains("198.18.86.253/24") && nets.contains("198.18.88.254/24"),
        "{nets}"
    );
    // the Northbound rows: two switches marked with the lab, one port per
    // host port, its address the device's own (the oracle: ovn-nbctl, ip)
    let switches = central.nbctl(&[
        "--bare",
        "--columns=name",
        "find",
        "Logical_Switch",
        &format!("external_ids:swctl-owner={p}"),
    ]);
    let mut names: Vec<&str> = switches.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["ls1", "ls2", "ls3"], "{switches}");
    for (h, sw, ip) in [("a", "ls1", "198.18.86.1"), ("e", "ls2", "198.18.87.5")] {
        let lsp = format!("{p}.{p}{h}.{sw}");
        let addr = central.nbctl(&["lsp-get-addresses", &lsp]);
        let links = ip_links(Some(&format!("{p}{h}")));
        let mac = link(&links, "eth0").unwrap()["address"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(addr.trim(), format!("{mac} {ip}"), "{lsp}");
    }
    // the chassis: one per machine, each binding its own hosts' ports
    let chassis = central.sbctl(&["--bare", "--columns=name", "list", "Chassis"]);
    let mut ch: Vec<&str> = chassis
        .split_whitespace()
        .filter(|n| n.starts_with(&p))
        .collect();
    ch.sort();
    assert_eq!(ch.len(), 3, "{chassis}");
    // each machine's port: an internal port of br-int, bound and installed
    let db = format!("unix:/run/swctl/machines/{p}+m2/ovs/db.sock");
    let ids = vsctl_ok(
        &db,
        &["--bare", "--columns=external_ids", "list", "Interface"],
    );
    assert!(ids.contains(&format!("iface-id={p}.{p}b.ls1")), "{ids}");
    assert!(ids.contains("ovn-installed=true"), "{ids}");
    // TCP across machines, checksummed
    let (sent, got) = checksummed(&c, &a, "198.18.86.3:5203".parse().unwrap(), 4 << 20);
    assert_eq!(sent, got, "the transfer over OVN arrived changed");
    // converged
    assert!(lab.ok(&["apply", &f]).contains("nothing to change"));
    assert_eq!(lab.swctl(&["status", &f]).status.code(), Some(0));
    let chk = lab.json(&["check", &f]);
    assert_eq!(chk["failed"], 0, "{chk}");
    // a host's port deleted by hand: drift, then one apply binds it again
    sh(&["ip", "-n", &b, "link", "del", "eth0"]);
    assert_eq!(lab.swctl(&["status", &f]).status.code(), Some(3));
    lab.ok(&["apply", &f]);
    assert!(
        ping_once(&a, "198.18.86.2"),
        "b's port not bound again at once"
    );
    assert!(ping_once(&b, "198.18.87.5"), "b lost its route");
    // someone else's logical switch, even of the same name, survives
    // (`create`, not `ls-add`, which refuses a second switch of a name)
    central.nbctl(&["create", "Logical_Switch", "name=ls1"]);
    lab.ok(&["destroy", &f]);
    let left = central.nbctl(&[
        "--bare",
        "--columns=name,external_ids",
        "list",
        "Logical_Switch",
    ]);
    assert_eq!(
        left.split_whitespace().collect::<Vec<_>>(),
        ["ls1"],
        "{left}"
    );
    assert!(!left.contains("swctl"), "{left}");
    let chassis = central.sbctl(&["--bare", "--columns=name", "list", "Chassis"]);
    assert!(!chassis.contains(&p), "chassis left: {chassis}");
    let routers = central.nbctl(&["--bare", "--columns=name", "list", "Logical_Router"]);
    assert!(routers.trim().is_empty(), "router left: {routers}");
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    let out = sh(&["pgrep", "-af", &format!("/run/swctl/machines/{p}+")]);
    let text = String::from_utf8_lossy(&out.stdout);
    let daemons: Vec<&str> = text.lines().filter(|l| !l.contains("pgrep")).collect();
    assert!(daemons.is_empty(), "daemons left: {daemons:?}");
    let _ = e;
}

#[test]
fn a_lab_whose_central_is_gone_for_good_is_destroyed_as_far_as_it_can_be() {
    let lab = Lab::new("og");
    let p = lab.p.clone();
    let central = Central::start(&lab);
    let f = write(&lab, "ovn.toml", &lab_file(&p, &central));
    lab.ok(&["apply", &f]);
    assert!(ping_once(&lab.name("a"), "198.18.86.2"), "a -> b");
    // the central gone for good: daemons stopped, databases removed
    lab.ok(&["ovn", "stop", "--dir", &central.dir]);
    let _ = std::fs::remove_dir_all(&central.dir);
    let labs = |lab: &Lab| {
        let v = lab.json(&["labs"]);
        v["labs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l["name"].as_str().map(String::from))
            .collect::<Vec<_>>()
    };
    let out = lab.swctl(&["destroy", "--name", &p]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("not reached: ovn"), "{text}");
    assert!(text.contains("swctl ovn start"), "{text}");
    assert!(text.contains("--forget"), "{text}");
    // every part that answered is gone: the machines, their hosts, daemons
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    let out = sh(&["pgrep", "-af", &format!("/run/swctl/machines/{p}+")]);
    let text = String::from_utf8_lossy(&out.stdout);
    let daemons: Vec<&str> = text.lines().filter(|l| !l.contains("pgrep")).collect();
    assert!(daemons.is_empty(), "daemons left: {daemons:?}");
    assert!(labs(&lab).contains(&p), "still recorded without --forget");
    // --forget: the record goes, saying what may remain where
    let v = lab.json(&["destroy", "--name", &p, "--forget"]);
    assert_eq!(v["forgotten"], true, "{v}");
    let u = &v["unreached"][0];
    assert_eq!(u["part"], "ovn", "{v}");
    assert!(
        u["may_remain"].as_str().unwrap().contains(&central.nb()),
        "{v}"
    );
    assert!(!labs(&lab).contains(&p), "forgotten");
    let out = lab.swctl(&["destroy", "--name", &p]);
    assert_eq!(out.status.code(), Some(1), "no lab of that name any more");
}
