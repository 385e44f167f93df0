//! An OVS switch across machines: a `vxlan` port per remote machine
//! (protected: split horizon), the uplink that holds the VTEP on the
//! userspace datapath, and their removal. The OVS backend's share of
//! `Switch::plan_tunnel` and `Switch::plan_uplink`.

use super::{Cx, PlanError, Step};
use crate::model::names::{IfName, derived_ifname};
use crate::model::ovs::{OvsChange, OvsPort, OvsState};
use crate::model::{Backend, TunnelSpec};

/// The name of the tunnel port of switch `sw` to `remote`: unique on the
/// machine (port names are one namespace across an OVS's bridges).
fn tunnel_name(sw: &IfName, remote: &std::net::IpAddr) -> IfName {
    derived_ifname("vx", &["ovs-vxlan", sw.as_str(), &remote.to_string()])
}

/// Whether tunnel port `p` is what `t` wants towards `remote`.
fn fits(p: &OvsPort, t: &TunnelSpec, remote: &std::net::IpAddr) -> bool {
    let Some(i) = p.ifaces.first() else {
        return false;
    };
    let opt = |k: &str| i.options.get(k).map(String::as_str);
    p.protected
        && i.kind == "vxlan"
        && opt("remote_ip") == Some(remote.to_string().as_str())
        && opt("key") == Some(t.vni.to_string().as_str())
        && opt("dst_port").unwrap_or("4789") == t.port.to_string()
}

/// On the userspace datapath the VTEP must be on an OVS bridge's own
/// interface (measured: with it on a plain veth, `ofproto/trace` says
/// "native tunnel routing failed" and nothing passes); the kernel datapath
/// sends from any device.
fn check_vtep(cx: &Cx, st: &OvsState, t: &TunnelSpec, datapath: &str) -> Result<(), PlanError> {
    if datapath != "netdev" {
        return Ok(());
    }
    let on =
        cx.o.host
            .links
            .iter()
            .find(|l| l.addrs.iter().any(|c| c.addr == t.local));
    let ok = match on {
        Some(l) => st.bridge(&l.name).is_some(),
        None => {
            cx.d.switches
                .values()
                .any(|s| s.backend == Backend::Ovs && s.addrs.iter().any(|c| c.addr == t.local))
        }
    };
    if ok {
        return Ok(());
    }
    Err(PlanError::VtepNotOnOvs {
        switch: t.switch.clone(),
        vtep: t.local,
        on: on.map_or("on no device of this machine".into(), |l| {
            format!("on {}, not on an OVS bridge", l.name)
        }),
    })
}

/// `ovs-vsctl add-port SW vx-.. protected=true -- set Interface vx-..
/// type=vxlan options:remote_ip=R options:key=VNI options:dst_port=P` for
/// each remote machine; a tunnel port that differs is made again, one to a
/// machine no longer on the switch removed.
pub(super) fn plan_tunnel(
    cx: &mut Cx,
    st: &OvsState,
    t: &TunnelSpec,
    datapath: &str,
) -> Result<(), PlanError> {
    check_vtep(cx, st, t, datapath)?;
    let db = super::ovs_rows::db_of(cx, st, &t.switch);
    // Open vSwitch below 3.3 drops TSO packets sent into a tunnel
    // (`effect::ovs::tso`): a vswitchd with userspace TSO cannot carry one
    let v = st.vswitchd_of(&db);
    let version = v.version.as_deref();
    if datapath == "netdev" && v.tso && !crate::model::tso::over_tunnels(version) {
        return Err(PlanError::TsoUnderTunnel {
            switch: t.switch.clone(),
            db,
            version: version.unwrap_or("unknown").to_string(),
        });
    }
    let ports: Vec<OvsPort> = st
        .bridge(t.switch.as_str())
        .map(|b| b.ports.clone())
        .unwrap_or_default();
    for remote in &t.remotes {
        let name = tunnel_name(&t.switch, remote);
        let have = ports.iter().find(|p| p.name == name.as_str());
        if have.is_some_and(|p| fits(p, t, remote) && p.owner().as_ref() == Some(&cx.d.owner)) {
            continue;
        }
        if let Some(p) = have {
            cx.steps.push(Step::Ovs(OvsChange::DelPort {
                db: db.clone(),
                bridge: t.switch.to_string(),
                port: p.name.clone(),
                uuid: p.uuid.clone(),
            }));
        }
        cx.steps.push(Step::Ovs(OvsChange::AddTunnel {
            db: db.clone(),
            bridge: t.switch.to_string(),
            port: name.to_string(),
            remote: *remote,
            key: t.vni,
            dst_port: t.port,
            owner: cx.d.owner.clone(),
        }));
    }
    Ok(())
}

