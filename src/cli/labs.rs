//! `swctl labs`: the applied labs (the records in /run/swctl/topologies),
//! each with its file, how many hosts, switches and machines it has, and
//! whether the system matches it (a `status` without the details: for a lab
//! over machines every machine's agent is asked). Without root the counts
//! are read and the state is unknown: looking inside namespaces needs root.

use serde_json::{Value, json};

use super::Output;
use crate::effect::system::System;
use crate::lab;

/// One lab's row.
async fn row(k: Option<&System>, name: &crate::model::names::Owner) -> Value {
    let file = lab::registered_file(name).unwrap_or_default();
    let t = match lab::topology::load(std::path::Path::new(&file)) {
        Ok(t) => t,
        Err(e) => {
            return json!({"name": name, "file": file, "in_sync": null,
                "state": format!("unknown: cannot read its file ({e})")});
        }
    };
    let d = &t.desired;
    let (in_sync, state) = match k {
        None => (None, "unknown: not root".to_string()),
        Some(k) if !d.machines.is_empty() => match lab::spread::status(k, d).await {
            Ok((local, runs)) => {
                let ok = local.is_empty() && runs.iter().all(|r| r.output["in_sync"] != false);
                (Some(ok), String::new())
            }
            Err(e) => (None, format!("unknown: {e}")),
        },
        Some(k) => match lab::plan_for(k, d).await {
            Ok((_, p)) => (Some(p.is_empty()), String::new()),
            Err(e) => (None, format!("unknown: {e}")),
        },
    };
    let state = match in_sync {
        Some(true) => "in sync".to_string(),
        Some(false) => "drift".to_string(),
        None => state,
    };
    json!({
        "name": name, "file": file, "hosts": d.namespaces.len(),
        "switches": d.switches.len(), "machines": d.machines.len(),
        "in_sync": in_sync, "state": state,
    })
}

/// Every applied lab; `k`: None without root.
pub(super) async fn labs(k: Option<&System>) -> Output {
    let mut rows = vec![];
    for name in lab::registered() {
        rows.push(row(k, &name).await);
    }
    let mut text = String::new();
    if rows.is_empty() {
        text.push_str("no lab is applied");
    } else {
        let w = rows
            .iter()
            .map(|r| r["name"].as_str().map_or(0, str::len))
            .max()
            .unwrap_or(0)
            .max(3);
        text.push_str(&format!(
            "{:<w$}  {:>5}  {:>8}  {:>8}  {:<8}  FILE",
            "LAB", "HOSTS", "SWITCHES", "MACHINES", "STATE"
        ));
        let n = |v: &Value| match v.as_u64() {
            Some(0) | None => "-".to_string(),
            Some(x) => x.to_string(),
        };
        for r in &rows {
            text.push_str(&format!(
                "\n{:<w$}  {:>5}  {:>8}  {:>8}  {:<8}  {}",
                r["name"].as_str().unwrap_or_default(),
                n(&r["hosts"]),
                n(&r["switches"]),
                n(&r["machines"]),
                r["state"].as_str().unwrap_or_default(),
                r["file"].as_str().unwrap_or_default(),
            ));
        }
    }
    Output {
        text,
        json: json!({"command": "labs", "labs": rows}),
        code: 0,
    }
}
