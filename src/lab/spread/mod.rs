//! A lab over several machines, run from here (the coordinator): the
//! simulated machines' underlay made locally (`machines::underlay`), then
//! each machine's part applied on its machine by an agent — this same
//! binary with `--machine M`, given the whole resolved lab on stdin — all
//! machines at once: inside a simulated machine's namespace (setns in the
//! child before exec, its own run-state directory), on this machine, or
//! over OpenSSH (`ssh -o BatchMode=yes HOST swctl ...`). Destroy and status
//! fan out the same way.

mod destroy;

pub use destroy::{Destroyed, Unreached, destroy};

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use serde::Serialize;

use super::machines::{resolve, underlay};
use super::topology::write::to_toml;
use super::{LabError, apply_topology, destroy as destroy_here, plan_for, register};
use crate::effect::ovs::sandbox;
use crate::effect::paths::machine_sandbox;
use crate::effect::{Effects, Netlink};
use crate::model::names::Owner;
use crate::model::{Desired, MachineSpec, Reach};
use crate::plan::Plan;

/// What one machine's agent did.
#[derive(Debug, Clone, Serialize)]
pub struct AgentRun {
    pub machine: Owner,
    pub ok: bool,
    /// the agent's JSON output (`--json`)
    pub output: serde_json::Value,
    /// its error, in words, when it failed
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// In an agent's run-state directory here: how its machine is reached
/// (`netns NAME` or `local`).
const MACHINE_FILE: &str = "machine";

/// The parts of labs that are no longer applied, on the machines run from
/// here (simulated, or this one), removed by their agents: what `gc` finds
/// of a lab over machines. (A machine reached over SSH keeps its run state
/// there; its leftovers are for `swctl gc` on it.)
/// With `dry_run`, nothing is removed: the parts are only named.
pub async fn gc_parts(
    live: &std::collections::BTreeSet<Owner>,
    dry_run: bool,
) -> (Vec<Owner>, Vec<AgentRun>) {
    let found = dead_parts(live);
    let names = found
        .iter()
        .flat_map(|(_, one)| one.machines.keys().map(|m| one.owner.for_machine(m)))
        .collect();
    if dry_run {
        return (names, vec![]);
    }
    let mut runs = vec![];
    for (dir, one) in found {
        let owner = one.owner.clone();
        let r = agents(
            &one,
            |_| true,
            |m| {
                vec![
                    "destroy".into(),
                    "--name".into(),
                    owner.for_machine(m).to_string(),
                ]
            },
            None,
        )
        .await;
        if r.iter().all(|x| x.ok) && stop_sandbox(&dir).await.is_ok() {
            let _ = std::fs::remove_dir_all(dir);
        }
        runs.extend(r);
    }
    (names, runs)
}

/// The run-state directories of parts of labs no longer applied, each with
/// its part as a lab of one machine (for its agent).
fn dead_parts(live: &std::collections::BTreeSet<Owner>) -> Vec<(std::path::PathBuf, Desired)> {
    let root = std::path::Path::new(crate::effect::paths::RUN_DIR).join("machines");
    let mut found = vec![];
    for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let Ok(part) = e.file_name().to_string_lossy().parse::<Owner>() else {
            continue;
        };
        let (Some(m), Ok(lab)) = (part.machine(), part.lab().parse::<Owner>()) else {
            continue;
        };
        let Ok(m) = m.parse::<Owner>() else { continue };
        if live.contains(&lab) {
            continue;
        }
        let text = std::fs::read_to_string(e.path().join(MACHINE_FILE)).unwrap_or_default();
        let reach = match text.trim().strip_prefix("netns ") {
            Some(ns) => match ns.parse() {
                Ok(ns) => Reach::Netns(ns),
                Err(_) => continue,
            },
            None if text.trim() == "local" => Reach::Local,
            None => continue,
        };
        // one part: a lab of one machine, to its agent
        let mut one = Desired::new(lab);
        one.machines.insert(
            m,
            MachineSpec {
                vtep: std::net::IpAddr::from([0, 0, 0, 0]),
                reach,
                mtu: None,
            },
        );
        found.push((e.path(), one));
    }
    found
}

