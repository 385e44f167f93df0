//! Scenarios S1, S2, S3, S4 and S7 on the real kernel with the bridge
//! backend, driven only through the `swctl` binary and checked with
//! independent oracles: `ip -j`, `ip netns list`, ping and a TCP transfer.
//! Requires root. Every test has its own name prefix and cleans up on drop.

mod common;

use common::*;

#[test]
fn s1_namespace_lifecycle() {
    let lab = Lab::new("a");
    let n = lab.name("blue");
    let out = lab.ok(&["ns", "add", &n]);
    assert!(out.contains("1 change"), "{out}");
    assert!(
        lab.namespaces().contains(&n),
        "ip netns list does not show {n}"
    );
    let links = ip_links(Some(&n));
    assert_eq!(links.len(), 1, "a new namespace has only lo: {links:?}");
    let lo = link(&links, "lo").expect("lo");
    assert!(
        lo["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "lo is not UP: {lo}"
    );
    // idempotent
    let again = lab.ok(&["ns", "add", &n]);
    assert!(again.contains("nothing to change"), "{again}");
    // ns list marks it as swctl's
    let v = lab.json(&["ns", "list"]);
    let e = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == n.as_str())
        .expect("listed");
    assert_eq!(e["swctl"], true);
    // exec: exit code passes through; it runs inside (sees only lo)
    let out = lab.swctl(&["ns", "exec", &n, "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = lab.swctl(&["ns", "exec", &n, "--", "ip", "-o", "link"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("lo:"));
    let out = lab.swctl(&["ns", "exec", &n, "--", "/nonexistent-command"]);
    assert_eq!(out.status.code(), Some(127));
    lab.ok(&["ns", "del", &n]);
    assert!(!lab.namespaces().contains(&n));
    assert!(!std::path::Path::new(&format!("/run/netns/{n}")).exists());
    // deleting what is gone is an error, as with `ip netns del`
    assert!(!lab.swctl(&["ns", "del", &n]).status.success());
}

#[test]
fn s1_foreign_namespace_is_not_deleted() {
    let lab = Lab::new("b");
    let n = lab.name("f");
    assert!(sh(&["ip", "netns", "add", &n]).status.success());
    let out = lab.swctl(&["ns", "del", &n]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not created by swctl"));
    assert!(lab.namespaces().contains(&n));
    // ns add of a foreign namespace that exists: swctl says whose it is
    let out = lab.swctl(&["ns", "add", &n]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn s2_veth_between_namespaces() {
    let lab = Lab::new("c");
    let (a, b) = (lab.name("1"), lab.name("2"));
    lab.ok(&["ns", "add", &a, &b]);
    let v = lab.json(&[
        "link",
        &a,
        &b,
        "--ip-a",
        "198.18.2.1/24",
        "--ip-a",
        "2001:db8:2::1/64",
        "--ip-b",
        "198.18.2.2/24",
        "--ip-b",
        "2001:db8:2::2/64",
    ]);
    assert_eq!(v["wiring"][0]["via"], "veth");
    let a_dev = v["wiring"][0]["a_dev"].as_str().unwrap().to_string();
    let b_dev = v["wiring"][0]["b_dev"].as_str().unwrap().to_string();
    assert_eq!(a_dev, b, "the end in {a} is named after its peer namespace");
    assert!(ip_addrs(Some(&a)).contains(&(a_dev.clone(), "198.18.2.1/24".into())));
    assert!(ip_addrs(Some(&b)).contains(&(b_dev.clone(), "198.18.2.2/24".into())));
    let la = ip_links(Some(&a));
    assert_eq!(link(&la, &a_dev).unwrap()["linkinfo"]["info_kind"], "veth");
    ping(Some(&a), "198.18.2.2").unwrap();
    ping(Some(&b), "2001:db8:2::1").unwrap();
    // an end with an IPv6 address has its link-local one too
    let v6 = |ns: &str, dev: &str| -> Vec<String> {
        let out = sh(&["ip", "-n", ns, "-6", "-o", "addr", "show", "dev", dev]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3).map(String::from))
            .collect()
    };
    assert!(
        v6(&b, &b_dev).iter().any(|a| a.starts_with("fe80:")),
        "{:?}",
        v6(&b, &b_dev)
    );
    // same command again changes nothing
    assert!(lab.ok(&["link", &a, &b]).contains("nothing to change"));
    assert!(lab.ok(&["link", &b, &a]).contains("nothing to change"));
    // unlink removes both ends
    lab.ok(&["unlink", &a, &b]);
    assert!(link(&ip_links(Some(&a)), &a_dev).is_none());
    assert!(link(&ip_links(Some(&b)), &b_dev).is_none());
}

#[test]
fn s3_namespace_to_host() {
    let lab = Lab::new("d");
    let n = lab.name("n");
    lab.ok(&["ns", "add", &n]);
    // this test is about the host namespace: it gets an address, removed by unlink
    let v = lab.json(&[
        "link",
        "host",
        &n,
        "--ip-a",
        "198.18.3.1/30",
        "--ip-b",
        "198.18.3.2/30",
    ]);
    let host_dev = v["wiring"][0]["a_dev"].as_str().unwrap().to_string();
    assert!(host_dev.len() <= 15);
    assert_eq!(v["wiring"][0]["b_dev"], "host");
    assert!(ip_addrs(None).contains(&(host_dev.clone(), "198.18.3.1/30".into())));
    ping(Some(&n), "198.18.3.1").unwrap();
    ping(None, "198.18.3.2").unwrap();
    lab.ok(&["unlink", &n, "host"]);
    assert!(
        link(&ip_links(None), &host_dev).is_none(),
        "host end left behind"
    );
    assert!(!ip_addrs(None).iter().any(|(_, a)| a == "198.18.3.1/30"));
}

fn flags_up(l: &serde_json::Value) -> bool {
    l["flags"].as_array().unwrap().iter().any(|f| f == "UP")
}

#[test]
fn s4_three_namespaces_on_a_bridge() {
    let lab = Lab::new("e");
    let br = lab.name("br");
    let hosts: Vec<String> = (1..=3).map(|i| lab.name(&format!("h{i}"))).collect();
    let hs: Vec<&str> = hosts.iter().map(|s| s.as_str()).collect();
    let mut args = vec!["ns", "add"];
    args.extend(&hs);
    lab.ok(&args);
    let out = lab.ok(&["--backend", "bridge", "switch", "add", &br]);
    assert!(out.contains("backend: bridge"), "{out}");
    let mut host_ends = vec![];
    for (i, h) in hs.iter().enumerate() {
        let ip = format!("198.18.4.{}/24", i + 1);
        let v = lab.json(&["attach", h, &br, "--ip", &ip]);
        let w = &v["wiring"][0];
        assert_eq!(w["via"], "veth");
        assert_eq!(w["b_dev"], "eth0");
        host_ends.push(w["a_dev"].as_str().unwrap().to_string());
    }
    // oracle: every host end is a veth with the bridge as master, up
    let links = ip_links(None);
    let b = link(&links, &br).expect("bridge exists");
    assert_eq!(b["linkinfo"]["info_kind"], "bridge");
    assert_eq!(b["linkinfo"]["info_data"]["stp_state"], 0);
    for e in &host_ends {
        let l = link(&links, e).unwrap_or_else(|| panic!("{e} missing"));
        assert_eq!(l["master"], br.as_str(), "{e}");
        assert_eq!(l["linkinfo"]["info_kind"], "veth");
        assert!(flags_up(l));
    }
    // IPv4 only: no IPv6 chatter on the bridge, neither end has a link-local
    // address (`addrgenmode none`)
    for (ns, dev) in [(None, host_ends[0].as_str()), (Some(hs[0]), "eth0")] {
        let mut a = vec![];
        if let Some(n) = ns {
            a.extend(["ip", "-n", n]);
        } else {
            a.push("ip");
        }
        a.extend(["-6", "-o", "addr", "show", "dev", dev]);
        let out = sh(&a);
        assert!(
            String::from_utf8_lossy(&out.stdout).trim().is_empty(),
            "{dev}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    for (i, h) in hs.iter().enumerate() {
        let nl = ip_links(Some(h));
        assert!(flags_up(link(&nl, "eth0").unwrap()));
        for j in 0..3 {
            if i != j {
                ping(Some(h), &format!("198.18.4.{}", j + 1)).unwrap();
            }
        }
    }
    // TCP, not only ping
    let got = tcp_transfer(hs[1], hs[0], "198.18.4.2:5201".parse().unwrap(), 8 << 20).unwrap();
    assert_eq!(got, 8 << 20);
    // attach twice: no second port
    assert!(
        lab.ok(&["attach", hs[0], &br])
            .contains("nothing to change")
    );
    let ports = ip_links(None)
        .into_iter()
        .filter(|l| l["master"] == br.as_str())
        .count();
    assert_eq!(ports, 3);
    // show and switch list agree
    let s = lab.switch_entry(&br).expect("listed");
    assert_eq!(s["ports"].as_array().unwrap().len(), 3);
    assert_eq!(s["backend"], "bridge");
    // --backend ovs on this bridge is a contradiction
    let out = lab.swctl(&["--backend", "ovs", "attach", hs[0], &br]);
    assert!(!out.status.success());
    // detach removes both ends
    lab.ok(&["detach", hs[2], &br]);
    assert!(link(&ip_links(None), &host_ends[2]).is_none());
    assert!(link(&ip_links(Some(hs[2])), "eth0").is_none());
    // switch del removes the bridge and the ports swctl made on it
    lab.ok(&["switch", "del", &br]);
    let links = ip_links(None);
    assert!(link(&links, &br).is_none());
    for e in &host_ends {
        assert!(link(&links, e).is_none(), "{e} left behind");
    }
}

#[test]
fn s4_bridge_inside_a_namespace() {
    let lab = Lab::new("f");
    let core = lab.name("core");
    let (a, b) = (lab.name("a"), lab.name("b"));
    let br = lab.name("br");
    lab.ok(&["ns", "add", &core, &a, &b]);
    lab.ok(&["switch", "add", &br, "--netns", &core]);
    lab.ok(&[
        "attach",
        &a,
        &br,
        "--ip",
        "198.18.5.1/24",
        "--ifname",
        "net0",
    ]);
    lab.ok(&["attach", &b, &br, "--ip", "198.18.5.2/24"]);
    // the bridge and both switch ends are inside `core`, none on the host
    let cl = ip_links(Some(&core));
    assert_eq!(link(&cl, &br).unwrap()["linkinfo"]["info_kind"], "bridge");
    assert_eq!(cl.iter().filter(|l| l["master"] == br.as_str()).count(), 2);
    assert!(link(&ip_links(None), &br).is_none());
    assert!(link(&ip_links(Some(&a)), "net0").is_some());
    ping(Some(&a), "198.18.5.2").unwrap();
    // a bridge cannot move: asking for it in the host namespace says so
    let out = lab.swctl(&["switch", "add", &br]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot change namespace"), "{err}");
    // deleting the namespace with the bridge removes the ports' other ends
    lab.ok(&["ns", "del", &core]);
    assert!(link(&ip_links(Some(&a)), "net0").is_none());
    assert!(link(&ip_links(Some(&b)), "eth0").is_none());
}

#[test]
fn s4_bridge_with_an_address_reaches_the_namespaces() {
    let lab = Lab::new("g");
    let br = lab.name("br");
    let h = lab.name("h");
    lab.ok(&["ns", "add", &h]);
    // this test is about the host: the bridge address is removed with the bridge
    lab.ok(&["switch", "add", &br, "--ip", "198.18.6.254/24"]);
    lab.ok(&["attach", &h, &br, "--ip", "198.18.6.1/24"]);
    assert!(ip_addrs(None).contains(&(br.clone(), "198.18.6.254/24".into())));
    ping(None, "198.18.6.1").unwrap();
    ping(Some(&h), "198.18.6.254").unwrap();
    lab.ok(&["switch", "del", &br]);
    assert!(!ip_addrs(None).iter().any(|(_, a)| a == "198.18.6.254/24"));
}

#[test]
fn s7_gateway_routes_between_two_subnets() {
    let lab = Lab::new("h");
    let (srv, gw, cli) = (lab.name("srv"), lab.name("gw"), lab.name("cli"));
    lab.ok(&["ns", "add", &srv, &gw, &cli]);
    lab.ok(&["forward", &gw, "on"]);
    lab.ok(&[
        "link",
        &srv,
        &gw,
        "--ip-a",
        "198.18.7.1/24",
        "--ip-b",
        "198.18.7.254/24",
    ]);
    lab.ok(&[
        "link",
        &cli,
        &gw,
        "--ip-a",
        "198.19.7.1/24",
        "--ip-b",
        "198.19.7.254/24",
    ]);
    lab.ok(&["route", "add", &cli, "default", "via", "198.19.7.254"]);
    lab.ok(&["route", "add", &srv, "default", "via", "198.18.7.254"]);
    let out = sh(&[
        "ip",
        "netns",
        "exec",
        &gw,
        "sysctl",
        "-n",
        "net.ipv4.ip_forward",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let r = String::from_utf8_lossy(&sh(&["ip", "-n", &cli, "route"]).stdout).into_owned();
    assert!(r.contains("default via 198.19.7.254"), "{r}");
    let p = ping(Some(&cli), "198.18.7.1").unwrap();
    assert!(p.contains("ttl=63"), "one hop through the gateway: {p}");
    let got = tcp_transfer(&srv, &cli, "198.18.7.1:5202".parse().unwrap(), 1 << 20).unwrap();
    assert_eq!(got, 1 << 20);
    // forwarding off: the client no longer reaches the server
    lab.ok(&["forward", &gw, "off"]);
    assert!(ping(Some(&cli), "198.18.7.1").is_err());
    lab.ok(&["route", "del", &cli, "default", "via", "198.19.7.254"]);
    let r = String::from_utf8_lossy(&sh(&["ip", "-n", &cli, "route"]).stdout).into_owned();
    assert!(!r.contains("default"), "{r}");
}

#[test]
fn ns_del_removes_everything_inside_and_leading_to_it() {
    let lab = Lab::new("i");
    let (h, o) = (lab.name("h"), lab.name("o"));
    let br = lab.name("br");
    lab.ok(&["ns", "add", &h, &o]);
    lab.ok(&["switch", "add", &br]);
    let v = lab.json(&["attach", &h, &br, "--ip", "198.18.8.1/24"]);
    let port = v["wiring"][0]["a_dev"].as_str().unwrap().to_string();
    let v = lab.json(&["link", "host", &h]);
    let host_end = v["wiring"][0]["a_dev"].as_str().unwrap().to_string();
    lab.ok(&["link", &h, &o]);
    lab.ok(&["ns", "del", &h]);
    let links = ip_links(None);
    assert!(
        link(&links, &port).is_none(),
        "port {port} left on the bridge"
    );
    assert!(
        link(&links, &host_end).is_none(),
        "host end {host_end} left"
    );
    assert!(link(&ip_links(Some(&o)), &h).is_none(), "end in {o} left");
    assert!(!lab.namespaces().contains(&h));
    assert!(lab.namespaces().contains(&o));
}

/// Every bad input: exit code ≠ 0, a one-line message (JSON with --json),
/// and nothing created or changed.
#[test]
fn bad_input_changes_nothing() {
    let lab = Lab::new("j");
    let h = lab.name("h");
    let br = lab.name("br");
    lab.ok(&["ns", "add", &h]);
    lab.ok(&["switch", "add", &br]);
    let snapshot = || {
        let mut ns = lab.namespaces();
        ns.sort();
        let mut links = lab.host_links();
        links.sort();
        let inner: Vec<_> = ip_links(Some(&h))
            .iter()
            .map(|l| l["ifname"].to_string())
            .collect();
        (ns, links, inner, ip_addrs(Some(&h)))
    };
    let before = snapshot();
    let long = "x".repeat(16);
    let missing = lab.name("nope");
    let bad: Vec<Vec<String>> = vec![
        vec!["ns".into(), "add".into(), "a/b".into()],
        vec!["ns".into(), "add".into(), "..".into()],
        vec!["ns".into(), "add".into(), "host".into()],
        vec!["ns".into(), "add".into(), "".into()],
        vec!["ns".into(), "add".into(), lab.name("ok"), "bad/name".into()],
        vec!["ns".into(), "add".into(), lab.name("dup"), lab.name("dup")],
        vec!["switch".into(), "add".into(), long.clone()],
        vec![
            "switch".into(),
            "add".into(),
            lab.name("b2"),
            "--ip".into(),
            "198.18.9.1".into(),
        ],
        vec![
            "switch".into(),
            "add".into(),
            lab.name("b3"),
            "--ip".into(),
            "198.18.9.1/33".into(),
        ],
        vec![
            "attach".into(),
            h.clone(),
            br.clone(),
            "--ip".into(),
            "198.18.9.300/24".into(),
        ],
        vec![
            "attach".into(),
            h.clone(),
            br.clone(),
            "--ifname".into(),
            long.clone(),
        ],
        vec![
            "attach".into(),
            h.clone(),
            br.clone(),
            "--ifname".into(),
            "a:b".into(),
        ],
        vec!["attach".into(), missing.clone(), br.clone()],
        vec!["attach".into(), h.clone(), lab.name("nobr")],
        vec![
            "attach".into(),
            h.clone(),
            br.clone(),
            "--via".into(),
            "internal".into(),
        ],
        vec![
            "--backend".into(),
            "ovs".into(),
            "switch".into(),
            "add".into(),
            lab.name("ov"),
            "--netns".into(),
            h.clone(),
        ],
        vec!["detach".into(), h.clone(), br.clone()],
        vec!["link".into(), h.clone(), missing.clone()],
        vec![
            "link".into(),
            h.clone(),
            "host".into(),
            "--ip-a".into(),
            "198.18.9.1/24".into(),
            "--ip-b".into(),
            "198.18.9.1/24".into(),
        ],
        vec![
            "route".into(),
            "add".into(),
            h.clone(),
            "default".into(),
            "via".into(),
            "198.18.9.999".into(),
        ],
        vec![
            "route".into(),
            "add".into(),
            h.clone(),
            "198.18.9.5/24".into(),
            "via".into(),
            "198.18.9.1".into(),
        ],
        vec![
            "route".into(),
            "add".into(),
            h.clone(),
            "default".into(),
            "through".into(),
            "198.18.9.1".into(),
        ],
        vec![
            "route".into(),
            "add".into(),
            missing.clone(),
            "default".into(),
            "via".into(),
            "198.18.9.1".into(),
        ],
        vec!["forward".into(), missing.clone(), "on".into()],
        vec!["ns".into(), "del".into(), missing.clone()],
    ];
    for args in &bad {
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let out = lab.swctl(&a);
        assert!(!out.status.success(), "{a:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.trim().is_empty() && (err.trim().lines().count() == 1 || err.contains("Usage")),
            "{a:?}: not a one-line error: {err:?}"
        );
        let mut j = vec!["--json"];
        j.extend(&a);
        let out = lab.swctl(&j);
        assert!(!out.status.success());
        if !String::from_utf8_lossy(&out.stderr).contains("Usage") {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "{a:?} --json: {e}: {}",
                    String::from_utf8_lossy(&out.stdout)
                )
            });
            assert!(v["error"].is_string(), "{v}");
        }
        assert_eq!(snapshot(), before, "{a:?} changed the system");
    }
}

#[test]
fn a_bridge_made_by_someone_else_is_listed_attachable_never_deleted() {
    let lab = Lab::new("k");
    let br = lab.name("fb");
    let h = lab.name("h");
    assert!(
        sh(&["ip", "link", "add", &br, "type", "bridge"])
            .status
            .success()
    );
    assert!(sh(&["ip", "link", "set", &br, "up"]).status.success());
    lab.ok(&["ns", "add", &h]);
    let s = lab.switch_entry(&br).expect("listed");
    assert!(s["owner"].is_null());
    lab.ok(&["attach", &h, &br]);
    lab.ok(&["detach", &h, &br]);
    let out = lab.swctl(&["switch", "del", &br]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not created by swctl"));
    assert!(link(&ip_links(None), &br).is_some());
}

/// S3's classic confusion: two veth ends in the same namespace answer each
/// other only with accept_local=1 and rp_filter=0, which swctl sets.
#[test]
fn s3_two_ends_in_one_namespace_reach_each_other() {
    let lab = Lab::new("l");
    let n = lab.name("n");
    lab.ok(&["ns", "add", &n]);
    let v = lab.json(&[
        "link",
        &n,
        &n,
        "--ip-a",
        "198.18.41.1/24",
        "--ip-b",
        "198.18.41.2/24",
    ]);
    let a = v["wiring"][0]["a_dev"].as_str().unwrap().to_string();
    let b = v["wiring"][0]["b_dev"].as_str().unwrap().to_string();
    assert_ne!(a, b);
    for dev in [&a, &b] {
        for (key, want) in [("accept_local", "1"), ("rp_filter", "0")] {
            let k = format!("net.ipv4.conf.{dev}.{key}");
            let out = sh(&["ip", "netns", "exec", &n, "sysctl", "-n", &k]);
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want, "{k}");
        }
    }
    let out = sh(&[
        "ip",
        "netns",
        "exec",
        &n,
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "-I",
        &a,
        "198.18.41.2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(lab.ok(&["link", &n, &n]).contains("nothing to change"));
    lab.ok(&["unlink", &n, &n]);
    assert!(link(&ip_links(Some(&n)), &a).is_none());
}

#[test]
fn not_root_is_said_clearly() {
    require_root();
    // a copy nobody can reach, whatever the permissions of the checkout
    let dir = std::env::temp_dir().join(format!("swctl-notroot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("swctl");
    std::fs::copy(env!("CARGO_BIN_EXE_swctl"), &exe).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = exe.to_str().unwrap();
    let out = sh(&[
        "runuser",
        "-u",
        "nobody",
        "--",
        exe,
        "ns",
        "add",
        "zznotroot",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("must run as root"), "{err}");
    // bad input is still reported first, without root
    let out = sh(&["runuser", "-u", "nobody", "--", exe, "ns", "add", "a/b"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a plain file name"));
    assert!(!std::path::Path::new("/run/netns/zznotroot").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mtu_on_links_and_ports_set_and_repaired() {
    let lab = Lab::new("m");
    let (a, b) = (lab.name("a"), lab.name("b"));
    let br = lab.name("br");
    lab.ok(&["ns", "add", &a, &b]);
    let v = lab.json(&[
        "link",
        &a,
        &b,
        "--mtu",
        "9000",
        "--ip-a",
        "198.18.42.1/24",
        "--ip-b",
        "198.18.42.2/24",
    ]);
    let a_dev = v["wiring"][0]["a_dev"].as_str().unwrap().to_string();
    let mtu = |ns: &str, dev: &str| {
        link(&ip_links(Some(ns)), dev).unwrap()["mtu"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(mtu(&a, &a_dev), 9000);
    // a large ping without fragmentation passes
    let out = sh(&[
        "ip",
        "netns",
        "exec",
        &a,
        "ping",
        "-c1",
        "-W2",
        "-M",
        "do",
        "-s",
        "8000",
        "198.18.42.2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    lab.ok(&["switch", "add", &br]);
    let v = lab.json(&["attach", &b, &br, "--mtu", "1400"]);
    let host_end = v["wiring"][0]["a_dev"].as_str().unwrap().to_string();
    assert_eq!(mtu(&b, "eth0"), 1400);
    assert_eq!(link(&ip_links(None), &host_end).unwrap()["mtu"], 1400);
    // changed by hand: the same attach puts it back
    assert!(
        sh(&["ip", "-n", &b, "link", "set", "eth0", "mtu", "1300"])
            .status
            .success()
    );
    let v = lab.json(&["attach", &b, &br, "--mtu", "1400"]);
    assert_eq!(v["changes"], 1);
    assert_eq!(mtu(&b, "eth0"), 1400);
    assert!(!lab.swctl(&["link", &a, &b, "--mtu", "20"]).status.success());
}
