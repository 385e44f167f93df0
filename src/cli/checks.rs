//! `check` and `apply --check`: probing a lab with real packets (the
//! probes planned by `lab::check`, or for a lab over machines by every
//! machine's agent) and the table of what answered.

use serde_json::json;

use super::args::CheckArgs;
use super::render::table;
use super::{CliError, Output};
use crate::effect::system::System;
use crate::lab;
use crate::lab::topology::Topology;

/// `check` of a lab over machines: the agents' pairs, merged.
pub(super) async fn spread_check(
    t: &Topology,
    c: &CheckArgs,
    ms: impl Fn() -> f64,
) -> Result<Output, CliError> {
    let (pairs, failed, runs) = lab::spread::check(&t.desired, c.timeout, c.full).await?;
    let mut rows = vec![];
    for p in pairs
        .iter()
        .filter(|p| p["ok"] == false || pairs.len() <= 40)
    {
        let result = match (p["ok"] == true, p["rtt_ms"].as_f64()) {
            (true, Some(ms)) => format!("ok {ms:.2} ms"),
            (true, None) => "ok".to_string(),
            _ => format!("FAIL {}", p["error"].as_str().unwrap_or("")),
        };
        let s = |k: &str| p[k].as_str().unwrap_or("").to_string();
        rows.push(vec![
            s("from"),
            format!("{} ({})", s("to"), s("owner")),
            s("why"),
            result,
        ]);
    }
    let mut text = if rows.is_empty() {
        String::new()
    } else {
        table(&["from", "to", "because", "result"], &rows) + "\n"
    };
    for r in &runs {
        text.push_str(&format!(
            "  {}: {} probes from its hosts, {} failed\n",
            r.machine,
            r.output["pairs"].as_array().map_or(0, |a| a.len()),
            r.output["failed"].as_u64().unwrap_or(0)
        ));
    }
    text.push_str(&format!(
        "{}: {} probes on {} machines, {failed} failed, {:.0} ms",
        t.name,
        pairs.len(),
        runs.len(),
        ms()
    ));
    let json = json!({
        "command": "check",
        "topology": t.name,
        "pairs": pairs,
        "failed": failed,
        "machines": runs,
        "elapsed_ms": ms(),
    });
    Ok(Output {
        text,
        json,
        code: if failed == 0 { 0 } else { 1 },
    })
}

/// Probe the lab; the text, the JSON and the number of failures.
pub(super) async fn check(
    k: &System,
    t: &Topology,
    c: CheckArgs,
    from: Option<&std::collections::BTreeSet<crate::model::names::NsName>>,
    ms: impl Fn() -> f64,
) -> Result<(String, serde_json::Value, usize), CliError> {
    let mut limit = lab::check::neighbour_limit();
    let mut plan = lab::check::plan_check(&t.desired, c.full, limit);
    if let Some(hosts) = from {
        // the kernel's neighbour table is one for the whole box: the agents
        // of the machines simulated here (probing at once) share it
        // (seen: 20 machines' agents, each within its own budget,
        // overflowed it together — "neighbor table overflow!" — and lost
        // 60-80 % of their probes)
        limit /= lab::machines::sharing_this_box(&t.desired).max(1);
        plan = plan.only_from(hosts, limit);
    }
    let res = lab::check::run(k, &plan, std::time::Duration::from_secs_f64(c.timeout))
        .await
        .map_err(|e| CliError::Observe(e.into()))?;
    let failed = res.iter().filter(|r| !r.ok).count();
    // every probe when few, else the failures only
    let shown: Vec<_> = res.iter().filter(|r| res.len() <= 40 || !r.ok).collect();
    let mut rows = vec![];
    for r in &shown {
        let to = format!("{} ({})", r.probe.to, r.probe.owner);
        let expect = match r.probe.expect {
            lab::check::Expect::Reach => "reach",
            lab::check::Expect::Isolated => "isolated",
        };
        let again = if r.retried { " (2nd try)" } else { "" };
        let result = match (r.ok, &r.rtt_ms, &r.error) {
            (true, Some(ms), _) => format!("ok {ms:.2} ms{again}"),
            (true, None, _) => "ok (no answer)".into(),
            (false, _, Some(e)) => format!("FAIL {e}{again}"),
            (false, _, None) => "FAIL".into(),
        };
        rows.push(vec![
            r.probe.from.to_string(),
            to,
            r.probe.why.to_string(),
            expect.to_string(),
            result,
        ]);
    }
    let mut text = if rows.is_empty() {
        String::new()
    } else {
        table(&["from", "to", "because", "expect", "result"], &rows)
    };
    if !plan.impossible.is_empty() {
        text.push_str(&format!(
            "\ncannot work by design ({} pair{}; one shown per pair of segments):",
            plan.impossible_total,
            if plan.impossible_total == 1 { "" } else { "s" }
        ));
        for i in &plan.impossible {
            text.push_str(&format!(
                "\n  {} -> {} ({}) by {}: {}",
                i.from, i.to, i.owner, i.why, i.because
            ));
        }
    }
    if let Some(r) = &plan.reduced {
        text.push_str(&format!("\nnote: {r}"));
    }
    let isolated = res
        .iter()
        .filter(|r| r.probe.expect == lab::check::Expect::Isolated)
        .count();
    text.push_str(&format!(
        "\n{}: {} probes ({} must reach, {isolated} isolated) in {} wave{}, {failed} failed, {:.0} ms",
        t.name,
        res.len(),
        res.len() - isolated,
        plan.waves.len(),
        if plan.waves.len() == 1 { "" } else { "s" },
        ms()
    ));
    let json = json!({
        "command": "check",
        "topology": t.name,
        "pairs": res,
        "failed": failed,
        "waves": plan.waves.len(),
        "impossible": plan.impossible,
        "impossible_total": plan.impossible_total,
        "reduced": plan.reduced,
        "elapsed_ms": ms(),
    });
    Ok((text.trim_start_matches('\n').to_string(), json, failed))
}
