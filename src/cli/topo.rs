//! The topology commands: `plan`, `apply`, `status`, `check`, `destroy`,
//! `gc`, on a validated topology file.

use std::time::Instant;

use serde_json::json;

use super::args::Cmd;
use super::render::{join, steps_text};
use super::{CliError, Job, Output};
use crate::effect::system::System;
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
    use std::io::IsTerminal;
    let t0 = Instant::now();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    match cmd {
        TopoCmd::Plan => {
            let t = topo.expect("loaded");
            let (_, p) = crate::lab::plan_for(k, &t.desired).await?;
            let text = if p.is_empty() {
                format!("{}: nothing to change", t.name)
            } else {
                format!("{}: {} steps\n{}", t.name, p.steps.len(), steps_text(&p))
            };
            Ok(Output {
                text,
                json: json!({"topology": t.name, "steps": p.steps, "commands": p.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "wiring": p.wiring}),
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
            let p = crate::lab::apply_topology(k, &t.desired, file, &mut progress).await?;
            let n = p.steps.len();
            let text = if n == 0 {
                format!("{}: nothing to change", t.name)
            } else {
                format!(
                    "{}: {n} change{} in {:.1} ms",
                    t.name,
                    if n == 1 { "" } else { "s" },
                    ms(t0)
                )
            };
            Ok(Output {
                text,
                json: json!({"topology": t.name, "changes": n, "commands": p.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "wiring": p.wiring, "elapsed_ms": ms(t0)}),
                code: 0,
            })
        }
        TopoCmd::Status => {
            let t = topo.expect("loaded");
            let (_, p) = crate::lab::plan_for(k, &t.desired).await?;
            let d = crate::lab::drift::drift(&p);
            let mut text = if d.in_sync {
                format!("{}: in sync", t.name)
            } else {
                format!("{}: drift", t.name)
            };
            for (what, v) in [
                ("missing", &d.missing),
                ("differs", &d.differs),
                ("leaked", &d.leaked),
            ] {
                for x in v {
                    text.push_str(&format!("\n  {what:<8} {x}"));
                }
            }
            Ok(Output {
                text,
                json: json!({"topology": t.name, "drift": d}),
                code: if d.in_sync { 0 } else { 3 },
            })
        }
        TopoCmd::Check(timeout, full) => {
            let t = topo.expect("loaded");
            let (probes, reduced) = crate::lab::check::plan_probes(&t.desired, full);
            let timeout = std::time::Duration::from_secs_f64(timeout);
            let res = tokio::task::spawn_blocking(move || crate::lab::check::run(&probes, timeout))
                .await
                .map_err(|e| CliError::Usage(format!("check failed: {e}")))?;
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
                json: json!({"topology": t.name, "pairs": res, "failed": failed, "reduced": reduced}),
                code: if failed == 0 { 0 } else { 1 },
            })
        }
        TopoCmd::Destroy(name) => {
            let p = crate::lab::destroy(k, &name).await?;
            let n = p.steps.len();
            Ok(Output {
                text: if n == 0 {
                    format!("{name}: nothing to remove")
                } else {
                    format!(
                        "{name}: {n} removal step{} in {:.1} ms",
                        if n == 1 { "" } else { "s" },
                        ms(t0)
                    )
                },
                json: json!({"topology": name, "changes": n, "commands": p.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>()}),
                code: 0,
            })
        }
        TopoCmd::Gc => {
            let (dead, p) = crate::lab::gc(k).await?;
            Ok(Output {
                text: if dead.is_empty() {
                    "gc: no leftovers".into()
                } else {
                    format!(
                        "gc: removed leftovers of {} ({} steps)",
                        join(&dead),
                        p.steps.len()
                    )
                },
                json: json!({"removed_owners": dead, "commands": p.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>()}),
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
