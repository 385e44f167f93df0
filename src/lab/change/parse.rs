//! The imperative commands' arguments, validated into a `ChangeJob` each:
//! the desired state, the scope of removal, what to observe, what must
//! exist. Nothing here touches the system.

use std::collections::BTreeSet;
use std::str::FromStr;

use super::{ChangeError, ChangeJob};
use crate::effect::observe::Scan;
use crate::lab::request::change::{
    Attach, Detach, Forward, Link, NsAdd, NsDel, Route, SwitchAdd, SwitchDel, Unlink,
};
use crate::lab::request::{BackendChoice, OnOff};
use crate::model::names::{
    self, Cidr, IfName, InvalidInput, Loc, NsName, Owner, RouteDest, join_words as join, parse_ip,
};
use crate::model::part::Part;
use crate::model::{
    Backend, Desired, EndSpec, Key, LinkSpec, NsSpec, PortSpec, RouteSpec, SwitchSpec, Via,
};
use crate::plan::Scope;

fn parse_all<T: FromStr<Err = InvalidInput>>(v: &[String]) -> Result<Vec<T>, InvalidInput> {
    v.iter().map(|s| s.parse()).collect()
}

fn unique<T: Ord + Clone + std::fmt::Display>(v: &[T], what: &str) -> Result<(), ChangeError> {
    let mut seen = BTreeSet::new();
    for x in v {
        if !seen.insert(x.clone()) {
            return Err(ChangeError::Usage(format!("{what} {x} is given twice")));
        }
    }
    Ok(())
}

fn locs_to_scan(scan: &mut Scan, locs: &[&Loc]) {
    for loc in locs {
        if let Loc::Ns(n) = loc {
            scan.namespaces.insert(n.clone());
        }
    }
}

fn check_mtu(m: Option<u32>) -> Result<Option<u32>, ChangeError> {
    Ok(m.map(|v| names::mtu(v.into())).transpose()?)
}

fn check_vlan(v: Option<u16>) -> Result<Option<u16>, ChangeError> {
    Ok(v.map(|x| names::vlan(x.into())).transpose()?)
}

pub(super) fn ns_add(r: &NsAdd) -> Result<ChangeJob, ChangeError> {
    let mut d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    let names: Vec<NsName> = parse_all(&r.names)?;
    unique(&names, "namespace")?;
    for n in &names {
        d.namespaces.insert(n.clone(), NsSpec::default());
        scan.namespaces.insert(n.clone());
    }
    Ok(ChangeJob::new(
        format!("ns add {}", join(&names)),
        d,
        Scope::Nothing,
        scan,
    ))
}

pub(super) fn ns_del(r: &NsDel) -> Result<ChangeJob, ChangeError> {
    let d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    let names: Vec<NsName> = parse_all(&r.names)?;
    unique(&names, "namespace")?;
    scan.all_owned = true;
    scan.namespaces.extend(names.iter().cloned());
    let keys: Vec<Key> = names.iter().map(|n| Key::Ns { ns: n.clone() }).collect();
    let scope = Scope::Objects(keys.iter().cloned().collect());
    Ok(
        ChangeJob::new(format!("ns del {}", join(&names)), d, scope, scan)
            .teardown(keys)
            .with_ovs(None),
    )
}

