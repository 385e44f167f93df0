//! The topology commands' face: `plan`, `apply`, `status`, `check`,
//! `destroy`, `gc` parsed into the use case's job (`lab::topo`), its
//! typed report rendered as the CLI prints it (text, and the JSON the API
//! answers with).

use super::args::Cmd;
use super::checks::check_text;
use super::render::{changes_line, join, steps_text};
use super::{CliError, Job, Output};
use crate::lab::spread::Unreached;
use crate::lab::topo::{LabReport, TopoError, TopoJob, TopoReport, Verb};

/// The topology command `cmd` names, with its file validated; None for the
/// others.
pub(super) fn job(cmd: &Cmd) -> Result<Option<Job>, CliError> {
    let j = match cmd {
        Cmd::Plan(r) => TopoJob::plan(r)?,
        Cmd::Apply(r) => TopoJob::apply(r)?,
        Cmd::Status(r) => TopoJob::status(r)?,
        Cmd::Check(r) => TopoJob::check(r)?,
        Cmd::Destroy(r) => TopoJob::destroy(r)?,
        Cmd::Gc(r) => TopoJob::gc(r),
        _ => return Ok(None),
    };
    Ok(Some(Job::Topo(Box::new(j))))
}

/// A topology command's report as the CLI prints it.
pub(super) fn render(r: &TopoReport) -> Output {
    let text = match r {
        TopoReport::Lab(r) if r.machines.is_some() => spread_text(r),
        TopoReport::Lab(r) => lab_text(r),
        TopoReport::Check(c) => check_text(c),
    };
    let text = match r {
        TopoReport::Lab(l) if !l.restarted.is_empty() => {
            format!("restarted {}\n{text}", l.restarted.join(", "))
        }
        _ => text,
    };
    Output {
        text,
        json: serde_json::to_value(r).unwrap_or_default(),
        code: r.exit_code(),
    }
}

fn name(r: &LabReport) -> String {
    r.topology.as_ref().map_or(String::new(), |t| t.to_string())
}

/// The drift's findings, one line each, indented by `indent`.
fn drift_lines(text: &mut String, d: &crate::lab::drift::Drift, indent: &str) {
    for (what, v) in [
        ("missing", &d.missing),
        ("differs", &d.differs),
        ("leaked", &d.leaked),
    ] {
        for x in v {
            text.push_str(&format!("\n{indent}{what:<8} {x}"));
        }
    }
}

fn lab_text(r: &LabReport) -> String {
    let p = &r.plan.0;
    let name = name(r);
    let mut text = match r.command {
        Verb::Plan if p.is_empty() => format!("{name}: nothing to change"),
        Verb::Plan => format!("{name}: {} steps\n{}", p.steps.len(), steps_text(p)),
        Verb::Apply => {
            let line = changes_line(&name, p.steps.len(), r.elapsed_ms);
            match r.adopted {
                Some(n) => format!(
                    "{name}: took over {n} marks of objects made by imperative commands\n{line}"
                ),
                None => line,
            }
        }
        Verb::Status => {
            let in_sync = r.in_sync.unwrap_or(true);
            let mut text = format!("{name}: {}", if in_sync { "in sync" } else { "drift" });
            if let Some(d) = &r.drift {
                drift_lines(&mut text, d, "  ");
            }
            for (sw, cs) in &r.controllers {
                for c in cs {
                    let state = if c.is_connected {
                        "connected"
                    } else {
                        "not connected"
                    };
                    text.push_str(&format!("\n  controller  {} of {sw}: {state}", c.target));
                }
            }
            for (dev, q) in &r.foreign_qdiscs {
                text.push_str(&format!(
                    "\n  foreign  qdisc {q} on {dev}, not swctl's (the file impairs nothing there; left alone)"
                ));
            }
            for (sw, fs) in &r.foreign_flows {
                text.push_str(&format!(
                    "\n  foreign  {} flow{} on {sw} not the lab's (a controller's or added by hand; left alone): {}",
                    fs.len(),
                    if fs.len() == 1 { "" } else { "s" },
                    fs.iter().take(3).cloned().collect::<Vec<_>>().join(" | ")
                ));
            }
            // the fix apart from the findings: one command, its steps in plan
            if !p.is_empty() {
                let f = if r.file.is_empty() { "FILE" } else { &r.file };
                text.push_str(&format!(
                    "\nrepair: swctl apply {f}  ({} steps; `swctl plan {f}` lists them)",
                    p.steps.len()
                ));
            }
            text
        }
        Verb::Destroy if p.is_empty() => format!("{name}: nothing to remove"),
        Verb::Destroy => changes_line(&name, p.steps.len(), r.elapsed_ms),
        Verb::Gc => {
            let dead = r.removed_owners.clone().unwrap_or_default();
            let verb = if r.dry_run == Some(true) {
                "would remove"
            } else {
                "removed"
            };
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
                text.push_str(&steps_text(p));
            }
            text
        }
    };
    if let Some(c) = &r.check {
        text.push('\n');
        text.push_str(&check_text(c));
    }
    text
}

