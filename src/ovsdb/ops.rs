//! OVSDB transactions as data (like libovsdb's op builders): operations are
//! built into a `Txn`, sent as one `transact`, and every per-operation
//! result is checked, including the trailing commit error and the row
//! counts of `update`/`mutate`/`delete` (a mutate that matched no row
//! "succeeds" with count 0, and a Port meant to be referenced would then be
//! garbage-collected silently).
//!
//! Also the value helpers: atoms, `["uuid", ..]`, `["named-uuid", ..]`,
//! sets and maps, and reading them back from rows.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Client, DB, OvsdbError};

/// `["uuid", u]`
pub fn uuid(u: &str) -> Value {
    json!(["uuid", u])
}

/// `["named-uuid", n]`: a row inserted earlier in the same transaction
pub fn named(n: &str) -> Value {
    json!(["named-uuid", n])
}

/// `["set", [..]]`
pub fn set(v: Vec<Value>) -> Value {
    json!(["set", v])
}

/// `["map", [[k, v], ..]]` of strings
pub fn smap<'a>(kv: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    json!([
        "map",
        kv.into_iter()
            .map(|(k, v)| json!([k, v]))
            .collect::<Vec<_>>()
    ])
}

/// `ovs-vsctl set TABLE . COLUMN:K=V…` on a root table's one row: each
/// key's value replaced, the map's other keys kept (delete the keys, then
/// insert them, in one mutate).
pub fn set_keys(table: &str, column: &str, pairs: &[(&str, &str)]) -> Op {
    let keys: Vec<Value> = pairs.iter().map(|(k, _)| json!(k)).collect();
    Op::Mutate {
        table: table.into(),
        wh: vec![],
        mutations: vec![
            json!([column, "delete", set(keys)]),
            json!([column, "insert", smap(pairs.iter().copied())]),
        ],
    }
}

/// A `where` condition: `[column, function, value]`.
pub fn cond(col: &str, func: &str, v: Value) -> Value {
    json!([col, func, v])
}

/// What a result must show for the transaction to count as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Any,
    /// exactly this many rows matched
    Count(i64),
}

/// One operation, as data.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Insert {
        table: String,
        row: Value,
        uuid_name: Option<String>,
    },
    Select {
        table: String,
        wh: Vec<Value>,
        columns: Option<Vec<String>>,
    },
    Update {
        table: String,
        wh: Vec<Value>,
        row: Value,
    },
    Mutate {
        table: String,
        wh: Vec<Value>,
        mutations: Vec<Value>,
    },
    Delete {
        table: String,
        wh: Vec<Value>,
    },
    Wait {
        table: String,
        wh: Vec<Value>,
        columns: Vec<String>,
        until: String,
        rows: Vec<Value>,
        timeout_ms: Option<u64>,
    },
    Comment(String),
}

impl Op {
    pub fn to_json(&self) -> Value {
        match self {
            Op::Insert {
                table,
                row,
                uuid_name,
            } => {
                let mut m = Map::new();
                m.insert("op".into(), "insert".into());
                m.insert("table".into(), table.clone().into());
                m.insert("row".into(), row.clone());
                if let Some(n) = uuid_name {
                    m.insert("uuid-name".into(), n.clone().into());
                }
                Value::Object(m)
            }
            Op::Select { table, wh, columns } => {
                let mut v = json!({"op": "select", "table": table, "where": wh});
                if let Some(c) = columns {
                    v["columns"] = json!(c);
                }
                v
            }
            Op::Update { table, wh, row } => {
                json!({"op": "update", "table": table, "where": wh, "row": row})
            }
            Op::Mutate {
                table,
                wh,
                mutations,
            } => {
                json!({"op": "mutate", "table": table, "where": wh, "mutations": mutations})
            }
            Op::Delete { table, wh } => json!({"op": "delete", "table": table, "where": wh}),
            Op::Wait {
                table,
                wh,
                columns,
                until,
                rows,
                timeout_ms,
            } => {
                let mut v = json!({"op": "wait", "table": table, "where": wh, "columns": columns, "until": until, "rows": rows});
                if let Some(t) = timeout_ms {
                    v["timeout"] = json!(t);
                }
                v
            }
            Op::Comment(c) => json!({"op": "comment", "comment": c}),
        }
    }

    /// A short description for error messages: `insert into Port`.
    pub fn describe(&self) -> String {
        match self {
            Op::Insert {
                table, uuid_name, ..
            } => {
                format!(
                    "insert into {table}{}",
                    uuid_name
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                )
            }
            Op::Select { table, .. } => format!("select from {table}"),
            Op::Update { table, .. } => format!("update {table}"),
            Op::Mutate {
                table, mutations, ..
            } => format!("mutate {table} {}", Value::Array(mutations.clone())),
            Op::Delete { table, .. } => format!("delete from {table}"),
            Op::Wait { table, .. } => format!("wait on {table}"),
            Op::Comment(_) => "comment".into(),
        }
    }
}

