//! `swctl show`, `switch list`, `ns list`, `labs`: the use cases' reports
//! (`lab::show`) as the CLI prints them.

use serde::Serialize;
use serde_json::json;

use super::render::{join, port_line, switch_line};
use super::{CliError, Output};
use crate::lab::show::{Labs, Namespaces, Shown, Switches, mark_words, qdisc_words};

/// The JSON of a report (what the API answers).
fn output(text: String, report: &impl Serialize) -> Output {
    Output {
        text,
        json: serde_json::to_value(report).unwrap_or_default(),
        code: 0,
    }
}

pub(super) fn show(r: &Shown) -> Output {
    let mut text = String::new();
    for n in &r.namespaces {
        let owner = n.owner.as_deref().unwrap_or("-");
        text.push_str(&format!("namespace {} (owner {owner})\n", n.name));
        for l in &n.links {
            text.push_str(&format!(
                "  {:<15} {:<8} {:<4} {}{}{}\n",
                l.name,
                l.kind.as_deref().unwrap_or("-"),
                if l.up { "up" } else { "down" },
                join(&l.addrs),
                mark_words(l.mark.as_ref()),
                qdisc_words(l)
            ));
        }
        for rt in &n.routes {
            if let Some(via) = rt.via {
                text.push_str(&format!("  route {} via {via}\n", rt.dest));
            }
        }
    }
    for s in &r.switches {
        text.push_str(&format!("switch {}\n", switch_line(s)));
        for p in &s.ports {
            text.push_str(&format!("  {}\n", port_line(p)));
        }
        for m in &s.mirrors {
            text.push_str(&format!("  mirror {m}\n"));
        }
    }
    for l in &r.host_links {
        text.push_str(&format!(
            "host link {} {} {}{}\n",
            l.name,
            if l.up { "up" } else { "down" },
            join(&l.addrs),
            qdisc_words(l)
        ));
    }
    output(text.trim_end().to_string(), r)
}

pub(super) fn switch_list(r: &Switches) -> Output {
    let text = r
        .switches
        .iter()
        .map(switch_line)
        .collect::<Vec<_>>()
        .join("\n");
    output(text, r)
}

pub(super) fn ns_list(r: &Namespaces) -> Output {
    let lines: Vec<String> = r
        .namespaces
        .iter()
        .map(|n| match (&n.owner, n.adopted_from) {
            (Some(o), _) => format!("{}  (swctl, owner {o})", n.name),
            (None, Some(pid)) => format!("{}  (adopted from process {pid})", n.name),
            (None, None) => n.name.to_string(),
        })
        .collect();
    output(lines.join("\n"), r)
}

pub(super) fn labs(r: &Labs) -> Output {
    if r.labs.is_empty() {
        return output("no lab is applied".into(), r);
    }
    let w = r
        .labs
        .iter()
        .map(|l| l.name.as_str().len())
        .max()
        .unwrap_or(0)
        .max(3);
    let mut text = format!(
        "{:<w$}  {:>5}  {:>8}  {:>8}  {:<8}  FILE",
        "LAB", "HOSTS", "SWITCHES", "MACHINES", "STATE"
    );
    let n = |x: usize| match x {
        0 => "-".to_string(),
        x => x.to_string(),
    };
    for l in &r.labs {
        text.push_str(&format!(
            "\n{:<w$}  {:>5}  {:>8}  {:>8}  {:<8}  {}",
            l.name,
            n(l.hosts),
            n(l.switches),
            n(l.machines),
            l.state,
            l.file,
        ));
    }
    output(text, r)
}

/// Without root only the host's namespace is read: said after the output
/// (and as `"partial"` in the JSON).
pub(super) fn unprivileged_note(mut out: Output, root: bool) -> Output {
    if !root {
        let note = "(not root: only the host's namespace was read; what is inside the other namespaces, and their owners, needs root)";
        if !out.text.is_empty() {
            out.text.push('\n');
        }
        out.text.push_str(note);
        out.json["partial"] = json!(note);
    }
    out
}

impl From<crate::lab::show::NothingNamed> for CliError {
    fn from(e: crate::lab::show::NothingNamed) -> CliError {
        CliError::NotFound(e.to_string())
    }
}
