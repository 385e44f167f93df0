//! One end of a device swctl makes — a host's side of a port, a switch's
//! side, an end of a direct link, of a trunk, of a link across machines, a
//! switch's own interface, a tunnel device — and the attributes it must
//! have, described once (`End`). Every kind of end describes itself with
//! one function here, and the planner makes any end match its `End` with
//! one function (`plan::ends`). A new attribute (as the impairments'
//! queueing discipline was) is a field of `End`, a line in each
//! description below (the compiler points to every one) and its steps in
//! `plan::ends`.

use serde::Serialize;

use super::impair::{Impair, Qdisc};
use super::names::Cidr;
use super::{PortSpec, SwitchSpec, TrunkSpec, XLinkSpec};

/// What a topology asks of one end of a device: a host's port (`ip`,
/// `mtu`, impairments), each end of a link (`a_ip`/`b_ip`, `mtu`,
/// impairments shared or `a_`/`b_`), a trunk's ends (`mtu`, impairments).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EndSpec {
    /// addresses on it
    pub addrs: Vec<Cidr>,
    /// its MTU; None: the kernel's default
    pub mtu: Option<u32>,
    /// what its egress suffers (`rate`, `delay`, `loss`, ...); None:
    /// whatever it has (an imperative command that does not speak of it),
    /// where a topology's end says all (no impairment: none of swctl's)
    pub impair: Option<Impair>,
}

impl EndSpec {
    /// The end as planned: these attributes, up, with its stable address.
    pub fn want(&self) -> End<'_> {
        // every field named: a new one is described here or not at all
        let EndSpec { addrs, mtu, impair } = self;
        End {
            qdisc: impair.as_ref().map(Impair::qdisc),
            ..End::with(addrs, *mtu)
        }
    }

    /// The same end without its addresses (a switch's side of a port: the
    /// host's port's attributes but its addresses).
    pub fn without_addrs(&self) -> End<'static> {
        End {
            addrs: &[],
            ..self.want()
        }
    }
}

/// What one end of a device must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End<'a> {
    /// addresses on it (`ip addr add`); others are pruned elsewhere
    pub addrs: &'a [Cidr],
    /// its MTU; None: whatever the kernel gave it
    pub mtu: Option<u32>,
    /// administratively up (`ip link set DEV up`)
    pub up: bool,
    /// keeps the stable Ethernet address swctl gave it (`model::mac`),
    /// given back when changed by hand; false: the address is not
    /// swctl's to keep (a user's uplink, an OVS bridge's own interface)
    pub stable_mac: bool,
    /// its root qdisc (`tc qdisc replace dev DEV root handle 5357: ...`):
    /// Some(None): none of swctl's (anybody else's is left); None: whatever
    /// it has
    pub qdisc: Option<Option<Qdisc>>,
}

impl End<'static> {
    /// An end swctl made that carries no address of its own (a switch's
    /// side of a port, a trunk's end, a tunnel device), of MTU `mtu`.
    pub fn bare(mtu: Option<u32>) -> End<'static> {
        End::with(&[], mtu)
    }
}

impl<'a> End<'a> {
    /// An end swctl made, up, with its stable address.
    fn with(addrs: &'a [Cidr], mtu: Option<u32>) -> End<'a> {
        End {
            addrs,
            mtu,
            up: true,
            stable_mac: true,
            qdisc: None,
        }
    }
}

impl PortSpec {
    /// The end inside the host's namespace.
    pub fn host_end(&self) -> End<'_> {
        self.end.want()
    }

    /// The end on the switch's side.
    pub fn switch_end(&self) -> End<'static> {
        self.end.without_addrs()
    }
}

impl super::Desired {
    /// Every end a topology describes, with where it is in words (what a
    /// refusal names): ports, each end of a link, trunks, this machine's
    /// end of each link across machines.
    pub fn end_specs(&self) -> Vec<(String, &EndSpec)> {
        let mut out: Vec<(String, &EndSpec)> = Vec::new();
        for p in &self.ports {
            out.push((format!("the port of {} on {}", p.ns, p.switch), &p.end));
        }
        for l in &self.links {
            out.push((format!("the link {}-{} (end a)", l.a, l.b), &l.a_end));
            out.push((format!("the link {}-{} (end b)", l.a, l.b), &l.b_end));
        }
        for t in &self.trunks {
            out.push((format!("the trunk {}-{}", t.a, t.b), &t.end));
        }
        for x in &self.xlinks {
            let (side, e) = if x.here_a {
                ("a", &x.link.a_end)
            } else {
                ("b", &x.link.b_end)
            };
            out.push((
                format!("the link {}-{} (end {side})", x.link.a, x.link.b),
                e,
            ));
        }
        out
    }

    /// Whether any end asks for an impairment.
    pub fn impaired(&self) -> bool {
        self.end_specs()
            .iter()
            .any(|(_, e)| e.impair.is_some_and(|i| !i.is_empty()))
    }
}

impl XLinkSpec {
    /// This machine's end of a link to a host on another machine, whose
    /// tunnel leaves `tunnel_mtu` for the frames (the link's own MTU, when
    /// smaller, wins).
    pub fn here_end(&self, tunnel_mtu: u32) -> End<'_> {
        let e = if self.here_a {
            self.link.a_end.want()
        } else {
            self.link.b_end.want()
        };
        End {
            mtu: Some(e.mtu.map_or(tunnel_mtu, |m| m.min(tunnel_mtu))),
            ..e
        }
    }
}

impl TrunkSpec {
    /// Either end (both are alike).
    pub fn either_end(&self) -> End<'static> {
        self.end.without_addrs()
    }
}

impl SwitchSpec {
    /// The switch's own interface (the bridge device, an OVS bridge's
    /// internal interface); `stable_mac`: whether its address is swctl's
    /// to keep (a Linux bridge this lab made; an OVS bridge's interface
    /// takes the address Open vSwitch gives it).
    pub fn own_end(&self, stable_mac: bool) -> End<'_> {
        End {
            stable_mac,
            ..End::with(&self.addrs, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_end_says_its_attributes() {
        let c: Cidr = "198.18.0.1/24".parse().unwrap();
        let l = crate::model::LinkSpec {
            a: crate::model::names::Loc::Host,
            b: crate::model::names::Loc::Host,
            a_ifname: None,
            b_ifname: None,
            a_end: EndSpec {
                addrs: vec![c],
                mtu: Some(9000),
                impair: Some(Impair::default()),
            },
            b_end: EndSpec {
                addrs: vec![],
                mtu: Some(9000),
                impair: Some(Impair {
                    rate: Some(crate::model::impair::Rate(1_000_000)),
                    ..Impair::default()
                }),
            },
        };
        assert_eq!(
            l.a_end.want(),
            End {
                addrs: &[c],
                mtu: Some(9000),
                up: true,
                stable_mac: true,
                qdisc: Some(None),
            }
        );
        let b = l.b_end.want();
        assert_eq!(b.qdisc.flatten().map(|q| q.kind()), Some("tbf"));
        assert_eq!(End { qdisc: None, ..b }, End::bare(Some(9000)));
    }
}
