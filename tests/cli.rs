//! The command line's one vocabulary, checked on the real binary: every
//! planning command's `--json` has the same shape (`command`, `changes`,
//! `steps` as objects with their `ip`/`ovs-vsctl` text, `wiring`,
//! `elapsed_ms`); errors are said once, as JSON with `--json` (usage errors
//! too), with the topology file's problems as `{path, message, line,
//! column}`; exit code 2 for bad input, 1 for a runtime failure; a closed
//! pipe ends swctl quietly, like `ip`. The tests that apply need root.

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn swctl(args: &[&str]) -> std::process::Output {
    swctl_bare(args)
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn usage_errors_are_json_with_json_and_exit_2() {
    for args in [
        vec!["--json", "attach"],
        vec!["--json", "attach", "h1", "br0", "--via", "sideways"],
        vec!["--json", "frobnicate"],
    ] {
        let out = swctl(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let v = json_of(&out);
        assert_eq!(v["exit_code"], 2, "{v}");
        let e = v["error"].as_str().unwrap();
        assert!(!e.is_empty() && !e.starts_with("error:"), "{v}");
    }
    // without --json: clap's own text, exit 2
    let out = swctl(&["attach"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
    // help is not an error
    assert_eq!(swctl(&["--json", "--help"]).status.code(), Some(0));
}

#[test]
fn an_invalid_argument_is_said_once() {
    let out = swctl(&["attach", "a/b", "br0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("not a plain file name").count(), 1, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = swctl(&["--json", "attach", "h1", "br0", "--mtu", "7"]);
    assert_eq!(out.status.code(), Some(2));
    let v = json_of(&out);
    let all = format!("{} {}", v["error"], v["causes"]);
    assert_eq!(all.matches("is not an MTU").count(), 1, "{v}");
}

#[test]
fn every_problem_of_a_file_with_its_position() {
    let f = std::env::temp_dir().join(format!("swctl-cli-{}.toml", std::process::id()));
    std::fs::write(
        &f,
        "name = \"bad\"\n\
         [switches.s]\n\
         colour = \"blue\"\n\
         [hosts.h1]\n\
         fowrard = true\n\
         [[hosts.h1.ports]]\n\
         switch = \"s\"\n\
         ip = \"198.18.0.1/33\"\n\
         mtu = \"big\"\n\
         [[links]]\n\
         a = \"h1\"\n\
         b = \"h9\"\n",
    )
    .unwrap();
    let path = f.display().to_string();
    let out = swctl(&["--json", "plan", &path]);
    let _ = std::fs::remove_file(&f);
    assert_eq!(out.status.code(), Some(2));
    let v = json_of(&out);
    let problems = v["problems"].as_array().expect("problems");
    let want = [
        ("switches.s.colour", 3),
        ("hosts.h1.fowrard", 5),
        ("hosts.h1.ports[0].ip[0]", 8),
        ("hosts.h1.ports[0].mtu", 9),
        ("links[0].b", 12),
    ];
    for (path, line) in want {
        let p = problems
            .iter()
            .find(|p| p["path"] == path)
            .unwrap_or_else(|| panic!("no problem at {path}: {v}"));
        assert_eq!(p["line"], line, "{p}");
        assert!(
            p["column"].as_u64().is_some() && p["message"].is_string(),
            "{p}"
        );
    }
    assert_eq!(problems.len(), want.len(), "{v}");
    // the same problems as text, each once, then nothing else
    let out = swctl(&["plan", "/nonexistent/lab.toml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn planning_commands_share_one_shape() {
    let lab = Lab::new("cv");
    let p = &lab.p;
    let f = std::env::temp_dir().join(format!("{p}.toml"));
    std::fs::write(
        &f,
        format!(
            "name = \"{p}\"\n[switches.{p}s]\n[hosts.{p}a]\n[[hosts.{p}a.ports]]\nswitch = \"{p}s\"\nip = \"198.18.77.1/24\"\n[hosts.{p}b]\n[[hosts.{p}b.ports]]\nswitch = \"{p}s\"\nip = \"198.18.77.2/24\"\n"
        ),
    )
    .unwrap();
    let f = f.display().to_string();
    let shape = |v: &Value, command: &str| {
        assert_eq!(v["command"], command, "{v}");
        let steps = v["steps"].as_array().expect("steps");
        assert_eq!(v["changes"].as_u64(), Some(steps.len() as u64), "{v}");
        assert!(v["elapsed_ms"].as_f64().is_some(), "{v}");
        for s in steps {
            assert!(s["op"].is_string(), "{s}");
            let c = s["command"].as_str().expect("command text");
            // a device's, a switch's, or a host's file or process
            assert!(
                ["ip ", "ovs-vsctl", "#", "mkdir ", "rm ", "kill ", "cd "]
                    .iter()
                    .any(|p| c.starts_with(p)),
                "{s}"
            );
        }
        steps.len()
    };
    let n = shape(&lab.json(&["plan", &f]), "plan");
    assert!(n >= 5);
    assert_eq!(shape(&lab.json(&["apply", &f]), "apply"), n);
    let st = lab.json(&["status", &f]);
    assert_eq!(shape(&st, "status"), 0);
    assert_eq!(st["in_sync"], true);
    // the imperative commands speak the same
    let h = lab.name("c");
    let v = lab.json(&["ns", "add", &h]);
    assert_eq!(shape(&v, &format!("ns add {h}")), 1);
    // (the switch is the topology's: attaching to it takes --force)
    let v = lab.json(&[
        "--force",
        "attach",
        &h,
        &format!("{p}s"),
        "--ip",
        "198.18.77.3/24",
    ]);
    assert!(shape(&v, &format!("attach {h} {p}s")) >= 2);
    assert!(v["wiring"][0]["a_dev"].is_string(), "{v}");
    lab.ok(&["ns", "del", &h]);
    // a closed pipe: swctl ends like `ip` does, without a panic
    let mut child = Command::new(env!("CARGO_BIN_EXE_swctl"))
        .args(["plan", &f])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
    let v = lab.json(&["destroy", &f]);
    assert!(shape(&v, "destroy") >= 2);
    let _ = std::fs::remove_file(&f);
}

#[test]
fn a_runtime_failure_exits_1() {
    require_root();
    // the input is fine; the OVSDB server it names is not there
    let out = swctl(&[
        "--json",
        "switch",
        "add",
        "zrt0",
        "--ovsdb",
        "unix:/nonexistent/swctl/db.sock",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = json_of(&out);
    assert_eq!(v["exit_code"], 1);
    assert!(
        v["error"].as_str().unwrap().contains("no OVSDB server"),
        "{v}"
    );
}

#[test]
fn backend_and_force_are_options_where_they_mean_something() {
    let help = |args: &[&str]| {
        let out = swctl(args);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    for cmd in [
        &["show", "--help"][..],
        &["ns", "list", "--help"],
        &["labs", "--help"],
        &["plan", "--help"],
        &["ns", "add", "--help"],
        &["--help"],
    ] {
        let h = help(cmd);
        assert!(h.contains("Usage"), "{cmd:?}: {h}");
        assert!(!h.contains("--backend"), "{cmd:?} shows --backend:\n{h}");
        assert!(!h.contains("--force"), "{cmd:?} shows --force:\n{h}");
    }
    for cmd in [
        &["attach", "--help"][..],
        &["switch", "add", "--help"],
        &["detach", "--help"],
    ] {
        let h = help(cmd);
        assert!(
            h.contains("--backend") && h.contains("--force"),
            "{cmd:?}:\n{h}"
        );
    }
    for cmd in [
        &["route", "add", "--help"][..],
        &["ns", "del", "--help"],
        &["unlink", "--help"],
    ] {
        let h = help(cmd);
        assert!(
            h.contains("--force") && !h.contains("--backend"),
            "{cmd:?}:\n{h}"
        );
    }
    // before the subcommand (the older spelling): taken where it means
    // something, refused (exit 2, nothing done) where it does not
    let out = swctl(&["--backend", "ovs", "ns", "add", "zzbf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--backend means nothing for ns add"));
    let out = swctl(&["--force", "show"]);
    assert_eq!(out.status.code(), Some(2));
}
