//! Making one end of a device match its description (`model::End`): every
//! per-end attribute is planned here and nowhere else, for ports, links,
//! trunks, tunnels and links across machines alike.

use super::{Cx, Step};
use crate::model::End;
use crate::model::LinkObs;
use crate::model::names::{Cidr, Loc};

impl Cx<'_> {
    /// Steps that make device `dev` in `loc` have every attribute of `want`
    /// (`ip link set DEV mtu N`, `ip addr add`, announced); `have`: the
    /// device as observed, None for one this plan creates.
    pub fn ensure_end(&mut self, loc: &Loc, dev: &str, have: Option<&LinkObs>, want: End) {
        // every field named: a new attribute is planned here or not at all
        let End { addrs, mtu } = want;
        self.ensure_mtu(loc, dev, have.map(|l| l.mtu), mtu);
        self.ensure_addrs(loc, dev, have.map_or(&[][..], |l| &l.addrs), addrs);
    }

    /// `have`: the observed MTU, None for a device this plan creates.
    fn ensure_mtu(&mut self, loc: &Loc, dev: &str, have: Option<u32>, want: Option<u32>) {
        if let Some(m) = want
            && have != Some(m)
        {
            self.steps.push(Step::SetMtu {
                loc: loc.clone(),
                dev: dev.to_string(),
                mtu: m,
            });
        }
    }

    /// `ip addr add` for each wanted address the device lacks, each then
    /// announced to the neighbours (a re-added address may be cached with a
    /// stale or failed entry by them).
    fn ensure_addrs(&mut self, loc: &Loc, dev: &str, have: &[Cidr], want: &[Cidr]) {
        let mut added = Vec::new();
        for c in want.iter().filter(|c| !have.contains(c)) {
            self.steps.push(Step::AddAddr {
                loc: loc.clone(),
                dev: dev.to_string(),
                cidr: *c,
            });
            added.push(c.addr);
        }
        if !added.is_empty() {
            self.steps.push(Step::Announce {
                loc: loc.clone(),
                dev: dev.to_string(),
                addrs: added,
            });
        }
    }
}
