//! The `Switch` trait: the seam between the planner and the switch
//! backends. A backend says what wirings it supports (`auto` is its first),
//! where its switches are in an observation, and which steps create, repair
//! and delete a switch and add, repair, retag and remove a port. The
//! planner diffs desired against observed and calls these; it never looks
//! at a backend's own rows or devices.
//!
//! Backends: `bridge::LinuxBridge` (rtnetlink steps) and `ovs::OpenVswitch`
//! (OVSDB changes). Adding one is a new file implementing this trait and
//! one line in `plan::backends()`.

use serde::Serialize;

use super::{Cx, PlanError, Step, backends};
use crate::model::names::{Cidr, IfName, Loc, NsName, Owner};
use crate::model::{Backend, Observed, PortSpec, SwitchSpec, TunnelSpec, Via};

/// A port of a switch, as `swctl switch list` / `show` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortInfo {
    /// the switch-side device
    pub dev: String,
    /// the namespace at the other end, when swctl made the port
    pub ns: Option<NsName>,
    pub owner: Option<Owner>,
    /// a trunk end to another switch (named)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk: Option<IfName>,
    /// what the port is: "veth", "internal", "vxlan", "trunk", "uplink",
    /// or the device's kind
    pub wiring: String,
    /// access VLAN (OVS `tag`)
    pub vlan: Option<u16>,
}

/// A switch of some backend, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchInfo {
    pub name: String,
    pub backend: Backend,
    pub loc: Loc,
    /// None: not created by swctl (swctl still lists and attaches to it)
    pub owner: Option<Owner>,
    /// the bridge's own interface is up (an OVS bridge forwards either way)
    pub up: bool,
    pub addrs: Vec<Cidr>,
    pub ports: Vec<PortInfo>,
    /// an OVS bridge's datapath type ("system", "netdev"); null for the
    /// others (the same keys on every backend)
    pub datapath: Option<String>,
}

/// One switch backend, for the planner. Every method is pure: it reads the
/// observation in `cx` and pushes steps onto it.
pub trait Switch: Sync {
    fn backend(&self) -> Backend;

    /// The wirings this backend attaches namespaces with; `auto` picks the
    /// first.
    fn wirings(&self) -> &'static [Via];

    /// Whether ports can carry an access VLAN.
    fn has_vlans(&self) -> bool;

    /// The most ports one switch can take, when the backend has a limit
    /// the planner must check before anything is made.
    fn max_ports(&self) -> Option<usize>;

    /// How a switch of this backend in `loc` is called in messages
    /// ("a Linux bridge in h1", "an OVS bridge").
    fn describe(&self, loc: &Loc) -> String;

    /// This backend's switches in an observation, swctl's and others'.
    fn switches(&self, o: &Observed) -> Vec<SwitchInfo>;

    /// Where switch `name` of this backend is, when it exists (cheap: no
    /// port list).
    fn locate(&self, o: &Observed, name: &str) -> Option<Loc>;

    /// Steps that make switch `name` exist as `spec` (create it, or repair
    /// what differs on the one that exists).
    fn plan_switch(&self, cx: &mut Cx, name: &IfName, spec: &SwitchSpec) -> Result<(), PlanError>;

    /// Steps that delete a switch swctl made (its ports go with it).
    fn delete_switch(&self, cx: &mut Cx, sw: &SwitchInfo);

    /// Steps that remove the backend's own records of ports that go: those
    /// whose namespace is deleted, or that are in scope and not desired.
    /// (The veth ends and moved devices swctl marked are removed by the
    /// planner itself, whatever the backend.)
    fn remove_ports(&self, cx: &mut Cx);

    /// Steps that make port `p` exist on its switch (in `sw_loc`) with
    /// wiring `via` (never `auto`): add it, repair it (up, MTU, VLAN,
    /// addresses), or replace it when its wiring or name changed.
    fn plan_port(&self, cx: &mut Cx, p: &PortSpec, sw_loc: &Loc, via: Via)
    -> Result<(), PlanError>;

    /// Steps that make device `dev` (a trunk end in `sw_loc`, made or
    /// about to be made) a port of switch `sw` carrying every VLAN;
    /// `attached`: it already is. An error when the backend has no trunks.
    fn plan_trunk_end(
        &self,
        cx: &mut Cx,
        sw: &IfName,
        sw_loc: &Loc,
        dev: &str,
        attached: bool,
    ) -> Result<(), PlanError>;

    /// Steps that make device `dev`, which exists in `sw_loc` and is not
    /// swctl's to make or delete (a machine's underlay), a port of switch
    /// `sw`, and the switch's own interface as big as it (the VTEP on it
    /// carries tunnel packets).
    fn plan_uplink(
        &self,
        cx: &mut Cx,
        sw: &IfName,
        sw_loc: &Loc,
        dev: &IfName,
    ) -> Result<(), PlanError>;

    /// Steps that carry switch `t.switch` (in `sw_loc`) to the other
    /// machines of the lab: a tunnel to each remote VTEP; `mtu` is what the
    /// tunnel device gets (the underlay's less the encapsulation). An error
    /// when the backend cannot span machines.
    fn plan_tunnel(
        &self,
        cx: &mut Cx,
        t: &TunnelSpec,
        sw_loc: &Loc,
        mtu: Option<u32>,
    ) -> Result<(), PlanError>;

    /// The observation after `steps` ran, as far as this backend's own state
    /// goes (the planner already dropped deleted namespaces and links).
    fn forget_removed(&self, after: &mut Observed, steps: &[Step]);
}

/// Find a switch by name on any backend.
pub fn find_switch(o: &Observed, name: &str) -> Option<(Backend, Loc)> {
    backends()
        .iter()
        .find_map(|b| b.locate(o, name).map(|l| (b.backend(), l)))
}

/// Every switch of every backend.
pub fn all_switches(o: &Observed) -> Vec<SwitchInfo> {
    backends().iter().flat_map(|b| b.switches(o)).collect()
}