/// Stop the Open vSwitch of the machine whose agent keeps its run state in
/// `dir`, if it has one (its ovn-controller first, asked to leave the
/// Southbound database).
async fn stop_sandbox(dir: &std::path::Path) -> Result<(), LabError> {
    let _ = crate::effect::ovn::chassis::stop(&machine_sandbox(dir)).await;
    sandbox::stop(&machine_sandbox(dir))
        .map(|_| ())
        .map_err(|e| LabError::Machines(vec![format!("{}: {e}", dir.display())]))
}

/// The run-state directory of machine `m`'s agent of lab `lab` on this
/// machine (simulated or local): its own lock, marks and topologies.
pub fn agent_run_dir(lab: &Owner, m: &Owner) -> std::path::PathBuf {
    std::path::Path::new(crate::effect::paths::RUN_DIR)
        .join("machines")
        .join(lab.for_machine(m).as_str())
}

/// Why a machine's agent could not run (its `AgentRun.error`, in words).
#[derive(Debug, thiserror::Error)]
enum AgentError {
    #[error("cannot find swctl itself: {0}")]
    OwnExe(std::io::Error),
    #[error("cannot start: {0}")]
    Start(std::io::Error),
    #[error("{0}")]
    Wait(std::io::Error),
}

/// The command that runs `swctl --json ARGS` on machine `m`.
fn agent(
    lab: &Owner,
    m: &Owner,
    spec: &MachineSpec,
    args: &[String],
) -> Result<Command, AgentError> {
    let exe = std::env::current_exe().map_err(AgentError::OwnExe)?;
    let mut c = match &spec.reach {
        Reach::Ssh(dest) => {
            // $SWCTL_SSH: the ssh command and its options (`ssh -F CONFIG`),
            // as GIT_SSH_COMMAND is git's; $SWCTL_REMOTE: swctl's path there
            let ssh = std::env::var("SWCTL_SSH").unwrap_or_else(|_| "ssh".into());
            let mut words = ssh.split_whitespace();
            let mut c = Command::new(words.next().unwrap_or("ssh"));
            c.args(words);
            let remote = std::env::var("SWCTL_REMOTE").unwrap_or_else(|_| "swctl".into());
            // the agent there keeps its own run state, as a simulated
            // machine's does (and a machine simulated on this box must not
            // wait for the lock this run holds)
            let dir = agent_run_dir(lab, m);
            c.args(["-o", "BatchMode=yes", "--", dest, "env"]);
            c.arg(format!("SWCTL_RUN_DIR={}", dir.display()));
            c.args([remote.as_str(), "--json"]);
            c
        }
        Reach::Local => {
            let mut c = Command::new(exe);
            c.arg("--json");
            c.env("SWCTL_RUN_DIR", agent_run_dir(lab, m));
            c
        }
        Reach::Netns(_) => {
            // a simulated machine has its own Open vSwitch (started by its
            // agent when its part has OVS switches)
            let mut c = Command::new(exe);
            let dir = agent_run_dir(lab, m);
            c.arg("--json");
            c.env("SWCTL_OVSDB", sandbox::address(&machine_sandbox(&dir)));
            c.env("SWCTL_RUN_DIR", dir);
            c
        }
    };
    c.args(args);
    c.env_remove("SWCTL_BACKEND");
    if let Reach::Netns(ns) = &spec.reach {
        let path = crate::effect::kernel::netns::ns_path(ns);
        // a machine whose namespace is gone (deleted by hand): its agent
        // runs here, which is enough to remove its hosts (their namespaces
        // are files under /run/netns, seen from anywhere)
        if let Ok(f) = std::fs::File::open(&path) {
            use std::os::fd::AsRawFd;
            let fd = f.as_raw_fd();
            // SAFETY: setns(2) on a descriptor that stays open (moved into
            // the closure) in the child between fork and exec; only
            // async-signal-safe calls.
            unsafe {
                c.pre_exec(move || {
                    let _keep = &f;
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
    }
    Ok(c)
}

/// `run_agents_on`, waited for on a blocking thread: this process's own
/// netlink connections keep being driven meanwhile (a socket it closed must
/// really close, or the namespace it was in outlives its deletion by an
/// agent: seen as a 5 s wait for its devices).
pub async fn agents(
    d: &Desired,
    only: fn(&MachineSpec) -> bool,
    args: impl Fn(&Owner) -> Vec<String>,
    input: Option<String>,
) -> Vec<AgentRun> {
    let d2 = d.clone();
    let argv: std::collections::BTreeMap<Owner, Vec<String>> =
        d.machines.keys().map(|m| (m.clone(), args(m))).collect();
    tokio::task::spawn_blocking(move || {
        run_agents_on(&d2, only, |m| argv[m].clone(), input.as_deref())
    })
    .await
    .unwrap_or_default()
}

/// `swctl VERB --machine M [EXTRA] -` on the machines `only` takes, the
/// whole resolved lab on each agent's stdin: how every command of a lab
/// over machines reaches its parts.
async fn on_parts(
    d: &Desired,
    only: fn(&MachineSpec) -> bool,
    verb: &str,
    extra: &[String],
) -> Vec<AgentRun> {
    let text = to_toml(&resolve(d));
    let args = |m: &Owner| {
        let mut a = vec![verb.to_string(), "--machine".into(), m.to_string()];
        a.extend(extra.iter().cloned());
        a.push("-".into());
        a
    };
    agents(d, only, args, Some(text)).await
}

/// What stands for the agent of each simulated machine whose namespace is
/// not there: the whole machine is missing (`in_sync` false).
fn missing_machines(d: &Desired, command: &str) -> Vec<AgentRun> {
    d.machines
        .iter()
        .filter_map(|(m, spec)| match &spec.reach {
            Reach::Netns(ns) if missing(spec) => Some(AgentRun {
                machine: m.clone(),
                ok: true,
                output: serde_json::json!({
                    "command": command,
                    "in_sync": false,
                    "missing": format!("the machine's namespace {ns}"),
                }),
                error: None,
            }),
            _ => None,
        })
        .collect()
}

/// A simulated machine whose namespace is gone (deleted by hand).
fn missing(spec: &MachineSpec) -> bool {
    matches!(&spec.reach, Reach::Netns(ns) if !crate::effect::kernel::netns::ns_path(ns).exists())
}

/// `run_agents` on the machines `only` takes.
fn run_agents_on(
    d: &Desired,
    only: impl Fn(&MachineSpec) -> bool,
    args: impl Fn(&Owner) -> Vec<String>,
    input: Option<&str>,
) -> Vec<AgentRun> {
    let mut running = vec![];
    for (m, spec) in d.machines.iter().filter(|(_, s)| only(s)) {
        let started = agent(&d.owner, m, spec, &args(m)).and_then(|mut c| {
            c.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = c.spawn().map_err(AgentError::Start)?;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(input.unwrap_or_default().as_bytes());
            }
            Ok(child)
        });
        running.push((m.clone(), started));
    }
    running
        .into_iter()
        .map(|(machine, started)| {
            let out = started.and_then(|c| c.wait_with_output().map_err(AgentError::Wait));
            match out {
                Err(e) => AgentRun {
                    machine,
                    ok: false,
                    output: serde_json::Value::Null,
                    error: Some(e.to_string()),
                },
                Ok(o) => {
                    let output: serde_json::Value =
                        serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
                    let ok = o.status.success();
                    let error = (!ok).then(|| {
                        let e = output["error"]
                            .as_str()
                            .map(String::from)
                            .unwrap_or_else(|| {
                                String::from_utf8_lossy(&o.stderr).trim().to_string()
                            });
                        let causes: Vec<&str> = output["causes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c.as_str())
                            .collect();
                        if causes.is_empty() {
                            e
                        } else {
                            format!("{e}: {}", causes.join(": "))
                        }
                    });
                    AgentRun {
                        machine,
                        ok,
                        output,
                        error,
                    }
                }
            }
        })
        .collect()
}

fn failed(runs: &[AgentRun]) -> Result<(), LabError> {
    let bad: Vec<String> = runs
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{}: {}", r.machine, r.error.clone().unwrap_or_default()))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(LabError::Machines(bad))
    }
}

/// The Northbound part of `verb`, for a lab with OVN switches, as a run
/// of its own ("ovn").
async fn northbound<S: Effects>(sys: &S, d: &Desired, verb: &str) -> Option<AgentRun> {
    d.ovn.as_ref()?;
    let machine: Owner = "ovn".parse().expect("valid name");
    Some(match super::ovn::northbound(sys, &resolve(d), verb).await {
        Ok(output) => AgentRun {
            machine,
            ok: true,
            output,
            error: None,
        },
        Err(e) => AgentRun {
            machine,
            ok: false,
            output: serde_json::Value::Null,
            error: Some(e.to_string()),
        },
    })
}

/// Each simulated machine whose VTEP is on an OVS bridge pings the others'
/// VTEPs: Open vSwitch's userspace datapath drops a tunnel's first packet
/// while it resolves the remote VTEP's Ethernet address (its own neighbour
/// cache, filled only from ARP replies it sees), so without this a host's
/// first ARP to another machine is lost (measured: the first echo after
/// apply unanswered, every later one answered). One machine after the
/// other, its kernel's neighbours flushed first: a machine that learned a
/// peer from the peer's own request would not ask, and its Open vSwitch
/// would never see a reply (seen: one of two peers left unknown).
async fn warm_tunnels<S: Netlink>(sys: &S, d: &Desired) {
    let sims: Vec<_> = super::machines::simulated(d)
        .into_iter()
        .filter(|(m, _, _)| super::machines::phy_bridge(d, m).is_some())
        .collect();
    for (m, ns, _) in &sims {
        let pairs: Vec<_> = sims
            .iter()
            .filter(|(o, _, _)| o != m)
            .map(|(_, _, vtep)| ((*ns).clone(), *vtep, std::time::Duration::ZERO))
            .collect();
        let loc = crate::model::names::Loc::Ns((*ns).clone());
        // a few tries: on a busy box a first echo can go unanswered
        let mut left = pairs;
        for _ in 0..3 {
            if left.is_empty() {
                break;
            }
            let _ = sys.flush_neighbours(&loc).await;
            let try_these = left.clone();
            let res = tokio::task::spawn_blocking(move || {
                crate::effect::probe::ping_all(&try_these, std::time::Duration::from_secs(2))
            })
            .await
            .unwrap_or_default();
            left = left
                .into_iter()
                .zip(
                    res.into_iter()
                        .map(|r| r.is_ok())
                        .chain(std::iter::repeat(false)),
                )
                .filter(|(_, ok)| !ok)
                .map(|(p, _)| p)
                .collect();
        }
        sys.release(&loc);
    }
}

/// Apply a lab over machines: the underlay here, then every machine's part.
pub async fn apply<S: Effects>(
    sys: &S,
    d: &Desired,
    file: &str,
    events: &super::events::Events,
) -> Result<(Plan, Vec<AgentRun>), LabError> {
    let local = match underlay(d).map_err(LabError::Underlay)? {
        Some(u) => apply_topology(sys, &u, file, &mut |_, _| {}).await?,
        None => {
            register(&d.owner, file).map_err(LabError::Register)?;
            Plan::default()
        }
    };
    // where each machine run from here is, for `gc` once the lab is gone
    for (m, spec) in &d.machines {
        let what = match &spec.reach {
            Reach::Netns(ns) => format!("netns {ns}\n"),
            Reach::Local => "local\n".to_string(),
            Reach::Ssh(_) => continue,
        };
        let dir = agent_run_dir(&d.owner, m);
        std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(dir.join(MACHINE_FILE), what))
            .map_err(LabError::Register)?;
    }
    // the Northbound rows first: the ports bind as the machines make them
    let step = |what: &str, runs: &[AgentRun]| {
        let ev = serde_json::json!({"event": "apply", "phase": "progress", "step": what,
            "machines": runs.iter().map(|r| serde_json::json!({"machine": r.machine, "changes": r.output["changes"]})).collect::<Vec<_>>()});
        events.emit(&d.owner, ev);
    };
    step("underlay", &[]);
    let nb: Vec<AgentRun> = northbound(sys, d, "apply").await.into_iter().collect();
    failed(&nb)?;
    let mut runs = on_parts(d, |_| true, "apply", &[]).await;
    failed(&runs)?;
    step("machines", &runs);
    warm_tunnels(sys, d).await;
    step("tunnels", &[]);
    if !nb.is_empty() {
        // every chassis has the whole logical network before apply returns
        super::ovn::await_chassis(&resolve(d), std::time::Duration::from_secs(20))
            .await
            .map_err(|e| LabError::Machines(vec![format!("ovn: {e}")]))?;
    }
    runs.extend(nb);
    Ok((local, runs))
}

/// What `apply` would do on every machine, and for the underlay here.
pub async fn plan<S: Effects>(sys: &S, d: &Desired) -> Result<(Plan, Vec<AgentRun>), LabError> {
    let local = match underlay(d).map_err(LabError::Underlay)? {
        Some(u) => plan_for(sys, &u).await?.1,
        None => Plan::default(),
    };
    // a simulated machine not made yet (or deleted): apply makes it first,
    // then its agent plans its part there
    let mut runs = on_parts(d, |s| !missing(s), "plan", &[]).await;
    runs.extend(northbound(sys, d, "plan").await);
    failed(&runs)?;
    runs.extend(missing_machines(d, "plan"));
    Ok((local, runs))
}

/// Drift on every machine, and of the underlay here.
pub async fn status<S: Effects>(sys: &S, d: &Desired) -> Result<(Plan, Vec<AgentRun>), LabError> {
    let local = match underlay(d).map_err(LabError::Underlay)? {
        Some(u) => plan_for(sys, &u).await?.1,
        None => Plan::default(),
    };
    let mut runs = on_parts(d, |s| !missing(s), "status", &[]).await;
    runs.extend(northbound(sys, d, "status").await);
    // a simulated machine whose namespace is gone has drifted as a whole
    runs.extend(missing_machines(d, "status"));
    // exit code 3 (drift) is an answer, not a failure
    let real: Vec<AgentRun> = runs
        .iter()
        .filter(|r| !(r.output["in_sync"] == false && r.output["command"] == "status"))
        .cloned()
        .collect();
    failed(&real)?;
    Ok((local, runs))
}

/// Check a lab over machines: every machine's agent probes from its own
/// hosts (the other machines' hosts answer over the tunnels); the pairs of
/// all, and how many failed.
pub async fn check(
    d: &Desired,
    timeout: f64,
    full: bool,
) -> Result<(Vec<serde_json::Value>, usize, Vec<AgentRun>), LabError> {
    let mut extra = vec!["--timeout".to_string(), timeout.to_string()];
    if full {
        extra.push("--full".into());
    }
    let runs = on_parts(d, |_| true, "check", &extra).await;
    // exit code 1 with pairs is a check that found failures: an answer
    let real: Vec<AgentRun> = runs
        .iter()
        .filter(|r| r.output["pairs"].is_null())
        .cloned()
        .collect();
    failed(&real)?;
    let pairs: Vec<serde_json::Value> = runs
        .iter()
        .flat_map(|r| r.output["pairs"].as_array().cloned().unwrap_or_default())
        .collect();
    let bad = pairs.iter().filter(|p| p["ok"] == false).count();
    Ok((pairs, bad, runs))
}
