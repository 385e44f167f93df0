//! What swctl manages, as typed reports: `show [NAME]`, `switch list`,
//! `ns list` (read from one observation) and `labs` (the applied labs and
//! whether the system matches each). The CLI renders them; the API answers
//! with them (`show`, `labs.list`).

use serde::Serialize;

use crate::effect::Effects;
use crate::effect::kernel::netns;
use crate::lab;
use crate::model::names::{NsName, Owner};
use crate::model::{LinkObs, Mark, Observed, RouteObs};
use crate::plan::SwitchInfo;
use crate::plan::switch::all_switches;

/// A namespace swctl made, with its devices and routes.
#[derive(Debug, Clone, Serialize)]
pub struct ShownNs {
    pub name: NsName,
    pub owner: Option<String>,
    pub links: Vec<LinkObs>,
    pub routes: Vec<RouteObs>,
}

/// `show [NAME]`: swctl's namespaces, switches (with their ports) and
/// links on the host, or only what NAME is.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    pub namespaces: Vec<ShownNs>,
    pub switches: Vec<SwitchInfo>,
    pub host_links: Vec<LinkObs>,
}

/// `show NAME` of a name nothing of swctl's has.
#[derive(Debug, thiserror::Error)]
#[error("nothing of swctl's is named {0}: no namespace, switch or lab")]
pub struct NothingNamed(pub String);

/// What a device is to swctl, in words (` port of sw0`, ` link a<->b`).
pub fn mark_words(m: Option<&Mark>) -> String {
    match m {
        Some(Mark::Port { sw, .. }) => format!(" port of {sw}"),
        Some(Mark::Link { a, b, .. }) => format!(" link {a}<->{b}"),
        Some(Mark::Trunk {
            a, b, member: None, ..
        }) => format!(" trunk {a}<->{b}"),
        Some(Mark::Trunk {
            a,
            b,
            member: Some(m),
            ..
        }) => format!(" trunk {a}<->{b} (bond member {m})"),
        Some(Mark::Tunnel { sw, .. }) => format!(" tunnel of {sw}"),
        Some(Mark::Switch { .. }) => " switch".into(),
        Some(Mark::Ns { .. }) | None => String::new(),
    }
}

/// What a device's root qdisc does, in words (`show`): swctl's impairment,
/// or whose qdisc it is; nothing for the kernel's default.
pub fn qdisc_words(l: &crate::model::LinkObs) -> String {
    match &l.qdisc {
        None => String::new(),
        Some(q) if q.is_swctl() && q.config.is_some() => format!(" impaired: {}", q.words()),
        Some(q) => format!(" qdisc {}", q.words()),
    }
}

/// `swctl show [NAME]`: everything swctl manages, or what NAME is (a
/// namespace, a switch, a lab): a namespace with its devices and routes, a
/// switch with its ports and those ports' namespaces, a lab with all its
/// own.
pub fn show(o: &Observed, name: Option<&str>) -> Result<Shown, NothingNamed> {
    let is = |x: &str| name.is_none_or(|n| n == x);
    let lab_of = |owner: &str| owner.split('+').next().unwrap_or(owner).to_string();
    let switches: Vec<SwitchInfo> = owned_switches(o)
        .into_iter()
        .filter(|s| {
            is(&s.name)
                || s.owner.as_ref().is_some_and(|w| is(&lab_of(w.as_str())))
                || s.ports
                    .iter()
                    .any(|p| p.ns.as_ref().is_some_and(|n| is(n.as_str())))
        })
        .collect();
    let mut namespaces = Vec::new();
    for (n, obs) in &o.namespaces {
        let Some(owner) = &obs.owner else { continue };
        let via_switch = switches.iter().any(|s| {
            name.is_some_and(|f| s.name == f) && s.ports.iter().any(|p| p.ns.as_ref() == Some(n))
        });
        if !(is(n.as_str()) || is(&lab_of(owner.as_str())) || via_switch) {
            continue;
        }
        namespaces.push(ShownNs {
            name: n.clone(),
            owner: Some(owner.to_string()),
            links: obs.state.links.clone(),
            routes: obs.state.routes.clone(),
        });
    }
    let host_links: Vec<LinkObs> = o
        .host
        .links
        .iter()
        .filter(|l| match &l.mark {
            Some(m @ Mark::Link { a, b, .. }) => {
                name.is_none()
                    || is(&lab_of(m.owner().as_str()))
                    || is(&a.to_string())
                    || is(&b.to_string())
            }
            _ => false,
        })
        .cloned()
        .collect();
    if let Some(n) = name
        && namespaces.is_empty()
        && switches.is_empty()
        && host_links.is_empty()
    {
        return Err(NothingNamed(n.to_string()));
    }
    Ok(Shown {
        namespaces,
        switches,
        host_links,
    })
}

