//! The tunnels of a machine's part of a lab over several machines: each
//! spanning switch carried to the other machines by its backend
//! (`Switch::plan_tunnel`), over the device that has this machine's VTEP
//! address; and guest MTUs that fit under the encapsulation.

use super::{Cx, PlanError, Step};
use crate::model::names::Loc;
use crate::model::{Desired, End, Key, Mark, Observed, Side, VXLAN_OVERHEAD};

/// The MTU a spanning switch's tunnel gets on this machine: the VTEP
/// device's less VXLAN's 50 bytes, at most `cap` (1500 unless the
/// switch's guests are bigger, `lab::underlay::guest_mtu`: a bigger
/// underlay leaves room; guests default to 1500). Without it a 1500-byte
/// guest frame is dropped silently by a 1500-byte underlay (measured: DF
/// pings over 1422 bytes lost, TCP passes thanks to GSO, so a TCP-only
/// test misses it).
fn tunnel_mtu_at_most(d: &Desired, o: &Observed, vtep: &std::net::IpAddr, cap: u32) -> Option<u32> {
    let mtu = match o
        .host
        .links
        .iter()
        .find(|l| l.addrs.iter().any(|c| &c.addr == vtep))
    {
        Some(l) => l.mtu,
        // not there yet: the VTEP goes on a switch of this part, as big as
        // its uplink (`plan_uplink`)
        None => {
            let (sw, _) = d
                .switches
                .iter()
                .find(|(_, s)| s.addrs.iter().any(|c| &c.addr == vtep))?;
            let up = d.uplinks.iter().find(|u| &u.switch == sw)?;
            o.host.link(up.dev.as_str())?.mtu
        }
    };
    Some(mtu.saturating_sub(VXLAN_OVERHEAD).min(cap))
}

/// `tunnel_mtu_at_most` 1500: what guests of the kernel's default fit.
fn tunnel_mtu(d: &Desired, o: &Observed, vtep: &std::net::IpAddr) -> Option<u32> {
    tunnel_mtu_at_most(d, o, vtep, 1500)
}

/// The part with every port of a spanning switch given an MTU that fits
/// the tunnel, where the file gives none and 1500 would not; an error when
/// this machine has no device with its VTEP address.
pub(super) fn fit_mtu(d: &Desired, o: &Observed) -> Result<Desired, PlanError> {
    let mut out = d.clone();
    for t in &d.tunnels {
        let Some(mtu) = tunnel_mtu(d, o, &t.local) else {
            return Err(PlanError::NoVtep(t.local, t.switch.clone()));
        };
        if mtu < 1500 {
            for p in out.ports.iter_mut().filter(|p| p.switch == t.switch) {
                p.end.mtu = Some(p.end.mtu.map_or(mtu, |m| m.min(mtu)));
            }
        }
    }
    Ok(out)
}

impl Cx<'_> {
    /// This machine's ends of links to hosts on other machines: a
    /// point-to-point vxlan device born in the host's namespace (`ip link
    /// add NAME netns NS type vxlan id VNI local VTEP remote VTEP'`), marked
    /// as a link end, kept when its identifier and both addresses are right.
    pub(super) fn xlinks(&mut self) -> Result<(), PlanError> {
        let (d, o) = (self.d, self.o);
        for x in &d.xlinks {
            let l = &x.link;
            let (here, there, want) = if x.here_a {
                (&l.a, &l.b, &l.a_ifname)
            } else {
                (&l.b, &l.a, &l.b_ifname)
            };
            if !self.loc_exists(here) {
                return Err(PlanError::UnknownNamespace(
                    here.ns().expect("a host end").clone(),
                ));
            }
            let key = Key::link(&l.a, &l.b);
            let side = if x.here_a { Side::A } else { Side::B };
            let have = o.loc(here).and_then(|st| {
                st.links.iter().find(|e| {
                    matches!(&e.mark, Some(Mark::Link { a, b, side: s, .. })
                        if Key::link(a, b) == key && super::links::spec_a_end(l, a, b, *s) == x.here_a)
                })
            });
            let tmtu = tunnel_mtu(d, o, &x.local).ok_or(PlanError::NoVtepLink(x.local))?;
            let end = x.here_end(tmtu);
            let mtu = end.mtu;
            let right = |e: &crate::model::LinkObs| {
                e.vxlan.is_some_and(|v| {
                    v.vni == x.vni && v.local == Some(x.local) && v.remote == Some(x.remote)
                }) && want.as_ref().is_none_or(|w| w.as_str() == e.name)
            };
            if let Some(e) = have.filter(|e| right(e)) {
                self.ensure_end(here, &e.name, Some(e), end);
                continue;
            }
            if let Some(e) = have {
                self.delete_link(here, &e.name);
            }
            let name = self.link_end_name(here, there, want, if x.here_a { "a" } else { "b" })?;
            self.names.take(here, name.as_str());
            let (a, b) = (l.a.clone(), l.b.clone());
            self.steps.push(Step::CreateVxlan {
                loc: here.clone(),
                name: name.clone(),
                vni: x.vni,
                local: x.local,
                remote: Some(x.remote),
                master: None,
                mtu,
                mark: Mark::Link {
                    owner: d.owner.clone(),
                    a,
                    b,
                    side,
                },
                mac: self.mac(here, name.as_str()),
            });
            // the MTU went with the device (`CreateVxlan`)
            self.ensure_end(here, name.as_str(), None, End { mtu: None, ..end });
        }
        Ok(())
    }

    /// This machine's devices that are ports of its switches (`plan_uplink`).
    pub(super) fn uplinks(&mut self) -> Result<(), PlanError> {
        let d = self.d;
        for u in &d.uplinks {
            let (b, loc): (_, Loc) = self.switch_of(&u.switch)?;
            b.plan_uplink(self, &u.switch, &loc, &u.dev)?;
        }
        Ok(())
    }

    pub(super) fn tunnels(&mut self) -> Result<(), PlanError> {
        let d = self.d;
        for t in &d.tunnels {
            let (b, loc): (_, Loc) = self.switch_of(&t.switch)?;
            // as big as the switch's biggest guest (jumbo guests over a
            // jumbo underlay), else 1500
            let cap = d
                .ports
                .iter()
                .filter(|p| p.switch == t.switch)
                .filter_map(|p| p.end.mtu)
                .max()
                .unwrap_or(1500)
                .max(1500);
            let mtu = tunnel_mtu_at_most(d, self.o, &t.local, cap);
            b.plan_tunnel(self, t, &loc, mtu)?;
        }
        Ok(())
    }
}
