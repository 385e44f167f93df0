//! Topology files: TOML (or JSON, same model) describing a whole lab, parsed
//! and validated into a `Desired` state. Every problem is reported with its
//! key path (`hosts.h1.ports[0].ip[0]: ...`), all at once, before anything
//! is touched. Unknown keys are errors, so a typo never silently does
//! nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::model::names::{Cidr, IfName, Loc, NsName, Owner, RouteDest, parse_ip};
use crate::model::{Backend, Desired, LinkSpec, NsSpec, PortSpec, RouteSpec, SwitchSpec, Via};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read {0}: {1}")]
    Read(String, String),
    #[error("{file}: {msg}")]
    Syntax { file: String, msg: String },
    #[error("{file}: {} problem{}:\n  {}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.join("\n  "))]
    Invalid { file: String, problems: Vec<String> },
}

/// A list that may be written as one value: `ip = "198.18.0.1/24"` or
/// `ip = ["198.18.0.1/24", "2001:db8::1/64"]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
    #[default]
    #[serde(skip)]
    None,
}

impl OneOrMany {
    fn items(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
            OneOrMany::None => vec![],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub name: String,
    pub backend: Option<String>,
    #[serde(default)]
    pub switches: BTreeMap<String, SwitchFile>,
    #[serde(default)]
    pub hosts: BTreeMap<String, HostFile>,
    #[serde(default)]
    pub links: Vec<LinkFile>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SwitchFile {
    pub backend: Option<String>,
    #[serde(default)]
    pub address: OneOrMany,
    pub namespace: Option<String>,
    /// OVS: "system" | "netdev"
    pub datapath: Option<String>,
    /// OVS: the OVSDB server of this switch (`unix:PATH`, `tcp:HOST:PORT`)
    pub ovsdb: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HostFile {
    pub forward: Option<bool>,
    #[serde(default)]
    pub routes: Vec<RouteFile>,
    #[serde(default)]
    pub ports: Vec<PortFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub to: String,
    pub via: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortFile {
    pub switch: String,
    #[serde(default)]
    pub ip: OneOrMany,
    pub via: Option<String>,
    pub ifname: Option<String>,
    pub vlan: Option<i64>,
    pub mtu: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    pub a: String,
    pub b: String,
    #[serde(default)]
    pub a_ip: OneOrMany,
    #[serde(default)]
    pub b_ip: OneOrMany,
    pub a_ifname: Option<String>,
    pub b_ifname: Option<String>,
    pub mtu: Option<i64>,
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
    let json = path.extension().is_some_and(|e| e == "json");
    parse(&text, json, &file)
}

pub fn parse(text: &str, json: bool, file: &str) -> Result<Topology, TopologyError> {
    let f: File = if json {
        serde_json::from_str(text).map_err(|e| TopologyError::Syntax {
            file: file.into(),
            msg: e.to_string(),
        })?
    } else {
        toml::from_str(text).map_err(|e| TopologyError::Syntax {
            file: file.into(),
            msg: e.to_string().trim().to_string(),
        })?
    };
    validate(&f).map_err(|problems| TopologyError::Invalid {
        file: file.into(),
        problems,
    })
}

fn mtu_of(v: Option<i64>, path: String, err: &mut dyn FnMut(String, String)) -> Option<u32> {
    match v {
        None => None,
        Some(m) if (68..=65535).contains(&m) => Some(m as u32),
        Some(m) => {
            err(path, format!("{m} is not an MTU (68-65535)"));
            None
        }
    }
}

fn backend_of(s: &str) -> Option<Backend> {
    match s {
        "bridge" => Some(Backend::Bridge),
        "ovs" => Some(Backend::Ovs),
        _ => None,
    }
}

/// Check everything; collect every problem with its key path.
pub fn validate(f: &File) -> Result<Topology, Vec<String>> {
    let mut errs: Vec<String> = Vec::new();
    let mut err = |path: String, msg: String| errs.push(format!("{path}: {msg}"));
    let name: Option<Owner> = match f.name.parse::<Owner>() {
        Ok(o) if o.as_str() == "cli" => {
            err(
                "name".into(),
                "`cli` is reserved for imperative commands".into(),
            );
            None
        }
        Ok(o) => Some(o),
        Err(e) => {
            err("name".into(), e.to_string());
            None
        }
    };
    let default_backend = match &f.backend {
        None => Backend::Bridge,
        Some(b) => backend_of(b).unwrap_or_else(|| {
            err(
                "backend".into(),
                format!("{b:?} is not one of \"bridge\", \"ovs\""),
            );
            Backend::Bridge
        }),
    };
    let mut d = Desired::new(name.clone().unwrap_or_else(Owner::cli));
    let mut all_ips: BTreeMap<IpAddr, String> = BTreeMap::new();
    let mut ip_list =
        |path: String, items: &OneOrMany, err: &mut dyn FnMut(String, String)| -> Vec<Cidr> {
            let mut out = Vec::new();
            for (i, s) in items.items().iter().enumerate() {
                let p = format!("{path}[{i}]");
                match s.parse::<Cidr>() {
                    Ok(c) => {
                        if let Some(prev) = all_ips.get(&c.addr) {
                            err(p, format!("address {} is already used at {prev}", c.addr));
                        } else {
                            all_ips.insert(c.addr, p.clone());
                            out.push(c);
                        }
                    }
                    Err(e) => err(p, e.to_string()),
                }
            }
            out
        };

    // hosts (namespaces) first: switches and links refer to them
    let mut hosts: BTreeSet<NsName> = BTreeSet::new();
    for h in f.hosts.keys() {
        match h.parse::<NsName>() {
            Ok(n) => {
                hosts.insert(n);
            }
            Err(e) => err(format!("hosts.{h}"), e.to_string()),
        }
    }
    // switches
    for (sname, s) in &f.switches {
        let path = format!("switches.{sname}");
        let name = match sname.parse::<IfName>() {
            Ok(n) => Some(n),
            Err(e) => {
                err(path.clone(), e.to_string());
                None
            }
        };
        let backend = match &s.backend {
            None => default_backend,
            Some(b) => backend_of(b).unwrap_or_else(|| {
                err(
                    format!("{path}.backend"),
                    format!("{b:?} is not one of \"bridge\", \"ovs\""),
                );
                default_backend
            }),
        };
        let loc = match &s.namespace {
            None => Loc::Host,
            Some(n) => match n.parse::<NsName>() {
                Ok(ns) => {
                    if backend == Backend::Ovs {
                        err(
                            format!("{path}.namespace"),
                            "an OVS bridge lives in Open vSwitch, not in a namespace".into(),
                        );
                    }
                    if !hosts.contains(&ns) {
                        // the namespace only hosts the bridge: create it too
                        d.namespaces.insert(ns.clone(), NsSpec::default());
                    }
                    Loc::Ns(ns)
                }
                Err(e) => {
                    err(format!("{path}.namespace"), e.to_string());
                    Loc::Host
                }
            },
        };
        if let Some(db) = &s.ovsdb {
            if backend != Backend::Ovs {
                err(
                    format!("{path}.ovsdb"),
                    "only an OVS switch has an OVSDB server".into(),
                );
            } else if !(db.starts_with("unix:") || db.starts_with("tcp:")) {
                err(
                    format!("{path}.ovsdb"),
                    format!("{db:?} is not unix:PATH or tcp:HOST:PORT"),
                );
            }
        }
        if let Some(dp) = &s.datapath {
            if backend != Backend::Ovs {
                err(
                    format!("{path}.datapath"),
                    "only an OVS switch has a datapath".into(),
                );
            } else if dp != "system" && dp != "netdev" {
                err(
                    format!("{path}.datapath"),
                    format!("{dp:?} is not one of \"system\", \"netdev\""),
                );
            }
        }
        let addrs = ip_list(format!("{path}.address"), &s.address, &mut err);
        if let Some(n) = name {
            d.switches.insert(
                n,
                SwitchSpec {
                    backend,
                    loc,
                    addrs,
                    datapath: s.datapath.clone(),
                    ovsdb: s.ovsdb.clone(),
                },
            );
        }
    }
    for (hname, h) in &f.hosts {
        let path = format!("hosts.{hname}");
        let Ok(ns) = hname.parse::<NsName>() else {
            continue;
        };
        let mut routes = Vec::new();
        for (i, r) in h.routes.iter().enumerate() {
            let rp = format!("{path}.routes[{i}]");
            let dest =
                r.to.parse::<RouteDest>()
                    .map_err(|e| err(format!("{rp}.to"), e.to_string()));
            let via = parse_ip(&r.via).map_err(|e| err(format!("{rp}.via"), e.to_string()));
            if let (Ok(dest), Ok(via)) = (dest, via) {
                if let RouteDest::Net(c) = dest
                    && c.addr.is_ipv4() != via.is_ipv4()
                {
                    err(
                        rp.clone(),
                        format!("{dest} and gateway {via} are of different IP families"),
                    );
                    continue;
                }
                let spec = RouteSpec { dest, via };
                if routes.iter().any(|x: &RouteSpec| x.dest == dest) {
                    err(rp, format!("a route to {dest} is already given"));
                } else {
                    routes.push(spec);
                }
            }
        }
        d.namespaces.insert(
            ns.clone(),
            NsSpec {
                forward: h.forward,
                routes,
            },
        );
        let mut ifnames: BTreeSet<String> = BTreeSet::new();
        let mut switches_seen: BTreeSet<String> = BTreeSet::new();
        for (i, p) in h.ports.iter().enumerate() {
            let pp = format!("{path}.ports[{i}]");
            let sw = match p.switch.parse::<IfName>() {
                Ok(s) if d.switches.contains_key(&s) || f.switches.contains_key(&p.switch) => {
                    Some(s)
                }
                Ok(_) => {
                    err(
                        format!("{pp}.switch"),
                        format!("no switch {:?} in [switches]", p.switch),
                    );
                    None
                }
                Err(e) => {
                    err(format!("{pp}.switch"), e.to_string());
                    None
                }
            };
            if !switches_seen.insert(p.switch.clone()) {
                err(
                    format!("{pp}.switch"),
                    format!("{hname} is already attached to {}", p.switch),
                );
            }
            let via = match p.via.as_deref() {
                None | Some("auto") => Via::Auto,
                Some("veth") => Via::Veth,
                Some("internal") => Via::Internal,
                Some(o) => {
                    err(
                        format!("{pp}.via"),
                        format!("{o:?} is not one of \"auto\", \"veth\", \"internal\""),
                    );
                    Via::Auto
                }
            };
            let sw_backend = sw
                .as_ref()
                .and_then(|s| d.switches.get(s))
                .map(|s| s.backend);
            if via == Via::Internal && sw_backend == Some(Backend::Bridge) {
                err(
                    format!("{pp}.via"),
                    "an internal port exists only on an OVS switch".into(),
                );
            }
            let ifname = match &p.ifname {
                None => None,
                Some(n) => match n.parse::<IfName>() {
                    Ok(x) if x.as_str() == "lo" => {
                        err(
                            format!("{pp}.ifname"),
                            "`lo` is the namespace's loopback".into(),
                        );
                        None
                    }
                    Ok(x) => {
                        if !ifnames.insert(x.to_string()) {
                            err(
                                format!("{pp}.ifname"),
                                format!("{x} is used twice in {hname}"),
                            );
                        }
                        Some(x)
                    }
                    Err(e) => {
                        err(format!("{pp}.ifname"), e.to_string());
                        None
                    }
                },
            };
            let vlan = match p.vlan {
                None => None,
                Some(v) if (1..=4094).contains(&v) => {
                    if sw_backend == Some(Backend::Bridge) {
                        err(
                            format!("{pp}.vlan"),
                            "access VLANs need the OVS backend (Linux bridge VLAN filtering is not supported by swctl yet)"
                                .into(),
                        );
                    }
                    Some(v as u16)
                }
                Some(v) => {
                    err(
                        format!("{pp}.vlan"),
                        format!("{v} is not a VLAN id (1-4094)"),
                    );
                    None
                }
            };
            let addrs = ip_list(format!("{pp}.ip"), &p.ip, &mut err);
            if let Some(sw) = sw {
                d.ports.push(PortSpec {
                    ns: ns.clone(),
                    switch: sw,
                    ifname,
                    addrs,
                    via,
                    vlan,
                    mtu: mtu_of(p.mtu, format!("{pp}.mtu"), &mut err),
                });
            }
        }
    }
    let mut link_keys = BTreeSet::new();
    for (i, l) in f.links.iter().enumerate() {
        let lp = format!("links[{i}]");
        let end = |s: &str, key: &str, err: &mut dyn FnMut(String, String)| -> Option<Loc> {
            match s.parse::<Loc>() {
                Ok(Loc::Host) => Some(Loc::Host),
                Ok(Loc::Ns(n)) if hosts.contains(&n) => Some(Loc::Ns(n)),
                Ok(Loc::Ns(n)) => {
                    err(
                        format!("{lp}.{key}"),
                        format!("no host \"{n}\" in [hosts] (or `host`)"),
                    );
                    None
                }
                Err(e) => {
                    err(format!("{lp}.{key}"), e.to_string());
                    None
                }
            }
        };
        let a = end(&l.a, "a", &mut err);
        let b = end(&l.b, "b", &mut err);
        let ifn = |v: &Option<String>,
                   key: &str,
                   err: &mut dyn FnMut(String, String)|
         -> Option<IfName> {
            v.as_ref().and_then(|n| {
                n.parse::<IfName>()
                    .map_err(|e| err(format!("{lp}.{key}"), e.to_string()))
                    .ok()
            })
        };
        let a_ifname = ifn(&l.a_ifname, "a_ifname", &mut err);
        let b_ifname = ifn(&l.b_ifname, "b_ifname", &mut err);
        let a_addrs = ip_list(format!("{lp}.a_ip"), &l.a_ip, &mut err);
        let b_addrs = ip_list(format!("{lp}.b_ip"), &l.b_ip, &mut err);
        if let (Some(a), Some(b)) = (a, b) {
            let key = crate::model::Key::link(&a, &b);
            if !link_keys.insert(key) {
                err(lp, format!("{} and {} are already linked", l.a, l.b));
                continue;
            }
            d.links.push(LinkSpec {
                a,
                b,
                a_ifname,
                b_ifname,
                a_addrs,
                b_addrs,
                mtu: mtu_of(l.mtu, format!("{lp}.mtu"), &mut err),
            });
        }
    }
    if errs.is_empty() {
        let name = name.expect("no error means a valid name");
        d.owner = name.clone();
        Ok(Topology { name, desired: d })
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for e in std::fs::read_dir(dir).unwrap().flatten() {
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
        let text = problems.join("\n");
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
    fn unknown_keys_and_type_errors_are_syntax_errors() {
        assert!(matches!(
            parse("name = \"x\"\n[hosts.h1]\nfowrard = true\n", false, "t"),
            Err(TopologyError::Syntax { .. })
        ));
        assert!(matches!(
            parse("name = \"x\"\n[hosts.h1]\nforward = \"yes\"\n", false, "t"),
            Err(TopologyError::Syntax { .. })
        ));
    }
}
