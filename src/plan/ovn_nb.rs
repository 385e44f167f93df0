//! The Northbound half of a lab's OVN switches (pure): the logical switch
//! and one port per host port, written by the coordinator; the machines'
//! agents make the OVS ports that bind to them (`plan::ovn`). Only rows
//! marked with the lab are changed or removed: a logical switch someone
//! else made, even of the same name, is never touched.

use crate::model::names::{IfName, Owner};
use crate::model::ovn::{
    NbChange, NbRouter, NbState, NewRouterPort, chassis_name, lrp_mac, lrp_name, lsp_name, port_mac,
};
use crate::model::{Backend, Desired, PortSpec, RouterSpec};

/// The `addresses` (and `port_security`) of a host's port: "MAC IP..".
pub fn port_address(d: &Desired, p: &PortSpec) -> Option<String> {
    let m = d.placement.get(&p.ns)?;
    let dev: IfName = p.ifname.clone()?;
    let mac = port_mac(&d.owner.for_machine(m), &p.ns, &dev);
    let mut s = mac.to_string();
    for c in &p.end.addrs {
        s.push(' ');
        s.push_str(&c.addr.to_string());
    }
    Some(s)
}

/// The changes that make the Northbound rows of lab `d` right (`d` empty:
/// remove them all).
pub fn plan_nb(d: &Desired, nb: &NbState) -> Vec<NbChange> {
    let lab: &Owner = &d.owner;
    let mut out = vec![];
    // routers that differ go first (their switch-side ports with them),
    // before any switch does; made again at the end
    let mut keep_routers = vec![];
    for r in nb
        .routers
        .iter()
        .filter(|r| r.owner().as_ref() == Some(lab))
    {
        let spec = r
            .router()
            .and_then(|n| n.parse::<IfName>().ok())
            .and_then(|n| d.routers.get(&n).map(|s| (n, s)));
        match spec {
            Some((n, s)) if router_fits(d, nb, r, &n, s) => keep_routers.push(n),
            _ => out.push(NbChange::DelRouter {
                uuid: r.uuid.clone(),
                name: r.name.clone(),
                lsps: router_lsps(nb, r),
            }),
        }
    }
    // switches of the lab that are no longer OVN switches of the file
    for s in nb
        .switches
        .iter()
        .filter(|s| s.owner().as_ref() == Some(lab))
    {
        let wanted = s
            .switch()
            .and_then(|n| n.parse::<IfName>().ok())
            .is_some_and(|n| {
                d.switches
                    .get(&n)
                    .is_some_and(|x| x.backend == Backend::Ovn)
            });
        if !wanted {
            out.push(NbChange::DelSwitch {
                uuid: s.uuid.clone(),
                name: s.name.clone(),
            });
        }
    }
    for (sw, spec) in &d.switches {
        if spec.backend != Backend::Ovn {
            continue;
        }
        let have = nb.switch_of(lab, sw.as_str());
        if have.is_none() {
            out.push(NbChange::AddSwitch {
                name: sw.to_string(),
                owner: lab.clone(),
            });
        }
        let mut names = vec![];
        for p in d.ports.iter().filter(|p| &p.switch == sw) {
            let (Some(address), Some(m)) = (port_address(d, p), d.placement.get(&p.ns)) else {
                continue;
            };
            let name = lsp_name(lab.as_str(), &p.ns, sw);
            let forwards = d.namespaces.get(&p.ns).and_then(|n| n.forward) == Some(true);
            let security = if forwards {
                address
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            } else {
                address.clone()
            };
            let chassis = chassis_name(lab.as_str(), m);
            names.push(name.clone());
            let row = have.and_then(|s| s.ports.iter().find(|x| x.name == name));
            match row {
                None => out.push(NbChange::AddPort {
                    switch: sw.to_string(),
                    switch_uuid: have.map(|s| s.uuid.clone()),
                    name,
                    address,
                    security,
                    chassis,
                    owner: lab.clone(),
                    ns: p.ns.clone(),
                }),
                Some(r) => {
                    let same = r.addresses == [address.clone()]
                        && r.port_security == [security.clone()]
                        && r.options.get("requested-chassis") == Some(&chassis);
                    if !same {
                        out.push(NbChange::SetPort {
                            uuid: r.uuid.clone(),
                            name,
                            address,
                            security,
                            chassis,
                        });
                    }
                }
            }
        }
        // routers' ports are the routers' business
        for (rn, r) in &d.routers {
            if r.ports.iter().any(|p| &p.switch == sw) {
                names.push(lrp_name(lab.as_str(), rn, sw).1);
            }
        }
        if let Some(s) = have {
            let routers_port = |r: &crate::model::ovn::NbPort| {
                r.external_ids
                    .get(crate::model::ovs::K_ROLE)
                    .map(String::as_str)
                    == Some("router-port")
            };
            for r in s
                .ports
                .iter()
                .filter(|r| !names.contains(&r.name) && !routers_port(r))
            {
                out.push(NbChange::DelPort {
                    switch_uuid: s.uuid.clone(),
                    uuid: r.uuid.clone(),
                    name: r.name.clone(),
                });
            }
        }
    }
    for (rn, spec) in &d.routers {
        if keep_routers.contains(rn) {
            continue;
        }
        let ports = spec
            .ports
            .iter()
            .map(|p| {
                let (lrp, lsp) = lrp_name(lab.as_str(), rn, &p.switch);
                NewRouterPort {
                    lrp,
                    mac: lrp_mac(lab.as_str(), rn, &p.switch).to_string(),
                    networks: p.addrs.iter().map(|c| c.to_string()).collect(),
                    switch: p.switch.to_string(),
                    switch_uuid: nb.switch_of(lab, p.switch.as_str()).map(|s| s.uuid.clone()),
                    lsp,
                }
            })
            .collect();
        out.push(NbChange::AddRouter {
            name: rn.to_string(),
            owner: lab.clone(),
            ports,
        });
    }
    out
}

/// Whether router row `r` is router `n` of the file: the same ports
/// (name, address, networks) and each one's switch-side port in place.
fn router_fits(d: &Desired, nb: &NbState, r: &NbRouter, n: &IfName, s: &RouterSpec) -> bool {
    let lab = d.owner.as_str();
    r.ports.len() == s.ports.len()
        && s.ports.iter().all(|p| {
            let (lrp, lsp) = lrp_name(lab, n, &p.switch);
            let mut want: Vec<String> = p.addrs.iter().map(|c| c.to_string()).collect();
            want.sort();
            let row = r.ports.iter().find(|x| x.name == lrp);
            let nets_ok = row.is_some_and(|x| {
                let mut have = x.networks.clone();
                have.sort();
                have == want && x.mac == lrp_mac(lab, n, &p.switch).to_string()
            });
            let lsp_ok = nb
                .switch_of(&d.owner, p.switch.as_str())
                .is_some_and(|sw| sw.ports.iter().any(|x| x.name == lsp));
            nets_ok && lsp_ok
        })
}

/// The switch-side ports of router row `r`: (switch row, port row).
fn router_lsps(nb: &NbState, r: &NbRouter) -> Vec<(String, String)> {
    let names: Vec<String> = r.ports.iter().map(|p| format!("{}-ls", p.name)).collect();
    nb.switches
        .iter()
        .flat_map(|s| {
            s.ports
                .iter()
                .filter(|p| names.contains(&p.name))
                .map(|p| (s.uuid.clone(), p.uuid.clone()))
        })
        .collect()
}
