//! `swctl graph`: a lab as a picture. `Graph` is what is drawn, read off a
//! topology (hosts, switches with their backends, routers, the machines
//! they are on; ports with their addresses, VLAN and wiring, direct links,
//! trunks, router ports); `dot` and `mermaid` write it for Graphviz and
//! Mermaid, `svg` (in `graph_svg`) draws it without either.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::names::{Cidr, Loc};
use crate::model::{Desired, Via};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostNode {
    pub name: String,
    pub machine: Option<String>,
    /// forwards between its ports (a gateway)
    pub gateway: bool,
    pub routes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchNode {
    pub name: String,
    /// "bridge", "ovs", "ovn"
    pub backend: String,
    /// the machines it spans (empty: one machine)
    pub machines: Vec<String>,
    /// addresses on the switch itself
    pub addrs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// a host's port on a switch (a = host, b = switch)
    Port,
    /// a direct link between two hosts
    Link,
    /// two switches joined
    Trunk,
    /// a router's port on a switch (a = router, b = switch)
    Router,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub kind: EdgeKind,
    pub a: String,
    pub b: String,
    /// the addresses at a's end
    pub a_addrs: Vec<String>,
    /// the addresses at b's end (links)
    pub b_addrs: Vec<String>,
    pub vlan: Option<u16>,
    /// "veth", "internal", "auto" (ports)
    pub wiring: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Graph {
    pub name: String,
    pub hosts: Vec<HostNode>,
    pub switches: Vec<SwitchNode>,
    pub routers: Vec<String>,
    pub edges: Vec<Edge>,
}

fn addrs(v: &[Cidr]) -> Vec<String> {
    v.iter().map(|c| c.to_string()).collect()
}

fn loc_name(l: &Loc) -> String {
    match l {
        Loc::Host => "host".into(),
        Loc::Ns(n) => n.to_string(),
    }
}

impl Graph {
    /// The picture of lab `d`.
    pub fn of(d: &Desired) -> Graph {
        let machine = |ns: &str| {
            d.placement
                .iter()
                .find(|(n, _)| n.as_str() == ns)
                .map(|(_, m)| m.to_string())
        };
        let mut hosts: Vec<HostNode> = d
            .namespaces
            .iter()
            .map(|(n, s)| HostNode {
                name: n.to_string(),
                machine: machine(n.as_str()),
                gateway: s.forward == Some(true),
                routes: s.routes.len(),
            })
            .collect();
        // the host's own namespace, when a link reaches it
        if d.links.iter().any(|l| l.a == Loc::Host || l.b == Loc::Host) {
            hosts.push(HostNode {
                name: "host".into(),
                machine: None,
                gateway: false,
                routes: 0,
            });
        }
        let mut spans: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for p in &d.ports {
            if let Some(m) = machine(p.ns.as_str()) {
                spans.entry(p.switch.to_string()).or_default().insert(m);
            }
        }
        let switches = d
            .switches
            .iter()
            .map(|(n, s)| {
                let ms = spans.get(n.as_str()).cloned().unwrap_or_default();
                SwitchNode {
                    name: n.to_string(),
                    backend: s.backend.to_string(),
                    machines: if ms.len() > 1 {
                        ms.into_iter().collect()
                    } else {
                        vec![]
                    },
                    addrs: addrs(&s.addrs),
                }
            })
            .collect();
        let mut edges = vec![];
        for p in &d.ports {
            edges.push(Edge {
                kind: EdgeKind::Port,
                a: p.ns.to_string(),
                b: p.switch.to_string(),
                a_addrs: addrs(&p.end.addrs),
                b_addrs: vec![],
                vlan: p.vlan,
                wiring: Some(
                    match p.via {
                        Via::Auto => "auto",
                        Via::Veth => "veth",
                        Via::Internal => "internal",
                    }
                    .into(),
                ),
            });
        }
        for l in &d.links {
            edges.push(Edge {
                kind: EdgeKind::Link,
                a: loc_name(&l.a),
                b: loc_name(&l.b),
                a_addrs: addrs(&l.a_end.addrs),
                b_addrs: addrs(&l.b_end.addrs),
                vlan: None,
                wiring: None,
            });
        }
        for t in &d.trunks {
            edges.push(Edge {
                kind: EdgeKind::Trunk,
                a: t.a.to_string(),
                b: t.b.to_string(),
                a_addrs: vec![],
                b_addrs: vec![],
                vlan: None,
                wiring: None,
            });
        }
        for (r, spec) in &d.routers {
            for p in &spec.ports {
                edges.push(Edge {
                    kind: EdgeKind::Router,
                    a: r.to_string(),
                    b: p.switch.to_string(),
                    a_addrs: addrs(&p.addrs),
                    b_addrs: vec![],
                    vlan: None,
                    wiring: None,
                });
            }
        }
        Graph {
            name: d.owner.to_string(),
            hosts,
            switches,
            routers: d.routers.keys().map(|r| r.to_string()).collect(),
            edges,
        }
    }

    /// Every node's name: hosts, switches, routers.
    pub fn names(&self) -> BTreeSet<String> {
        let hosts = self.hosts.iter().map(|h| h.name.clone());
        let switches = self.switches.iter().map(|s| s.name.clone());
        hosts.chain(switches).chain(self.routers.clone()).collect()
    }

    pub fn machines(&self) -> BTreeSet<String> {
        self.hosts
            .iter()
            .filter_map(|h| h.machine.clone())
            .collect()
    }

    /// Graphviz: `swctl graph lab.toml --format dot | dot -Tpng > lab.png`.
    pub fn dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\\\""));
        let mut o = format!(
            "graph {} {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
            q(&self.name)
        );
        let host_line = |h: &HostNode| {
            let mut label = h.name.clone();
            if h.gateway {
                label.push_str("\\n(gateway)");
            }
            format!(
                "    {} [shape=box, style=\"rounded{}\", label={}];\n",
                q(&h.name),
                if h.gateway { ",bold" } else { "" },
                q(&label)
            )
        };
        let machines = self.machines();
        for m in &machines {
            o.push_str(&format!(
                "  subgraph {} {{\n    label={};\n    style=dashed;\n",
                q(&format!("cluster_{m}")),
                q(&format!("machine {m}"))
            ));
            for h in self.hosts.iter().filter(|h| h.machine.as_ref() == Some(m)) {
                o.push_str(&host_line(h));
            }
            o.push_str("  }\n");
        }
        for h in self.hosts.iter().filter(|h| h.machine.is_none()) {
            o.push_str(&host_line(h).replacen("    ", "  ", 1));
        }
        for s in &self.switches {
            let mut label = format!("{}\\n{}", s.name, s.backend);
            if !s.machines.is_empty() {
                label.push_str(&format!("\\nspans {}", s.machines.join(", ")));
            }
            for a in &s.addrs {
                label.push_str(&format!("\\n{a}"));
            }
            o.push_str(&format!(
                "  {} [shape=box3d, style=filled, fillcolor={}, label={}];\n",
                q(&s.name),
                q(backend_colour(&s.backend)),
                q(&label)
            ));
        }
        for r in &self.routers {
            o.push_str(&format!(
                "  {} [shape=octagon, label={}];\n",
                q(r),
                q(&format!("{r}\\nrouter"))
            ));
        }
        for e in &self.edges {
            let mut label = vec![];
            if !e.a_addrs.is_empty() {
                label.push(e.a_addrs.join(" "));
            }
            if !e.b_addrs.is_empty() {
                label.push(format!("{} ({})", e.b_addrs.join(" "), e.b));
            }
            if let Some(v) = e.vlan {
                label.push(format!("vlan {v}"));
            }
            let style = match (e.kind, e.wiring.as_deref()) {
                (EdgeKind::Trunk, _) => ", style=bold",
                (EdgeKind::Link, _) => ", color=\"#b35900\"",
                (_, Some("internal")) => ", style=dashed",
                _ => "",
            };
            o.push_str(&format!(
                "  {} -- {} [label={}{style}];\n",
                q(&e.a),
                q(&e.b),
                q(&label.join("\\n"))
            ));
        }
        o.push_str("}\n");
        o
    }

    /// Mermaid (`graph LR`), for Markdown that renders it.
    pub fn mermaid(&self) -> String {
        let id = |s: &str| {
            let mut out = String::from("n_");
            out.extend(
                s.chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
            );
            out
        };
        let text = |s: &str| s.replace('"', "#quot;");
        let mut o = String::from("graph LR\n");
        let host = |h: &HostNode| {
            format!(
                "{}[\"{}{}\"]",
                id(&h.name),
                text(&h.name),
                if h.gateway { " (gateway)" } else { "" }
            )
        };
        let machines = self.machines();
        for m in &machines {
            o.push_str(&format!(
                "  subgraph {}[\"machine {}\"]\n",
                id(&format!("m_{m}")),
                text(m)
            ));
            for h in self.hosts.iter().filter(|h| h.machine.as_ref() == Some(m)) {
                o.push_str(&format!("    {}\n", host(h)));
            }
            o.push_str("  end\n");
        }
        for h in self.hosts.iter().filter(|h| h.machine.is_none()) {
            o.push_str(&format!("  {}\n", host(h)));
        }
        for s in &self.switches {
            let mut label = format!("{} ({})", s.name, s.backend);
            if !s.machines.is_empty() {
                label.push_str(&format!("<br/>spans {}", s.machines.join(", ")));
            }
            for a in &s.addrs {
                label.push_str(&format!("<br/>{a}"));
            }
            o.push_str(&format!("  {}[(\"{}\")]\n", id(&s.name), text(&label)));
        }
        for r in &self.routers {
            o.push_str(&format!("  {}{{{{\"{} (router)\"}}}}\n", id(r), text(r)));
        }
        for e in &self.edges {
            let mut label = e.a_addrs.join(" ");
            if !e.b_addrs.is_empty() {
                label.push_str(&format!(" / {}", e.b_addrs.join(" ")));
            }
            if let Some(v) = e.vlan {
                label.push_str(&format!(" vlan {v}"));
            }
            let arrow = match (e.kind, e.wiring.as_deref()) {
                (EdgeKind::Trunk, _) => "===",
                (_, Some("internal")) => "-.-",
                _ => "---",
            };
            let label = label.trim();
            if label.is_empty() {
                o.push_str(&format!("  {} {arrow} {}\n", id(&e.a), id(&e.b)));
            } else {
                o.push_str(&format!(
                    "  {} {arrow}|\"{}\"| {}\n",
                    id(&e.a),
                    text(label),
                    id(&e.b)
                ));
            }
        }
        o
    }
}

/// The colour of a switch of `backend` (the same in every format).
pub fn backend_colour(backend: &str) -> &'static str {
    match backend {
        "ovs" => "#c8e6c9",
        "ovn" => "#e1bee7",
        _ => "#bbdefb",
    }
}
