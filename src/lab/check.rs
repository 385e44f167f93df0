//! `swctl check`: the lab tested with real packets, against what the lab
//! itself promises (`reach`): every pair that must work is probed (ICMP
//! echo from inside the source namespace), every isolation the lab promises
//! (another VLAN or switch on the same subnet) is probed and fails the check
//! if it answers, and what a route points at but cannot work by design (no
//! route back, no forwarding) is reported as such, not probed.
//!
//! Big labs: the kernel's neighbour table is one table for all namespaces
//! (net.ipv4.neigh.default.gc_thresh3, 1024 by default); a probe needs an
//! entry at every hop, both ways. Probes run in waves that fit half of it,
//! the lab's namespaces' entries flushed between waves; and past a few
//! thousand pairs only a ring per segment plus one target per route is
//! probed (`--full`: every pair).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use super::reach::{Neigh, Net};
use crate::effect::{Netlink, NlError, probe};
use crate::model::Desired;
use crate::model::names::{Loc, NsName};

pub use super::probes::{Expect, Impossible, Outcome, Probe, judge};

/// The check to run.
#[derive(Debug, Clone, Default)]
pub struct CheckPlan {
    pub probes: Vec<Probe>,
    /// examples of what cannot work (one per pair of segments), and how many
    /// pairs in all
    pub impossible: Vec<Impossible>,
    pub impossible_total: usize,
    /// indexes into `probes`, one list per wave
    pub waves: Vec<Vec<usize>>,
    /// why not every pair is probed
    pub reduced: Option<String>,
    /// pairs not checked because their way crosses a switch OpenFlow
    /// programs (flows, a controller, fail_mode secure): what it forwards
    /// is the flows', not derived from the lab; and those switches
    pub unpromised: usize,
    pub programmed: Vec<String>,
}

/// The host's neighbour-table limit (gc_thresh3 of IPv4 and IPv6, the
/// smaller).
pub fn neighbour_limit() -> usize {
    let read = |f: &str| -> Option<usize> { std::fs::read_to_string(f).ok()?.trim().parse().ok() };
    let v4 = read("/proc/sys/net/ipv4/neigh/default/gc_thresh3").unwrap_or(1024);
    let v6 = read("/proc/sys/net/ipv6/neigh/default/gc_thresh3").unwrap_or(1024);
    v4.min(v6)
}

/// Time between first echoes, per member of the segments they resolve
/// neighbours on: 1000 members, 2 resolutions: 2 ms.
const PACE_PER_MEMBER: Duration = Duration::from_micros(1);

/// How long an isolated pair must stay silent.
const ISOLATION_WAIT: Duration = Duration::from_secs(1);

/// Past this many pairs, a ring per segment and one target per route.
const FULL_MESH_MAX: usize = 4000;

struct Planner<'a> {
    net: &'a Net,
    probes: Vec<Probe>,
    seen: BTreeSet<(NsName, IpAddr)>,
    isolation_seen: BTreeSet<(String, String)>,
    impossible: BTreeMap<(String, String), Impossible>,
    impossible_total: usize,
    /// segments on switches OpenFlow programs (`switch NAME ...`)
    programmed: BTreeSet<String>,
    unpromised: usize,
}

