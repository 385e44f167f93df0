//! A lab over three simulated machines (a network namespace each, joined by
//! an underlay bridge swctl makes): two Linux-bridge switches spanning the
//! machines over VXLAN and a gateway on one machine routing between them.
//! Ping across machines and through the gateway (TTL 63), TCP with a
//! checksummed transfer, full-size frames with DF, re-apply changes
//! nothing, `status` and `check` agree, a machine's namespace deleted by
//! hand is repaired by one apply (pinged at once), destroy leaves nothing
//! on any machine. Requires root.

mod common;

use common::*;

fn lab_file(p: &str) -> String {
    let mut t = format!("name = \"{p}\"\n");
    t.push_str(&three_machines(p, 251));
    t.push_str("[switches.s1]\nbackend = \"bridge\"\n[switches.s2]\nbackend = \"bridge\"\n");
    t.push_str(&format!(
        "[hosts.{p}g]\nmachine = \"m1\"\nforward = true\n\
         [[hosts.{p}g.ports]]\nswitch = \"s1\"\nip = \"198.18.71.254/24\"\n\
         [[hosts.{p}g.ports]]\nswitch = \"s2\"\nip = \"198.18.72.254/24\"\n"
    ));
    for (h, m, sw, net, a) in [
        ("a", "m1", "s1", 71, 1),
        ("b", "m2", "s1", 71, 2),
        ("c", "m3", "s1", 71, 3),
        ("d", "m2", "s2", 72, 4),
        ("e", "m3", "s2", 72, 5),
    ] {
        t.push_str(&format!(
            "[hosts.{p}{h}]\nmachine = \"{m}\"\nroutes = [{{ to = \"default\", via = \"198.18.{net}.254\" }}]\n\
             [[hosts.{p}{h}.ports]]\nswitch = \"{sw}\"\nip = \"198.18.{net}.{a}/24\"\n"
        ));
    }
    // a direct link between hosts on m1 and m3: a point-to-point VXLAN
    t.push_str(&format!(
        "[[links]]\na = \"{p}a\"\nb = \"{p}c\"\na_ip = \"198.18.73.1/30\"\nb_ip = \"198.18.73.2/30\"\n"
    ));
    t
}

