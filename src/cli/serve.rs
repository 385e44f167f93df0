//! `swctl serve`: swctl's JSON-RPC 2.0 API (jsonrpsee) over HTTP POST and
//! WebSocket on one Unix socket (mode 0600: root only), and on TCP only
//! with `--listen ADDR`, where every request must carry the bearer token
//! `serve` made (`Authorization: Bearer TOKEN`, the token in a file of mode
//! 0600 beside the socket) and a topology is taken inline only (never a
//! file of the server's: `lab.plan {"file": "/etc/shadow"}` would answer
//! with that file's lines).
//!
//! Every method's params deserialize straight into the request type the
//! CLI's subcommand holds (`lab::request`: same names, unknown params
//! refused), and run through the same job as the CLI, in this process,
//! with the same lock: its result is the use case's typed report (what the
//! CLI's `--json` prints), its error the CLI's error as data (-32602 when
//! the request is wrong: bad params,
//! an invalid topology with every problem and its place; -32000 when
//! running it failed).
//!
//! Methods: `swctl.version`, `labs.list`, `show`, `lab.plan`, `lab.apply`,
//! `lab.status`, `lab.check`, `lab.destroy`, `lab.gc`, `lab.graph`, `flow.list`,
//! `flow.add`, `flow.del`, `impair`, and every imperative change
//! (`Change::METHODS`: `ns.add`, `attach`, `route.add`, …); over a
//! WebSocket the subscriptions `lab.watch` / `lab.unwatch` (`lab.event`
//! notifications: drift, apply progress) and `capture` / `capture.stop`
//! (`capture.frame`: a device's frames, `serve/capture.rs`). `GET /` is
//! the live view, a page that draws a lab and colours it from those calls
//! (`serve/page.rs`).

mod activation;
mod auth;
mod capture;
mod front;
mod page;

use std::path::Path;
use std::sync::Arc;

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::server::{Server, serve_with_graceful_shutdown, stop_channel};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::args::Cmd;
use super::{CliError, Job, Output};
use crate::lab::events::Events;
use crate::lab::flows::{
    FlowAdd, FlowDel, FlowError, FlowJob, FlowsList, validate_add, validate_del, validate_list,
};
use crate::lab::request::lab::{
    Apply, Check, Destroy, Gc, GraphOf, Plan, Show, SourceError, Status, Watch,
};
use crate::lab::request::{Change, lab::inline_dir};

/// JSON-RPC's code for invalid params.
const BAD_PARAMS: i32 = -32602;
/// swctl's code for a command that failed while running.
const FAILED: i32 = -32000;

fn bad(msg: impl ToString) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(BAD_PARAMS, msg.to_string(), None::<()>)
}

/// What a method knows of its connection.
struct Ctx {
    /// over TCP: a topology inline only, no file of the server's
    tcp: bool,
    /// the server's events: every apply and destroy it runs reports here,
    /// every `lab.watch` listens here (one channel for both sockets)
    events: Events,
}