impl Planner<'_> {
    /// Consider `from` -> `to`: a probe, an isolation probe, or a pair that
    /// cannot work. Returns whether it became a probe that must reach.
    fn consider(&mut self, from: &NsName, to: IpAddr) -> bool {
        let Some(target) = self.net.owner_of(&to) else {
            return false;
        };
        if target.loc == Loc::Ns(from.clone()) || self.seen.contains(&(from.clone(), to)) {
            return false;
        }
        let Some((why, direct)) = self.net.reason(from, &to) else {
            return false; // `from` would never try it
        };
        let (owner, tseg) = (target.owner.clone(), target.seg.clone());
        // a way across a switch the flows decide: nothing to promise
        let programmed = |seg: &str| {
            self.programmed
                .iter()
                .any(|s| seg == s || seg.starts_with(&format!("{s} ")))
        };
        let crosses = match self.net.path(from, &to) {
            Ok(p) => p
                .neigh
                .iter()
                .any(|(_, a)| self.net.owner_of(a).is_some_and(|f| programmed(&f.seg))),
            Err(_) => false,
        };
        if crosses || programmed(&tseg) || programmed(&why) {
            self.seen.insert((from.clone(), to));
            self.unpromised += 1;
            return false;
        }
        match self.net.path(from, &to) {
            Ok(p) => {
                self.seen.insert((from.clone(), to));
                // the target's end both ways; the source's too when it is
                // on the same segment (a routed way's other hops only add)
                let source = direct
                    .then(|| self.net.local_segment(from, &to))
                    .flatten()
                    .map_or(0, |s| s.delay_out_us + s.delay_in_us);
                let us = target.delay_in_us + target.delay_out_us + source;
                self.probes.push(Probe {
                    from: from.clone(),
                    to,
                    owner,
                    why,
                    expect: Expect::Reach,
                    neigh: p.neigh,
                    pace: Duration::ZERO,
                    min_rtt: Duration::from_micros(us as u64),
                    within: Duration::ZERO,
                });
                true
            }
            Err(_) if direct && why != tseg => {
                // same subnet, another segment: the lab isolates them; one
                // probe per pair of segments
                if self.isolation_seen.insert((why.clone(), tseg.clone())) {
                    self.seen.insert((from.clone(), to));
                    self.probes.push(Probe {
                        from: from.clone(),
                        to,
                        owner,
                        why: format!("{why} / {tseg}"),
                        expect: Expect::Isolated,
                        neigh: vec![(Loc::Ns(from.clone()), to)],
                        pace: Duration::ZERO,
                        min_rtt: Duration::ZERO,
                        within: Duration::ZERO,
                    });
                }
                false
            }
            Err(because) => {
                self.impossible_total += 1;
                let from_seg = self
                    .net
                    .local_segment(from, &to)
                    .map(|f| f.seg.clone())
                    .unwrap_or_else(|| format!("{from} {why}"));
                self.impossible
                    .entry((from_seg, tseg))
                    .or_insert(Impossible {
                        from: from.clone(),
                        to,
                        owner,
                        why,
                        because,
                    });
                false
            }
        }
    }
}

/// Decide what to probe, and in which waves.
pub fn plan_check(d: &Desired, full: bool, neigh_limit: usize) -> CheckPlan {
    let net = Net::of(d);
    let sources = net.sources();
    let addrs: Vec<IpAddr> = net
        .ifaces
        .iter()
        .flat_map(|f| f.cidrs.iter().map(|c| c.addr))
        .collect();
    let mut pl = Planner {
        net: &net,
        probes: vec![],
        seen: BTreeSet::new(),
        isolation_seen: BTreeSet::new(),
        impossible: BTreeMap::new(),
        impossible_total: 0,
        programmed: d
            .switches
            .iter()
            .filter(|(_, s)| {
                !s.flows.is_empty()
                    || !s.openflow.controllers.is_empty()
                    || s.openflow.fail_mode == crate::model::openflow::FailMode::Secure
            })
            .map(|(n, _)| format!("switch {n}"))
            .collect(),
        unpromised: 0,
    };
    let pairs = sources.len() * addrs.len();
    let mut reduced = None;
    if full || pairs <= FULL_MESH_MAX {
        for s in &sources {
            for a in &addrs {
                pl.consider(s, *a);
            }
        }
    } else {
        // a ring per segment: each member to its next and previous one
        let mut segs: BTreeMap<&str, Vec<(Option<&NsName>, IpAddr)>> = BTreeMap::new();
        for f in &net.ifaces {
            for c in &f.cidrs {
                segs.entry(&f.seg).or_default().push((f.loc.ns(), c.addr));
            }
        }
        for members in segs.values() {
            let n = members.len();
            for (i, (from, _)) in members.iter().enumerate() {
                let Some(from) = from else { continue };
                for j in [(i + 1) % n, (i + n - 1) % n] {
                    pl.consider(from, members[j].1);
                }
            }
        }
        // every route of every source: one target that works through it (a
        // few tried), or one that shows why none can
        for s in &sources {
            let mut tried: BTreeMap<String, usize> = BTreeMap::new();
            for a in &addrs {
                let Some((why, false)) = net.reason(s, a) else {
                    continue;
                };
                let t = tried.entry(why).or_default();
                if *t == usize::MAX || *t >= 8 {
                    continue;
                }
                *t = if pl.consider(s, *a) {
                    usize::MAX
                } else {
                    *t + 1
                };
            }
        }
        reduced = Some(format!(
            "{} sources x {} addresses is more than {FULL_MESH_MAX} pairs: probing a ring per segment and one target per route ({} probes); --full probes every pair",
            sources.len(),
            addrs.len(),
            pl.probes.len()
        ));
    }
    let mut probes = pl.probes;
    probes.sort();
    // a broadcast reaches every member of its segment: pace by their number
    let mut seg_size: BTreeMap<&str, u32> = BTreeMap::new();
    for f in &net.ifaces {
        *seg_size.entry(&f.seg).or_default() += 1;
    }
    for p in probes.iter_mut() {
        let members: u32 = p
            .neigh
            .iter()
            .map(|(_, a)| net.owner_of(a).map_or(1, |f| seg_size[f.seg.as_str()]))
            .sum();
        p.pace = PACE_PER_MEMBER * members;
    }
    super::expect::add(d, &net, &mut probes);
    // a lab whose hosts run daemons may route otherwise than its file
    if !pl.impossible.is_empty() && d.namespaces.values().any(|n| !n.run.is_empty()) {
        reduced.get_or_insert_with(|| super::expect::DAEMONS.into());
    }
    let waves = waves(&probes, (neigh_limit / 2).max(16));
    CheckPlan {
        probes,
        impossible: pl.impossible.into_values().collect(),
        impossible_total: pl.impossible_total,
        unpromised: pl.unpromised,
        programmed: pl
            .programmed
            .iter()
            .map(|s| s.trim_start_matches("switch ").to_string())
            .collect(),
        waves,
        reduced,
    }
}