#[test]
fn a_lab_over_three_simulated_machines() {
    let lab = Lab::new("mh");
    let p = lab.p.clone();
    let f = write(&lab, "machines.toml", &lab_file(&p));
    // plan before anything exists: the underlay's steps, each machine still
    // to be made, nothing changed
    let plan = lab.ok(&["plan", &f]);
    assert!(
        plan.contains(&format!("the machine's namespace {p}m2")),
        "{plan}"
    );
    assert!(lab.namespaces().is_empty(), "plan changed something");
    let out = lab.ok(&["apply", &f]);
    for m in ["m1", "m2", "m3"] {
        assert!(out.contains(&format!("{m}: ")), "{out}");
    }
    let (a, b, d) = (lab.name("a"), lab.name("b"), lab.name("d"));
    // every machine has its bridge, a vxlan device on it, flooding entries
    // to the two others (the oracle: ip and bridge, inside each machine)
    for m in ["m1", "m2", "m3"] {
        let ns = format!("{p}{m}");
        let vx = sh(&["ip", "-n", &ns, "-d", "-j", "link", "show", "type", "vxlan"]);
        let v: serde_json::Value = serde_json::from_slice(&vx.stdout).unwrap();
        let masters: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l["master"].as_str())
            .collect();
        let mut masters = masters;
        masters.sort();
        assert_eq!(masters, ["s1", "s2"], "{ns}: {v}");
        let fdb =
            String::from_utf8_lossy(&sh(&["bridge", "-n", &ns, "fdb", "show"]).stdout).into_owned();
        let zero = fdb
            .lines()
            .filter(|l| l.starts_with("00:00:00:00:00:00"))
            .count();
        assert_eq!(
            zero, 4,
            "{ns}: two remotes for each of two switches:\n{fdb}"
        );
    }
    // across machines, at once; through the gateway on m1 (TTL 63)
    assert!(ping_once(&a, "198.18.71.2"));
    assert!(ping_once(&a, "198.18.71.3"));
    let out = ping(Some(&b), "198.18.72.5").unwrap();
    assert!(out.contains("ttl=63"), "{out}");
    // the direct link across machines: a vxlan device in each host, named
    // after the other host (the oracle: ip -d inside the host)
    let (c, xa) = (
        lab.name("c"),
        sh(&["ip", "-n", &a, "-d", "-j", "link", "show", "type", "vxlan"]),
    );
    let v: serde_json::Value = serde_json::from_slice(&xa.stdout).unwrap();
    assert_eq!(v[0]["ifname"], c.as_str(), "{v}");
    assert!(
        ping_once(&a, "198.18.73.2"),
        "no answer over the direct link"
    );
    assert!(ping_once(&c, "198.18.73.1"));
    assert!(
        ping_df(&c, "198.18.73.1", "1472"),
        "1500-byte frames lost on the link"
    );
    // full-size frames with DF cross the tunnel (underlay 1600, guests 1500)
    assert!(ping_df(&b, "198.18.71.3", "1472"), "1500-byte frames lost");
    assert!(
        !ping_df(&b, "198.18.71.3", "1473"),
        "bigger than the MTU passed"
    );
    // TCP, 8 MB, checksummed, across two machines and the gateway
    let (sent, got) = checksummed(&d, &a, "198.18.72.4:5201".parse().unwrap(), 8 << 20);
    assert_eq!(sent, got, "the transfer arrived changed");
    // converged: a second apply changes nothing; status and check agree
    assert!(lab.ok(&["apply", &f]).contains("nothing to change"));
    assert_eq!(lab.swctl(&["status", &f]).status.code(), Some(0));
    let chk = lab.json(&["check", &f]);
    assert_eq!(chk["failed"], 0, "{chk}");
    // a machine's namespace deleted by hand: one apply, then ping at once
    // (the kernel frees the namespace's devices a moment later, so no
    // "it is broken now" ping here: it could still answer)
    sh(&["ip", "netns", "del", &format!("{p}m2")]);
    assert_eq!(lab.swctl(&["status", &f]).status.code(), Some(3));
    lab.ok(&["apply", &f]);
    assert!(ping_once(&a, "198.18.71.2"), "m2 not repaired at once");
    assert!(
        ping_once(&d, "198.18.72.5"),
        "m2's second switch not repaired"
    );
    // the link end deleted by hand inside a host: one apply, ping at once
    sh(&["ip", "-n", &c, "link", "del", &a]);
    lab.ok(&["apply", &f]);
    assert!(
        ping_once(&c, "198.18.73.1"),
        "the direct link not repaired at once"
    );
    // destroy: nothing left on any machine, nor here
    lab.ok(&["destroy", &f]);
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    assert!(lab.host_links().is_empty(), "{:?}", lab.host_links());
    let runs = std::fs::read_dir("/run/swctl/machines")
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&p))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(runs, 0, "agents' run state left");
    assert!(!std::path::Path::new(&format!("/run/swctl/topologies/{p}")).exists());
}

