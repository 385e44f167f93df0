//! `swctl status`: the drift between a topology and the system, read off
//! the plan that would repair it (what is missing, what differs, what
//! leaked), each finding also with the lab's hosts and switches it
//! concerns (the live view marks them).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::plan::Plan;
use crate::plan::Step;
use crate::plan::step::Meaning;

/// Drift between a topology and the system.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drift {
    pub in_sync: bool,
    /// what the file has and the system lacks
    pub missing: Vec<String>,
    /// what exists but differs (addresses, routes, state, wiring), in words
    pub differs: Vec<String>,
    /// what the topology owns on the system but the file no longer has
    pub leaked: Vec<String>,
    /// the steps `apply` would run
    pub steps: Vec<String>,
    /// each of `missing`, `differs` and `leaked` with what it concerns
    pub findings: Vec<Finding>,
}

/// One thing that differs, and the hosts, switches and routers of the lab
/// it concerns.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Finding {
    /// `missing`, `differs` or `leaked`
    pub kind: &'static str,
    pub text: String,
    /// by name (graph nodes: `swctl graph`'s hosts, switches, routers);
    /// empty until `Drift::about` is told the lab's names
    pub about: Vec<String>,
    /// the step's own words and namespaces, where the names are looked for
    #[serde(skip)]
    seen: Vec<String>,
}

impl Drift {
    /// Something missing (`kind` "missing"), differing or leaked.
    pub fn push(&mut self, kind: &'static str, text: String, seen: Vec<String>) {
        match kind {
            "missing" => self.missing.push(text.clone()),
            "leaked" => self.leaked.push(text.clone()),
            _ => self.differs.push(text.clone()),
        }
        self.findings.push(Finding {
            kind,
            text,
            about: vec![],
            seen,
        });
    }

    /// Fill each finding's `about` with those of `names` (the lab's hosts,
    /// switches, routers) it names: a word of its text or of its step's
    /// (names are words there: `eth0 (h1)`, `port of h1 on sw0`), or a
    /// namespace its step works in.
    pub fn about(&mut self, names: &BTreeSet<String>) {
        for f in &mut self.findings {
            let mut about = BTreeSet::new();
            for t in std::iter::once(&f.text).chain(&f.seen) {
                for w in t.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))) {
                    let w = w.trim_end_matches('.');
                    if names.contains(w) {
                        about.insert(w.to_string());
                    }
                }
            }
            f.about = about.into_iter().collect();
        }
    }
}

pub fn drift(p: &Plan) -> Drift {
    let mut d = Drift {
        in_sync: p.is_empty(),
        ..Default::default()
    };
    // what is inside a namespace the plan makes comes with it: listed once,
    // as the missing namespace
    let made: Vec<&crate::model::names::NsName> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateNs { ns, .. } => Some(ns),
            _ => None,
        })
        .collect();
    // and what a device the plan makes needs comes with it (the socket
    // buffer of a port made again)
    let new_devs: Vec<&str> = p
        .steps
        .iter()
        .flat_map(|s| match s {
            Step::CreateVeth { name, peer, .. } => vec![name.as_str(), peer.as_str()],
            _ => vec![],
        })
        .collect();
    for s in &p.steps {
        let text = s.to_string();
        if let Step::OvsRxBuffer { dev } = s
            && new_devs.contains(&dev.as_str())
        {
            d.steps.push(text);
            continue;
        }
        let seen = || {
            let ns = s.namespaces().into_iter().map(|n| n.to_string());
            std::iter::once(text.clone()).chain(ns).collect()
        };
        match s.meaning() {
            Meaning::Creates(what) => d.push("missing", what, seen()),
            Meaning::Removes(what) => d.push("leaked", what, seen()),
            Meaning::Changes(Some(what)) if !s.namespaces().iter().any(|n| made.contains(n)) => {
                d.push("differs", what, seen())
            }
            Meaning::Changes(_) | Meaning::Waits => {}
        }
        d.steps.push(text);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_about_the_names_it_says() {
        let names: BTreeSet<String> = ["h1", "h10", "sw0", "r1"].map(String::from).into();
        let mut d = Drift::default();
        d.push("missing", "port h1 on sw0".into(), vec![]);
        d.push(
            "differs",
            "eth0 (h10) lacks address 198.18.0.1/24".into(),
            vec![],
        );
        // the step's own words and namespaces count too
        d.push(
            "leaked",
            "link h1-d02c00 in host".into(),
            vec!["delete link h1-d02c00".into(), "h1".into()],
        );
        d.push("differs", "OVS bridge sw0. runs stp".into(), vec![]);
        d.about(&names);
        let about: Vec<Vec<String>> = d.findings.iter().map(|f| f.about.clone()).collect();
        assert_eq!(
            about,
            vec![
                vec!["h1".to_string(), "sw0".into()],
                vec!["h10".into()],
                vec!["h1".into()],
                vec!["sw0".into()],
            ]
        );
        assert_eq!(d.missing, ["port h1 on sw0"]);
        assert_eq!(d.leaked, ["link h1-d02c00 in host"]);
        assert_eq!(d.differs.len(), 2);
    }
}