/// What a destroy could not reach, and what may remain there; without
/// `--forget` how to finish.
fn unreached_text(lab: &str, parts: &[Unreached], forgotten: bool) -> String {
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

/// A lab over machines: the underlay here, then each machine's part.
fn spread_text(r: &LabReport) -> String {
    let name = name(r);
    let status = r.command == Verb::Status;
    let in_sync = r.in_sync.unwrap_or(true);
    let mut text = if status {
        format!("{name}: {}", if in_sync { "in sync" } else { "drift" })
    } else {
        changes_line(&name, r.changes, r.elapsed_ms)
    };
    // what drifted, where: the underlay here, then each machine's own list
    match &r.drift {
        Some(here) if status => {
            let state = if here.in_sync { "in sync" } else { "drift" };
            text.push_str(&format!("\n  here (underlay): {state}"));
            drift_lines(&mut text, here, "    ");
        }
        _ => {
            let n = r.plan.0.steps.len();
            text.push_str(&format!("\n  here (underlay): {n} changes"));
        }
    }
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    };
    for m in r.machines.iter().flatten() {
        let out = &m.output;
        let what = match status {
            true if out["in_sync"] == false => "drift".to_string(),
            true => "in sync".to_string(),
            false => format!("{} changes", out["changes"].as_u64().unwrap_or(0)),
        };
        // an agent that started its machine's Open vSwitch again says so
        let restarted = strings(&out["restarted"]);
        let what = if restarted.is_empty() {
            what
        } else {
            format!("{what} (restarted {})", restarted.join(", "))
        };
        text.push_str(&format!("\n  {}: {what}", m.machine));
        if let Some(x) = out["missing"].as_str() {
            text.push_str(&format!("\n    missing  {x}"));
        }
        for kind in ["missing", "differs", "leaked"] {
            for x in strings(&out["drift"][kind]) {
                text.push_str(&format!("\n    {kind:<8} {x}"));
            }
        }
    }
    if status && !in_sync {
        text.push_str(&format!("\nrepair: swctl apply {}", r.file));
    }
    if let Some(parts) = &r.unreached {
        text.push_str(&unreached_text(&name, parts, r.forgotten == Some(true)));
    }
    if let Some(c) = &r.check {
        text.push('\n');
        text.push_str(&check_text(c));
    }
    text
}

/// A use case's error as the CLI's (the same exit codes and JSON as
/// before the use case moved out of the CLI).
impl From<TopoError> for CliError {
    fn from(e: TopoError) -> CliError {
        match e {
            TopoError::Invalid(e) => CliError::Invalid(e),
            TopoError::Usage(m) => CliError::Usage(m),
            TopoError::Topology(e) => CliError::Topology(e),
            e @ TopoError::NoLab { .. } => CliError::NotFound(e.to_string()),
            TopoError::Lab(e) => CliError::Lab(e),
            e @ (TopoError::NotInstalled { .. } | TopoError::Chassis(_)) => {
                CliError::Failed(e.to_string())
            }
            TopoError::Sandbox(e) => CliError::Sandbox(e),
            TopoError::Observe(e) => CliError::Observe(e),
        }
    }
}
