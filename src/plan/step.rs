//! The steps of a plan: each one effect, as data, with the phase it runs in
//! and (`Display`) its `ip`/`ovs-vsctl` equivalent. The executor
//! (`effect::apply`) runs them; nothing here touches the system.

use std::net::IpAddr;

use serde::Serialize;

use crate::model::host::HostStep;

use crate::model::Mark;
use crate::model::impair::Qdisc;
use crate::model::names::{Cidr, IfName, Loc, Mac, NsName, Owner, RouteDest};
use crate::model::ovn::NbChange;
use crate::model::ovs::OvsChange;

/// One effect. `Display` gives the equivalent `ip` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Step {
    DelRoute {
        ns: NsName,
        dest: RouteDest,
        via: IpAddr,
    },
    DelAddr {
        loc: Loc,
        dev: String,
        cidr: Cidr,
    },
    DeleteLink {
        loc: Loc,
        dev: String,
    },
    DeleteNs {
        ns: NsName,
    },
    /// wait until the kernel has removed a device whose veth peer was in a
    /// deleted namespace (namespaces are freed asynchronously); delete it
    /// explicitly if that does not happen in time
    AwaitGone {
        loc: Loc,
        dev: String,
    },
    CreateNs {
        ns: NsName,
        owner: Owner,
    },
    CreateBridge {
        loc: Loc,
        name: IfName,
        mark: Mark,
        mac: Mac,
    },
    /// a vxlan device: enslaved to a switch, the switch's tunnel to the
    /// other machines of a lab (flooding entries per remote: `AddFdb`); or,
    /// with a `remote`, a point-to-point link end born inside a host's
    /// namespace (its tunnel still goes out of this machine's own stack)
    CreateVxlan {
        loc: Loc,
        name: IfName,
        vni: u32,
        local: IpAddr,
        remote: Option<IpAddr>,
        master: Option<IfName>,
        mtu: Option<u32>,
        mark: Mark,
        mac: Mac,
    },
    /// head-end replication to one remote VTEP
    AddFdb {
        loc: Loc,
        dev: String,
        dst: IpAddr,
    },
    DelFdb {
        loc: Loc,
        dev: String,
        dst: IpAddr,
    },
    /// a veth pair whose peer is created directly in its namespace
    CreateVeth {
        loc: Loc,
        name: IfName,
        peer_loc: Loc,
        peer: IfName,
        master: Option<IfName>,
        mark: Mark,
        peer_mark: Mark,
        mac: Mac,
        peer_mac: Mac,
        /// whether each end carries IPv6: an end without an IPv6 address
        /// gets no link-local one either (`addrgenmode none`)
        ipv6: bool,
        peer_ipv6: bool,
    },
    SetMaster {
        loc: Loc,
        dev: String,
        master: IfName,
    },
    SetUp {
        loc: Loc,
        dev: String,
    },
    SetMtu {
        loc: Loc,
        dev: String,
        mtu: u32,
    },
    /// `tc qdisc replace dev DEV root handle 5357: ...`: the impairment
    /// an end must have; `was`: what it had, in words
    SetQdisc {
        loc: Loc,
        dev: String,
        qdisc: Qdisc,
        was: String,
    },
    /// `tc qdisc del dev DEV root handle 5357:`: swctl's impairment, no
    /// longer wanted
    DelQdisc {
        loc: Loc,
        dev: String,
        was: String,
    },
    /// give a device back its stable Ethernet address
    SetMac {
        loc: Loc,
        dev: String,
        mac: Mac,
    },
    /// tell the neighbours about addresses just added (gratuitous ARP,
    /// unsolicited neighbour advertisement), so none keeps a stale entry
    Announce {
        loc: Loc,
        dev: String,
        addrs: Vec<IpAddr>,
    },
    AddAddr {
        loc: Loc,
        dev: String,
        cidr: Cidr,
    },
    SetForward {
        ns: NsName,
        on: bool,
    },
    /// a sysctl under /proc/sys, `key` as a path (net/ipv4/conf/DEV/...)
    SetSysctl {
        loc: Loc,
        key: String,
        value: String,
    },
    AddRoute {
        ns: NsName,
        dest: RouteDest,
        via: IpAddr,
    },
    /// an OVSDB change; all of one phase go in one transaction
    Ovs(OvsChange),
    /// a change of OVN's Northbound database at `nb`; all of one phase go
    /// in one transaction
    Nb {
        nb: String,
        change: NbChange,
    },
    /// move a device (an OVS internal port) into a namespace, renaming it
    MoveLink {
        from: Loc,
        dev: String,
        ns: NsName,
        name: IfName,
        mark: Mark,
    },
    /// write a mark whose writing was interrupted (`ip link set DEV alias ..`)
    SetMark {
        loc: Loc,
        dev: String,
        mark: Mark,
    },
    /// transmit checksum offload off on a veth end (OVS userspace datapath)
    TxCsumOff {
        ns: NsName,
        dev: String,
    },
    /// ovs-vswitchd's receive socket of its veth port DEV (a host device)
    /// given room for TSO packets (OVS userspace datapath with TSO)
    OvsRxBuffer {
        dev: String,
    },
    /// a lab's flows on one OVS bridge written, changed or deleted in one
    /// OpenFlow batch closed by a barrier
    Flows(super::flows::FlowBatch),
    /// what a host runs or has beyond its devices (`plan::host`)
    Host(crate::model::host::HostStep),
}

