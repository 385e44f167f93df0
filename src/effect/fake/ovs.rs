//! The fake's Open vSwitch: an in-memory OVSDB server per address
//! (`ovsdb::MemDb`) that executes the very transactions the real effect
//! sends (`effect::ovs::txn::build`, one per server and batch) and is read
//! back by the real reader (`effect::ovs::read`); and what ovs-vswitchd
//! does with its rows on the userspace datapath: an internal interface
//! appears as a `tun` device in the host namespace (with its `mac`, or the
//! bridge's `other_config:hwaddr`) and goes with its row; `mtu_request`
//! sets the device's MTU.

use std::collections::{BTreeMap, BTreeSet};

use super::Fake;
use super::ovsdb::MemDb;
use crate::effect::OvsDb;
use crate::effect::ovs::{read, txn};
use crate::model::names::{Loc, Mac};
use crate::model::ovs::{OvsChange, OvsState};
use crate::ovsdb::OvsdbError;
use crate::ovsdb::ops::{Expect, Op, Row, Txn};

/// The fake's OVSDB servers.
#[derive(Debug, Clone)]
pub struct FakeOvs {
    /// the default server's address
    pub addr: String,
    /// the datapath its bridges report as the host's
    pub datapath: String,
    /// each server's database, by address (one appears with the first
    /// change sent to it, as a server named for a switch)
    pub dbs: BTreeMap<String, MemDb>,
    /// ovs-vswitchd's receive buffer of each socket-read port, by device
    /// (what `grow_ovs_rx_buffer` set)
    pub rx_buffers: BTreeMap<String, usize>,
    /// each bridge's flow table, by (server, bridge)
    pub flows: BTreeMap<(String, String), Vec<crate::openflow::Flow>>,
}

impl FakeOvs {
    pub fn new(addr: &str, datapath: &str) -> FakeOvs {
        FakeOvs {
            addr: addr.into(),
            datapath: datapath.into(),
            dbs: [(addr.to_string(), MemDb::new())].into(),
            rx_buffers: BTreeMap::new(),
            flows: BTreeMap::new(),
        }
    }

    /// Its default server's `ovs_version`, as the distribution's start
    /// script (or swctl's sandbox) writes it.
    pub fn set_version(&mut self, v: &str) {
        use crate::ovsdb::ops::{Expect, Op, Txn};
        let db = self.dbs.get_mut(&self.addr).expect("the default server");
        let mut t = Txn::new();
        t.push(
            Op::Update {
                table: "Open_vSwitch".into(),
                wh: vec![],
                row: serde_json::json!({ "ovs_version": v }),
            },
            Expect::Any,
        );
        db.transact(&t);
    }

    /// Its ovs-vswitchd with userspace TSO (`other_config` of the default
    /// server's root row, as swctl's sandbox writes it).
    pub fn with_tso(mut self) -> FakeOvs {
        let db = self.dbs.get_mut(&self.addr).expect("the default server");
        let answer = db.transact(&crate::effect::ovs::sandbox::tso_txn(true));
        debug_assert!(answer[0].get("error").is_none(), "{answer}");
        self
    }
}

/// The internal interfaces of a database, with the MAC each device gets.
fn internal_ifaces(db: &MemDb) -> BTreeMap<String, Option<Mac>> {
    let hwaddr: BTreeMap<String, String> = db
        .rows("Bridge")
        .into_iter()
        .map(|r| Row(r.clone()))
        .filter_map(|r| {
            Some((
                r.str("name")?.to_string(),
                r.map("other_config").get("hwaddr")?.clone(),
            ))
        })
        .collect();
    db.rows("Interface")
        .into_iter()
        .map(|r| Row(r.clone()))
        .filter(|r| r.str("type") == Some("internal"))
        .filter_map(|r| {
            let name = r.str("name")?.to_string();
            let mac = r
                .opt("mac")
                .and_then(|m| m.as_str())
                .or(hwaddr.get(&name).map(String::as_str))
                .and_then(|m| m.parse().ok());
            Some((name, mac))
        })
        .collect()
}

