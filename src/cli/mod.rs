//! The `swctl` command line: `args` (the grammar), `imperative` (the
//! `ns`/`switch`/`attach`/... commands as desired states for the planner),
//! `topo` (topology files), `show`, `bench`, `sandbox`; `render` (what
//! commands print, text or JSON) and `error` (`CliError`, exit codes).
//! Every argument is validated before anything is touched.

pub mod args;
mod bench;
mod capture;
mod checks;
mod docs;
pub mod error;
mod export;
mod flows;
mod graph;
mod impair;
mod imperative;
mod logs;
mod render;
mod sandbox;
mod serve;
mod show;
mod topo;

use std::path::Path;

pub use args::{Cli, Cmd, NsCmd};
pub use error::{CliError, report_error};
pub use render::Output;

use crate::effect::observe::{Scan, observe};
use crate::effect::ovs::Servers;
use crate::effect::system::System;
use crate::lab::change::ChangeJob;
use crate::lab::topo::TopoJob;
use args::{BenchArgs, OvnCmd, SandboxCmd};

/// Run a parsed command (everything but `ns exec`, which `main` handles
/// before any thread exists).
pub fn run(cli: &Cli) -> Result<Output, CliError> {
    if let Some(out) = docs::run(cli) {
        return out;
    }
    // what reads a lab's file only: no job, no root
    match &cli.cmd {
        Cmd::Graph { file, name, format } => {
            return graph::run(file.as_deref(), name.as_deref(), *format);
        }
        Cmd::Export { name: Some(n), .. } => return export::lab(n),
        Cmd::Capture(r) => return capture::run(r),
        Cmd::Logs(r) => return logs::run(r),
        _ => {}
    }
    // Validate first: no root needed to be told an argument is wrong.
    let job = match with_globals(cli)? {
        Some(c) => imperative::job(&c)?,
        None => Job::from_cmd(&cli.cmd)?,
    };
    execute(job, &crate::lab::events::Events::none())
}

/// The imperative change of `cli`, with `--backend`/`--force` given before
/// the subcommand folded in (refused where they mean nothing).
fn with_globals(cli: &Cli) -> Result<Option<crate::lab::request::Change>, CliError> {
    let mut change = cli.cmd.change();
    let what = change
        .as_ref()
        .map(|c| c.method().replace('.', " "))
        .unwrap_or_else(|| "this command".into());
    if let Some(b) = cli.backend
        && !change.as_mut().is_some_and(|c| c.set_backend(b))
    {
        return Err(CliError::Usage(format!(
            "--backend means nothing for {}: it goes with switch add/del, attach, detach",
            what
        )));
    }
    if cli.force && !change.as_mut().is_some_and(|c| c.set_force()) {
        return Err(CliError::Usage(format!(
            "--force means nothing for {}: it goes with the commands that change what a lab owns",
            what
        )));
    }
    Ok(change)
}

