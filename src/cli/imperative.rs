//! The imperative commands (`ns`, `switch`, `attach`, `detach`, `link`,
//! `unlink`, `route`, `forward`): each validated into a desired state and a
//! scope for the planner, then observed, planned and applied like a
//! topology.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Instant;

use serde_json::json;

use super::args::{BackendArg, Cli, Cmd, NsCmd, OnOff, RouteCmd, SwitchCmd, ViaArg};
use super::render::{change_output, join};
use super::{CliError, Job, Output};
use crate::effect::apply::apply;
use crate::effect::observe::{Scan, observe};
use crate::effect::system::System;
use crate::model::names::{
    self, Cidr, IfName, InvalidInput, Loc, NsName, Owner, RouteDest, parse_ip,
};
use crate::model::{
    Backend, Desired, Key, LinkSpec, NsSpec, Observed, PortSpec, RouteSpec, SwitchSpec, Via,
};
use crate::plan::switch::find_switch;
use crate::plan::{PlanError, Scope, plan};

fn parse_all<T: FromStr<Err = InvalidInput>>(v: &[String]) -> Result<Vec<T>, InvalidInput> {
    v.iter().map(|s| s.parse()).collect()
}

fn unique<T: Ord + Clone + std::fmt::Display>(v: &[T], what: &str) -> Result<(), CliError> {
    let mut seen = BTreeSet::new();
    for x in v {
        if !seen.insert(x.clone()) {
            return Err(CliError::Usage(format!("{what} {x} is given twice")));
        }
    }
    Ok(())
}

/// The backend for a new switch, and why it was chosen.
async fn choose_backend(
    arg: Option<BackendArg>,
    k: &System,
) -> Result<(Backend, String), CliError> {
    if let Some(b) = arg {
        return Ok((b.into(), "--backend".into()));
    }
    if let Ok(s) = std::env::var("SWCTL_BACKEND") {
        let b: Backend = s
            .parse()
            .map_err(|e| CliError::Usage(format!("$SWCTL_BACKEND: {e}")))?;
        return Ok((b, "$SWCTL_BACKEND".into()));
    }
    match &k.ovs.default {
        Ok(o) => Ok((
            Backend::Ovs,
            format!("an OVSDB server answers at {}", o.client.addr()),
        )),
        Err(_) => Ok((Backend::Bridge, "no OVSDB server answers".into())),
    }
}

/// A validated command that changes the system: (desired, scope) for the
/// planner, and what to observe.
pub(super) struct ChangeJob {
    pub(super) what: String,
    pub(super) desired: Desired,
    pub(super) scope: Scope,
    pub(super) scan: Scan,
    /// teardown-like: keep going past failures, report them all
    pub(super) keep_going: bool,
    /// names that must exist for the command to make sense (del of a
    /// missing object is an error, as with `ip`)
    pub(super) must_exist: Vec<Key>,
    /// expected switch kind from an explicit --backend
    pub(super) backend_check: Option<(IfName, Backend)>,
    /// `switch add`: pick the backend at run time (it may ask OVSDB)
    pub(super) pick_backend: Option<Option<BackendArg>>,
    /// talk to OVSDB (commands that may involve an OVS switch)
    pub(super) ovs: bool,
    /// why the backend was picked, when not by the usual rules
    pub(super) backend_reason: Option<String>,
}

impl ChangeJob {
    pub(super) fn new(what: String, desired: Desired, scope: Scope, scan: Scan) -> ChangeJob {
        ChangeJob {
            what,
            desired,
            scope,
            scan,
            keep_going: false,
            must_exist: vec![],
            backend_check: None,
            pick_backend: None,
            ovs: false,
            backend_reason: None,
        }
    }
    fn teardown(mut self, must_exist: Vec<Key>) -> ChangeJob {
        self.keep_going = true;
        self.must_exist = must_exist;
        self
    }
    fn with_ovs(mut self, check: Option<(IfName, Backend)>) -> ChangeJob {
        self.ovs = true;
        self.backend_check = check;
        self
    }
}

