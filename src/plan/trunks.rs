//! Trunks: a veth pair joining two switches into one layer-2 segment, each
//! end a port of its switch (`ip link add A master SW_A type veth peer name
//! B; ip link set B master SW_B`). Kept and repaired when both marked ends
//! are there, else made again. The backend of each switch says whether it
//! takes a trunk end (`Switch::plan_trunk_end`). Also what a big layer-2
//! segment (switches joined by trunks count as one) needs of the host: a
//! per-CPU input queue that holds one broadcast's copies (`host_limits`).

use super::{Cx, PlanError, Step, Via};
use crate::model::names::{IfName, Loc};
use crate::model::*;

/// The per-CPU input queue a broadcast domain of `ports` ports needs: one
/// broadcast is queued once per port, in one softirq, and the answers
/// arrive behind the copies. Measured: 2000 hosts on two trunked bridges,
/// one ARP request made 4008 packets in /proc/net/softnet_stat with the
/// default limit of 1000, copies and the reply were dropped, and 34 of
/// 6034 `check` probes failed even when retried; with 4096, none.
pub fn backlog_for(ports: usize) -> u32 {
    (2 * ports as u32).next_power_of_two()
}

impl Cx<'_> {
    /// `sysctl -w net.core.netdev_max_backlog=N` in the host when the lab's
    /// biggest layer-2 segment needs more than the host allows (never
    /// lowered; a host setting, left as it is by destroy).
    pub(super) fn host_limits(&mut self) {
        let d = self.d;
        let group = d.switch_groups();
        let mut size: std::collections::BTreeMap<&IfName, usize> = Default::default();
        for p in &d.ports {
            *size
                .entry(group.get(&p.switch).unwrap_or(&p.switch))
                .or_default() += 1;
        }
        for t in &d.trunks {
            *size.entry(group.get(&t.a).unwrap_or(&t.a)).or_default() += 2;
        }
        let biggest = size.values().copied().max().unwrap_or(0);
        let need = backlog_for(biggest);
        if let Some(have) = self.o.backlog
            && need > have
        {
            self.steps.push(Step::SetSysctl {
                loc: Loc::Host,
                key: BACKLOG_KEY.into(),
                value: need.to_string(),
            });
        }
    }

    pub(super) fn trunks(&mut self) -> Result<(), PlanError> {
        let (d, o) = (self.d, self.o);
        for t in &d.trunks {
            // N veth pairs, an OVS bond at each end
            if super::ovs_bond::plan(self, t)? {
                continue;
            }
            // two bridges of one Open vSwitch: patch ports, no device
            if super::ovs_trunk::patch(self, t)? {
                continue;
            }
            let (ba, la) = self.switch_of(&t.a)?;
            let (bb, lb) = self.switch_of(&t.b)?;
            let key = t.key();
            let end = |loc: &Loc, side: Side| -> Option<&LinkObs> {
                let key = &key;
                o.loc(loc).and_then(move |st| {
                    st.marked(move |m| matches!(m, Mark::Trunk { a, b, side: s, member: None, .. } if &Key::trunk(a, b) == key && *s == side))
                        .next()
                })
            };
            let (ea, eb) = (end(&la, Side::A), end(&lb, Side::B));
            if let (Some(ea), Some(eb)) = (ea, eb) {
                for (b, sw, loc, e) in [(ba, &t.a, &la, ea), (bb, &t.b, &lb, eb)] {
                    b.plan_trunk_end(
                        self,
                        sw,
                        loc,
                        &e.name,
                        e.master.as_deref() == Some(sw.as_str()),
                        t,
                    )?;
                    self.ensure_end(loc, &e.name, Some(e), t.either_end());
                }
                self.wired(key.clone(), Via::Veth, (&la, &ea.name), (&lb, &eb.name));
                continue;
            }
            // half there (the other end was deleted by hand): make it again
            if let Some(e) = ea {
                self.delete_link(&la, &e.name);
            } else if let Some(e) = eb {
                self.delete_link(&lb, &e.name);
            }
            let (na, nb) = t.end_names();
            self.trunk_pair(t, None, (&la, &na), (&lb, &nb))?;
            ba.plan_trunk_end(self, &t.a, &la, na.as_str(), false, t)?;
            bb.plan_trunk_end(self, &t.b, &lb, nb.as_str(), false, t)?;
            self.ensure_end(&la, na.as_str(), None, t.either_end());
            self.ensure_end(&lb, nb.as_str(), None, t.either_end());
            self.wired(
                key.clone(),
                Via::Veth,
                (&la, na.as_str()),
                (&lb, nb.as_str()),
            );
        }
        Ok(())
    }

    /// The veth pair of trunk `t` (`member`: the how-manieth of a bond's,
    /// none for a trunk's one pair) from `a` to `b`, each end marked: the
    /// names checked free and taken, a leftover of the name cleared first
    /// (`ip link add A type veth peer name B netns ..`).
    pub(super) fn trunk_pair(
        &mut self,
        t: &TrunkSpec,
        member: Option<u8>,
        (la, na): (&Loc, &IfName),
        (lb, nb): (&Loc, &IfName),
    ) -> Result<(), PlanError> {
        for (loc, n) in [(la, na), (lb, nb)] {
            self.clear_leftover(loc, n.as_str());
            if self.names.taken(loc, n.as_str()) {
                return Err(PlanError::NameTaken {
                    name: n.to_string(),
                    loc: loc.clone(),
                    what: if member.is_some() {
                        "bond member"
                    } else {
                        "trunk"
                    }
                    .into(),
                });
            }
            self.names.take(loc, n.as_str());
        }
        let mark = |side| Mark::Trunk {
            owner: self.d.owner.clone(),
            a: t.a.clone(),
            b: t.b.clone(),
            side,
            member,
        };
        self.steps.push(Step::CreateVeth {
            loc: la.clone(),
            name: na.clone(),
            peer_loc: lb.clone(),
            peer: nb.clone(),
            master: None,
            mark: mark(Side::A),
            peer_mark: mark(Side::B),
            mac: self.mac(la, na.as_str()),
            peer_mac: self.mac(lb, nb.as_str()),
            ipv6: false,
            peer_ipv6: false,
        });
        Ok(())
    }
}
