//! The `Switch` trait: the seam between the planner and the switch
//! backends. A backend says what wirings it supports (`auto` is its first),
//! where its switches are in an observation, and which steps create, repair
//! and delete a switch and add, repair, retag and remove a port. The
//! planner diffs desired against observed and calls these; it never looks
//! at a backend's own rows or devices.
//!
//! Backends: `bridge::LinuxBridge` (rtnetlink steps), `ovs::OpenVswitch`
//! (OVSDB changes) and `ovn::Ovn` (a chassis's ports). Adding one is a new
//! file implementing `SwitchReader` (what reads its switches) and `Switch`
//! (its rules and steps), and one line in `plan::backends()`.

use serde::Serialize;
use serde_json::Value;

use super::{Cx, PlanError, Step, backends};
use crate::model::names::{Cidr, IfName, InvalidInput, Loc, NsName, Owner};
use crate::model::{Backend, Observed, PortSpec, SwitchSpec, TrunkSpec, TunnelSpec, Via};

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
    /// an OVS bridge's OpenFlow side (fail mode, versions, datapath id,
    /// controllers and whether each is connected); null for the others
    pub openflow: Option<crate::model::openflow::Status>,
    /// an OVS bridge's port mirrors, in words ("tap: h1-ab12 both ways to
    /// h3-cd34 (swctl's)")
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<String>,
}

/// A switch option a backend takes in a topology file (`datapath`,
/// `ovsdb` on OVS): its key, its check of the value as the file gives it
/// (any JSON/TOML value: a string, a boolean, a number, a list), answering
/// the value in canonical form or why not, and where it lives in a
/// `SwitchSpec` (the validator sets it, the file writer gets it: neither
/// names an option).
pub struct SwitchOption {
    pub key: &'static str,
    pub check: fn(&Value) -> Result<Value, InvalidInput>,
    pub get: fn(&SwitchSpec) -> Option<Value>,
    pub set: fn(&mut SwitchSpec, Value),
}

/// A string option checked by `rule` (`check: |v| string(v, names::datapath)`).
pub fn string(
    v: &Value,
    rule: fn(&str) -> Result<String, InvalidInput>,
) -> Result<Value, InvalidInput> {
    match v {
        Value::String(s) => rule(s).map(Value::String),
        other => Err(InvalidInput::OptionType {
            expected: "a string",
            found: other.to_string(),
        }),
    }
}

/// The string a string option was set to.
pub fn as_string(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// "only an OVS bridge has KEY": which backends take an option.
pub fn only_who_has(key: &str) -> String {
    let who: Vec<String> = backends()
        .iter()
        .filter(|b| b.rules().options.iter().any(|m| m.key == key))
        .map(|b| b.describe(&Loc::Host))
        .collect();
    format!("only {} has {key}", who.join(" or "))
}

/// Every switch option of every backend, once each.
pub fn all_options() -> Vec<&'static SwitchOption> {
    let mut v: Vec<&'static SwitchOption> = vec![];
    for o in backends().iter().flat_map(|b| b.rules().options) {
        if !v.iter().any(|x| x.key == o.key) {
            v.push(o);
        }
    }
    v
}

/// What forwards a backend's frames on a machine, and so what the machine
/// needs and how the switch crosses machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataPlane {
    /// the kernel (a Linux bridge; kernel VXLAN across machines)
    Kernel,
    /// Open vSwitch on the machine (OVS VXLAN ports across machines)
    OpenVswitch,
    /// Open vSwitch made an OVN chassis by ovn-controller (OVN's geneve)
    OvnChassis,
}

impl DataPlane {
    /// Whether the machine needs its own Open vSwitch.
    pub fn uses_open_vswitch(self) -> bool {
        matches!(self, DataPlane::OpenVswitch | DataPlane::OvnChassis)
    }
}

/// What a backend allows, as data: the topology validator and the planner
/// both ask this, so no rule is written twice. `None`: allowed; otherwise
/// why not, in the user's words.
pub struct Rules {
    /// a switch inside a namespace (`namespace`, `--netns`)
    pub no_namespace: Option<&'static str>,
    /// access VLANs on its ports
    pub no_vlans: Option<&'static str>,
    /// an end of a trunk (a veth pair joining two switches)
    pub no_trunks: Option<&'static str>,
    /// carried to other machines by swctl's own tunnels (and an uplink)
    pub no_tunnels: Option<&'static str>,
    /// the backend's own switch options
    pub options: &'static [SwitchOption],
    /// what forwards its frames
    pub data_plane: DataPlane,
}

/// What reads a backend's switches in an observation (`show`, `switch
/// list`, the planner finding a switch by name). Pure.
pub trait SwitchReader: Sync {
    fn backend(&self) -> Backend;

    /// How a switch of this backend in `loc` is called in messages
    /// ("a Linux bridge in h1", "an OVS bridge").
    fn describe(&self, loc: &Loc) -> String;

    /// This backend's switches in an observation, swctl's and others'.
    fn switches(&self, o: &Observed) -> Vec<SwitchInfo>;

