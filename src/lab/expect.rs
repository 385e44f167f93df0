//! What a topology says must (or must not) answer, in its own words
//! (`[[expect]] from = "h1", to = "h3", within = "30s"`): probes `check`
//! adds to those it derives — or overrules them with — for labs whose
//! routes come from daemons the derivation cannot see; each may take up to
//! its bound to come true (a routing protocol converging), and is tried
//! again until then.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::probes::{Expect, Outcome, Probe, judge};
use super::reach::Net;
use crate::model::Desired;

/// What `check` says of a lab whose hosts run processes (routing daemons
/// among them, maybe) when its derivation finds pairs that cannot work.
pub const DAEMONS: &str = "what cannot work is judged by the file's static routes; routes a host's daemons add are not derived: say what must reach with [[expect]] (from, to, within)";

/// How long an expectation may take when the file does not say.
pub const WITHIN: Duration = Duration::from_secs(30);

/// The address `to` names: an address, or a name of the lab's hosts
/// (its first address, as the hosts file gives it first).
pub fn target(d: &Desired, to: &str) -> Option<IpAddr> {
    if let Ok(ip) = to.parse() {
        return Some(ip);
    }
    crate::plan::host::names(d)
        .get(to)
        .and_then(|a| a.first().copied())
}

/// The file's expectations made probes: a derived probe of the same pair
/// takes the file's word; the others are added.
pub fn add(d: &Desired, net: &Net, probes: &mut Vec<Probe>) {
    for e in &d.expect {
        let Some(to) = target(d, &e.to) else {
            continue; // the validator said so
        };
        let expect = if e.reach {
            Expect::Reach
        } else {
            Expect::Isolated
        };
        if let Some(p) = probes.iter_mut().find(|p| p.from == e.from && p.to == to) {
            p.expect = expect;
            p.within = e.within;
            p.why = format!("expected ({})", p.why);
            continue;
        }
        probes.push(Probe {
            from: e.from.clone(),
            to,
            owner: net
                .owner_of(&to)
                .map_or_else(|| e.to.clone(), |f| f.owner.clone()),
            why: "expected in the file".into(),
            expect,
            neigh: vec![],
            pace: Duration::ZERO,
            min_rtt: Duration::ZERO,
            within: e.within,
        });
    }
}

/// Expectations that did not come true: tried again, each until its bound
/// (counted from the check's start) — what must answer until it does,
/// what must stay silent once more at the end.
pub async fn wait(out: &mut [Outcome], started: Instant) {
    loop {
        let pending: Vec<usize> = out
            .iter()
            .enumerate()
            .filter(|(_, o)| !o.ok && !o.probe.within.is_zero())
            .filter(|(_, o)| started.elapsed() < o.probe.within)
            .map(|(k, _)| k)
            .collect();
        if pending.is_empty() {
            return;
        }
        let pairs: Vec<_> = pending
            .iter()
            .map(|&k| (out[k].probe.from.clone(), out[k].probe.to, Duration::ZERO))
            .collect();
        let n = pairs.len();
        let res = tokio::task::spawn_blocking(move || {
            crate::effect::probe::ping_all(&pairs, Duration::from_millis(500))
        })
        .await
        .unwrap_or_else(|e| vec![Err(format!("probing failed: {e}")); n]);
        for (&k, r) in pending.iter().zip(res) {
            let o = &mut out[k];
            o.retried = true;
            let verdict = judge(
                o.probe.expect,
                r.as_ref().map(|d| *d).map_err(|e| e.as_str()),
                o.probe.min_rtt,
            );
            o.ok = verdict.is_ok();
            o.error = verdict.err().map(|e| {
                format!(
                    "{e} (still, {:.0} s after the check began)",
                    started.elapsed().as_secs_f64()
                )
            });
            o.rtt_ms = r.ok().map(|d| (d.as_secs_f64() * 1e6).round() / 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
