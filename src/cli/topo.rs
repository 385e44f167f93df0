//! The topology commands: `plan`, `apply`, `status`, `check`, `destroy`,
//! `gc`, on a validated topology file.

use std::time::Instant;

use serde_json::json;

use super::args::{CheckArgs, Cmd};
use std::io::IsTerminal;

use super::checks::{check, spread_check};
use super::render::{changes_line, join, plan_json, steps_text};
use super::{CliError, Job, Output};
use crate::effect::system::System;
use crate::lab;
use crate::lab::topology::Topology;
use crate::model::names::Owner;

#[derive(Debug, Clone)]
pub enum TopoCmd {
    Plan,
    /// with the check to run afterwards; adopting the imperative
    /// commands' objects the file describes first (`--adopt`)
    Apply(Option<CheckArgs>, bool),
    Status,
    /// probes from every host, or (an agent) from this machine's hosts only
    Check(CheckArgs, Option<Owner>),
    /// with `--forget`: the record of parts that cannot be reached dropped
    Destroy(Owner, bool),
    /// dry run or not
    Gc(bool),
}

/// The topology of `file` (`-`: standard input); with `machine`, only
/// that machine's part, owned by LAB+MACHINE (an agent's view).
fn load_part(file: &str, machine: Option<&str>) -> Result<Topology, CliError> {
    let mut t = if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError::Usage(format!("cannot read the topology from stdin: {e}")))?;
        let json = text.trim_start().starts_with('{');
        crate::lab::topology::parse(&text, json, "-")?
    } else {
        crate::lab::topology::load(std::path::Path::new(file))?
    };
    if let Some(m) = machine {
        let m: Owner = m.parse()?;
        if !t.desired.machines.contains_key(&m) {
            return Err(CliError::Usage(format!(
                "{file}: no machine {m} in [machines]"
            )));
        }
        t.desired = lab::machines::agent_part(&t.desired, &m);
        t.name = t.desired.owner.clone();
    }
    Ok(t)
}

fn load(file: &str) -> Result<Topology, CliError> {
    load_part(file, None)
}

pub(super) async fn run(
    k: &System,
    cmd: TopoCmd,
    topo: Option<Topology>,
    file: &str,
    events: &lab::events::Events,
) -> Result<Output, CliError> {
    // an apply's or a destroy's progress, for whoever the caller lets
    // listen (`swctl serve`'s lab.watch)
    let watched = match (&cmd, &topo) {
        (TopoCmd::Apply(..), Some(t)) => Some(("apply", t.desired.owner.clone())),
        (TopoCmd::Destroy(n, _), _) => Some(("destroy", n.clone())),
        _ => None,
    };
    let Some((verb, lab)) = watched else {
        return run_cmd(k, cmd, topo, file, events).await;
    };
    let t0 = Instant::now();
    events.emit(&lab, json!({"event": verb, "phase": "started"}));
    let res = run_cmd(k, cmd, topo, file, events).await;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    events.emit(
        &lab,
        match &res {
            Ok(o) => json!({"event": verb, "phase": "finished", "ms": ms,
                "changes": o.json["changes"], "exit_code": o.code}),
            Err(e) => json!({"event": verb, "phase": "failed", "ms": ms, "error": e.to_json()}),
        },
    );
    res
}

