//! The simulated machines' underlay (made by the coordinator: a namespace
//! per machine joined by a Linux bridge, each machine's `underlay`
//! interface with its VTEP address and MTU) and the MTU a spanning
//! switch's guests get from the machines' underlays (`[machines.M] mtu`).
//! Pure.

use std::collections::BTreeSet;

use crate::model::names::{Cidr, IfName, NsName, derived_ifname};
use crate::model::names::{Loc, Owner};
use crate::model::{Backend, Desired, EndSpec, NsSpec, PortSpec, Reach, SwitchSpec, Via};
use crate::plan::switch::DataPlane;

/// The name of a simulated machine's end of the underlay.
pub const UNDERLAY_IF: &str = "underlay";

/// What forwards switch `s`'s frames (asked of its backend).
pub fn data_plane(s: &SwitchSpec) -> DataPlane {
    crate::plan::backend(s.backend).rules().data_plane
}

/// Whether the data plane of switch `sw` of the lab is `dp`.
pub fn switch_on(d: &Desired, sw: &IfName, dp: DataPlane) -> bool {
    d.switches.get(sw).is_some_and(|s| data_plane(s) == dp)
}

/// Whether some spanning switch of the lab is an OVS bridge, or the lab
/// has OVN switches (geneve from each machine's Open vSwitch).
fn ovs_spans(d: &Desired) -> bool {
    d.spans
        .keys()
        .any(|sw| switch_on(d, sw, DataPlane::OpenVswitch))
        || d.switches
            .values()
            .any(|s| data_plane(s) == DataPlane::OvnChassis)
}

/// In a lab with an OVS span, the OVS bridge of simulated machine `m` that
/// holds its underlay and its VTEP address (Open vSwitch's userspace
/// datapath sends tunnels only through an OVS bridge). Every simulated
/// machine of such a lab gets one: then every packet from a machine's
/// kernel (Linux bridge spans, links across machines) leaves through the
/// bridge's own interface, a tap, with its checksums complete — through a
/// plain veth they would reach the others' OVS with partial checksums and
/// be dropped (measured; see the notes on mixed backends).
pub fn phy_bridge(d: &Desired, m: &Owner) -> Option<IfName> {
    let spec = d.machines.get(m)?;
    (matches!(spec.reach, Reach::Netns(_)) && ovs_spans(d))
        .then(|| derived_ifname("phy", &["phy", d.owner.lab()]))
}

/// The simulated machines: name, namespace, VTEP.
pub fn simulated(d: &Desired) -> Vec<(&Owner, &NsName, std::net::IpAddr)> {
    d.machines
        .iter()
        .filter_map(|(n, m)| match &m.reach {
            Reach::Netns(ns) => Some((n, ns, m.vtep)),
            _ => None,
        })
        .collect()
}

/// The MTU of the guests of switch `sw` when it spans machines that all
/// say their underlay's MTU (`[machines.M] mtu`): the smallest, less what
/// its VXLAN tunnel takes; None otherwise (the kernel's default, lowered
/// at plan time where the VTEP's device has no room for it:
/// `plan::tunnels`).
pub fn guest_mtu(d: &Desired, sw: &IfName) -> Option<u32> {
    let on = d.machines_of(sw);
    if on.len() < 2 {
        return None;
    }
    let smallest = on
        .iter()
        .map(|m| d.machines.get(*m).and_then(|s| s.mtu))
        .collect::<Option<Vec<u32>>>()?
        .into_iter()
        .min()?;
    let overhead = match d.switches.get(sw).map(data_plane) {
        Some(DataPlane::OvnChassis) => crate::model::GENEVE_OVERHEAD,
        _ => crate::model::VXLAN_OVERHEAD,
    };
    Some(smallest.saturating_sub(overhead))
}

