//! OVN as data: the Northbound rows swctl reads and writes (logical
//! switches and their ports, marked in external_ids like OVS rows) and
//! `NbChange`, one planned Northbound change with its `ovn-nbctl`
//! equivalent; and the names both sides of a lab derive alike — the
//! coordinator writes a port's row, the machine's agent makes the OVS port
//! that binds to it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::names::{IfName, Loc, Mac, NsName, Owner};
use super::ovs::{K_NS, K_OWNER, K_SWITCH};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NbPort {
    pub uuid: String,
    pub name: String,
    pub addresses: Vec<String>,
    pub port_security: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
    /// whether a chassis has bound it (set by ovn-northd)
    pub up: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NbSwitch {
    pub uuid: String,
    pub name: String,
    pub external_ids: BTreeMap<String, String>,
    pub ports: Vec<NbPort>,
}

impl NbSwitch {
    pub fn owner(&self) -> Option<Owner> {
        self.external_ids.get(K_OWNER).and_then(|o| o.parse().ok())
    }
    /// The switch of the topology it stands for (swctl's rows).
    pub fn switch(&self) -> Option<&str> {
        self.external_ids.get(K_SWITCH).map(String::as_str)
    }
}

/// A Logical_Router_Port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NbRouterPort {
    pub uuid: String,
    pub name: String,
    pub mac: String,
    pub networks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NbRouter {
    pub uuid: String,
    pub name: String,
    pub external_ids: BTreeMap<String, String>,
    pub ports: Vec<NbRouterPort>,
}

impl NbRouter {
    pub fn owner(&self) -> Option<Owner> {
        self.external_ids.get(K_OWNER).and_then(|o| o.parse().ok())
    }
    /// The router of the topology it stands for (swctl's rows).
    pub fn router(&self) -> Option<&str> {
        self.external_ids.get(K_ROUTER).map(String::as_str)
    }
}

/// The key of a router's name in swctl's marks.
pub const K_ROUTER: &str = "swctl-router";

/// What a Northbound database holds, as far as swctl cares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NbState {
    pub addr: String,
    pub switches: Vec<NbSwitch>,
    pub routers: Vec<NbRouter>,
}

/// A router port to make: the router's side and its switch's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewRouterPort {
    /// the Logical_Router_Port
    pub lrp: String,
    pub mac: String,
    /// "IP/PREFIX"
    pub networks: Vec<String>,
    pub switch: String,
    /// the switch's row; None: made in the same transaction
    pub switch_uuid: Option<String>,
    /// the switch's Logical_Switch_Port of type router
    pub lsp: String,
}

impl NbState {
    /// Switch `sw` of lab `owner`, by its marks (Logical_Switch has no
    /// unique name: identity is the mark, never the name).
    pub fn switch_of(&self, owner: &Owner, sw: &str) -> Option<&NbSwitch> {
        self.switches
            .iter()
            .find(|s| s.owner().as_ref() == Some(owner) && s.switch() == Some(sw))
    }
}

/// One Northbound change, planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "nb", rename_all = "snake_case")]
pub enum NbChange {
    /// `ovn-nbctl ls-add NAME -- set Logical_Switch NAME external_ids:..`
    AddSwitch { name: String, owner: Owner },
    /// `ovn-nbctl ls-del NAME` (its ports go with it)
    DelSwitch { uuid: String, name: String },
    /// `ovn-nbctl lsp-add SW PORT -- lsp-set-addresses PORT "MAC IP.."
    /// -- lsp-set-port-security PORT "MAC IP.." -- set
    /// Logical_Switch_Port PORT options:requested-chassis=CHASSIS`
    AddPort {
        switch: String,
        /// the switch's row; None: made in the same transaction
        switch_uuid: Option<String>,
        name: String,
        /// "MAC IP IP.."
        address: String,
        /// port security: the same, or only "MAC" for a host that forwards
        /// (a router's packets carry other hosts' source addresses)
        security: String,
        chassis: String,
        owner: Owner,
        ns: NsName,
    },
    /// `ovn-nbctl lsp-set-addresses PORT ..` and the rest, on a port whose
    /// address or chassis changed
    SetPort {
        uuid: String,
        name: String,
        address: String,
        security: String,
        chassis: String,
    },
    /// `ovn-nbctl lsp-del PORT`
    DelPort {
        switch_uuid: String,
        uuid: String,
        name: String,
    },
    /// `ovn-nbctl lr-add R -- lrp-add R LRP MAC NET.. -- lsp-add SW LSP --
    /// lsp-set-type LSP router -- lsp-set-addresses LSP router --
    /// lsp-set-options LSP router-port=LRP` for each port
    AddRouter {
        name: String,
        owner: Owner,
        ports: Vec<NewRouterPort>,
    },
    /// `ovn-nbctl lr-del R` and its switches' router ports
    DelRouter {
        uuid: String,
        name: String,
        /// (switch row, port row) of each of its switch-side ports
        lsps: Vec<(String, String)>,
    },
}

