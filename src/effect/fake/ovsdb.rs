//! An in-memory OVSDB server for the fake, as libovsdb's test server is for
//! its users: it executes the very transactions swctl sends a real one
//! (Open_vSwitch's from `effect::ovs::txn::build`, OVN_Northbound's from
//! `effect::ovn::nb`: insert with named uuids, select, update,
//! mutate of sets, maps and integers, delete, comment, wait), with the
//! server's rules taken from the pinned schema — unique indexes (a second
//! bridge, port or interface of a name is a "constraint violation"),
//! references that must lead to a row ("referential integrity violation"),
//! and rows of non-root tables collected once nothing refers to them (a
//! Port goes with its bridge's `ports -= `). A transaction applies whole or
//! not at all, and its answer is the server's (results, then an error).
//! What ovs-vswitchd does after a commit (`cur_cfg` catches up, an
//! `ofport` for each new interface) is `vswitchd`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::ovsdb::ops::{Op, Txn, atoms};
use crate::ovsdb::schema::PINNED;

/// OVN's Northbound schema as OVN 23.03 ships it (schema 7.0.0), pinned
/// like the Open_vSwitch one: the fake's Northbound keeps its rules.
pub const NB_SCHEMA: &str = include_str!("../../../ovs-schema/ovn-nb.ovsschema");

type Rows = BTreeMap<String, Map<String, Value>>;

/// One database of an in-memory server.
#[derive(Debug, Clone)]
pub struct MemDb {
    tables: BTreeMap<String, Rows>,
    next: u64,
    rules: &'static Rules,
}

/// A failed operation: the server's `error` and `details`.
struct OpError(&'static str, String);

/// The schema's rules swctl's transactions meet: root tables, unique
/// indexes.
#[derive(Debug)]
struct Rules {
    roots: BTreeSet<String>,
    indexes: BTreeMap<String, Vec<Vec<String>>>,
    /// (table, column) of weak references: they keep no row, and a
    /// reference to a row that is gone is dropped (a Mirror's ports)
    weak: BTreeSet<(String, String)>,
}

/// The rules of Open_vSwitch and of OVN_Northbound, each read from its
/// pinned schema once.
fn rules(northbound: bool) -> &'static Rules {
    static OVS: std::sync::OnceLock<Rules> = std::sync::OnceLock::new();
    static NB: std::sync::OnceLock<Rules> = std::sync::OnceLock::new();
    if northbound {
        NB.get_or_init(|| read_rules(NB_SCHEMA))
    } else {
        OVS.get_or_init(|| read_rules(PINNED))
    }
}

fn read_rules(schema: &str) -> Rules {
    let s: Value = serde_json::from_str(schema).expect("a pinned schema is JSON");
    let mut r = Rules {
        roots: BTreeSet::new(),
        indexes: BTreeMap::new(),
        weak: BTreeSet::new(),
    };
    for (t, v) in s["tables"].as_object().into_iter().flatten() {
        for (c, col) in v["columns"].as_object().into_iter().flatten() {
            if col["type"]["key"]["refType"] == "weak" || col["type"]["value"]["refType"] == "weak"
            {
                r.weak.insert((t.clone(), c.clone()));
            }
        }
        if v["isRoot"] == true {
            r.roots.insert(t.clone());
        }
        if let Some(ix) = v["indexes"].as_array() {
            let cols = ix
                .iter()
                .map(|i| {
                    i.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str().map(String::from))
                        .collect()
                })
                .collect();
            r.indexes.insert(t.clone(), cols);
        }
    }
    r
}

/// The pairs of a map column.
fn pairs(v: Option<&Value>) -> Vec<(Value, Value)> {
    match v {
        Some(Value::Array(a)) if a.len() == 2 && a[0] == "map" => a[1]
            .as_array()
            .into_iter()
            .flatten()
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect(),
        _ => vec![],
    }
}

fn is_map(v: &Value) -> bool {
    matches!(v, Value::Array(a) if a.len() == 2 && a[0] == "map")
}

/// Every uuid a value refers to.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    if let Value::Array(a) = v {
        if a.len() == 2 && a[0] == "uuid" {
            if let Some(u) = a[1].as_str() {
                out.insert(u.to_string());
            }
            return;
        }
        for x in a {
            refs(x, out);
        }
    }
}