pub(super) fn switch_add(r: &SwitchAdd) -> Result<ChangeJob, ChangeError> {
    let mut d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    let name: IfName = r.name.parse()?;
    if let Some(db) = &r.ovsdb {
        names::ovsdb_addr(db)?;
    }
    let loc = match &r.netns {
        Some(n) => Loc::Ns(n.parse()?),
        None => Loc::Host,
    };
    let addrs: Vec<Cidr> = parse_all(&r.ip)?;
    unique(&addrs, "address")?;
    let openflow = crate::model::openflow::OpenFlow::parse(
        &r.controller,
        r.fail_mode.as_deref(),
        &r.protocols,
        r.datapath_id.as_deref(),
    )?;
    if let Loc::Ns(n) = &loc {
        scan.namespaces.insert(n.clone());
    }
    scan.all_owned = true; // a bridge of that name elsewhere cannot move
    d.switches.insert(
        name.clone(),
        SwitchSpec {
            // decided at run time by pick_backend
            backend: Backend::Bridge,
            loc,
            addrs,
            datapath: r.datapath.map(|d| d.as_str().to_string()),
            ovsdb: r.ovsdb.clone(),
            openflow,
            // flows of `swctl flow add` are not a switch's declared ones
            flows: vec![],
            spanning: None,
            mirrors: vec![],
        },
    );
    let mut job =
        ChangeJob::new(format!("switch add {name}"), d, Scope::Nothing, scan).with_ovs(None);
    // an OVSDB server named for the switch means OVS
    job.pick_backend = Some(r.backend);
    if r.backend.is_none() && r.ovsdb.is_some() {
        job.pick_backend = Some(Some(BackendChoice::Ovs));
        job.backend_reason = Some("--ovsdb".into());
    }
    // OpenFlow settings mean OVS
    if r.backend.is_none()
        && job
            .desired
            .switches
            .values()
            .any(|s| s.openflow != Default::default())
    {
        job.pick_backend = Some(Some(BackendChoice::Ovs));
        job.backend_reason = Some(
            "OpenFlow settings (--controller, --fail-mode, --protocols, --datapath-id)".into(),
        );
    }
    Ok(job)
}

pub(super) fn switch_del(r: &SwitchDel) -> Result<ChangeJob, ChangeError> {
    let explicit = r.backend.map(Backend::from);
    let d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    let names: Vec<IfName> = parse_all(&r.names)?;
    unique(&names, "switch")?;
    scan.all_owned = true;
    let keys: Vec<Key> = names
        .iter()
        .map(|n| Key::Switch { name: n.clone() })
        .collect();
    let scope = Scope::Objects(keys.iter().cloned().collect());
    Ok(
        ChangeJob::new(format!("switch del {}", join(&names)), d, scope, scan)
            .teardown(keys)
            .with_ovs(explicit.map(|b| (names[0].clone(), b))),
    )
}

pub(super) fn attach(a: &Attach) -> Result<ChangeJob, ChangeError> {
    let explicit = a.backend.map(Backend::from);
    let mut d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    let ns: NsName = a.ns.parse()?;
    let switch: IfName = a.switch.parse()?;
    let addrs: Vec<Cidr> = parse_all(&a.ip)?;
    unique(&addrs, "address")?;
    let ifname = a.ifname.as_deref().map(IfName::from_str).transpose()?;
    if ifname.as_ref().is_some_and(|n| n.as_str() == "lo") {
        return Err(ChangeError::Usage(
            "`lo` is the namespace's loopback; choose another --ifname".into(),
        ));
    }
    let via = Via::from(a.via);
    scan.switch = Some(switch.clone());
    scan.namespaces.insert(ns.clone());
    d.ports.push(PortSpec {
        ns: ns.clone(),
        switch: switch.clone(),
        ifname,
        via,
        vlan: check_vlan(a.vlan)?,
        end: EndSpec {
            addrs,
            mtu: check_mtu(a.mtu)?,
            impair: None,
        },
    });
    // of the host: the switch, how many ports it has (its limit), and this
    // port's own switch end (by name: it may be there and no port) — not
    // every device beside them
    scan.host_part = Some(Part {
        devices: [switch.to_string(), d.ports[0].switch_end_name().to_string()].into(),
        counted: [switch.to_string()].into(),
    });
    Ok(
        ChangeJob::new(format!("attach {ns} {switch}"), d, Scope::Nothing, scan)
            .with_ovs(explicit.map(|b| (switch.clone(), b)))
            .replacing(a.replace),
    )
}

pub(super) fn detach(r: &Detach) -> Result<ChangeJob, ChangeError> {
    let explicit = r.backend.map(Backend::from);
    let d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    let ns: NsName = r.ns.parse()?;
    let switch: IfName = r.switch.parse()?;
    scan.switch = Some(switch.clone());
    scan.namespaces.insert(ns.clone());
    let key = Key::Port {
        ns: ns.clone(),
        switch: switch.clone(),
    };
    let scope = Scope::Objects([key.clone()].into());
    Ok(
        ChangeJob::new(format!("detach {ns} {switch}"), d, scope, scan)
            .teardown(vec![key])
            .with_ovs(explicit.map(|b| (switch.clone(), b))),
    )
}

