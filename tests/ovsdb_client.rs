//! The OVSDB client against a scripted fake server (no root needed): echo
//! probes answered, replies split into single bytes, several messages in
//! one read, error replies, per-operation and commit errors, a server that
//! hangs up or never answers, nothing listening. And against the real
//! ovsdb-server of the shared sandbox (root): list_dbs, get_schema,
//! transactions with server-side errors, monitor notifications.

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use swctl::ovsdb::framing::Splitter;
use swctl::ovsdb::ops::{Expect, Op, Txn, cond};
use swctl::ovsdb::{Client, OvsdbError, schema};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn sock_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("swctl-test-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Read one JSON message from the client.
async fn recv(s: &mut UnixStream, split: &mut Splitter, pending: &mut Vec<Value>) -> Value {
    loop {
        if !pending.is_empty() {
            return pending.remove(0);
        }
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("client message in time")
            .unwrap();
        assert!(n > 0, "client closed");
        pending.extend(split.feed(&buf[..n]).unwrap());
    }
}

/// Start a fake server that runs `script` on the first connection.
fn fake_server<F, Fut>(name: &str, script: F) -> String
where
    F: FnOnce(UnixStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let path = sock_path(name);
    let l = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        script(s).await;
    });
    format!("unix:{}", path.display())
}

#[test]
fn answers_echo_probes_and_reassembles_split_replies() {
    rt().block_on(async {
        let addr = fake_server("echo", |mut s| async move {
            let (mut split, mut pend) = (Splitter::new(), vec![]);
            // the server's inactivity probe
            s.write_all(br#"{"method":"echo","params":[],"id":"echo"}"#).await.unwrap();
            // the echo reply and the client's own request, in either order
            let m1 = recv(&mut s, &mut split, &mut pend).await;
            let m2 = recv(&mut s, &mut split, &mut pend).await;
            let (reply, req) = if m1.get("method").is_some() { (m2, m1) } else { (m1, m2) };
            assert_eq!(reply, json!({"result": [], "error": null, "id": "echo"}));
            assert_eq!(req["method"], "list_dbs");
            assert_eq!(req["params"], json!([]));
            assert!(req.get("jsonrpc").is_none());
            // an answer with escapes and braces in strings, one byte at a time
            let answer = json!({"result": ["Open_vSwitch", "we\"ird {db} [x] \\ é"], "error": null, "id": req["id"]});
            for b in serde_json::to_vec(&answer).unwrap() {
                s.write_all(&[b]).await.unwrap();
                s.flush().await.unwrap();
            }
            // keep the connection until the client is done
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf).await;
        });
        let c = Client::connect(&addr).await.unwrap();
        let dbs = c.list_dbs().await.unwrap();
        assert_eq!(dbs, vec!["Open_vSwitch".to_string(), "we\"ird {db} [x] \\ é".to_string()]);
    });
}

#[test]
fn two_replies_in_one_read_and_notifications_in_between() {
    rt().block_on(async {
        let addr = fake_server("two", |mut s| async move {
            let (mut split, mut pend) = (Splitter::new(), vec![]);
            let a = recv(&mut s, &mut split, &mut pend).await;
            let b = recv(&mut s, &mut split, &mut pend).await;
            let msg = format!(
                r#"{{"method":"update","params":["m1",{{"Bridge":{{}}}}],"id":null}}{{"result":["a"],"error":null,"id":{}}}{{"result":["b"],"error":null,"id":{}}}"#,
                a["id"], b["id"]
            );
            s.write_all(msg.as_bytes()).await.unwrap();
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf).await;
        });
        let c = Client::connect(&addr).await.unwrap();
        let (ra, rb) = tokio::join!(c.request("echo", json!(["a"])), c.request("echo", json!(["b"])));
        assert_eq!(ra.unwrap(), json!(["a"]));
        assert_eq!(rb.unwrap(), json!(["b"]));
        let u = c.next_update(Duration::from_secs(2)).await.expect("update delivered");
        assert_eq!(u[0], "m1");
    });
}

