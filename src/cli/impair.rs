//! The rendering of `swctl impair` (the use case is `lab::impair`): one
//! line per end with what it has after the command.

use super::Output;
use crate::lab::impair::ImpairReport;

pub(super) fn render(r: &ImpairReport) -> Output {
    let json = serde_json::to_value(r).unwrap_or_default();
    let mut text = if !r.asked {
        format!("impair {}:", r.target)
    } else if r.changes == 0 {
        format!("impair {}: nothing to change", r.target)
    } else {
        format!(
            "impair {}: {} change{} in {:.1} ms",
            r.target,
            r.changes,
            if r.changes == 1 { "" } else { "s" },
            r.ms
        )
    };
    for e in &r.ends {
        text.push_str(&format!("\n  {} ({}): {}", e.dev, e.loc, e.impair));
    }
    Output {
        text,
        json,
        code: 0,
    }
}
