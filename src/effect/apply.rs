//! Executing a `Plan` through the effect traits. Steps of one phase run
//! concurrently (the kernel serializes them under RTNL anyway, but the
//! round trips overlap and each namespace has its own socket); all OVSDB
//! changes of a phase go in one transaction per server; phases run in order.

use futures::future::join_all;

use super::{
    Effects, LinkChange, Namespaces, Netlink, NewLink, NlError, StepError, TrafficControl, Vxlan,
};
use crate::model::names::{Loc, NsName};
use crate::model::ovn::NbChange;
use crate::model::ovs::OvsChange;
use crate::plan::{Plan, Step};

/// Some steps failed. `done` steps had succeeded before.
#[derive(Debug, thiserror::Error)]
#[error("{} of the planned steps failed ({} done before); first: `{}`", .failures.len(), .done, .failures[0].0)]
pub struct ApplyError {
    pub done: usize,
    pub failures: Vec<(String, StepError)>,
}

/// Execute one step.
async fn run<S: Netlink + Namespaces + TrafficControl>(
    sys: &S,
    step: &Step,
) -> Result<(), NlError> {
    match step {
        Step::DelRoute { ns, dest, via } => sys.del_route(&Loc::Ns(ns.clone()), dest, via).await,
        Step::DelAddr { loc, dev, cidr } => sys.del_addr(loc, dev, cidr).await,
        Step::DeleteLink { loc, dev } => match sys.del_link(loc, dev).await {
            // already gone (its peer or namespace went first): the goal holds
            Err(NlError::Request { errno, .. }) if errno == libc::ENODEV => Ok(()),
            r => r,
        },
        Step::DeleteNs { ns } => sys
            .delete_ns(std::slice::from_ref(ns))
            .await
            .pop()
            .expect("one result per name"),
        Step::AwaitGone { .. } => unreachable!("handled per phase by await_gone"),
        Step::CreateNs { ns, owner } => sys
            .create_ns(std::slice::from_ref(ns), owner)
            .await
            .pop()
            .expect("one result per name"),
        Step::CreateVxlan {
            loc,
            name,
            vni,
            local,
            remote,
            master,
            mtu,
            mark,
            mac,
        } => {
            let dev = NewLink {
                loc,
                name: name.as_str(),
                alias: mark.to_alias(),
                mac: *mac,
                ipv6: false,
            };
            let vx = Vxlan {
                vni: *vni,
                local: *local,
                remote: *remote,
                master: master.as_ref().map(|m| m.as_str()),
                mtu: *mtu,
            };
            sys.add_vxlan(&dev, &vx).await
        }
        Step::AddFdb { loc, dev, dst } => sys.fdb(loc, dev, dst, true).await,
        Step::DelFdb { loc, dev, dst } => match sys.fdb(loc, dev, dst, false).await {
            Err(NlError::Request { errno, .. }) if errno == libc::ENOENT => Ok(()),
            r => r,
        },
        Step::CreateBridge {
            loc,
            name,
            mark,
            mac,
        } => {
            sys.add_bridge(&NewLink {
                loc,
                name: name.as_str(),
                alias: mark.to_alias(),
                mac: *mac,
                ipv6: true,
            })
            .await
        }
        Step::CreateVeth {
            loc,
            name,
            peer_loc,
            peer,
            master,
            mark,
            peer_mark,
            mac,
            peer_mac,
            ipv6,
            peer_ipv6,
        } => {
            let a = NewLink {
                loc,
                name: name.as_str(),
                alias: mark.to_alias(),
                mac: *mac,
                ipv6: *ipv6,
            };
            let b = NewLink {
                loc: peer_loc,
                name: peer.as_str(),
                alias: peer_mark.to_alias(),
                mac: *peer_mac,
                ipv6: *peer_ipv6,
            };
            sys.add_veth(&a, &b, master.as_ref().map(|m| m.as_str()))
                .await
        }
        Step::SetMaster { loc, dev, master } => {
            let c = LinkChange {
                master: Some(master.to_string()),
                ..Default::default()
            };
            sys.set_link(loc, dev, &c).await
        }
        Step::SetUp { loc, dev } => {
            sys.set_link(
                loc,
                dev,
                &LinkChange {
                    up: Some(true),
                    ..Default::default()
                },
            )
            .await
        }
        Step::AddAddr { loc, dev, cidr } => sys.add_addr(loc, dev, cidr).await,
        Step::SetMtu { loc, dev, mtu } => {
            sys.set_link(
                loc,
                dev,
                &LinkChange {
                    mtu: Some(*mtu),
                    ..Default::default()
                },
            )
            .await
        }
        Step::SetQdisc {
            loc, dev, qdisc, ..
        } => sys.set_qdisc(loc, dev, qdisc).await,
        Step::DelQdisc { loc, dev, .. } => sys.del_qdisc(loc, dev).await,
        Step::SetMac { loc, dev, mac } => {
            let c = LinkChange {
                mac: Some(*mac),
                ..Default::default()
            };
            sys.set_link(loc, dev, &c).await
        }
        Step::Announce { loc, dev, addrs } => {
            sys.announce(loc, dev, addrs.iter().any(|a| a.is_ipv6()))
                .await
        }
        Step::SetForward { ns, on } => sys.set_forward(ns, *on),
        Step::SetSysctl { loc, key, value } => sys.set_sysctl(loc, key, value),
        Step::AddRoute { ns, dest, via } => sys.add_route(&Loc::Ns(ns.clone()), dest, via).await,
        Step::MoveLink {
            from,
            dev,
            ns,
            name,
            mark,
        } => {
            sys.move_link(
                from,
                dev,
                &Loc::Ns(ns.clone()),
                name.as_str(),
                &mark.to_alias(),
            )
            .await
        }
        Step::TxCsumOff { ns, dev } => sys.set_tx_csum(&Loc::Ns(ns.clone()), dev, false).await,
        Step::OvsRxBuffer { dev } => sys.grow_ovs_rx_buffer(dev).await,
        Step::SetMark { loc, dev, mark } => {
            sys.set_link(
                loc,
                dev,
                &LinkChange {
                    alias: Some(mark.to_alias()),
                    ..Default::default()
                },
            )
            .await
        }
        Step::Ovs(_) | Step::Nb { .. } | Step::Flows(_) | Step::Host(_) => {
            unreachable!("OVSDB changes and flows are applied per phase in batches")
        }
    }
}

