//! One OVSDB server as swctl's OVS backend: connect (and check the schema),
//! read the bridges, ports and interfaces (`ovs-vsctl show` as data), apply
//! a batch of changes in one transaction, wait like `ovs-vsctl --wait`
//! until ovs-vswitchd has applied it, and read back each new interface's
//! `ofport` and `error`.

use std::time::{Duration, Instant};

use serde_json::json;

use super::datapath::kernel_datapath;
use super::txn::{max_cur_cfg, next_cfg_of, push_next_cfg};
use crate::model::ovs::{OvsChange, OvsState};
use crate::ovsdb::ops::{Expect, Op, Txn};
use crate::ovsdb::{Client, OvsdbError, schema};

/// The OVS backend on one OVSDB server.
pub struct Ovs {
    pub client: Client,
}

/// How long ovs-vswitchd gets to apply a configuration.
pub const APPLY_WAIT: Duration = Duration::from_secs(10);

/// How long ovs-vswitchd gets on top of `APPLY_WAIT` per change: on the
/// userspace datapath it took 25 s of one poll loop to take 2000 ports in
/// at once (measured; its log: "Unreasonably long 25578ms poll interval").
pub const APPLY_WAIT_PER_CHANGE: Duration = Duration::from_millis(20);

impl Ovs {
    pub fn new(client: Client) -> Ovs {
        Ovs { client }
    }

    /// Connect and check that the server's schema has what swctl uses.
    pub async fn connect(addr: &str) -> Result<Ovs, OvsdbError> {
        let client = Client::connect(addr).await?;
        let dbs = client.list_dbs().await?;
        if !dbs.iter().any(|d| d == crate::ovsdb::DB) {
            return Err(OvsdbError::Schema(format!(
                "the server at {addr} has no Open_vSwitch database (it has {dbs:?})"
            )));
        }
        let s = client.get_schema(crate::ovsdb::DB).await?;
        schema::check(&s).map_err(|e| OvsdbError::Schema(e.to_string()))?;
        Ok(Ovs { client })
    }

    /// `ovs-vsctl show`, as data: one transaction of three selects
    /// (`read`).
    pub async fn state(&self) -> Result<OvsState, OvsdbError> {
        let r = self.client.transact(&super::read::query()).await?;
        Ok(OvsState {
            addr: self.client.addr().to_string(),
            bridges: super::read::bridges(&r, self.client.addr()),
            vswitchd: super::read::vswitchd(&r, super::read::ROOT_AT)
                .map(|v| (self.client.addr().to_string(), v))
                .into_iter()
                .collect(),
            rx_buffers: Default::default(),
            datapath: if kernel_datapath() {
                "system".into()
            } else {
                "netdev".into()
            },
        })
    }

    /// `next_cfg += 1` in its own transaction, then wait for ovs-vswitchd.
    pub async fn bump_and_wait(&self, wait: Duration) -> Result<(), OvsdbError> {
        let mut t = Txn::new();
        let n = push_next_cfg(&mut t);
        let r = self.client.transact(&t).await?;
        self.wait_cfg(next_cfg_of(&r, n)?, wait).await
    }

    /// Wait until `cur_cfg >= want`, watching a monitor on the root row.
    pub async fn wait_cfg(&self, want: i64, wait: Duration) -> Result<(), OvsdbError> {
        let id = format!("swctl-cfg-{want}");
        let init = self
            .client
            .monitor(&id, json!({"Open_vSwitch": {"columns": ["cur_cfg"]}}))
            .await?;
        let mut cur = max_cur_cfg(&init).unwrap_or(0);
        let deadline = Instant::now() + wait;
        while cur < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = self.client.request("monitor_cancel", json!([id])).await;
                return Err(OvsdbError::NotApplied {
                    secs: wait.as_secs(),
                    cur,
                    want,
                });
            }
            if let Some(u) = self.client.next_update(left).await
                && u.get(0).and_then(|x| x.as_str()) == Some(id.as_str())
                && let Some(c) = u.get(1).and_then(max_cur_cfg)
            {
                cur = cur.max(c);
            }
        }
        let _ = self.client.request("monitor_cancel", json!([id])).await;
        Ok(())
    }

    /// Apply a batch of changes in ONE transaction (plus the wait), then
    /// read back every new interface: `ofport > 0` or OVS's own error.
    pub async fn apply(&self, changes: &[OvsChange]) -> Result<(), OvsdbError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut t = Txn::new();
        t.push(
            Op::Comment(format!("swctl: {} change(s)", changes.len())),
            Expect::Any,
        );
        // a mirror names ports that exist: read them first (as ovs-vsctl
        // reads its replica)
        let bridges = if changes
            .iter()
            .any(|c| matches!(c, OvsChange::SetMirror { .. }))
        {
            self.state().await?.bridges
        } else {
            vec![]
        };
        let all: Vec<&OvsChange> = changes.iter().collect();
        super::batch::build_batch(&mut t, &all, &bridges)?;
        let mut new_ifaces = Vec::new();
        for c in changes {
            match c {
                OvsChange::AddBridge { name, .. } => new_ifaces.push(name.clone()),
                OvsChange::AddPort { port, .. }
                | OvsChange::AddTunnel { port, .. }
                | OvsChange::AddUplink { port, .. } => new_ifaces.push(port.clone()),
                _ => {}
            }
        }
        let n = push_next_cfg(&mut t);
        let r = self.client.transact(&t).await?;
        let work: usize = changes.iter().map(OvsChange::weight).sum();
        let wait = APPLY_WAIT + APPLY_WAIT_PER_CHANGE * work as u32;
        self.wait_cfg(next_cfg_of(&r, n)?, wait).await?;
        if new_ifaces.is_empty() {
            return Ok(());
        }
        let st = self.state().await?;
        for name in new_ifaces {
            let iface = st
                .bridges
                .iter()
                .flat_map(|b| b.ports.iter())
                .flat_map(|p| p.ifaces.iter())
                .find(|i| i.name == name);
            match iface {
                Some(i) if i.ofport.is_some_and(|p| p > 0) => {}
                Some(i) => {
                    let error = i.error.clone().unwrap_or_else(|| {
                        "no OpenFlow port was assigned (the bridge's datapath did not come up: with datapath_type=system the openvswitch kernel module is needed; see ovs-vswitchd's log)".into()
                    });
                    return Err(OvsdbError::Interface { iface: name, error });
                }
                None => {
                    return Err(OvsdbError::Interface {
                        iface: name,
                        error: "the row is gone after the transaction".into(),
                    });
                }
            }
        }
        Ok(())
    }
}