/// What a step means for the object it is about: `status` reads the drift
/// between a file and the system off these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meaning {
    /// makes an object that is missing (named)
    Creates(String),
    /// removes an object the desired state does not have (named)
    Removes(String),
    /// fixes something that differs (what differs, in words; None: it
    /// only follows from another step, as an announcement does)
    Changes(Option<String>),
    /// waits for the kernel, changes nothing itself
    Waits,
}

/// What a Northbound change means for its rows (every change named).
fn nb_meaning(c: &NbChange) -> Meaning {
    use Meaning::*;
    match c {
        NbChange::AddSwitch { name, .. } => Creates(format!("OVN logical switch {name}")),
        NbChange::AddPort { name, .. } => Creates(format!("OVN logical port {name}")),
        NbChange::AddRouter { name, .. } => Creates(format!("OVN logical router {name}")),
        NbChange::DelSwitch { name, .. } => Removes(format!("OVN logical switch {name}")),
        NbChange::DelPort { name, .. } => Removes(format!("OVN logical port {name}")),
        NbChange::DelRouter { name, .. } => Removes(format!("OVN logical router {name}")),
        NbChange::SetPort { name, .. } => Changes(Some(format!(
            "OVN logical port {name} has other addresses or another chassis"
        ))),
    }
}

/// What a change to a host's processes and files means (every change
/// named).
fn host_meaning(h: &HostStep) -> Meaning {
    use Meaning::*;
    match h {
        HostStep::WriteHosts { ns, .. } => Changes(Some(format!(
            "the hosts file of {ns} does not name the lab's hosts"
        ))),
        HostStep::DelHosts { ns } => Removes(format!("the hosts file of {ns}")),
        HostStep::StartProc {
            ns,
            name,
            why: None,
            ..
        } => Creates(format!("process {name} in {ns}")),
        // started again after a stop that says why
        HostStep::StartProc { why: Some(w), .. } if w.is_empty() => Changes(None),
        HostStep::StartProc {
            ns,
            name,
            why: Some(w),
            ..
        } => Creates(format!("process {name} in {ns} ({w})")),
        HostStep::StopProc {
            ns,
            name,
            why: None,
            ..
        } => Removes(format!("process {name} in {ns}")),
        HostStep::StopProc { why: Some(w), .. } => Changes(Some(w.clone())),
        HostStep::RunExec { ns, why, .. } => Changes(Some(format!("{ns}: {why}"))),
    }
}

