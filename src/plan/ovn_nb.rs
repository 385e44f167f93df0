//! The Northbound half of a lab's OVN switches (pure): the logical switch
//! and one port per host port, written by the coordinator; the machines'
//! agents make the OVS ports that bind to them (`plan::ovn`). Only rows
//! marked with the lab are changed or removed: a logical switch someone
//! else made, even of the same name, is never touched.

use crate::model::names::{IfName, Owner};
use crate::model::ovn::{NbChange, NbState, chassis_name, lsp_name, port_mac};
use crate::model::{Backend, Desired, PortSpec};

/// The `addresses` (and `port_security`) of a host's port: "MAC IP..".
pub fn port_address(d: &Desired, p: &PortSpec) -> Option<String> {
    let m = d.placement.get(&p.ns)?;
    let dev: IfName = p.ifname.clone()?;
    let mac = port_mac(&d.owner.for_machine(m), &p.ns, &dev);
    let mut s = mac.to_string();
    for c in &p.addrs {
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
        if let Some(s) = have {
            for r in s.ports.iter().filter(|r| !names.contains(&r.name)) {
                out.push(NbChange::DelPort {
                    switch_uuid: s.uuid.clone(),
                    uuid: r.uuid.clone(),
                    name: r.name.clone(),
                });
            }
        }
    }
    out
}
