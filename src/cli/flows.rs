//! The rendering of `swctl flows`, `flow add`, `flow del` (the use cases
//! are `lab::flows`): one line per flow as `ovs-ofctl dump-flows` writes
//! it, with whose it is; and of `swctl impair` (`lab::impair`), one line
//! per end, the switches' other knob on a link.

use super::Output;
use crate::lab::flows::FlowReport;
use crate::lab::impair::ImpairReport;

pub(super) fn render(r: &FlowReport) -> Output {
    let json = serde_json::to_value(r).unwrap_or_default();
    let text = match r {
        FlowReport::List(l) => {
            let mut t = format!(
                "{} ({}): {} flow{}",
                l.switch,
                l.version,
                l.flows.len(),
                if l.flows.len() == 1 { "" } else { "s" }
            );
            for f in &l.flows {
                t.push_str(&format!(
                    "\n  cookie={}, table={}, n_packets={}, n_bytes={}, {}  [{}]",
                    f.cookie, f.table, f.n_packets, f.n_bytes, f.flow, f.owner
                ));
            }
            t
        }
        FlowReport::Changed(c) => format!(
            "{} {}: {} in {:.1} ms (cookie {})",
            c.command,
            c.switch,
            c.flow
                .as_deref()
                .unwrap_or("every flow of swctl's `flow add`"),
            c.ms,
            c.cookie
        ),
    };
    Output {
        text,
        json,
        code: 0,
    }
}

pub(super) fn render_impair(r: &ImpairReport) -> Output {
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