/// `ovs-vsctl add-port SW DEV` for a device of this machine, and
/// `mtu_request` on the bridge's own interface to match it.
pub(super) fn plan_uplink(
    cx: &mut Cx,
    st: &OvsState,
    sw: &IfName,
    dev: &IfName,
) -> Result<(), PlanError> {
    let o = cx.o;
    let l = o
        .host
        .link(dev.as_str())
        .ok_or_else(|| PlanError::NoUplink(dev.clone(), sw.clone()))?;
    let db = super::ovs_rows::db_of(cx, st, sw);
    let bridge = st.bridge(sw.as_str());
    if let Some(b) = st
        .bridges
        .iter()
        .find(|b| b.name != sw.as_str() && b.ports.iter().any(|p| p.name == dev.as_str()))
    {
        return Err(PlanError::BadSwitch {
            switch: sw.clone(),
            backend: Backend::Ovs,
            why: format!(
                "its uplink {dev} is a port of OVS bridge {} already",
                b.name
            ),
        });
    }
    if !bridge.is_some_and(|b| b.ports.iter().any(|p| p.name == dev.as_str())) {
        cx.steps.push(Step::Ovs(OvsChange::AddUplink {
            db: db.clone(),
            bridge: sw.to_string(),
            port: dev.to_string(),
            owner: cx.d.owner.clone(),
        }));
    }
    // Why: on the userspace datapath OVS reads its ports through AF_PACKET,
    // which taps frames rather than taking them: the kernel's own stack
    // still sees every ARP request arriving at the uplink and, with the
    // default arp_ignore=0, answers for the VTEP (an address of the
    // bridge's interface) with the uplink's MAC. Two answers race at the
    // asking machine; when the uplink's wins, its OVS sends the tunnel to a
    // MAC the VTEP's bridge does not own, and the remote drops it (seen: the
    // first ping across machines after apply lost 1 in 12-24 applies on a
    // busy box, `dpctl/dump-flows` showing tnl_push to the remote uplink's
    // MAC). arp_ignore=8: the uplink answers for no address; on the kernel
    // datapath the stack never sees the port's frames, so it changes nothing.
    // ovs-vswitchd reads the uplink through a socket too: room for the
    // tunnel's jumbo frames and bursts (`kernel::packet_sock`)
    let datapath = bridge.map_or_else(|| st.datapath.clone(), |b| b.datapath_type.clone());
    let added = !bridge.is_some_and(|b| b.ports.iter().any(|p| p.name == dev.as_str()));
    super::ovs_rows::rx_buffer(cx, datapath == "netdev", dev.as_str(), added);
    if l.arp_ignore.is_some_and(|v| v != 8) {
        cx.steps.push(Step::SetSysctl {
            loc: crate::model::names::Loc::Host,
            key: format!("net/ipv4/conf/{dev}/arp_ignore"),
            value: "8".into(),
        });
    }
    let own = o.host.link(sw.as_str()).map(|b| b.mtu);
    if own != Some(l.mtu) {
        cx.steps.push(Step::Ovs(OvsChange::SetMtu {
            db,
            iface: sw.to_string(),
            mtu: l.mtu,
        }));
    }
    Ok(())
}

/// Whether tunnel or uplink port `p` of bridge `sw` is still wanted.
pub(super) fn wanted(cx: &Cx, sw: &IfName, p: &OvsPort) -> bool {
    match p.role() {
        Some("tunnel") => cx.d.tunnels.iter().any(|t| {
            &t.switch == sw
                && t.remotes
                    .iter()
                    .any(|r| p.remote() == Some(r.to_string().as_str()))
        }),
        Some("uplink") => {
            cx.d.uplinks
                .iter()
                .any(|u| &u.switch == sw && u.dev.as_str() == p.name)
        }
        _ => true,
    }
}
