//! The rendering of `swctl logs` (the use case is `lab::logs`): per
//! process, how it is, then the end of its log.

use super::{CliError, Output};
use crate::lab::logs::{LogsReq, run as logs};
use crate::model::host::ProcState;

pub(super) fn run(r: &LogsReq) -> Result<Output, CliError> {
    let rep = logs(r)?;
    let json = serde_json::to_value(&rep).unwrap_or_default();
    let mut text = String::new();
    for p in &rep.procs {
        let state = match &p.state {
            ProcState::Running => format!("running (pid {})", p.pid),
            ProcState::Exited(how) => how.clone(),
            ProcState::Gone => "gone".into(),
        };
        if rep.procs.len() > 1 || !text.is_empty() {
            text.push_str(&format!(
                "==> {} in {}: {state} — {} ({}) <==\n",
                p.name, rep.host, p.cmd, p.log
            ));
        }
        for l in &p.lines {
            text.push_str(l);
            text.push('\n');
        }
    }
    if rep.procs.len() == 1 {
        let p = &rep.procs[0];
        let state = match &p.state {
            ProcState::Running => format!("running (pid {})", p.pid),
            ProcState::Exited(how) => how.clone(),
            ProcState::Gone => "gone".into(),
        };
        text = format!(
            "==> {} in {}: {state} — {} ({}) <==\n{text}",
            p.name, rep.host, p.cmd, p.log
        );
    }
    Ok(Output {
        text: text.trim_end().to_string(),
        json,
        code: 0,
    })
}
