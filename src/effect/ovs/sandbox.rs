//! The embedded Open vSwitch sandbox: a private ovsdb-server and
//! ovs-vswitchd from the system's Open vSwitch packages, with database,
//! sockets, pidfiles, logs and OVS_RUNDIR all in one directory, never the
//! system service. `start` creates the database from the pinned schema,
//! starts both daemons, initializes the root row (what `ovs-vsctl init`
//! does) and waits until ovs-vswitchd has applied a configuration; `stop`
//! ends exactly the processes named in that directory's pidfiles.
//!
//! Starting daemons is the one place swctl runs Open vSwitch programs; it
//! never runs ovs-vsctl. Note: two ovs-vswitchd on the userspace datapath
//! in the same network namespace conflict (both want the `ovs-netdev` tap:
//! "creating tap device failed: Device or resource busy"), so one sandbox
//! per host namespace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::model::tso;
use crate::ovsdb::ops::{Expect, Op, Row, Txn};
use crate::ovsdb::{Client, OvsdbError, schema};

pub use crate::effect::paths::SANDBOX_DIR as DEFAULT_DIR;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot prepare the sandbox directory {0}")]
    Dir(PathBuf, #[source] std::io::Error),
    #[error(
        "cannot run {0}: is Open vSwitch installed (Debian: apt-get install openvswitch-switch)?"
    )]
    Spawn(String, #[source] std::io::Error),
    #[error("{0} failed: {1}")]
    Failed(String, String),
    #[error("{what} did not become ready within {secs} s; see {log}")]
    NotReady {
        what: String,
        secs: u64,
        log: String,
    },
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub dir: PathBuf,
    pub address: String,
    pub ovsdb_server: Option<i32>,
    pub ovs_vswitchd: Option<i32>,
    pub answers: bool,
    /// its ovs-vswitchd's userspace TSO (`effect::ovs::tso`): configured
    /// or not, in words (what it costs, how to turn it on)
    pub tso: Option<bool>,
    pub tso_note: String,
    /// `ovs_version` of its database
    pub version: Option<String>,
}

pub fn address(dir: &Path) -> String {
    format!("unix:{}", dir.join("db.sock").display())
}

fn pid_of(dir: &Path, daemon: &str) -> Option<i32> {
    pid_in(&dir.join(format!("{daemon}.pid")), daemon)
}

/// The pid in `pidfile`, if that process is alive and is `daemon`.
pub(crate) fn pid_in(pidfile: &Path, daemon: &str) -> Option<i32> {
    let s = std::fs::read_to_string(pidfile).ok()?;
    let pid: i32 = s.trim().parse().ok()?;
    // alive and really that daemon (pids are reused)
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if comm.trim() != daemon {
        return None;
    }
    // a daemon killed by hand stays a zombie where nothing reaps orphans (a
    // container's init): it is not running (seen: a machine's ovsdb-server
    // killed -9 was taken for a live one in another namespace, and its
    // Open vSwitch started afresh with an empty database)
    match life(pid) {
        Life::Running => Some(pid),
        Life::Exiting | Life::Gone => None,
    }
}

/// Where a process is in its life, from `/proc/PID/stat`.
enum Life {
    Running,
    /// killed, still closing its files (PF_EXITING): it may still hold
    /// its pidfile's lock and devices (seen: ovs-vswitchd killed -9 with
    /// many veth ports takes a while, each socket's close waiting for an
    /// RCU grace period; `ovs start` at once took it for running and
    /// waited for it in vain)
    Exiting,
    /// gone, or a zombie nothing reaps
    Gone,
}

fn life(pid: i32) -> Life {
    const PF_EXITING: u64 = 0x4;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Life::Gone;
    };
    // after the command's `)`: state ppid pgrp session tty_nr tpgid flags
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, r)| r.split_whitespace().collect());
    let flags: u64 = rest.get(6).and_then(|f| f.parse().ok()).unwrap_or(0);
    match rest.first().and_then(|s| s.chars().next()) {
        Some('Z') | Some('X') | None => Life::Gone,
        _ if flags & PF_EXITING != 0 => Life::Exiting,
        _ => Life::Running,
    }
}