fn locs_to_scan(scan: &mut Scan, locs: &[&Loc]) {
    for loc in locs {
        if let Loc::Ns(n) = loc {
            scan.namespaces.insert(n.clone());
        }
    }
}

/// The imperative command `cli` names, validated; None for the others.
pub(super) fn job(cli: &Cli) -> Result<Option<Job>, CliError> {
    let mut d = Desired::new(Owner::cli());
    let mut scan = Scan::default();
    let explicit = cli.backend.map(Backend::from);
    Ok(Some(match &cli.cmd {
        Cmd::Ns(NsCmd::Add { names }) => {
            let names: Vec<NsName> = parse_all(names)?;
            unique(&names, "namespace")?;
            for n in &names {
                d.namespaces.insert(n.clone(), NsSpec::default());
                scan.namespaces.insert(n.clone());
            }
            ChangeJob::new(format!("ns add {}", join(&names)), d, Scope::Nothing, scan).into()
        }
        Cmd::Ns(NsCmd::Del { names }) => {
            let names: Vec<NsName> = parse_all(names)?;
            unique(&names, "namespace")?;
            scan.all_owned = true;
            scan.namespaces.extend(names.iter().cloned());
            let keys: Vec<Key> = names.iter().map(|n| Key::Ns { ns: n.clone() }).collect();
            let scope = Scope::Objects(keys.iter().cloned().collect());
            ChangeJob::new(format!("ns del {}", join(&names)), d, scope, scan)
                .teardown(keys)
                .with_ovs(None)
                .into()
        }
        Cmd::Ns(NsCmd::List) => Job::NsList,
        Cmd::Ns(NsCmd::Exec { .. }) => {
            return Err(CliError::Usage("`ns exec` is run by main".into()));
        }
        Cmd::Switch(SwitchCmd::Add {
            name,
            netns,
            ips,
            datapath,
            ovsdb,
        }) => {
            let name: IfName = name.parse()?;
            if let Some(db) = ovsdb {
                names::ovsdb_addr(db)?;
            }
            let loc = match netns {
                Some(n) => Loc::Ns(n.parse()?),
                None => Loc::Host,
            };
            let addrs: Vec<Cidr> = parse_all(ips)?;
            unique(&addrs, "address")?;
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
                    datapath: datapath.map(|d| d.as_str().to_string()),
                    ovsdb: ovsdb.clone(),
                },
            );
            let mut job = ChangeJob::new(format!("switch add {name}"), d, Scope::Nothing, scan)
                .with_ovs(None);
            // an OVSDB server named for the switch means OVS
            job.pick_backend = Some(cli.backend);
            if cli.backend.is_none() && ovsdb.is_some() {
                job.pick_backend = Some(Some(BackendArg::Ovs));
                job.backend_reason = Some("--ovsdb".into());
            }
            job.into()
        }
        Cmd::Switch(SwitchCmd::Del { names }) => {
            let names: Vec<IfName> = parse_all(names)?;
            unique(&names, "switch")?;
            scan.all_owned = true;
            let keys: Vec<Key> = names
                .iter()
                .map(|n| Key::Switch { name: n.clone() })
                .collect();
            let scope = Scope::Objects(keys.iter().cloned().collect());
            ChangeJob::new(format!("switch del {}", join(&names)), d, scope, scan)
                .teardown(keys)
                .with_ovs(explicit.map(|b| (names[0].clone(), b)))
                .into()
        }
        Cmd::Switch(SwitchCmd::List) => Job::SwitchList,
        Cmd::Attach(a) => {
            let ns: NsName = a.ns.parse()?;
            let switch: IfName = a.switch.parse()?;
            let addrs: Vec<Cidr> = parse_all(&a.ips)?;
            unique(&addrs, "address")?;
            let ifname = a.ifname.as_deref().map(IfName::from_str).transpose()?;
            if ifname.as_ref().is_some_and(|n| n.as_str() == "lo") {
                return Err(CliError::Usage(
                    "`lo` is the namespace's loopback; choose another --ifname".into(),
                ));
            }
            let via = match a.via {
                ViaArg::Auto => Via::Auto,
                ViaArg::Veth => Via::Veth,
                ViaArg::Internal => Via::Internal,
            };
            scan.switch = Some(switch.clone());
            scan.namespaces.insert(ns.clone());
            d.ports.push(PortSpec {
                ns: ns.clone(),
                switch: switch.clone(),
                ifname,
                addrs,
                via,
                vlan: check_vlan(a.vlan)?,
                mtu: check_mtu(a.mtu)?,
            });
            ChangeJob::new(format!("attach {ns} {switch}"), d, Scope::Nothing, scan)
                .with_ovs(explicit.map(|b| (switch.clone(), b)))
                .into()
        }
        Cmd::Detach { ns, switch } => {
            let ns: NsName = ns.parse()?;
            let switch: IfName = switch.parse()?;
            scan.switch = Some(switch.clone());
            scan.namespaces.insert(ns.clone());
            let key = Key::Port {
                ns: ns.clone(),
                switch: switch.clone(),
            };
            let scope = Scope::Objects([key.clone()].into());
            ChangeJob::new(format!("detach {ns} {switch}"), d, scope, scan)
                .teardown(vec![key])
                .with_ovs(explicit.map(|b| (switch.clone(), b)))
                .into()
        }
        Cmd::Link(l) => {
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
                a_addrs,
                b_addrs,
                mtu: check_mtu(l.mtu)?,
            });
            ChangeJob::new(format!("link {a} {b}"), d, Scope::Nothing, scan).into()
        }
        Cmd::Unlink { a, b } => {
            let a: Loc = a.parse()?;
            let b: Loc = b.parse()?;
            locs_to_scan(&mut scan, &[&a, &b]);
            let key = Key::link(&a, &b);
            let scope = Scope::Objects([key.clone()].into());
            ChangeJob::new(format!("unlink {a} {b}"), d, scope, scan)
                .teardown(vec![key])
                .into()
        }
        Cmd::Route(rc) => {
            let (r, add) = match rc {
                RouteCmd::Add(r) => (r, true),
                RouteCmd::Del(r) => (r, false),
            };
            if r.via != "via" {
                return Err(CliError::Usage(format!(
                    "expected `via` after the destination, found {:?}: swctl route add|del NS DEST via GATEWAY",
                    r.via
                )));
            }
            let ns: NsName = r.ns.parse()?;
            let dest: RouteDest = r.dest.parse()?;
            let via = parse_ip(&r.gw)?;
            if let RouteDest::Net(c) = dest
                && c.addr.is_ipv4() != via.is_ipv4()
            {
                return Err(CliError::Usage(format!(
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
                    },
                );
                let mut job = ChangeJob::new(
                    format!("route add {ns} {dest} via {via}"),
                    d,
                    Scope::Nothing,
                    scan,
                );
                job.must_exist = vec![Key::Ns { ns }];
                job.into()
            } else {
                let key = Key::Route {
                    ns: ns.clone(),
                    dest,
                    via,
                };
                let scope = Scope::Objects([key.clone()].into());
                let mut job =
                    ChangeJob::new(format!("route del {ns} {dest} via {via}"), d, scope, scan);
                job.must_exist = vec![Key::Ns { ns }, key];
                job.into()
            }
        }
        Cmd::Forward { ns, state } => {
            let ns: NsName = ns.parse()?;
            let on = *state == OnOff::On;
            scan.namespaces.insert(ns.clone());
            scan.forward.insert(ns.clone());
            d.namespaces.insert(
                ns.clone(),
                NsSpec {
                    forward: Some(on),
                    routes: vec![],
                },
            );
            let what = format!("forward {ns} {}", if on { "on" } else { "off" });
            let mut job = ChangeJob::new(what, d, Scope::Nothing, scan);
            job.must_exist = vec![Key::Ns { ns }];
            job.into()
        }
        _ => return Ok(None),
    }))
}

