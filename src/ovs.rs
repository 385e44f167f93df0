//! The Open vSwitch backend over OVSDB: reading the bridges, ports and
//! interfaces; building one transaction for all the OVS changes of a plan
//! phase (rows created exactly as ovs-vsctl creates them), waiting like
//! `ovs-vsctl --wait` until ovs-vswitchd has applied it, and reading back
//! each new interface's `ofport` and `error`. Also: which datapath works on
//! this host (the kernel one needs the openvswitch module).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::Mark;
use crate::names::{NsName, Owner};
use crate::ovsdb::ops::{Expect, Op, Row, Txn, cond, named, set, smap, uuid};
use crate::ovsdb::{Client, OvsdbError, schema};

/// external_ids keys swctl writes on what it creates (ovs-vsctl shows them).
pub const K_OWNER: &str = "swctl-owner";
pub const K_ROLE: &str = "swctl-role";
pub const K_NS: &str = "swctl-ns";
pub const K_SWITCH: &str = "swctl-switch";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OvsIface {
    pub uuid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ofport: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OvsPort {
    pub uuid: String,
    pub name: String,
    /// access VLAN
    pub tag: Option<i64>,
    pub external_ids: BTreeMap<String, String>,
    pub ifaces: Vec<OvsIface>,
}

impl OvsPort {
    pub fn owner(&self) -> Option<Owner> {
        self.external_ids.get(K_OWNER).and_then(|o| o.parse().ok())
    }
    /// For a port swctl made: the namespace it leads to.
    pub fn ns(&self) -> Option<NsName> {
        self.external_ids.get(K_NS).and_then(|o| o.parse().ok())
    }
    pub fn internal(&self) -> bool {
        self.ifaces.iter().any(|i| i.kind == "internal")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OvsBridge {
    /// the OVSDB server it lives on
    pub db: String,
    pub uuid: String,
    pub name: String,
    pub datapath_type: String,
    pub external_ids: BTreeMap<String, String>,
    pub ports: Vec<OvsPort>,
}

impl OvsBridge {
    pub fn owner(&self) -> Option<Owner> {
        self.external_ids.get(K_OWNER).and_then(|o| o.parse().ok())
    }
}

/// What an OVSDB server holds, as far as swctl cares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OvsState {
    pub addr: String,
    pub bridges: Vec<OvsBridge>,
    /// the datapath type new bridges get: "system" when the kernel
    /// datapath works here, else "netdev"
    pub datapath: String,
}

impl OvsState {
    pub fn bridge(&self, name: &str) -> Option<&OvsBridge> {
        self.bridges.iter().find(|b| b.name == name)
    }
}

/// One OVS change, planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OvsChange {
    /// `ovs-vsctl add-br NAME -- set Bridge NAME datapath_type=DP fail_mode=standalone`
    AddBridge {
        db: String,
        name: String,
        datapath_type: String,
        owner: Owner,
    },
    /// `ovs-vsctl del-br NAME`
    DelBridge {
        db: String,
        name: String,
        uuid: String,
    },
    /// `ovs-vsctl add-port BR PORT [-- set Interface PORT type=internal]`
    AddPort {
        db: String,
        bridge: String,
        port: String,
        internal: bool,
        tag: Option<u16>,
        mark: Mark,
    },
    /// `ovs-vsctl set Port PORT tag=N` / `ovs-vsctl clear Port PORT tag`
    SetTag {
        db: String,
        port: String,
        uuid: String,
        tag: Option<u16>,
    },
    /// `ovs-vsctl del-port BR PORT`
    DelPort {
        db: String,
        bridge: String,
        port: String,
        uuid: String,
    },
}

impl OvsChange {
    /// The OVSDB server the change goes to.
    pub fn db(&self) -> &str {
        match self {
            OvsChange::AddBridge { db, .. }
            | OvsChange::DelBridge { db, .. }
            | OvsChange::AddPort { db, .. }
            | OvsChange::SetTag { db, .. }
            | OvsChange::DelPort { db, .. } => db,
        }
    }
}

impl std::fmt::Display for OvsChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ovs-vsctl --db={} ", self.db())?;
        match self {
            OvsChange::AddBridge {
                name,
                datapath_type,
                ..
            } => write!(
                f,
                "add-br {name} -- set Bridge {name} datapath_type={datapath_type} fail_mode=standalone"
            ),
            OvsChange::DelBridge { name, .. } => write!(f, "del-br {name}"),
            OvsChange::SetTag {
                port, tag: Some(t), ..
            } => write!(f, "set Port {port} tag={t}"),
            OvsChange::SetTag {
                port, tag: None, ..
            } => write!(f, "clear Port {port} tag"),
            OvsChange::AddPort {
                bridge,
                port,
                internal,
                tag,
                ..
            } => {
                write!(f, "add-port {bridge} {port}")?;
                if let Some(t) = tag {
                    write!(f, " tag={t}")?;
                }
                if *internal {
                    write!(f, " -- set Interface {port} type=internal")?;
                }
                Ok(())
            }
            OvsChange::DelPort { bridge, port, .. } => {
                write!(f, "del-port {bridge} {port}")
            }
        }
    }
}

