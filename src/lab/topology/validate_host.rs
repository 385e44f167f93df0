//! What a host runs and is set to, as the validator reads it: `sysctls`,
//! `run`, `exec` (`model::host`), each problem at its key.

use super::super::tree::{Table, get, join};
use super::V;
use crate::model::NsSpec;
use crate::model::host::{self, RunSpec};

impl V {
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