async fn run_change(k: &System, mut job: ChangeJob) -> Result<Output, CliError> {
    for ns in job.desired.namespaces.keys() {
        job.scan.namespaces.insert(ns.clone());
    }
    let t0 = Instant::now();
    let o = observe(k, &job.scan).await.map_err(CliError::Observe)?;
    check_exists(&o, &job.must_exist)?;
    if let Some((sw, want)) = &job.backend_check
        && let Some((have, loc)) = find_switch(&o, sw.as_str())
        && *want != have
    {
        return Err(CliError::Usage(format!(
            "switch {sw} (in {loc}) is on the {have} backend, but --backend {want} was given"
        )));
    }
    let p = plan(&job.desired, &o, &job.scope)?;
    apply(k, &p, job.keep_going).await?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    Ok(change_output(&job.what, &p, ms))
}

fn check_mtu(m: Option<u32>) -> Result<Option<u32>, CliError> {
    Ok(m.map(|v| names::mtu(v.into())).transpose()?)
}

fn check_vlan(v: Option<u16>) -> Result<Option<u16>, CliError> {
    Ok(v.map(|x| names::vlan(x.into())).transpose()?)
}

/// A `del` of something that does not exist is an error, as with `ip`.
fn check_exists(o: &Observed, keys: &[Key]) -> Result<(), CliError> {
    for k in keys {
        let ok = match k {
            Key::Ns { ns } => o.namespaces.contains_key(ns),
            Key::Switch { name } => find_switch(o, name.as_str()).is_some(),
            Key::Port { ns, switch } => {
                if !o.namespaces.contains_key(ns) {
                    return Err(PlanError::UnknownNamespace(ns.clone()).into());
                }
                if find_switch(o, switch.as_str()).is_none() {
                    return Err(PlanError::UnknownSwitch(switch.clone()).into());
                }
                let ovs_port = o.ovs.as_ref().and_then(|s| s.bridge(switch.as_str())).is_some_and(|b| {
                    b.ports
                        .iter()
                        .any(|p| p.ns().as_ref() == Some(ns) && p.external_ids.get(crate::model::ovs::K_SWITCH) == Some(&switch.to_string()))
                });
                ovs_port || o.locs().any(|(_, st)| {
                    st.marked(|m| matches!(m, crate::model::Mark::Port { ns: n, sw, .. } if n == ns && sw == switch))
                        .next()
                        .is_some()
                })
            }
            Key::Route { ns, dest, via } => o
                .namespaces
                .get(ns)
                .is_some_and(|n| n.state.routes.iter().any(|r| &r.dest == dest && r.via == Some(*via))),
            Key::Link { a, b } => o.locs().any(|(_, st)| {
                st.marked(|m| matches!(m, crate::model::Mark::Link { a: x, b: y, .. } if Key::link(x, y) == Key::link(a, b)))
                    .next()
                    .is_some()
            }),
        };
        if !ok {
            return Err(match k {
                Key::Ns { ns } => PlanError::UnknownNamespace(ns.clone()),
                Key::Switch { name } => PlanError::UnknownSwitch(name.clone()),
                Key::Port { ns, switch } => PlanError::NotAttached(ns.clone(), switch.clone()),
                Key::Link { a, b } => PlanError::NoSuchLink(a.clone(), b.clone()),
                Key::Route { ns, dest, via } => PlanError::NoSuchRoute(ns.clone(), *dest, *via),
            }
            .into());
        }
    }
    Ok(())
}

/// Run an imperative command; `switch add` picks its backend first.
pub(super) async fn run(k: &System, mut job: ChangeJob) -> Result<Output, CliError> {
    let Some(arg) = job.pick_backend else {
        return run_change(k, job).await;
    };
    let (backend, mut why) = choose_backend(arg, k).await?;
    if let Some(r) = job.backend_reason.take() {
        why = r;
    }
    for s in job.desired.switches.values_mut() {
        s.backend = backend;
    }
    let mut out = run_change(k, job).await?;
    out.text = format!("backend: {backend} ({why})\n{}", out.text);
    out.json["backend"] = json!(backend);
    out.json["backend_reason"] = json!(why);
    Ok(out)
}
