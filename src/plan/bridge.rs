//! The Linux-bridge backend for the planner: a bridge device (STP off, up,
//! optionally inside a namespace) created over rtnetlink; a port is a veth
//! pair whose switch end is enslaved to the bridge (`ip link set DEV master
//! BR`) and whose other end is born inside the namespace. No VLANs (this
//! kernel has no bridge VLAN filtering).

use super::switch::{DataPlane, PortInfo, Rules, Switch, SwitchInfo, SwitchReader};
use super::{Cx, PlanError, Step, has_v6};
use crate::model::names::{IfName, Loc, derived_ifname};
use crate::model::{Backend, End, Key, Mark, Observed, PortSpec, Side, SwitchSpec, TrunkSpec, Via};

pub struct LinuxBridge;

impl SwitchReader for LinuxBridge {
    fn backend(&self) -> Backend {
        Backend::Bridge
    }

    fn describe(&self, loc: &Loc) -> String {
        format!("a Linux bridge in {loc}")
    }

    fn switches(&self, o: &Observed) -> Vec<SwitchInfo> {
        let mut out = Vec::new();
        for (loc, st) in o.locs() {
            for l in st
                .links
                .iter()
                .filter(|l| l.kind.as_deref() == Some("bridge"))
            {
                let owner = match &l.mark {
                    Some(Mark::Switch { owner }) => Some(owner.clone()),
                    _ => None,
                };
                let ports = st
                    .links
                    .iter()
                    .filter(|p| p.master.as_deref() == Some(l.name.as_str()))
                    .map(|p| {
                        let (ns, owner, trunk) = match &p.mark {
                            Some(Mark::Port { ns, owner, .. }) => {
                                (Some(ns.clone()), Some(owner.clone()), None)
                            }
                            Some(Mark::Trunk { owner, a, b, .. }) => {
                                let other = if a.as_str() == l.name { b } else { a };
                                (None, Some(owner.clone()), Some(other.clone()))
                            }
                            _ => (None, None, None),
                        };
                        let wiring = if trunk.is_some() {
                            "trunk".to_string()
                        } else {
                            p.kind.clone().unwrap_or_else(|| "-".into())
                        };
                        PortInfo {
                            dev: p.name.clone(),
                            ns,
                            owner,
                            trunk,
                            wiring,
                            vlan: None,
                        }
                    })
                    .collect();
                out.push(SwitchInfo {
                    name: l.name.clone(),
                    backend: Backend::Bridge,
                    loc: loc.clone(),
                    owner,
                    up: l.up,
                    addrs: l.addrs.clone(),
                    ports,
                    datapath: None,
                    openflow: None,
                    mirrors: vec![],
                });
            }
        }
        out
    }

    fn locate(&self, o: &Observed, name: &str) -> Option<Loc> {
        o.find_bridge(name).map(|(loc, _)| loc)
    }
}

