//! `swctl serve`, with a client not written in Rust: curl over the Unix
//! socket (HTTP POST, JSON-RPC 2.0), and over TCP with `--listen` (only
//! with the bearer token; no file of the server's read over TCP). The
//! socket's mode; swctl.version;
//! lab.apply with a topology as JSON, then labs.list, lab.status,
//! lab.check, a ping between the lab's hosts; an invalid topology: -32602
//! with every problem and its place, nothing changed; a CLI apply of
//! another lab while the server runs; the imperative operations (ns.add,
//! switch.add, attach, route.add, forward, detach, switch.del, ns.del) and
//! their bad params; lab.destroy leaves nothing. Requires root and curl.

mod common;

use common::serve::Server;
use common::*;
use serde_json::{Value, json};

#[test]
fn the_json_rpc_api_over_a_unix_socket() {
    let lab = Lab::new("ap");
    let p = lab.p.clone();
    // TCP only when asked (loopback here)
    let port = 20000 + std::process::id() % 20000;
    let listen = format!("127.0.0.1:{port}");
    let srv = Server::start_with(&lab, &["--listen", &listen]);
    // over TCP: the bearer token `serve` made (mode 0600, beside the
    // socket), and topologies inline only
    let tcp = |body: &str, token: Option<&str>| -> (String, Value) {
        let auth = format!("authorization: Bearer {}", token.unwrap_or(""));
        let mut args = vec![
            "curl",
            "-s",
            "-w",
            "\n%{http_code}",
            "--max-time",
            "10",
            "--retry",
            "5",
            "--retry-connrefused",
            "--retry-delay",
            "0",
            "-H",
            "content-type: application/json",
        ];
        if token.is_some() {
            args.extend(["-H", &auth]);
        }
        let url = format!("http://{listen}/");
        args.extend(["-d", body, &url]);
        let out = String::from_utf8_lossy(&sh(&args).stdout).to_string();
        let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
        (
            code.to_string(),
            serde_json::from_str(body).unwrap_or_default(),
        )
    };
    let version = r#"{"jsonrpc":"2.0","id":1,"method":"swctl.version"}"#;
    let (code, _) = tcp(version, None);
    assert_eq!(code, "401", "over TCP without the token");
    let (code, _) = tcp(version, Some("not-the-token"));
    assert_eq!(code, "401", "over TCP with another token");
    let token_file = srv.socket.replace(".sock", ".token");
    let token = std::fs::read_to_string(&token_file).expect("serve --listen writes its token");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the token is root's only");
    }
    let (code, v) = tcp(version, Some(token.trim()));
    assert_eq!(code, "200");
    assert!(v["result"]["version"].is_string(), "over TCP: {v}");
    // no file of the server's is read over TCP (its lines would answer)
    let shadow = r#"{"jsonrpc":"2.0","id":1,"method":"lab.plan","params":{"file":"/etc/shadow"}}"#;
    let (_, v) = tcp(shadow, Some(token.trim()));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("over TCP only"), "{v}");
    assert!(v["error"]["data"].is_null(), "nothing of the file: {v}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&srv.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket is root's only");
    let v = srv.call("swctl.version", json!({}));
    assert!(v["result"]["version"].is_string(), "{v}");
    // a lab as JSON
    let (a, b, s1) = (lab.name("a"), lab.name("b"), lab.name("s1"));
    let topo = json!({
        "name": p,
        "switches": {s1.clone(): {}},
        "hosts": {
            a.clone(): {"ports": [{"switch": s1, "ip": "198.18.98.1/24"}]},
            b.clone(): {"ports": [{"switch": s1, "ip": "198.18.98.2/24"}]},
        },
    });
    let v = srv.call("lab.apply", json!({"topology": topo}));
    assert!(v["result"]["changes"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(
        ping_once(&a, "198.18.98.2"),
        "the lab made over the API works"
    );
    let v = srv.call("labs.list", json!({}));
    let names: Vec<&str> = v["result"]["labs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert!(names.contains(&p.as_str()), "{v}");
    let v = srv.call("lab.status", json!({"name": p}));
    assert_eq!(v["result"]["in_sync"], true, "{v}");
    let v = srv.call("lab.apply", json!({"topology": topo}));
    assert_eq!(v["result"]["changes"], 0, "re-apply: {v}");
    let v = srv.call("lab.check", json!({"name": p}));
    assert_eq!(v["result"]["failed"], 0, "{v}");
    // drift by hand: status says so, with the CLI's exit code
    sh(&["ip", "-n", &b, "addr", "flush", "dev", "eth0"]);
    let v = srv.call("lab.status", json!({"name": p}));
    assert_eq!(v["result"]["in_sync"], false, "{v}");
    assert_eq!(v["result"]["exit_code"], 3, "{v}");
    // bad params: every problem with its place, nothing made
    let bad = json!({"name": format!("{p}x"), "hosts": {"x/y": {}, format!("{p}c"): {"ports": [{"switch": "nope"}]}}});
    let v = srv.call("lab.apply", json!({"topology": bad}));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let problems = v["error"]["data"]["problems"].as_array().unwrap();
    assert!(problems.len() >= 2, "{v}");
    assert!(problems.iter().all(|x| x["path"].is_string()), "{v}");
    assert!(
        !lab.namespaces().iter().any(|n| n.ends_with('c')),
        "bad input made something"
    );
    let v = srv.call("lab.apply", json!({"file": 3}));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    // a lab is one of file, name, topology
    let v = srv.call("lab.plan", json!({"topology": topo, "name": p}));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let v = srv.call("lab.status", json!({"name": "nolab"}));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let v = srv.call("no.such.method", json!({}));
    assert_eq!(v["error"]["code"], -32601, "{v}");
    // the CLI works beside the server (the same lock, taken per change)
    let g = write(
        &lab,
        "cli2.toml",
        &format!("name = \"{p}cli\"\n[hosts.{p}d]\n"),
    );
    lab.ok(&["apply", &g]);
    lab.ok(&["destroy", &g]);
    // the imperative operations, with the CLI's arguments as named params
    let (x, y, br) = (lab.name("x"), lab.name("y"), lab.name("br"));
    let ok = |v: Value| assert!(v["result"]["changes"].as_u64().unwrap_or(0) > 0, "{v}");
    ok(srv.call("ns.add", json!({"names": [x, y]})));
    ok(srv.call("switch.add", json!({"name": br, "backend": "bridge"})));
    ok(srv.call(
        "attach",
        json!({"ns": x, "switch": br, "ip": "198.18.97.1/24"}),
    ));
    ok(srv.call(
        "attach",
        json!({"ns": y, "switch": br, "ip": ["198.18.97.2/24"]}),
    ));
    assert!(ping_once(&x, "198.18.97.2"), "attached over the API");
    ok(srv.call(
        "route.add",
        json!({"ns": x, "dest": "198.18.120.0/24", "via": "198.18.97.2"}),
    ));
    ok(srv.call("forward", json!({"ns": y, "state": true})));
    // every CLI option exists over the API under the same name
    let v = srv.call(
        "attach",
        json!({"ns": y, "switch": br, "ip": "198.18.97.3/24"}),
    );
    assert_eq!(
        v["error"]["code"], -32602,
        "another address without replace: {v}"
    );
    ok(srv.call(
        "attach",
        json!({"ns": y, "switch": br, "ip": "198.18.97.3/24", "replace": true}),
    ));
    assert!(ping_once(&x, "198.18.97.3"), "replaced over the API");
    let v = srv.call("attach", json!({"ns": x, "switch": br, "colour": "red"}));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let v = srv.call("detach", json!({"ns": x}));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    ok(srv.call("detach", json!({"ns": y, "switch": br})));
    ok(srv.call("switch.del", json!({"name": br})));
    ok(srv.call("ns.del", json!({"names": [x, y]})));
    assert!(!lab.namespaces().contains(&x), "{:?}", lab.namespaces());
    // destroy over the API: nothing left
    let v = srv.call("lab.destroy", json!({"name": p}));
    assert!(v["result"]["changes"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    assert!(!std::path::Path::new(&format!("/run/swctl/api/{p}.json")).exists());
}