/// One transaction: operations and what each must show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Txn {
    pub ops: Vec<(Op, Expect)>,
    /// the database, when not Open_vSwitch (OVN_Northbound)
    pub db: Option<&'static str>,
}

impl Txn {
    pub fn new() -> Txn {
        Txn::default()
    }
    /// A transaction on another database of the server.
    pub fn for_db(db: &'static str) -> Txn {
        Txn {
            ops: vec![],
            db: Some(db),
        }
    }
    /// One select of every row of each table, with its columns (what
    /// `ovs-vsctl show` and `ovn-nbctl show` read).
    pub fn select_all(&mut self, tables: &[(&str, &[&str])]) {
        for (table, cols) in tables {
            self.push(
                Op::Select {
                    table: table.to_string(),
                    wh: vec![],
                    columns: Some(cols.iter().map(|c| c.to_string()).collect()),
                },
                Expect::Any,
            );
        }
    }

    pub fn push(&mut self, op: Op, expect: Expect) -> usize {
        self.ops.push((op, expect));
        self.ops.len() - 1
    }
    pub fn is_empty(&self) -> bool {
        self.ops.iter().all(|(o, _)| matches!(o, Op::Comment(_)))
    }
    /// The `transact` params: `["Open_vSwitch", op, ...]`.
    pub fn params(&self) -> Value {
        let mut v = vec![Value::from(self.db.unwrap_or(DB))];
        v.extend(self.ops.iter().map(|(o, _)| o.to_json()));
        Value::Array(v)
    }

    /// Check a `transact` result against the operations; the per-op results.
    pub fn check(&self, result: &Value) -> Result<Vec<Value>, OvsdbError> {
        let arr = result.as_array().ok_or_else(|| OvsdbError::Commit {
            error: format!("transact answered {result}"),
            details: None,
        })?;
        let err_of = |v: &Value| {
            v.get("error").and_then(|e| e.as_str()).map(|e| {
                (
                    e.to_string(),
                    v.get("details").and_then(|d| d.as_str()).map(String::from),
                )
            })
        };
        for (i, (op, expect)) in self.ops.iter().enumerate() {
            let Some(r) = arr.get(i) else {
                // results stop at the first failed op; a missing entry
                // after an error entry is reported by the loop below
                break;
            };
            if let Some((error, details)) = err_of(r) {
                return Err(OvsdbError::Transaction {
                    index: i,
                    op: op.describe(),
                    error,
                    details,
                });
            }
            if let Expect::Count(n) = expect {
                let got = r.get("count").and_then(|c| c.as_i64()).unwrap_or(-1);
                if got != *n {
                    return Err(OvsdbError::Count {
                        op: op.describe(),
                        expected: n.to_string(),
                        got,
                    });
                }
            }
        }
        // a trailing entry: the commit's own error (constraint, referential integrity, ...)
        for r in arr.iter().skip(self.ops.len()) {
            if let Some((error, details)) = err_of(r) {
                return Err(OvsdbError::Commit { error, details });
            }
        }
        if arr.len() < self.ops.len() {
            return Err(OvsdbError::Commit {
                error: format!("{} results for {} operations", arr.len(), self.ops.len()),
                details: None,
            });
        }
        Ok(arr[..self.ops.len()].to_vec())
    }
}

impl Client {
    /// Send one transaction and check every result.
    pub async fn transact(&self, txn: &Txn) -> Result<Vec<Value>, OvsdbError> {
        let r = self.request("transact", txn.params()).await?;
        txn.check(&r)
    }
}

// ------------------------------------------------------------ reading rows

/// A row as returned by select or monitor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row(pub Map<String, Value>);

impl Row {
    pub fn from_value(v: &Value) -> Row {
        Row(v.as_object().cloned().unwrap_or_default())
    }
    pub fn str(&self, col: &str) -> Option<&str> {
        self.0.get(col).and_then(|v| v.as_str())
    }
    /// An optional scalar column (`["set", []]` when empty, else the atom).
    pub fn opt(&self, col: &str) -> Option<&Value> {
        match self.0.get(col)? {
            Value::Array(a) if a.len() == 2 && a[0] == "set" => {
                a[1].as_array().and_then(|s| s.first())
            }
            v => Some(v),
        }
    }
    pub fn int(&self, col: &str) -> Option<i64> {
        self.opt(col).and_then(|v| v.as_i64())
    }
    pub fn uuid(&self) -> Option<&str> {
        uuid_of(self.0.get("_uuid")?)
    }
    /// A set-of-uuids column.
    pub fn uuids(&self, col: &str) -> Vec<String> {
        atoms(self.0.get(col))
            .iter()
            .filter_map(uuid_of)
            .map(String::from)
            .collect()
    }
    /// The rows a set-of-uuids column refers to, looked up by uuid among
    /// the rows of the other table read in the same transaction (a port's
    /// interfaces, a bridge's ports); references not found are skipped.
    pub fn refs<T: Clone>(&self, col: &str, by_uuid: &BTreeMap<String, T>) -> Vec<T> {
        self.uuids(col)
            .iter()
            .filter_map(|u| by_uuid.get(u).cloned())
            .collect()
    }
    /// A set-of-strings column.
    pub fn strings(&self, col: &str) -> Vec<String> {
        atoms(self.0.get(col))
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    }
    /// A string→string map column.
    pub fn map(&self, col: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(Value::Array(a)) = self.0.get(col)
            && a.len() == 2
            && a[0] == "map"
        {
            for kv in a[1].as_array().into_iter().flatten() {
                if let (Some(k), Some(v)) = (kv[0].as_str(), kv[1].as_str()) {
                    out.insert(k.to_string(), v.to_string());
                }
            }
        }
        out
    }
}

