//! Topology files: TOML (or JSON, same model) describing a whole lab, read
//! into a tree of values with their positions (`tree`) and validated into
//! a `Desired` state (`validate`). Every problem is reported at once, each
//! with its key path and (TOML) line and column: syntax errors, unknown
//! keys, wrong types, bad names and addresses, dangling references, before
//! anything is touched. A typo never silently does nothing, and never
//! hides the next problem.

mod loops;
mod machines;
pub mod tree;
mod validate;
pub mod write;

use std::path::Path;

use crate::model::Desired;
use crate::model::names::Owner;
pub use tree::Problem;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read {0}: {1}")]
    Read(String, String),
    #[error(
        "{0}: swctl reads topology files in TOML (.toml, or any other name) and JSON (.json), not {1}; convert it (for YAML: `yq -o json . {0} > lab.json`)"
    )]
    Format(String, &'static str),
    #[error("{file}: {} problem{}:\n  {}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

/// A parsed, validated topology.
#[derive(Debug, Clone)]
pub struct Topology {
    pub name: Owner,
    pub desired: Desired,
}

/// Read and validate a topology file (`.json` is JSON, anything else TOML).
pub fn load(path: &Path) -> Result<Topology, TopologyError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| TopologyError::Read(file.clone(), e.to_string()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let other = match ext.to_ascii_lowercase().as_str() {
        "yaml" | "yml" => Some("YAML"),
        "xml" => Some("XML"),
        "ini" => Some("INI"),
        _ => None,
    };
    if let Some(f) = other {
        return Err(TopologyError::Format(file, f));
    }
    let json = ext.eq_ignore_ascii_case("json");
    let mut t = parse(&text, json, &file)?;
    // the hosts' commands run where the file is (its config files beside it)
    t.desired.dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .and_then(|p| p.canonicalize().ok());
    Ok(t)
}

pub fn parse(text: &str, json: bool, file: &str) -> Result<Topology, TopologyError> {
    let invalid = |problems| TopologyError::Invalid {
        file: file.into(),
        problems,
    };
    let tree = if json {
        tree::from_json(text)
    } else {
        tree::from_toml(text)
    }
    .map_err(invalid)?;
    let (name, desired) = validate::validate(&tree).map_err(invalid)?;
    Ok(Topology { name, desired })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Backend;
    use crate::model::names::{IfName, Loc, NsName};

    const LAB: &str = r#"
name = "lab"
backend = "ovs"

[switches.sw0]
backend = "bridge"
address = ["198.18.0.254/24"]
namespace = "core"

[hosts.h1]
forward = false
routes = [{ to = "default", via = "198.18.0.254" }]

[[hosts.h1.ports]]
switch = "sw0"
ip = ["198.18.0.1/24"]
via = "auto"
ifname = "eth0"

[hosts.h2]
[[hosts.h2.ports]]
switch = "sw0"
ip = "198.18.0.2/24"

[[links]]
a = "h1"
b = "h2"
a_ip = ["198.19.0.1/30"]
b_ip = ["198.19.0.2/30"]
"#;

    #[test]
    fn the_documented_example_parses() {
        let t = parse(LAB, false, "lab.toml").unwrap();
        assert_eq!(t.name.as_str(), "lab");
        let d = &t.desired;
        assert_eq!(d.switches.len(), 1);
        let sw = &d.switches[&"sw0".parse::<IfName>().unwrap()];
        assert_eq!(sw.backend, Backend::Bridge);
        assert_eq!(sw.loc, Loc::Ns("core".parse().unwrap()));
        // the bridge's namespace is created too
        assert!(
            d.namespaces
                .contains_key(&"core".parse::<NsName>().unwrap())
        );
        assert_eq!(d.ports.len(), 2);
        assert_eq!(d.links.len(), 1);
        assert_eq!(
            d.namespaces[&"h1".parse::<NsName>().unwrap()].routes.len(),
            1
        );
    }

    #[test]
    fn every_example_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut n = 0;
        // (a lab's config files sit in a directory beside it)
        for e in std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
        {
            let t = load(&e.path()).unwrap_or_else(|err| panic!("{}: {err}", e.path().display()));
            assert!(!t.desired.namespaces.is_empty());
            n += 1;
        }
        assert!(n >= 8, "an example per scenario S1-S8");
    }

    #[test]
    fn json_is_the_same_model() {
        let j = r#"{"name": "j", "hosts": {"a": {}, "b": {}}, "links": [{"a": "a", "b": "b", "a_ip": "198.18.0.1/30"}]}"#;
        let t = parse(j, true, "j.json").unwrap();
        assert_eq!(t.desired.links.len(), 1);
    }

    #[test]
    fn every_problem_is_reported_with_its_key_path() {
        let bad = r#"
name = "lab lab"
backend = "vpp"
[switches.averyveryverylongname]
[switches.s]
datapath = "fast"
[hosts.h1]
routes = [{ to = "198.18.1.5/24", via = "x" }]
[[hosts.h1.ports]]
switch = "nope"
ip = ["198.18.0.1/33", "198.18.0.2/24"]
[[hosts.h1.ports]]
switch = "s"
ip = "198.18.0.2/24"
vlan = 5000
via = "magic"
[[links]]
a = "h1"
b = "h9"
"#;
        let e = parse(bad, false, "bad.toml").unwrap_err();
        let TopologyError::Invalid { problems, .. } = e else {
            panic!("{e:?}")
        };
        let text = problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect::<Vec<_>>()
            .join("\n");
        // every problem has the line it is on
        assert!(problems.iter().all(|p| p.line.is_some()), "{problems:?}");
        for needle in [
            "name: ",
            "backend: \"vpp\"",
            "switches.averyveryverylongname: ",
            "switches.s.datapath: ",
            "hosts.h1.routes[0].to: ",
            "hosts.h1.routes[0].via: ",
            "hosts.h1.ports[0].switch: no switch \"nope\"",
            "hosts.h1.ports[0].ip[0]: ",
            "hosts.h1.ports[1].ip[0]: address 198.18.0.2 is already used at hosts.h1.ports[0].ip[1]",
            "hosts.h1.ports[1].vlan: 5000",
            "hosts.h1.ports[1].via: \"magic\"",
            "links[0].b: no host \"h9\"",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn unknown_keys_and_type_errors_are_all_reported_with_the_rest() {
        let bad = "name = \"x\"\nbackend = \"ovs\"\n[hosts.h1]\nfowrard = true\n[hosts.h2]\nforward = \"yes\"\nroutes = [{ to = \"default\" }]\n[[hosts.h2.ports]]\nswitch = \"nope\"\nvlna = 3\n[[links]]\na = \"h1\"\nb = \"h2\"\nmut = 1500\n";
        let Err(TopologyError::Invalid { problems, .. }) = parse(bad, false, "t") else {
            panic!("invalid")
        };
        let got: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        for want in [
            "4:1: hosts.h1.fowrard: unknown key; expected one of machine, forward, routes, ports",
            "6:1: hosts.h2.forward: expected a boolean (true or false), found a string",
            "7:11: hosts.h2.routes[0].via: missing (required)",
            "9:1: hosts.h2.ports[0].switch: no switch \"nope\" in [switches]",
            "10:1: hosts.h2.ports[0].vlna: unknown key",
            "14:1: links[0].mut: unknown key",
        ] {
            assert!(
                got.iter().any(|g| g.starts_with(want)),
                "missing {want:?} in {got:#?}"
            );
        }
    }

    #[test]
    fn trunks_join_two_linux_bridges_of_the_file_once() {
        let ok = "name = \"t\"\n[switches.b1]\n[switches.b0]\n[[trunks]]\na = \"b1\"\nb = \"b0\"\nmtu = 1400\n";
        let t = parse(ok, false, "t").unwrap();
        assert_eq!(t.desired.trunks.len(), 1);
        let k = &t.desired.trunks[0];
        assert_eq!(
            (k.a.as_str(), k.b.as_str(), k.end.mtu),
            ("b0", "b1", Some(1400))
        );
        let bad = "name = \"t\"\n[switches.b0]\n[switches.b2]\n\
                   [[trunks]]\na = \"b0\"\nb = \"b9\"\n\
                   [[trunks]]\na = \"b0\"\nb = \"b2\"\nvlans = [10]\n\
                   [[trunks]]\na = \"b0\"\nb = \"b0\"\n\
                   [[trunks]]\na = \"b0\"\nc = 1\n";
        let Err(TopologyError::Invalid { problems, .. }) = parse(bad, false, "t") else {
            panic!("invalid")
        };
        let got: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        for want in [
            "trunks[0].b: no switch \"b9\" in [switches]",
            "trunks[1]: vlans and native need an OVS end",
            "trunks[2]: a trunk joins two switches, not b0 to itself",
            "trunks[3].c: unknown key",
            "trunks[3].b: missing (required)",
        ] {
            assert!(
                got.iter().any(|g| g.contains(want)),
                "missing {want:?} in {got:#?}"
            );
        }
    }

    #[test]
    fn every_end_reads_its_keys_the_same_way() {
        // a port's end, a link's two ends (the shared `mtu`, each its own
        // `a_ip`/`b_ip`), a trunk's ends (no address: layer 2)
        let ok = "name = \"e\"\n[switches.b0]\n[switches.b1]\n[hosts.h1]\n\
                  [[hosts.h1.ports]]\nswitch = \"b0\"\nip = \"198.18.9.1/24\"\nmtu = 9000\n\
                  [hosts.h2]\n[[links]]\na = \"h1\"\nb = \"h2\"\nb_ip = \"198.18.8.2/30\"\nmtu = 1400\n\
                  [[trunks]]\na = \"b0\"\nb = \"b1\"\nmtu = 1600\n";
        let d = parse(ok, false, "e").unwrap().desired;
        let c = |s: &str| s.parse::<crate::model::names::Cidr>().unwrap();
        assert_eq!(d.ports[0].end.addrs, vec![c("198.18.9.1/24")]);
        assert_eq!(d.ports[0].end.mtu, Some(9000));
        let l = &d.links[0];
        assert_eq!((l.a_end.mtu, l.b_end.mtu), (Some(1400), Some(1400)));
        assert_eq!(
            (l.a_end.addrs.clone(), l.b_end.addrs.clone()),
            (vec![], vec![c("198.18.8.2/30")])
        );
        assert_eq!(d.trunks[0].end.mtu, Some(1600));
        let bad = "name = \"e\"\n[switches.b0]\n[switches.b1]\n\
                   [[trunks]]\na = \"b0\"\nb = \"b1\"\nip = \"198.18.9.9/24\"\n\
                   [hosts.h1]\n[[links]]\na = \"h1\"\nb = \"host\"\nmtu = 20\n";
        let Err(TopologyError::Invalid { problems, .. }) = parse(bad, false, "e") else {
            panic!("invalid")
        };
        let got: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            got.iter().any(|g| g.contains(
                "trunks[0].ip: unknown key; expected one of a, b, vlans, native, bond, mtu"
            )),
            "{got:#?}"
        );
        // a shared key wrong is said once, not once per end
        assert_eq!(
            got.iter().filter(|g| g.contains("links[0].mtu")).count(),
            1,
            "{got:#?}"
        );
    }

    #[test]
    fn syntax_errors_have_their_line_and_column() {
        let Err(TopologyError::Invalid { problems, .. }) =
            parse("name = \"x\"\nhosts = {\n", false, "t")
        else {
            panic!("invalid")
        };
        assert!(
            problems[0].line.is_some() && problems[0].column.is_some(),
            "{problems:?}"
        );
        let Err(TopologyError::Invalid { problems, .. }) = parse("{\"name\": 1,}", true, "t.json")
        else {
            panic!("invalid")
        };
        assert_eq!(
            (problems[0].line, problems[0].column.is_some()),
            (Some(1), true)
        );
    }
}
