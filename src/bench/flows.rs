//! `swctl bench --flows N`: N flows on one OVS switch written by one
//! `swctl apply` (one OpenFlow batch closed by a barrier, after observing
//! and planning) against `ovs-ofctl add-flows` of the same N flows on a
//! twin bridge, both as a process run from here, in the same run, rounds
//! interleaved; each count checked with ovs-ofctl's dump.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::scale::median;
use super::{BenchError, fail, switch_name};

#[derive(Debug, Clone, Default, Serialize)]
pub struct FlowsReport {
    pub flows: usize,
    pub rounds: usize,
    /// median seconds of the `swctl apply` that writes the flows
    pub swctl_s: f64,
    /// median seconds of `ovs-ofctl -O OpenFlow13 add-flows BR FILE`
    pub ovs_ofctl_s: f64,
}

/// The i-th flow: a drop per destination, distinct matches.
fn flow(i: usize) -> String {
    format!(
        "priority={},ip,nw_dst=198.{}.{}.{} actions=drop",
        100 + i % 1000,
        18 + (i >> 16) % 2,
        (i >> 8) & 0xff,
        i & 0xff
    )
}

fn timed(c: &mut std::process::Command) -> Result<f64, BenchError> {
    let t = Instant::now();
    let out = c.output().map_err(fail)?;
    let s = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(fail(format!(
            "{:?} failed: {}",
            c,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(s)
}

/// How many flows ovs-ofctl sees on the bridge behind `mgmt`.
fn count(mgmt: &Path) -> Result<usize, BenchError> {
    let out = std::process::Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow13", "dump-flows"])
        .arg(mgmt)
        .output()
        .map_err(fail)?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("actions=drop"))
        .count())
}

pub fn run(
    exe: &Path,
    ovsdb: &str,
    n: usize,
    rounds: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<FlowsReport, BenchError> {
    let (a, b) = (
        format!("{}fa", switch_name()),
        format!("{}fb", switch_name()),
    );
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let (lab0, lab1, ofctl) = (
        dir.join(format!("swctl-flows-{pid}-0.toml")),
        dir.join(format!("swctl-flows-{pid}-1.toml")),
        dir.join(format!("swctl-flows-{pid}.flows")),
    );
    let name = format!("swbflows{}", pid % 10000);
    let head = format!("name = \"{name}\"\nbackend = \"ovs\"\n[switches.{b}]\n[switches.{a}]\n");
    let mut with = head.clone();
    with.push_str("flows = [\n");
    let mut file = String::new();
    for i in 0..n {
        let _ = writeln!(with, "  \"{}\",", flow(i));
        let _ = writeln!(file, "{}", flow(i));
    }
    with.push_str("]\n");
    std::fs::write(&lab0, head).map_err(fail)?;
    std::fs::write(&lab1, with).map_err(fail)?;
    std::fs::write(&ofctl, file).map_err(fail)?;
    let (ma, mb) = (
        crate::effect::openflow::mgmt_path(ovsdb, &a),
        crate::effect::openflow::mgmt_path(ovsdb, &b),
    );
    let swctl = |f: &Path, verb: &str| {
        let mut c = std::process::Command::new(exe);
        c.arg(verb).arg(f).env("SWCTL_OVSDB", ovsdb);
        c
    };
    let mut ours = vec![];
    let mut theirs = vec![];
    let result = (|| {
        for r in 1..=rounds {
            progress(&format!("flows: {n} flows, round {r}/{rounds}"));
            // the two bridges, no flows yet
            timed(&mut swctl(&lab0, "apply"))?;
            ours.push(timed(&mut swctl(&lab1, "apply"))?);
            theirs.push(timed(
                std::process::Command::new("ovs-ofctl")
                    .args(["-O", "OpenFlow13", "add-flows"])
                    .arg(&mb)
                    .arg(&ofctl),
            )?);
            let (ca, cb) = (count(&ma)?, count(&mb)?);
            if ca != n || cb != n {
                return Err(fail(format!(
                    "{n} flows written, {ca} on swctl's bridge and {cb} on ovs-ofctl's"
                )));
            }
            timed(&mut swctl(&lab1, "destroy"))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = swctl(&lab1, "destroy").output();
    }
    for f in [&lab0, &lab1, &ofctl] {
        let _ = std::fs::remove_file(f);
    }
    result?;
    Ok(FlowsReport {
        flows: n,
        rounds,
        swctl_s: median(ours),
        ovs_ofctl_s: median(theirs),
    })
}

pub fn table(r: &FlowsReport) -> String {
    format!(
        "{} flows on one OVS switch, median of {} round(s):\n  swctl apply (observe, plan, one OpenFlow batch and barrier): {:.3} s\n  ovs-ofctl -O OpenFlow13 add-flows (same flows, twin bridge):  {:.3} s\n  swctl / ovs-ofctl: {:.2}",
        r.flows,
        r.rounds,
        r.swctl_s,
        r.ovs_ofctl_s,
        if r.ovs_ofctl_s > 0.0 {
            r.swctl_s / r.ovs_ofctl_s
        } else {
            0.0
        }
    )
}
