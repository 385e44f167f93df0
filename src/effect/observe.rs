//! Observing the system into an `Observed`: the host namespace and the
//! namespaces asked for, dumped concurrently (a few dumps per namespace,
//! never one query per object), plus the OVSDB servers' state.

use std::collections::BTreeSet;

use super::{Effects, Namespaces, Netlink, NlError, StepError};
use crate::model::names::{IfName, Loc, NsName, Owner};
use crate::model::part::Part;
use crate::model::{Mark, NsObs, Observed};

/// What to observe.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// namespaces to dump (those that exist)
    pub namespaces: BTreeSet<NsName>,
    /// also every other namespace (any may be swctl's: only a dump of its
    /// `lo` tells)
    pub all_owned: bool,
    /// read ip_forward in these
    pub forward: BTreeSet<NsName>,
    /// find this switch: when it is neither in the host namespace nor in
    /// the namespaces above, look in every namespace swctl owns
    pub switch: Option<IfName>,
    /// the namespaces' devices only, no addresses or routes: enough to
    /// plan a teardown (1000 namespaces: one dump each instead of three)
    pub links_only: bool,
    /// an agent's own part (`LAB+MACHINE`): namespaces that are neither
    /// this part's nor named by it (other simulated machines and their
    /// hosts, of any lab, all under one /run/netns) are not on this machine
    pub machine_part: Option<Owner>,
    /// also the flows of every OVS bridge swctl made, over OpenFlow (a
    /// session per bridge): what a topology's plan compares and an export
    /// writes; not what an imperative command or a listing needs
    pub flows: bool,
    /// also which qdisc kinds the kernel has (a lab asks for impairments)
    pub qdisc_kinds: bool,
    /// the sysctls to read in each namespace (a lab's `sysctls`)
    pub sysctls: std::collections::BTreeMap<NsName, Vec<String>>,
    /// read only this part of the host's devices (`Part`: an imperative
    /// command that names what it touches), not the host's every device
    pub host_part: Option<Part>,
}

/// Dump the host namespace and the namespaces asked for, concurrently.
/// A few dumps per namespace, never one query per object.
pub async fn observe<S: Effects>(sys: &S, scan: &Scan) -> Result<Observed, StepError> {
    let mut o = observe_once(sys, scan).await?;
    if scan.qdisc_kinds {
        // a probe that cannot run refuses nothing: the kernel's answer to
        // the change itself is then the error
        o.qdisc_kinds = sys.qdisc_kinds().ok();
    }
    match sys.ovs_state().await? {
        Ok(mut st) => {
            if scan.flows {
                read_flows(sys, &mut st).await;
            }
            o.ovs = Some(st)
        }
        Err(why) => o.ovs_missing = Some(why),
    }
    match &scan.switch {
        Some(sw)
            if !scan.all_owned && crate::plan::switch::find_switch(&o, sw.as_str()).is_none() =>
        {
            let wider = Scan {
                all_owned: true,
                ..scan.clone()
            };
            let mut wide = observe_once(sys, &wider).await?;
            wide.ovs = o.ovs;
            wide.ovs_missing = o.ovs_missing;
            wide.qdisc_kinds = o.qdisc_kinds;
            Ok(wide)
        }
        _ => Ok(o),
    }
}

/// The flows of every bridge swctl made, over OpenFlow, all at once (a
/// bridge whose socket does not answer keeps `flows: None`).
async fn read_flows<S: super::FlowTables>(sys: &S, st: &mut crate::model::ovs::OvsState) {
    let reads = st.bridges.iter().map(|b| async move {
        if b.owner().is_some() {
            sys.flows(&b.db, &b.name).await.ok()
        } else {
            None
        }
    });
    let flows = futures::future::join_all(reads).await;
    for (b, f) in st.bridges.iter_mut().zip(flows) {
        b.flows = f;
    }
}

/// How many namespaces are dumped at once.
const DUMPS_AT_ONCE: usize = 64;

