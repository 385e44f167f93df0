//! The fake's `HostRuns`: each host's hosts file, processes and one-shot
//! commands kept in memory by name (surviving the namespace's deletion,
//! as files and records do), its identity a counter given at creation. A
//! process runs until stopped, or until a test ends it (`end_proc`); a
//! one-shot command fails when it is `false` or starts `false ` (as the
//! shell's), and every command run is a call.

use super::Fake;
use crate::effect::HostRuns;
use crate::effect::procs::ProcError;
use crate::model::host::{ExecObs, HostObs, ProcObs, ProcState, exec_hash};
use crate::model::names::{NsName, Owner};

impl Fake {
    /// A new identity for namespace `n` (made, or made again).
    pub(super) fn new_ns_id(&self, n: &NsName) {
        let mut hosts = self.hosts.lock().unwrap();
        let next = hosts.values().filter_map(|h| h.ns_id).max().unwrap_or(0) + 1;
        hosts.entry(n.clone()).or_default().ns_id = Some(next);
    }

    /// Process `name` of `ns` ends (`how`: "exited with status 1").
    pub fn end_proc(&self, ns: &NsName, name: &str, how: &str) {
        if let Some(h) = self.hosts.lock().unwrap().get_mut(ns)
            && let Some(p) = h.procs.iter_mut().find(|p| p.name == name)
        {
            p.state = ProcState::Exited(how.into());
            p.tail = vec![format!("{name}: the end")];
        }
    }
}

impl HostRuns for Fake {
    async fn read_host(&self, ns: &NsName, keys: &[String]) -> HostObs {
        let mut h = self
            .hosts
            .lock()
            .unwrap()
            .get(ns)
            .cloned()
            .unwrap_or_default();
        let missing = self.missing_sysctls.lock().unwrap();
        h.sysctls = keys
            .iter()
            .map(|k| {
                let v = (!missing.contains(k)).then(|| {
                    crate::effect::Namespaces::sysctl(
                        self,
                        &crate::model::names::Loc::Ns(ns.clone()),
                        k,
                    )
                    .unwrap_or_else(|_| "0".into())
                });
                (k.clone(), v)
            })
            .collect();
        h
    }

    async fn write_hosts(&self, ns: &NsName, content: &str) -> Result<(), ProcError> {
        self.record(format!("write /etc/netns/{ns}/hosts"))
            .map_err(|e| {
                ProcError::Write(format!("/etc/netns/{ns}/hosts"), std::io::Error::other(e))
            })?;
        self.hosts
            .lock()
            .unwrap()
            .entry(ns.clone())
            .or_default()
            .hosts_file = Some(content.into());
        Ok(())
    }

    async fn del_hosts(&self, ns: &NsName) -> Result<(), ProcError> {
        self.record(format!("rm /etc/netns/{ns}/hosts"))
            .map_err(|e| {
                ProcError::Write(format!("/etc/netns/{ns}/hosts"), std::io::Error::other(e))
            })?;
        if let Some(h) = self.hosts.lock().unwrap().get_mut(ns) {
            h.hosts_file = None;
            h.exec = None;
        }
        Ok(())
    }

    async fn start_proc(
        &self,
        ns: &NsName,
        owner: &Owner,
        name: &str,
        cmd: &str,
        _cwd: Option<&str>,
    ) -> Result<(), ProcError> {
        self.record(format!("start {name} in {ns}: {cmd}"))
            .map_err(|e| ProcError::Write(name.into(), std::io::Error::other(e)))?;
        let mut hosts = self.hosts.lock().unwrap();
        let h = hosts.entry(ns.clone()).or_default();
        let pid = 1000 + h.procs.len() as i32;
        let ns_id = h.ns_id.unwrap_or(0);
        h.procs.retain(|p| p.name != name);
        h.procs.push(ProcObs {
            name: name.into(),
            cmd: cmd.into(),
            owner: owner.clone(),
            pid,
            state: ProcState::Running,
            ns_id,
            log: format!("/fake/log/{ns}/{name}.log"),
            tail: vec![],
        });
        h.procs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    async fn stop_proc(&self, ns: &NsName, name: &str) -> Result<(), ProcError> {
        self.record(format!("stop {name} in {ns}"))
            .map_err(|e| ProcError::Write(name.into(), std::io::Error::other(e)))?;
        if let Some(h) = self.hosts.lock().unwrap().get_mut(ns) {
            h.procs.retain(|p| p.name != name);
        }
        Ok(())
    }

    async fn run_exec(
        &self,
        ns: &NsName,
        owner: &Owner,
        cmds: &[String],
        _cwd: Option<&str>,
    ) -> Result<(), ProcError> {
        for c in cmds {
            self.record(format!("ip netns exec {ns} sh -c {c:?}"))
                .map_err(|e| ProcError::Write(c.clone(), std::io::Error::other(e)))?;
            if c == "false" || c.starts_with("false ") {
                return Err(ProcError::Exec {
                    ns: ns.clone(),
                    cmd: c.clone(),
                    how: "exited with status 1".into(),
                    output: String::new(),
                });
            }
        }
        let mut hosts = self.hosts.lock().unwrap();
        let h = hosts.entry(ns.clone()).or_default();
        h.exec = Some(ExecObs {
            owner: owner.clone(),
            hash: exec_hash(cmds),
            ns_id: h.ns_id.unwrap_or(0),
        });
        Ok(())
    }
}
