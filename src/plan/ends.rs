//! Making one end of a device match its description (`model::End`): every
//! per-end attribute is planned here and nowhere else, for ports, links,
//! trunks, tunnels and links across machines alike.

use super::{Cx, Step};
use crate::model::End;
use crate::model::LinkObs;
use crate::model::mac::Mac;
use crate::model::names::{Cidr, Loc};

impl Cx<'_> {
    /// Steps that make device `dev` in `loc` have every attribute of `want`
    /// (`ip link set DEV up`, `ip link set DEV address MAC`, `ip link set
    /// DEV mtu N`, `ip addr add`, announced, `tc qdisc replace|del dev DEV
    /// root handle 5357:`); `have`: the device as
    /// observed, None for one this plan creates (made up, with its stable
    /// address, by its creation step).
    pub fn ensure_end(&mut self, loc: &Loc, dev: &str, have: Option<&LinkObs>, want: End) {
        // every field named: a new attribute is planned here or not at all
        let End {
            addrs,
            mtu,
            up,
            stable_mac,
            qdisc,
        } = want;
        if let Some(l) = have {
            if up {
                self.ensure_up(loc, l);
            }
            if stable_mac {
                self.ensure_mac(loc, l);
            }
        }
        self.ensure_mtu(loc, dev, have.map(|l| l.mtu), mtu);
        self.ensure_addrs(loc, dev, have.map_or(&[][..], |l| &l.addrs), addrs);
        if let Some(q) = qdisc {
            let have = have.and_then(|l| l.qdisc.as_ref());
            self.steps
                .extend(super::impair::qdisc_step(loc, dev, have, q));
        }
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

    /// A marked device that lost its stable address (changed by hand) gets
    /// it back (`ip link set DEV address MAC`).
    fn ensure_mac(&mut self, loc: &Loc, l: &LinkObs) {
        let Some(m) = &l.mark else { return };
        let want = Mac::stable(&[m.owner().as_str(), &loc.to_string(), &l.name]);
        // a device a lab adopted from the imperative commands (`apply
        // --adopt`) keeps the address it was made with
        let made_by_cli = Mac::stable(&["cli", &loc.to_string(), &l.name]);
        if l.mac
            .is_some_and(|have| have != want && have != made_by_cli)
        {
            self.steps.push(Step::SetMac {
                loc: loc.clone(),
                dev: l.name.clone(),
                mac: want,
            });
        }
    }

    fn ensure_up(&mut self, loc: &Loc, l: &LinkObs) {
        if !l.up {
            self.steps.push(Step::SetUp {
                loc: loc.clone(),
                dev: l.name.clone(),
            });
        }
    }
}
