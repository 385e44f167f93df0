//! `swctl serve`: swctl's JSON-RPC 2.0 API (jsonrpsee) over HTTP POST and
//! WebSocket on one Unix socket (mode 0600: root only), and on TCP only
//! with `--listen ADDR`. Every method runs the command
//! the CLI would run, in this process, through the same code and the same
//! lock: its result is the CLI's `--json` output, its error the CLI's error
//! as data (-32602 when the request is wrong: bad params, an invalid
//! topology with every problem and its place; -32000 when running it
//! failed).
//!
//! Methods: `swctl.version`, `labs.list`, `show`, `lab.plan` and
//! `lab.apply` (`{"topology": {...}}` or `{"file": PATH}`, apply takes
//! `"check": true` too), `lab.status`, `lab.check`, `lab.destroy`
//! (`{"name": LAB}`), and the imperative operations (`ns.add`, `attach`,
//! `route.add`, …) with the CLI's arguments as named params; over a
//! WebSocket the subscription `lab.watch` / `lab.unwatch` (`lab.event`
//! notifications: drift, apply progress).

use std::path::{Path, PathBuf};

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::server::{Server, serve_with_graceful_shutdown, stop_channel};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use serde_json::{Value, json};

use super::{Cli, CliError, Output};
use clap::Parser;

/// JSON-RPC's code for invalid params.
const BAD_PARAMS: i32 = -32602;
/// swctl's code for a command that failed while running.
const FAILED: i32 = -32000;

fn bad(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(BAD_PARAMS, msg.into(), None::<()>)
}

/// Run `swctl --json ARGS` here, on a blocking thread (the CLI's own
/// runtime and lock): the CLI's JSON, or its error as a JSON-RPC error.
async fn cli(args: Vec<String>) -> Result<Value, ErrorObjectOwned> {
    let res = tokio::task::spawn_blocking(move || {
        let mut argv = vec!["swctl".to_string(), "--json".to_string()];
        argv.extend(args);
        let c = Cli::try_parse_from(&argv).map_err(|e| bad(e.to_string()))?;
        Ok::<_, ErrorObjectOwned>(super::run(&c))
    })
    .await
    .map_err(|e| ErrorObjectOwned::owned(FAILED, e.to_string(), None::<()>))??;
    match res {
        Ok(Output { mut json, code, .. }) => {
            if code != 0 && json.is_object() {
                json["exit_code"] = json!(code);
            }
            Ok(json)
        }
        Err(e) => Err(error_object(&e)),
    }
}

/// A CLI error as a JSON-RPC error: the CLI's JSON error as `data`.
fn error_object(e: &CliError) -> ErrorObjectOwned {
    let data = e.to_json();
    let code = if e.exit_code() == 2 {
        BAD_PARAMS
    } else {
        FAILED
    };
    let msg = data["error"].as_str().unwrap_or("failed").to_string();
    ErrorObjectOwned::owned(code, msg, Some(data))
}

fn object(p: &Params) -> Result<serde_json::Map<String, Value>, ErrorObjectOwned> {
    match p.parse::<Value>() {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Default::default()),
        _ => Err(bad("params must be an object")),
    }
}

/// Where a topology given as JSON is kept while its lab exists (its
/// record names the file, as for a file applied from the CLI).
fn api_dir() -> PathBuf {
    crate::effect::paths::run_dir().join("api")
}

/// The file of `{"file": PATH}` or `{"topology": {...}}` (written under
/// /run/swctl/api as NAME.json).
fn topology_file(p: &serde_json::Map<String, Value>) -> Result<String, ErrorObjectOwned> {
    match (p.get("file"), p.get("topology")) {
        (Some(Value::String(f)), None) => Ok(f.clone()),
        (None, Some(t @ Value::Object(o))) => {
            let name = o
                .get("name")
                .and_then(|n| n.as_str())
                .ok_or_else(|| bad("the topology has no \"name\""))?;
            let owner: crate::model::names::Owner = name
                .parse()
                .map_err(|e: crate::model::names::InvalidInput| bad(e.to_string()))?;
            std::fs::create_dir_all(api_dir()).map_err(|e| bad(e.to_string()))?;
            let path = api_dir().join(format!("{owner}.json"));
            std::fs::write(&path, t.to_string()).map_err(|e| bad(e.to_string()))?;
            Ok(path.display().to_string())
        }
        _ => Err(bad(
            "give either \"file\" (a path) or \"topology\" (an object)",
        )),
    }
}

/// `{"name": LAB}`: the lab and the file it was applied from.
fn lab_of(p: &serde_json::Map<String, Value>) -> Result<(String, String), ErrorObjectOwned> {
    let name = p
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| bad("give the lab's \"name\""))?;
    let owner: crate::model::names::Owner = name
        .parse()
        .map_err(|e: crate::model::names::InvalidInput| bad(e.to_string()))?;
    let file = crate::lab::registered_file(&owner)
        .ok_or_else(|| bad(format!("no lab {owner} is applied")))?;
    Ok((owner.to_string(), file))
}