/// The ports of a machine's part given what the tunnel of their switch
/// leaves of the underlay, where the file gives them no MTU of their own.
pub fn fit_guests(d: &Desired, ports: &mut [PortSpec]) {
    for port in ports.iter_mut().filter(|x| x.end.mtu.is_none()) {
        let Some(mtu) = guest_mtu(d, &port.switch) else {
            continue;
        };
        let ovs = d
            .switches
            .get(&port.switch)
            .is_some_and(|s| data_plane(s).uses_open_vswitch());
        if ovs && mtu > 1500 {
            // Open vSwitch 3.1 reads an internal port whose device went
            // into a namespace with 1500-byte buffers (it can no longer
            // ask the device its MTU: lib/netdev-linux.c falls back to
            // ETH_PAYLOAD_MAX), so bigger frames are cut and lost
            // (measured: 8900-byte pings lost, 1472 pass); a veth port's
            // host end stays where it can ask. `auto` picks veth; an
            // explicit internal port keeps 1500.
            match port.via {
                Via::Internal => continue,
                Via::Auto => port.via = Via::Veth,
                Via::Veth => {}
            }
        }
        port.end.mtu = Some(mtu);
    }
}

/// MTU of the underlay that joins simulated machines: room for VXLAN's 50
/// bytes over 1500-byte guest frames.
pub const UNDERLAY_MTU: u32 = 1600;

/// The prefix of the simulated underlay: the longest of /24 and /16 that
/// holds every VTEP; None when they are further apart.
pub(super) fn underlay_prefix(vteps: &[std::net::IpAddr]) -> Option<u8> {
    [24u8, 16].into_iter().find(|p| {
        let nets: BTreeSet<_> = vteps
            .iter()
            .map(|a| {
                Cidr {
                    addr: *a,
                    prefix: *p,
                }
                .network()
            })
            .collect();
        nets.len() == 1 && vteps.iter().all(|a| a.is_ipv4())
    })
}

/// What the coordinator itself makes for the simulated machines of a lab:
/// a namespace per machine, joined by a Linux bridge in an underlay
/// namespace of their own, each machine's `underlay` interface with its
/// VTEP address (MTU 1600). Owned by the lab; None when no machine is
/// simulated.
pub fn underlay(d: &Desired) -> Result<Option<Desired>, String> {
    let sims = simulated(d);
    if sims.is_empty() {
        return Ok(None);
    }
    let vteps: Vec<_> = sims.iter().map(|s| s.2).collect();
    let prefix = underlay_prefix(&vteps).ok_or_else(|| {
        "simulated machines' VTEP addresses must be IPv4 in one /24 or /16 (swctl joins them with one bridge)".to_string()
    })?;
    let mut u = Desired::new(d.owner.clone());
    let uns: NsName = format!("{}-underlay", d.owner)
        .parse()
        .map_err(|e: crate::model::names::InvalidInput| e.to_string())?;
    let br = derived_ifname("ul", &["underlay", d.owner.as_str()]);
    u.namespaces.insert(uns.clone(), NsSpec::default());
    u.switches.insert(
        br.clone(),
        SwitchSpec {
            backend: Backend::Bridge,
            loc: Loc::Ns(uns),
            addrs: vec![],
            ..Default::default()
        },
    );
    for (m, ns, vtep) in sims {
        u.namespaces.insert(ns.clone(), NsSpec::default());
        // the VTEP on the machine's OVS bridge that holds the underlay, or
        // on the underlay itself
        let addrs = match phy_bridge(d, m) {
            Some(_) => vec![],
            None => vec![Cidr { addr: vtep, prefix }],
        };
        let mtu = d
            .machines
            .get(m)
            .and_then(|s| s.mtu)
            .unwrap_or(UNDERLAY_MTU);
        u.ports.push(PortSpec {
            ns: ns.clone(),
            switch: br.clone(),
            ifname: Some(UNDERLAY_IF.parse().expect("valid name")),
            via: Via::Veth,
            vlan: None,
            end: EndSpec {
                addrs,
                mtu: Some(mtu),
                impair: None,
            },
        });
    }
    Ok(Some(u))
}