impl CheckPlan {
    /// Only the probes sent from `hosts` (a machine's agent checks from its
    /// own hosts; the coordinator merges the machines' results).
    pub fn only_from(mut self, hosts: &BTreeSet<NsName>, neigh_limit: usize) -> CheckPlan {
        self.probes.retain(|p| hosts.contains(&p.from));
        self.impossible.retain(|i| hosts.contains(&i.from));
        self.waves = waves(&self.probes, (neigh_limit / 2).max(16));
        self
    }
}

/// Group probes into waves whose neighbour entries fit `budget`.
fn waves(probes: &[Probe], budget: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![];
    let mut cur: Vec<usize> = vec![];
    let mut entries: BTreeSet<&Neigh> = BTreeSet::new();
    for (i, p) in probes.iter().enumerate() {
        let new = p.neigh.iter().filter(|e| !entries.contains(e)).count();
        if !cur.is_empty() && entries.len() + new > budget {
            out.push(std::mem::take(&mut cur));
            entries.clear();
        }
        entries.extend(p.neigh.iter());
        cur.push(i);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Run the check: wave after wave, the lab's neighbour entries flushed
/// between waves when there is more than one; `timeout` per wave, beyond
/// the longest round trip the lab's delays declare.
pub async fn run<S: Netlink>(
    sys: &S,
    plan: &CheckPlan,
    timeout: Duration,
) -> Result<Vec<Outcome>, NlError> {
    let timeout = timeout
        + plan
            .probes
            .iter()
            .map(|p| p.min_rtt)
            .max()
            .unwrap_or_default()
            * 2;
    let started = std::time::Instant::now();
    let mut out = Vec::with_capacity(plan.probes.len());
    let ns_of = |idx: &mut dyn Iterator<Item = usize>| -> BTreeSet<&Loc> {
        idx.flat_map(|i| plan.probes[i].neigh.iter().map(|(l, _)| l))
            .filter(|l| l.ns().is_some()) // never the host's own table
            .collect()
    };
    let waves = plan.waves.len() > 1;
    // namespaces whose tables the previous wave filled; at the start, every
    // namespace of the lab (what earlier traffic left there counts against
    // the same table)
    let mut dirty: BTreeSet<&Loc> = if waves {
        ns_of(&mut (0..plan.probes.len()))
    } else {
        BTreeSet::new()
    };
    for (w, wave) in plan.waves.iter().enumerate() {
        let locs = ns_of(&mut wave.iter().copied());
        if waves {
            let flush: Vec<&Loc> = dirty.union(&locs).copied().collect();
            flush_all(sys, &flush).await?;
        }
        dirty = locs;
        // a pair that must answer gets `timeout`; an isolated pair is done
        // once it stayed silent for ISOLATION_WAIT (both sets at once)
        let (reach, isolated): (Vec<usize>, Vec<usize>) = wave
            .iter()
            .partition(|&&i| plan.probes[i].expect == Expect::Reach);
        let (r1, r2) = futures::join!(
            ping(reach.iter().map(|&i| &plan.probes[i]), timeout),
            ping(
                isolated.iter().map(|&i| &plan.probes[i]),
                timeout.min(ISOLATION_WAIT)
            )
        );
        for (&i, r) in reach
            .iter()
            .chain(isolated.iter())
            .zip(r1.into_iter().chain(r2))
        {
            let p = plan.probes[i].clone();
            let verdict = judge(
                p.expect,
                r.as_ref().map(|d| *d).map_err(|e| e.as_str()),
                p.min_rtt,
            );
            let (ok, error) = (verdict.is_ok(), verdict.err());
            out.push(Outcome {
                rtt_ms: r.as_ref().ok().map(|d| ms3(*d)),
                probe: p,
                ok,
                error,
                wave: w,
                retried: false,
            });
        }
    }
    // A pair that stayed silent for the whole timeout is tried once more,
    // after the other waves: on a big segment a burst of broadcasts (e.g.
    // the IPv6 autoconfiguration of 1000 new interfaces right after apply)
    // overflows the receivers' backlog for seconds (measured: 1 of 2000
    // ring pairs lost). It fails only when it fails twice.
    let again: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.ok && o.probe.expect == Expect::Reach)
        .map(|(k, _)| k)
        .collect();
    if !again.is_empty() && again.len() <= plan.probes.len() / 10 + 8 {
        let locs = ns_of(&mut again.iter().map(|&k| plan_index(plan, &out[k].probe)));
        flush_all(sys, &dirty.union(&locs).copied().collect::<Vec<_>>()).await?;
        dirty = locs;
        let res = ping(again.iter().map(|&k| &out[k].probe), timeout).await;
        for (&k, r) in again.iter().zip(res) {
            let o = &mut out[k];
            o.retried = true;
            if let Ok(d) = r {
                let verdict = judge(o.probe.expect, Ok(d), o.probe.min_rtt);
                o.ok = verdict.is_ok();
                o.error = verdict.err();
                o.rtt_ms = Some(ms3(d));
            }
        }
    }
    // the file's expectations not yet true: tried until their bound
    super::expect::wait(&mut out, started).await;
    // leave the shared table as roomy as it was
    if waves {
        flush_all(sys, &dirty.into_iter().collect::<Vec<_>>()).await?;
    }
    Ok(out)
}

/// The index of `p` in the plan (probes are unique by source and target).
fn plan_index(plan: &CheckPlan, p: &Probe) -> usize {
    plan.probes
        .iter()
        .position(|q| q.from == p.from && q.to == p.to)
        .expect("a probe of this plan")
}

/// Ping `probes` (each first echo after the previous probe's pace), on a
/// blocking thread; a result per probe, in order.
async fn ping<'a>(
    probes: impl Iterator<Item = &'a Probe>,
    timeout: Duration,
) -> Vec<Result<Duration, String>> {
    let mut at = Duration::ZERO;
    let pairs: Vec<(NsName, IpAddr, Duration)> = probes
        .map(|p| {
            let start = at;
            at += p.pace;
            (p.from.clone(), p.to, start)
        })
        .collect();
    let n = pairs.len();
    tokio::task::spawn_blocking(move || probe::ping_all(&pairs, timeout))
        .await
        .unwrap_or_else(|e| vec![Err(format!("probing failed: {e}")); n])
}

async fn flush_all<S: Netlink>(sys: &S, locs: &[&Loc]) -> Result<(), NlError> {
    for r in futures::future::join_all(locs.iter().map(|l| sys.flush_neighbours(l))).await {
        match r {
            // a host on another machine (a machine's agent checks from its
            // own hosts; the answers come from everywhere)
            Err(NlError::Namespace(_)) => {}
            r => {
                r?;
            }
        }
    }
    Ok(())
}

/// A duration in milliseconds to the microsecond (`0.171`, not
/// `0.17141399999999998`).
fn ms3(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