/// What an OVSDB change means for its row (every change named).
fn ovs_meaning(c: &OvsChange) -> Meaning {
    use Meaning::*;
    match c {
        OvsChange::AddBridge { name, .. } => Creates(format!("switch {name} (OVS)")),
        OvsChange::AddPort { mark, .. } => Creates(format!("OVS {}", describe_mark(mark))),
        OvsChange::AddTunnel { bridge, remote, .. } => {
            Creates(format!("OVS tunnel of {bridge} to {remote}"))
        }
        OvsChange::AddUplink { bridge, port, .. } => {
            Creates(format!("OVS uplink {port} of {bridge}"))
        }
        OvsChange::DelBridge { name, .. } => Removes(format!("OVS bridge {name}")),
        OvsChange::DelPort { bridge, port, .. } => Removes(format!("OVS port {port} on {bridge}")),
        OvsChange::SetSpanning {
            bridge,
            spanning,
            was,
            ..
        } => Changes(Some(format!(
            "OVS bridge {bridge} runs {was}, the file says {spanning}"
        ))),
        OvsChange::AddPatch {
            a_bridge, b_bridge, ..
        } => Creates(format!("OVS patch ports joining {a_bridge} and {b_bridge}")),
        OvsChange::AddTrunk { bridge, peer, .. } => {
            Creates(format!("OVS trunk port of {bridge} to {peer}"))
        }
        OvsChange::AddBond { bridge, peer, .. } => {
            Creates(format!("OVS bond of {bridge} to {peer}"))
        }
        OvsChange::SetBond {
            port,
            mode,
            lacp,
            was,
            ..
        } => Changes(Some(format!(
            "OVS bond {port} runs {was}, the file says {}, LACP {}",
            mode.as_str(),
            lacp.as_str()
        ))),
        OvsChange::AddBondIface { port, iface, .. } => {
            Creates(format!("OVS member {iface} of bond {port}"))
        }
        OvsChange::SetMirror {
            bridge,
            name,
            was: None,
            ..
        } => Creates(format!("OVS mirror {name} on {bridge}")),
        // set again for its ports made again: their steps say so
        OvsChange::SetMirror { was: Some(w), .. } if w.is_empty() => Changes(None),
        OvsChange::SetMirror {
            bridge,
            name,
            was: Some(was),
            ..
        } => Changes(Some(format!(
            "OVS mirror {name} on {bridge} copies {was}; the file says {}",
            c.mirror_words().unwrap_or_default()
        ))),
        OvsChange::DelMirror { bridge, name, .. } => {
            Removes(format!("OVS mirror {name} on {bridge}"))
        }
        // made again with its device: the device's step says so
        OvsChange::DelBondIface { again: true, .. } => Changes(None),
        OvsChange::DelBondIface { port, iface, .. } => {
            Removes(format!("OVS member {iface} of bond {port}"))
        }
        OvsChange::SetTrunk {
            port,
            vlans,
            native,
            ..
        } => Changes(Some(format!(
            "OVS trunk port {port} does not carry VLANs {} ({})",
            if vlans.is_empty() {
                "all".to_string()
            } else {
                format!("{vlans:?}")
            },
            native.map_or("untagged frames: VLAN 0".to_string(), |n| format!(
                "untagged frames: VLAN {n}"
            ))
        ))),
        OvsChange::SetTag { port, tag, .. } => Changes(Some(match tag {
            Some(t) => format!("OVS port {port} is not in VLAN {t}"),
            None => format!("OVS port {port} has a VLAN tag the file does not give"),
        })),
        OvsChange::SetMtu { iface, mtu, .. } => {
            Changes(Some(format!("OVS interface {iface} has not MTU {mtu}")))
        }
        OvsChange::SetOpenflow {
            bridge,
            openflow,
            was,
            ..
        } => Changes(Some(format!(
            "OVS bridge {bridge}: {}",
            was.differences(openflow).join("; ")
        ))),
        OvsChange::SetOwner {
            table, name, owner, ..
        } => Changes(Some(format!(
            "OVS {} {name} is not owned by {owner}",
            table.to_lowercase()
        ))),
    }
}

fn describe_mark(m: &Mark) -> String {
    match m {
        Mark::Port { ns, sw, .. } => format!("port {ns} on {sw}"),
        Mark::Link { a, b, .. } => format!("link {a} <-> {b}"),
        Mark::Trunk {
            a, b, member: None, ..
        } => format!("trunk {a} <-> {b}"),
        Mark::Trunk {
            a,
            b,
            member: Some(m),
            ..
        } => format!("bond member {m} of trunk {a} <-> {b}"),
        Mark::Tunnel { sw, .. } => format!("tunnel of {sw}"),
        Mark::Switch { .. } => "switch".into(),
        Mark::Ns { .. } => "namespace".into(),
    }
}