/// A weak reference column without its references to rows not in `all`
/// (a set keeps the rest; a single reference becomes the empty set).
fn drop_dangling(v: &mut Value, all: &BTreeSet<String>) {
    let dangling = |x: &Value| {
        let mut r = BTreeSet::new();
        refs(x, &mut r);
        r.iter().any(|u| !all.contains(u))
    };
    match v {
        Value::Array(a) if a.len() == 2 && a[0] == "set" => {
            if let Some(items) = a[1].as_array_mut() {
                items.retain(|x| !dangling(x));
            }
        }
        x if dangling(x) => *x = json!(["set", []]),
        _ => {}
    }
}

/// `["named-uuid", N]` replaced by the uuid the transaction gave N.
fn resolve(v: &Value, named: &BTreeMap<String, String>) -> Result<Value, OpError> {
    Ok(match v {
        Value::Array(a) if a.len() == 2 && a[0] == "named-uuid" => {
            let n = a[1].as_str().unwrap_or("");
            let u = named
                .get(n)
                .ok_or_else(|| OpError("syntax error", format!("no named-uuid {n}")))?;
            json!(["uuid", u])
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| resolve(x, named))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), resolve(x, named)?)))
                .collect::<Result<_, OpError>>()?,
        ),
        v => v.clone(),
    })
}

impl Default for MemDb {
    fn default() -> MemDb {
        MemDb::new()
    }
}

impl MemDb {
    /// An Open_vSwitch database with its root row (as `ovsdb-tool create`
    /// then `ovs-vsctl init` leave it).
    pub fn new() -> MemDb {
        MemDb::with_root(
            rules(false),
            "Open_vSwitch",
            json!({"bridges": ["set", []], "next_cfg": 0, "cur_cfg": 0}),
        )
    }

    /// An OVN_Northbound database with its NB_Global row (as
    /// `ovn-nbctl init` leaves it).
    pub fn northbound() -> MemDb {
        MemDb::with_root(rules(true), "NB_Global", json!({"nb_cfg": 0}))
    }

    fn with_root(rules: &'static Rules, table: &str, row: Value) -> MemDb {
        let mut db = MemDb {
            tables: BTreeMap::new(),
            next: 0,
            rules,
        };
        let u = db.uuid();
        let mut root = row.as_object().cloned().unwrap_or_default();
        root.insert("_uuid".into(), json!(["uuid", u]));
        db.tables.entry(table.into()).or_default().insert(u, root);
        db
    }

    fn uuid(&mut self) -> String {
        self.next += 1;
        format!("0000abcd-0000-0000-0000-{:012}", self.next)
    }

