//! `HostRuns` on the real machine: a host's sysctls read in its namespace
//! (`ip netns exec NS sysctl KEY`), its hosts file in /etc/netns/NS (the
//! file `ip netns exec` and `swctl ns exec` bind over /etc/hosts), the
//! processes swctl started there and the one-shot commands it ran
//! (`procs`, their records under the run directory).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::HostRuns;
use super::kernel::netns;
use super::procs::{self, ProcError};
use super::system::System;
use crate::model::host::{ExecObs, HostObs, exec_hash, hosts_owner};
use crate::model::names::{NsName, Owner};

fn hosts_path(ns: &NsName) -> PathBuf {
    std::path::Path::new(netns::ETC_NETNS)
        .join(ns.as_str())
        .join("hosts")
}

/// The record of the one-shot commands last run in a host.
#[derive(Serialize, Deserialize)]
struct ExecRecord {
    owner: String,
    hash: String,
    ns_id: u64,
}

fn exec_record(ns: &NsName) -> PathBuf {
    super::paths::run_dir()
        .join("procs")
        .join(format!("{}.exec.json", ns.as_str()))
}

/// What `read_host` reads (blocking: files, and a thread in the
/// namespace per sysctl).
pub fn read(ns: &NsName, keys: &[String]) -> HostObs {
    let sysctls = keys
        .iter()
        .map(|k| (k.clone(), netns::sysctl_get(Some(ns), k).ok()))
        .collect();
    let exec = std::fs::read(exec_record(ns))
        .ok()
        .and_then(|b| serde_json::from_slice::<ExecRecord>(&b).ok())
        .and_then(|r| {
            Some(ExecObs {
                owner: r.owner.parse().ok()?,
                hash: r.hash,
                ns_id: r.ns_id,
            })
        });
    HostObs {
        ns_id: procs::ns_id(ns),
        sysctls,
        hosts_file: std::fs::read_to_string(hosts_path(ns)).ok().map(Into::into),
        procs: procs::read(ns),
        exec,
    }
}

impl HostRuns for System {
    async fn read_host(&self, ns: &NsName, keys: &[String]) -> HostObs {
        let (ns, keys) = (ns.clone(), keys.to_vec());
        tokio::task::spawn_blocking(move || read(&ns, &keys))
            .await
            .unwrap_or_default()
    }

    async fn write_hosts(&self, ns: &NsName, content: &str) -> Result<(), ProcError> {
        let p = hosts_path(ns);
        let w = |e| ProcError::Write(p.display().to_string(), e);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(w)?;
        }
        let tmp = p.with_extension("swctl-tmp");
        std::fs::write(&tmp, content).map_err(w)?;
        std::fs::rename(&tmp, &p).map_err(w)
    }

    async fn del_hosts(&self, ns: &NsName) -> Result<(), ProcError> {
        let p = hosts_path(ns);
        // only swctl's (its first line): a file put there by hand stays
        if std::fs::read_to_string(&p)
            .ok()
            .and_then(|t| hosts_owner(&t))
            .is_some()
        {
            std::fs::remove_file(&p).map_err(|e| ProcError::Write(p.display().to_string(), e))?;
        }
        if let Some(d) = p.parent() {
            let _ = std::fs::remove_dir(d);
        }
        let _ = std::fs::remove_file(exec_record(ns));
        Ok(())
    }

    async fn start_proc(
        &self,
        ns: &NsName,
        owner: &Owner,
        name: &str,
        cmd: &str,
        cwd: Option<&str>,
    ) -> Result<(), ProcError> {
        let (ns, owner, name, cmd) = (ns.clone(), owner.clone(), name.to_string(), cmd.to_string());
        let cwd = cwd.map(String::from);
        tokio::task::spawn_blocking(move || procs::start(&ns, &owner, &name, &cmd, cwd.as_deref()))
            .await
            .map_err(|e| ProcError::Write("a process".into(), std::io::Error::other(e)))?
    }

    async fn stop_proc(&self, ns: &NsName, name: &str) -> Result<(), ProcError> {
        let (ns, name) = (ns.clone(), name.to_string());
        tokio::task::spawn_blocking(move || procs::stop(&ns, &name))
            .await
            .map_err(|e| ProcError::Write("a process".into(), std::io::Error::other(e)))?
    }

    async fn run_exec(
        &self,
        ns: &NsName,
        owner: &Owner,
        cmds: &[String],
        cwd: Option<&str>,
    ) -> Result<(), ProcError> {
        let (ns, owner, cmds) = (ns.clone(), owner.clone(), cmds.to_vec());
        let cwd = cwd.map(String::from);
        tokio::task::spawn_blocking(move || {
            for c in &cmds {
                procs::exec(&ns, c, cwd.as_deref())?;
            }
            let r = ExecRecord {
                owner: owner.to_string(),
                hash: exec_hash(&cmds),
                ns_id: procs::ns_id(&ns).unwrap_or(0),
            };
            let p = exec_record(&ns);
            let w = |e| ProcError::Write(p.display().to_string(), e);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(w)?;
            }
            std::fs::write(&p, serde_json::to_vec(&r).unwrap_or_default()).map_err(w)
        })
        .await
        .map_err(|e| ProcError::Write("a command".into(), std::io::Error::other(e)))?
    }
}