#[test]
fn error_replies_and_transaction_errors_are_reported() {
    rt().block_on(async {
        let addr = fake_server("err", |mut s| async move {
            let (mut split, mut pend) = (Splitter::new(), vec![]);
            let r = recv(&mut s, &mut split, &mut pend).await;
            // an error object, and no `result` member at all
            let m = json!({"error": {"error": "unknown database", "details": "get_schema asked for Nope"}, "id": r["id"]});
            s.write_all(&serde_json::to_vec(&m).unwrap()).await.unwrap();
            let r = recv(&mut s, &mut split, &mut pend).await;
            assert_eq!(r["method"], "transact");
            let m = json!({"result": [{"uuid": ["uuid", "1"]}, {"error": "constraint violation", "details": "Transaction causes multiple rows in \"Bridge\" table to have identical values (br0) for index on column \"name\"."}], "error": null, "id": r["id"]});
            s.write_all(&serde_json::to_vec(&m).unwrap()).await.unwrap();
            let r = recv(&mut s, &mut split, &mut pend).await;
            let m = json!({"result": [{"uuid": ["uuid", "1"]}, {"uuid": ["uuid", "2"]}, {"error": "referential integrity violation", "details": "cannot delete"}], "error": null, "id": r["id"]});
            s.write_all(&serde_json::to_vec(&m).unwrap()).await.unwrap();
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf).await;
        });
        let c = Client::connect(&addr).await.unwrap();
        let e = c.get_schema("Nope").await.unwrap_err();
        assert!(e.to_string().contains("get_schema asked for Nope"), "{e}");
        let mut t = Txn::new();
        for name in ["br0", "br0"] {
            t.push(
                Op::Insert {
                    table: "Bridge".into(),
                    row: json!({"name": name}),
                    uuid_name: None,
                },
                Expect::Any,
            );
        }
        let e = c.transact(&t).await.unwrap_err();
        assert!(matches!(e, OvsdbError::Transaction { index: 1, .. }), "{e}");
        assert!(e.to_string().contains("identical values (br0)"), "{e}");
        let e = c.transact(&t).await.unwrap_err();
        assert!(matches!(e, OvsdbError::Commit { .. }), "{e}");
        assert!(e.to_string().contains("referential integrity"), "{e}");
    });
}

#[test]
fn hang_up_timeout_and_nothing_listening() {
    rt().block_on(async {
        // the server hangs up while a request waits
        let addr = fake_server("close", |mut s| async move {
            let (mut split, mut pend) = (Splitter::new(), vec![]);
            let _ = recv(&mut s, &mut split, &mut pend).await;
            drop(s);
        });
        let c = Client::connect(&addr).await.unwrap();
        let e = c.list_dbs().await.unwrap_err();
        assert!(matches!(e, OvsdbError::Disconnected { .. }), "{e}");
        // and the next request says so at once
        let e = c.list_dbs().await.unwrap_err();
        assert!(matches!(e, OvsdbError::Disconnected { .. }), "{e}");

        // a server that never answers
        let addr = fake_server("mute", |mut s| async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
        let mut c = Client::connect(&addr).await.unwrap();
        c.timeout = Duration::from_millis(300);
        let e = c.list_dbs().await.unwrap_err();
        assert!(matches!(e, OvsdbError::Timeout { .. }), "{e}");

        // nothing listening
        let path = sock_path("nobody");
        let e = Client::connect(&format!("unix:{}", path.display()))
            .await
            .err()
            .unwrap();
        assert!(matches!(e, OvsdbError::NotListening { .. }), "{e}");
        assert!(e.to_string().contains("swctl ovs start"), "{e}");
        // a Northbound database that does not answer points to OVN's central
        let e = swctl::effect::ovn::nb::Nb::connect(&format!("unix:{}", path.display()))
            .await
            .err()
            .unwrap();
        let text = e.to_string();
        assert!(text.contains("no OVN Northbound database"), "{text}");
        assert!(text.contains("swctl ovn start"), "{text}");
        assert!(!text.contains("swctl ovs start"), "{text}");
        assert!(matches!(
            Client::connect("bogus:1").await.err().unwrap(),
            OvsdbError::BadAddress(_)
        ));
    });
}

#[test]
fn garbage_from_the_server_closes_the_connection_with_a_reason() {
    rt().block_on(async {
        let addr = fake_server("garbage", |mut s| async move {
            let (mut split, mut pend) = (Splitter::new(), vec![]);
            let _ = recv(&mut s, &mut split, &mut pend).await;
            s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf).await;
        });
        let c = Client::connect(&addr).await.unwrap();
        let e = c.list_dbs().await.unwrap_err();
        assert!(e.to_string().contains("outside any JSON"), "{e}");
    });
}