/// Every switch swctl made, on every backend.
fn owned_switches(o: &Observed) -> Vec<SwitchInfo> {
    sorted(all_switches(o))
        .into_iter()
        .filter(|s| s.owner.is_some())
        .collect()
}

/// Switches by name, then where they are.
fn sorted(mut v: Vec<SwitchInfo>) -> Vec<SwitchInfo> {
    v.sort_by(|a, b| (&a.name, a.loc.to_string()).cmp(&(&b.name, b.loc.to_string())));
    v
}

/// `swctl switch list`: every switch, swctl's and others'.
#[derive(Debug, Clone, Serialize)]
pub struct Switches {
    pub switches: Vec<SwitchInfo>,
}

pub fn switch_list(o: &Observed) -> Switches {
    Switches {
        switches: sorted(all_switches(o)),
    }
}

/// One namespace of /run/netns.
#[derive(Debug, Clone, Serialize)]
pub struct NsRow {
    pub name: NsName,
    /// made by swctl (its `lo` carries swctl's mark)
    pub swctl: bool,
    pub owner: Option<Owner>,
    /// a process's namespace given a name (`ns attach`)
    pub adopted_from: Option<u32>,
}

/// `swctl ns list`: every namespace of /run/netns.
#[derive(Debug, Clone, Serialize)]
pub struct Namespaces {
    pub namespaces: Vec<NsRow>,
}

/// `swctl ns list`: every namespace of /run/netns, swctl's marked (by the
/// mark on its `lo`, not by a record that may be stale).
pub fn ns_list(o: &Observed) -> Result<Namespaces, netns::NsError> {
    let mut namespaces = Vec::new();
    for n in netns::list()? {
        let owner = o.namespaces.get(&n).and_then(|x| x.owner.clone());
        let adopted_from = o.namespaces.get(&n).and_then(|x| x.adopted);
        namespaces.push(NsRow {
            name: n,
            swctl: owner.is_some(),
            owner,
            adopted_from,
        });
    }
    Ok(Namespaces { namespaces })
}

/// One applied lab.
#[derive(Debug, Clone, Serialize)]
pub struct LabRow {
    pub name: Owner,
    /// the file it was applied from
    pub file: String,
    pub hosts: usize,
    pub switches: usize,
    pub machines: usize,
    /// None: unknown (not root, its file unreadable, a machine not answering)
    pub in_sync: Option<bool>,
    /// `in sync`, `drift`, or why it is unknown
    pub state: String,
}

/// `swctl labs`.
#[derive(Debug, Clone, Serialize)]
pub struct Labs {
    /// always `"labs"`
    pub command: &'static str,
    pub labs: Vec<LabRow>,
}

/// One lab's row: its counts, and whether the system matches it (a
/// `status` without the details: for a lab over machines every machine's
/// agent is asked); `k`: None without root (the state is then unknown).
async fn row<S: Effects>(k: Option<&S>, name: &Owner) -> LabRow {
    let file = lab::registered_file(name).unwrap_or_default();
    let mut r = LabRow {
        name: name.clone(),
        file: file.clone(),
        hosts: 0,
        switches: 0,
        machines: 0,
        in_sync: None,
        state: String::new(),
    };
    let t = match lab::topology::load(std::path::Path::new(&file)) {
        Ok(t) => t,
        Err(e) => {
            r.state = format!("unknown: cannot read its file ({e})");
            return r;
        }
    };
    let d = &t.desired;
    (r.hosts, r.switches, r.machines) = (d.namespaces.len(), d.switches.len(), d.machines.len());
    let (in_sync, state) = match k {
        None => (None, "unknown: not root".to_string()),
        Some(k) if !d.machines.is_empty() => match lab::spread::status(k, d).await {
            Ok((local, runs)) => {
                let ok = local.is_empty() && runs.iter().all(|r| r.output["in_sync"] != false);
                (Some(ok), String::new())
            }
            Err(e) => (None, format!("unknown: {e}")),
        },
        Some(k) => match lab::plan_for(k, d).await {
            Ok((_, p)) => (Some(p.is_empty()), String::new()),
            Err(e) => (None, format!("unknown: {e}")),
        },
    };
    r.in_sync = in_sync;
    r.state = match in_sync {
        Some(true) => "in sync".to_string(),
        Some(false) => "drift".to_string(),
        None => state,
    };
    r
}

/// Every applied lab; `k`: None without root.
pub async fn labs<S: Effects>(k: Option<&S>) -> Labs {
    let mut labs = vec![];
    for name in lab::registered() {
        labs.push(row(k, &name).await);
    }
    Labs {
        command: "labs",
        labs,
    }
}