/// The entries of `dir` named as hosts (namespaces), with their names.
fn by_host(dir: &std::path::Path) -> Vec<(NsName, std::fs::DirEntry)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| {
            let ns = e.file_name().to_str()?.parse::<NsName>().ok()?;
            Some((ns, e))
        })
        .collect()
}

/// What swctl left in hosts that no longer exist (deleted by hand):
/// processes (by host and name) and hosts files (by host), for `gc`.
pub fn orphans() -> (Vec<(NsName, String)>, Vec<NsName>) {
    let gone = |n: &NsName| !netns::exists(n);
    let mut procs = vec![];
    for (ns, e) in by_host(&super::paths::run_dir().join("procs")) {
        if e.path().is_dir() && gone(&ns) {
            procs.extend(procs::read(&ns).into_iter().map(|p| (ns.clone(), p.name)));
        }
    }
    let mut files = vec![];
    for (ns, e) in by_host(std::path::Path::new(netns::ETC_NETNS)) {
        let ours = std::fs::read_to_string(e.path().join("hosts"))
            .ok()
            .and_then(|t| crate::model::host::hosts_owner(&t))
            .is_some();
        if ours && gone(&ns) {
            files.push(ns);
        }
    }
    (procs, files)
}

/// A phase's flow batches (first) and host steps (after them), in order:
/// the flows as `openflow::run_batches` writes them, the host steps of
/// each host in turn (its processes start in the file's order), hosts at
/// once.
pub async fn with_flows<S: super::Effects>(
    sys: &S,
    steps: &[&crate::plan::Step],
) -> Vec<Result<(), super::StepError>> {
    use crate::model::host::HostStep;
    use crate::plan::Step;
    let n = steps.iter().filter(|s| matches!(s, Step::Flows(_))).count();
    let (flows, hosts) = steps.split_at(n);
    let mut by_ns: std::collections::BTreeMap<&NsName, Vec<(usize, &HostStep)>> =
        Default::default();
    for (i, s) in hosts.iter().enumerate() {
        if let Step::Host(h) = s {
            by_ns.entry(h.ns()).or_default().push((i, h));
        }
    }
    let each = by_ns.into_values().map(|list| async move {
        let mut out = vec![];
        for (i, h) in list {
            let r = match h {
                HostStep::WriteHosts { ns, content } => sys.write_hosts(ns, content).await,
                HostStep::DelHosts { ns } => sys.del_hosts(ns).await,
                HostStep::StartProc {
                    ns,
                    owner,
                    name,
                    cmd,
                    cwd,
                    ..
                } => sys.start_proc(ns, owner, name, cmd, cwd.as_deref()).await,
                HostStep::StopProc { ns, name, .. } => sys.stop_proc(ns, name).await,
                HostStep::RunExec {
                    ns,
                    owner,
                    cmds,
                    cwd,
                    ..
                } => sys.run_exec(ns, owner, cmds, cwd.as_deref()).await,
            };
            out.push((i, r.map_err(super::StepError::from)));
        }
        out
    });
    let (mut res, done) = futures::join!(
        super::openflow::run_batches(sys, flows),
        futures::future::join_all(each)
    );
    let mut host_res: Vec<Option<Result<(), super::StepError>>> =
        hosts.iter().map(|_| None).collect();
    for (i, r) in done.into_iter().flatten() {
        host_res[i] = Some(r);
    }
    res.extend(
        host_res
            .into_iter()
            .map(|r| r.expect("every host step answered")),
    );
    res
}
