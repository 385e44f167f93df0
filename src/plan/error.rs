//! `PlanError`: why no plan could be made, in the user's words (nothing
//! has been touched when the planner returns one).

use crate::model::Backend;
use crate::model::Via;
use std::net::IpAddr;

use crate::model::names::{IfName, Loc, NsName, RouteDest};

/// Why no plan could be made. Nothing has been touched when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{ns} has no sysctl {key} (this kernel does not have it; `ls /proc/sys/{}` in the host)", key.replace('.', "/"))]
    NoSysctl { ns: NsName, key: String },
    #[error("namespace {0} does not exist (create it with `swctl ns add {0}`)")]
    UnknownNamespace(NsName),
    #[error("switch {0} does not exist (create it with `swctl switch add {0}`)")]
    UnknownSwitch(IfName),
    #[error("{0} exists in {1} but is a {2}, not a bridge")]
    NotABridge(IfName, Loc, String),
    #[error("interface {name} already exists in {loc} and does not belong to this {what}")]
    NameTaken {
        name: String,
        loc: Loc,
        what: String,
    },
    #[error("switch {switch} is on the {backend} backend, which does not answer: {why}")]
    Unavailable {
        switch: IfName,
        backend: Backend,
        why: String,
    },
    #[error("switch {switch} ({backend}): {why}")]
    BadSwitch {
        switch: IfName,
        backend: Backend,
        why: String,
    },
    #[error("switch {name} already exists as {have}; it cannot become {want}")]
    SwitchKind {
        name: IfName,
        have: String,
        want: String,
    },
    #[error(
        "switch {switch} ({backend}) cannot attach a namespace by {via}; it supports {supported} (or auto)"
    )]
    WiringUnsupported {
        switch: IfName,
        backend: Backend,
        via: Via,
        supported: String,
    },
    #[error("switch {switch} ({backend}) has no access VLANs: {why}")]
    VlanUnsupported {
        switch: IfName,
        backend: Backend,
        why: &'static str,
    },
    #[error(
        "switch {switch} ({backend}) takes at most {max} ports (the kernel's limit), and this would give it {want}: use an OVS switch, or spread the hosts over several bridges"
    )]
    TooManyPorts {
        switch: IfName,
        backend: Backend,
        max: usize,
        want: usize,
    },
    #[error(
        "namespace {0} was not created by swctl; swctl deletes only its own (use `ip netns del {0}`)"
    )]
    NotOwned(NsName),
    #[error(
        "a Linux bridge cannot change namespace (the kernel answers EINVAL: it is a netns-local device); delete {name} and add it again in {want}"
    )]
    BridgeCannotMove { name: IfName, want: Loc },
    #[error(
        "switch {0} was not created by swctl; swctl deletes only its own (use ovs-vsctl del-br or ip link del)"
    )]
    SwitchNotOwned(IfName),
    #[error("{0} is not attached to {1}")]
    NotAttached(NsName, IfName),
    #[error("there is no link between {0} and {1}")]
    NoSuchLink(Loc, Loc),
    #[error("there is no trunk between switches {0} and {1}")]
    NoSuchTrunk(IfName, IfName),
    #[error(
        "no device of this machine has the VTEP address {0} (switch {1} spans machines over it): add it to the machine's underlay interface, or correct `vtep`"
    )]
    NoVtep(std::net::IpAddr, IfName),
    #[error(
        "no device of this machine has the VTEP address {0} (a link to a host on another machine goes over it): add it to the machine's underlay interface, or correct `vtep`"
    )]
    NoVtepLink(std::net::IpAddr),
    #[error("the uplink {0} of switch {1} is not on this machine")]
    NoUplink(IfName, IfName),
    #[error(
        "switch {switch} cannot span machines from here: its VTEP address {vtep} is {on}, and Open vSwitch's userspace datapath (netdev) sends tunnels only through an OVS bridge that holds the uplink. Move the uplink into one (ovs-vsctl add-br br-phy -- set bridge br-phy datapath_type=netdev -- add-port br-phy DEV) and the address onto br-phy; a simulated machine gets this from swctl"
    )]
    VtepNotOnOvs {
        switch: IfName,
        vtep: std::net::IpAddr,
        on: String,
    },
    #[error(
        "switch {switch} spans machines, but the ovs-vswitchd of {db} has userspace TSO on, and Open vSwitch {version} drops TSO packets sent into a tunnel (tunnel TSO came with 3.3): start it without (`swctl ovs stop && swctl ovs start --tso off`, or `ovs-vsctl set Open_vSwitch . other_config:userspace-tso-enable=false` and restart ovs-vswitchd)"
    )]
    TsoUnderTunnel {
        switch: IfName,
        db: String,
        version: String,
    },
    #[error(
        "this kernel has no {kind} qdisc (\"Specified qdisc kind is unknown\"): {what} asks for {keys}; what works here: {works}"
    )]
    NoQdisc {
        kind: &'static str,
        what: String,
        keys: String,
        works: &'static str,
    },
    #[error(
        "the port of {ns} on {switch} is an OVS internal port, which has no device on the switch's side to shape what {ns} receives: impairments need via = \"veth\" (or \"auto\")"
    )]
    ImpairedInternalPort { ns: NsName, switch: IfName },
    #[error("namespace {0} has no route {1} via {2}")]
    NoSuchRoute(NsName, RouteDest, IpAddr),
    #[error("interface name {0} is planned twice in {1}")]
    DuplicateName(String, Loc),
}
