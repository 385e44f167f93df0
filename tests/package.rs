//! The Debian package (`scripts/package.sh`, dpkg-deb) on this machine:
//! installed with `dpkg -i`, the installed swctl runs (version, a small
//! lab applied, checked and destroyed), `man swctl` finds its page, bash
//! completes its subcommands, its systemd socket unit says what the API's
//! socket is, `swctl serve` takes a socket handed to it
//! (`systemd-socket-activate`, as systemd's swctl.socket does) and answers
//! on it; `dpkg -r` leaves none of its files. The package is the one
//! scripts/test.sh built (`$SWCTL_DEB`), else built here.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Lab, sh, text, write};

fn deb() -> String {
    if let Ok(d) = std::env::var("SWCTL_DEB") {
        return d;
    }
    let o = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/package.sh"))
        .output()
        .unwrap();
    assert!(o.status.success(), "package.sh: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn installed(lab: &Lab, args: &[&str]) -> std::process::Output {
    Command::new("/usr/bin/swctl")
        .args(args)
        .envs(lab.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

#[test]
fn the_package_installs_runs_and_goes_away_leaving_nothing() {
    let lab = Lab::new("pk");
    let p = lab.p.clone();
    let deb = deb();
    // an earlier run's, if any, first
    sh(&["dpkg", "--purge", "swctl"]);
    let o = sh(&["dpkg", "-i", &deb]);
    assert!(o.status.success(), "dpkg -i: {}", text(&o));
    let files: Vec<String> = String::from_utf8_lossy(&sh(&["dpkg", "-L", "swctl"]).stdout)
        .lines()
        .filter(|f| std::path::Path::new(f).is_file())
        .map(String::from)
        .collect();
    for f in [
        "/usr/bin/swctl",
        "/usr/share/man/man1/swctl.1.gz",
        "/usr/share/bash-completion/completions/swctl",
        "/usr/share/zsh/vendor-completions/_swctl",
        "/usr/share/fish/vendor_completions.d/swctl.fish",
        "/lib/systemd/system/swctl.socket",
        "/lib/systemd/system/swctl.service",
    ] {
        assert!(
            files.iter().any(|x| x == f),
            "{f} not in the package: {files:?}"
        );
    }

    // the installed swctl
    let v = installed(&lab, &["--version"]);
    assert!(text(&v).starts_with("swctl "), "{}", text(&v));
    let f = write(
        &lab,
        "p.toml",
        &common::one_bridge_lab(&p, &[("a", "198.18.90.1/24"), ("b", "198.18.90.2/24")]),
    );
    for cmd in ["apply", "check", "destroy"] {
        let o = installed(&lab, &[cmd, &f]);
        assert!(o.status.success(), "installed swctl {cmd}: {}", text(&o));
    }
    let o = sh(&["man", "-w", "swctl"]);
    assert!(
        text(&o).contains("/usr/share/man/man1/swctl.1"),
        "man -w: {}",
        text(&o)
    );
    let o = sh(&[
        "bash",
        "-c",
        "source /usr/share/bash-completion/completions/swctl; COMP_WORDS=(swctl ap); COMP_CWORD=1; _swctl swctl ap swctl; echo \"${COMPREPLY[@]}\"",
    ]);
    assert!(
        text(&o).split_whitespace().any(|w| w == "apply"),
        "bash completes: {}",
        text(&o)
    );
    let unit = std::fs::read_to_string("/lib/systemd/system/swctl.socket").unwrap();
    assert!(
        unit.contains("ListenStream=/run/swctl/api.sock") && unit.contains("SocketMode=0600"),
        "{unit}"
    );

    // socket activation: serve takes the socket it is handed
    let sock = format!("/tmp/{p}-api.sock");
    let _ = std::fs::remove_file(&sock);
    let mut act = Command::new("systemd-socket-activate")
        .args([
            "-l",
            &sock,
            "/usr/bin/swctl",
            "serve",
            "--socket",
            &format!("/tmp/{p}-unused.sock"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let answer = loop {
        let o = sh(&[
            "curl",
            "-s",
            "--max-time",
            "5",
            "--unix-socket",
            &sock,
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"jsonrpc":"2.0","id":1,"method":"swctl.version","params":{}}"#,
            "http://localhost/",
        ]);
        if o.status.success() && !o.stdout.is_empty() {
            break text(&o);
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no answer on the handed socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(answer.contains("\"version\""), "{answer}");
    assert!(
        !std::path::Path::new(&format!("/tmp/{p}-unused.sock")).exists(),
        "serve bound a socket of its own"
    );
    // the manager forks the server on the first connection: both go
    let _ = act.kill();
    let _ = act.wait();
    let served = sh(&["pgrep", "-a", "-x", "swctl"]);
    for l in text(&served)
        .lines()
        .filter(|l| l.contains(&format!("/tmp/{p}-unused.sock")))
    {
        if let Some(pid) = l.split_whitespace().next() {
            sh(&["kill", pid]);
        }
    }
    let _ = std::fs::remove_file(&sock);

    // removed: none of its files left
    let o = sh(&["dpkg", "-r", "swctl"]);
    assert!(o.status.success(), "dpkg -r: {}", text(&o));
    let left: Vec<&String> = files
        .iter()
        .filter(|f| std::path::Path::new(f).exists())
        .collect();
    assert!(left.is_empty(), "left after dpkg -r: {left:?}");
    // and purged: dpkg knows nothing of it
    assert!(sh(&["dpkg", "--purge", "swctl"]).status.success());
    assert!(!sh(&["dpkg", "-s", "swctl"]).status.success());
}