pub(super) fn link(l: &Link) -> Result<ChangeJob, ChangeError> {
    let mut d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    let a: Loc = l.a.parse()?;
    let b: Loc = l.b.parse()?;
    let a_addrs: Vec<Cidr> = parse_all(&l.ip_a)?;
    let b_addrs: Vec<Cidr> = parse_all(&l.ip_b)?;
    let mut all = a_addrs.clone();
    all.extend(b_addrs.iter().cloned());
    unique(&all, "address")?;
    let a_ifname = l.ifname_a.as_deref().map(IfName::from_str).transpose()?;
    let b_ifname = l.ifname_b.as_deref().map(IfName::from_str).transpose()?;
    locs_to_scan(&mut scan, &[&a, &b]);
    d.links.push(LinkSpec {
        a: a.clone(),
        b: b.clone(),
        a_ifname,
        b_ifname,
        a_end: EndSpec {
            addrs: a_addrs,
            mtu: check_mtu(l.mtu)?,
            impair: None,
        },
        b_end: EndSpec {
            addrs: b_addrs,
            mtu: check_mtu(l.mtu)?,
            impair: None,
        },
    });
    Ok(ChangeJob::new(format!("link {a} {b}"), d, Scope::Nothing, scan).replacing(l.replace))
}

pub(super) fn unlink(r: &Unlink) -> Result<ChangeJob, ChangeError> {
    let d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    let a: Loc = r.a.parse()?;
    let b: Loc = r.b.parse()?;
    locs_to_scan(&mut scan, &[&a, &b]);
    let key = Key::link(&a, &b);
    let scope = Scope::Objects([key.clone()].into());
    Ok(ChangeJob::new(format!("unlink {a} {b}"), d, scope, scan).teardown(vec![key]))
}

pub(super) fn route(r: &Route, add: bool) -> Result<ChangeJob, ChangeError> {
    let mut d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    if r.word != "via" {
        return Err(ChangeError::Usage(format!(
            "expected `via` after the destination, found {:?}: swctl route add|del NS DEST via GATEWAY",
            r.word
        )));
    }
    let ns: NsName = r.ns.parse()?;
    let dest: RouteDest = r.dest.parse()?;
    let via = parse_ip(&r.gw)?;
    if let RouteDest::Net(c) = dest
        && c.addr.is_ipv4() != via.is_ipv4()
    {
        return Err(ChangeError::Usage(format!(
            "{dest} and gateway {via} are of different IP families"
        )));
    }
    scan.namespaces.insert(ns.clone());
    if add {
        d.namespaces.insert(
            ns.clone(),
            NsSpec {
                forward: None,
                routes: vec![RouteSpec { dest, via }],
                ..Default::default()
            },
        );
        let mut job = ChangeJob::new(
            format!("route add {ns} {dest} via {via}"),
            d,
            Scope::Nothing,
            scan,
        );
        job.must_exist = vec![Key::Ns { ns }];
        Ok(job)
    } else {
        let key = Key::Route {
            ns: ns.clone(),
            dest,
            via,
        };
        let scope = Scope::Objects([key.clone()].into());
        let mut job = ChangeJob::new(format!("route del {ns} {dest} via {via}"), d, scope, scan);
        job.must_exist = vec![Key::Ns { ns }, key];
        Ok(job)
    }
}

pub(super) fn forward(r: &Forward) -> Result<ChangeJob, ChangeError> {
    let mut d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    let ns: NsName = r.ns.parse()?;
    let on = r.state == OnOff::On;
    scan.namespaces.insert(ns.clone());
    scan.forward.insert(ns.clone());
    d.namespaces.insert(
        ns.clone(),
        NsSpec {
            forward: Some(on),
            ..Default::default()
        },
    );
    let what = format!("forward {ns} {}", if on { "on" } else { "off" });
    let mut job = ChangeJob::new(what, d, Scope::Nothing, scan);
    job.must_exist = vec![Key::Ns { ns }];
    Ok(job)
}
