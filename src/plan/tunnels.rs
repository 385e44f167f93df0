//! The tunnels of a machine's part of a lab over several machines: each
//! spanning switch carried to the other machines by its backend
//! (`Switch::plan_tunnel`), over the device that has this machine's VTEP
//! address; and guest MTUs that fit under the encapsulation.

use super::{Cx, PlanError};
use crate::model::names::Loc;
use crate::model::{Desired, Observed, VXLAN_OVERHEAD};

/// The MTU a spanning switch's tunnel gets on this machine: the VTEP
/// device's less VXLAN's 50 bytes, at most 1500 (a bigger underlay leaves
/// room; guests default to 1500). Without it a 1500-byte guest frame is
/// dropped silently by a 1500-byte underlay (measured: DF pings over 1422
/// bytes lost, TCP passes thanks to GSO, so a TCP-only test misses it).
fn tunnel_mtu(o: &Observed, vtep: &std::net::IpAddr) -> Option<u32> {
    let l = o
        .host
        .links
        .iter()
        .find(|l| l.addrs.iter().any(|c| &c.addr == vtep))?;
    Some(l.mtu.saturating_sub(VXLAN_OVERHEAD).min(1500))
}

/// The part with every port of a spanning switch given an MTU that fits
/// the tunnel, where the file gives none and 1500 would not; an error when
/// this machine has no device with its VTEP address.
pub(super) fn fit_mtu(d: &Desired, o: &Observed) -> Result<Desired, PlanError> {
    let mut out = d.clone();
    for t in &d.tunnels {
        let Some(mtu) = tunnel_mtu(o, &t.local) else {
            return Err(PlanError::NoVtep(t.local, t.switch.clone()));
        };
        if mtu < 1500 {
            for p in out.ports.iter_mut().filter(|p| p.switch == t.switch) {
                p.mtu = Some(p.mtu.map_or(mtu, |m| m.min(mtu)));
            }
        }
    }
    Ok(out)
}

impl Cx<'_> {
    pub(super) fn tunnels(&mut self) -> Result<(), PlanError> {
        let d = self.d;
        for t in &d.tunnels {
            let (b, loc): (_, Loc) = self.switch_of(&t.switch)?;
            let mtu = tunnel_mtu(self.o, &t.local);
            b.plan_tunnel(self, t, &loc, mtu)?;
        }
        Ok(())
    }
}
