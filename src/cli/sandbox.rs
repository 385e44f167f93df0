//! `swctl ovs start|stop|status`: the private Open vSwitch sandbox;
//! `swctl ovn start|stop|status`: the private OVN central.

use serde_json::json;

use super::args::{OvnCmd, SandboxCmd};
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

pub(super) async fn run_ovn(c: OvnCmd) -> Result<Output, CliError> {
    use crate::effect::ovn::central;
    let dir = |d: &str| std::path::PathBuf::from(d);
    match c {
        OvnCmd::Start { dir: d, listen } => {
            let st = central::start(&dir(&d), listen).await?;
            let mut text = format!(
                "OVN central running in {} (Northbound pid {}, Southbound pid {}, ovn-northd pid {})\nNorthbound: {}\nSouthbound: {}",
                st.dir.display(),
                st.nb_server.unwrap_or(0),
                st.sb_server.unwrap_or(0),
                st.northd.unwrap_or(0),
                st.nb,
                st.sb
            );
            if let (Some(n), Some(s)) = (&st.nb_tcp, &st.sb_tcp) {
                text.push_str(&format!("\non the network: {n}, {s}"));
            }
            Ok(Output {
                text,
                json: json!(st),
                code: 0,
            })
        }
        OvnCmd::Stop { dir: d } => {
            let stopped = central::stop(&dir(&d))?;
            let text = if stopped.is_empty() {
                format!("no OVN central daemons were running in {d}")
            } else {
                stopped
                    .iter()
                    .map(|(n, p)| format!("stopped {n} (pid {p})"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok(Output {
                text,
                json: json!({"stopped": stopped.iter().map(|(n, p)| json!({"daemon": n, "pid": p})).collect::<Vec<_>>()}),
                code: 0,
            })
        }
        OvnCmd::Status { dir: d } => {
            let st = central::status(&dir(&d)).await;
            let pid = |p: Option<i32>| p.map_or("not running".to_string(), |p| format!("pid {p}"));
            Ok(Output {
                text: format!(
                    "{}: Northbound {}, Southbound {}, ovn-northd {}; Northbound {} at {}",
                    st.dir.display(),
                    pid(st.nb_server),
                    pid(st.sb_server),
                    pid(st.northd),
                    if st.answers {
                        "answers"
                    } else {
                        "does not answer"
                    },
                    st.nb
                ),
                json: json!(st),
                code: 0,
            })
        }
    }
}
