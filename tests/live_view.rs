//! The live view (`GET /` on `swctl serve`) in a real browser: Debian's
//! Chromium, headless, driven over the DevTools Protocol (tests/browser.py).
//! A lab with a Linux bridge and an OVS switch; the page served on the Unix
//! socket and over TCP (the token's rules: 401 without it, `?token=` once
//! then a cookie); in the browser the lab is drawn (every host and switch),
//! in sync; a bridge port deleted with `ip` and an OVS port deleted with
//! ovs-vsctl each turn red with the finding within a second of the command
//! returning (the wait is bounded by 1 s: the issue's word); a screenshot
//! is taken; `check` started from the page shows its pairs, the cut-off
//! host's failing; `apply` from the page shows its progress, the marks go,
//! traffic passes at once; a second check passes.
//! Requires root, OVS, chromium, python3.

mod common;

use common::serve::{Browser, Server};
use common::*;

/// The attribute selector of a graph mark, quoted for JavaScript.
fn mark(kind: &str, value: &str) -> String {
    format!("document.querySelector('#graph svg [data-{kind}=\"{value}\"]')")
}

#[test]
fn the_live_view_in_a_browser() {
    let lab = Lab::ovs("lv");
    let p = lab.p.clone();
    let db = lab.ovsdb.clone().unwrap();
    let (a, b, c, g) = (lab.name("a"), lab.name("b"), lab.name("c"), lab.name("g"));
    let (s1, s2) = (lab.name("s1"), lab.name("s2"));
    let file = write(
        &lab,
        "live.toml",
        &format!(
            r#"name = "{p}"
[switches.{s1}]
backend = "bridge"
[switches.{s2}]
backend = "ovs"
[hosts.{a}]
routes = [{{ to = "198.18.151.0/24", via = "198.18.150.3" }}]
[[hosts.{a}.ports]]
switch = "{s1}"
ip = "198.18.150.1/24"
[hosts.{b}]
[[hosts.{b}.ports]]
switch = "{s1}"
ip = "198.18.150.2/24"
[hosts.{g}]
forward = true
[[hosts.{g}.ports]]
switch = "{s1}"
ip = "198.18.150.3/24"
[[hosts.{g}.ports]]
switch = "{s2}"
ip = "198.18.151.3/24"
[hosts.{c}]
routes = [{{ to = "198.18.150.0/24", via = "198.18.151.3" }}]
[[hosts.{c}.ports]]
switch = "{s2}"
ip = "198.18.151.1/24"
via = "veth"
"#
        ),
    );
    lab.ok(&["apply", &file]);
    let port = 40000 + std::process::id() % 20000;
    let listen = format!("127.0.0.1:{port}");
    let srv = Server::start_with(&lab, &["--listen", &listen]);

    // the page and its files on the Unix socket (no token: mode 0600)
    let get = |url: &str, more: &[&str]| -> String {
        let mut args = vec!["curl", "-s", "-i", "--max-time", "10"];
        args.extend_from_slice(more);
        args.push(url);
        text(&sh(&args))
    };
    let unix = ["--unix-socket", srv.socket.as_str()];
    let page = get("http://localhost/", &unix);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("content-type: text/html"), "{page}");
    assert!(page.contains("content-security-policy: default-src 'none'"));
    assert!(get("http://localhost/app.js", &unix).contains("lab.watch"));
    assert!(get("http://localhost/nope", &unix).starts_with("HTTP/1.1 404"));
    // over TCP: the token's rules
    let base = format!("http://{listen}/");
    assert!(get(&base, &[]).starts_with("HTTP/1.1 401"));
    assert!(get(&format!("{base}?token=0000"), &[]).starts_with("HTTP/1.1 401"));
    let token = std::fs::read_to_string(srv.socket.replace(".sock", ".token")).unwrap();
    let token = token.trim();
    let welcome = get(&format!("{base}?token={token}&lab={p}"), &[]);
    assert!(welcome.starts_with("HTTP/1.1 303"), "{welcome}");
    assert!(
        welcome.contains(&format!("location: /?lab={p}")),
        "{welcome}"
    );
    assert!(
        welcome.contains(&format!(
            "set-cookie: swctl_token={token}; HttpOnly; SameSite=Strict"
        )),
        "{welcome}"
    );

    // the browser: in by the token, which leaves the address
    let mut br = Browser::start();
    let at = br.say(&format!("open {base}?token={token}&lab={p}"));
    assert_eq!(at["url"], format!("{base}?lab={p}"), "{at}");
    let ready = br.wait(
        10.0,
        "document.body.dataset.state === 'ready' && document.body.dataset.sync",
    );
    let console = br.eval("__console__");
    assert_eq!(
        ready.as_ref().map(|r| r.0.clone()),
        Ok("in-sync".into()),
        "the page: {}; console: {console}",
        br.eval("document.body.innerText")
    );
    let nodes = br.eval(
        "[...document.querySelectorAll('#graph svg rect[data-node]')].map(e => e.dataset.node).sort().join(' ')",
    );
    let mut want = [&a, &b, &c, &g, &s1, &s2].map(|s| s.to_string());
    want.sort();
    assert_eq!(nodes, want.join(" "));
    assert_eq!(
        br.eval("document.querySelectorAll('#graph svg .drift').length"),
        0
    );

    // a bridge port deleted by hand: red within a second, with the finding
    sh(&["ip", "-n", &a, "link", "del", "eth0"]);
    let red = br.wait(
        1.0,
        &format!(
            "{} && {} && document.querySelector('#sync').textContent === 'drift' && document.querySelector('#findings').innerText",
            mark("node", &a).replace("')", ".drift')"),
            mark("port", &format!("{a} {s1}")).replace("')", ".drift')"),
        ),
    );
    let (findings, ms) = red.unwrap_or_else(|last| {
        panic!(
            "the deleted port is not red within a second: {last}; the page: {}",
            br.eval("document.body.innerText")
        )
    });
    eprintln!("bridge port deleted: red after {ms} ms");
    assert!(
        findings
            .as_str()
            .unwrap()
            .contains(&format!("port {a} on {s1}")),
        "{findings}"
    );
    // its finding is the mark's tooltip
    let tip = br.eval(&format!(
        "{}.querySelector('title').textContent",
        mark("node", &a)
    ));
    assert!(tip.as_str().unwrap().contains(&a), "{tip}");
    // hosts not concerned stay as they are
    assert_eq!(
        br.eval(&format!("{}.classList.contains('drift')", mark("node", &c))),
        false
    );

    // an OVS port deleted with ovs-vsctl: red within a second too
    let ovs_port = vsctl_ok(&db, &["list-ports", &s2])
        .lines()
        .find(|l| {
            vsctl_ok(&db, &["get", "Port", l, "external_ids:swctl-ns"])
                .trim()
                .trim_matches('"')
                == c
        })
        .expect("c's OVS port")
        .to_string();
    vsctl_ok(&db, &["del-port", &s2, &ovs_port]);
    let red = br.wait(
        1.0,
        &format!(
            "{} && {} && 'red'",
            mark("node", &c).replace("')", ".drift')"),
            mark("port", &format!("{c} {s2}")).replace("')", ".drift')"),
        ),
    );
    let (_, ms) = red.unwrap_or_else(|last| {
        panic!(
            "the deleted OVS port is not red within a second: {last}; the page: {}",
            br.eval("document.body.innerText")
        )
    });
    eprintln!("OVS port deleted: red after {ms} ms");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-view-drift.png");
    br.say(&format!("shot {}", shot.display()));
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        png.len()
    );

    // check from the page: its pairs, the cut-off host's failing
    br.eval("document.querySelector('#check').click()");
    let checked = br.wait(
        60.0,
        "document.body.dataset.check !== 'running' && document.body.dataset.check",
    );
    assert_eq!(checked.map(|r| r.0), Ok("failed".into()));
    let rows = br.eval(
        "[...document.querySelectorAll('#pairs tr[data-from]')].map(r => [r.dataset.from, r.dataset.ok])",
    );
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 6, "{rows:?}");
    assert!(
        rows.iter()
            .filter(|r| r[0] == a.as_str())
            .all(|r| r[1] == "false")
    );
    assert!(rows.iter().any(|r| r[1] == "true"), "{rows:?}");
    assert_eq!(
        br.eval(&format!(
            "{}.classList.contains('unreached')",
            mark("node", &a)
        )),
        true
    );

    // apply from the page: progress, then in sync, the marks gone, traffic
    br.eval("document.querySelector('#apply').click()");
    let done = br.wait(
        30.0,
        "document.body.dataset.progress === 'apply finished' && document.body.dataset.sync === 'in-sync'",
    );
    assert!(
        done.is_ok(),
        "{done:?}; the page: {}",
        br.eval("document.body.innerText")
    );
    assert!(
        br.eval("document.querySelector('#progress-text').textContent")
            .as_str()
            .unwrap()
            .contains("changes in"),
    );
    assert_eq!(
        br.eval("document.querySelectorAll('#graph svg .drift').length"),
        0
    );
    assert!(ping_once(&a, "198.18.150.2"), "a to b at once");
    assert!(ping_once(&a, "198.18.151.1"), "a to c through g at once");
    br.eval("document.querySelector('#check').click()");
    let checked = br.wait(
        60.0,
        "document.body.dataset.check !== 'running' && document.body.dataset.check",
    );
    assert_eq!(checked.map(|r| r.0), Ok("passed".into()));
    assert_eq!(br.eval("__console__"), serde_json::json!([]));
    drop(br);
    lab.ok(&["destroy", &file]);
}