async fn run_cmd(
    k: &System,
    cmd: TopoCmd,
    topo: Option<Topology>,
    file: &str,
    events: &lab::events::Events,
) -> Result<Output, CliError> {
    let t0 = Instant::now();
    let ms = move || t0.elapsed().as_secs_f64() * 1000.0;
    // a lab over machines, run from here: fan out to the machines' agents
    let spread =
        |t: &Topology| !t.desired.machines.is_empty() && t.desired.owner.machine().is_none();
    let topo = match (&cmd, topo) {
        (TopoCmd::Destroy(name, _), None) => registered_topology(name),
        (_, t) => t,
    };
    if let Some(t) = topo.as_ref().filter(|t| spread(t))
        && !matches!(cmd, TopoCmd::Check(_, Some(_)) | TopoCmd::Gc(_))
    {
        return run_spread(k, cmd, t, file, ms, events).await;
    }
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
        TopoCmd::Apply(then_check, adopt) => {
            let t = topo.expect("loaded");
            let tty = std::io::stderr().is_terminal();
            let owner = t.desired.owner.clone();
            let mut said = 0;
            let mut progress = |done: usize, total: usize| {
                // at most ~20 progress events an apply
                if done == total || done >= said + total.div_ceil(20) {
                    said = done;
                    let ev = json!({"event": "apply", "phase": "progress", "done": done, "total": total});
                    events.emit(&owner, ev);
                }
                if tty && total >= 20 {
                    eprint!("\rswctl: applying {}: {done}/{total} steps", t.name);
                    if done >= total {
                        eprintln!();
                    }
                }
            };
            let adopted = if adopt {
                lab::export::adopt(k, &t.desired).await?
            } else {
                0
            };
            let p = lab::apply_topology(k, &t.desired, file, &mut progress).await?;
            // an agent's OVN ports: bound and installed before it returns
            if t.desired.owner.machine().is_some() && lab::machines::needs_chassis(&t.desired) {
                let limit = std::time::Duration::from_secs(20);
                lab::ovn::await_installed(k, &t.desired, limit)
                    .await
                    .map_err(|w| {
                        CliError::Failed(format!(
                            "ovn-controller did not install {} within {} s (see ovn-controller.log in this machine's Open vSwitch directory)",
                            w.join(", "),
                            limit.as_secs()
                        ))
                    })?;
            }
            let mut text = changes_line(t.name.as_str(), p.steps.len(), ms());
            let mut json = plan_json("apply", Some(&t.name), &p, ms());
            if adopt {
                text = format!(
                    "{}: took over {adopted} marks of objects made by imperative commands\n{text}",
                    t.name
                );
                json["adopted"] = json!(adopted);
            }
            let mut code = 0;
            if let Some(c) = then_check {
                let (ct, cj, failed) = check(k, &t, c, None, ms).await?;
                text.push('\n');
                text.push_str(&ct);
                json["check"] = cj;
                code = if failed == 0 { 0 } else { 1 };
            }
            Ok(Output { text, json, code })
        }
        TopoCmd::Status => {
            let t = topo.expect("loaded");
            // a simulated machine's own Open vSwitch, not running: its rows
            // still say all is there (and its internal ports' taps linger),
            // or, its ovsdb-server gone, nothing can be planned: either way
            // the daemons are the drift
            let down = if lab::machines::needs_sandbox(&t.desired) {
                let dir = crate::effect::paths::machine_sandbox(crate::effect::paths::run_dir());
                crate::effect::ovs::sandbox::not_running_here(&dir)
            } else {
                vec![]
            };
            let p = match lab::plan_for(k, &t.desired).await {
                Ok((_, p)) => p,
                Err(_) if !down.is_empty() => crate::plan::Plan::default(),
                Err(e) => return Err(e.into()),
            };
            let mut d = lab::drift::drift(&p);
            for daemon in down {
                d.in_sync = false;
                d.missing
                    .push(format!("{daemon} of this machine (not running)"));
            }
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
            // the fix apart from the findings: one command, its steps in plan
            if !p.is_empty() {
                let f = if file.is_empty() { "FILE" } else { file };
                text.push_str(&format!(
                    "\nrepair: swctl apply {f}  ({} steps; `swctl plan {f}` lists them)",
                    p.steps.len()
                ));
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
        TopoCmd::Check(c, machine) => {
            let t = topo.expect("loaded");
            let from = machine.map(|m| {
                t.desired
                    .placement
                    .iter()
                    .filter(|(_, x)| **x == m)
                    .map(|(h, _)| h.clone())
                    .collect()
            });
            let (text, json, failed) = check(k, &t, c, from.as_ref(), ms).await?;
            Ok(Output {
                text,
                json,
                code: if failed == 0 { 0 } else { 1 },
            })
        }
        TopoCmd::Destroy(name, _) => {
            // by name (no file): a name that is neither applied nor owns
            // anything is a typo, said as such
            // (an agent's destroy of its part stays quiet: its coordinator
            // asks every machine, whatever each has)
            let known =
                !file.is_empty() || name.machine().is_some() || lab::registered().contains(&name);
            let p = lab::destroy(k, &name).await?;
            if p.is_empty() && !known {
                let labs: Vec<String> = lab::registered().iter().map(|o| o.to_string()).collect();
                return Err(CliError::NotFound(format!(
                    "no lab {name}: nothing is applied or owned under that name ({})",
                    if labs.is_empty() {
                        "no lab is applied".to_string()
                    } else {
                        format!("applied: {}", labs.join(", "))
                    }
                )));
            }
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
        TopoCmd::Gc(dry_run) => {
            let (dead, p) = lab::gc(k, dry_run).await?;
            let verb = if dry_run { "would remove" } else { "removed" };
            let mut text = if dead.is_empty() && p.is_empty() {
                "gc: no leftovers".into()
            } else {
                format!(
                    "gc: {verb} leftovers of {} ({} steps here)",
                    join(&dead),
                    p.steps.len()
                )
            };
            if !p.is_empty() {
                text.push('\n');
                text.push_str(&steps_text(&p));
            }
            let mut json = plan_json("gc", None, &p, ms());
            json["removed_owners"] = json!(dead);
            json["dry_run"] = json!(dry_run);
            Ok(Output {
                text,
                json,
                code: 0,
            })
        }
    }
}

/// The topology a lab was applied from, when its file is still readable
/// (how `destroy --name` finds a lab's machines).
fn registered_topology(name: &Owner) -> Option<Topology> {
    let file = crate::lab::registered_file(name)?;
    crate::lab::topology::load(std::path::Path::new(&file)).ok()
}

/// What a destroy could not reach, and what may remain there; without
/// `--forget` how to finish.
fn unreached_text(lab: &Owner, parts: &[crate::lab::spread::Unreached], forgotten: bool) -> String {
    let mut text = String::new();
    for u in parts {
        text.push_str(&format!("\n  not reached: {}: {}", u.part, u.error));
        let verb = if forgotten { "may remain" } else { "remains" };
        text.push_str(&format!("\n    {verb} {}", u.may_remain));
    }
    if forgotten {
        text.push_str(&format!(
            "\n{lab}: forgotten (--forget): what was reached is removed, the rest is no longer recorded"
        ));
    } else {
        text.push_str(&format!(
            "\n{lab}: still recorded: `swctl destroy --name {lab}` again once they answer, or add --forget to drop what cannot be reached"
        ));
    }
    text
}

/// `apply`, `plan`, `status`, `destroy` of a lab over machines.
async fn run_spread(
    k: &System,
    cmd: TopoCmd,
    t: &Topology,
    file: &str,
    ms: impl Fn() -> f64,
    events: &lab::events::Events,
) -> Result<Output, CliError> {
    use crate::lab::spread;
    if let TopoCmd::Check(c, None) = &cmd {
        return spread_check(t, c, ms).await;
    }
    let mut unreached = None;
    let (verb, res) = match &cmd {
        TopoCmd::Apply(..) => ("apply", spread::apply(k, &t.desired, file, events).await?),
        TopoCmd::Status => ("status", spread::status(k, &t.desired).await?),
        TopoCmd::Destroy(_, forget) => {
            let d = spread::destroy(k, &t.desired, *forget).await?;
            unreached = Some((d.unreached, d.forgotten));
            ("destroy", (d.local, d.runs))
        }
        _ => ("plan", spread::plan(k, &t.desired).await?),
    };
    let (local, runs) = res;
    let changes = |v: &serde_json::Value| v["changes"].as_u64().unwrap_or(0) as usize;
    let total = local.steps.len() + runs.iter().map(|r| changes(&r.output)).sum::<usize>();
    let in_sync = local.is_empty() && runs.iter().all(|r| r.output["in_sync"] != false);
    let mut text = match verb {
        "status" => format!("{}: {}", t.name, if in_sync { "in sync" } else { "drift" }),
        _ => changes_line(t.name.as_str(), total, ms()),
    };
    // what drifted, where: the underlay here, then each machine's own list
    let lines = |v: &serde_json::Value, kind: &str| -> Vec<String> {
        v["drift"][kind]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    };
    let here = lab::drift::drift(&local);
    if verb == "status" {
        let state = if here.in_sync { "in sync" } else { "drift" };
        text.push_str(&format!("\n  here (underlay): {state}"));
        for (kind, v) in [
            ("missing", &here.missing),
            ("differs", &here.differs),
            ("leaked", &here.leaked),
        ] {
            for x in v {
                text.push_str(&format!("\n    {kind:<8} {x}"));
            }
        }
    } else {
        let n = local.steps.len();
        text.push_str(&format!("\n  here (underlay): {n} changes"));
    }
    for r in &runs {
        let what = match verb {
            "status" if r.output["in_sync"] == false => "drift".to_string(),
            "status" => "in sync".to_string(),
            _ => format!("{} changes", changes(&r.output)),
        };
        // an agent that started its machine's Open vSwitch again says so
        let restarted: Vec<&str> = r.output["restarted"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str())
            .collect();
        let what = if restarted.is_empty() {
            what
        } else {
            format!("{what} (restarted {})", restarted.join(", "))
        };
        text.push_str(&format!("\n  {}: {what}", r.machine));
        if let Some(m) = r.output["missing"].as_str() {
            text.push_str(&format!("\n    missing  {m}"));
        }
        for kind in ["missing", "differs", "leaked"] {
            for x in lines(&r.output, kind) {
                text.push_str(&format!("\n    {kind:<8} {x}"));
            }
        }
    }
    if verb == "status" && !in_sync {
        text.push_str(&format!("\nrepair: swctl apply {file}"));
    }
    let mut json = plan_json(verb, Some(&t.name), &local, ms());
    json["changes"] = json!(total);
    json["machines"] = json!(runs);
    if verb == "status" {
        json["in_sync"] = json!(in_sync);
    }
    let mut code = if verb == "status" && !in_sync { 3 } else { 0 };
    if let Some((parts, forgotten)) = unreached.filter(|(p, _)| !p.is_empty()) {
        text.push_str(&unreached_text(&t.name, &parts, forgotten));
        json["unreached"] = json!(parts);
        json["forgotten"] = json!(forgotten);
        // not reached and not let go: the lab is not gone (exit 1)
        if !forgotten {
            code = 1;
        }
    }
    if let TopoCmd::Apply(Some(c), _) = &cmd {
        let chk = spread_check(t, c, &ms).await?;
        text.push('\n');
        text.push_str(&chk.text);
        json["check"] = chk.json;
        code = chk.code;
    }
    Ok(Output { text, json, code })
}

/// The file of a request's lab (its `file`, an applied lab's `name`, an
/// inline `topology`).
fn source(
    file: &Option<String>,
    name: &Option<String>,
    topology: Option<&serde_json::Value>,
) -> Result<String, CliError> {
    lab::request::lab::resolve(file.as_deref(), name.as_deref(), topology)
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// The topology command `cmd` names, with its file validated; None for the
/// others.
pub(super) fn job(cmd: &Cmd) -> Result<Option<Job>, CliError> {
    Ok(Some(match cmd {
        Cmd::Plan(r) => {
            let file = source(&r.file, &r.name, r.topology.as_ref())?;
            Job::Topo(
                TopoCmd::Plan,
                Some(Box::new(load_part(&file, r.machine.as_deref())?)),
                file,
            )
        }
        Cmd::Apply(r) => {
            let c = check_args(r.timeout, r.full)?;
            let file = source(&r.file, &r.name, r.topology.as_ref())?;
            Job::Topo(
                TopoCmd::Apply(r.check.then_some(c), r.adopt),
                Some(Box::new(load_part(&file, r.machine.as_deref())?)),
                file,
            )
        }
        Cmd::Status(r) => {
            let file = source(&r.file, &r.name, None)?;
            Job::Topo(
                TopoCmd::Status,
                Some(Box::new(load_part(&file, r.machine.as_deref())?)),
                file,
            )
        }
        Cmd::Check(r) => {
            let file = source(&r.file, &r.name, None)?;
            Job::Topo(
                TopoCmd::Check(
                    check_args(r.timeout, r.full)?,
                    r.machine.as_deref().map(str::parse).transpose()?,
                ),
                Some(Box::new(load(&file)?)),
                file,
            )
        }
        Cmd::Destroy(r) => match (&r.file, &r.name) {
            (Some(f), None) => {
                let t = load(f)?;
                Job::Topo(
                    TopoCmd::Destroy(t.name.clone(), r.forget),
                    Some(Box::new(t)),
                    f.clone(),
                )
            }
            (None, Some(n)) => {
                Job::Topo(TopoCmd::Destroy(n.parse()?, r.forget), None, String::new())
            }
            _ => {
                return Err(CliError::Usage(
                    "destroy needs a topology FILE or --name NAME".into(),
                ));
            }
        },
        Cmd::Gc { dry_run } => Job::Topo(TopoCmd::Gc(*dry_run), None, String::new()),
        _ => return Ok(None),
    }))
}

fn check_args(timeout: f64, full: bool) -> Result<CheckArgs, CliError> {
    if !(timeout > 0.0 && timeout <= 600.0) {
        return Err(CliError::Usage(
            "--timeout must be between 0 and 600 seconds".into(),
        ));
    }
    Ok(CheckArgs { timeout, full })
}