// ------------------------------------------------------------ real server

#[test]
fn real_server_schema_transactions_and_monitor() {
    common::require_root();
    let addr = common::ovs_sandbox();
    rt().block_on(async {
        let c = Client::connect(&addr).await.unwrap();
        c.echo().await.unwrap();
        assert!(c.list_dbs().await.unwrap().contains(&"Open_vSwitch".to_string()));
        let s = c.get_schema("Open_vSwitch").await.unwrap();
        schema::check(&s).unwrap();
        // monitor Bridge names, then make a change and see the update
        let init = c
            .monitor("t-bridges", json!({"Bridge": {"columns": ["name"]}}))
            .await
            .unwrap();
        assert!(init.is_object());
        let name = format!("zcl{}", std::process::id() % 100000);
        let mut t = Txn::new();
        t.push(
            Op::Insert {
                table: "Bridge".into(),
                row: json!({"name": name, "datapath_type": "netdev", "external_ids": ["map", [["swctl-test", "1"]]]}),
                uuid_name: Some("b".into()),
            },
            Expect::Any,
        );
        t.push(
            Op::Mutate {
                table: "Open_vSwitch".into(),
                wh: vec![],
                mutations: vec![json!(["bridges", "insert", ["set", [["named-uuid", "b"]]]])],
            },
            Expect::Count(1),
        );
        let r = c.transact(&t).await.unwrap();
        let uuid = r[0]["uuid"][1].as_str().unwrap().to_string();
        let mut seen = false;
        for _ in 0..10 {
            match c.next_update(Duration::from_secs(2)).await {
                Some(u) if u[0] == "t-bridges" && u[1]["Bridge"].get(&uuid).is_some() => {
                    seen = true;
                    break;
                }
                Some(_) => continue,
                None => break,
            }
        }
        assert!(seen, "no update for the new bridge");
        // a second bridge with the same name: the server's constraint error, per op
        let e = c.transact(&t).await.unwrap_err();
        assert!(e.to_string().contains("constraint violation"), "{e}");
        // a mutate that matches no row is caught by its count
        let mut t2 = Txn::new();
        t2.push(
            Op::Mutate {
                table: "Bridge".into(),
                wh: vec![cond("name", "==", json!("zcl-no-such-bridge"))],
                mutations: vec![json!(["external_ids", "insert", ["map", [["a", "b"]]]])],
            },
            Expect::Count(1),
        );
        let e = c.transact(&t2).await.unwrap_err();
        assert!(matches!(e, OvsdbError::Count { got: 0, .. }), "{e}");
        // clean up: drop the bridge from the root set (the row is garbage-collected)
        let mut t3 = Txn::new();
        t3.push(
            Op::Mutate {
                table: "Open_vSwitch".into(),
                wh: vec![],
                mutations: vec![json!(["bridges", "delete", ["set", [["uuid", uuid]]]])],
            },
            Expect::Count(1),
        );
        c.transact(&t3).await.unwrap();
    });
}
