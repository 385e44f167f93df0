//! `lab.watch` for flows: each OVS bridge of the lab watched over OpenFlow
//! 1.4's flow monitor (`ovs-ofctl monitor BR watch:`), every flow added,
//! changed or removed in any table becoming a `{"event": "drift",
//! "object": "flow", ...}` with whose the flow is (the lab's by its
//! cookie, or foreign: a controller's, one added by hand). A bridge not
//! there yet, or gone, is tried again every half second.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::events::now_ms;
use crate::effect::openflow::OfSession;
use crate::model::names::Owner;
use crate::model::openflow::{FlowOwner, owner_of};
use crate::openflow::text::flow_text;

/// Watch bridge `br` on server `db` until `tx`'s receiver goes; `ready`
/// is said once the monitor is in place (or could not be at first).
pub async fn watch_flows(
    lab: Owner,
    db: String,
    br: String,
    tx: mpsc::Sender<Value>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let owners = [lab.clone()];
    let mut ready = Some(ready);
    let mut said_why: Option<String> = None;
    loop {
        if tx.is_closed() {
            return;
        }
        let session = async {
            let mut s = OfSession::connect(&db, &br).await?;
            s.monitor().await?;
            Ok::<_, crate::effect::openflow::OfError>(s)
        };
        let r = session.await;
        if let Some(x) = ready.take() {
            let _ = x.send(());
        }
        let mut s = match r {
            Ok(s) => s,
            Err(e) => {
                // said once: a bridge of the lab's not (yet) there, or one
                // that cannot be watched (OpenFlow 1.3 only)
                let why = e.to_string();
                if said_why.as_ref() != Some(&why) {
                    let ev = json!({"event": "watch_error", "lab": lab, "object": "flow",
                        "switch": br, "detail": why, "time_ms": now_ms()});
                    if tx.send(ev).await.is_err() {
                        return;
                    }
                    said_why = Some(why);
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    _ = tx.closed() => return,
                }
            }
        };
        said_why = None;
        loop {
            let ups = tokio::select! {
                u = s.updates() => u,
                _ = tx.closed() => return,
            };
            let Ok(ups) = ups else { break };
            for u in ups {
                let owner = match owner_of(u.flow.cookie, &owners) {
                    FlowOwner::Swctl(o) => o.to_string(),
                    FlowOwner::Unknown => "swctl".to_string(),
                    FlowOwner::Foreign => "foreign".to_string(),
                };
                let ev = json!({"event": "drift", "lab": lab, "object": "flow",
                    "change": u.event, "switch": br, "owner": owner,
                    "detail": flow_text(&u.flow, &|_| None), "time_ms": now_ms()});
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
        }
    }
}