/// Two labs over simulated machines, each with a switch called `s1`: every
/// machine's namespace is under the one /run/netns, and neither lab's
/// agents may take the other's switch for theirs.
#[test]
fn two_labs_over_simulated_machines_keep_to_their_own() {
    let (l1, l2) = (Lab::new("mj"), Lab::new("mk"));
    let file = |lab: &Lab, net: u8| {
        let p = &lab.p;
        let mut t = format!("name = \"{p}\"\n");
        for i in 1..=2 {
            t.push_str(&format!(
                "[machines.m{i}]\nvtep = \"198.18.{}.{i}\"\nnetns = \"{p}m{i}\"\n[hosts.{p}h{i}]\nmachine = \"m{i}\"\n\
                 [[hosts.{p}h{i}.ports]]\nswitch = \"s1\"\nip = \"198.18.{net}.{i}/24\"\n",
                net + 100
            ));
        }
        t.push_str("[switches.s1]\nbackend = \"bridge\"\n");
        write(lab, "two.toml", &t)
    };
    let (f1, f2) = (file(&l1, 75), file(&l2, 76));
    l1.ok(&["apply", &f1]);
    l2.ok(&["apply", &f2]);
    assert!(ping_once(&l1.name("h1"), "198.18.75.2"));
    assert!(ping_once(&l2.name("h1"), "198.18.76.2"));
    assert!(l1.ok(&["apply", &f1]).contains("nothing to change"));
    // the second lab no longer applied (its record gone, as after a crash):
    // gc removes it on every machine, by the machines' agents, and nothing
    // of the first
    std::fs::remove_file(format!("/run/swctl/topologies/{}", l2.p)).unwrap();
    let out = l1.ok(&["gc", "--dry-run"]);
    assert!(out.contains(&format!("{}+m1", l2.p)), "{out}");
    assert!(!l2.namespaces().is_empty(), "a dry run removed something");
    let out = l1.ok(&["gc"]);
    assert!(out.contains(l2.p.as_str()), "{out}");
    assert!(l2.namespaces().is_empty(), "{:?}", l2.namespaces());
    let parts = std::fs::read_dir("/run/swctl/machines")
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&l2.p))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(parts, 0, "the gone lab's agents' run state is left");
    l2.ok(&["destroy", &f2]);
    // the first lab is whole
    assert!(ping_once(&l1.name("h2"), "198.18.75.1"));
    l1.ok(&["destroy", &f1]);
    assert!(l1.namespaces().is_empty(), "{:?}", l1.namespaces());
}

/// `ip CMD` for each, each must succeed.
fn ip_all(cmds: &[String]) {
    for cmd in cmds {
        let ok = sh(&["sh", "-c", &format!("ip {cmd}")]).status.success();
        assert!(ok, "ip {cmd}");
    }
}

/// sshd processes started by a test, stopped whatever happens.
struct Sshd(Vec<String>);

impl Drop for Sshd {
    fn drop(&mut self) {
        for pidfile in &self.0 {
            if let Ok(pid) = std::fs::read_to_string(pidfile) {
                let _ = sh(&["kill", pid.trim()]);
            }
        }
    }
}

const RELAY: &str = r#"
import os, socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.settimeout(None)
def up():
    while True:
        b = os.read(0, 65536)
        if not b:
            break
        s.sendall(b)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while True:
    b = s.recv(65536)
    if not b:
        break
    os.write(1, b)
"#;

