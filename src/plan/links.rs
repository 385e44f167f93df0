//! Direct links: a veth pair between two namespaces (or a namespace and the
//! host), kept when both marked ends are there with the wanted names,
//! repaired (up, MTU, addresses), or made again.

use super::{Cx, PlanError, Step, Wiring, has_v6};
use crate::model::names::{IfName, Loc, derived_ifname};
use crate::model::*;

impl Cx<'_> {
    pub(super) fn links(&mut self) -> Result<(), PlanError> {
        let (d, o) = (self.d, self.o);
        for s in &d.links {
            for loc in [&s.a, &s.b] {
                if !self.loc_exists(loc) {
                    return Err(PlanError::UnknownNamespace(
                        loc.ns().expect("host exists").clone(),
                    ));
                }
            }
            let key = Key::link(&s.a, &s.b);
            let ea = link_end(o, s, true);
            let eb = link_end(o, s, false);
            let names_ok = |e: Option<&LinkObs>, want: &Option<IfName>| {
                e.is_some()
                    && want
                        .as_ref()
                        .is_none_or(|n| e.is_some_and(|e| e.name == n.as_str()))
            };
            if names_ok(ea, &s.a_ifname) && names_ok(eb, &s.b_ifname) {
                let (ea, eb) = (ea.expect("checked"), eb.expect("checked"));
                self.ensure_end(&s.a, &ea.name, Some(ea), s.a_end.want());
                self.ensure_end(&s.b, &eb.name, Some(eb), s.b_end.want());
                self.wiring.push(Wiring {
                    key,
                    via: Via::Veth,
                    a_loc: s.a.clone(),
                    a_dev: ea.name.clone(),
                    b_loc: s.b.clone(),
                    b_dev: eb.name.clone(),
                });
                continue;
            }
            if let Some(e) = ea {
                self.delete_link(&s.a, &e.name);
            } else if let Some(e) = eb {
                self.delete_link(&s.b, &e.name);
            }
            let derived =
                derived_ifname(&s.b.to_string(), &[&s.a.to_string(), &s.b.to_string(), "a"]);
            self.clear_leftover(&s.a, derived.as_str());
            for (loc, other, want) in [(&s.a, &s.b, &s.a_ifname), (&s.b, &s.a, &s.b_ifname)] {
                let plain = want.clone().or_else(|| match other {
                    Loc::Ns(o) if loc != other => o.as_str().parse().ok(),
                    Loc::Host => "host".parse().ok(),
                    _ => None,
                });
                if let Some(n) = plain {
                    self.clear_own_leftover(loc, n.as_str());
                }
            }
            let a_name = self.link_end_name(&s.a, &s.b, &s.a_ifname, "a")?;
            self.names.take(&s.a, a_name.as_str());
            let b_name = self.link_end_name(&s.b, &s.a, &s.b_ifname, "b")?;
            self.names.take(&s.b, b_name.as_str());
            if s.a == s.b && a_name == b_name {
                return Err(PlanError::DuplicateName(a_name.to_string(), s.a.clone()));
            }
            let mark = |side| Mark::Link {
                owner: d.owner.clone(),
                a: s.a.clone(),
                b: s.b.clone(),
                side,
            };
            self.steps.push(Step::CreateVeth {
                loc: s.a.clone(),
                name: a_name.clone(),
                peer_loc: s.b.clone(),
                peer: b_name.clone(),
                master: None,
                mark: mark(Side::A),
                peer_mark: mark(Side::B),
                mac: self.mac(&s.a, a_name.as_str()),
                peer_mac: self.mac(&s.b, b_name.as_str()),
                ipv6: has_v6(&s.a_end.addrs),
                peer_ipv6: has_v6(&s.b_end.addrs),
            });
            self.ensure_end(&s.a, a_name.as_str(), None, s.a_end.want());
            self.ensure_end(&s.b, b_name.as_str(), None, s.b_end.want());
            if s.a == s.b {
                // Two ends in one namespace do not answer each other's ARP:
                // the reply has a local source address and comes back over
                // `lo`, which rp_filter drops and accept_local refuses.
                for dev in [&a_name, &b_name] {
                    for (k, v) in [("accept_local", "1"), ("rp_filter", "0")] {
                        self.steps.push(Step::SetSysctl {
                            loc: s.a.clone(),
                            key: format!("net/ipv4/conf/{dev}/{k}"),
                            value: v.into(),
                        });
                    }
                }
            }
            self.wiring.push(Wiring {
                key,
                via: Via::Veth,
                a_loc: s.a.clone(),
                a_dev: a_name.to_string(),
                b_loc: s.b.clone(),
                b_dev: b_name.to_string(),
            });
        }
        Ok(())
    }
}

/// Whether the end marked (`a`, `b`, `side`) is the spec's `a` end. The mark
/// keeps the orientation the link was created with; the spec may name the
/// two ends the other way round.
pub(super) fn spec_a_end(s: &LinkSpec, a: &Loc, b: &Loc, side: Side) -> bool {
    let same_orientation = &s.a == a && &s.b == b;
    (side == Side::A) == same_orientation
}

/// The observed end of link `s` at its `a` end (or `b` end).
fn link_end<'o>(o: &'o Observed, s: &LinkSpec, want_a: bool) -> Option<&'o LinkObs> {
    let loc = if want_a { &s.a } else { &s.b };
    let key = Key::link(&s.a, &s.b);
    o.loc(loc)?.links.iter().find(|l| match &l.mark {
        Some(Mark::Link { a, b, side, .. }) => {
            Key::link(a, b) == key && spec_a_end(s, a, b, *side) == want_a
        }
        _ => false,
    })
}
