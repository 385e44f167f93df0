//! The flows of a topology's OVS switches (`flows = [...]`), reconciled by
//! cookie: a lab's flows carry its cookie (`model::openflow::cookie`); the
//! planner compares the file's flows with the lab's flows the switch has
//! (by table, priority and match; actions and timeouts must be the same)
//! and plans one batch per bridge (`FlowBatch`: flows to add, or to write
//! again, and flows of the lab's to delete). Flows of anyone else are
//! never compared. A port in a flow is a number, an OVS port name or a
//! host's name, looked up when the batch runs, so a flow may name a host
//! the same apply attaches.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::names::Owner;
use crate::model::openflow::{OWNER_MASK, cookie};
use crate::model::ovs::OvsBridge;
use crate::openflow::text::{ParseError, flow_text, parse};
use crate::openflow::{Command, Flow, Msg};

/// A bridge's ports by name and by number: each port by its own name, a
/// port swctl made for a host also by the host's (namespace's) name.
pub struct Ports {
    pub by_name: BTreeMap<String, u32>,
    pub by_num: BTreeMap<u32, String>,
}

impl Ports {
    pub fn of(b: &OvsBridge) -> Ports {
        let mut p = Ports {
            by_name: BTreeMap::new(),
            by_num: BTreeMap::new(),
        };
        for port in &b.ports {
            let Some(n) = port
                .ifaces
                .first()
                .and_then(|i| i.ofport)
                .filter(|n| *n > 0)
            else {
                continue;
            };
            let n = n as u32;
            p.by_name.insert(port.name.clone(), n);
            p.by_num.insert(n, port.name.clone());
            if let Some(ns) = port.ns() {
                p.by_name.insert(ns.to_string(), n);
                p.by_num.insert(n, ns.to_string());
            }
        }
        p
    }