fn version() -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "kernel": nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        "ovs_datapath": if crate::effect::ovs::datapath::kernel_datapath() { "system" } else { "netdev" },
    })
}

/// An imperative operation: its method, the CLI's words, its positional
/// params in order, its flag params (param, flag).
type Imperative = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// The imperative operations, as the CLI's commands with named params.
const IMPERATIVE: &[Imperative] = &[
    ("ns.add", &["ns", "add"], &["names"], &[]),
    ("ns.del", &["ns", "del"], &["names"], &[]),
    (
        "switch.add",
        &["switch", "add"],
        &["name"],
        &[
            ("netns", "--netns"),
            ("ip", "--ip"),
            ("datapath", "--datapath"),
            ("ovsdb", "--ovsdb"),
        ],
    ),
    ("switch.del", &["switch", "del"], &["names"], &[]),
    (
        "attach",
        &["attach"],
        &["ns", "switch"],
        &[
            ("ip", "--ip"),
            ("ifname", "--ifname"),
            ("via", "--via"),
            ("vlan", "--vlan"),
            ("mtu", "--mtu"),
        ],
    ),
    ("detach", &["detach"], &["ns", "switch"], &[]),
    (
        "link",
        &["link"],
        &["a", "b"],
        &[
            ("ip_a", "--ip-a"),
            ("ip_b", "--ip-b"),
            ("ifname_a", "--ifname-a"),
            ("ifname_b", "--ifname-b"),
            ("mtu", "--mtu"),
        ],
    ),
    ("unlink", &["unlink"], &["a", "b"], &[]),
    ("route.add", &["route", "add"], &["ns", "dest", "via"], &[]),
    ("route.del", &["route", "del"], &["ns", "dest", "via"], &[]),
    ("forward", &["forward"], &["ns", "state"], &[]),
];

/// A param's value(s) as the CLI's words (a list gives several).
fn words(v: &Value, key: &str) -> Result<Vec<String>, ErrorObjectOwned> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        Value::Bool(b) => Ok(vec![if *b { "on" } else { "off" }.to_string()]),
        Value::Array(a) => a
            .iter()
            .map(|x| words(x, key).map(|mut w| w.remove(0)))
            .collect(),
        _ => Err(bad(format!(
            "\"{key}\": expected a string, a number or a list"
        ))),
    }
}

/// The CLI's argument list of imperative operation `op` with params `p`
/// (`backend`: the CLI's `--backend`).
fn imperative_args(
    op: &Imperative,
    p: &serde_json::Map<String, Value>,
) -> Result<Vec<String>, ErrorObjectOwned> {
    let (_, cmd, positional, flags) = op;
    for k in p.keys() {
        let known = k == "backend"
            || positional.contains(&k.as_str())
            || flags.iter().any(|(f, _)| f == k)
            || (k == "name" && positional.contains(&"names"));
        if !known {
            return Err(bad(format!("unknown param \"{k}\"")));
        }
    }
    let mut args = vec![];
    if let Some(b) = p.get("backend") {
        args.push("--backend".to_string());
        args.extend(words(b, "backend")?);
    }
    args.extend(cmd.iter().map(|w| w.to_string()));
    for key in positional.iter() {
        let v = p
            .get(*key)
            .or_else(|| (*key == "names").then(|| p.get("name")).flatten());
        match v {
            Some(v) => {
                if *key == "via" {
                    args.push("via".into());
                }
                args.extend(words(v, key)?);
            }
            None => return Err(bad(format!("missing param \"{key}\""))),
        }
    }
    for (key, flag) in flags.iter() {
        if let Some(v) = p.get(*key) {
            for w in words(v, key)? {
                args.push(flag.to_string());
                args.push(w);
            }
        }
    }
    Ok(args)
}