/// Execute a plan phase by phase. With `keep` (teardown), later phases
/// run even when a step failed, and every failure is reported.
pub async fn apply<S: Effects>(sys: &S, plan: &Plan, keep: bool) -> Result<usize, ApplyError> {
    apply_with(sys, plan, keep, &mut |_, _| {}).await
}

/// How many OVS port or bridge removals in a plan make their RCU grace
/// periods worth expediting (~14 ms a socket-read port here).
const EXPEDITE_FROM: usize = 8;

/// `apply`, calling `progress(done, total)` after each phase.
pub async fn apply_with<S: Effects>(
    sys: &S,
    plan: &Plan,
    keep_going: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize, ApplyError> {
    let mut done = 0;
    let mut failures = Vec::new();
    // many OVS ports let go of: ovs-vswitchd closes a socket per veth port,
    // each waiting for an RCU grace period (`kernel::rcu`: 250 hosts 3.9 s,
    // expedited 0.9 s); from the devices' deletion to the removal's end
    // (a bridge's removal takes all its ports: counted as many)
    let removals: usize = plan
        .steps
        .iter()
        .map(|s| match s {
            Step::Ovs(OvsChange::DelPort { .. }) => 1,
            Step::Ovs(OvsChange::DelBridge { .. }) => EXPEDITE_FROM,
            _ => 0,
        })
        .sum();
    let _fast = (removals >= EXPEDITE_FROM).then(|| sys.expedite_grace_periods());
    // the last step that uses each namespace's socket: the socket is closed
    // after that step's phase (each keeps a 64 KB read buffer: 2000
    // namespaces kept 72 MB open to the end of the apply)
    let mut last_use: std::collections::HashMap<&NsName, usize> = Default::default();
    for (k, s) in plan.steps.iter().enumerate() {
        for n in s.namespaces() {
            last_use.insert(n, k);
        }
    }
    let mut i = 0;
    while i < plan.steps.len() {
        let phase = plan.steps[i].phase();
        let end = plan.steps[i..]
            .iter()
            .position(|s| s.phase() != phase)
            .map_or(plan.steps.len(), |p| i + p);
        let steps = &plan.steps[i..end];
        i = end;
        // all OVS changes of the phase: one transaction, beside the netlink steps
        let changes: Vec<OvsChange> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Ovs(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        // and all Northbound changes of the phase: one per database
        let mut nb: std::collections::BTreeMap<&str, Vec<NbChange>> = Default::default();
        for s in steps {
            if let Step::Nb { nb: addr, change } = s {
                nb.entry(addr).or_default().push(change.clone());
            }
        }
        let others: Vec<&Step> = steps
            .iter()
            .filter(|s| {
                !matches!(
                    s,
                    Step::Ovs(_) | Step::Nb { .. } | Step::Flows(_) | Step::Host(_)
                )
            })
            .collect();
        // and each bridge's flows (one OpenFlow batch each), then what
        // hosts run (`host::with_flows`)
        let is = |f: fn(&Step) -> bool| steps.iter().filter(move |s| f(s));
        let batches: Vec<&Step> = is(|s| matches!(s, Step::Flows(_)))
            .chain(is(|s| matches!(s, Step::Host(_))))
            .collect();
        let ovs = async {
            if changes.is_empty() {
                Ok(())
            } else {
                sys.ovs_apply(&changes).await
            }
        };
        let nl = run_netlink(sys, &others);
        let fl = super::host::with_flows(sys, &batches);
        let t0 = std::time::Instant::now();
        let (ovs_res, results, flow_res) = futures::join!(ovs, nl, fl);
        for (s, r) in batches.iter().zip(flow_res) {
            match r {
                Ok(()) => {
                    tracing::info!("{s}");
                    done += 1
                }
                Err(e) => failures.push((s.to_string(), e)),
            }
        }
        tracing::debug!(
            phase,
            steps = steps.len(),
            ovs_changes = changes.len(),
            ms = t0.elapsed().as_secs_f64() * 1000.0,
            "phase applied"
        );
        for (s, r) in others.iter().zip(results) {
            match r {
                Ok(()) => {
                    // `swctl -v`: each change as its ip/ovs-vsctl command
                    tracing::info!("{s}");
                    done += 1
                }
                Err(e) => failures.push((s.to_string(), e.into())),
            }
        }
        for (addr, changes) in &nb {
            match sys.nb_apply(addr, changes).await {
                Ok(()) => {
                    for c in changes {
                        tracing::info!("{c}");
                    }
                    done += changes.len()
                }
                Err(e) => failures.push((
                    format!(
                        "one Northbound transaction at {addr} of {} change(s)",
                        changes.len()
                    ),
                    e.into(),
                )),
            }
        }
        match ovs_res {
            Ok(()) => {
                for c in &changes {
                    tracing::info!("{c}");
                }
                done += changes.len()
            }
            Err(e) => failures.push((super::ovs::transaction_text(&changes), e.into())),
        }
        for (n, _) in last_use.iter().filter(|(_, k)| **k < end) {
            sys.release(&Loc::Ns((*n).clone()));
        }
        last_use.retain(|_, k| *k >= end);
        progress(done, plan.steps.len());
        if !failures.is_empty() && !keep_going {
            break;
        }
    }
    sys.settle_marks(); // the marks written are not pending, whatever failed
    if failures.is_empty() {
        await_running(sys, plan).await;
        Ok(done)
    } else {
        Err(ApplyError { done, failures })
    }
}

/// Until the veth pairs made are operationally up (at most a second): the
/// end brought up first gets its queueing discipline only later, from the
/// kernel's link-watch work, and until then drops what it is given to send
/// (seen: a host pinged within a few ms of apply lost its first ARP reply,
/// 1 run in 10; after this wait, none in 30). One end is asked: the kernel
/// takes both ends of a pair in the same pass.
async fn await_running<S: Netlink>(sys: &S, plan: &Plan) {
    let mut left: Vec<(&Loc, &str)> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateVeth { loc, name, .. } => Some((loc, name.as_str())),
            _ => None,
        })
        .collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    while !left.is_empty() && tokio::time::Instant::now() < deadline {
        let res = join_all(left.iter().map(|(l, n)| sys.running(l, n))).await;
        // a device gone meanwhile is not waited for
        left = left
            .into_iter()
            .zip(res)
            .filter(|(_, r)| matches!(r, Ok(false)))
            .map(|(x, _)| x)
            .collect();
        if !left.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
    if !left.is_empty() {
        tracing::debug!(devices = left.len(), "veth ends not running after 1 s");
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in &plan.steps {
        if let Step::CreateVeth {
            loc: l @ Loc::Ns(_),
            ..
        } = s
            && seen.insert(l.clone())
        {
            sys.release(l);
        }
    }
}

/// The netlink and namespace steps of one phase, at once: namespace
/// creations and deletions each as one batch, awaited devices polled
/// together, every other step concurrently. One result per step, in order.
async fn run_netlink<S: Netlink + Namespaces + TrafficControl>(
    sys: &S,
    steps: &[&Step],
) -> Vec<Result<(), NlError>> {
    let of = |f: fn(&Step) -> bool| -> Vec<usize> {
        (0..steps.len()).filter(|&i| f(steps[i])).collect()
    };
    let creates = of(|s| matches!(s, Step::CreateNs { .. }));
    let deletes = of(|s| matches!(s, Step::DeleteNs { .. }));
    let awaits = of(|s| matches!(s, Step::AwaitGone { .. }));
    let rest = of(|s| {
        !matches!(
            s,
            Step::CreateNs { .. } | Step::DeleteNs { .. } | Step::AwaitGone { .. }
        )
    });
    let pick = |idx: &[usize]| idx.iter().map(|&i| steps[i]).collect::<Vec<_>>();
    let deleted: Vec<NsName> = deletes
        .iter()
        .filter_map(|&i| match steps[i] {
            Step::DeleteNs { ns } => Some(ns.clone()),
            _ => None,
        })
        .collect();
    let (c, d, a, r) = futures::join!(
        async {
            if creates.is_empty() {
                vec![]
            } else {
                create_namespaces(sys, &pick(&creates)).await
            }
        },
        async {
            if deleted.is_empty() {
                vec![]
            } else {
                sys.delete_ns(&deleted).await
            }
        },
        async {
            if awaits.is_empty() {
                vec![]
            } else {
                await_gone(sys, &pick(&awaits)).await
            }
        },
        join_all(rest.iter().map(|&i| run(sys, steps[i]))),
    );
    let mut out: Vec<Option<Result<(), NlError>>> = steps.iter().map(|_| None).collect();
    for (idx, results) in [(creates, c), (deletes, d), (awaits, a), (rest, r)] {
        for (i, res) in idx.into_iter().zip(results) {
            out[i] = Some(res);
        }
    }
    out.into_iter()
        .map(|r| r.expect("every step answered"))
        .collect()
}

/// All CreateNs steps of a phase in one batch (one thread creates them all).
async fn create_namespaces<S: Namespaces>(sys: &S, steps: &[&Step]) -> Vec<Result<(), NlError>> {
    // group by owner: a plan normally has just one
    let mut out: Vec<Option<Result<(), NlError>>> = steps.iter().map(|_| None).collect();
    let mut owners: Vec<_> = steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateNs { owner, .. } => Some(owner.clone()),
            _ => None,
        })
        .collect();
    owners.dedup();
    for owner in owners {
        let (idx, names): (Vec<usize>, Vec<NsName>) = steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Step::CreateNs { ns, owner: o } if o == &owner => Some((i, ns.clone())),
                _ => None,
            })
            .unzip();
        for (i, r) in idx.into_iter().zip(sys.create_ns(&names, &owner).await) {
            out[i] = Some(r);
        }
    }
    out.into_iter()
        .map(|r| r.expect("every step answered"))
        .collect()
}