/// Wait (10 s at most) until the daemon of `pidfile`, if it is on its way
/// out, is gone: a new one started before would find its pidfile and
/// devices still held.
async fn await_exit(pidfile: &Path) {
    let Some(pid) = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    let t = Instant::now();
    while matches!(life(pid), Life::Exiting) && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Run an Open vSwitch (or OVN) program with every directory it uses set to
/// `dir`; its error output when it fails.
pub(crate) fn run(dir: &Path, prog: &str, args: &[String]) -> Result<(), SandboxError> {
    let out = Command::new(prog)
        .args(args)
        .env("OVN_RUNDIR", dir)
        .env("OVN_LOGDIR", dir)
        .env("OVN_DBDIR", dir)
        .env("OVN_SYSCONFDIR", dir)
        .env("OVS_RUNDIR", dir)
        .env("OVS_LOGDIR", dir)
        .env("OVS_DBDIR", dir)
        .env("OVS_SYSCONFDIR", dir)
        .output()
        .map_err(|e| SandboxError::Spawn(prog.into(), e))?;
    if !out.status.success() {
        return Err(SandboxError::Failed(
            prog.into(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

pub async fn status(dir: &Path) -> Status {
    let addr = address(dir);
    let (answers, tso, version) = match Client::connect(&addr).await {
        Ok(c) if c.echo().await.is_ok() => {
            let (tso, version) = tso_of(&c).await;
            (true, tso, version)
        }
        _ => (false, None, None),
    };
    let kernel = super::datapath::kernel_datapath();
    Status {
        dir: dir.to_path_buf(),
        address: addr,
        ovsdb_server: pid_of(dir, "ovsdb-server"),
        ovs_vswitchd: pid_of(dir, "ovs-vswitchd"),
        answers,
        tso_note: tso.map_or(String::new(), |on| {
            tso::words(on, kernel, version.as_deref(), true)
        }),
        tso,
        version,
    }
}

/// Whether the server's root row has userspace TSO configured, and its
/// `ovs_version` (`ovs-vsctl get Open_vSwitch . other_config ovs_version`).
pub async fn tso_of(c: &Client) -> (Option<bool>, Option<String>) {
    let mut t = Txn::new();
    t.select_all(&[super::read::ROOT]);
    let Some(v) = c
        .transact(&t)
        .await
        .ok()
        .and_then(|r| super::read::vswitchd(&r, 0))
    else {
        return (None, None);
    };
    (Some(v.tso), v.version)
}

/// The network namespace of process `pid` (`net:[INODE]`).
fn netns_of(pid: &str) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
}

/// Whether Open vSwitch's programs are installed (ovs-vswitchd answers
/// `--version`).
pub fn installed() -> bool {
    Command::new("ovs-vswitchd")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The daemons of the sandbox in `dir` that do not run in this network
/// namespace (stopped, killed, or left in a namespace deleted by hand).
pub fn not_running_here(dir: &Path) -> Vec<&'static str> {
    let here = netns_of("self");
    ["ovsdb-server", "ovs-vswitchd"]
        .into_iter()
        .filter(|d| pid_of(dir, d).is_none_or(|pid| netns_of(&pid.to_string()) != here))
        .collect()
}

/// `start`, for a simulated machine's own Open vSwitch (`tunnels`: its
/// bridges will carry tunnels, which decides its userspace TSO): daemons left
/// running in another network namespace (the machine's was deleted by hand
/// and made again, while they kept the old one alive) are stopped and the
/// sandbox starts afresh here, with an empty database: what it held
/// described devices that are gone with the old namespace.
pub async fn start_here(dir: &Path, tunnels: bool) -> Result<Status, SandboxError> {
    let here = netns_of("self");
    // (a namespace that cannot be read is not another one)
    let elsewhere = ["ovsdb-server", "ovs-vswitchd"].iter().any(|d| {
        pid_of(dir, d)
            .is_some_and(|pid| netns_of(&pid.to_string()).is_some_and(|ns| Some(ns) != here))
    });
    if elsewhere {
        tracing::info!(
            "{}: its daemons run in another network namespace; starting afresh",
            dir.display()
        );
        stop(dir)?;
        let _ = std::fs::remove_file(dir.join("conf.db"));
    }
    start_for(dir, tunnels).await
}

/// Start what is not running; idempotent. Its ovs-vswitchd gets userspace
/// TSO where that is correct (`tso::decide`; its bridges carry no tunnel).
pub async fn start(dir: &Path) -> Result<Status, SandboxError> {
    start_for(dir, false).await
}

/// `start`, for bridges that will carry tunnels (`tunnels`) or not.
pub async fn start_for(dir: &Path, tunnels: bool) -> Result<Status, SandboxError> {
    start_with(dir, tunnels, None).await
}

/// `start`, with userspace TSO as `tso` says (None: where correct).
pub async fn start_with(
    dir: &Path,
    tunnels: bool,
    tso_choice: Option<bool>,
) -> Result<Status, SandboxError> {
    std::fs::create_dir_all(dir).map_err(|e| SandboxError::Dir(dir.into(), e))?;
    let d = |f: &str| dir.join(f).display().to_string();
    if pid_of(dir, "ovsdb-server").is_none() {
        await_exit(&dir.join("ovsdb-server.pid")).await;
        if !dir.join("conf.db").exists() {
            std::fs::write(dir.join("vswitch.ovsschema"), schema::PINNED)
                .map_err(|e| SandboxError::Dir(dir.into(), e))?;
            run(
                dir,
                "ovsdb-tool",
                &["create".into(), d("conf.db"), d("vswitch.ovsschema")],
            )?;
        }
        run(
            dir,
            "ovsdb-server",
            &[
                d("conf.db"),
                format!("--remote=punix:{}", d("db.sock")),
                format!("--pidfile={}", d("ovsdb-server.pid")),
                format!("--unixctl={}", d("ovsdb-server.ctl")),
                format!("--log-file={}", d("ovsdb-server.log")),
                "--detach".into(),
            ],
        )?;
    }
    let client = wait_answers(&address(dir), "ovsdb-server", &dir.join("ovsdb-server.log")).await?;
    init_root(&client, None, "Open_vSwitch").await?;
    let version = record_version(&client).await;
    if pid_of(dir, "ovs-vswitchd").is_none() {
        await_exit(&dir.join("ovs-vswitchd.pid")).await;
        // read once when ovs-vswitchd starts: written before
        let mut tso = tso::decide(
            super::datapath::kernel_datapath(),
            version.as_deref(),
            tunnels,
        );
        if let Some(on) = tso_choice.filter(|&on| on != tso.on) {
            tso = tso::Decision {
                on,
                why: "--tso".into(),
            };
        }
        tracing::info!(
            "{}: userspace TSO {} ({})",
            dir.display(),
            if tso.on { "on" } else { "off" },
            tso.why
        );
        client.transact(&tso_txn(tso.on)).await?;
        run(
            dir,
            "ovs-vswitchd",
            &[
                address(dir),
                format!("--pidfile={}", d("ovs-vswitchd.pid")),
                format!("--unixctl={}", d("ovs-vswitchd.ctl")),
                format!("--log-file={}", d("ovs-vswitchd.log")),
                "--detach".into(),
            ],
        )?;
    }
    // ovs-vswitchd is ready when it has applied a configuration
    let ovs = crate::effect::ovs::Ovs::new(client);
    ovs.bump_and_wait(Duration::from_secs(10))
        .await
        .map_err(|_| SandboxError::NotReady {
            what: "ovs-vswitchd".into(),
            secs: 10,
            log: d("ovs-vswitchd.log"),
        })?;
    Ok(status(dir).await)
}

/// Connect to the OVSDB server at `addr` once it answers an echo (10 s at
/// most; `what` and `log` say which server and where to look otherwise).
pub(crate) async fn wait_answers(
    addr: &str,
    what: &str,
    log: &Path,
) -> Result<Client, SandboxError> {
    let t = Instant::now();
    loop {
        if let Ok(c) = Client::connect(addr).await
            && c.echo().await.is_ok()
        {
            return Ok(c);
        }
        if t.elapsed() > Duration::from_secs(10) {
            return Err(SandboxError::NotReady {
                what: what.into(),
                secs: 10,
                log: log.display().to_string(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `ovs-vsctl init` (`ovn-nbctl init` with `db` and `table` NB_Global):
/// make sure the database's root row exists.
pub(crate) async fn init_root(
    c: &Client,
    db: Option<&'static str>,
    table: &str,
) -> Result<(), OvsdbError> {
    let txn = || db.map_or_else(Txn::new, Txn::for_db);
    let mut t = txn();
    t.push(
        Op::Select {
            table: table.into(),
            wh: vec![],
            columns: Some(vec!["_uuid".into()]),
        },
        Expect::Any,
    );
    let r = c.transact(&t).await?;
    let rows = r[0]["rows"].as_array().cloned().unwrap_or_default();
    if rows.iter().map(Row::from_value).any(|r| r.uuid().is_some()) {
        return Ok(());
    }
    let mut t = txn();
    t.push(
        Op::Insert {
            table: table.into(),
            row: json!({}),
            uuid_name: None,
        },
        Expect::Any,
    );
    c.transact(&t).await?;
    Ok(())
}

/// Write `ovs_version` into the root row, as the distribution's start
/// script does (`ovs-vsctl set Open_vSwitch . ovs_version=...`), from
/// `ovs-vswitchd --version`; best effort. The version written.
async fn record_version(c: &Client) -> Option<String> {
    let out = Command::new("ovs-vswitchd")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().last())?
        .to_string();
    let mut t = Txn::new();
    t.push(
        Op::Update {
            table: "Open_vSwitch".into(),
            wh: vec![],
            row: json!({ "ovs_version": v }),
        },
        Expect::Any,
    );
    let _ = c.transact(&t).await;
    Some(v)
}

/// `ovs-vsctl --no-wait set Open_vSwitch . other_config:userspace-tso-enable=V`
/// (the other keys kept): to be written before ovs-vswitchd starts.
pub fn tso_txn(on: bool) -> Txn {
    let mut t = Txn::new();
    let v = if on { "true" } else { "false" };
    t.push(
        crate::ovsdb::ops::set_keys("Open_vSwitch", "other_config", &[(tso::KEY, v)]),
        Expect::Any,
    );
    t
}

/// Stop exactly the daemons whose pidfiles are in `dir` (SIGTERM, then
/// SIGKILL after 5 s). Idempotent. (A machine's ovn-controller, when it
/// has one, goes first: it talks to the others.)
pub fn stop(dir: &Path) -> Result<Vec<(String, i32)>, SandboxError> {
    stop_daemons(
        dir,
        &[
            ("ovn-controller", "ovn-controller"),
            ("ovs-vswitchd", "ovs-vswitchd"),
            ("ovsdb-server", "ovsdb-server"),
        ],
    )
}

/// Stop the daemons of `dir`, each given as (pidfile stem, process name),
/// in order: SIGTERM, SIGKILL after 5 s; the pidfile removed.
pub(crate) fn stop_daemons(
    dir: &Path,
    daemons: &[(&str, &str)],
) -> Result<Vec<(String, i32)>, SandboxError> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let mut stopped = vec![];
    for (stem, daemon) in daemons {
        let pidfile = dir.join(format!("{stem}.pid"));
        let Some(pid) = pid_in(&pidfile, daemon) else {
            continue;
        };
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        let t = Instant::now();
        while pid_in(&pidfile, daemon).is_some() {
            if t.elapsed() > Duration::from_secs(5) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            if t.elapsed() > Duration::from_secs(10) {
                return Err(SandboxError::Failed(
                    daemon.to_string(),
                    format!("pid {pid} does not stop"),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_file(&pidfile);
        stopped.push((daemon.to_string(), pid));
    }
    Ok(stopped)
}
