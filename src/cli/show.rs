//! `swctl show`, `switch list`, `ns list`: what swctl manages, read from
//! one observation.

use serde::Serialize;
use serde_json::json;

use super::render::{join, port_line, switch_line};
use super::{CliError, Output};
use crate::effect::kernel::netns;
use crate::model::Observed;
use crate::model::names::NsName;
use crate::plan::SwitchInfo;
use crate::plan::switch::all_switches;

#[derive(Serialize)]
struct ShowNs {
    name: NsName,
    owner: Option<String>,
    links: Vec<crate::model::LinkObs>,
    routes: Vec<crate::model::RouteObs>,
}

/// `swctl show [NAME]`: everything swctl manages, or what NAME is (a
/// namespace, a switch, a lab): a namespace with its devices and routes, a
/// switch with its ports and those ports' namespaces, a lab with all its
/// own.
pub(super) fn show(o: &Observed, name: Option<&str>) -> Result<Output, CliError> {
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
    let mut text = String::new();
    let mut nss = Vec::new();
    for (n, obs) in &o.namespaces {
        let Some(owner) = &obs.owner else { continue };
        let via_switch = switches.iter().any(|s| {
            name.is_some_and(|f| s.name == f) && s.ports.iter().any(|p| p.ns.as_ref() == Some(n))
        });
        if !(is(n.as_str()) || is(&lab_of(owner.as_str())) || via_switch) {
            continue;
        }
        text.push_str(&format!("namespace {n} (owner {owner})\n"));
        for l in &obs.state.links {
            let what = match &l.mark {
                Some(crate::model::Mark::Port { sw, .. }) => format!(" port of {sw}"),
                Some(crate::model::Mark::Link { a, b, .. }) => format!(" link {a}<->{b}"),
                Some(crate::model::Mark::Trunk { a, b, .. }) => format!(" trunk {a}<->{b}"),
                Some(crate::model::Mark::Tunnel { sw, .. }) => format!(" tunnel of {sw}"),
                Some(crate::model::Mark::Switch { .. }) => " switch".into(),
                Some(crate::model::Mark::Ns { .. }) | None => String::new(),
            };
            text.push_str(&format!(
                "  {:<15} {:<8} {:<4} {}{}\n",
                l.name,
                l.kind.as_deref().unwrap_or("-"),
                if l.up { "up" } else { "down" },
                join(&l.addrs),
                what
            ));
        }
        for r in &obs.state.routes {
            if let Some(via) = r.via {
                text.push_str(&format!("  route {} via {via}\n", r.dest));
            }
        }
        nss.push(ShowNs {
            name: n.clone(),
            owner: Some(owner.to_string()),
            links: obs.state.links.clone(),
            routes: obs.state.routes.clone(),
        });
    }
    for s in &switches {
        text.push_str(&format!("switch {}\n", switch_line(s)));
        for p in &s.ports {
            text.push_str(&format!("  {}\n", port_line(p)));
        }
    }
    let host_links: Vec<_> = o
        .host
        .links
        .iter()
        .filter(|l| match &l.mark {
            Some(m @ crate::model::Mark::Link { a, b, .. }) => {
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
        && nss.is_empty()
        && switches.is_empty()
        && host_links.is_empty()
    {
        return Err(CliError::NotFound(format!(
            "nothing of swctl's is named {n}: no namespace, switch or lab"
        )));
    }
    for l in &host_links {
        text.push_str(&format!(
            "host link {} {} {}\n",
            l.name,
            if l.up { "up" } else { "down" },
            join(&l.addrs)
        ));
    }
    Ok(Output {
        text: text.trim_end().to_string(),
        json: json!({"namespaces": nss, "switches": switches, "host_links": host_links}),
        code: 0,
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
pub(super) fn switch_list(o: &Observed) -> Output {
    let sw = sorted(all_switches(o));
    Output {
        text: sw.iter().map(switch_line).collect::<Vec<_>>().join("\n"),
        json: json!({ "switches": sw }),
        code: 0,
    }
}

/// `swctl ns list`: every namespace of /run/netns, swctl's marked (by the
/// mark on its `lo`, not by a record that may be stale).
pub(super) fn ns_list(o: &Observed) -> Result<Output, CliError> {
    let mut lines = Vec::new();
    let mut arr = Vec::new();
    for n in netns::list()? {
        let owner = o.namespaces.get(&n).and_then(|x| x.owner.clone());
        let adopted = o.namespaces.get(&n).and_then(|x| x.adopted);
        lines.push(match (&owner, adopted) {
            (Some(o), _) => format!("{n}  (swctl, owner {o})"),
            (None, Some(pid)) => format!("{n}  (adopted from process {pid})"),
            (None, None) => n.to_string(),
        });
        arr.push(json!({"name": n, "swctl": owner.is_some(),
            "owner": owner.map(|o| o.to_string()), "adopted_from": adopted}));
    }
    Ok(Output {
        text: lines.join("\n"),
        json: json!({"namespaces": arr}),
        code: 0,
    })
}

/// Without root only the host's namespace is read: said after the output
/// (and as `"partial"` in the JSON).
pub(super) fn unprivileged_note(mut out: Output, root: bool) -> Output {
    if !root {
        let note = "(not root: only the host's namespace was read; what is inside the other namespaces, and their owners, needs root)";
        if !out.text.is_empty() {
            out.text.push('\n');
        }
        out.text.push_str(note);
        out.json["partial"] = json!(note);
    }
    out
}