/// Run a validated job: root checked, the lock taken when it changes
/// anything, on a runtime of its own.
/// `events`: where an apply's or destroy's progress goes (`Events::none()`
/// for the CLI; a server's channel for `swctl serve`).
fn execute(job: Job, events: &crate::lab::events::Events) -> Result<Output, CliError> {
    // reading what the kernel shows anyone needs no root (the host's own
    // devices, the names in /run/netns, the labs' records)
    if !nix::unistd::geteuid().is_root() && !job.reads_only() {
        return Err(CliError::NotRoot);
    }
    // changes are serialized across swctl processes
    let _lock = if job.changes() {
        Some(crate::effect::lock::take()?)
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    rt.block_on(Box::pin(job.run(events)))
}

/// A validated command, ready to run.
enum Job {
    Change(Box<ChangeJob>),
    /// a topology command, its file validated
    Topo(Box<TopoJob>),
    /// `swctl bench`, with the wirings asked for (empty: all)
    Bench(BenchArgs, Vec<crate::bench::Wiring>),
    NsList,
    /// `ns attach NAME PID`
    NsAttach(crate::model::names::NsName, u32),
    SwitchList,
    Show(Option<String>),
    Labs,
    /// `export [--as NAME] [NS|SWITCH...]` (a lab's, `--name`, needs no job)
    Export(String, Vec<String>),
    Sandbox(SandboxCmd),
    Ovn(OvnCmd),
    Serve(String, Option<std::net::SocketAddr>),
    /// `flows`, `flow add`, `flow del`
    Flow(crate::lab::flows::FlowJob),
    /// `impair HOST[:IFNAME] ...`
    Impair(crate::lab::impair::ImpairJob),
}

impl Job {
    /// The job of a command that is no imperative change.
    fn from_cmd(cmd: &Cmd) -> Result<Job, CliError> {
        if let Some(j) = topo::job(cmd)? {
            return Ok(j);
        }
        Ok(match cmd {
            Cmd::Ns(NsCmd::List) => Job::NsList,
            Cmd::Switch(args::SwitchCmd::List) => Job::SwitchList,
            Cmd::Ns(NsCmd::Exec { .. }) => {
                return Err(CliError::Usage("`ns exec` is run by main".into()));
            }
            Cmd::Show(r) => Job::Show(r.name.clone()),
            Cmd::Labs => Job::Labs,
            Cmd::Export { as_name, only, .. } => Job::Export(as_name.clone(), only.clone()),
            Cmd::Ovs(c) => Job::Sandbox(c.clone()),
            Cmd::Ovn(c) => Job::Ovn(c.clone()),
            Cmd::Serve { socket, listen } => Job::Serve(socket.clone(), *listen),
            Cmd::Bench(b) => bench::job(b)?,
            Cmd::Flows(r) => Job::Flow(crate::lab::flows::validate_list(r)?),
            Cmd::Flow(args::FlowCmd::Add(r)) => Job::Flow(crate::lab::flows::validate_add(r)?),
            Cmd::Flow(args::FlowCmd::Del(r)) => Job::Flow(crate::lab::flows::validate_del(r)?),
            Cmd::Impair(r) => Job::Impair(crate::lab::impair::validate(r)?),
            _ => unreachable!("every command is handled above"),
        })
    }

    /// Read-only commands that run without root too (showing less).
    fn reads_only(&self) -> bool {
        matches!(
            self,
            Job::NsList | Job::SwitchList | Job::Show(_) | Job::Labs
        )
    }

    fn changes(&self) -> bool {
        match self {
            Job::Change(_) | Job::NsAttach(..) => true,
            Job::Topo(t) => t.changes(),
            Job::NsList
            | Job::SwitchList
            | Job::Show(_)
            | Job::Labs
            | Job::Export(..)
            | Job::Sandbox(_)
            | Job::Ovn(_)
            | Job::Serve(..) => false,
            Job::Flow(f) => !matches!(f, crate::lab::flows::FlowJob::List(_)),
            Job::Impair(j) => j.action != crate::lab::impair::ImpairAction::Show,
            // a scale run's children take the lock themselves
            Job::Bench(b, _) => b.scale.is_empty() && b.flows.is_none(),
        }
    }

    /// OVSDB servers named by the command or topology.
    fn named_servers(&self) -> Vec<String> {
        let d = match self {
            Job::Change(c) => &c.desired,
            Job::Topo(j) => match &j.topology {
                Some(t) => &t.desired,
                None => return vec![],
            },
            _ => return vec![],
        };
        d.switches
            .values()
            .filter_map(|s| s.ovsdb.clone())
            .collect()
    }

    /// Every OVSDB server to look at besides the default: the named ones and
    /// the ones swctl made switches on before.
    fn ovsdb_servers(&self) -> Vec<String> {
        let mut v = self.named_servers();
        v.extend(crate::effect::ovs::known_servers());
        v.sort();
        v.dedup();
        v
    }

    fn needs_ovs(&self) -> bool {
        match self {
            Job::Change(c) => c.ovs,
            Job::SwitchList | Job::Show(_) | Job::Labs | Job::Export(..) => true,
            Job::NsList
            | Job::NsAttach(..)
            | Job::Sandbox(_)
            | Job::Ovn(_)
            | Job::Serve(..)
            | Job::Impair(_) => false,
            Job::Topo(..) | Job::Bench(..) | Job::Flow(_) => true,
        }
    }

    async fn run(self, events: &crate::lab::events::Events) -> Result<Output, CliError> {
        // a simulated machine's agent about to apply OVS switches: the
        // machine's own Open vSwitch first, before anything connects to it
        let restarted = match &self {
            Job::Topo(j) => j.prepare().await?,
            _ => vec![],
        };
        let ovs = if self.needs_ovs() {
            let named = self.named_servers();
            Servers::connect(&self.ovsdb_servers(), &named).await?
        } else {
            Servers::none("not needed")
        };
        let k = System::new(ovs).map_err(|e| CliError::Observe(e.into()))?;
        let root = nix::unistd::geteuid().is_root();
        // without root: the host's namespace only (entering others needs it)
        let everything = Scan {
            all_owned: root,
            // an export writes the flows `swctl flow add` made
            flows: matches!(self, Job::Export(..)),
            ..Default::default()
        };
        match self {
            Job::NsList => {
                let o = observe(&k, &everything).await.map_err(CliError::Observe)?;
                let r = crate::lab::show::ns_list(&o)?;
                Ok(show::unprivileged_note(show::ns_list(&r), root))
            }
            Job::SwitchList => {
                let o = observe(&k, &everything).await.map_err(CliError::Observe)?;
                let r = crate::lab::show::switch_list(&o);
                Ok(show::unprivileged_note(show::switch_list(&r), root))
            }
            Job::Show(name) => {
                let o = observe(&k, &everything).await.map_err(CliError::Observe)?;
                let r = crate::lab::show::show(&o, name.as_deref())?;
                Ok(show::unprivileged_note(show::show(&r), root))
            }
            Job::Labs => Ok(show::labs(
                &crate::lab::show::labs(root.then_some(&k)).await,
            )),
            Job::Export(as_name, only) => {
                export::imperative(&k, &everything, &as_name, &only).await
            }
            Job::NsAttach(name, pid) => {
                let made = crate::effect::kernel::adopt::attach(&name, pid)?;
                let text = if made {
                    format!(
                        "ns attach {name} {pid}: the network namespace of process {pid} is {name} (/run/netns/{name}); `swctl ns del {name}` only forgets it"
                    )
                } else {
                    format!(
                        "ns attach {name} {pid}: nothing to change ({name} is that namespace already)"
                    )
                };
                Ok(Output {
                    text,
                    json: serde_json::json!({"command": "ns attach", "name": name, "pid": pid, "changes": made as u8}),
                    code: 0,
                })
            }
            Job::Sandbox(c) => sandbox::run(c).await,
            Job::Ovn(c) => sandbox::run_ovn(c).await,
            Job::Serve(socket, listen) => serve::serve(Path::new(&socket), listen).await,
            Job::Topo(j) => {
                let mut r = crate::lab::topo::run(&k, *j, events).await?;
                if let crate::lab::topo::TopoReport::Lab(l) = &mut r {
                    l.restarted = restarted;
                }
                Ok(topo::render(&r))
            }
            Job::Bench(args, wirings) => bench::run(&k, &args, wirings).await,
            Job::Change(job) => imperative::run(&k, *job).await,
            Job::Flow(job) => Ok(flows::render(&crate::lab::flows::run(&k, job).await?)),
            Job::Impair(job) => Ok(impair::render(&crate::lab::impair::run(&k, job).await?)),
        }
    }
}

/// Whether the process runs as root (`ns exec` checks it before entering).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root() && Path::new("/proc/self/ns/net").exists()
}
