//! Interface names: which are taken or planned per location, the names of
//! new port and link ends (derived, chosen, or the first free `ethN`), and
//! the leftovers of interrupted runs (a device made but not yet marked) that
//! must go before a name can be used again; also finishing marks whose
//! writing was interrupted.

use std::collections::{BTreeMap, BTreeSet};

use super::{Cx, PlanError, Step};
use crate::model::names::{IfName, Loc, derived_ifname};
use crate::model::{Mark, Observed, PortSpec, Side};

/// Interface names already taken or planned, per location.
#[derive(Default)]
pub(super) struct Names(BTreeMap<Loc, BTreeSet<String>>);

impl Names {
    pub(super) fn from_observed(o: &Observed) -> Names {
        let mut n = Names::default();
        for (loc, st) in o.locs() {
            n.0.entry(loc)
                .or_default()
                .extend(st.links.iter().map(|l| l.name.clone()));
        }
        n
    }
    pub(super) fn taken(&self, loc: &Loc, name: &str) -> bool {
        self.0.get(loc).is_some_and(|s| s.contains(name))
    }
    pub(super) fn take(&mut self, loc: &Loc, name: &str) {
        self.0
            .entry(loc.clone())
            .or_default()
            .insert(name.to_string());
    }
    pub(super) fn release(&mut self, loc: &Loc, name: &str) {
        if let Some(s) = self.0.get_mut(loc) {
            s.remove(name);
        }
    }
    /// The first `ethN` free in `loc`.
    pub(super) fn free_eth(&self, loc: &Loc) -> IfName {
        (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !self.taken(loc, n))
            .and_then(|n| n.parse().ok())
            .expect("some ethN is free")
    }
}

