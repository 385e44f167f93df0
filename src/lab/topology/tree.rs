//! A topology file as a plain tree of values, each with the line and column
//! it was written at (TOML; JSON has no positions for values), and a
//! `Reader` that walks it collecting every problem (`Problem`: key path,
//! message, position) instead of stopping at the first: unknown keys, wrong
//! types and missing keys all end up in one list.

use serde::Serialize;

/// Where a value is in the file (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// One problem of a topology file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// key path, e.g. `hosts.h1.ports[0].ip[1]` (empty for syntax errors)
    pub path: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, "{l}:{c}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    /// keys in file order
    Table(Vec<(String, Node)>),
    /// a TOML date/time (no key of a topology takes one)
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub v: Value,
    pub at: Option<Pos>,
}

impl Node {
    /// The value as JSON (what a backend's switch option checks: the same
    /// for a TOML and a JSON file).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.v {
            Value::Str(s) => s.clone().into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => (*f).into(),
            Value::Bool(b) => (*b).into(),
            Value::Array(a) => a.iter().map(Node::to_json).collect(),
            Value::Table(t) => t.iter().map(|(k, n)| (k.clone(), n.to_json())).collect(),
            Value::Other => serde_json::Value::Null,
        }
    }

    fn type_name(&self) -> &'static str {
        match &self.v {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
            Value::Other => "a date/time",
        }
    }
}

/// Line and column of byte offsets in one text: the line starts are found
/// once, each position by binary search (a 2000-host file has 10,000
/// values; scanning from the start for each took 0.9 s).
pub struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    pub fn pos(&self, at: usize) -> Pos {
        let at = at.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= at);
        let start = self.starts[line - 1];
        let column = self.text[start..at].chars().count() + 1;
        Pos { line, column }
    }
}

/// Line and column of byte offset `at` in `text`.
pub fn pos_of(text: &str, at: usize) -> Pos {
    Lines::new(text).pos(at)
}

/// Parse TOML into a tree; every syntax error at once, with its position.
pub fn from_toml(text: &str) -> Result<Node, Vec<Problem>> {
    use toml::de::{DeTable, DeValue};
    let (table, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|e| {
                let p = e.span().map(|s| pos_of(text, s.start));
                Problem {
                    path: String::new(),
                    message: e.message().trim().to_string(),
                    line: p.map(|p| p.line),
                    column: p.map(|p| p.column),
                }
            })
            .collect());
    }
    fn conv(text: &Lines, v: &DeValue, at: usize) -> Node {
        let v = match v {
            DeValue::String(s) => Value::Str(s.to_string()),
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .map(Value::Int)
                .unwrap_or(Value::Other),
            DeValue::Float(f) => f
                .as_str()
                .replace('_', "")
                .parse()
                .map(Value::Float)
                .unwrap_or(Value::Other),
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Datetime(_) => Value::Other,
            DeValue::Array(a) => Value::Array(
                a.iter()
                    .map(|x| conv(text, x.get_ref(), x.span().start))
                    .collect(),
            ),
            DeValue::Table(t) => Value::Table(table_of(text, t)),
        };
        Node {
            v,
            at: Some(text.pos(at)),
        }
    }
    fn table_of(text: &Lines, t: &DeTable) -> Vec<(String, Node)> {
        let mut v: Vec<(usize, String, Node)> = t
            .iter()
            .map(|(k, x)| {
                let start = k.span().start;
                (
                    start,
                    k.get_ref().to_string(),
                    conv(text, x.get_ref(), start),
                )
            })
            .collect();
        v.sort_by_key(|(s, ..)| *s);
        v.into_iter().map(|(_, k, n)| (k, n)).collect()
    }
    let lines = Lines::new(text);
    Ok(Node {
        v: Value::Table(table_of(&lines, table.get_ref())),
        at: Some(Pos { line: 1, column: 1 }),
    })
}

/// Parse JSON into a tree (positions only for syntax errors).
pub fn from_json(text: &str) -> Result<Node, Vec<Problem>> {
    fn conv(v: serde_json::Value) -> Node {
        use serde_json::Value as J;
        let v = match v {
            J::String(s) => Value::Str(s),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::Bool(b) => Value::Bool(b),
            J::Array(a) => Value::Array(a.into_iter().map(conv).collect()),
            J::Object(o) => Value::Table(o.into_iter().map(|(k, v)| (k, conv(v))).collect()),
            J::Null => Value::Other,
        };
        Node { v, at: None }
    }
    serde_json::from_str::<serde_json::Value>(text)
        .map(conv)
        .map_err(|e| {
            vec![Problem {
                path: String::new(),
                message: e.to_string(),
                line: Some(e.line()),
                column: Some(e.column()),
            }]
        })
}

/// Walks a tree, collecting problems.
#[derive(Default)]
pub struct Reader {
    pub problems: Vec<Problem>,
}

pub type Table<'a> = &'a [(String, Node)];

/// The value of `key` in a table.
pub fn get<'a>(t: Table<'a>, key: &str) -> Option<&'a Node> {
    t.iter().find(|(k, _)| k == key).map(|(_, n)| n)
}

