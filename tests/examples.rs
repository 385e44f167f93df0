//! Every example topology (S1–S8) is applied, checked with real packets and
//! destroyed; the Linux-bridge ones also on OVS (`backend = "ovs"`).
//! Sequential: the examples share names like `ns1`. Requires root and OVS.

mod common;

use common::*;

fn run(args: &[&str], ovsdb: &str) -> std::process::Output {
    std::process::Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_swctl"))
        .args(args)
        .env("SWCTL_OVSDB", ovsdb)
        .output()
        .unwrap()
}

fn apply_check_destroy(file: &str, ovsdb: &str) {
    for cmd in ["apply", "check", "status", "destroy"] {
        let out = run(&[cmd, file], ovsdb);
        assert!(
            out.status.success(),
            "swctl {cmd} {file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if cmd == "apply" {
            let again = run(&["apply", file], ovsdb);
            assert!(
                String::from_utf8_lossy(&again.stdout).contains("nothing to change"),
                "{file}"
            );
        }
    }
}

#[test]
fn every_example_applies_checks_and_goes_away() {
    require_root();
    let ovsdb = ovs_sandbox();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        // (a lab's config files sit in a directory beside it)
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in &files {
        let before = sh(&["ip", "netns", "list"]).stdout;
        apply_check_destroy(f.to_str().unwrap(), &ovsdb);
        let text = std::fs::read_to_string(f).unwrap();
        if text.contains("backend = \"bridge\"")
            && !text.contains("backend = \"ovs\"")
            && !text.contains("namespace =")
            // its hosts' commands read files beside it: not from a copy
            && !text.contains("run = [")
        {
            // the same lab on Open vSwitch
            let ovs = std::env::temp_dir().join(format!(
                "swctl-ex-{}-{}",
                std::process::id(),
                f.file_name().unwrap().to_string_lossy()
            ));
            std::fs::write(
                &ovs,
                text.replace("backend = \"bridge\"", "backend = \"ovs\""),
            )
            .unwrap();
            apply_check_destroy(ovs.to_str().unwrap(), &ovsdb);
            let _ = std::fs::remove_file(&ovs);
        }
        assert_eq!(
            sh(&["ip", "netns", "list"]).stdout,
            before,
            "{} left namespaces",
            f.display()
        );
    }
}
