//! The fake's OpenFlow tables: one per bridge of its OVSDB servers, with
//! the switch's rules for what swctl sends (an added flow replaces one of
//! the same table, priority and match; a strict delete removes that one
//! flow when its cookie matches under the mask; a delete, every flow whose
//! cookie matches and whose match holds the one given). A bridge that is
//! not there answers as a missing management socket does.

use super::Fake;
use crate::effect::FlowTables;
use crate::effect::openflow::OfError;
use crate::openflow::{Command, Flow, FlowStats, Msg};

fn same_key(a: &Flow, b: &Flow) -> bool {
    (a.table, a.priority, &a.matches) == (b.table, b.priority, &b.matches)
}

impl Fake {
    /// The fake's server `db` has bridge `bridge`, or its management
    /// socket is missing.
    async fn bridge_there(&self, db: &str, bridge: &str) -> Result<(), OfError> {
        use crate::effect::OvsDb;
        if matches!(self.ovs_state().await, Ok(Ok(st)) if st.bridges.iter().any(|b| b.db == db && b.name == bridge))
        {
            return Ok(());
        }
        Err(OfError::Connect {
            bridge: bridge.into(),
            path: format!("{bridge}.mgmt"),
            why: "no such bridge (fake)".into(),
        })
    }
}

impl FlowTables for Fake {
    async fn flows(&self, db: &str, bridge: &str) -> Result<Vec<FlowStats>, OfError> {
        self.bridge_there(db, bridge).await?;
        let ovs = self.ovs.lock().unwrap();
        let table = ovs
            .as_ref()
            .and_then(|o| o.flows.get(&(db.to_string(), bridge.to_string())))
            .cloned()
            .unwrap_or_default();
        Ok(table
            .into_iter()
            .map(|flow| FlowStats {
                flow,
                packets: 0,
                bytes: 0,
                duration_s: 0,
            })
            .collect())
    }

    async fn flow_mods(
        &self,
        db: &str,
        bridge: &str,
        mods: &[(String, Msg)],
    ) -> Result<(), OfError> {
        self.bridge_there(db, bridge).await?;
        self.record(format!(
            "openflow {bridge}: {} flow-mods and a barrier",
            mods.len()
        ))
        .map_err(|e| OfError::Closed {
            bridge: bridge.into(),
            why: e.to_string(),
        })?;
        let mut ovs = self.ovs.lock().unwrap();
        let Some(o) = ovs.as_mut() else { return Ok(()) };
        let table = o
            .flows
            .entry((db.to_string(), bridge.to_string()))
            .or_default();
        for (_, m) in mods {
            let Msg::FlowMod {
                command,
                flow,
                cookie_mask,
            } = m
            else {
                continue;
            };
            let cookie_ok = |f: &Flow| f.cookie & cookie_mask == flow.cookie & cookie_mask;
            match command {
                Command::Add => {
                    table.retain(|f| !same_key(f, flow));
                    table.push(flow.clone().normalized());
                }
                Command::DeleteStrict => table.retain(|f| !(same_key(f, flow) && cookie_ok(f))),
                Command::Delete => table.retain(|f| {
                    let holds = flow.matches.iter().all(|m| f.matches.contains(m));
                    let table_ok = flow.table == 0xff || flow.table == f.table;
                    !(cookie_ok(f) && holds && table_ok)
                }),
            }
        }
        Ok(())
    }
}
