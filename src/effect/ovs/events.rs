//! `ovsdb-client monitor DB Bridge,Port,Interface`: the changes one OVSDB
//! server announces about bridges, ports and interfaces, as `OvsEvent`s
//! (added, removed, changed), each with the swctl owner of the row (a port's
//! `external_ids:swctl-owner`; an interface's is its port's).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::model::ovs::K_OWNER;
use crate::ovsdb::ops::Row;
use crate::ovsdb::{Client, OvsdbError};

/// One change an OVSDB server announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsEvent {
    /// "bridge", "port", "interface"
    pub object: &'static str,
    /// "added", "removed", "changed"
    pub change: &'static str,
    pub name: String,
    /// the swctl owner of the row (None: not swctl's)
    pub owner: Option<String>,
    /// what changed ("link_state down", "ofport -1", ...)
    pub detail: String,
}

/// What is known of a row.
#[derive(Debug, Clone, Default)]
struct Known {
    name: String,
    owner: Option<String>,
    /// a port's interfaces
    ifaces: Vec<String>,
    /// an interface's state: link_state, ofport, error
    state: Vec<(String, String)>,
}

/// The monitor of one server.
pub struct OvsMonitor {
    client: Client,
    rows: HashMap<String, Known>,
}

const ID: &str = "swctl-watch";

fn requests() -> Value {
    json!({
        "Bridge": {"columns": ["name", "external_ids"]},
        "Port": {"columns": ["name", "external_ids", "interfaces"]},
        "Interface": {"columns": ["name", "link_state", "ofport", "error"]},
    })
}

fn state(r: &Row) -> Vec<(String, String)> {
    let mut s = vec![];
    if let Some(l) = r.opt("link_state").and_then(|v| v.as_str()) {
        s.push(("link_state".into(), l.to_string()));
    }
    if let Some(o) = r.int("ofport") {
        s.push(("ofport".into(), o.to_string()));
    }
    if let Some(e) = r.opt("error").and_then(|v| v.as_str()) {
        s.push(("error".into(), e.to_string()));
    }
    s
}

impl OvsMonitor {
    /// Connect to `addr` and start monitoring (the rows there now are the
    /// baseline, not events).
    pub async fn open(addr: &str) -> Result<OvsMonitor, OvsdbError> {
        let client = Client::connect(addr).await?;
        let init = client.monitor(ID, requests()).await?;
        let mut m = OvsMonitor {
            client,
            rows: HashMap::new(),
        };
        m.apply(&init, true);
        Ok(m)
    }

    /// The changes of the next update; None once the connection is lost
    /// (the server stopped: its owner says so and opens a new one).
    pub async fn next(&mut self) -> Option<Vec<OvsEvent>> {
        loop {
            match self.client.next_update(Duration::from_secs(3600)).await {
                Some(p) => {
                    let events = self.apply(&p[1], false);
                    if !events.is_empty() {
                        return Some(events);
                    }
                }
                None if self.client.is_closed() => return None,
                None => {}
            }
        }
    }

    /// Take in `table-updates`; the events they make (none for the
    /// `initial` rows).
    fn apply(&mut self, updates: &Value, initial: bool) -> Vec<OvsEvent> {
        let mut out = vec![];
        // owners as they were: a port and its interface go in one update
        let before = self.rows.clone();
        // ports before interfaces: a new interface's owner is its port's
        for (table, object) in [
            ("Bridge", "bridge"),
            ("Port", "port"),
            ("Interface", "interface"),
        ] {
            let Some(rows) = updates.get(table).and_then(|t| t.as_object()) else {
                continue;
            };
            for (uuid, u) in rows {
                let new = u.get("new").map(Row::from_value);
                let had = self.rows.get(uuid).cloned();
                let Some(new) = new else {
                    if let Some(k) = self.rows.remove(uuid) {
                        let owner = owner_in(&before, object, uuid, &k);
                        out.push(event(object, "removed", &k.name, owner, String::new()));
                    }
                    continue;
                };
                let k = Known {
                    name: new.str("name").unwrap_or_default().to_string(),
                    owner: new.map("external_ids").get(K_OWNER).cloned(),
                    ifaces: new.uuids("interfaces"),
                    state: state(&new),
                };
                let owner = owner_in(&self.rows, object, uuid, &k);
                match had {
                    None if !initial => {
                        out.push(event(object, "added", &k.name, owner, String::new()))
                    }
                    Some(h) if h.state != k.state && object == "interface" => {
                        let d: Vec<String> = k
                            .state
                            .iter()
                            .filter(|s| !h.state.contains(s))
                            .map(|(c, v)| format!("{c} {v}"))
                            .collect();
                        out.push(event(object, "changed", &k.name, owner, d.join(", ")));
                    }
                    _ => {}
                }
                self.rows.insert(uuid.clone(), k);
            }
        }
        out
    }
}

/// The owner of a row: its own mark, or for an interface its port's.
fn owner_in(rows: &HashMap<String, Known>, object: &str, uuid: &str, k: &Known) -> Option<String> {
    if object != "interface" {
        return k.owner.clone();
    }
    rows.values()
        .find(|p| p.ifaces.iter().any(|i| i == uuid))
        .and_then(|p| p.owner.clone())
}

fn event(
    object: &'static str,
    change: &'static str,
    name: &str,
    owner: Option<String>,
    detail: String,
) -> OvsEvent {
    OvsEvent {
        object,
        change,
        name: name.to_string(),
        owner,
        detail,
    }
}