/// Whether the kernel's openvswitch datapath is usable: its generic
/// netlink family `ovs_datapath` exists. (ovs-vswitchd lists
/// `datapath_types = [netdev, system]` even where `system` fails.)
pub fn kernel_datapath() -> bool {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};
    let Ok(mut s) = Socket::new(NETLINK_GENERIC) else {
        return false;
    };
    if s.bind_auto().is_err() {
        return false;
    }
    let name = b"ovs_datapath\0";
    let attr_len = 4 + name.len();
    let padded = (attr_len + 3) & !3;
    let total = 16 + 4 + padded;
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&0x10u16.to_ne_bytes()); // GENL_ID_CTRL
    m.extend_from_slice(&(1u16 | 4).to_ne_bytes()); // NLM_F_REQUEST | NLM_F_ACK
    m.extend_from_slice(&1u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid
    m.extend_from_slice(&[3, 1, 0, 0]); // CTRL_CMD_GETFAMILY, version 1
    m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    m.extend_from_slice(&2u16.to_ne_bytes()); // CTRL_ATTR_FAMILY_NAME
    m.extend_from_slice(name);
    m.resize(total, 0);
    if s.send_to(&m, &SocketAddr::new(0, 0), 0).is_err() {
        return false;
    }
    let mut buf = vec![0u8; 8192];
    let Ok(n) = s.recv(&mut &mut buf[..], 0) else {
        return false;
    };
    if n < 20 {
        return false;
    }
    let ty = u16::from_ne_bytes([buf[4], buf[5]]);
    // NLMSG_ERROR (2) first means the family does not exist
    ty == 0x10
}

/// The OVS effect trait: read the OVSDB state, apply a batch of changes in
/// one transaction. `Kernel` implements it over a real server, the fake
/// over a simulated one.
#[allow(async_fn_in_trait)]
pub trait OvsDb {
    /// Ok(None) with the reason when no OVSDB server is reachable.
    async fn ovs_state(&self) -> Result<Result<OvsState, String>, OvsdbError>;
    async fn ovs_apply(&self, changes: &[OvsChange]) -> Result<(), OvsdbError>;
}

/// OVSDB servers other than the default that swctl made switches on,
/// remembered in /run/swctl/ovsdb (written before the switch is made) so
/// later commands look there too.
pub const SERVERS_DIR: &str = "/run/swctl/ovsdb";

pub fn remember_server(addr: &str) {
    let name = format!("{:08x}", crate::names::stable_hash(&[addr]));
    let _ = std::fs::create_dir_all(SERVERS_DIR);
    let _ = std::fs::write(std::path::Path::new(SERVERS_DIR).join(name), addr);
}

