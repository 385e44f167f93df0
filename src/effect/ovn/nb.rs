//! The Northbound database through swctl's own OVSDB client: its logical
//! switches and ports as data (`NbState`), and planned changes applied in
//! one checked transaction that also bumps `nb_cfg` (what `ovn-nbctl`
//! does; `hv_cfg` then tells when every chassis has caught up).

use serde_json::{Value, json};

use crate::model::ovn::{K_ROUTER, NbChange, NbPort, NbRouter, NbRouterPort, NbState, NbSwitch};
use crate::model::ovs::{K_NS, K_OWNER, K_ROLE, K_SWITCH};
use crate::ovsdb::ops::{Expect, Op, Txn, cond, named, rows, set, smap, uuid};
use crate::ovsdb::{Client, OvsdbError};

use super::central::NB_DB;

/// A connection to a Northbound database.
pub struct Nb {
    client: Client,
}

impl Nb {
    /// Connect to the Northbound database at `addr` (unix:PATH, tcp:H:P).
    pub async fn connect(addr: &str) -> Result<Nb, OvsdbError> {
        let client = Client::connect_to(addr, crate::ovsdb::Server::Northbound).await?;
        let dbs = client.list_dbs().await?;
        if !dbs.iter().any(|d| d == NB_DB) {
            return Err(OvsdbError::Schema(format!(
                "the server at {addr} has no {NB_DB} database (it has {dbs:?}): is it OVN's Northbound? `swctl ovn start` starts a private one"
            )));
        }
        Ok(Nb { client })
    }

    pub fn addr(&self) -> &str {
        self.client.addr()
    }

    /// Every logical switch and router with its ports (`ovn-nbctl show`,
    /// as data).
    pub async fn state(&self) -> Result<NbState, OvsdbError> {
        let r = self.client.transact(&state_query()).await?;
        Ok(state_of(&r, self.client.addr()))
    }

    /// All `changes` in one transaction, `nb_cfg += 1` with them.
    pub async fn apply(&self, changes: &[NbChange]) -> Result<(), OvsdbError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.client.transact(&apply_txn(changes)).await?;
        Ok(())
    }
}

/// The selects `Nb::state` sends.
pub fn state_query() -> Txn {
    let mut t = Txn::for_db(NB_DB);
    t.select_all(&[
        (
            "Logical_Switch",
            &["_uuid", "name", "ports", "external_ids"],
        ),
        (
            "Logical_Switch_Port",
            &[
                "_uuid",
                "name",
                "addresses",
                "port_security",
                "options",
                "external_ids",
                "up",
            ],
        ),
        (
            "Logical_Router",
            &["_uuid", "name", "ports", "external_ids"],
        ),
        ("Logical_Router_Port", &["_uuid", "name", "mac", "networks"]),
    ]);
    t
}

/// The Northbound state in the answer `r` to `state_query()` from the
/// server at `addr` (pure: the fake's in-memory server is read the same way).
pub fn state_of(r: &[Value], addr: &str) -> NbState {
    let ports: std::collections::BTreeMap<String, NbPort> = rows(r, 1)
        .iter()
        .filter_map(|p| {
            Some((
                p.uuid()?.to_string(),
                NbPort {
                    uuid: p.uuid()?.to_string(),
                    name: p.str("name")?.to_string(),
                    addresses: p.strings("addresses"),
                    port_security: p.strings("port_security"),
                    options: p.map("options"),
                    external_ids: p.map("external_ids"),
                    up: p.opt("up").and_then(|v| v.as_bool()),
                },
            ))
        })
        .collect();
    let mut switches: Vec<NbSwitch> = rows(r, 0)
        .iter()
        .filter_map(|s| {
            let mut ps: Vec<NbPort> = s.refs("ports", &ports);
            ps.sort_by(|a, b| a.name.cmp(&b.name));
            Some(NbSwitch {
                uuid: s.uuid()?.to_string(),
                name: s.str("name").unwrap_or("").to_string(),
                external_ids: s.map("external_ids"),
                ports: ps,
            })
        })
        .collect();
    switches.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    let lrps: std::collections::BTreeMap<String, NbRouterPort> = rows(r, 3)
        .iter()
        .filter_map(|p| {
            Some((
                p.uuid()?.to_string(),
                NbRouterPort {
                    uuid: p.uuid()?.to_string(),
                    name: p.str("name")?.to_string(),
                    mac: p.str("mac").unwrap_or("").to_string(),
                    networks: p.strings("networks"),
                },
            ))
        })
        .collect();
    let mut routers: Vec<NbRouter> = rows(r, 2)
        .iter()
        .filter_map(|x| {
            let mut ps: Vec<NbRouterPort> = x.refs("ports", &lrps);
            ps.sort_by(|a, b| a.name.cmp(&b.name));
            Some(NbRouter {
                uuid: x.uuid()?.to_string(),
                name: x.str("name").unwrap_or("").to_string(),
                external_ids: x.map("external_ids"),
                ports: ps,
            })
        })
        .collect();
    routers.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    NbState {
        addr: addr.to_string(),
        switches,
        routers,
    }
}

