//! `swctl ovs start|stop|status`: the private Open vSwitch sandbox;
//! `swctl ovn start|stop|status`: the private OVN central.

use serde_json::json;

use super::args::{OvnCmd, SandboxCmd};
use super::{CliError, Output};
use crate::effect::ovs::sandbox;

pub(super) async fn run(c: SandboxCmd) -> Result<Output, CliError> {
    let (what, dir) = match &c {
        SandboxCmd::Start { dir, .. } => ("start", dir.clone()),
        SandboxCmd::Stop { dir } => ("stop", dir.clone()),
        SandboxCmd::Status { dir: Some(d) } => ("status", d.clone()),
        SandboxCmd::Status { dir: None } => match std::env::var("SWCTL_OVSDB") {
            // the server swctl would use: its directory when it is a socket
            // file (the daemons' pid files beside it), else just whether
            // it answers
            Ok(a) => match a.strip_prefix("unix:").map(std::path::Path::new) {
                Some(p) if p.file_name().is_some_and(|f| f == "db.sock") => {
                    ("status", p.parent().unwrap_or(p).display().to_string())
                }
                _ => return Ok(remote_status(&a).await),
            },
            Err(_) => ("status", crate::effect::paths::SANDBOX_DIR.to_string()),
        },
    };
    let dir = std::path::PathBuf::from(dir);
    match what {
        "start" => {
            let tso = match &c {
                SandboxCmd::Start { tso, .. } => match tso {
                    super::args::TsoChoice::Auto => None,
                    super::args::TsoChoice::On => Some(true),
                    super::args::TsoChoice::Off => Some(false),
                },
                _ => None,
            };
            let st = sandbox::start_with(&dir, false, tso).await?;
            Ok(Output {
                text: format!(
                    "Open vSwitch sandbox running in {} (ovsdb-server pid {}, ovs-vswitchd pid {})\nOVSDB address: {}\n{}\n(export SWCTL_OVSDB={} to use it from another directory)",
                    st.dir.display(),
                    st.ovsdb_server.unwrap_or(0),
                    st.ovs_vswitchd.unwrap_or(0),
                    st.address,
                    st.tso_note,
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
                    "{}: ovsdb-server {}, ovs-vswitchd {}, OVSDB {} at {}{}",
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
                    st.address,
                    if st.tso_note.is_empty() {
                        String::new()
                    } else {
                        format!("\n{}", st.tso_note)
                    }
                ),
                code: if st.answers && st.ovs_vswitchd.is_some() {
                    0
                } else {
                    3
                },
                json: json!(st),
            })
        }
    }
}

/// `ovs status` of an OVSDB server given by address ($SWCTL_OVSDB) that is
/// not a sandbox's socket: whether it answers (exit code 3 when not).
async fn remote_status(addr: &str) -> Output {
    let (answers, tso, version) = match crate::ovsdb::Client::connect(addr).await {
        Ok(c) if c.echo().await.is_ok() => {
            let (tso, version) = sandbox::tso_of(&c).await;
            (true, tso, version)
        }
        _ => (false, None, None),
    };
    let kernel = crate::effect::ovs::datapath::kernel_datapath();
    let note = tso.map_or(String::new(), |on| {
        crate::model::tso::words(on, kernel, version.as_deref(), false)
    });
    Output {
        text: format!(
            "OVSDB {} at {addr} ($SWCTL_OVSDB){}",
            if answers {
                "answers"
            } else {
                "does not answer"
            },
            if note.is_empty() {
                String::new()
            } else {
                format!("\n{note}")
            }
        ),
        json: json!({"address": addr, "answers": answers, "tso": tso, "tso_note": note, "version": version}),
        code: if answers { 0 } else { 3 },
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
                code: if st.answers && st.northd.is_some() {
                    0
                } else {
                    3
                },
                json: json!(st),
            })
        }
    }
}