/// `a.b` or `a."odd key"`.
pub fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if plain {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

impl Reader {
    pub fn err(&mut self, path: &str, at: Option<Pos>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_string(),
            message: message.into(),
            line: at.map(|p| p.line),
            column: at.map(|p| p.column),
        });
    }

    fn wrong_type(&mut self, path: &str, n: &Node, want: &str) {
        self.err(
            path,
            n.at,
            format!("expected {want}, found {}", n.type_name()),
        );
    }

    /// A table whose keys must be among `known` (each other key is a
    /// problem, with the keys it could have meant).
    pub fn table<'a, K: AsRef<str>>(
        &mut self,
        n: &'a Node,
        path: &str,
        known: &[K],
    ) -> Option<Table<'a>> {
        let Value::Table(t) = &n.v else {
            self.wrong_type(path, n, "a table");
            return None;
        };
        for (k, v) in t {
            if !known.iter().any(|x| x.as_ref() == k) {
                let known: Vec<&str> = known.iter().map(AsRef::as_ref).collect();
                self.err(
                    &join(path, k),
                    v.at,
                    format!("unknown key; expected one of {}", known.join(", ")),
                );
            }
        }
        Some(t)
    }

    /// A table of named entries (`[hosts.NAME]`), any names.
    pub fn entries<'a>(&mut self, n: Option<&'a Node>, path: &str) -> Table<'a> {
        match n {
            None => &[],
            Some(Node {
                v: Value::Table(t), ..
            }) => t,
            Some(n) => {
                self.wrong_type(path, n, "a table");
                &[]
            }
        }
    }

    /// An array (missing: empty).
    pub fn array<'a>(&mut self, n: Option<&'a Node>, path: &str) -> &'a [Node] {
        match n {
            None => &[],
            Some(Node {
                v: Value::Array(a), ..
            }) => a,
            Some(n) => {
                self.wrong_type(path, n, "an array");
                &[]
            }
        }
    }

    pub fn str<'a>(&mut self, n: Option<&'a Node>, path: &str) -> Option<(&'a str, Option<Pos>)> {
        match n {
            None => None,
            Some(Node {
                v: Value::Str(s),
                at,
            }) => Some((s, *at)),
            Some(n) => {
                self.wrong_type(path, n, "a string");
                None
            }
        }
    }

    /// A required string: missing is a problem too.
    pub fn required_str<'a>(
        &mut self,
        t: Table<'a>,
        at: Option<Pos>,
        path: &str,
        key: &str,
    ) -> Option<(&'a str, Option<Pos>)> {
        let p = join(path, key);
        match get(t, key) {
            None => {
                self.err(&p, at, "missing (required)");
                None
            }
            n => self.str(n, &p),
        }
    }

    pub fn int(&mut self, n: Option<&Node>, path: &str) -> Option<(i64, Option<Pos>)> {
        match n {
            None => None,
            Some(Node {
                v: Value::Int(i),
                at,
            }) => Some((*i, *at)),
            Some(n) => {
                self.wrong_type(path, n, "an integer");
                None
            }
        }
    }

    pub fn bool(&mut self, n: Option<&Node>, path: &str) -> Option<bool> {
        match n {
            None => None,
            Some(Node {
                v: Value::Bool(b), ..
            }) => Some(*b),
            Some(n) => {
                self.wrong_type(path, n, "a boolean (true or false)");
                None
            }
        }
    }

    /// One string or an array of strings: each with its path and position.
    pub fn strings(&mut self, n: Option<&Node>, path: &str) -> Vec<(String, String, Option<Pos>)> {
        match n {
            None => vec![],
            Some(Node {
                v: Value::Str(s),
                at,
            }) => vec![(s.clone(), format!("{path}[0]"), *at)],
            Some(Node {
                v: Value::Array(a), ..
            }) => a
                .iter()
                .enumerate()
                .filter_map(|(i, x)| {
                    let p = format!("{path}[{i}]");
                    self.str(Some(x), &p).map(|(s, at)| (s.to_string(), p, at))
                })
                .collect(),
            Some(n) => {
                self.wrong_type(path, n, "a string or an array of strings");
                vec![]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_every_syntax_error() {
        let t = from_toml("name = \"x\"\n[hosts.h1]\nforward = true\n").unwrap();
        let Value::Table(top) = &t.v else { panic!() };
        let hosts = get(top, "hosts").unwrap();
        let Value::Table(h) = &hosts.v else { panic!() };
        let h1 = get(h, "h1").unwrap();
        let Value::Table(h1) = &h1.v else { panic!() };
        let f = get(h1, "forward").unwrap();
        assert_eq!(f.v, Value::Bool(true));
        assert_eq!(f.at, Some(Pos { line: 3, column: 1 }));
        let e = from_toml("a = \nb = [\nc = 1\n").unwrap_err();
        assert!(!e.is_empty() && e.iter().all(|p| p.line.is_some()), "{e:?}");
        let e = from_json("{\"a\": [1,}").unwrap_err();
        assert_eq!(e[0].line, Some(1));
    }

    #[test]
    fn reader_collects_every_problem() {
        let t = from_toml("x = 1\ny = \"s\"\nz = [1, \"a\"]\n").unwrap();
        let mut r = Reader::default();
        let tab = r.table(&t, "", &["y", "z"]).unwrap();
        r.int(get(tab, "y"), "y");
        let v = r.strings(get(tab, "z"), "z");
        assert_eq!(v.len(), 1);
        let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            text,
            [
                "1:1: x: unknown key; expected one of y, z",
                "2:1: y: expected an integer, found a string",
                "3:6: z[0]: expected a string, found an integer",
            ]
        );
    }
}
