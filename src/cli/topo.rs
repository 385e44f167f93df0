//! The topology commands: `plan`, `apply`, `status`, `check`, `destroy`,
//! `gc`, on a validated topology file.

use std::time::Instant;

use serde_json::json;

use super::args::Cmd;
use std::io::IsTerminal;

use super::render::{changes_line, join, plan_json, steps_text};
use super::{CliError, Job, Output};
use crate::effect::system::System;
use crate::lab;
use crate::lab::topology::Topology;
use crate::model::names::Owner;

#[derive(Debug, Clone)]
pub enum TopoCmd {
    Plan,
    Apply,
    Status,
    Check(f64, bool),
    Destroy(Owner),
    Gc,
}

fn load(file: &str) -> Result<Topology, CliError> {
    Ok(crate::lab::topology::load(std::path::Path::new(file))?)
}

pub(super) async fn run(
    k: &System,
    cmd: TopoCmd,
    topo: Option<Topology>,
    file: &str,
) -> Result<Output, CliError> {
    let t0 = Instant::now();
    let ms = move || t0.elapsed().as_secs_f64() * 1000.0;
    match cmd {
        TopoCmd::Plan => {
            let t = topo.expect("loaded");
            let (_, p) = lab::plan_for(k, &t.desired).await?;
            let text = if p.is_empty() {
                format!("{}: nothing to change", t.name)
            } else {
                format!("{}: {} steps\n{}", t.name, p.steps.len(), steps_text(&p))
            };
            Ok(Output {
                text,
                json: plan_json("plan", Some(&t.name), &p, ms()),
                code: 0,
            })
        }
        TopoCmd::Apply => {
            let t = topo.expect("loaded");
            let tty = std::io::stderr().is_terminal();
            let mut progress = |done: usize, total: usize| {
                if tty && total >= 20 {
                    eprint!("\rswctl: applying {}: {done}/{total} steps", t.name);
                    if done >= total {
                        eprintln!();
                    }
                }
            };
            let p = lab::apply_topology(k, &t.desired, file, &mut progress).await?;
            Ok(Output {
                text: changes_line(t.name.as_str(), p.steps.len(), ms()),
                json: plan_json("apply", Some(&t.name), &p, ms()),
                code: 0,
            })
        }
        TopoCmd::Status => {
            let t = topo.expect("loaded");
            let (_, p) = lab::plan_for(k, &t.desired).await?;
            let d = lab::drift::drift(&p);
            let mut text = format!(
                "{}: {}",
                t.name,
                if d.in_sync { "in sync" } else { "drift" }
            );
            for (what, v) in [
                ("missing", &d.missing),
                ("differs", &d.differs),
                ("leaked", &d.leaked),
            ] {
                for x in v {
                    text.push_str(&format!("\n  {what:<8} {x}"));
                }
            }
            let mut json = plan_json("status", Some(&t.name), &p, ms());
            json["in_sync"] = json!(d.in_sync);
            json["drift"] = json!(d);
            Ok(Output {
                text,
                json,
                code: if d.in_sync { 0 } else { 3 },
            })
        }
        TopoCmd::Check(timeout, full) => {
            let t = topo.expect("loaded");
            let (probes, reduced) = lab::check::plan_probes(&t.desired, full);
            let timeout = std::time::Duration::from_secs_f64(timeout);
            let res = tokio::task::spawn_blocking(move || lab::check::run(&probes, timeout))
                .await
                .map_err(|e| CliError::Failed(format!("the check's threads failed: {e}")))?;
            let failed = res.iter().filter(|r| !r.ok).count();
            let mut text = format!("{:<16} {:<40} {:<28} {}", "from", "to", "because", "result");
            for r in &res {
                let to = format!("{} ({})", r.probe.to, r.probe.owner);
                let result = match (&r.rtt_ms, &r.error) {
                    (Some(ms), _) => format!("ok {ms:.2} ms"),
                    (_, Some(e)) => format!("FAIL {e}"),
                    _ => "FAIL".into(),
                };
                text.push_str(&format!(
                    "\n{:<16} {:<40} {:<28} {result}",
                    r.probe.from, to, r.probe.why
                ));
            }
            if let Some(r) = &reduced {
                text.push_str(&format!("\nnote: {r}"));
            }
            text.push_str(&format!(
                "\n{}: {} pairs, {} failed",
                t.name,
                res.len(),
                failed
            ));
            Ok(Output {
                text,
                json: json!({"command": "check", "topology": t.name, "pairs": res, "failed": failed, "reduced": reduced, "elapsed_ms": ms()}),
                code: if failed == 0 { 0 } else { 1 },
            })
        }
        TopoCmd::Destroy(name) => {
            let p = lab::destroy(k, &name).await?;
            let text = if p.is_empty() {
                format!("{name}: nothing to remove")
            } else {
                changes_line(name.as_str(), p.steps.len(), ms())
            };
            Ok(Output {
                text,
                json: plan_json("destroy", Some(&name), &p, ms()),
                code: 0,
            })
        }
        TopoCmd::Gc => {
            let (dead, p) = lab::gc(k).await?;
            let text = if dead.is_empty() {
                "gc: no leftovers".into()
            } else {
                format!(
                    "gc: removed leftovers of {} ({} steps)",
                    join(&dead),
                    p.steps.len()
                )
            };
            let mut json = plan_json("gc", None, &p, ms());
            json["removed_owners"] = json!(dead);
            Ok(Output {
                text,
                json,
                code: 0,
            })
        }
    }
}

/// The topology command `cmd` names, with its file validated; None for the
/// others.
pub(super) fn job(cmd: &Cmd) -> Result<Option<Job>, CliError> {
    Ok(Some(match cmd {
        Cmd::Plan { file } => Job::Topo(TopoCmd::Plan, Some(load(file)?), file.clone()),
        Cmd::Apply { file } => Job::Topo(TopoCmd::Apply, Some(load(file)?), file.clone()),
        Cmd::Status { file } => Job::Topo(TopoCmd::Status, Some(load(file)?), file.clone()),
        Cmd::Check {
            file,
            timeout,
            full,
        } => {
            if !(*timeout > 0.0 && *timeout <= 600.0) {
                return Err(CliError::Usage(
                    "--timeout must be between 0 and 600 seconds".into(),
                ));
            }
            Job::Topo(
                TopoCmd::Check(*timeout, *full),
                Some(load(file)?),
                file.clone(),
            )
        }
        Cmd::Destroy { file, name } => match (file, name) {
            (Some(f), None) => Job::Topo(TopoCmd::Destroy(load(f)?.name), None, f.clone()),
            (None, Some(n)) => Job::Topo(TopoCmd::Destroy(n.parse()?), None, String::new()),
            _ => {
                return Err(CliError::Usage(
                    "destroy needs a topology FILE or --name NAME".into(),
                ));
            }
        },
        Cmd::Gc => Job::Topo(TopoCmd::Gc, None, String::new()),
        _ => return Ok(None),
    }))
}