impl std::fmt::Display for NbChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NbChange::AddSwitch { name, owner } => write!(
                f,
                "ovn-nbctl ls-add {name} -- set Logical_Switch {name} external_ids:{K_OWNER}={owner}"
            ),
            NbChange::DelSwitch { name, .. } => write!(f, "ovn-nbctl ls-del {name}"),
            NbChange::AddPort {
                switch,
                name,
                address,
                security,
                chassis,
                ..
            } => write!(
                f,
                "ovn-nbctl lsp-add {switch} {name} -- lsp-set-addresses {name} \"{address}\" -- lsp-set-port-security {name} \"{security}\" -- set Logical_Switch_Port {name} options:requested-chassis={chassis}"
            ),
            NbChange::SetPort {
                name,
                address,
                security,
                chassis,
                ..
            } => write!(
                f,
                "ovn-nbctl lsp-set-addresses {name} \"{address}\" -- lsp-set-port-security {name} \"{security}\" -- set Logical_Switch_Port {name} options:requested-chassis={chassis}"
            ),
            NbChange::DelPort { name, .. } => write!(f, "ovn-nbctl lsp-del {name}"),
            NbChange::AddRouter { name, ports, .. } => {
                write!(f, "ovn-nbctl lr-add {name}")?;
                for p in ports {
                    write!(
                        f,
                        " -- lrp-add {name} {} {} {} -- lsp-add {} {} -- lsp-set-type {} router -- lsp-set-addresses {} router -- lsp-set-options {} router-port={}",
                        p.lrp,
                        p.mac,
                        p.networks.join(" "),
                        p.switch,
                        p.lsp,
                        p.lsp,
                        p.lsp,
                        p.lsp,
                        p.lrp
                    )?;
                }
                Ok(())
            }
            NbChange::DelRouter { name, .. } => write!(f, "ovn-nbctl lr-del {name}"),
        }
    }
}

/// The Logical_Switch_Port of host `ns` on OVN switch `sw` of `lab`: also
/// the `external_ids:iface-id` of the OVS port that binds to it. Unique
/// across labs (the column has a unique index).
pub fn lsp_name(lab: &str, ns: &NsName, sw: &IfName) -> String {
    format!("{lab}.{ns}.{sw}")
}

/// The chassis (`system-id`) of machine `m` of `lab`.
pub fn chassis_name(lab: &str, m: &Owner) -> String {
    format!("{lab}+{m}")
}

/// The Ethernet address of a host's port on an OVN switch: the one the
/// machine's agent gives every device it makes (`Cx::mac`: owner `LAB+M`,
/// the namespace, the device's name), so the Northbound row and the device
/// agree without asking each other.
pub fn port_mac(part_owner: &Owner, ns: &NsName, dev: &IfName) -> Mac {
    Mac::stable(&[
        part_owner.as_str(),
        &Loc::Ns(ns.clone()).to_string(),
        dev.as_str(),
    ])
}

/// Keys of NB rows swctl writes besides the owner.
pub const K_NB_NS: &str = K_NS;

/// The router port of `router` on `sw` (Logical_Router_Port), and its
/// switch-side twin (`-ls`); `/` keeps them apart from hosts' ports (a
/// namespace name has none).
pub fn lrp_name(lab: &str, router: &IfName, sw: &IfName) -> (String, String) {
    let lrp = format!("{lab}/{router}.{sw}");
    let lsp = format!("{lrp}-ls");
    (lrp, lsp)
}

/// A router port's Ethernet address.
pub fn lrp_mac(lab: &str, router: &IfName, sw: &IfName) -> Mac {
    Mac::stable(&["ovn-router", lab, router.as_str(), sw.as_str()])
}
