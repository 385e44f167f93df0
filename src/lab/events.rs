//! The progress of the applies and destroys a caller runs, for whoever
//! listens (`swctl serve`'s `lab.watch` relays it to its clients): a handle
//! the caller passes in (`Events`), a broadcast channel it owns. The CLI
//! passes `Events::none()`: an event then costs a check and is dropped.

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

/// Where a run's events go: nowhere, or a channel its owner listens on.
#[derive(Debug, Clone, Default)]
pub struct Events(Option<broadcast::Sender<LabEvent>>);

impl Events {
    /// Events nobody hears (a CLI run).
    pub fn none() -> Events {
        Events(None)
    }

    /// A channel of events (a server's: every run it makes reports here).
    pub fn channel() -> Events {
        Events(Some(broadcast::channel(4096).0))
    }

    /// Hear the events from now on (none ever, for `Events::none()`).
    pub fn subscribe(&self) -> broadcast::Receiver<LabEvent> {
        match &self.0 {
            Some(c) => c.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Tell the listeners, if any.
    pub fn emit(&self, lab: &Owner, body: Value) {
        if let Some(c) = &self.0
            && c.receiver_count() > 0
        {
            let _ = c.send(LabEvent {
                lab: lab.lab().to_string(),
                body,
            });
        }
    }
}

/// Milliseconds since the epoch, for an event's `time_ms`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_reach_only_the_listeners_of_their_channel() {
        let lab: Owner = "l1".parse().unwrap();
        let a = Events::channel();
        let b = Events::channel();
        let mut ra = a.subscribe();
        let mut rb = b.subscribe();
        a.emit(&lab, json!({"event": "apply"}));
        assert_eq!(ra.try_recv().unwrap().lab, "l1");
        assert!(rb.try_recv().is_err(), "another channel hears nothing");
        Events::none().emit(&lab, json!({}));
        assert!(Events::none().subscribe().try_recv().is_err());
    }
}