/// How long the kernel gets to free deleted namespaces and their devices.
const AWAIT_GONE: std::time::Duration = std::time::Duration::from_secs(5);
/// How often a full dump checks whether the awaited devices are going.
const STALL_CHECK: std::time::Duration = std::time::Duration::from_millis(100);
/// How long nothing may go before the rest are deleted one by one (the
/// kernel's cleanup of 2000 namespaces frees devices in batches well within
/// it).
const STALLED: std::time::Duration = std::time::Duration::from_millis(500);

/// Poll (one dump per namespace per round) until the awaited devices are
/// gone; past the deadline, delete the stragglers explicitly.
async fn await_gone<S: Netlink + Namespaces>(sys: &S, steps: &[&Step]) -> Vec<Result<(), NlError>> {
    let mut by_loc: std::collections::BTreeMap<Loc, Vec<&str>> = Default::default();
    for s in steps {
        if let Step::AwaitGone { loc, dev } = s {
            by_loc.entry(loc.clone()).or_default().push(dev);
        }
    }
    let deadline = tokio::time::Instant::now() + AWAIT_GONE;
    let mut failed: Vec<(Loc, String, NlError)> = vec![];
    for (loc, devs) in by_loc {
        let mut left: Vec<&str> = devs;
        let mut last_dump = tokio::time::Instant::now();
        let mut progress = tokio::time::Instant::now();
        let mut deadline = deadline;
        loop {
            // Wait on one device with a look-up, then dump: the kernel frees
            // a batch of namespaces' devices together, and a full dump of
            // the namespace (1000 devices) every few ms competes for RTNL
            // with the very cleanup it waits for, where a look-up is cheap.
            // A dump at least every 100 ms tells whether anything goes.
            if let Some(last) = left.last()
                && last_dump.elapsed() < STALL_CHECK
            {
                match sys.has_link(&loc, last).await {
                    Ok(true) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        continue;
                    }
                    _ => {}
                }
            }
            last_dump = tokio::time::Instant::now();
            let before = left.len();
            match sys.dump(&loc).await {
                Ok(st) => {
                    let there: std::collections::HashSet<&str> =
                        st.links.iter().map(|l| l.name.as_str()).collect();
                    left.retain(|d| there.contains(d));
                }
                // the namespace itself is gone: so is everything in it
                Err(_) => left.clear(),
            }
            if left.is_empty() {
                break;
            }
            // Nothing went for a while: the peers' namespaces are kept alive
            // by something (a process left in one, a socket still closing:
            // seen after cross-machine TCP, 5 s): delete them now.
            if left.len() < before {
                progress = tokio::time::Instant::now();
            } else if progress.elapsed() >= STALLED {
                tracing::debug!(%loc, left = left.len(), "awaited devices stalled: deleting them");
                deadline = tokio::time::Instant::now();
            }
            if tokio::time::Instant::now() >= deadline {
                for d in &left {
                    match sys.del_link(&loc, d).await {
                        Ok(()) => {}
                        Err(NlError::Request { errno, .. }) if errno == libc::ENODEV => {}
                        Err(e) => failed.push((loc.clone(), d.to_string(), e)),
                    }
                }
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    steps
        .iter()
        .map(|s| match s {
            Step::AwaitGone { loc, dev } => {
                match failed.iter().position(|(l, d, _)| l == loc && d == dev) {
                    Some(i) => Err(failed.remove(i).2),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        })
        .collect()
}
