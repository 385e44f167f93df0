//! The rendering of `swctl flows`, `flow add`, `flow del` (the use cases
//! are `lab::flows`): one line per flow as `ovs-ofctl dump-flows` writes
//! it, with whose it is.

use super::Output;
use crate::lab::flows::FlowReport;

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
