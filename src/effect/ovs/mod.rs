//! The OVS half of the effect layer: the OVSDB servers a command talks to
//! (`Servers`: the default one and every server a switch lives on), which
//! implement the `OvsDb` effect trait; one connection per server (`conn`),
//! the operations of each change (`txn`) and of a batch (`batch`),
//! datapath detection (`datapath`), ovs-vswitchd's control socket
//! (`appctl`) and swctl's private Open vSwitch (`sandbox`).

pub mod appctl;
pub mod batch;
pub mod conn;
pub mod datapath;
pub mod events;
pub mod read;
pub mod sandbox;
pub mod txn;

pub use conn::Ovs;

use super::OvsDb;
use super::paths;
use crate::model::names::stable_hash;
use crate::model::ovs::{OvsChange, OvsState};
use crate::ovsdb::OvsdbError;

/// Remember an OVSDB server swctl made a switch on (other than the
/// default), in /run/swctl/ovsdb, before the switch is made, so later
/// commands look there too.
pub fn remember_server(addr: &str) {
    let name = format!("{:08x}", stable_hash(&[addr]));
    let _ = std::fs::create_dir_all(paths::ovsdb_servers_dir());
    let _ = std::fs::write(paths::ovsdb_servers_dir().join(name), addr);
}

/// The servers remembered by `remember_server`.
pub fn known_servers() -> Vec<String> {
    std::fs::read_dir(paths::ovsdb_servers_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Where swctl looks for the default OVSDB server, in order: $SWCTL_OVSDB,
/// swctl's own sandbox, the system's Open vSwitch.
pub fn default_candidates() -> Vec<String> {
    if let Ok(s) = std::env::var("SWCTL_OVSDB") {
        return vec![s];
    }
    vec![
        sandbox::address(std::path::Path::new(paths::SANDBOX_DIR)),
        "unix:/run/openvswitch/db.sock".into(),
    ]
}

/// Connect to the first default candidate that answers; why none did otherwise.
pub async fn connect_default() -> Result<Ovs, String> {
    let mut why = Vec::new();
    for addr in default_candidates() {
        match Ovs::connect(&addr).await {
            Ok(o) => return Ok(o),
            Err(e) => why.push(e.to_string()),
        }
    }
    Err(why.join("; "))
}

/// The OVSDB servers of one swctl command.
pub struct Servers {
    /// the default server, when one answers (or why not)
    pub default: Result<Ovs, String>,
    /// further servers (switches with their own server)
    pub extra: Vec<Ovs>,
}

impl Default for Servers {
    fn default() -> Servers {
        Servers::none("not connected")
    }
}

impl Servers {
    /// No server (commands that never touch OVS).
    pub fn none(why: &str) -> Servers {
        Servers {
            default: Err(why.into()),
            extra: vec![],
        }
    }

    /// The default server, and every one of `others` that answers; a server
    /// in `required` that does not answer is an error.
    pub async fn connect(others: &[String], required: &[String]) -> Result<Servers, OvsdbError> {
        let mut s = Servers {
            default: connect_default().await,
            extra: vec![],
        };
        for addr in others {
            if s.get(addr).is_some() {
                continue;
            }
            match Ovs::connect(addr).await {
                Ok(o) => s.extra.push(o),
                Err(e) if required.contains(addr) => return Err(e),
                Err(_) => {} // a remembered server that is gone
            }
        }
        Ok(s)
    }

    /// The connection to the server at `addr`.
    pub fn get(&self, addr: &str) -> Option<&Ovs> {
        self.default
            .iter()
            .chain(self.extra.iter())
            .find(|o| o.client.addr() == addr)
    }

    /// The default server's address, when one answers.
    pub fn default_addr(&self) -> Option<&str> {
        self.default.as_ref().ok().map(|o| o.client.addr())
    }
}

/// ovs-vswitchd's receive buffer of each port it reads through a socket
/// (`kernel::packet_sock`), read in one pass; none where it cannot be.
fn rx_buffers(
    bridges: &[crate::model::ovs::OvsBridge],
) -> std::collections::BTreeMap<String, usize> {
    let devs: Vec<&str> = bridges
        .iter()
        .filter(|b| b.datapath_type == "netdev")
        .flat_map(|b| b.ports.iter().flat_map(|p| p.ifaces.iter()))
        .filter(|i| i.kind.is_empty())
        .map(|i| i.name.as_str())
        .collect();
    if devs.is_empty() {
        return Default::default();
    }
    crate::effect::kernel::packet_sock::sizes(&devs).unwrap_or_default()
}

impl OvsDb for Servers {
    /// The state of every connected server, merged (bridges know their server).
    async fn ovs_state(&self) -> Result<Result<OvsState, String>, OvsdbError> {
        let mut merged = match &self.default {
            Ok(o) => Some(o.state().await?),
            Err(_) => None,
        };
        for o in &self.extra {
            let st = o.state().await?;
            match merged.as_mut() {
                Some(m) => {
                    m.bridges.extend(st.bridges);
                    m.vswitchd.extend(st.vswitchd);
                }
                None => merged = Some(st),
            }
        }
        if let Some(m) = merged.as_mut() {
            m.rx_buffers = rx_buffers(&m.bridges);
        }
        Ok(match (merged, &self.default) {
            (Some(m), _) => Ok(m),
            (None, Err(why)) => Err(why.clone()),
            (None, Ok(_)) => unreachable!("a connected default server gives a state"),
        })
    }

    /// One transaction per server (and one wait each).
    async fn ovs_apply(&self, changes: &[OvsChange]) -> Result<(), OvsdbError> {
        let mut servers: Vec<&str> = changes.iter().map(|c| c.db()).collect();
        servers.sort();
        servers.dedup();
        for db in servers {
            let conn = self.get(db).ok_or_else(|| {
                OvsdbError::Schema(format!("not connected to the OVSDB server {db}"))
            })?;
            let batch: Vec<OvsChange> = changes.iter().filter(|c| c.db() == db).cloned().collect();
            if self.default_addr() != Some(db)
                && batch
                    .iter()
                    .any(|c| matches!(c, OvsChange::AddBridge { .. }))
            {
                remember_server(db);
            }
            conn.apply(&batch).await?;
            // a mirror changed or gone: the datapath flows it shaped go
            // (`appctl`: OVS 3.1 keeps them)
            if batch.iter().any(|c| {
                matches!(
                    c,
                    OvsChange::DelMirror { .. } | OvsChange::SetMirror { uuid: Some(_), .. }
                )
            }) && let Err(why) = appctl::purge_datapath_flows(db).await
            {
                tracing::warn!("mirror changed; datapath flows not purged: {why}");
            }
        }
        Ok(())
    }
}

/// One OVSDB transaction in words: its changes, the first few of a big one.
pub fn transaction_text(changes: &[OvsChange]) -> String {
    const SHOWN: usize = 3;
    let mut t = changes
        .iter()
        .take(SHOWN)
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" -- ");
    if changes.len() > SHOWN {
        t.push_str(&format!(" -- and {} more", changes.len() - SHOWN));
    }
    format!(
        "one OVSDB transaction of {} change{}: {t}",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" }
    )
}