/// Build a job and run it on a blocking thread (the CLI's own runtime and
/// lock): the CLI's JSON, or its error as a JSON-RPC error.
async fn run(
    ctx: &Ctx,
    job: impl FnOnce() -> Result<Job, CliError> + Send + 'static,
) -> Result<Value, ErrorObjectOwned> {
    let events = ctx.events.clone();
    // a thread of its own with the main thread's stack: an apply's future,
    // polled, needs more than the 2 MiB of tokio's blocking threads (seen:
    // a stack overflow once observing read OVS flows too)
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("swctl-job".into())
        .stack_size(8 << 20)
        .spawn(move || {
            let _ = tx.send(job().and_then(|j| super::execute(j, &events)));
        })
        .map_err(|e| ErrorObjectOwned::owned(FAILED, e.to_string(), None::<()>))?;
    let res = rx
        .await
        .map_err(|e| ErrorObjectOwned::owned(FAILED, e.to_string(), None::<()>))?;
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

/// The params as an object (none: `{}`).
fn object(p: &Params) -> Result<Value, ErrorObjectOwned> {
    match p.parse::<Value>() {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(Value::Null) => Ok(json!({})),
        _ => Err(bad("params must be an object")),
    }
}

/// The params as request `T` (unknown params refused).
fn request<T: DeserializeOwned>(p: &Params) -> Result<T, ErrorObjectOwned> {
    serde_json::from_value(object(p)?).map_err(bad)
}

/// Over TCP, a file of the server's is never read.
fn no_file_over_tcp(ctx: &Ctx, file: &Option<String>) -> Result<(), ErrorObjectOwned> {
    if ctx.tcp && file.is_some() {
        return Err(bad(SourceError::FileOverTcp));
    }
    Ok(())
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

/// Whether lab `name`'s record names the file `path` (an inline topology
/// stays only while its lab is applied).
fn applied_from(path: &Path) -> bool {
    let p = path.display().to_string();
    crate::lab::registered()
        .iter()
        .any(|o| crate::lab::registered_file(o).as_deref() == Some(p.as_str()))
}

/// `lab.watch {"name"}`: a subscription (WebSocket) to the lab's events:
/// first `{"event": "watching", ...}` (what is watched), then each drift
/// (`lab::watch`) and each apply/destroy run in this server, as
/// `lab.event` notifications, until `lab.unwatch` or the client goes.
async fn watch_lab(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    events: Events,
) -> SubscriptionResult {
    let lab = request::<Watch>(&params)
        .and_then(|w| crate::lab::request::lab::resolve(None, Some(&w.name), None).map_err(bad))
        .and_then(|file| crate::lab::topology::load(Path::new(&file)).map_err(bad));
    let t = match lab {
        Ok(t) => t,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    let owner = t.desired.owner.clone();
    let targets = crate::lab::watch::targets(&t.desired);
    let mut progress = events.subscribe();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    // in place before the client hears its subscription id
    let _tasks = crate::lab::watch::watch(owner.clone(), targets.clone(), tx).await;
    let sink = pending.accept().await?;
    let hello = json!({
        "event": "watching", "lab": owner,
        "netns": targets.own.iter().chain(targets.shared.iter().flatten()).collect::<Vec<_>>(),
        "host": targets.shared.contains(&None),
        "ovsdb": targets.ovsdbs,
        "flows": targets.bridges.iter().map(|(_, b)| b).collect::<Vec<_>>(),
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

/// Register `method`: its params as request `T`, run as the job `job`
/// makes of it.
fn method<T: DeserializeOwned + Send + 'static>(
    m: &mut RpcModule<Ctx>,
    name: &'static str,
    job: fn(&Ctx, T) -> Result<Job, ErrorObjectOwned>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_async_method(name, move |p, ctx, _| async move {
        let j = job(&ctx, request::<T>(&p)?)?;
        run(&ctx, move || Ok(j)).await
    })?;
    Ok(())
}

/// A flow command's job, or its refusal as bad params.
fn flow_job(j: Result<FlowJob, FlowError>) -> Result<Job, ErrorObjectOwned> {
    j.map(Job::Flow)
        .map_err(|e| error_object(&CliError::Flow(e)))
}

/// A topology command's job (its file loaded and validated).
fn topo(cmd: Cmd) -> Result<Job, ErrorObjectOwned> {
    Job::from_cmd(&cmd).map_err(|e| error_object(&e))
}

fn module(ctx: Ctx) -> Result<RpcModule<Ctx>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(ctx);
    m.register_subscription(
        "lab.watch",
        "lab.event",
        "lab.unwatch",
        |p, pending, ctx, _| watch_lab(p, pending, ctx.events.clone()),
    )?;
    m.register_subscription(
        "capture",
        "capture.frame",
        "capture.stop",
        |p, pending, _, _| capture::capture(p, pending),
    )?;
    for name in Change::METHODS {
        m.register_async_method(name, move |p, ctx, _| async move {
            let c = Change::from_params(name, object(&p)?).map_err(bad)?;
            run(&ctx, move || super::imperative::job(&c)).await
        })?;
    }
    m.register_method("swctl.version", |_, _, _| {
        Ok::<_, ErrorObjectOwned>(version())
    })?;
    m.register_async_method("labs.list", |_, ctx, _| async move {
        run(&ctx, || Ok(Job::Labs)).await
    })?;
    method(&mut m, "show", |_, r: Show| Ok(Job::Show(r.name)))?;
    method(&mut m, "lab.gc", |_, r: Gc| topo(Cmd::Gc(r)))?;
    // an OVS switch's flows: the CLI's `flows`, `flow add`, `flow del`
    method(&mut m, "flow.list", |_, r: FlowsList| {
        flow_job(validate_list(&r))
    })?;
    method(&mut m, "flow.add", |_, r: FlowAdd| {
        flow_job(validate_add(&r))
    })?;
    method(&mut m, "flow.del", |_, r: FlowDel| {
        flow_job(validate_del(&r))
    })?;
    // a running lab's link impaired live: the CLI's `impair`
    method(&mut m, "impair", |_, r: crate::lab::impair::ImpairReq| {
        crate::lab::impair::validate(&r)
            .map(Job::Impair)
            .map_err(|e| error_object(&CliError::Impair(e)))
    })?;
    // what a host's processes are and their logs' ends: the CLI's `logs`
    m.register_method("logs", |p, _, _| {
        let r: crate::lab::logs::LogsReq = request(&p)?;
        crate::lab::logs::run(&r)
            .map(|rep| serde_json::to_value(rep).unwrap_or_default())
            .map_err(|e| error_object(&CliError::Logs(e)))
    })?;
    // an applied lab's picture, for the live view (`GET /`)
    m.register_method("lab.graph", |p, _, _| {
        let r: GraphOf = request(&p)?;
        let file = crate::lab::request::lab::resolve(None, Some(&r.name), None).map_err(bad)?;
        let t = crate::lab::topology::load(Path::new(&file)).map_err(bad)?;
        let g = crate::lab::graph::Graph::of(&t.desired);
        let svg = crate::lab::graph_svg::svg(&g);
        Ok::<_, ErrorObjectOwned>(json!({"lab": r.name, "graph": g, "svg": svg}))
    })?;
    method(&mut m, "lab.status", |c, r: Status| {
        no_file_over_tcp(c, &r.file)?;
        topo(Cmd::Status(r))
    })?;
    method(&mut m, "lab.check", |c, r: Check| {
        no_file_over_tcp(c, &r.file)?;
        topo(Cmd::Check(r))
    })?;
    method(&mut m, "lab.plan", |c, mut r: Plan| {
        let kept = inline(c, &mut r.file, &r.name, &mut r.topology)?;
        // the job has read the file: a plan's own goes at once
        let j = topo(Cmd::Plan(r));
        forget_unapplied(kept.as_deref());
        j
    })?;
    m.register_async_method("lab.apply", |p, ctx, _| async move {
        let mut r: Apply = request(&p)?;
        let kept = inline(&ctx, &mut r.file, &r.name, &mut r.topology)?;
        let out = run(&ctx, move || Job::from_cmd(&Cmd::Apply(r))).await;
        // a topology given inline stays only while its lab is applied
        forget_unapplied(kept.as_deref());
        out
    })?;
    m.register_async_method("lab.destroy", |p, ctx, _| async move {
        let r: Destroy = request(&p)?;
        no_file_over_tcp(&ctx, &r.file)?;
        let kept = r
            .name
            .as_ref()
            .map(|n| inline_dir().join(format!("{n}.json")));
        let out = run(&ctx, move || Job::from_cmd(&Cmd::Destroy(r))).await?;
        // gone with its lab; still recorded (parts not reached), it stays
        forget_unapplied(kept.as_ref().and_then(|p| p.to_str()));
        Ok::<_, ErrorObjectOwned>(out)
    })?;
    Ok(m)
}

/// A topology given inline, kept as a file that becomes the request's
/// `file` (its path answered); None without one. Over TCP a `file` of the
/// server's is refused first.
fn inline(
    ctx: &Ctx,
    file: &mut Option<String>,
    name: &Option<String>,
    topology: &mut Option<Value>,
) -> Result<Option<String>, ErrorObjectOwned> {
    no_file_over_tcp(ctx, file)?;
    let Some(t) = topology.take() else {
        return Ok(None);
    };
    if file.is_some() || name.is_some() {
        return Err(bad(SourceError::NotOne));
    }
    let kept = crate::lab::request::lab::resolve(None, None, Some(&t)).map_err(bad)?;
    *file = Some(kept.clone());
    Ok(Some(kept))
}

/// Remove an inline topology's file unless its lab is applied from it.
fn forget_unapplied(file: Option<&str>) {
    if let Some(f) = file.map(Path::new)
        && f.starts_with(inline_dir())
        && !applied_from(f)
    {
        let _ = std::fs::remove_file(f);
    }
}

/// Serve until killed: on the Unix socket, and on TCP at `listen` when
/// given (with a bearer token).
pub(super) async fn serve(
    socket: &Path,
    listen: Option<std::net::SocketAddr>,
) -> Result<Output, CliError> {
    let fail = |what: &str, e: std::io::Error| {
        CliError::Failed(format!("{what} {}: {e}", socket.display()))
    };
    // handed a listening socket (systemd's swctl.socket, `systemd-socket-
    // activate`): serve on it as it is (its path and mode are the unit's)
    let handed =
        activation::listener().map_err(|e| fail("cannot take the socket handed for", e))?;
    if handed.is_none() && tokio::net::UnixStream::connect(socket).await.is_ok() {
        return Err(CliError::Failed(format!(
            "another swctl serves on {} already",
            socket.display()
        )));
    }
    let where_ = match &handed {
        Some(_) => "the socket handed to it (socket activation: fd 3)".to_string(),
        None => socket.display().to_string(),
    };
    let listener = match handed {
        Some(l) => l,
        None => {
            // a socket file nobody listens on is a leftover
            let _ = std::fs::remove_file(socket);
            if let Some(d) = socket.parent() {
                std::fs::create_dir_all(d).map_err(|e| fail("cannot make the directory of", e))?;
            }
            let l =
                tokio::net::UnixListener::bind(socket).map_err(|e| fail("cannot listen on", e))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail("cannot restrict", e))?;
            l
        }
    };
    let events = Events::channel();
    let unix_methods = module(Ctx {
        tcp: false,
        events: events.clone(),
    })
    .map_err(|e| CliError::Failed(e.to_string()))?;
    let tcp_methods =
        module(Ctx { tcp: true, events }).map_err(|e| CliError::Failed(e.to_string()))?;
    eprintln!("swctl: serving JSON-RPC 2.0 on {where_}");
    let tcp = match listen {
        Some(a) => {
            let token_file = socket.with_extension("token");
            let token: Arc<str> = auth::make_token(&token_file)
                .map_err(|e| {
                    fail(
                        &format!("cannot write the token {} for", token_file.display()),
                        e,
                    )
                })?
                .into();
            let l = tokio::net::TcpListener::bind(a)
                .await
                .map_err(|e| CliError::Failed(format!("cannot listen on {a}: {e}")))?;
            eprintln!(
                "swctl: and on TCP {a}: every request needs `Authorization: Bearer TOKEN`, the token in {} (mode 0600); topologies inline only; the live view: http://{a}/?token=$(cat {})",
                token_file.display(),
                token_file.display()
            );
            Some((l, token))
        }
        None => None,
    };
    let (stop, _handle) = stop_channel();
    let builder = Server::builder().to_service_builder();
    loop {
        let stopped = stop.clone().shutdown();
        tokio::select! {
            a = listener.accept() => {
                let (sock, _) = a.map_err(|e| fail("cannot accept on", e))?;
                let api = builder.clone().build(unix_methods.clone(), stop.clone());
                let svc = front::Front::new(api, page::Page);
                tokio::spawn(async move {
                    let _ = serve_with_graceful_shutdown(sock, svc, stopped).await;
                });
            }
            a = async { tcp.as_ref().expect("only polled with TCP").0.accept().await }, if tcp.is_some() => {
                let Ok((sock, _)) = a else { continue };
                let token = tcp.as_ref().expect("TCP").1.clone();
                let api = builder.clone().build(tcp_methods.clone(), stop.clone());
                let svc = front::Front::new(front::Front::new(api, page::Page), auth::Bearer::new(token));
                tokio::spawn(async move {
                    let _ = serve_with_graceful_shutdown(sock, svc, stopped).await;
                });
            }
        }
    }
}
