//! `swctl logs HOST [NAME] [-n N]`: the processes swctl runs in a host
//! (`run`), each with how it is and the end of its log — a typed request
//! and report, for the CLI and the API's `logs`.

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::effect::procs;
use crate::model::host::ProcState;
use crate::model::names::{InvalidInput, NsName};

/// `logs HOST [NAME] [-n LINES]`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsReq {
    /// the host
    pub host: String,
    /// one of its processes (default: every one)
    #[serde(default)]
    pub name: Option<String>,
    /// the log's last lines (0: all of it)
    #[arg(short = 'n', long = "lines", default_value_t = 50)]
    #[serde(default = "default_lines")]
    pub lines: usize,
}

fn default_lines() -> usize {
    50
}

/// One process and the end of its log.
#[derive(Debug, Clone, Serialize)]
pub struct ProcLog {
    pub name: String,
    pub cmd: String,
    pub pid: i32,
    pub state: ProcState,
    pub log: String,
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogsReport {
    pub host: NsName,
    pub procs: Vec<ProcLog>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error(transparent)]
    Name(#[from] InvalidInput),
    #[error("swctl runs no process in {0} (a host's `run` list in its topology)")]
    NoProcs(NsName),
    #[error("{host} has no process {name}; it has: {have}")]
    NoSuch {
        host: NsName,
        name: String,
        have: String,
    },
}

/// The report of `r` (read from the processes' records and logs).
pub fn run(r: &LogsReq) -> Result<LogsReport, LogsError> {
    let host: NsName = r.host.parse()?;
    let all = procs::read(&host);
    if all.is_empty() {
        return Err(LogsError::NoProcs(host));
    }
    let chosen: Vec<_> = match &r.name {
        None => all,
        Some(n) => {
            let have: Vec<String> = all.iter().map(|p| p.name.clone()).collect();
            let one: Vec<_> = all.into_iter().filter(|p| &p.name == n).collect();
            if one.is_empty() {
                return Err(LogsError::NoSuch {
                    host,
                    name: n.clone(),
                    have: have.join(", "),
                });
            }
            one
        }
    };
    let lines = if r.lines == 0 { usize::MAX } else { r.lines };
    Ok(LogsReport {
        procs: chosen
            .into_iter()
            .map(|p| ProcLog {
                lines: procs::tail(std::path::Path::new(&p.log), lines),
                name: p.name,
                cmd: p.cmd,
                pid: p.pid,
                state: p.state,
                log: p.log,
            })
            .collect(),
        host,
    })
}
