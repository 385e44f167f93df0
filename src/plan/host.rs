//! What a host runs and is set to, in the planner (`model::host`): its
//! sysctls made what the file says; its hosts file (the lab's hosts by
//! name, in /etc/netns/NAME/hosts) written when it differs; its one-shot
//! commands run when the host is new (or made again) or the list changed;
//! its processes started when missing, exited, or started in a namespace
//! that is gone (the host made again), restarted when their command
//! changed, stopped when the file drops them or the host goes.

use super::{Cx, PlanError, Step};
use crate::model::host::{HostObs, HostStep, ProcState, exec_hash, hosts_owner, normal};
use crate::model::names::NsName;

/// Each of the lab's hosts' addresses (its ports', then its links', in
/// the file's order), by host, with the file's extra `names`.
pub fn names(
    d: &crate::model::Desired,
) -> std::collections::BTreeMap<String, Vec<std::net::IpAddr>> {
    let mut out = d.names.clone();
    for ns in d.namespaces.keys() {
        let port_addrs = d
            .ports
            .iter()
            .filter(|p| &p.ns == ns)
            .flat_map(|p| &p.end.addrs);
        let link_addrs = d.links.iter().flat_map(|l| {
            let a = matches!(&l.a, crate::model::names::Loc::Ns(n) if n == ns);
            let b = matches!(&l.b, crate::model::names::Loc::Ns(n) if n == ns);
            a.then_some(&l.a_end.addrs)
                .into_iter()
                .chain(b.then_some(&l.b_end.addrs))
                .flatten()
        });
        let list = out.entry(ns.to_string()).or_default();
        for c in port_addrs.chain(link_addrs) {
            if !list.contains(&c.addr) {
                list.push(c.addr);
            }
        }
    }
    out.retain(|_, v| !v.is_empty());
    out
}