impl Fake {
    /// Record one transaction of `changes` as a call (`prefix`, then each
    /// change's command joined by ` -- `); a call set to fail fails it as a
    /// server would refuse the commit.
    pub(super) fn record_transaction<C: std::fmt::Display>(
        &self,
        prefix: &str,
        changes: &[C],
    ) -> Result<(), OvsdbError> {
        let each: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        self.record(format!("{prefix}{}", each.join(" -- ")))
            .map_err(|e| OvsdbError::Commit {
                error: e.to_string(),
                details: None,
            })
    }
}

impl OvsDb for Fake {
    async fn ovs_state(&self) -> Result<Result<OvsState, String>, OvsdbError> {
        let Some(ovs) = self.ovs.lock().unwrap().clone() else {
            return Ok(Err("no OVSDB server answers (fake)".to_string()));
        };
        let mut bridges = vec![];
        let mut vswitchd = BTreeMap::new();
        for (addr, db) in &ovs.dbs {
            let mut db = db.clone();
            let q = read::query();
            let r = q.check(&db.transact(&q))?;
            bridges.extend(read::bridges(&r, addr));
            if let Some(v) = read::vswitchd(&r, read::ROOT_AT) {
                vswitchd.insert(addr.clone(), v);
            }
        }
        bridges.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Ok(OvsState {
            addr: ovs.addr,
            bridges,
            datapath: ovs.datapath,
            vswitchd,
            rx_buffers: ovs.rx_buffers,
        }))
    }

    /// One transaction per server, as `ovs::Servers` sends them.
    async fn ovs_apply(&self, changes: &[OvsChange]) -> Result<(), OvsdbError> {
        self.record_transaction("ovsdb transact: ", changes)?;
        let servers: BTreeSet<&str> = changes.iter().map(|c| c.db()).collect();
        for addr in servers {
            let mut t = Txn::new();
            t.push(
                Op::Comment(format!("swctl: {} change(s)", changes.len())),
                Expect::Any,
            );
            let batch: Vec<&OvsChange> = changes.iter().filter(|c| c.db() == addr).collect();
            let bridges = {
                let guard = self.ovs.lock().unwrap();
                let mut db = guard
                    .as_ref()
                    .and_then(|o| o.dbs.get(addr))
                    .cloned()
                    .unwrap_or_default();
                let q = read::query();
                let r = q.check(&db.transact(&q))?;
                read::bridges(&r, addr)
            };
            crate::effect::ovs::batch::build_batch(&mut t, &batch, &bridges)?;
            txn::push_next_cfg(&mut t);
            let (before, after, mtus) = {
                let mut guard = self.ovs.lock().unwrap();
                let ovs = guard
                    .as_mut()
                    .ok_or_else(|| OvsdbError::Schema("no fake OVSDB".into()))?;
                let db = ovs.dbs.entry(addr.to_string()).or_default();
                let before = internal_ifaces(db);
                let answer = db.transact(&t);
                t.check(&answer)?;
                db.vswitchd();
                let mtus: Vec<(String, u32)> = db
                    .rows("Interface")
                    .into_iter()
                    .map(|r| Row(r.clone()))
                    .filter_map(|r| {
                        Some((r.str("name")?.to_string(), r.int("mtu_request")? as u32))
                    })
                    .collect();
                (before, internal_ifaces(db), mtus)
            };
            for name in before.keys().filter(|n| !after.contains_key(*n)) {
                self.remove_link(&Loc::Host, name);
            }
            for (name, mac) in after.iter().filter(|(n, _)| !before.contains_key(*n)) {
                let mut l = self.new_link(name, "tun", "");
                l.mac = *mac;
                l.alias = None;
                l.mark = None;
                l.up = false;
                self.sys.lock().unwrap().host.links.push(l);
            }
            let mut sys = self.sys.lock().unwrap();
            for (n, mtu) in mtus {
                if let Some(l) = sys.host.links.iter_mut().find(|l| l.name == n) {
                    l.mtu = mtu;
                }
            }
        }
        Ok(())
    }
}