impl Step {
    /// What the step means for its object. Every step is named here (no
    /// catch-all): a new step gets its own words or the compiler asks.
    pub fn meaning(&self) -> Meaning {
        use Meaning::*;
        let differs = |s: String| Changes(Some(s));
        match self {
            Step::CreateNs { ns, .. } => Creates(format!("namespace {ns}")),
            Step::CreateBridge { name, loc, .. } => {
                Creates(format!("switch {name} (bridge in {loc})"))
            }
            Step::CreateVeth { mark, .. }
            | Step::MoveLink { mark, .. }
            | Step::CreateVxlan { mark, .. } => Creates(describe_mark(mark)),
            Step::DeleteNs { ns } => Removes(format!("namespace {ns}")),
            Step::DeleteLink { loc, dev } => Removes(format!("link {dev} in {loc}")),
            Step::AwaitGone { .. } => Waits,
            Step::Ovs(c) => ovs_meaning(c),
            Step::Nb { change, .. } => nb_meaning(change),
            Step::DelRoute { ns, dest, via } => {
                differs(format!("route {dest} via {via} in {ns} is not in the file"))
            }
            Step::DelAddr { loc, dev, cidr } => differs(format!(
                "address {cidr} on {dev} ({loc}) is not in the file"
            )),
            Step::AddFdb { loc, dev, dst } => {
                differs(format!("{dev} ({loc}) does not flood to {dst}"))
            }
            Step::DelFdb { loc, dev, dst } => differs(format!(
                "{dev} ({loc}) floods to {dst}, no machine of its switch now"
            )),
            Step::SetMaster { loc, dev, master } => {
                differs(format!("{dev} ({loc}) is not a port of {master}"))
            }
            Step::SetUp { loc, dev } => differs(format!("{dev} ({loc}) is down")),
            Step::SetMtu { loc, dev, mtu } => differs(format!("{dev} ({loc}) has not MTU {mtu}")),
            Step::SetQdisc {
                loc,
                dev,
                qdisc,
                was,
            } => differs(format!(
                "{dev} ({loc}) is impaired by {was}, the file says {}",
                qdisc.impair()
            )),
            Step::DelQdisc { loc, dev, was } => differs(format!(
                "{dev} ({loc}) is impaired by {was}, the file says none"
            )),
            Step::SetMac { loc, dev, mac } => {
                differs(format!("{dev} ({loc}) lost its stable address {mac}"))
            }
            Step::AddAddr { loc, dev, cidr } => {
                differs(format!("{dev} ({loc}) lacks address {cidr}"))
            }
            Step::SetForward { ns, on } => differs(format!(
                "forwarding in {ns} is {}",
                if *on { "off" } else { "on" }
            )),
            Step::SetSysctl { loc, key, value } => {
                differs(format!("{} is not {value} ({loc})", key.replace('/', ".")))
            }
            Step::AddRoute { ns, dest, via } => {
                differs(format!("{ns} lacks route {dest} via {via}"))
            }
            Step::SetMark { loc, dev, .. } => differs(format!("{dev} ({loc}) lacks swctl's mark")),
            Step::TxCsumOff { ns, dev } => {
                differs(format!("{dev} ({ns}) has tx checksum offload on"))
            }
            Step::OvsRxBuffer { dev } => differs(format!(
                "ovs-vswitchd's receive buffer of port {dev} is the default, too small (it drops what does not fit: TCP retransmits)"
            )),
            Step::Flows(b) => differs(b.words()),
            Step::Host(h) => host_meaning(h),
            // only follows from the addresses added beside it
            Step::Announce { .. } => Changes(None),
        }
    }

    /// The namespaces whose netlink socket the step uses (the host's is
    /// not listed: it stays open).
    pub fn namespaces(&self) -> Vec<&NsName> {
        fn ns(l: &Loc) -> Option<&NsName> {
            l.ns()
        }
        match self {
            Step::DelRoute { ns: n, .. }
            | Step::AddRoute { ns: n, .. }
            | Step::DeleteNs { ns: n }
            | Step::CreateNs { ns: n, .. }
            | Step::SetForward { ns: n, .. }
            | Step::TxCsumOff { ns: n, .. } => vec![n],
            Step::CreateVeth { loc, peer_loc, .. } => {
                ns(loc).into_iter().chain(ns(peer_loc)).collect()
            }
            Step::MoveLink { from, ns: n, .. } => ns(from).into_iter().chain([n]).collect(),
            Step::DelAddr { loc, .. }
            | Step::DeleteLink { loc, .. }
            | Step::AwaitGone { loc, .. }
            | Step::CreateBridge { loc, .. }
            | Step::CreateVxlan { loc, .. }
            | Step::AddFdb { loc, .. }
            | Step::DelFdb { loc, .. }
            | Step::SetMaster { loc, .. }
            | Step::SetUp { loc, .. }
            | Step::SetMtu { loc, .. }
            | Step::SetQdisc { loc, .. }
            | Step::DelQdisc { loc, .. }
            | Step::SetMac { loc, .. }
            | Step::Announce { loc, .. }
            | Step::AddAddr { loc, .. }
            | Step::SetSysctl { loc, .. }
            | Step::SetMark { loc, .. } => ns(loc).into_iter().collect(),
            Step::Ovs(_)
            | Step::Nb { .. }
            | Step::OvsRxBuffer { .. }
            | Step::Flows(_)
            | Step::Host(_) => vec![],
        }
    }