    /// The rows of `table` matching every condition of `wh`.
    fn matching(&self, table: &str, wh: &[Value]) -> Vec<String> {
        let Some(rows) = self.tables.get(table) else {
            return vec![];
        };
        rows.iter()
            .filter(|(_, row)| {
                wh.iter().all(|c| {
                    let (col, f, want) = (c[0].as_str().unwrap_or(""), &c[1], &c[2]);
                    let have = row.get(col).cloned().unwrap_or(Value::Null);
                    let same = atoms(Some(&have)) == atoms(Some(want));
                    if f == "!=" { !same } else { same }
                })
            })
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// Execute transaction `t` as ovsdb-server does: whole or not at all;
    /// the answer a server sends.
    pub fn transact(&mut self, t: &Txn) -> Value {
        let mut work = self.clone();
        let mut results = vec![];
        match work.run(t, &mut results) {
            Ok(()) => {
                *self = work;
                Value::Array(results)
            }
            Err(OpError(error, details)) => {
                results.push(json!({"error": error, "details": details}));
                Value::Array(results)
            }
        }
    }

    fn run(&mut self, t: &Txn, results: &mut Vec<Value>) -> Result<(), OpError> {
        // named uuids first: a row may refer to one inserted later
        let mut named = BTreeMap::new();
        for (op, _) in &t.ops {
            if let Op::Insert {
                uuid_name: Some(n), ..
            } = op
            {
                let u = self.uuid();
                named.insert(n.clone(), u);
            }
        }
        for (op, _) in &t.ops {
            let r = self.op(op, &named)?;
            results.push(r);
        }
        self.commit()
    }

    fn op(&mut self, op: &Op, named: &BTreeMap<String, String>) -> Result<Value, OpError> {
        Ok(match op {
            Op::Comment(_) => json!({}),
            Op::Wait { .. } => json!({}),
            Op::Insert {
                table,
                row,
                uuid_name,
            } => {
                let u = match uuid_name {
                    Some(n) => named[n].clone(),
                    None => self.uuid(),
                };
                let mut r = resolve(row, named)?
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                r.insert("_uuid".into(), json!(["uuid", u]));
                self.tables
                    .entry(table.clone())
                    .or_default()
                    .insert(u.clone(), r);
                json!({"uuid": ["uuid", u]})
            }
            Op::Select { table, wh, columns } => {
                let wh = resolve(&json!(wh), named)?;
                let rows: Vec<Value> = self
                    .matching(table, wh.as_array().unwrap())
                    .iter()
                    .map(|u| {
                        let row = &self.tables[table][u];
                        let mut out = Map::new();
                        for (k, v) in row {
                            if columns.as_ref().is_none_or(|c| c.contains(k)) {
                                out.insert(k.clone(), v.clone());
                            }
                        }
                        Value::Object(out)
                    })
                    .collect();
                json!({ "rows": rows })
            }
            Op::Update { table, wh, row } => {
                let wh = resolve(&json!(wh), named)?;
                let row = resolve(row, named)?;
                let hit = self.matching(table, wh.as_array().unwrap());
                for u in &hit {
                    let r = self.tables.get_mut(table).unwrap().get_mut(u).unwrap();
                    for (k, v) in row.as_object().into_iter().flatten() {
                        r.insert(k.clone(), v.clone());
                    }
                }
                json!({ "count": hit.len() })
            }
            Op::Mutate {
                table,
                wh,
                mutations,
            } => {
                let wh = resolve(&json!(wh), named)?;
                let hit = self.matching(table, wh.as_array().unwrap());
                for u in &hit {
                    let r = self.tables.get_mut(table).unwrap().get_mut(u).unwrap();
                    for m in mutations {
                        let m = resolve(m, named)?;
                        let col = m[0].as_str().unwrap_or("").to_string();
                        mutate(r, &col, m[1].as_str().unwrap_or(""), &m[2])?;
                    }
                }
                json!({ "count": hit.len() })
            }
            Op::Delete { table, wh } => {
                let wh = resolve(&json!(wh), named)?;
                let hit = self.matching(table, wh.as_array().unwrap());
                for u in &hit {
                    self.tables.get_mut(table).unwrap().remove(u);
                }
                json!({ "count": hit.len() })
            }
        })
    }

    /// The server's checks at commit: rows of non-root tables nothing
    /// refers to are collected, then every reference must lead to a row
    /// and every index must be unique.
    fn commit(&mut self) -> Result<(), OpError> {
        let rules = self.rules;
        loop {
            let mut used = BTreeSet::new();
            for (t, rows) in &self.tables {
                for row in rows.values() {
                    for (k, v) in row {
                        if k != "_uuid" && !rules.weak.contains(&(t.clone(), k.clone())) {
                            refs(v, &mut used);
                        }
                    }
                }
            }
            let mut gone = false;
            for (t, rows) in self.tables.iter_mut() {
                if rules.roots.contains(t) {
                    continue;
                }
                let before = rows.len();
                rows.retain(|u, _| used.contains(u));
                gone |= rows.len() != before;
            }
            if !gone {
                // weak references to rows that are gone are dropped
                let all: BTreeSet<String> = self
                    .tables
                    .values()
                    .flat_map(|r| r.keys().cloned())
                    .collect();
                for (t, rows) in self.tables.iter_mut() {
                    for row in rows.values_mut() {
                        for (k, v) in row.iter_mut() {
                            if rules.weak.contains(&(t.clone(), k.clone())) {
                                drop_dangling(v, &all);
                            }
                        }
                    }
                }
                let all: BTreeSet<&String> = self.tables.values().flat_map(|r| r.keys()).collect();
                if let Some(u) = used.iter().find(|u| !all.contains(u)) {
                    return Err(OpError(
                        "referential integrity violation",
                        format!("a row refers to {u}, which does not exist"),
                    ));
                }
                break;
            }
        }
        for (t, ixs) in &rules.indexes {
            let Some(rows) = self.tables.get(t) else {
                continue;
            };
            for ix in ixs {
                let mut seen = BTreeSet::new();
                for row in rows.values() {
                    let key: Vec<String> = ix
                        .iter()
                        .map(|c| row.get(c).map(|v| v.to_string()).unwrap_or_default())
                        .collect();
                    if !seen.insert(key.clone()) {
                        return Err(OpError(
                            "constraint violation",
                            format!(
                                "Transaction causes multiple rows in \"{t}\" table to have identical values ({}) for index on column \"{}\"",
                                key.join(", "),
                                ix.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// What ovs-vswitchd does once a transaction is committed: it reaches
    /// `next_cfg` and gives every new interface an OpenFlow port.
    pub fn vswitchd(&mut self) {
        for root in self
            .tables
            .entry("Open_vSwitch".into())
            .or_default()
            .values_mut()
        {
            let n = root.get("next_cfg").cloned().unwrap_or(json!(0));
            root.insert("cur_cfg".into(), n);
        }
        let ifaces = self.tables.entry("Interface".into()).or_default();
        let mut next = ifaces
            .values()
            .filter_map(|r| r.get("ofport").and_then(|v| v.as_i64()))
            .max()
            .unwrap_or(0);
        for r in ifaces.values_mut() {
            if r.get("ofport").and_then(|v| v.as_i64()).is_none() {
                next += 1;
                r.insert("ofport".into(), json!(next));
            }
        }
    }

    /// The rows of `table` (for the fake's own bookkeeping).
    pub fn rows(&self, table: &str) -> Vec<&Map<String, Value>> {
        self.tables
            .get(table)
            .map(|r| r.values().collect())
            .unwrap_or_default()
    }
}

/// One mutation of column `col` of row `r`.
fn mutate(r: &mut Map<String, Value>, col: &str, f: &str, v: &Value) -> Result<(), OpError> {
    let cur = r.get(col).cloned();
    let new = match f {
        "+=" | "-=" => {
            let (a, b) = (
                cur.and_then(|c| c.as_i64()).unwrap_or(0),
                v.as_i64().unwrap_or(0),
            );
            json!(if f == "+=" { a + b } else { a - b })
        }
        "insert" if is_map(v) || cur.as_ref().is_some_and(is_map) => {
            let mut have = pairs(cur.as_ref());
            for (k, x) in pairs(Some(v)) {
                // a map insert keeps an existing key's value
                if !have.iter().any(|(hk, _)| *hk == k) {
                    have.push((k, x));
                }
            }
            json!([
                "map",
                have.into_iter()
                    .map(|(k, x)| json!([k, x]))
                    .collect::<Vec<_>>()
            ])
        }
        "delete" if cur.as_ref().is_some_and(is_map) => {
            let keys: Vec<Value> = if is_map(v) {
                pairs(Some(v)).into_iter().map(|(k, _)| k).collect()
            } else {
                atoms(Some(v))
            };
            let have: Vec<Value> = pairs(cur.as_ref())
                .into_iter()
                .filter(|(k, _)| !keys.contains(k))
                .map(|(k, x)| json!([k, x]))
                .collect();
            json!(["map", have])
        }
        "insert" => {
            let mut have = atoms(cur.as_ref());
            for x in atoms(Some(v)) {
                if !have.contains(&x) {
                    have.push(x);
                }
            }
            json!(["set", have])
        }
        "delete" => {
            let gone = atoms(Some(v));
            let have: Vec<Value> = atoms(cur.as_ref())
                .into_iter()
                .filter(|x| !gone.contains(x))
                .collect();
            json!(["set", have])
        }
        other => {
            return Err(OpError(
                "domain error",
                format!("mutator {other} is not supported here"),
            ));
        }
    };
    r.insert(col.to_string(), new);
    Ok(())
}

#[cfg(test)]
#[path = "ovsdb_tests.rs"]
mod tests;
