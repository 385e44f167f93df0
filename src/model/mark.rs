//! The ownership mark swctl writes on every link it creates (the link
//! alias, `ip link set DEV alias ...`) and on the loopback of every
//! namespace it creates, and its text form. Marks live on the objects
//! themselves, so they survive a crash of swctl, `gc` finds them without any
//! state file, and a look-alike made by someone else (same name, no mark)
//! is never taken for swctl's. `LINK_GROUP` is the identity a device carries
//! from the instant it exists (the kernel takes IFLA_GROUP in RTM_NEWLINK,
//! not IFLA_IFALIAS): only a device in that group can be finished from a
//! pending mark.

use std::collections::BTreeMap;

use serde::Serialize;

use super::names::{IfName, Loc, NsName, Owner};

/// Which end of a pair a mark sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// switch end of a port / `a` end of a link
    A,
    /// namespace end of a port / `b` end of a link
    B,
}

/// The ownership mark swctl writes into the alias of each link it creates.
/// Text form: `swctl:1 owner=O role=port ns=N sw=S side=a`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Mark {
    /// on `lo` of a namespace swctl created
    Ns {
        owner: Owner,
    },
    Switch {
        owner: Owner,
    },
    Port {
        owner: Owner,
        ns: NsName,
        sw: IfName,
        side: Side,
    },
    Link {
        owner: Owner,
        a: Loc,
        b: Loc,
        side: Side,
    },
    /// the vxlan device that carries switch `sw` to other machines
    Tunnel {
        owner: Owner,
        sw: IfName,
    },
    /// an end of a trunk: a veth pair joining switch `a` to switch `b`
    /// (`member`: the how-manieth of a bond's veth pairs)
    Trunk {
        owner: Owner,
        a: IfName,
        b: IfName,
        side: Side,
        member: Option<u8>,
    },
}

pub const MARK_PREFIX: &str = "swctl:1";

/// The device group (`ip link set DEV group N`, IFLA_GROUP) of every device
/// swctl creates or moves into a namespace: 0x7377, "sw".
pub const LINK_GROUP: u32 = 0x7377;

impl Mark {
    /// The same mark for another owner (a lab adopting the object).
    pub fn with_owner(&self, to: Owner) -> Mark {
        let mut m = self.clone();
        match &mut m {
            Mark::Ns { owner }
            | Mark::Switch { owner }
            | Mark::Port { owner, .. }
            | Mark::Link { owner, .. }
            | Mark::Tunnel { owner, .. }
            | Mark::Trunk { owner, .. } => *owner = to,
        }
        m
    }

    pub fn owner(&self) -> &Owner {
        match self {
            Mark::Ns { owner }
            | Mark::Switch { owner }
            | Mark::Port { owner, .. }
            | Mark::Link { owner, .. }
            | Mark::Tunnel { owner, .. }
            | Mark::Trunk { owner, .. } => owner,
        }
    }

    /// For a port mark: its namespace and switch, as text (OVS external_ids).
    pub fn port_ids(&self) -> (String, String) {
        match self {
            Mark::Port { ns, sw, .. } => (ns.to_string(), sw.to_string()),
            _ => (String::new(), String::new()),
        }
    }

    pub fn to_alias(&self) -> String {
        let side = |s: &Side| match s {
            Side::A => "a",
            Side::B => "b",
        };
        match self {
            Mark::Ns { owner } => format!("{MARK_PREFIX} owner={owner} role=ns"),
            Mark::Switch { owner } => format!("{MARK_PREFIX} owner={owner} role=switch"),
            Mark::Port {
                owner,
                ns,
                sw,
                side: s,
            } => format!(
                "{MARK_PREFIX} owner={owner} role=port ns={ns} sw={sw} side={}",
                side(s)
            ),
            Mark::Link {
                owner,
                a,
                b,
                side: s,
            } => format!(
                "{MARK_PREFIX} owner={owner} role=link a={a} b={b} side={}",
                side(s)
            ),
            Mark::Tunnel { owner, sw } => {
                format!("{MARK_PREFIX} owner={owner} role=tunnel sw={sw}")
            }
            Mark::Trunk {
                owner,
                a,
                b,
                side: s,
                member,
            } => format!(
                "{MARK_PREFIX} owner={owner} role=trunk a={a} b={b} side={}{}",
                side(s),
                member.map_or(String::new(), |m| format!(" member={m}"))
            ),
        }
    }

    /// Parse an alias; anything that is not a well-formed swctl mark is
    /// `None` (that link is not ours, whatever its name).
    pub fn from_alias(alias: &str) -> Option<Mark> {
        let mut words = alias.split(' ');
        if words.next()? != MARK_PREFIX {
            return None;
        }
        let mut kv = BTreeMap::new();
        for w in words {
            let (k, v) = w.split_once('=')?;
            kv.insert(k, v);
        }
        let owner: Owner = kv.get("owner")?.parse().ok()?;
        let side = || match *kv.get("side")? {
            "a" => Some(Side::A),
            "b" => Some(Side::B),
            _ => None,
        };
        match *kv.get("role")? {
            "ns" => Some(Mark::Ns { owner }),
            "switch" => Some(Mark::Switch { owner }),
            "port" => Some(Mark::Port {
                owner,
                ns: kv.get("ns")?.parse().ok()?,
                sw: kv.get("sw")?.parse().ok()?,
                side: side()?,
            }),
            "link" => Some(Mark::Link {
                owner,
                a: kv.get("a")?.parse().ok()?,
                b: kv.get("b")?.parse().ok()?,
                side: side()?,
            }),
            "tunnel" => Some(Mark::Tunnel {
                owner,
                sw: kv.get("sw")?.parse().ok()?,
            }),
            "trunk" => Some(Mark::Trunk {
                owner,
                a: kv.get("a")?.parse().ok()?,
                b: kv.get("b")?.parse().ok()?,
                side: side()?,
                member: match kv.get("member") {
                    Some(m) => Some(m.parse().ok()?),
                    None => None,
                },
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip() {
        let marks = [
            Mark::Ns {
                owner: "lab".parse().unwrap(),
            },
            Mark::Switch {
                owner: Owner::cli(),
            },
            Mark::Port {
                owner: "lab".parse().unwrap(),
                ns: "h1".parse().unwrap(),
                sw: "br0".parse().unwrap(),
                side: Side::B,
            },
            Mark::Link {
                owner: Owner::cli(),
                a: Loc::Host,
                b: Loc::Ns("x".parse().unwrap()),
                side: Side::A,
            },
            Mark::Tunnel {
                owner: "lab+m1".parse().unwrap(),
                sw: "s0".parse().unwrap(),
            },
            Mark::Trunk {
                owner: "lab".parse().unwrap(),
                a: "br0".parse().unwrap(),
                b: "br1".parse().unwrap(),
                side: Side::B,
                member: None,
            },
            Mark::Trunk {
                owner: "lab".parse().unwrap(),
                a: "br0".parse().unwrap(),
                b: "br1".parse().unwrap(),
                side: Side::A,
                member: Some(3),
            },
        ];
        for m in marks {
            let a = m.to_alias();
            assert!(a.len() < 256, "IFALIASZ");
            assert_eq!(Mark::from_alias(&a), Some(m));
        }
        assert_eq!(Mark::from_alias("uplink to rack 3"), None);
        assert_eq!(Mark::from_alias("swctl:1 owner=x role=weird"), None);
        assert_eq!(Mark::from_alias("swctl:1 owner=a b role=switch"), None);
    }
}