    /// Steps of a lower phase run before steps of a higher one.
    pub fn phase(&self) -> u8 {
        match self {
            Step::DelRoute { .. } | Step::DelAddr { .. } | Step::DelFdb { .. } => 0,
            Step::DeleteLink { .. } => 1,
            Step::DeleteNs { .. } => 2,
            // after the namespaces: ovs-vswitchd then finds the internal
            // ports' devices already gone (measured, 200 internal ports:
            // del-br before the namespaces 3.8 s, after them 0.07 s)
            Step::Ovs(
                OvsChange::DelPort { .. }
                | OvsChange::DelBridge { .. }
                | OvsChange::DelBondIface { .. }
                | OvsChange::DelMirror { .. },
            ) => 3,
            Step::AwaitGone { .. } => 3,
            Step::CreateNs { .. } => 4,
            Step::CreateBridge { .. } => 5,
            Step::CreateVeth { .. } | Step::CreateVxlan { .. } => 6,
            Step::Ovs(
                OvsChange::AddBridge { .. }
                | OvsChange::AddPort { .. }
                | OvsChange::SetTag { .. }
                | OvsChange::AddTrunk { .. }
                | OvsChange::AddPatch { .. }
                | OvsChange::AddBond { .. }
                | OvsChange::SetBond { .. }
                | OvsChange::AddBondIface { .. }
                | OvsChange::SetMirror { .. }
                | OvsChange::SetSpanning { .. }
                | OvsChange::SetTrunk { .. }
                | OvsChange::AddTunnel { .. }
                | OvsChange::AddUplink { .. }
                | OvsChange::SetMtu { .. }
                | OvsChange::SetOwner { .. }
                | OvsChange::SetOpenflow { .. },
            ) => 7,
            // one transaction, as `ovn-nbctl` sends a batch: a port may
            // name a switch made in the same one
            Step::Nb { .. } => 7,
            // after the ports: ovs-vswitchd has numbered them
            Step::MoveLink { .. }
            | Step::TxCsumOff { .. }
            | Step::OvsRxBuffer { .. }
            | Step::Flows(_) => 8,
            Step::SetMaster { .. }
            | Step::SetUp { .. }
            | Step::AddAddr { .. }
            | Step::SetForward { .. }
            | Step::SetSysctl { .. }
            | Step::SetMark { .. }
            | Step::SetMtu { .. }
            | Step::SetQdisc { .. }
            | Step::DelQdisc { .. }
            | Step::SetMac { .. } => 9,
            Step::AddRoute { .. } | Step::Announce { .. } | Step::AddFdb { .. } => 10,
            Step::Host(h) => h.phase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_of_an_ovs_row_is_said_in_words() {
        let retag = Step::Ovs(OvsChange::SetTag {
            db: "unix:x".into(),
            port: "p1".into(),
            uuid: "u".into(),
            tag: Some(10),
        });
        assert_eq!(
            retag.meaning(),
            Meaning::Changes(Some("OVS port p1 is not in VLAN 10".into()))
        );
        let mtu = Step::Ovs(OvsChange::SetMtu {
            db: "unix:x".into(),
            iface: "br0".into(),
            mtu: 1600,
        });
        let Meaning::Changes(Some(w)) = mtu.meaning() else {
            panic!("{:?}", mtu.meaning())
        };
        assert!(!w.contains("ovs-vsctl"), "words, not the command: {w}");
    }
}