fn uuid_of(v: &Value) -> Option<&str> {
    match v {
        Value::Array(a) if a.len() == 2 && a[0] == "uuid" => a[1].as_str(),
        _ => None,
    }
}

/// The atoms of a set column (a bare atom is a set of one).
/// The rows of the select at index `i` of a transaction's results.
pub fn rows(result: &[Value], i: usize) -> Vec<Row> {
    result[i]["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Row::from_value)
        .collect()
}

/// The atoms of a set column (`["set", [..]]` or one atom).
pub fn atoms(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) if a.len() == 2 && a[0] == "set" => {
            a[1].as_array().cloned().unwrap_or_default()
        }
        Some(v) => vec![v.clone()],
        None => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_serialize_as_rfc7047() {
        let mut t = Txn::new();
        t.push(
            Op::Insert {
                table: "Interface".into(),
                row: json!({"name": "p1", "type": "internal"}),
                uuid_name: Some("i0".into()),
            },
            Expect::Any,
        );
        t.push(
            Op::Mutate {
                table: "Bridge".into(),
                wh: vec![cond("name", "==", json!("br0"))],
                mutations: vec![json!(["ports", "insert", set(vec![named("p0")])])],
            },
            Expect::Count(1),
        );
        assert_eq!(
            t.params(),
            json!(["Open_vSwitch",
                {"op": "insert", "table": "Interface", "row": {"name": "p1", "type": "internal"}, "uuid-name": "i0"},
                {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]],
                 "mutations": [["ports", "insert", ["set", [["named-uuid", "p0"]]]]]}])
        );
    }

    #[test]
    fn every_result_is_checked() {
        let mut t = Txn::new();
        t.push(
            Op::Insert {
                table: "Port".into(),
                row: json!({}),
                uuid_name: None,
            },
            Expect::Any,
        );
        t.push(
            Op::Mutate {
                table: "Bridge".into(),
                wh: vec![],
                mutations: vec![],
            },
            Expect::Count(1),
        );
        assert!(
            t.check(&json!([{"uuid": ["uuid", "x"]}, {"count": 1}]))
                .is_ok()
        );
        // count 0: the row is gone
        assert!(matches!(
            t.check(&json!([{"uuid": ["uuid", "x"]}, {"count": 0}])),
            Err(OvsdbError::Count { got: 0, .. })
        ));
        // per-op error
        let e = t
            .check(&json!([{"error": "constraint violation", "details": "name taken"}]))
            .unwrap_err();
        assert!(matches!(e, OvsdbError::Transaction { index: 0, .. }), "{e}");
        assert!(e.to_string().contains("name taken"));
        // trailing commit error
        assert!(matches!(
            t.check(&json!([{"uuid": ["uuid", "x"]}, {"count": 1}, {"error": "referential integrity violation"}])),
            Err(OvsdbError::Commit { .. })
        ));
        // too few results
        assert!(t.check(&json!([{"uuid": ["uuid", "x"]}])).is_err());
    }

    #[test]
    fn rows_read_back() {
        let r = Row::from_value(&json!({
            "_uuid": ["uuid", "u1"],
            "ports": ["set", [["uuid", "a"], ["uuid", "b"]]],
            "interfaces": ["uuid", "c"],
            "ofport": ["set", []],
            "cur_cfg": 3,
            "external_ids": ["map", [["swctl-owner", "cli"]]],
        }));
        assert_eq!(r.uuid(), Some("u1"));
        assert_eq!(r.uuids("ports"), vec!["a", "b"]);
        assert_eq!(r.uuids("interfaces"), vec!["c"]);
        assert_eq!(r.int("ofport"), None);
        assert_eq!(r.int("cur_cfg"), Some(3));
        assert_eq!(r.map("external_ids")["swctl-owner"], "cli");
    }
}
