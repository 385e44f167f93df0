//! The OVN backend on a machine: a logical switch lives in the Northbound
//! database (written by the coordinator, `ovn_nb`); here its ports are
//! internal ports of ovn-controller's integration bridge, each bound to
//! its logical port by `external_ids:iface-id` and moved into its host's
//! namespace, made and repaired like any OVS port (`ovs::plan_ovs_port`).

use super::switch::{DataPlane, Rules, Switch, SwitchInfo, SwitchReader};
use super::{Cx, PlanError};
use crate::model::names::{IfName, Loc};
use crate::model::ovn::lsp_name;
use crate::model::{Backend, Observed, PortSpec, SwitchSpec, Via};

/// The integration bridge ovn-controller makes (its `ovn-bridge`).
pub const INTEGRATION_BRIDGE: &str = "br-int";

pub struct Ovn;

impl Ovn {
    fn bridge() -> IfName {
        INTEGRATION_BRIDGE.parse().expect("valid name")
    }

    fn no_chassis(sw: &IfName, why: &str) -> PlanError {
        PlanError::Unavailable {
            switch: sw.clone(),
            backend: Backend::Ovn,
            why: why.into(),
        }
    }
}

impl SwitchReader for Ovn {
    fn backend(&self) -> Backend {
        Backend::Ovn
    }

    fn describe(&self, _loc: &Loc) -> String {
        "an OVN logical switch".into()
    }

    /// None on a machine: the switch is a Northbound row.
    fn switches(&self, _o: &Observed) -> Vec<SwitchInfo> {
        vec![]
    }

    fn locate(&self, _o: &Observed, _name: &str) -> Option<Loc> {
        None
    }
}

impl Switch for Ovn {
    /// internal ports by default; veth ports too (what a jumbo guest
    /// needs on Open vSwitch 3.1: `lab::machines::part`)
    fn wirings(&self) -> &'static [Via] {
        &[Via::Internal, Via::Veth]
    }

    fn rules(&self) -> &'static Rules {
        &Rules {
            no_namespace: Some(
                "an OVN logical switch lives in the Northbound database, not in a namespace",
            ),
            no_vlans: Some("an OVN logical switch's ports carry no access VLAN of swctl's"),
            no_trunks: Some(
                "trunks join Linux and OVS bridges; an OVN logical switch takes any number of ports",
            ),
            no_tunnels: Some("OVN carries its logical switches between machines itself"),
            options: &[],
            data_plane: DataPlane::OvnChassis,
        }
    }

    fn max_ports(&self) -> Option<usize> {
        None
    }

    /// Nothing to make here; the machine must be a chassis (its
    /// ovn-controller has made the integration bridge).
    fn plan_switch(&self, cx: &mut Cx, name: &IfName, _spec: &SwitchSpec) -> Result<(), PlanError> {
        let Some(st) = cx.o.ovs.as_ref() else {
            return Err(Self::no_chassis(
                name,
                &cx.o
                    .ovs_missing
                    .clone()
                    .unwrap_or_else(|| "no Open vSwitch".into()),
            ));
        };
        let Some(br) = st.bridge(INTEGRATION_BRIDGE) else {
            return Err(Self::no_chassis(
                name,
                "this machine is not an OVN chassis: no integration bridge br-int (ovn-controller is not running)",
            ));
        };
        // geneve from the userspace datapath leaves only through an OVS
        // bridge holding the VTEP, as VXLAN does (`ovs_span`)
        let machine = cx.d.owner.machine().and_then(|m| m.parse().ok());
        let Some(spec) = machine.and_then(|m| cx.d.machines.get(&m)) else {
            return Ok(());
        };
        if br.datapath_type != "netdev" {
            return Ok(());
        }
        let vtep = spec.vtep;
        let on =
            cx.o.host
                .links
                .iter()
                .find(|l| l.addrs.iter().any(|c| c.addr == vtep));
        let ok = match on {
            Some(l) => st.bridge(&l.name).is_some(),
            None => {
                cx.d.switches
                    .values()
                    .any(|s| s.backend == Backend::Ovs && s.addrs.iter().any(|c| c.addr == vtep))
            }
        };
        if ok {
            return Ok(());
        }
        Err(PlanError::VtepNotOnOvs {
            switch: name.clone(),
            vtep,
            on: on.map_or("on no device of this machine".into(), |l| {
                format!("on {}, not on an OVS bridge", l.name)
            }),
        })
    }

    /// A port of br-int (internal, or a veth's host end) bound to the
    /// host's logical port.
    fn plan_port(
        &self,
        cx: &mut Cx,
        p: &PortSpec,
        _sw_loc: &Loc,
        via: Via,
    ) -> Result<(), PlanError> {
        let id = lsp_name(cx.d.owner.lab(), &p.ns, &p.switch);
        super::ovs::plan_ovs_port(cx, p, &Self::bridge(), via, Some(id))
    }
}
