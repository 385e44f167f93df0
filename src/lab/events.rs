//! The progress of the applies and destroys this process runs, for whoever
//! listens in it (`swctl serve`'s `lab.watch` relays it to its clients): a
//! process-wide broadcast channel. With nobody listening (a CLI run) an
//! event costs a check and is dropped.

use std::sync::OnceLock;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::model::names::Owner;

/// One event of a lab: the lab (a machine's part reports as its lab) and
/// what happened, as JSON (`{"event": "apply", "phase": ...}`).
#[derive(Debug, Clone)]
pub struct LabEvent {
    pub lab: String,
    pub body: Value,
}

fn channel() -> &'static broadcast::Sender<LabEvent> {
    static C: OnceLock<broadcast::Sender<LabEvent>> = OnceLock::new();
    C.get_or_init(|| broadcast::channel(4096).0)
}

/// Hear the events from now on.
pub fn subscribe() -> broadcast::Receiver<LabEvent> {
    channel().subscribe()
}

/// Tell the listeners, if any.
pub fn emit(lab: &Owner, body: Value) {
    let c = channel();
    if c.receiver_count() > 0 {
        let _ = c.send(LabEvent {
            lab: lab.lab().to_string(),
            body,
        });
    }
}
