//! `swctl ovs start|stop|status`: the private Open vSwitch sandbox.

use serde_json::json;

use super::args::SandboxCmd;
use super::{CliError, Output};
use crate::effect::ovs::sandbox;

pub(super) async fn run(c: SandboxCmd) -> Result<Output, CliError> {
    let (what, dir) = match &c {
        SandboxCmd::Start { dir } => ("start", dir),
        SandboxCmd::Stop { dir } => ("stop", dir),
        SandboxCmd::Status { dir } => ("status", dir),
    };
    let dir = std::path::PathBuf::from(dir);
    match what {
        "start" => {
            let st = sandbox::start(&dir).await?;
            Ok(Output {
                text: format!(
                    "Open vSwitch sandbox running in {} (ovsdb-server pid {}, ovs-vswitchd pid {})\nOVSDB address: {}\n(export SWCTL_OVSDB={} to use it from another directory)",
                    st.dir.display(),
                    st.ovsdb_server.unwrap_or(0),
                    st.ovs_vswitchd.unwrap_or(0),
                    st.address,
                    st.address
                ),
                json: json!(st),
                code: 0,
            })
        }
        "stop" => {
            let stopped = sandbox::stop(&dir)?;
            let text = if stopped.is_empty() {
                format!("no sandbox daemons were running in {}", dir.display())
            } else {
                stopped
                    .iter()
                    .map(|(d, p)| format!("stopped {d} (pid {p})"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok(Output {
                text,
                json: json!({"stopped": stopped.iter().map(|(d, p)| json!({"daemon": d, "pid": p})).collect::<Vec<_>>()}),
                code: 0,
            })
        }
        _ => {
            let st = sandbox::status(&dir).await;
            Ok(Output {
                text: format!(
                    "{}: ovsdb-server {}, ovs-vswitchd {}, OVSDB {} at {}",
                    st.dir.display(),
                    st.ovsdb_server
                        .map_or("not running".to_string(), |p| format!("pid {p}")),
                    st.ovs_vswitchd
                        .map_or("not running".to_string(), |p| format!("pid {p}")),
                    if st.answers {
                        "answers"
                    } else {
                        "does not answer"
                    },
                    st.address
                ),
                json: json!(st),
                code: 0,
            })
        }
    }
}