async fn observe_once<S: Netlink + Namespaces + super::HostRuns>(
    sys: &S,
    scan: &Scan,
) -> Result<Observed, NlError> {
    let existing = sys.list_ns()?;
    // every namespace may be swctl's: ownership is the mark on its `lo`,
    // which only a dump shows
    let wanted: Vec<NsName> = existing
        .into_iter()
        .filter(|n| scan.namespaces.contains(n) || scan.all_owned)
        .collect();
    let host = async {
        match &scan.host_part {
            Some(part) => sys.dump_part(&Loc::Host, part).await,
            None => sys.dump(&Loc::Host).await,
        }
    };
    // at most DUMPS_AT_ONCE namespaces' sockets open at a time, each closed
    // after its dump (measured, 1000 namespaces: peak RSS 78 MB with every
    // socket open, each with netlink-proto's 64 KB read buffer)
    let others = async {
        let mut out = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(DUMPS_AT_ONCE) {
            sys.prepare(chunk);
            let dumps = chunk.iter().map(|n| async move {
                let loc = Loc::Ns(n.clone());
                let r = if scan.links_only {
                    sys.dump_links(&loc).await
                } else {
                    sys.dump(&loc).await
                };
                sys.release(&loc);
                r
            });
            out.extend(futures::future::join_all(dumps).await);
        }
        out
    };
    let (host, others) = futures::join!(host, others);
    let mut o = Observed {
        host: host?,
        host_part: scan.host_part.is_some(),
        // the planner raises it for big segments (plan::host_limits)
        backlog: sys
            .sysctl(&Loc::Host, crate::model::BACKLOG_KEY)
            .ok()
            .and_then(|v| v.parse().ok()),
        ..Default::default()
    };
    let mut texts: std::collections::HashSet<std::sync::Arc<str>> = Default::default();
    for (n, st) in wanted.into_iter().zip(others) {
        let mut state = match st {
            Ok(s) => s,
            // deleted between the listing and the dump: it does not exist
            Err(NlError::Namespace(_)) => continue,
            Err(e) => return Err(e),
        };
        if scan.forward.contains(&n) {
            state.forward = Some(sys.forward(&n)?);
        }
        let keys = scan.sysctls.get(&n).map(Vec::as_slice).unwrap_or_default();
        let mut host = sys.read_host(&n, keys).await;
        // a lab's hosts all have the same hosts file: kept once
        if let Some(text) = host.hosts_file.take() {
            host.hosts_file = Some(match texts.get(&text) {
                Some(same) => same.clone(),
                None => {
                    texts.insert(text.clone());
                    text
                }
            });
        }
        // swctl's only when its `lo` says so: a namespace deleted by hand
        // and made again by someone else under the same name is not
        let owner = match state.link("lo").and_then(|l| l.mark.as_ref()) {
            Some(Mark::Ns { owner }) => Some(owner.clone()),
            _ => None,
        };
        // an agent's machine has only its own namespaces, and those its part
        // names (to see a look-alike it must not adopt): a simulated machine
        // sees every namespace under the shared /run/netns, other machines
        // and their hosts included, whoever made them
        if let Some(me) = &scan.machine_part
            && owner.as_ref() != Some(me)
            && !scan.namespaces.contains(&n)
        {
            continue;
        }
        let adopted = if owner.is_none() {
            super::kernel::adopt::adopted(&n)
        } else {
            None
        };
        o.namespaces.insert(
            n,
            NsObs {
                owner,
                state,
                adopted,
                host,
            },
        );
    }
    Ok(o)
}

/// Forget run state that no longer describes anything (call with a fresh
/// observation, under the lock): registry entries of namespaces that are
/// gone or are not swctl's (a look-alike made by someone else), and pending
/// marks no device needs any more.
pub fn prune_run_state(o: &Observed) {
    use super::kernel::netns;
    use super::paths::rewrite_pending;
    let existing: BTreeSet<NsName> = netns::list().unwrap_or_default().into_iter().collect();
    for n in netns::registry() {
        let stale =
            !existing.contains(&n) || o.namespaces.get(&n).is_some_and(|x| x.owner.is_none());
        if stale {
            netns::forget(&n);
        }
    }
    // a pending mark stays while its device may still need it: it exists
    // without its alias (or its location was not looked at and still exists)
    // (a device of the host not read, when only part of it was, may need it)
    rewrite_pending(|loc, dev, _| match loc.parse::<Loc>() {
        Ok(l) => match o.loc(&l).map(|st| st.link(dev)) {
            Some(Some(x)) => x.alias.is_none(),
            Some(None) => l == Loc::Host && o.host_part,
            None => matches!(&l, Loc::Ns(n) if existing.contains(n)),
        },
        Err(_) => false,
    });
}