/// The one transaction of `changes` (and `nb_cfg += 1`).
pub fn apply_txn(changes: &[NbChange]) -> Txn {
    let mut t = Txn::for_db(NB_DB);
    t.push(
        Op::Comment(format!("swctl: {} change(s)", changes.len())),
        Expect::Any,
    );
    for (i, c) in changes.iter().enumerate() {
        build(&mut t, i, c, changes);
    }
    t.push(
        Op::Mutate {
            table: "NB_Global".into(),
            wh: vec![],
            mutations: vec![json!(["nb_cfg", "+=", 1])],
        },
        Expect::Count(1),
    );
    t
}

/// The named uuid of the switch `AddSwitch` makes for `name` in this
/// transaction.
fn new_switch(changes: &[NbChange], name: &str) -> Option<String> {
    changes.iter().enumerate().find_map(|(i, c)| match c {
        NbChange::AddSwitch { name: n, .. } if n == name => Some(format!("ls{i}")),
        _ => None,
    })
}

/// The operations of one change (`i` keeps named uuids apart).
fn build(t: &mut Txn, i: usize, c: &NbChange, all: &[NbChange]) {
    let lsp_row = |address: &str, security: &str, chassis: &str| {
        json!({
            "addresses": set(vec![json!(address)]),
            "port_security": set(vec![json!(security)]),
            "options": smap(vec![("requested-chassis", chassis)]),
        })
    };
    match c {
        NbChange::AddSwitch { name, owner } => {
            t.push(
                Op::Insert {
                    table: "Logical_Switch".into(),
                    row: json!({
                        "name": name,
                        "external_ids": smap(vec![
                            (K_OWNER, owner.as_str()),
                            (K_ROLE, "switch"),
                            (K_SWITCH, name.as_str()),
                        ]),
                    }),
                    uuid_name: Some(format!("ls{i}")),
                },
                Expect::Any,
            );
        }
        NbChange::DelSwitch { uuid: u, .. } => {
            t.push(
                Op::Delete {
                    table: "Logical_Switch".into(),
                    wh: vec![cond("_uuid", "==", uuid(u))],
                },
                Expect::Count(1),
            );
        }
        NbChange::AddPort {
            switch,
            switch_uuid,
            name,
            address,
            security,
            chassis,
            owner,
            ns,
        } => {
            let mut row = lsp_row(address, security, chassis);
            row["name"] = json!(name);
            row["external_ids"] = smap(vec![
                (K_OWNER, owner.as_str()),
                (K_ROLE, "port"),
                (K_NS, ns.as_str()),
                (K_SWITCH, switch.as_str()),
            ]);
            t.push(
                Op::Insert {
                    table: "Logical_Switch_Port".into(),
                    row,
                    uuid_name: Some(format!("lsp{i}")),
                },
                Expect::Any,
            );
            let target = match (switch_uuid, new_switch(all, switch)) {
                (Some(u), _) => uuid(u),
                (None, Some(n)) => named(&n),
                (None, None) => json!(["named-uuid", "missing"]),
            };
            t.push(
                Op::Mutate {
                    table: "Logical_Switch".into(),
                    wh: vec![cond("_uuid", "==", target)],
                    mutations: vec![json!([
                        "ports",
                        "insert",
                        set(vec![named(&format!("lsp{i}"))])
                    ])],
                },
                Expect::Count(1),
            );
        }
        NbChange::SetPort {
            uuid: u,
            address,
            security,
            chassis,
            ..
        } => {
            t.push(
                Op::Update {
                    table: "Logical_Switch_Port".into(),
                    wh: vec![cond("_uuid", "==", uuid(u))],
                    row: lsp_row(address, security, chassis),
                },
                Expect::Count(1),
            );
        }
        NbChange::AddRouter { name, owner, ports } => {
            let mut lrps = vec![];
            for (k, p) in ports.iter().enumerate() {
                let lrp = format!("lrp{i}x{k}");
                let nets: Vec<Value> = p.networks.iter().map(|n| json!(n)).collect();
                t.push(
                    Op::Insert {
                        table: "Logical_Router_Port".into(),
                        row: json!({"name": p.lrp, "mac": p.mac, "networks": set(nets)}),
                        uuid_name: Some(lrp.clone()),
                    },
                    Expect::Any,
                );
                lrps.push(named(&lrp));
                let lsp = format!("rlsp{i}x{k}");
                t.push(
                    Op::Insert {
                        table: "Logical_Switch_Port".into(),
                        row: json!({
                            "name": p.lsp,
                            "type": "router",
                            "addresses": set(vec![json!("router")]),
                            "options": smap(vec![("router-port", p.lrp.as_str())]),
                            "external_ids": smap(vec![
                                (K_OWNER, owner.as_str()),
                                (K_ROLE, "router-port"),
                                (K_ROUTER, name.as_str()),
                            ]),
                        }),
                        uuid_name: Some(lsp.clone()),
                    },
                    Expect::Any,
                );
                let target = match (&p.switch_uuid, new_switch(all, &p.switch)) {
                    (Some(u), _) => uuid(u),
                    (None, Some(n)) => named(&n),
                    (None, None) => json!(["named-uuid", "missing"]),
                };
                t.push(
                    Op::Mutate {
                        table: "Logical_Switch".into(),
                        wh: vec![cond("_uuid", "==", target)],
                        mutations: vec![json!(["ports", "insert", set(vec![named(&lsp)])])],
                    },
                    Expect::Count(1),
                );
            }
            t.push(
                Op::Insert {
                    table: "Logical_Router".into(),
                    row: json!({
                        "name": name,
                        "ports": set(lrps),
                        "external_ids": smap(vec![
                            (K_OWNER, owner.as_str()),
                            (K_ROLE, "router"),
                            (K_ROUTER, name.as_str()),
                        ]),
                    }),
                    uuid_name: None,
                },
                Expect::Any,
            );
        }
        NbChange::DelRouter { uuid: u, lsps, .. } => {
            for (sw, lsp) in lsps {
                t.push(
                    Op::Mutate {
                        table: "Logical_Switch".into(),
                        wh: vec![cond("_uuid", "==", uuid(sw))],
                        mutations: vec![json!(["ports", "delete", set(vec![uuid(lsp)])])],
                    },
                    Expect::Count(1),
                );
            }
            t.push(
                Op::Delete {
                    table: "Logical_Router".into(),
                    wh: vec![cond("_uuid", "==", uuid(u))],
                },
                Expect::Count(1),
            );
        }
        NbChange::DelPort {
            switch_uuid,
            uuid: u,
            ..
        } => {
            // the port row goes once no switch refers to it (not a root table)
            t.push(
                Op::Mutate {
                    table: "Logical_Switch".into(),
                    wh: vec![cond("_uuid", "==", uuid(switch_uuid))],
                    mutations: vec![json!(["ports", "delete", set(vec![uuid(u)])])],
                },
                Expect::Count(1),
            );
        }
    }
}