/// Two machines reached over SSH for real: each a namespace on an underlay
/// the test makes, with its own sshd (key authentication only) on its VTEP
/// address; swctl reaches them with `reach = "ssh:root@VTEP"` (the ssh
/// command from $SWCTL_SSH: a config whose ProxyCommand enters the
/// underlay), runs its agent there, and the lab passes traffic, converges
/// and is destroyed.
#[test]
fn machines_reached_over_ssh() {
    let lab = Lab::new("ms");
    let p = lab.p.clone();
    let dir = std::env::temp_dir().join(format!("{p}-ssh"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    // the underlay: a bridge with an address (for the relay) in U, a
    // machine namespace per machine with its VTEP, MTU 1600
    let u = format!("{p}U");
    ip_all(&[
        format!("netns add {u}"),
        format!("-n {u} link set lo up"),
        format!("-n {u} link add ub type bridge"),
        format!("-n {u} addr add 198.18.253.254/24 dev ub"),
        format!("-n {u} link set ub up"),
    ]);
    let _ = sh(&["mkdir", "-p", "/run/sshd"]);
    assert!(
        sh(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            &format!("{d}/host")
        ])
        .status
        .success()
    );
    assert!(
        sh(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            &format!("{d}/client")
        ])
        .status
        .success()
    );
    std::fs::copy(format!("{d}/client.pub"), format!("{d}/authorized_keys")).unwrap();
    std::fs::write(format!("{d}/relay.py"), RELAY).unwrap();
    std::fs::write(
        format!("{d}/ssh_config"),
        format!(
            "Host *\n  User root\n  IdentityFile {d}/client\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  \
             UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  ConnectTimeout 10\n  \
             ProxyCommand ip netns exec {u} python3 {d}/relay.py %h %p\n"
        ),
    )
    .unwrap();
    let mut pids = vec![];
    for i in 1..=2 {
        let m = format!("{p}m{i}");
        ip_all(&[
            format!("netns add {m}"),
            format!("-n {m} link set lo up"),
            format!("link add {m}u netns {m} mtu 1600 type veth peer name {m} netns {u} mtu 1600"),
            format!("-n {u} link set {m} master ub up"),
            format!("-n {m} link set {m}u name underlay"),
            format!("-n {m} addr add 198.18.253.{i}/24 dev underlay"),
            format!("-n {m} link set underlay up"),
        ]);
        let pid = format!("{d}/sshd{i}.pid");
        std::fs::write(
            format!("{d}/sshd{i}"),
            format!(
                "ListenAddress 198.18.253.{i}\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nPidFile {pid}\n"
            ),
        )
        .unwrap();
        // nsenter, not `ip netns exec`: that gives sshd (and the agents it
        // runs) a mount namespace of its own, where the namespaces they
        // make under /run/netns are not seen from here
        let out = sh(&[
            "nsenter",
            &format!("--net=/run/netns/{m}"),
            "/usr/sbin/sshd",
            "-f",
            &format!("{d}/sshd{i}"),
        ]);
        assert!(
            out.status.success(),
            "sshd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pids.push(pid);
    }
    let _sshd = Sshd(pids);
    let ssh = format!("ssh -F {d}/ssh_config");
    // both answer with key authentication (bounded: ConnectTimeout, 20 tries)
    for i in 1..=2 {
        let host = format!("root@198.18.253.{i}");
        let ok = (0..20).any(|_| {
            let o = sh(&[
                "timeout",
                "10",
                "ssh",
                "-F",
                &format!("{d}/ssh_config"),
                "-o",
                "BatchMode=yes",
                &host,
                "true",
            ]);
            o.status.success() || {
                std::thread::sleep(std::time::Duration::from_millis(200));
                false
            }
        });
        assert!(ok, "sshd on machine {i} does not answer");
    }
    let mut lab = lab;
    lab.env.push(("SWCTL_SSH".into(), ssh));
    lab.env
        .push(("SWCTL_REMOTE".into(), env!("CARGO_BIN_EXE_swctl").into()));
    let mut t = format!("name = \"{p}\"\n[switches.s1]\nbackend = \"bridge\"\n");
    for i in 1..=2 {
        t.push_str(&format!(
            "[machines.m{i}]\nvtep = \"198.18.253.{i}\"\nreach = \"ssh:root@198.18.253.{i}\"\n\
             [hosts.{p}h{i}]\nmachine = \"m{i}\"\n[[hosts.{p}h{i}.ports]]\nswitch = \"s1\"\nip = \"198.18.77.{i}/24\"\n"
        ));
    }
    let f = write(&lab, "ssh.toml", &t);
    let out = lab.ok(&["apply", &f]);
    assert!(out.contains("m1: ") && out.contains("m2: "), "{out}");
    // the agents ran over SSH, inside the machines: their bridges are there
    for i in 1..=2 {
        let l = sh(&["ip", "-n", &format!("{p}m{i}"), "-j", "link", "show", "s1"]);
        assert!(l.status.success(), "no bridge on machine {i}");
    }
    if !ping_once(&lab.name("h1"), "198.18.77.2") {
        let mut why = String::new();
        for i in 1..=2 {
            for c in [
                format!("ip -n {p}m{i} -d link"),
                format!("bridge -n {p}m{i} fdb show"),
                format!("ip -n {p}m{i} addr"),
                format!("ip -n {p}h{i} addr"),
            ] {
                let o = sh(&["sh", "-c", &c]);
                why.push_str(&format!("$ {c}\n{}\n", String::from_utf8_lossy(&o.stdout)));
            }
        }
        panic!("no answer across the SSH machines:\n{why}");
    }
    assert!(lab.ok(&["apply", &f]).contains("nothing to change"));
    assert_eq!(lab.swctl(&["status", &f]).status.code(), Some(0));
    // check fans out: each machine's agent probes from its own hosts
    let chk = lab.json(&["check", &f]);
    assert_eq!(chk["failed"], 0, "{chk}");
    assert_eq!(chk["pairs"].as_array().unwrap().len(), 2, "{chk}");
    // an address removed by hand on one machine: check fails, naming it
    sh(&["ip", "-n", &lab.name("h2"), "addr", "flush", "dev", "eth0"]);
    let bad = lab.swctl(&["--json", "check", &f]);
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert!(v["failed"].as_u64().unwrap() >= 1, "{v}");
    lab.ok(&["apply", &f]);
    lab.ok(&["destroy", &f]);
    assert!(
        lab.namespaces()
            .iter()
            .all(|n| n == &u || n.starts_with(&format!("{p}m"))),
        "hosts left: {:?}",
        lab.namespaces()
    );
    for i in 1..=2 {
        let l = sh(&["ip", "-n", &format!("{p}m{i}"), "link", "show", "s1"]);
        assert!(!l.status.success(), "bridge left on machine {i}");
    }
    drop(_sshd);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A trunk in a lab over machines: made on the one machine that has both
/// switches, joining a spanning switch to a local one; a host on another
/// machine reaches the local switch's host over the tunnel and the trunk;
/// an end deleted by hand is repaired by one apply.
#[test]
fn a_trunk_in_a_lab_over_machines() {
    let lab = Lab::new("mt");
    let p = lab.p.clone();
    let mut t = format!("name = \"{p}\"\n");
    for (i, m) in ["m1", "m2"].iter().enumerate() {
        t.push_str(&format!(
            "[machines.{m}]\nvtep = \"198.18.249.{}\"\nnetns = \"{p}{m}\"\n",
            i + 1
        ));
    }
    t.push_str("[switches.s1]\n[switches.s2]\n[[trunks]]\na = \"s1\"\nb = \"s2\"\n");
    for (h, m, sw, a) in [
        ("a", "m1", "s1", 1),
        ("b", "m2", "s1", 2),
        ("c", "m2", "s2", 3),
    ] {
        t.push_str(&format!(
            "[hosts.{p}{h}]\nmachine = \"{m}\"\n[[hosts.{p}{h}.ports]]\nswitch = \"{sw}\"\nip = \"198.18.74.{a}/24\"\n"
        ));
    }
    let f = write(&lab, "trunk.toml", &t);
    lab.ok(&["apply", &f]);
    // the trunk is on m2 only (the oracle: ip inside each machine)
    let ends = |m: &str| {
        ip_links(Some(&format!("{p}{m}")))
            .iter()
            .filter(|l| {
                l["ifalias"]
                    .as_str()
                    .is_some_and(|a| a.contains("role=trunk"))
            })
            .count()
    };
    assert_eq!((ends("m1"), ends("m2")), (0, 2));
    let (a, c) = (lab.name("a"), lab.name("c"));
    assert!(
        ping_once(&a, "198.18.74.3"),
        "no way over the tunnel and the trunk"
    );
    assert!(lab.ok(&["apply", &f]).contains("nothing to change"));
    // an end deleted by hand: one apply, ping at once
    let m2 = format!("{p}m2");
    let end = ip_links(Some(&m2))
        .iter()
        .find(|l| {
            l["ifalias"]
                .as_str()
                .is_some_and(|a| a.contains("role=trunk"))
        })
        .and_then(|l| l["ifname"].as_str().map(String::from))
        .unwrap();
    sh(&["ip", "-n", &m2, "link", "del", &end]);
    lab.ok(&["apply", &f]);
    assert!(
        ping_once(&c, "198.18.74.1"),
        "the trunk not repaired at once"
    );
    lab.ok(&["destroy", &f]);
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
}