/// `lab.watch {"name"}`: a subscription (WebSocket) to the lab's events:
/// first `{"event": "watching", ...}` (what is watched), then each drift
/// (`lab::watch`) and each apply/destroy run in this server, as
/// `lab.event` notifications, until `lab.unwatch` or the client goes.
async fn watch_lab(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
) -> SubscriptionResult {
    let lab = object(&params)
        .and_then(|p| lab_of(&p))
        .and_then(|(_, file)| {
            crate::lab::topology::load(Path::new(&file)).map_err(|e| bad(e.to_string()))
        });
    let t = match lab {
        Ok(t) => t,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    let owner = t.desired.owner.clone();
    let targets = crate::lab::watch::targets(&t.desired);
    let mut progress = crate::lab::events::subscribe();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    // in place before the client hears its subscription id
    let _tasks = crate::lab::watch::watch(owner.clone(), targets.clone(), tx).await;
    let sink = pending.accept().await?;
    let hello = json!({
        "event": "watching", "lab": owner,
        "netns": targets.own.iter().chain(targets.shared.iter().flatten()).collect::<Vec<_>>(),
        "host": targets.shared.contains(&None),
        "ovsdb": targets.ovsdbs,
    });
    sink.send(SubscriptionMessage::from_json(&hello)?).await?;
    loop {
        let v = tokio::select! {
            v = rx.recv() => match v {
                Some(v) => v,
                None => break,
            },
            e = progress.recv() => match e {
                Ok(e) if e.lab == owner.as_str() => {
                    let mut b = e.body;
                    b["lab"] = json!(owner);
                    b
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    json!({"event": "lagged", "lab": owner, "missed": n})
                }
                Err(_) => break,
            },
            _ = sink.closed() => break,
        };
        if sink
            .send(SubscriptionMessage::from_json(&v)?)
            .await
            .is_err()
        {
            break;
        }
    }
    Ok(())
}

fn module() -> Result<RpcModule<()>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(());
    m.register_subscription(
        "lab.watch",
        "lab.event",
        "lab.unwatch",
        |p, pending, _, _| watch_lab(p, pending),
    )?;
    for op in IMPERATIVE {
        m.register_async_method(op.0, move |p, _, _| async move {
            let args = imperative_args(op, &object(&p)?)?;
            cli(args).await
        })?;
    }
    m.register_method("swctl.version", |_, _, _| {
        Ok::<_, ErrorObjectOwned>(version())
    })?;
    m.register_async_method("labs.list", |_, _, _| async move {
        cli(vec!["labs".into()]).await
    })?;
    m.register_async_method("show", |p, _, _| async move {
        let mut args = vec!["show".to_string()];
        if let Some(n) = object(&p)?.get("name").and_then(|n| n.as_str()) {
            args.push(n.to_string());
        }
        cli(args).await
    })?;
    for (method, verb) in [("lab.plan", "plan"), ("lab.apply", "apply")] {
        m.register_async_method(method, move |p, _, _| async move {
            let p = object(&p)?;
            let file = topology_file(&p)?;
            let mut args = vec![verb.to_string(), file.clone()];
            if verb == "apply" && p.get("check") == Some(&Value::Bool(true)) {
                args.push("--check".into());
            }
            let out = cli(args).await;
            // a topology written here stays only while its lab is applied
            if p.contains_key("topology") {
                let applied = crate::lab::registered()
                    .iter()
                    .any(|o| crate::lab::registered_file(o).as_deref() == Some(file.as_str()));
                if !applied {
                    let _ = std::fs::remove_file(&file);
                }
            }
            out
        })?;
    }
    for (method, verb) in [("lab.status", "status"), ("lab.check", "check")] {
        m.register_async_method(method, move |p, _, _| async move {
            let (_, file) = lab_of(&object(&p)?)?;
            cli(vec![verb.to_string(), file]).await
        })?;
    }
    m.register_async_method("lab.destroy", |p, _, _| async move {
        let (name, _) = lab_of(&object(&p)?)?;
        let out = cli(vec!["destroy".into(), "--name".into(), name.clone()]).await?;
        let _ = std::fs::remove_file(api_dir().join(format!("{name}.json")));
        Ok::<_, ErrorObjectOwned>(out)
    })?;
    Ok(m)
}

/// Serve until killed: on the Unix socket, and on TCP at `listen` when
/// given.
pub(super) async fn serve(
    socket: &Path,
    listen: Option<std::net::SocketAddr>,
) -> Result<Output, CliError> {
    let fail = |what: &str, e: std::io::Error| {
        CliError::Failed(format!("{what} {}: {e}", socket.display()))
    };
    if tokio::net::UnixStream::connect(socket).await.is_ok() {
        return Err(CliError::Failed(format!(
            "another swctl serves on {} already",
            socket.display()
        )));
    }
    // a socket file nobody listens on is a leftover
    let _ = std::fs::remove_file(socket);
    if let Some(d) = socket.parent() {
        std::fs::create_dir_all(d).map_err(|e| fail("cannot make the directory of", e))?;
    }
    let listener =
        tokio::net::UnixListener::bind(socket).map_err(|e| fail("cannot listen on", e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fail("cannot restrict", e))?;
    let methods = module().map_err(|e| CliError::Failed(e.to_string()))?;
    eprintln!("swctl: serving JSON-RPC 2.0 on {}", socket.display());
    let tcp = match listen {
        Some(a) => {
            let l = tokio::net::TcpListener::bind(a)
                .await
                .map_err(|e| CliError::Failed(format!("cannot listen on {a}: {e}")))?;
            eprintln!(
                "swctl: and on TCP {a} (no authentication: anyone who reaches it can change this system)"
            );
            Some(l)
        }
        None => None,
    };
    let (stop, _handle) = stop_channel();
    let builder = Server::builder().to_service_builder();
    loop {
        let svc = builder.clone().build(methods.clone(), stop.clone());
        let stopped = stop.clone().shutdown();
        tokio::select! {
            a = listener.accept() => {
                let (sock, _) = a.map_err(|e| fail("cannot accept on", e))?;
                tokio::spawn(async move {
                    let _ = serve_with_graceful_shutdown(sock, svc, stopped).await;
                });
            }
            a = async { tcp.as_ref().expect("only polled with TCP").accept().await }, if tcp.is_some() => {
                let Ok((sock, _)) = a else { continue };
                tokio::spawn(async move {
                    let _ = serve_with_graceful_shutdown(sock, svc, stopped).await;
                });
            }
        }
    }
}