/// What /etc/netns/NS/hosts says for a lab: its mark, localhost, and each
/// name's addresses (`names`), names in order.
pub fn hosts_file(d: &crate::model::Desired) -> String {
    let mut t = crate::model::host::hosts_mark(&d.owner);
    t.push_str("\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    let mut seen = std::collections::BTreeSet::new();
    for (name, addrs) in names(d) {
        for a in addrs {
            if seen.insert(a) {
                t.push_str(&format!("{a}\t{name}\n"));
            }
        }
    }
    t
}

impl Cx<'_> {
    /// Each desired host's sysctls, hosts file, one-shot commands and
    /// processes; the lab's processes the file no longer has stopped.
    pub(super) fn hosts(&mut self) -> Result<(), PlanError> {
        let (d, o) = (self.d, self.o);
        let none = HostObs::default();
        let cwd = d.dir.as_ref().map(|p| p.display().to_string());
        for (ns, spec) in &d.namespaces {
            let obs = o.namespaces.get(ns);
            let made = obs.is_none();
            let h = obs.map_or(&none, |x| &x.host);
            for (k, v) in &spec.sysctls {
                match h.sysctls.get(k) {
                    Some(Some(cur)) if normal(cur) == *v && !made => {}
                    // a device's key exists once the device does
                    Some(None) if !device_key(k) => {
                        return Err(PlanError::NoSysctl {
                            ns: ns.clone(),
                            key: k.clone(),
                        });
                    }
                    _ => self.steps.push(Step::SetSysctl {
                        loc: crate::model::names::Loc::Ns(ns.clone()),
                        key: k.clone(),
                        value: v.clone(),
                    }),
                }
            }
            if let Some(content) = &spec.hosts
                && h.hosts_file.as_ref() != Some(content)
            {
                self.steps.push(Step::Host(HostStep::WriteHosts {
                    ns: ns.clone(),
                    content: content.clone(),
                }));
            }
            let ns_id = if made { None } else { h.ns_id };
            if !spec.exec.is_empty() {
                let why = match &h.exec {
                    _ if made => Some("new: its commands have not run".to_string()),
                    None => Some("its commands have not run".into()),
                    Some(e) if Some(e.ns_id) != ns_id => {
                        Some("made again: its commands have not run in it".into())
                    }
                    Some(e) if e.hash != exec_hash(&spec.exec) => {
                        Some("its commands changed since they ran".into())
                    }
                    Some(_) => None,
                };
                if let Some(why) = why {
                    self.steps.push(Step::Host(HostStep::RunExec {
                        ns: ns.clone(),
                        owner: d.owner.clone(),
                        cmds: spec.exec.clone(),
                        cwd: cwd.clone(),
                        why,
                    }));
                }
            }
            for r in &spec.run {
                let have = h.procs.iter().find(|p| p.name == r.name);
                let why = match have {
                    None => None,
                    Some(p) if p.state != ProcState::Running => Some(match &p.state {
                        ProcState::Exited(how) => {
                            format!("{how}; its log ends: {}", last_lines(&p.tail))
                        }
                        _ => "gone (not running, and no word of how it ended)".into(),
                    }),
                    Some(p) if made || Some(p.ns_id) != ns_id => {
                        self.stop(
                            ns,
                            &r.name,
                            format!(
                                "process {} runs in a namespace {ns} no longer is (made again)",
                                r.name
                            ),
                        );
                        Some(String::new())
                    }
                    Some(p) if p.cmd != r.cmd => {
                        self.stop(
                            ns,
                            &r.name,
                            format!(
                                "process {} in {ns} runs `{}`, the file says `{}`",
                                r.name, p.cmd, r.cmd
                            ),
                        );
                        Some(String::new())
                    }
                    Some(_) => continue,
                };
                self.steps.push(Step::Host(HostStep::StartProc {
                    ns: ns.clone(),
                    owner: d.owner.clone(),
                    name: r.name.clone(),
                    cmd: r.cmd.clone(),
                    cwd: cwd.clone(),
                    why,
                }));
            }
        }
        // processes the file no longer has, of hosts that stay (those of
        // hosts that go: `host_removals`)
        for (ns, obs) in &o.namespaces {
            let Some(spec) = d.namespaces.get(ns) else {
                continue;
            };
            for p in &obs.host.procs {
                let key = crate::model::Key::Ns { ns: ns.clone() };
                if !spec.run.iter().any(|r| r.name == p.name) && self.in_scope(&key, &p.owner) {
                    self.steps.push(Step::Host(HostStep::StopProc {
                        ns: ns.clone(),
                        name: p.name.clone(),
                        why: None,
                    }));
                }
            }
        }
        Ok(())
    }

    fn stop(&mut self, ns: &NsName, name: &str, why: String) {
        self.steps.push(Step::Host(HostStep::StopProc {
            ns: ns.clone(),
            name: name.into(),
            why: Some(why),
        }));
    }

    /// What goes with a host that goes: its processes (before it), its
    /// hosts file when it is swctl's, its records.
    pub(super) fn host_removals(&mut self, ns: &NsName) {
        let Some(obs) = self.o.namespaces.get(ns) else {
            return;
        };
        for p in &obs.host.procs {
            self.steps.push(Step::Host(HostStep::StopProc {
                ns: ns.clone(),
                name: p.name.clone(),
                why: None,
            }));
        }
        if obs
            .host
            .hosts_file
            .as_deref()
            .and_then(hosts_owner)
            .is_some()
            || obs.host.exec.is_some()
        {
            self.steps
                .push(Step::Host(HostStep::DelHosts { ns: ns.clone() }));
        }
    }
}

/// A log's last lines (at most 3, its own `-- swctl:` lines left out),
/// on one line.
fn last_lines(tail: &[String]) -> String {
    let own: Vec<&str> = tail
        .iter()
        .map(String::as_str)
        .filter(|l| !l.starts_with("-- swctl:") && !l.trim().is_empty())
        .collect();
    if own.is_empty() {
        return "(nothing of its own)".into();
    }
    own[own.len().saturating_sub(3)..].join(" | ")
}

/// `net.ipv4.conf.DEV.KEY`, `net.ipv6.conf.DEV.KEY`, `net.ipv4.neigh.DEV.KEY`
/// (DEV not `all`/`default`): there once the device is.
fn device_key(k: &str) -> bool {
    let parts: Vec<&str> = k.split(['.', '/']).collect();
    matches!(parts.as_slice(), ["net", "ipv4" | "ipv6", "conf" | "neigh", dev, ..] if *dev != "all" && *dev != "default")
}