    pub fn resolve(&self, bridge: &str, n: &str) -> Result<u32, String> {
        self.by_name.get(n).copied().ok_or_else(|| {
            format!(
                "no port or host {n:?} on {bridge} (its ports: {})",
                self.by_name.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// A port's name for the text of a flow.
    pub fn name(&self, n: u32) -> Option<String> {
        self.by_num.get(&n).cloned()
    }

    /// Read a flow with these ports.
    pub fn parse(&self, bridge: &str, text: &str) -> Result<Flow, ParseError> {
        parse(text, &mut |n| self.resolve(bridge, n))
    }
}

/// One bridge's flow changes of one lab, written as one batch closed by a
/// barrier (`ovs-ofctl add-flows` / `del-flows --strict` with the lab's
/// cookie).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowBatch {
    pub db: String,
    pub bridge: String,
    pub owner: Owner,
    /// flows to write, as the file gives them (ports resolved when run)
    pub add: Vec<String>,
    /// the lab's flows to delete (strictly: this table, priority, match)
    #[serde(skip)]
    pub del: Vec<Flow>,
    /// the same as text, for plan and status
    pub del_text: Vec<String>,
    /// of `add`, those the switch has with other actions or timeouts
    pub differs: Vec<String>,
}

impl FlowBatch {
    /// What differs, in words (`status`).
    pub fn words(&self) -> String {
        let new: Vec<&String> = self
            .add
            .iter()
            .filter(|a| !self.differs.contains(a))
            .collect();
        let mut w = vec![];
        if !new.is_empty() {
            w.push(format!("flows missing on {}: {}", self.bridge, join(&new)));
        }
        if !self.differs.is_empty() {
            w.push(format!(
                "flows on {} with other actions or timeouts than the file's: {}",
                self.bridge,
                join(&self.differs.iter().collect::<Vec<_>>())
            ));
        }
        if !self.del_text.is_empty() {
            w.push(format!(
                "flows of the lab's on {} that are not in the file: {}",
                self.bridge,
                join(&self.del_text.iter().collect::<Vec<_>>())
            ));
        }
        w.join("; ")
    }

    /// The flow-mods, each named for its errors: ports resolved on `b`
    /// (the bridge as it is when the batch runs).
    pub fn messages(&self, b: &OvsBridge) -> Result<Vec<(String, Msg)>, String> {
        let ports = Ports::of(b);
        let c = cookie(&self.owner);
        let mut out = vec![];
        for f in &self.del {
            let mut f = f.clone();
            f.cookie = c;
            let what = format!("the delete of flow {:?}", flow_text(&f, &|n| ports.name(n)));
            out.push((
                what,
                Msg::FlowMod {
                    command: Command::DeleteStrict,
                    flow: f,
                    cookie_mask: OWNER_MASK,
                },
            ));
        }
        for t in &self.add {
            let mut f = ports
                .parse(&self.bridge, t)
                .map_err(|e| format!("flow {t:?}: {e}"))?;
            f.cookie = c;
            out.push((
                format!("flow {t:?}"),
                Msg::FlowMod {
                    command: Command::Add,
                    flow: f,
                    cookie_mask: 0,
                },
            ));
        }
        Ok(out)
    }
}

fn join(v: &[&String]) -> String {
    v.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The key a flow is known by in its table: a second flow of the same
/// table, priority and match replaces it.
fn key(f: &Flow) -> (u8, u16, &[crate::openflow::oxm::Field]) {
    (f.table, f.priority, &f.matches)
}

/// The batch that makes bridge `b`'s flows of `owner` what `want` says
/// (None: nothing to do). `b`: the bridge as observed (None: made by this
/// plan); `later`: names of hosts this plan attaches to the bridge (their
/// ports have no number yet). A name that is neither is refused.
pub fn plan(
    db: &str,
    name: &str,
    b: Option<&OvsBridge>,
    owner: &Owner,
    want: &[String],
    later: &[String],
) -> Result<Option<FlowBatch>, String> {
    let c = cookie(owner);
    let ports = b.map(Ports::of);
    let have: Vec<&Flow> = b
        .and_then(|b| b.flows.as_ref())
        .map(|fs| {
            fs.iter()
                .map(|s| &s.flow)
                .filter(|f| f.cookie & OWNER_MASK == c)
                .collect()
        })
        .unwrap_or_default();
    let mut batch = FlowBatch {
        db: db.to_string(),
        bridge: name.to_string(),
        owner: owner.clone(),
        add: vec![],
        del: vec![],
        del_text: vec![],
        differs: vec![],
    };
    let mut kept = vec![];
    for t in want {
        // resolved now where every port exists; a host attached by this
        // plan makes the flow missing (written once its port is there)
        let mut pending = false;
        let parsed = parse(
            t,
            &mut |n| match ports.as_ref().map(|p| p.resolve(name, n)) {
                Some(Ok(x)) => Ok(x),
                _ if later.iter().any(|l| l == n) => {
                    pending = true;
                    Ok(0xffff_ff00)
                }
                Some(Err(e)) => Err(e),
                None => Err(format!("no port or host {n:?} on {name}")),
            },
        )
        .map_err(|e| format!("flow {t:?}: {e}"))?;
        if pending || b.and_then(|b| b.flows.as_ref()).is_none() {
            batch.add.push(t.clone());
            continue;
        }
        let mut f = parsed;
        f.cookie = c;
        match have.iter().find(|h| key(h) == key(&f)) {
            Some(h) => {
                kept.push(key(h));
                let same = h.instructions == f.instructions
                    && h.idle_timeout == f.idle_timeout
                    && h.hard_timeout == f.hard_timeout;
                if !same {
                    batch.add.push(t.clone());
                    batch.differs.push(t.clone());
                }
            }
            None => batch.add.push(t.clone()),
        }
    }
    for h in &have {
        if !kept.contains(&key(h)) {
            let names = |n| ports.as_ref().and_then(|p| p.name(n));
            batch.del_text.push(flow_text(h, &names));
            batch.del.push((*h).clone());
        }
    }
    Ok((!batch.add.is_empty() || !batch.del.is_empty()).then_some(batch))
}
