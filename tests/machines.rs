//! A lab over three simulated machines (a network namespace each, joined by
//! an underlay bridge swctl makes): two Linux-bridge switches spanning the
//! machines over VXLAN and a gateway on one machine routing between them.
//! Ping across machines and through the gateway (TTL 63), TCP with a
//! checksummed transfer, full-size frames with DF, re-apply changes
//! nothing, `status` and `check` agree, a machine's namespace deleted by
//! hand is repaired by one apply (pinged at once), destroy leaves nothing
//! on any machine. Requires root.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::*;

fn lab_file(p: &str) -> String {
    let mut t = format!("name = \"{p}\"\n");
    for (i, m) in ["m1", "m2", "m3"].iter().enumerate() {
        t.push_str(&format!(
            "[machines.{m}]\nvtep = \"198.18.251.{}\"\nnetns = \"{p}{m}\"\n",
            i + 1
        ));
    }
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

/// FNV-1a over a byte stream.
fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= *b as u64;
        *h = h.wrapping_mul(0x100_0000_01b3);
    }
}

/// Send `n` pseudo-random bytes from `client` to `server`; the server
/// answers with the hash of what it received; both hashes returned.
fn checksummed(server: &str, client: &str, addr: SocketAddr, n: usize) -> (u64, u64) {
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = in_ns(server, move || {
        let l = TcpListener::bind(addr).unwrap();
        tx.send(()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut buf = vec![0u8; 65536];
        loop {
            let k = s.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            fnv(&mut h, &buf[..k]);
        }
        s.write_all(&h.to_be_bytes()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let cli = in_ns(client, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut sent = 0;
        let mut chunk = vec![0u8; 65536];
        while sent < n {
            for c in chunk.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *c = x as u8;
            }
            let k = chunk.len().min(n - sent);
            fnv(&mut h, &chunk[..k]);
            s.write_all(&chunk[..k]).unwrap();
            sent += k;
        }
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = [0u8; 8];
        s.read_exact(&mut got).unwrap();
        (h, u64::from_be_bytes(got))
    });
    let hashes = cli.join().unwrap();
    srv.join().unwrap();
    hashes
}

fn ping_df(ns: &str, addr: &str, size: &str) -> bool {
    sh(&[
        "ip", "netns", "exec", ns, "ping", "-c1", "-W1", "-M", "do", "-s", size, addr,
    ])
    .status
    .success()
}

#[test]
fn a_lab_over_three_simulated_machines() {
    let lab = Lab::new("mh");
    let p = lab.p.clone();
    let f = write(&lab, "machines.toml", &lab_file(&p));
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
    l2.ok(&["destroy", &f2]);
    assert!(l2.namespaces().is_empty(), "{:?}", l2.namespaces());
    // the first lab is whole
    assert!(ping_once(&l1.name("h2"), "198.18.75.1"));
    l1.ok(&["destroy", &f1]);
    assert!(l1.namespaces().is_empty(), "{:?}", l1.namespaces());
}
