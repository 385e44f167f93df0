//! An OVS switch's port mirrors as a topology asks for them (the switch
//! option `mirrors`, each `{ name, select = ["h1", ..] | "all", vlans,
//! output = "h3" }`): what `ovs-vsctl -- --id=@m create Mirror name=M
//! select_src_port=@p select_dst_port=@p output_port=@o -- add Bridge SW
//! mirrors @m` makes. The values and their rules; planned by
//! `plan::ovs_mirror`.

use serde::Serialize;
use serde_json::{Value, json};

use super::names::NsName;

/// What a mirror copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Select {
    /// every packet the switch forwards (`select_all=true`)
    All,
    /// what these hosts' ports on the switch send and receive
    /// (`select_src_port` and `select_dst_port`)
    Hosts(Vec<NsName>),
}

/// One mirror of a switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorSpec {
    /// the Mirror row's `name` (default: the switch's name, `-m` and its
    /// number)
    pub name: String,
    pub select: Select,
    /// only these VLANs (`select_vlan`); empty: every VLAN
    pub vlans: Vec<u16>,
    /// the host whose port on the switch receives the copies
    /// (`output_port`; OVS forwards nothing else to or from that port)
    pub output: NsName,
}

/// The keys of a mirror's table.
pub const KEYS: &[&str] = &["name", "select", "vlans", "output"];

fn host(v: &Value, key: &str) -> Result<NsName, String> {
    match v {
        Value::String(s) => s.parse().map_err(|e| format!("{key}: {e}")),
        other => Err(format!("{key}: a host's name, not {other}")),
    }
}

impl MirrorSpec {
    /// The mirrors of a switch from its `mirrors` option (one table or a
    /// list of them); `i`-th unnamed: `{switch}-m{i}` once the switch's
    /// name is known (`named`).
    pub fn list_from_json(v: &Value) -> Result<Vec<MirrorSpec>, String> {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        let list = items
            .into_iter()
            .enumerate()
            .map(|(i, m)| MirrorSpec::from_json(m).map_err(|e| format!("mirrors[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, m) in list.iter().enumerate() {
            if !m.name.is_empty() && list[..i].iter().any(|x| x.name == m.name) {
                return Err(format!("mirrors[{i}]: a second mirror named {:?}", m.name));
            }
        }
        Ok(list)
    }

    fn from_json(v: &Value) -> Result<MirrorSpec, String> {
        let Some(t) = v.as_object() else {
            return Err(format!(
                "a mirror is a table ({{ select = [\"h1\"], output = \"h3\" }}), not {v}"
            ));
        };
        if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown key {k:?}; expected one of {}",
                KEYS.join(", ")
            ));
        }
        let name = match t.get("name") {
            None => String::new(),
            Some(Value::String(s)) if !s.is_empty() && !s.chars().any(char::is_whitespace) => {
                s.clone()
            }
            Some(o) => return Err(format!("name: a word, not {o}")),
        };
        let select = match t.get("select") {
            None => return Err("select is required: a list of hosts, or \"all\"".into()),
            Some(Value::String(s)) if s == "all" => Select::All,
            Some(Value::Array(a)) if !a.is_empty() => {
                let mut hosts: Vec<NsName> = a
                    .iter()
                    .map(|h| host(h, "select"))
                    .collect::<Result<_, _>>()?;
                hosts.sort();
                hosts.dedup();
                Select::Hosts(hosts)
            }
            Some(o) => return Err(format!("select: a list of hosts, or \"all\", not {o}")),
        };
        let vlans = match t.get("vlans") {
            None => vec![],
            Some(Value::Array(a)) => {
                let mut v = a
                    .iter()
                    .map(|x| {
                        x.as_i64()
                            .ok_or_else(|| format!("vlans: a VLAN id, not {x}"))
                            .and_then(|n| super::names::vlan(n).map_err(|e| format!("vlans: {e}")))
                    })
                    .collect::<Result<Vec<u16>, _>>()?;
                v.sort();
                v.dedup();
                v
            }
            Some(o) => return Err(format!("vlans: a list of VLAN ids, not {o}")),
        };
        let output = host(
            t.get("output")
                .ok_or("output is required: the host that receives the copies")?,
            "output",
        )?;
        if let Select::Hosts(h) = &select
            && h.contains(&output)
        {
            return Err(format!(
                "{output} is both selected and the output: OVS never mirrors to a port what it selects from it"
            ));
        }
        Ok(MirrorSpec {
            name,
            select,
            vlans,
            output,
        })
    }

    /// Unnamed mirrors named for switch `sw` (`sw-m1`, `sw-m2`, ...).
    pub fn named(mut list: Vec<MirrorSpec>, sw: &str) -> Vec<MirrorSpec> {
        for (i, m) in list.iter_mut().enumerate() {
            if m.name.is_empty() {
                m.name = format!("{sw}-m{}", i + 1);
            }
        }
        list
    }

    /// The table as a topology file (in JSON form) has it.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "select": match &self.select {
                Select::All => json!("all"),
                Select::Hosts(h) => json!(h.iter().map(|n| n.to_string()).collect::<Vec<_>>()),
            },
            "output": self.output.to_string(),
        });
        if !self.name.is_empty() {
            v["name"] = json!(self.name);
        }
        if !self.vlans.is_empty() {
            v["vlans"] = json!(self.vlans);
        }
        v
    }

    /// The hosts whose ports the mirror names (selected, and the output).
    pub fn hosts(&self) -> Vec<&NsName> {
        let mut v: Vec<&NsName> = match &self.select {
            Select::All => vec![],
            Select::Hosts(h) => h.iter().collect(),
        };
        v.push(&self.output);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_read_back_what_they_write() {
        let v = json!([{"select": ["h2", "h1"], "output": "h3", "vlans": [20, 10]}, {"name": "all", "select": "all", "output": "h4"}]);
        let list = MirrorSpec::named(MirrorSpec::list_from_json(&v).unwrap(), "s1");
        assert_eq!(list[0].name, "s1-m1");
        assert_eq!(list[0].vlans, vec![10, 20]);
        assert_eq!(
            list[0].select,
            Select::Hosts(vec!["h1".parse().unwrap(), "h2".parse().unwrap()])
        );
        assert_eq!(list[1].select, Select::All);
        let back: Vec<Value> = list.iter().map(MirrorSpec::to_json).collect();
        assert_eq!(
            MirrorSpec::list_from_json(&Value::from(back)).unwrap(),
            list
        );
    }

    #[test]
    fn each_rule_says_why() {
        let e = |v: Value| MirrorSpec::list_from_json(&v).unwrap_err();
        assert!(e(json!({"output": "h3"})).contains("select is required"));
        assert!(e(json!({"select": "all"})).contains("output is required"));
        assert!(
            e(json!({"select": ["h1"], "output": "h1"})).contains("both selected and the output")
        );
        assert!(e(json!({"select": [], "output": "h1"})).contains("a list of hosts"));
        assert!(e(json!({"select": "all", "output": "h1", "vlans": [5000]})).contains("VLAN"));
        assert!(
            e(json!({"select": "all", "output": "h1", "to": 1})).contains("unknown key \"to\"")
        );
        assert!(
            e(json!([{"name": "a", "select": "all", "output": "h1"}, {"name": "a", "select": "all", "output": "h2"}]))
                .contains("a second mirror named \"a\"")
        );
    }
}
