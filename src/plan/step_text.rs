//! Each step as the command a person would type for it (`ip`, `ovs-vsctl`,
//! `ovs-ofctl`, `sysctl`, `arping`): what `plan` prints and `-v` logs.

use std::fmt;
use std::net::IpAddr;

use super::step::Step;
use crate::model::names::Loc;
use crate::model::{LINK_GROUP, VXLAN_PORT};

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::DelRoute { ns, dest, via } => write!(f, "ip -n {ns} route del {dest} via {via}"),
            Step::DelAddr { loc, dev, cidr } => {
                write!(f, "ip {}addr del {cidr} dev {dev}", loc.ip_n())
            }
            Step::DeleteLink { loc, dev } => write!(f, "ip {}link del {dev}", loc.ip_n()),
            Step::DeleteNs { ns } => write!(f, "ip netns del {ns}"),
            Step::AwaitGone { loc, dev } => write!(
                f,
                "# wait until {dev} (in {loc}) goes with its peer's namespace"
            ),
            Step::CreateNs { ns, .. } => {
                write!(f, "ip netns add {ns} && ip -n {ns} link set lo up")
            }
            Step::CreateVxlan {
                loc,
                name,
                vni,
                local,
                remote,
                master,
                mtu,
                mac,
                ..
            } => {
                let mtu = mtu.map(|m| format!(" mtu {m}")).unwrap_or_default();
                let remote = remote.map(|r| format!(" remote {r}")).unwrap_or_default();
                // born in the host's namespace from this machine's own
                let netns = loc.ns().map(|n| format!(" netns {n}")).unwrap_or_default();
                let master = master
                    .as_ref()
                    .map(|m| format!(" master {m}"))
                    .unwrap_or_default();
                write!(
                    f,
                    "ip link add {name} address {mac} group {LINK_GROUP}{mtu}{netns} type vxlan id {vni} local {local}{remote} dstport {VXLAN_PORT} nolearning && ip {}link set {name}{master} up",
                    loc.ip_n()
                )
            }
            Step::AddFdb { loc, dev, dst } => write!(
                f,
                "bridge {}fdb append 00:00:00:00:00:00 dev {dev} dst {dst}",
                loc.ip_n()
            ),
            Step::DelFdb { loc, dev, dst } => write!(
                f,
                "bridge {}fdb del 00:00:00:00:00:00 dev {dev} dst {dst}",
                loc.ip_n()
            ),
            Step::CreateBridge { loc, name, mac, .. } => write!(
                f,
                "ip {}link add {name} address {mac} group {LINK_GROUP} type bridge stp_state 0 && ip {}link set {name} up",
                loc.ip_n(),
                loc.ip_n()
            ),
            Step::CreateVeth {
                loc,
                name,
                peer_loc,
                peer,
                master,
                mac,
                peer_mac,
                ipv6,
                peer_ipv6,
                ..
            } => {
                let netns = match peer_loc {
                    Loc::Host => String::new(),
                    Loc::Ns(n) => format!(" netns {n}"),
                };
                let agm = |v6: &bool| if *v6 { "" } else { " addrgenmode none" };
                write!(
                    f,
                    "ip {}link add {name} address {mac} group {LINK_GROUP}{} up",
                    loc.ip_n(),
                    agm(ipv6)
                )?;
                if let Some(m) = master {
                    write!(f, " master {m}")?;
                }
                write!(
                    f,
                    " type veth peer name {peer} address {peer_mac} group {LINK_GROUP}{}{netns} up",
                    agm(peer_ipv6)
                )
            }
            Step::SetMaster { loc, dev, master } => {
                write!(f, "ip {}link set {dev} master {master}", loc.ip_n())
            }
            Step::SetUp { loc, dev } => write!(f, "ip {}link set {dev} up", loc.ip_n()),
            Step::SetMtu { loc, dev, mtu } => {
                write!(f, "ip {}link set {dev} mtu {mtu}", loc.ip_n())
            }
            Step::SetMac { loc, dev, mac } => {
                write!(f, "ip {}link set {dev} address {mac}", loc.ip_n())
            }
            Step::SetQdisc {
                loc, dev, qdisc, ..
            } => write!(
                f,
                "tc {}qdisc replace dev {dev} root handle 5357: {}",
                loc.ip_n(),
                qdisc.tc_args()
            ),
            Step::DelQdisc { loc, dev, .. } => {
                write!(f, "tc {}qdisc del dev {dev} root handle 5357:", loc.ip_n())
            }
            Step::Announce { loc, dev, addrs } => {
                let exec = match loc {
                    Loc::Host => String::new(),
                    Loc::Ns(n) => format!("ip netns exec {n} "),
                };
                let each: Vec<String> = addrs
                    .iter()
                    .map(|a| match a {
                        IpAddr::V4(_) => format!("{exec}arping -U -c 1 -I {dev} {a}"),
                        IpAddr::V6(_) => format!("{exec}ndsend {a} {dev}"),
                    })
                    .collect();
                f.write_str(&each.join(" && "))
            }
            Step::AddAddr { loc, dev, cidr } => {
                write!(f, "ip {}addr add {cidr} dev {dev}", loc.ip_n())
            }
            Step::SetForward { ns, on } => {
                write!(
                    f,
                    "ip netns exec {ns} sysctl -w net.ipv4.ip_forward={}",
                    *on as u8
                )
            }
            Step::AddRoute { ns, dest, via } => write!(f, "ip -n {ns} route add {dest} via {via}"),
            Step::Ovs(c) => c.fmt(f),
            Step::Nb { nb, change } => {
                let c = change.to_string();
                match c.strip_prefix("ovn-nbctl ") {
                    Some(rest) => write!(f, "ovn-nbctl --db={nb} {rest}"),
                    None => f.write_str(&c),
                }
            }
            Step::MoveLink {
                from,
                dev,
                ns,
                name,
                ..
            } => {
                write!(
                    f,
                    "ip {}link set {dev} netns {ns} name {name} group {LINK_GROUP} && ip -n {ns} link set {name} up",
                    from.ip_n()
                )
            }
            Step::TxCsumOff { ns, dev } => write!(f, "ip netns exec {ns} ethtool -K {dev} tx off"),
            Step::OvsRxBuffer { dev } => write!(
                f,
                "# ovs-vswitchd's socket of {dev}: setsockopt SO_RCVBUFFORCE {} (no ip/ovs-vsctl equivalent; as `sysctl -w net.core.rmem_default={}` before `ovs-vsctl add-port`)",
                crate::model::tso::RX_BUFFER,
                crate::model::tso::RX_BUFFER
            ),
            Step::Host(h) => write!(f, "{h}"),
            Step::Flows(b) => {
                let mgmt = format!("{}.mgmt", b.bridge);
                let mut parts = vec![];
                for d in &b.del_text {
                    parts.push(format!(
                        "ovs-ofctl --strict del-flows {mgmt} \"cookie={:#x}/{:#x},{}\"",
                        crate::model::openflow::cookie(&b.owner),
                        crate::model::openflow::OWNER_MASK,
                        d.split(" actions=").next().unwrap_or(d)
                    ));
                }
                if !b.add.is_empty() {
                    parts.push(format!(
                        "ovs-ofctl add-flows {mgmt} - # {} flow(s) with cookie={:#x}: {}",
                        b.add.len(),
                        crate::model::openflow::cookie(&b.owner),
                        b.add.join(" | ")
                    ));
                }
                write!(f, "{}", parts.join(" && "))
            }
            Step::SetMark { loc, dev, mark } => {
                write!(
                    f,
                    "ip {}link set {dev} alias \"{}\"",
                    loc.ip_n(),
                    mark.to_alias()
                )
            }
            Step::SetSysctl { loc, key, value } => {
                let exec = match loc {
                    Loc::Host => String::new(),
                    Loc::Ns(n) => format!("ip netns exec {n} "),
                };
                write!(f, "{exec}sysctl -w {}={value}", key.replace('/', "."))
            }
        }
    }
}