    /// Where switch `name` of this backend is, when it exists (cheap: no
    /// port list).
    fn locate(&self, o: &Observed, name: &str) -> Option<Loc>;
}

/// One switch backend, for the planner: what it allows and the steps that
/// make its switches and ports. Every method is pure: it reads the
/// observation in `cx` and pushes steps onto it. What a backend has no
/// part in (trunk ends, swctl's tunnels, records of its own to remove) has
/// a default: refused in the words of its rules, or nothing to do.
pub trait Switch: SwitchReader {
    /// What this backend allows (see `Rules`).
    fn rules(&self) -> &'static Rules;

    /// The wirings this backend attaches namespaces with; `auto` picks the
    /// first unless `auto_wiring` says otherwise.
    fn wirings(&self) -> &'static [Via];

    /// The wiring of port `p` when the file says `auto` (one of
    /// `wirings()`): the first, unless the backend weighs the lab's size
    /// and its data plane.
    fn auto_wiring(&self, _cx: &Cx, _p: &PortSpec) -> Via {
        self.wirings()[0]
    }

    /// The most ports one switch can take, when the backend has a limit
    /// the planner must check before anything is made.
    fn max_ports(&self) -> Option<usize>;

    /// Steps that make switch `name` exist as `spec` (create it, or repair
    /// what differs on the one that exists).
    fn plan_switch(&self, cx: &mut Cx, name: &IfName, spec: &SwitchSpec) -> Result<(), PlanError>;

    /// Steps that delete a switch swctl made (its ports go with it); none
    /// for a backend whose switches are not on the machine (OVN's are
    /// Northbound rows, removed by the coordinator's steps).
    fn delete_switch(&self, _cx: &mut Cx, _sw: &SwitchInfo) {}

    /// Steps that remove the backend's own records of ports that go: those
    /// whose namespace is deleted, or that are in scope and not desired.
    /// (The veth ends and moved devices swctl marked are removed by the
    /// planner itself, whatever the backend.)
    fn remove_ports(&self, _cx: &mut Cx) {}

    /// Steps that make port `p` exist on its switch (in `sw_loc`) with
    /// wiring `via` (never `auto`): add it, repair it (up, MTU, VLAN,
    /// addresses), or replace it when its wiring or name changed.
    fn plan_port(&self, cx: &mut Cx, p: &PortSpec, sw_loc: &Loc, via: Via)
    -> Result<(), PlanError>;

    /// Steps that depend on switch `name`'s ports and trunks as this plan
    /// leaves them (an OVS bridge's mirrors name its hosts' ports); none
    /// for most backends.
    fn plan_late(&self, _cx: &mut Cx, _name: &IfName, _spec: &SwitchSpec) -> Result<(), PlanError> {
        Ok(())
    }

    /// Steps that make device `dev` (an end of trunk `t` in `sw_loc`, made
    /// or about to be made) a port of switch `sw` carrying the trunk's
    /// VLANs; `attached`: the device exists and is a port of `sw` in the
    /// kernel's eyes (a Linux bridge's). Only asked of a backend whose
    /// rules allow trunks; the others refuse with their rule's words.
    fn plan_trunk_end(
        &self,
        _cx: &mut Cx,
        sw: &IfName,
        _sw_loc: &Loc,
        _dev: &str,
        _attached: bool,
        _t: &TrunkSpec,
    ) -> Result<(), PlanError> {
        Err(self.refused(sw, self.rules().no_trunks))
    }

    /// Steps that make device `dev`, which exists in `sw_loc` and is not
    /// swctl's to make or delete (a machine's underlay), a port of switch
    /// `sw`, and the switch's own interface as big as it (the VTEP on it
    /// carries tunnel packets).
    fn plan_uplink(
        &self,
        _cx: &mut Cx,
        sw: &IfName,
        _sw_loc: &Loc,
        _dev: &IfName,
    ) -> Result<(), PlanError> {
        Err(self.refused(sw, self.rules().no_tunnels))
    }

    /// Steps that carry switch `t.switch` (in `sw_loc`) to the other
    /// machines of the lab: a tunnel to each remote VTEP; `mtu` is what the
    /// tunnel device gets (the underlay's less the encapsulation). An error
    /// when the backend cannot span machines.
    fn plan_tunnel(
        &self,
        _cx: &mut Cx,
        t: &TunnelSpec,
        _sw_loc: &Loc,
        _mtu: Option<u32>,
    ) -> Result<(), PlanError> {
        Err(self.refused(&t.switch, self.rules().no_tunnels))
    }

    /// The error of a step this backend's rules do not allow.
    fn refused(&self, sw: &IfName, why: Option<&'static str>) -> PlanError {
        PlanError::BadSwitch {
            switch: sw.clone(),
            backend: self.backend(),
            why: why.unwrap_or("not supported by this backend").into(),
        }
    }

    /// The observation after `steps` ran, as far as this backend's own state
    /// goes (the planner already dropped deleted namespaces and links).
    fn forget_removed(&self, _after: &mut Observed, _steps: &[Step]) {}
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
