//! The keys of a device's ends as the validator reads them: what every end
//! of a table shares (`mtu`, impairments), what each end says for itself
//! (`ip`, `a_`/`b_` impairments), and a trunk's VLAN list.

use super::super::tree::{Node, Table, get, join};
use super::{END_EITHER, V};
use crate::model::EndSpec;
use crate::model::impair::Impair;
use crate::model::names;

impl V {
    /// What the table at `path` asks of every one of its ends (the keys
    /// they share): a trunk's ends, and where each end's own keys start.
    pub(super) fn shared_end(&mut self, t: Table, path: &str) -> EndSpec {
        // every field named: a new one is read here or in `own_end`
        EndSpec {
            mtu: self.mtu(get(t, "mtu"), &join(path, "mtu")),
            addrs: vec![],
            impair: Some(self.impair(t, path, "", Impair::default())),
        }
    }

    /// The impairment keys of `t` prefixed by `side`, over `base`.
    pub(super) fn impair(&mut self, t: Table, path: &str, side: &str, base: Impair) -> Impair {
        let mut i = base;
        let mut at = None;
        for k in END_EITHER {
            let key = format!("{side}{k}");
            let p = join(path, &key);
            let n = get(t, &key);
            let text = if *k == "limit" {
                self.r.int(n, &p).map(|(v, a)| (v.to_string(), a))
            } else {
                self.r.str(n, &p).map(|(v, a)| (v.to_string(), a))
            };
            let Some((v, a)) = text else { continue };
            at = at.or(a);
            if let Err(e) = i.set(k, &v) {
                self.r.err(&p, a, e);
            }
        }
        if let Err(e) = i.check()
            && (side.is_empty() || at.is_some())
        {
            self.r.err(path, at, e);
        }
        i
    }

    /// One end: `shared`, and its own keys, prefixed by its side (`a_`,
    /// `b_` on a link; `""` on a port).
    pub(super) fn own_end(
        &mut self,
        t: Table,
        path: &str,
        side: &str,
        shared: &EndSpec,
    ) -> EndSpec {
        let k = format!("{side}ip");
        let base = shared.impair.unwrap_or_default();
        EndSpec {
            addrs: self.addrs(get(t, &k), &join(path, &k)),
            // a port's end is the table's: its keys were read as shared
            impair: Some(if side.is_empty() {
                base
            } else {
                self.impair(t, path, side, base)
            }),
            ..shared.clone()
        }
    }

    /// A list of VLAN ids (1-4094), each once.
    pub(super) fn vlans(&mut self, n: Option<&Node>, path: &str) -> Vec<u16> {
        let Some(n) = n else { return vec![] };
        let mut out = vec![];
        let items: Vec<Node> = match &n.v {
            super::super::tree::Value::Array(a) => a.clone(),
            _ => vec![n.clone()],
        };
        for (i, x) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Some((id, at)) = self.r.int(Some(x), &p) else {
                continue;
            };
            match names::vlan(id) {
                Ok(v) if out.contains(&v) => {
                    self.r.err(&p, at, format!("VLAN {v} is listed twice"))
                }
                Ok(v) => out.push(v),
                Err(e) => self.r.err(&p, at, e.to_string()),
            }
        }
        out.sort();
        out
    }

    pub(super) fn mtu(&mut self, n: Option<&Node>, path: &str) -> Option<u32> {
        let (v, at) = self.r.int(n, path)?;
        names::mtu(v)
            .map_err(|e| self.r.err(path, at, e.to_string()))
            .ok()
    }
}
