//! The everyday tools around the core, on the real binary: completions
//! (bash completes for real), manual pages, -q and -v, `destroy --name` of
//! a lab that does not exist, `labs`, `gc --dry-run`, the rough edges of
//! the imperative commands, `ns exec` of a missing namespace, the formats a
//! topology file may have, read-only commands without root. Those that
//! change the system need root.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn swctl(args: &[&str]) -> std::process::Output {
    swctl_bare(args)
}

/// swctl run as user nobody (setpriv), with no capabilities.
fn swctl_unprivileged(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_swctl"))
        .args(args)
        .output()
        .expect("run swctl as nobody")
}

#[test]
fn completions_complete_in_bash_and_exist_for_zsh_and_fish() {
    let out = swctl(&["completions", "bash"]);
    assert!(out.status.success(), "{}", text(&out));
    let script = std::env::temp_dir().join(format!("swctl-compl-{}.bash", std::process::id()));
    std::fs::write(&script, &out.stdout).unwrap();
    // what bash offers after `swctl ap` and after `swctl ns `
    let run = |words: &str, cword: usize| {
        let cmd = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _swctl swctl; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let o = Command::new("bash").args(["-c", &cmd]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let got = run("swctl ap", 1);
    assert!(got.split_whitespace().any(|w| w == "apply"), "{got:?}");
    let got = run("swctl ns ''", 2);
    for w in ["add", "del", "list", "exec"] {
        assert!(got.split_whitespace().any(|x| x == w), "{w}: {got:?}");
    }
    let _ = std::fs::remove_file(&script);
    for sh in ["zsh", "fish"] {
        let out = swctl(&["completions", sh]);
        assert!(out.status.success(), "{sh}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("apply"),
            "{sh}"
        );
    }
    // no root needed
    let out = swctl_unprivileged(&["completions", "bash"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn manual_pages_one_per_subcommand() {
    let dir = std::env::temp_dir().join(format!("swctl-man-{}", std::process::id()));
    let out = swctl(&["--json", "man", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pages: Vec<&str> = v["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    for p in [
        "swctl.1",
        "swctl-apply.1",
        "swctl-ns-add.1",
        "swctl-attach.1",
        "swctl-serve.1",
    ] {
        assert!(pages.contains(&p), "{p} not in {pages:?}");
        let body = std::fs::read_to_string(dir.join(p)).unwrap();
        assert!(body.starts_with(".ie") || body.contains(".TH"), "{p}");
    }
    let attach = std::fs::read_to_string(dir.join("swctl-attach.1")).unwrap();
    assert!(
        attach.contains("\\-\\-via") || attach.contains("--via"),
        "{attach}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn quiet_verbose_and_a_lab_that_does_not_exist() {
    let lab = Lab::new("tq");
    let p = lab.p.clone();
    let f = write(
        &lab,
        "lab.toml",
        &one_bridge_lab(&p, &[("a", "198.18.94.1/24")]),
    );
    // -v: each change as its ip command, on stderr
    let out = swctl(&["-v", "apply", &f]);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("ip netns add {p}a")), "{err}");
    assert!(err.contains("addr add 198.18.94.1/24"), "{err}");
    // -q: nothing on success
    let out = swctl(&["-q", "apply", &f]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
    // a typo of a lab's name: said, with the labs that exist, exit 1
    let out = swctl(&["destroy", "--name", &format!("{p}typo")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains(&format!("no lab {p}typo")), "{t}");
    assert!(t.contains(p.as_str()), "lists the applied labs: {t}");
    let out = swctl(&["destroy", "--name", &p]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn labs_lists_the_applied_labs_and_read_only_commands_run_without_root() {
    let lab = Lab::new("tl");
    let p = lab.p.clone();
    let f = write(
        &lab,
        "lab.toml",
        &one_bridge_lab(&p, &[("a", "198.18.93.1/24"), ("b", "198.18.93.2/24")]),
    );
    lab.ok(&["apply", &f]);
    let row = |v: &Value| -> Value {
        v["labs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == p.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{p} not in {v}"))
    };
    let out = swctl(&["--json", "labs"]);
    assert!(out.status.success(), "{}", text(&out));
    let r = row(&serde_json::from_slice(&out.stdout).unwrap());
    assert_eq!(r["hosts"], 2, "{r}");
    assert_eq!(r["switches"], 1, "{r}");
    assert_eq!(r["in_sync"], true, "{r}");
    assert_eq!(r["file"], f.as_str(), "{r}");
    sh(&["ip", "-n", &lab.name("a"), "addr", "flush", "dev", "eth0"]);
    let out = swctl(&["labs"]);
    let t = text(&out);
    let line = t.lines().find(|l| l.starts_with(p.as_str())).unwrap_or("");
    assert!(line.contains("drift"), "{t}");
    // without root: what the kernel shows anyone, said to be partial
    let out = swctl_unprivileged(&["--json", "labs"]);
    assert!(out.status.success(), "{}", text(&out));
    let r = row(&serde_json::from_slice(&out.stdout).unwrap());
    assert_eq!(r["hosts"], 2, "{r}");
    assert!(r["in_sync"].is_null(), "{r}");
    let out = swctl_unprivileged(&["ns", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains(&lab.name("a")) && t.contains("not root"), "{t}");
    let out = swctl_unprivileged(&["switch", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("{p}s")), "{}", text(&out));
    let out = swctl_unprivileged(&["show"]);
    assert!(out.status.success(), "{}", text(&out));
    // a change without root: refused, exit 2
    let out = swctl_unprivileged(&["ns", "add", &lab.name("x")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    lab.ok(&["destroy", &f]);
}

#[test]
fn second_addresses_are_refused_or_replaced_and_switch_del_names_its_ports() {
    let lab = Lab::new("tr");
    let (a, b, sw) = (lab.name("a"), lab.name("b"), lab.name("sw"));
    lab.ok(&["ns", "add", &a, &b]);
    lab.ok(&["switch", "add", &sw]);
    lab.ok(&["attach", &a, &sw, "--ip", "198.18.92.1/24"]);
    // another address for the same end: refused, nothing changed
    let out = lab.swctl(&["attach", &a, &sw, "--ip", "198.18.92.5/24"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--replace"), "{}", text(&out));
    let addrs = |ns: &str| -> Vec<String> {
        ip_addrs(Some(ns))
            .into_iter()
            .filter(|(_, c)| c.starts_with("198.18."))
            .map(|(_, c)| c)
            .collect()
    };
    assert_eq!(addrs(&a), vec!["198.18.92.1/24"]);
    // --replace: the new one in its place
    lab.ok(&["attach", &a, &sw, "--ip", "198.18.92.5/24", "--replace"]);
    assert_eq!(addrs(&a), vec!["198.18.92.5/24"]);
    // the same again: nothing to change
    assert!(
        lab.ok(&["attach", &a, &sw, "--ip", "198.18.92.5/24"])
            .contains("nothing to change")
    );
    // a link to itself (S3's looped pair): made, and said to be one
    let out = lab.ok(&["link", &a, &a]);
    assert!(out.contains(&format!("both in {a}")), "{out}");
    lab.ok(&["unlink", &a, &a]);
    // a link's end: the same rules
    lab.ok(&[
        "link",
        &a,
        &b,
        "--ip-a",
        "198.18.91.1/30",
        "--ip-b",
        "198.18.91.2/30",
    ]);
    let out = lab.swctl(&["link", &a, &b, "--ip-a", "198.18.91.5/30"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    lab.ok(&[
        "link",
        &a,
        &b,
        "--ip-a",
        "198.18.91.5/30",
        "--ip-b",
        "198.18.91.6/30",
        "--replace",
    ]);
    assert!(ping_once(&a, "198.18.91.6"), "the replaced link works");
    // switch del says which ports went with it
    lab.ok(&["attach", &b, &sw]);
    let out = lab.ok(&["switch", "del", &sw]);
    assert!(out.contains("removed ports:"), "{out}");
    assert!(
        out.contains(&format!("({a})")) && out.contains(&format!("({b})")),
        "{out}"
    );
    lab.ok(&["ns", "del", &a, &b]);
}

#[test]
fn exit_codes_like_ip_and_systemctl() {
    // ns exec of a namespace that does not exist: 255, like ip netns exec
    let out = swctl(&["ns", "exec", "zzz-no-such-ns", "--", "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    // ovs status of a sandbox that does not run: 3; of $SWCTL_OVSDB's
    // server: that one
    let out = swctl(&["ovs", "status", "--dir", "/nonexistent/swctl-ovs"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_swctl"))
        .args(["ovs", "status"])
        .env("SWCTL_OVSDB", "tcp:127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("tcp:127.0.0.1:1"), "{}", text(&out));
    let db = ovs_sandbox();
    let out = Command::new(env!("CARGO_BIN_EXE_swctl"))
        .args(["ovs", "status"])
        .env("SWCTL_OVSDB", &db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(db.trim_start_matches("unix:")),
        "{}",
        text(&out)
    );
}

#[test]
fn show_status_and_check_say_it_plainly() {
    let lab = Lab::ovs("ts");
    let p = lab.p.clone();
    let (a, b, c) = (lab.name("a"), lab.name("b"), lab.name("c"));
    let f = write(
        &lab,
        "lab.toml",
        &format!(
            "name = \"{p}\"\n[switches.{p}o]\nbackend = \"ovs\"\n[switches.{p}l]\nbackend = \"bridge\"\n\
             [hosts.{a}]\n[[hosts.{a}.ports]]\nswitch = \"{p}o\"\nip = \"198.18.88.1/24\"\nvia = \"internal\"\nvlan = 10\n\
             [hosts.{b}]\n[[hosts.{b}.ports]]\nswitch = \"{p}o\"\nip = \"198.18.88.2/24\"\nvia = \"veth\"\nvlan = 10\n\
             [hosts.{c}]\n[[hosts.{c}.ports]]\nswitch = \"{p}l\"\nip = \"198.18.87.1/24\"\n"
        ),
    );
    lab.ok(&["apply", &f]);
    // show NAME: a switch with its ports' wiring, VLAN and datapath; an
    // OVS bridge without address is not called down
    let out = lab.ok(&["show", &format!("{p}o")]);
    let sw = out
        .lines()
        .find(|l| l.starts_with(&format!("switch {p}o ")))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(sw.contains("datapath="), "{sw}");
    assert!(!sw.contains(" down"), "{sw}");
    assert!(
        out.lines().any(|l| l.contains(&format!("-> {a}"))
            && l.contains("internal")
            && l.contains("vlan 10")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains(&format!("-> {b}")) && l.contains("veth") && l.contains("vlan 10")),
        "{out}"
    );
    assert!(!out.contains(&format!("namespace {c}")), "filtered: {out}");
    // show LAB: all of it; show of nothing: exit 1
    let out = lab.ok(&["show", &p]);
    assert!(
        out.contains(&format!("namespace {c}")) && out.contains(&format!("switch {p}l")),
        "{out}"
    );
    let out = lab.swctl(&["show", &format!("{p}nothing")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // switch list: sorted
    let out = lab.ok(&["switch", "list"]);
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "{out}");
    // status: findings in words, the fix apart
    sh(&["ip", "-n", &c, "addr", "flush", "dev", "eth0"]);
    let out = lab.swctl(&["status", &f]);
    assert_eq!(out.status.code(), Some(3));
    let t = text(&out);
    assert!(
        t.contains(&format!("differs  eth0 ({c}) lacks address 198.18.87.1/24")),
        "{t}"
    );
    assert!(t.contains(&format!("repair: swctl apply {f}")), "{t}");
    assert!(
        !t.lines()
            .any(|l| l.contains("differs") && l.contains("ip -n")),
        "{t}"
    );
    lab.ok(&["apply", &f]);
    // check: columns as wide as their cells; times to the microsecond
    let out = lab.ok(&["check", &f]);
    let header = out.lines().next().unwrap();
    let col = header.find("because").unwrap();
    let summary = format!("{p}:");
    for l in out
        .lines()
        .skip(1)
        .filter(|l| l.starts_with(p.as_str()) && !l.starts_with(&summary))
    {
        assert_eq!(&l[col - 2..col], "  ", "a column overflowed:\n{out}");
    }
    let v = lab.json(&["check", &f]);
    for pr in v["pairs"].as_array().unwrap() {
        if let Some(ms) = pr["rtt_ms"].as_f64() {
            let s = ms.to_string();
            assert!(s.split('.').nth(1).is_none_or(|d| d.len() <= 3), "{s}");
        }
    }
    lab.ok(&["destroy", &f]);
}

#[test]
fn a_yaml_file_is_told_which_formats_are_read() {
    let f = std::env::temp_dir().join(format!("swctl-{}.yaml", std::process::id()));
    std::fs::write(&f, "name: x\nhosts:\n  h1: {}\n").unwrap();
    let out = swctl(&["plan", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("TOML") && t.contains("JSON") && t.contains("YAML"),
        "{t}"
    );
    let _ = std::fs::remove_file(&f);
}

#[test]
fn ns_attach_adopts_a_process_namespace_and_ns_del_only_forgets_it() {
    let lab = Lab::new("ta");
    let (c, h, sw) = (lab.name("c"), lab.name("h"), lab.name("sw"));
    // a "container": a process in a network namespace of its own
    let mut child = Command::new("unshare")
        .args(["-n", "sleep", "120"])
        .spawn()
        .expect("unshare -n sleep");
    let pid = child.id().to_string();
    let t = std::time::Instant::now();
    while std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
        == std::fs::read_link("/proc/self/ns/net").ok()
        && t.elapsed().as_secs() < 5
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    lab.ok(&["ns", "attach", &c, &pid]);
    assert!(
        lab.ok(&["ns", "attach", &c, &pid])
            .contains("nothing to change")
    );
    assert!(
        lab.ok(&["ns", "list"])
            .contains(&format!("{c}  (adopted from process {pid})"))
    );
    // it attaches to a switch like any namespace, and passes traffic
    lab.ok(&["ns", "add", &h]);
    lab.ok(&["switch", "add", &sw]);
    lab.ok(&["attach", &c, &sw, "--ip", "198.18.84.1/24"]);
    lab.ok(&["attach", &h, &sw, "--ip", "198.18.84.2/24"]);
    assert!(
        ping_once(&h, "198.18.84.1"),
        "the adopted namespace answers"
    );
    // another process's namespace under a taken name: refused
    let out = lab.swctl(&["ns", "attach", &h, &pid]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // ns del: the name and swctl's port go; the process and its namespace stay
    lab.ok(&["ns", "del", &c]);
    assert!(!std::path::Path::new(&format!("/run/netns/{c}")).exists());
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the process was touched"
    );
    let inside = sh(&["nsenter", "-t", &pid, "-n", "ip", "-o", "link"]);
    let inside = String::from_utf8_lossy(&inside.stdout).to_string();
    assert!(
        inside.contains("lo") && !inside.contains("eth0"),
        "{inside}"
    );
    assert!(
        !ip_links(None).iter().any(|l| l["ifname"]
            .as_str()
            .is_some_and(|n| n.starts_with(c.as_str()))),
        "the port's switch end is left"
    );
    let _ = child.kill();
    let _ = child.wait();
    lab.ok(&["switch", "del", &sw]);
    lab.ok(&["ns", "del", &h]);
}

/// A lab of `n` hosts over three switches, two gateways and a direct link.
fn big_lab(p: &str, n: usize) -> String {
    let mut t = format!(
        "name = \"{p}\"\n[switches.{p}s1]\nbackend = \"bridge\"\n[switches.{p}s2]\nbackend = \"ovs\"\n[switches.{p}s3]\nbackend = \"ovs\"\n"
    );
    for i in 1..=n {
        let (sw, net) = match i % 3 {
            0 => ("s1", 1),
            1 => ("s2", 2),
            _ => ("s3", 3),
        };
        let extra = if i % 4 == 0 && sw != "s1" {
            "vlan = 10\n"
        } else {
            ""
        };
        t.push_str(&format!(
            "[hosts.{p}h{i}]\n[[hosts.{p}h{i}.ports]]\nswitch = \"{p}{sw}\"\nip = \"198.18.{net}.{i}/24\"\n{extra}"
        ));
    }
    for (g, a, b) in [("g1", "s1", "s2"), ("g2", "s2", "s3")] {
        t.push_str(&format!(
            "[hosts.{p}{g}]\nforward = true\n[[hosts.{p}{g}.ports]]\nswitch = \"{p}{a}\"\n[[hosts.{p}{g}.ports]]\nswitch = \"{p}{b}\"\n"
        ));
    }
    t.push_str(&format!(
        "[[links]]\na = \"{p}h1\"\nb = \"{p}h2\"\na_ip = \"198.18.9.1/30\"\nb_ip = \"198.18.9.2/30\"\n"
    ));
    t
}

#[test]
fn graph_draws_a_lab_as_dot_mermaid_and_svg() {
    let p = format!("tg{}", std::process::id() % 100000);
    let f = std::env::temp_dir().join(format!("{p}-big.toml"));
    std::fs::write(&f, big_lab(&p, 48)).unwrap();
    let f = f.to_str().unwrap();
    // dot: every host and switch, the backends, edges with addresses and VLANs
    let out = swctl(&["graph", f, "--format", "dot"]);
    assert!(out.status.success(), "{}", text(&out));
    let dot = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(dot.starts_with(&format!("graph \"{p}\"")), "{dot}");
    for i in 1..=48 {
        assert!(
            dot.contains(&format!("\"{p}h{i}\" -- \"{p}s")),
            "h{i}: {dot}"
        );
    }
    assert!(dot.contains("vlan 10") && dot.contains("\\novs") && dot.contains("\\nbridge"));
    assert!(dot.contains("(gateway)") && dot.contains("198.18.9.1/30"));
    // mermaid
    let out = swctl(&["graph", f, "--format", "mermaid"]);
    let mm = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(mm.starts_with("graph LR"), "{mm}");
    assert!(
        mm.contains(&format!("n_{p}h7")) && mm.contains("(ovs)"),
        "{mm}"
    );
    // svg: well-formed, every host drawn once, no two boxes overlapping
    let out = swctl(&["graph", f, "--format", "svg"]);
    assert!(out.status.success(), "{}", text(&out));
    let svg = String::from_utf8_lossy(&out.stdout).to_string();
    let check = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E; E.fromstring(sys.stdin.read())",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(svg.as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(check.success(), "not well-formed XML");
    for i in 1..=48 {
        assert_eq!(svg.matches(&format!(">{p}h{i} ")).count(), 1, "h{i}");
    }
    let num = |s: &str, k: &str| -> f64 {
        let at = s.find(&format!(" {k}=\"")).unwrap() + k.len() + 3;
        s[at..at + s[at..].find('"').unwrap()].parse().unwrap()
    };
    let boxes: Vec<(f64, f64, f64, f64)> = svg
        .split("<rect ")
        .skip(1)
        .filter(|r| r.contains("rx=\"8\""))
        .map(|r| (num(r, "x"), num(r, "y"), num(r, "width"), num(r, "height")))
        .collect();
    assert_eq!(boxes.len(), 50, "48 hosts and 2 gateways");
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let apart =
                a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
            assert!(apart, "boxes overlap: {a:?} {b:?}");
        }
    }
    // --name of a lab that is not applied: said
    let out = swctl(&["graph", "--name", &format!("{p}none")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let _ = std::fs::remove_file(f);
}

#[test]
fn export_turns_imperative_objects_into_a_lab_that_changes_nothing() {
    let lab = Lab::ovs("te");
    let (a, b, c) = (lab.name("a"), lab.name("b"), lab.name("c"));
    let (br, ov) = (lab.name("br"), lab.name("ov"));
    let as_name = lab.name("lab");
    lab.ok(&["ns", "add", &a, &b, &c]);
    lab.ok(&["--backend", "bridge", "switch", "add", &br]);
    lab.ok(&["--backend", "ovs", "switch", "add", &ov]);
    lab.ok(&["attach", &a, &br, "--ip", "198.18.83.1/24"]);
    lab.ok(&["attach", &b, &br, "--ip", "198.18.83.2/24", "--mtu", "1400"]);
    lab.ok(&["attach", &b, &ov, "--ip", "198.18.82.2/24", "--vlan", "5"]);
    lab.ok(&[
        "attach",
        &c,
        &ov,
        "--ip",
        "198.18.82.3/24",
        "--via",
        "veth",
        "--vlan",
        "5",
    ]);
    lab.ok(&[
        "link",
        &a,
        &c,
        "--ip-a",
        "198.18.81.1/30",
        "--ip-b",
        "198.18.81.2/30",
    ]);
    lab.ok(&["route", "add", &a, "198.18.82.0/24", "via", "198.18.83.2"]);
    lab.ok(&["route", "add", &c, "198.18.83.0/24", "via", "198.18.82.2"]);
    lab.ok(&["forward", &b, "on"]);
    assert!(ping_once(&a, "198.18.82.3"), "through b");
    // the imperative objects as a file (only this test's: tests run in
    // parallel, and their objects are imperative too)
    let out = lab.swctl(&["export", "--as", &as_name, &a, &b, &c, &br, &ov]);
    assert!(out.status.success(), "{}", text(&out));
    let toml = String::from_utf8_lossy(&out.stdout).to_string();
    for want in [
        format!("name = \"{as_name}\""),
        "forward = true".into(),
        "vlan = 5".into(),
        "mtu = 1400".into(),
        "198.18.81.2/30".into(),
        "via = \"198.18.83.2\"".into(),
    ] {
        assert!(toml.contains(&want), "{want}: {toml}");
    }
    let f = write(&lab, "exported.toml", &toml);
    // applied with --adopt: the objects change hands, nothing else changes
    // but what a topology's hosts get besides: the lab's names
    let v = lab.json(&["apply", "--adopt", &f]);
    assert!(v["adopted"].as_u64().unwrap_or(0) > 0, "{v}");
    let steps = v["steps"].as_array().unwrap();
    assert!(
        steps.iter().all(|s| s["host"] == "write_hosts"),
        "only hosts files: {v}"
    );
    assert_eq!(steps.len(), 3, "{v}");
    assert!(ping_once(&a, "198.18.82.3"), "still through b, at once");
    assert!(lab.ok(&["apply", &f]).contains("nothing to change"));
    let db = lab.ovsdb.clone().unwrap();
    let ids = vsctl_ok(&db, &["--columns=external_ids", "list", "Bridge", &ov]);
    assert!(ids.contains(&format!("swctl-owner={as_name}")), "{ids}");
    // a lab's own export applies as nothing to change
    let out = lab.swctl(&["export", "--name", &as_name]);
    assert!(out.status.success(), "{}", text(&out));
    let g = write(&lab, "again.toml", &String::from_utf8_lossy(&out.stdout));
    assert!(lab.ok(&["plan", &g]).contains("nothing to change"));
    // nothing of these is imperative any more; destroy takes everything
    let out = lab.swctl(&["export", "--as", &lab.name("x"), &a, &b, &c, &br, &ov]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    lab.ok(&["destroy", &f]);
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
}

#[test]
fn a_lab_applied_by_a_relative_path_is_found_from_anywhere() {
    let lab = Lab::new("tp");
    let p = lab.p.clone();
    let f = write(
        &lab,
        "rel.toml",
        &one_bridge_lab(&p, &[("a", "198.18.80.1/24")]),
    );
    let path = std::path::Path::new(&f);
    let out = Command::new(env!("CARGO_BIN_EXE_swctl"))
        .args(["apply", path.file_name().unwrap().to_str().unwrap()])
        .current_dir(path.parent().unwrap())
        .env("SWCTL_BACKEND", "bridge")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rec = std::fs::read_to_string(format!("/run/swctl/topologies/{p}")).unwrap();
    assert_eq!(rec.trim(), f, "recorded by its absolute path");
    // from another directory: graph --name and destroy --name find it
    let out = Command::new(env!("CARGO_BIN_EXE_swctl"))
        .args(["graph", "--name", &p])
        .current_dir("/")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    lab.ok(&["destroy", "--name", &p]);
}
