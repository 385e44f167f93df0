//! What commands print: `Output` (text for people, JSON for scripts, an
//! exit code), and the one vocabulary every command's output shares:
//!
//! - a command that plans or changes prints `{"command", "changes",
//!   "steps", "wiring", "elapsed_ms"}` (plus `"topology"` for a topology);
//!   `changes` is the number of steps (applied, or that would be for
//!   `plan`/`status`), each step an object: `{"op": ..., its fields,
//!   "command": "the ip/ovs-vsctl equivalent"}`;
//! - an error is `{"error", "causes", "exit_code"}`, plus `"problems"`
//!   (`[{path, message, line, column}]`) for a bad topology file and
//!   `"failures"` (`[{step, error}]`) for steps that failed.

use serde_json::{Value, json};

use crate::model::names::Owner;
use crate::model::{Key, Via};
use crate::plan::{Plan, Step, SwitchInfo, Wiring};

/// One step as JSON: its data and its `ip`/`ovs-vsctl` text.
pub(super) fn step_json(s: &Step) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_else(|_| json!({}));
    v["command"] = json!(s.to_string());
    v
}

/// The JSON of a command that planned (and maybe applied) `p`.
pub(super) fn plan_json(command: &str, topology: Option<&Owner>, p: &Plan, ms: f64) -> Value {
    let mut v = json!({
        "command": command,
        "changes": p.steps.len(),
        "steps": p.steps.iter().map(step_json).collect::<Vec<_>>(),
        "wiring": p.wiring,
        "elapsed_ms": (ms * 1000.0).round() / 1000.0,
    });
    if let Some(t) = topology {
        v["topology"] = json!(t);
    }
    v
}

/// "N changes in X ms", or "nothing to change".
pub(super) fn changes_line(what: &str, n: usize, ms: f64) -> String {
    if n == 0 {
        format!("{what}: nothing to change")
    } else {
        format!(
            "{what}: {n} change{} in {ms:.1} ms",
            if n == 1 { "" } else { "s" }
        )
    }
}

/// What a command prints: text for people, a JSON value for scripts.
pub struct Output {
    pub text: String,
    pub json: serde_json::Value,
    /// exit code of a command that ran but reports a negative result
    /// (`status`: 3 on drift; `check`: 1 when a pair fails)
    pub code: i32,
}

pub(super) fn change_output(what: &str, p: &Plan, ms: f64) -> Output {
    let mut text = String::new();
    for w in &p.wiring {
        text.push_str(&wiring_line(w));
        text.push('\n');
    }
    text.push_str(&changes_line(what, p.steps.len(), ms));
    Output {
        text,
        json: plan_json(what, None, p, ms),
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
        // S3: both ends in one namespace, on purpose or by a typo: said
        _ if w.a_loc == w.b_loc => format!(
            "link via {via}: {} <-> {}, both in {}: a pair looped in one namespace (accept_local=1 and rp_filter=0 on both, so they answer each other)",
            w.a_dev, w.b_dev, w.a_loc
        ),
        _ => format!(
            "link via {via}: {} (in {}) <-> {} (in {})",
            w.a_dev, w.a_loc, w.b_dev, w.b_loc
        ),
    }
}

pub(super) fn switch_line(s: &SwitchInfo) -> String {
    let addrs = join(&s.addrs);
    // an OVS bridge forwards whatever its own interface's state: that
    // state is said only when the interface carries addresses
    let state = match (&s.datapath, s.up) {
        (Some(_), _) if addrs.is_empty() => String::new(),
        (Some(_), true) => " iface up".into(),
        (Some(_), false) => " iface down".into(),
        (None, true) => " up".into(),
        (None, false) => " down".into(),
    };
    // the OpenFlow side, when it is not the learning switch swctl makes
    let mut of = String::new();
    if let Some(o) = &s.openflow {
        if o.fail_mode != crate::model::openflow::FailMode::Standalone {
            of.push_str(&format!(" fail_mode={}", o.fail_mode.as_str()));
        }
        if !o.protocols.is_empty() {
            of.push_str(&format!(" protocols={}", o.protocols.join(",")));
        }
        for c in &o.controllers {
            let state = if c.is_connected {
                "connected"
            } else {
                "not connected"
            };
            of.push_str(&format!(" controller={} ({state})", c.target));
        }
    }
    format!(
        "{}  backend={}{}{of} in={} owner={}{} ports={}{}",
        s.name,
        s.backend,
        s.datapath
            .as_ref()
            .map_or(String::new(), |d| format!(" datapath={d}")),
        s.loc,
        s.owner.as_ref().map_or("-".to_string(), |o| o.to_string()),
        state,
        s.ports.len(),
        if addrs.is_empty() {
            String::new()
        } else {
            format!(" addr {addrs}")
        }
    )
}

/// A port of a switch, for `show`: its device, where it leads, its wiring
/// and VLAN.
pub(super) fn port_line(p: &crate::plan::switch::PortInfo) -> String {
    let to = match (&p.ns, &p.trunk) {
        (Some(n), _) => n.to_string(),
        (None, Some(t)) => format!("switch {t}"),
        (None, None) => "-".into(),
    };
    format!(
        "port {} -> {to}  {}{}",
        p.dev,
        p.wiring,
        p.vlan.map_or(String::new(), |v| format!(" vlan {v}"))
    )
}

pub(super) use crate::model::names::join_words as join;

pub(super) fn steps_text(p: &Plan) -> String {
    p.steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{:>4}. {s}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Rows under a header, each column as wide as its widest cell (the last
/// one unpadded).
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        l.trim_end().to_string()
    };
    let mut out = vec![line(header.to_vec())];
    for r in rows {
        out.push(line(r.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}