impl Cx<'_> {
    /// A veth that carries a name swctl derives (a hash of what it
    /// connects) but no mark is the leftover of a swctl run interrupted
    /// between creating the pair and marking it (the kernel does not take
    /// IFLA_IFALIAS in RTM_NEWLINK): remove it so it can be made again.
    pub(super) fn clear_leftover(&mut self, loc: &Loc, name: &str) {
        let o = self.o;
        if let Some(l) = o.loc(loc).and_then(|st| st.link(name))
            && l.kind.as_deref() == Some("veth")
            && l.alias.is_none()
        {
            self.delete_link(loc, name);
        }
    }

    /// An unmarked device of `kind` with a name swctl derives: the leftover
    /// of an interrupted run (see `clear_leftover`).
    pub(super) fn clear_leftover_of_kind(&mut self, loc: &Loc, name: &str, kind: &str) {
        let o = self.o;
        if let Some(l) = o.loc(loc).and_then(|st| st.link(name))
            && l.kind.as_deref() == Some(kind)
            && l.alias.is_none()
        {
            self.delete_link(loc, name);
        }
    }

    /// The two names of a new port: the switch end's derived name, the
    /// namespace end's chosen name or first free `ethN`; both checked free
    /// (after clearing leftovers of interrupted runs) and taken.
    pub(super) fn port_names(
        &mut self,
        sw_loc: &Loc,
        ns_loc: &Loc,
        p: &PortSpec,
    ) -> Result<(IfName, IfName), PlanError> {
        let a_name = p.switch_end_name();
        self.clear_leftover(sw_loc, a_name.as_str());
        self.clear_orphan_port(sw_loc, ns_loc, &a_name, p);
        if self.names.taken(sw_loc, a_name.as_str()) {
            return Err(PlanError::NameTaken {
                name: a_name.to_string(),
                loc: sw_loc.clone(),
                what: "port".into(),
            });
        }
        self.clear_own_leftovers_for(ns_loc, &p.ifname);
        let b_name = match &p.ifname {
            Some(n) if self.names.taken(ns_loc, n.as_str()) => {
                return Err(PlanError::NameTaken {
                    name: n.to_string(),
                    loc: ns_loc.clone(),
                    what: "port".into(),
                });
            }
            Some(n) => n.clone(),
            None => self.names.free_eth(ns_loc),
        };
        self.names.take(sw_loc, a_name.as_str());
        self.names.take(ns_loc, b_name.as_str());
        Ok((a_name, b_name))
    }

    /// Marks recorded as pending (a run was killed between creating a device
    /// and setting its alias) are written, for this owner's devices that
    /// stay.
    pub(super) fn finish_marks(&mut self) {
        let o = self.o;
        for (loc, st) in o.locs() {
            if loc.ns().is_some_and(|n| self.ns_deleted.contains(n)) {
                continue;
            }
            for l in &st.links {
                let Some(m) = &l.mark else { continue };
                if l.alias.is_some() || m.owner() != &self.d.owner {
                    continue;
                }
                let deleted = self
                    .steps
                    .iter()
                    .any(|s| matches!(s, Step::DeleteLink { loc: x, dev } if x == &loc && dev == &l.name));
                if !deleted {
                    self.steps.push(Step::SetMark {
                        loc: loc.clone(),
                        dev: l.name.clone(),
                        mark: m.clone(),
                    });
                }
            }
        }
    }

    /// The switch end of this very port (its mark says so) while the port is
    /// being made: the switch lost it (`ovs-vsctl del-port` by hand) and the
    /// pair is an orphan. It goes, and its namespace end with it (a veth
    /// takes its peer along), so the port is made whole again.
    fn clear_orphan_port(&mut self, sw_loc: &Loc, ns_loc: &Loc, a_name: &IfName, p: &PortSpec) {
        let o = self.o;
        let this_port = |m: &Option<Mark>, side: Side| {
            matches!(m, Some(Mark::Port { owner, ns, sw, side: s })
                if *owner == self.d.owner && *ns == p.ns && *sw == p.switch && *s == side)
        };
        let Some(l) = o.loc(sw_loc).and_then(|st| st.link(a_name.as_str())) else {
            return;
        };
        if l.kind.as_deref() != Some("veth") || !this_port(&l.mark, Side::A) {
            return;
        }
        self.delete_link(sw_loc, a_name.as_str());
        if let Some(st) = o.loc(ns_loc) {
            for peer in st.links.iter().filter(|x| this_port(&x.mark, Side::B)) {
                self.names.release(ns_loc, &peer.name);
            }
        }
    }

    /// Leftovers where a port's namespace end will go: the chosen name, or
    /// (default names) every unmarked `ethN`.
    pub(super) fn clear_own_leftovers_for(&mut self, ns_loc: &Loc, want: &Option<IfName>) {
        match want {
            Some(n) => self.clear_own_leftover(ns_loc, n.as_str()),
            None => {
                let names: Vec<String> = self
                    .o
                    .loc(ns_loc)
                    .map(|st| {
                        st.links
                            .iter()
                            .filter(|l| {
                                l.name.strip_prefix("eth").is_some_and(|d| {
                                    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
                                })
                            })
                            .map(|l| l.name.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for n in names {
                    self.clear_own_leftover(ns_loc, &n);
                }
            }
        }
    }

    /// Inside a namespace this owner made, an unmarked veth or internal-port
    /// device that has a name the plan wants is a leftover of an interrupted
    /// run too (nobody else puts devices there): remove it.
    pub(super) fn clear_own_leftover(&mut self, loc: &Loc, name: &str) {
        let Loc::Ns(n) = loc else { return };
        let o = self.o;
        let ours = o
            .namespaces
            .get(n)
            .is_some_and(|x| x.owner.as_ref() == Some(&self.d.owner));
        if let Some(l) = o.loc(loc).and_then(|st| st.link(name))
            && ours
            && l.alias.is_none()
            && matches!(l.kind.as_deref(), Some("veth" | "tun" | "openvswitch"))
        {
            self.delete_link(loc, name);
        }
    }

    /// The name of a link end in `loc` facing `other`: the user's choice, or
    /// the peer's namespace name when it fits (as people name them: the end
    /// in ns1 that leads to ns2 is `ns2`), or a derived name. In the host
    /// namespace always a derived name, so it cannot clash with real NICs.
    pub(super) fn link_end_name(
        &self,
        loc: &Loc,
        other: &Loc,
        want: &Option<IfName>,
        side: &str,
    ) -> Result<IfName, PlanError> {
        let name = match want {
            Some(n) => n.clone(),
            None => {
                let plain = match (loc, other) {
                    (Loc::Ns(_), Loc::Ns(o)) if loc != other => o.as_str().parse::<IfName>().ok(),
                    (Loc::Ns(_), Loc::Host) => "host".parse::<IfName>().ok(),
                    _ => None,
                };
                match plain {
                    Some(n) if !self.names.taken(loc, n.as_str()) => n,
                    _ => derived_ifname(
                        &other.to_string(),
                        &[&loc.to_string(), &other.to_string(), side],
                    ),
                }
            }
        };
        if self.names.taken(loc, name.as_str()) {
            return Err(PlanError::NameTaken {
                name: name.to_string(),
                loc: loc.clone(),
                what: "link".into(),
            });
        }
        Ok(name)
    }
}
