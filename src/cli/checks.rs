//! `check` and `apply --check` as the CLI prints them: the table of what
//! answered (every probe when few, else the failures), what cannot work
//! by design, and a summary line.

use super::render::table;
use crate::lab::check::Expect;
use crate::lab::topo::CheckReport;
use crate::lab::topo::report::{Probed, ProbedOnMachines};

pub(super) fn check_text(c: &CheckReport) -> String {
    match c {
        CheckReport::Here(p) => here_text(p),
        CheckReport::Machines(p) => machines_text(p),
    }
}

/// A lab over machines: the agents' pairs, merged.
fn machines_text(c: &ProbedOnMachines) -> String {
    let pairs = &c.pairs;
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
    for r in &c.machines {
        text.push_str(&format!(
            "  {}: {} probes from its hosts, {} failed\n",
            r.machine,
            r.output["pairs"].as_array().map_or(0, |a| a.len()),
            r.output["failed"].as_u64().unwrap_or(0)
        ));
    }
    text.push_str(&format!(
        "{}: {} probes on {} machines, {} failed, {:.0} ms",
        c.topology,
        pairs.len(),
        c.machines.len(),
        c.failed,
        c.elapsed_ms
    ));
    text
}

/// The probes run from here.
fn here_text(c: &Probed) -> String {
    let res = &c.pairs;
    // every probe when few, else the failures only
    let shown: Vec<_> = res.iter().filter(|r| res.len() <= 40 || !r.ok).collect();
    let mut rows = vec![];
    for r in &shown {
        let to = format!("{} ({})", r.probe.to, r.probe.owner);
        let expect = match r.probe.expect {
            Expect::Reach => "reach",
            Expect::Isolated => "isolated",
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
    if !c.impossible.is_empty() {
        text.push_str(&format!(
            "\ncannot work by design ({} pair{}; one shown per pair of segments):",
            c.impossible_total,
            if c.impossible_total == 1 { "" } else { "s" }
        ));
        for i in &c.impossible {
            text.push_str(&format!(
                "\n  {} -> {} ({}) by {}: {}",
                i.from, i.to, i.owner, i.why, i.because
            ));
        }
    }
    if let Some(r) = &c.reduced {
        text.push_str(&format!("\nnote: {r}"));
    }
    if c.unpromised > 0 {
        text.push_str(&format!(
            "\nnot checked: {} pair{} whose way crosses a switch OpenFlow programs ({}: flows, a controller or fail_mode secure decide what it forwards)",
            c.unpromised,
            if c.unpromised == 1 { "" } else { "s" },
            c.programmed.join(", ")
        ));
    }
    let isolated = res
        .iter()
        .filter(|r| r.probe.expect == Expect::Isolated)
        .count();
    text.push_str(&format!(
        "\n{}: {} probes ({} must reach, {isolated} isolated) in {} wave{}, {} failed, {:.0} ms",
        c.topology,
        res.len(),
        res.len() - isolated,
        c.waves,
        if c.waves == 1 { "" } else { "s" },
        c.failed,
        c.elapsed_ms
    ));
    text.trim_start_matches('\n').to_string()
}
