//! What a host runs and is set to, as the validator reads it: `sysctls`,
//! `run`, `exec` (`model::host`), each problem at its key.

use super::super::tree::{Table, get, join};
use super::V;
use crate::model::NsSpec;
use crate::model::host::{self, RunSpec};

/// The keys of an `[[expect]]`.
const EXPECT: &[&str] = &["from", "to", "reach", "within"];

impl V {
    /// The file's `[[expect]]`s, each host and target known (read after
    /// the hosts and `names`).
    pub(super) fn expectations(
        &mut self,
        n: Option<&super::super::tree::Node>,
        d: &mut crate::model::Desired,
    ) {
        for (i, en) in self.r.array(n, "expect").iter().enumerate() {
            let p = format!("expect[{i}]");
            let Some(t) = self.r.table(en, &p, EXPECT) else {
                continue;
            };
            let from = self
                .r
                .required_str(t, en.at, &p, "from")
                .and_then(|(s, at)| match s.parse::<crate::model::names::NsName>() {
                    Ok(n) if d.namespaces.contains_key(&n) => Some(n),
                    _ => {
                        self.r
                            .err(&join(&p, "from"), at, format!("no host {s:?} in [hosts]"));
                        None
                    }
                });
            let to = self.r.required_str(t, en.at, &p, "to").and_then(|(s, at)| {
                if crate::lab::expect::target(d, s).is_some() {
                    Some(s.to_string())
                } else {
                    self.r.err(
                        &join(&p, "to"),
                        at,
                        format!("{s:?} is neither an address nor a host of the lab (or a name in `names`) with one"),
                    );
                    None
                }
            });
            let reach = self
                .r
                .bool(get(t, "reach"), &join(&p, "reach"))
                .unwrap_or(true);
            let within = match self.r.str(get(t, "within"), &join(&p, "within")) {
                None => crate::lab::expect::WITHIN,
                Some((s, at)) => match s.parse::<crate::model::impair::Time>() {
                    Ok(x) => std::time::Duration::from_micros(x.0 as u64),
                    Err(e) => {
                        self.r.err(&join(&p, "within"), at, e);
                        continue;
                    }
                },
            };
            if let (Some(from), Some(to)) = (from, to) {
                d.expect.push(crate::model::ExpectSpec {
                    from,
                    to,
                    reach,
                    within,
                });
            }
        }
    }

    /// The file's `names = { "gw.example" = ["198.18.0.254"] }`: more
    /// names for every host's hosts file.
    pub(super) fn names(
        &mut self,
        n: Option<&super::super::tree::Node>,
        d: &mut crate::model::Desired,
    ) {
        let Some(n) = n else { return };
        let v = n.to_json();
        let Some(t) = v.as_object() else {
            self.r
                .err("names", n.at, "a table of names and their addresses");
            return;
        };
        for (name, addrs) in t {
            let ok_name = !name.is_empty()
                && name.len() <= 253
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
            if !ok_name {
                self.r.err(
                    &join("names", name),
                    n.at,
                    "a host name: letters, digits, - . _",
                );
                continue;
            }
            let list: Vec<&serde_json::Value> = match addrs {
                serde_json::Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            let mut ips = vec![];
            for a in list {
                match a.as_str().map(crate::model::names::parse_ip) {
                    Some(Ok(ip)) => ips.push(ip),
                    _ => self.r.err(
                        &join("names", name),
                        n.at,
                        format!("{a} is not an IP address"),
                    ),
                }
            }
            d.names.insert(name.clone(), ips);
        }
    }

    /// `spec`'s sysctls, processes and one-shot commands from host table
    /// `h` at `path`.
    pub(super) fn host_runs(&mut self, h: Table, path: &str, spec: &mut NsSpec) {
        if let Some(n) = get(h, "sysctls") {
            let p = join(path, "sysctls");
            match host::sysctls_from_json(&n.to_json()) {
                Ok(m) => {
                    let fwd = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];
                    if spec.forward.is_some() && m.keys().any(|k| fwd.contains(&k.as_str())) {
                        self.r
                            .err(&p, n.at, "forwarding is given by `forward`: not both");
                    }
                    spec.sysctls = m;
                }
                Err(e) => self.r.err(&p, n.at, e),
            }
        }
        if let Some(n) = get(h, "run") {
            match RunSpec::list_from_json(&n.to_json()) {
                Ok(l) => spec.run = l,
                Err(e) => self.r.err(&join(path, "run"), n.at, e),
            }
        }
        if let Some(n) = get(h, "exec") {
            match host::exec_from_json(&n.to_json()) {
                Ok(l) => spec.exec = l,
                Err(e) => self.r.err(&join(path, "exec"), n.at, e),
            }
        }
    }
}