impl Switch for LinuxBridge {
    fn wirings(&self) -> &'static [Via] {
        &[Via::Veth]
    }

    fn rules(&self) -> &'static Rules {
        &Rules {
            no_namespace: None,
            no_vlans: Some(
                "Linux bridge VLAN filtering is not driven by swctl yet; use an OVS switch",
            ),
            no_trunks: None,
            no_tunnels: None,
            options: &[],
            data_plane: DataPlane::Kernel,
        }
    }

    /// The kernel numbers bridge ports 1..BR_MAX_PORTS-1 (BR_MAX_PORTS is
    /// 1024); the 1024th enslave fails with EXFULL ("Exchange full").
    fn max_ports(&self) -> Option<usize> {
        Some(1023)
    }

    /// `ip link add NAME type bridge stp_state 0 && ip link set NAME up`,
    /// addresses on it; or up/addresses repaired on the one that exists.
    fn plan_switch(&self, cx: &mut Cx, name: &IfName, spec: &SwitchSpec) -> Result<(), PlanError> {
        if let Loc::Ns(n) = &spec.loc
            && !cx.ns_exist.contains(n)
        {
            return Err(PlanError::UnknownNamespace(n.clone()));
        }
        let o = cx.o;
        match o.loc(&spec.loc).and_then(|st| st.link(name.as_str())) {
            Some(l) if l.kind.as_deref() == Some("bridge") => {
                // a bridge this lab made keeps its stable address
                let ours = l.mark.as_ref().is_some_and(|m| m.owner() == &cx.d.owner);
                cx.ensure_end(&spec.loc, name.as_str(), Some(l), spec.own_end(ours));
            }
            Some(l) => {
                return Err(PlanError::NotABridge(
                    name.clone(),
                    spec.loc.clone(),
                    l.kind.clone().unwrap_or_else(|| "device".into()),
                ));
            }
            None => {
                if let Some((other, _)) = o.find_bridge(name.as_str())
                    && other != spec.loc
                {
                    return Err(PlanError::BridgeCannotMove {
                        name: name.clone(),
                        want: spec.loc.clone(),
                    });
                }
                cx.names.take(&spec.loc, name.as_str());
                cx.steps.push(Step::CreateBridge {
                    loc: spec.loc.clone(),
                    name: name.clone(),
                    mark: Mark::Switch {
                        owner: cx.d.owner.clone(),
                    },
                    mac: cx.mac(&spec.loc, name.as_str()),
                });
                cx.ensure_end(&spec.loc, name.as_str(), None, spec.own_end(true));
            }
        }
        Ok(())
    }

    /// `ip link del NAME`
    fn delete_switch(&self, cx: &mut Cx, sw: &SwitchInfo) {
        cx.delete_link(&sw.loc, &sw.name);
    }

    /// A veth pair, its switch end enslaved (`ip link add A master SW type
    /// veth peer name B netns NS`); kept and repaired when both marked ends
    /// are there, else made again.
    fn plan_port(
        &self,
        cx: &mut Cx,
        p: &PortSpec,
        sw_loc: &Loc,
        via: Via,
    ) -> Result<(), PlanError> {
        let o = cx.o;
        let ns_loc = Loc::Ns(p.ns.clone());
        let key = Key::Port {
            ns: p.ns.clone(),
            switch: p.switch.clone(),
        };
        let is_end = |side: Side| move |m: &Mark| matches!(m, Mark::Port { ns, sw, side: s, .. } if ns == &p.ns && sw == &p.switch && *s == side);
        let a = o
            .loc(sw_loc)
            .and_then(|st| st.marked(is_end(Side::A)).next());
        let b = o
            .loc(&ns_loc)
            .and_then(|st| st.marked(is_end(Side::B)).next());
        if let (Some(a), Some(b)) = (a, b)
            && p.ifname.as_ref().is_none_or(|n| n.as_str() == b.name)
        {
            if a.master.as_deref() != Some(p.switch.as_str()) {
                cx.steps.push(Step::SetMaster {
                    loc: sw_loc.clone(),
                    dev: a.name.clone(),
                    master: p.switch.clone(),
                });
            }
            cx.ensure_end(sw_loc, &a.name, Some(a), p.switch_end());
            cx.ensure_end(&ns_loc, &b.name, Some(b), p.host_end());
            cx.wired(key, via, (sw_loc, &a.name), (&ns_loc, &b.name));
            return Ok(());
        }
        // missing, half there, or renamed: (re)create the pair
        if let Some(a) = a {
            cx.delete_link(sw_loc, &a.name);
        } else if let Some(b) = b {
            cx.delete_link(&ns_loc, &b.name);
        }
        let (a_name, b_name) = cx.port_names(sw_loc, &ns_loc, p)?;
        cx.steps.push(Step::CreateVeth {
            loc: sw_loc.clone(),
            name: a_name.clone(),
            peer_loc: ns_loc.clone(),
            peer: b_name.clone(),
            master: Some(p.switch.clone()),
            mark: cx.port_mark(p, Side::A),
            peer_mark: cx.port_mark(p, Side::B),
            mac: cx.mac(sw_loc, a_name.as_str()),
            peer_mac: cx.mac(&ns_loc, b_name.as_str()),
            ipv6: false, // a switch port
            peer_ipv6: has_v6(&p.end.addrs),
        });
        cx.ensure_end(sw_loc, a_name.as_str(), None, p.switch_end());
        cx.ensure_end(&ns_loc, b_name.as_str(), None, p.host_end());
        cx.wired(
            key,
            via,
            (sw_loc, a_name.as_str()),
            (&ns_loc, b_name.as_str()),
        );
        Ok(())
    }

    /// `ip link set DEV master SW` (untagged: no VLAN filtering here).
    fn plan_trunk_end(
        &self,
        cx: &mut Cx,
        sw: &IfName,
        sw_loc: &Loc,
        dev: &str,
        attached: bool,
        _t: &TrunkSpec,
    ) -> Result<(), PlanError> {
        if !attached {
            cx.steps.push(Step::SetMaster {
                loc: sw_loc.clone(),
                dev: dev.to_string(),
                master: sw.clone(),
            });
        }
        Ok(())
    }

    /// `ip link set DEV master SW`
    fn plan_uplink(
        &self,
        cx: &mut Cx,
        sw: &IfName,
        sw_loc: &Loc,
        dev: &IfName,
    ) -> Result<(), PlanError> {
        let o = cx.o;
        let l = o
            .loc(sw_loc)
            .and_then(|st| st.link(dev.as_str()))
            .ok_or_else(|| PlanError::NoUplink(dev.clone(), sw.clone()))?;
        if l.master.as_deref() != Some(sw.as_str()) {
            cx.steps.push(Step::SetMaster {
                loc: sw_loc.clone(),
                dev: dev.to_string(),
                master: sw.clone(),
            });
        }
        Ok(())
    }

    /// One vxlan device enslaved to the bridge (`ip link add vx-.. type
    /// vxlan id VNI local VTEP dstport 4789 nolearning master SW`) and a
    /// flooding entry per remote VTEP (head-end replication: what arrives
    /// from the tunnel is never sent back into it, so a full mesh has no
    /// loop). Kept when its identifier and local address are right; its
    /// entries made to match the remotes.
    fn plan_tunnel(
        &self,
        cx: &mut Cx,
        t: &crate::model::TunnelSpec,
        sw_loc: &Loc,
        mtu: Option<u32>,
    ) -> Result<(), PlanError> {
        let o = cx.o;
        let st = o.loc(sw_loc);
        let have = st.and_then(|st| {
            st.marked(|m| matches!(m, Mark::Tunnel { sw, .. } if sw == &t.switch))
                .next()
        });
        let name = derived_ifname("vx", &["vxlan", t.switch.as_str()]);
        let fits = |l: &crate::model::LinkObs| {
            l.vxlan
                .is_some_and(|v| v.vni == t.vni && v.local == Some(t.local))
                && l.name == name.as_str()
        };
        let mut entries: Vec<std::net::IpAddr> = vec![];
        match have {
            Some(l) if fits(l) => {
                if l.master.as_deref() != Some(t.switch.as_str()) {
                    cx.steps.push(Step::SetMaster {
                        loc: sw_loc.clone(),
                        dev: l.name.clone(),
                        master: t.switch.clone(),
                    });
                }
                // the user's device: its address is its own
                let end = End {
                    stable_mac: false,
                    ..End::bare(mtu)
                };
                cx.ensure_end(sw_loc, &l.name, Some(l), end);
                entries = st
                    .map(|st| {
                        st.fdb
                            .iter()
                            .filter(|f| f.dev == l.name)
                            .map(|f| f.dst)
                            .collect()
                    })
                    .unwrap_or_default();
                for gone in entries.iter().filter(|e| !t.remotes.contains(e)) {
                    cx.steps.push(Step::DelFdb {
                        loc: sw_loc.clone(),
                        dev: l.name.clone(),
                        dst: *gone,
                    });
                }
            }
            other => {
                if let Some(l) = other {
                    cx.delete_link(sw_loc, &l.name);
                }
                cx.clear_leftover_of_kind(sw_loc, name.as_str(), "vxlan");
                cx.names.take(sw_loc, name.as_str());
                cx.steps.push(Step::CreateVxlan {
                    loc: sw_loc.clone(),
                    name: name.clone(),
                    vni: t.vni,
                    local: t.local,
                    remote: None,
                    master: Some(t.switch.clone()),
                    mtu,
                    mark: Mark::Tunnel {
                        owner: cx.d.owner.clone(),
                        sw: t.switch.clone(),
                    },
                    mac: cx.mac(sw_loc, name.as_str()),
                });
            }
        }
        for r in t.remotes.iter().filter(|r| !entries.contains(r)) {
            cx.steps.push(Step::AddFdb {
                loc: sw_loc.clone(),
                dev: name.to_string(),
                dst: *r,
            });
        }
        Ok(())
    }
}