pub fn known_servers() -> Vec<String> {
    std::fs::read_dir(SERVERS_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The OVS backend on one OVSDB server.
pub struct Ovs {
    pub client: Client,
}

/// How long ovs-vswitchd gets to apply a configuration.
pub const APPLY_WAIT: Duration = Duration::from_secs(10);

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
        schema::check(&s).map_err(OvsdbError::Schema)?;
        Ok(Ovs { client })
    }

    /// `ovs-vsctl show`, as data: one transaction of three selects.
    pub async fn state(&self) -> Result<OvsState, OvsdbError> {
        let mut t = Txn::new();
        for (table, cols) in [
            (
                "Bridge",
                vec!["_uuid", "name", "ports", "datapath_type", "external_ids"],
            ),
            (
                "Port",
                vec!["_uuid", "name", "interfaces", "external_ids", "tag"],
            ),
            (
                "Interface",
                vec!["_uuid", "name", "type", "ofport", "error"],
            ),
        ] {
            t.push(
                Op::Select {
                    table: table.into(),
                    wh: vec![],
                    columns: Some(cols.into_iter().map(String::from).collect()),
                },
                Expect::Any,
            );
        }
        let r = self.client.transact(&t).await?;
        let rows = |i: usize| -> Vec<Row> {
            r[i]["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Row::from_value)
                .collect()
        };
        let ifaces: BTreeMap<String, OvsIface> = rows(2)
            .iter()
            .filter_map(|r| {
                Some((
                    r.uuid()?.to_string(),
                    OvsIface {
                        uuid: r.uuid()?.to_string(),
                        name: r.str("name")?.to_string(),
                        kind: r.str("type").unwrap_or("").to_string(),
                        ofport: r.int("ofport"),
                        error: r.opt("error").and_then(|e| e.as_str()).map(String::from),
                    },
                ))
            })
            .collect();
        let ports: BTreeMap<String, OvsPort> = rows(1)
            .iter()
            .filter_map(|r| {
                Some((
                    r.uuid()?.to_string(),
                    OvsPort {
                        uuid: r.uuid()?.to_string(),
                        name: r.str("name")?.to_string(),
                        tag: r.int("tag"),
                        external_ids: r.map("external_ids"),
                        ifaces: r
                            .uuids("interfaces")
                            .iter()
                            .filter_map(|u| ifaces.get(u).cloned())
                            .collect(),
                    },
                ))
            })
            .collect();
        let mut bridges: Vec<OvsBridge> = rows(0)
            .iter()
            .filter_map(|r| {
                let mut ps: Vec<OvsPort> = r
                    .uuids("ports")
                    .iter()
                    .filter_map(|u| ports.get(u).cloned())
                    .collect();
                ps.sort_by(|a, b| a.name.cmp(&b.name));
                Some(OvsBridge {
                    db: self.client.addr().to_string(),
                    uuid: r.uuid()?.to_string(),
                    name: r.str("name")?.to_string(),
                    datapath_type: r.str("datapath_type").unwrap_or("").to_string(),
                    external_ids: r.map("external_ids"),
                    ports: ps,
                })
            })
            .collect();
        bridges.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(OvsState {
            addr: self.client.addr().to_string(),
            bridges,
            datapath: if kernel_datapath() {
                "system".into()
            } else {
                "netdev".into()
            },
        })
    }

    /// `ovs_version` of the root row (written by the distribution's start
    /// script or swctl's sandbox; None when nobody did).
    pub async fn version(&self) -> Option<String> {
        let mut t = Txn::new();
        t.push(
            Op::Select {
                table: "Open_vSwitch".into(),
                wh: vec![],
                columns: Some(vec!["ovs_version".into()]),
            },
            Expect::Any,
        );
        let r = self.client.transact(&t).await.ok()?;
        let row = Row::from_value(r[0]["rows"].get(0)?);
        row.opt("ovs_version")
            .and_then(|v| v.as_str())
            .map(String::from)
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
        let mut new_ifaces = Vec::new();
        for (i, c) in changes.iter().enumerate() {
            build(&mut t, i, c);
            match c {
                OvsChange::AddBridge { name, .. } => new_ifaces.push(name.clone()),
                OvsChange::AddPort { port, .. } => new_ifaces.push(port.clone()),
                _ => {}
            }
        }
        let n = push_next_cfg(&mut t);
        let r = self.client.transact(&t).await?;
        self.wait_cfg(next_cfg_of(&r, n)?, APPLY_WAIT).await?;
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

fn max_cur_cfg(v: &Value) -> Option<i64> {
    // {"Open_vSwitch": {uuid: {"new": {"cur_cfg": N}} or {"cur_cfg": N}}}
    v.get("Open_vSwitch")?
        .as_object()?
        .values()
        .filter_map(|row| {
            row.get("new")
                .and_then(|n| n.get("cur_cfg"))
                .or_else(|| row.get("cur_cfg"))
                .and_then(|c| c.as_i64())
        })
        .max()
}

/// Add `next_cfg += 1` and a select of it; returns the select's index.
fn push_next_cfg(t: &mut Txn) -> usize {
    t.push(
        Op::Mutate {
            table: "Open_vSwitch".into(),
            wh: vec![],
            mutations: vec![json!(["next_cfg", "+=", 1])],
        },
        Expect::Count(1),
    );
    t.push(
        Op::Select {
            table: "Open_vSwitch".into(),
            wh: vec![],
            columns: Some(vec!["next_cfg".into()]),
        },
        Expect::Any,
    )
}

fn next_cfg_of(r: &[Value], i: usize) -> Result<i64, OvsdbError> {
    r[i]["rows"][0]["next_cfg"]
        .as_i64()
        .ok_or_else(|| OvsdbError::Commit {
            error: "no Open_vSwitch root row (the database was never initialized)".into(),
            details: None,
        })
}

fn ids(owner: &Owner, role: &str, extra: &[(&str, &str)]) -> Value {
    let mut kv: Vec<(&str, &str)> = vec![(K_OWNER, owner.as_str()), (K_ROLE, role)];
    kv.extend_from_slice(extra);
    smap(kv)
}

/// The operations of one change, as ovs-vsctl would send them (`i`
/// keeps the named uuids of different changes apart).
fn build(t: &mut Txn, i: usize, c: &OvsChange) {
    match c {
        OvsChange::AddBridge {
            name,
            datapath_type,
            owner,
            ..
        } => {
            let (iface, port, br) = (format!("i{i}"), format!("p{i}"), format!("b{i}"));
            t.push(
                Op::Insert {
                    table: "Interface".into(),
                    row: json!({"name": name, "type": "internal"}),
                    uuid_name: Some(iface.clone()),
                },
                Expect::Any,
            );
            t.push(
                Op::Insert {
                    table: "Port".into(),
                    row: json!({"name": name, "interfaces": named(&iface)}),
                    uuid_name: Some(port.clone()),
                },
                Expect::Any,
            );
            t.push(
                Op::Insert {
                    table: "Bridge".into(),
                    row: json!({
                        "name": name,
                        "ports": set(vec![named(&port)]),
                        // forward like a learning switch without a controller
                        "fail_mode": "standalone",
                        "datapath_type": datapath_type,
                        "external_ids": ids(owner, "switch", &[]),
                    }),
                    uuid_name: Some(br.clone()),
                },
                Expect::Any,
            );
            t.push(
                Op::Mutate {
                    table: "Open_vSwitch".into(),
                    wh: vec![],
                    mutations: vec![json!(["bridges", "insert", set(vec![named(&br)])])],
                },
                Expect::Count(1),
            );
        }
        OvsChange::DelBridge { uuid: u, .. } => {
            t.push(
                Op::Mutate {
                    table: "Open_vSwitch".into(),
                    wh: vec![],
                    mutations: vec![json!(["bridges", "delete", set(vec![uuid(u)])])],
                },
                Expect::Count(1),
            );
        }
        OvsChange::SetTag { uuid: u, tag, .. } => {
            let v = match tag {
                Some(t) => json!(t),
                None => set(vec![]),
            };
            t.push(
                Op::Update {
                    table: "Port".into(),
                    wh: vec![cond("_uuid", "==", uuid(u))],
                    row: json!({ "tag": v }),
                },
                Expect::Count(1),
            );
        }
        OvsChange::AddPort {
            bridge,
            port,
            internal,
            tag,
            mark,
            ..
        } => {
            let (iface, p) = (format!("i{i}"), format!("p{i}"));
            let mut irow = json!({"name": port});
            if *internal {
                irow["type"] = json!("internal");
            }
            t.push(
                Op::Insert {
                    table: "Interface".into(),
                    row: irow,
                    uuid_name: Some(iface.clone()),
                },
                Expect::Any,
            );
            let (ns, sw) = mark.port_ids();
            let mut prow = json!({
                "name": port,
                "interfaces": named(&iface),
                "external_ids": ids(mark.owner(), "port", &[(K_NS, &ns), (K_SWITCH, &sw)]),
            });
            if let Some(tag) = tag {
                prow["tag"] = json!(tag);
            }
            t.push(
                Op::Insert {
                    table: "Port".into(),
                    row: prow,
                    uuid_name: Some(p.clone()),
                },
                Expect::Any,
            );
            t.push(
                Op::Mutate {
                    table: "Bridge".into(),
                    wh: vec![cond("name", "==", json!(bridge))],
                    mutations: vec![json!(["ports", "insert", set(vec![named(&p)])])],
                },
                Expect::Count(1),
            );
        }
        OvsChange::DelPort {
            bridge, uuid: u, ..
        } => {
            // the Port row (and its Interface) is garbage-collected once
            // no bridge references it
            t.push(
                Op::Mutate {
                    table: "Bridge".into(),
                    wh: vec![cond("name", "==", json!(bridge))],
                    mutations: vec![json!(["ports", "delete", set(vec![uuid(u)])])],
                },
                Expect::Count(1),
            );
        }
    }
}
