//! What commands print: `Output` (text for people, JSON for scripts, an
//! exit code), and the shared pieces of both: steps, wiring lines, switch
//! lines.

use serde_json::json;

use crate::model::{Key, Via};
use crate::plan::{Plan, SwitchInfo, Wiring};

/// What a command prints: text for people, a JSON value for scripts.
pub struct Output {
    pub text: String,
    pub json: serde_json::Value,
    /// exit code of a command that ran but reports a negative result
    /// (`status`: 3 on drift; `check`: 1 when a pair fails)
    pub code: i32,
}

pub(super) fn change_output(what: &str, p: &Plan, n: usize, ms: f64) -> Output {
    let mut text = String::new();
    for w in &p.wiring {
        text.push_str(&wiring_line(w));
        text.push('\n');
    }
    if n == 0 {
        text.push_str(&format!("{what}: nothing to change"));
    } else {
        text.push_str(&format!(
            "{what}: {n} change{} in {ms:.1} ms",
            if n == 1 { "" } else { "s" }
        ));
    }
    Output {
        text,
        json: json!({
            "command": what,
            "changes": n,
            "steps": p.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "wiring": p.wiring,
            "elapsed_ms": ms,
        }),
        code: 0,
    }
}

pub(super) fn wiring_line(w: &Wiring) -> String {
    let via = match w.via {
        Via::Veth => "veth",
        Via::Internal => "internal port",
        Via::Auto => "auto",
    };
    match &w.key {
        Key::Port { ns, switch } => format!(
            "{ns} attached to {switch} via {via}: {} ({}, port of {switch}) <-> {} (in {ns})",
            w.a_dev, w.a_loc, w.b_dev
        ),
        _ => format!(
            "link via {via}: {} (in {}) <-> {} (in {})",
            w.a_dev, w.a_loc, w.b_dev, w.b_loc
        ),
    }
}

pub(super) fn switch_line(s: &SwitchInfo) -> String {
    let addrs = join(&s.addrs);
    format!(
        "{}  backend={} in={} owner={} {} ports={}{}",
        s.name,
        s.backend,
        s.loc,
        s.owner.as_ref().map_or("-".to_string(), |o| o.to_string()),
        if s.up { "up" } else { "down" },
        s.ports.len(),
        if addrs.is_empty() {
            String::new()
        } else {
            format!(" addr {addrs}")
        }
    )
}

pub(super) fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn steps_text(p: &Plan) -> String {
    p.steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{:>4}. {s}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}
