//! `swctl bench`: arguments checked, wirings chosen (the OVS ones only
//! where an OVSDB server answers), rounds run, report rendered.

use super::args::BenchArgs;
use super::{CliError, Job, Output};
use crate::effect::system::System;

/// `swctl bench ARGS`, validated.
pub(super) fn job(b: &BenchArgs) -> Result<Job, CliError> {
    let mut wirings = Vec::new();
    for w in &b.wiring {
        let x = crate::bench::Wiring::parse(w).ok_or_else(|| {
            let all: Vec<&str> = crate::bench::Wiring::ALL.iter().map(|w| w.name()).collect();
            CliError::Usage(format!(
                "--wiring {w:?}: expected one of {}",
                all.join(", ")
            ))
        })?;
        if !wirings.contains(&x) {
            wirings.push(x);
        }
    }
    if b.scale.iter().any(|n| !(2..=4000).contains(n)) {
        return Err(CliError::Usage(
            "--scale sizes must be between 2 and 4000".into(),
        ));
    }
    if b.flows.is_some_and(|n| !(1..=100_000).contains(&n)) {
        return Err(CliError::Usage(
            "--flows must be between 1 and 100000".into(),
        ));
    }
    if !(2..=2000).contains(&b.hosts) {
        return Err(CliError::Usage("--hosts must be between 2 and 2000".into()));
    }
    if !(b.duration > 0.0 && b.duration <= 600.0)
        || b.streams == 0
        || b.streams > 64
        || b.repeat == 0
        || b.repeat > 100
    {
        return Err(CliError::Usage(
            "--duration must be in (0, 600] s, --streams in 1..=64, --repeat in 1..=100".into(),
        ));
    }
    if let Some(i) = &b.impair {
        crate::model::impair::Impair::from_pairs(i)
            .map_err(|e| CliError::Usage(format!("--impair: {e}")))?;
        if wirings.contains(&crate::bench::Wiring::OvsInternal) {
            return Err(CliError::Usage(
                "--impair: an OVS internal port has no device on the switch's side to shape; leave ovs-internal out".into(),
            ));
        }
    }
    Ok(Job::Bench(b.clone(), wirings))
}

pub(super) async fn run(
    k: &System,
    a: &BenchArgs,
    asked: Vec<crate::bench::Wiring>,
) -> Result<Output, CliError> {
    use crate::bench::{self, Wiring};
    use std::io::IsTerminal;
    let explicit = !asked.is_empty();
    let candidates = if explicit {
        asked
    } else {
        Wiring::ALL.to_vec()
    };
    let mut report = bench::Report {
        hosts: a.hosts,
        duration_s: a.duration,
        streams: a.streams,
        repeat: a.repeat,
        ..Default::default()
    };
    let impair = match &a.impair {
        Some(i) => {
            let i = crate::model::impair::Impair::from_pairs(i).map_err(CliError::Usage)?;
            // refused before any lab exists, as a plan would refuse it
            let k = crate::effect::TrafficControl::qdisc_kinds(k)
                .map_err(|e| CliError::Observe(e.into()))?;
            crate::plan::impair::given(&i, k, "--impair".into())?;
            Some(i)
        }
        None => None,
    };
    let mut wirings = Vec::new();
    for w in candidates {
        if impair.is_some() && w == Wiring::OvsInternal {
            report.skipped.push((
                w.name().to_string(),
                "an OVS internal port cannot be impaired (no device on the switch's side)".into(),
            ));
            continue;
        }
        if w.needs_ovs()
            && let Err(why) = &k.ovs.default
        {
            if explicit {
                return Err(CliError::Failed(format!(
                    "--wiring {}: no OVSDB server answers: {why}",
                    w.name()
                )));
            }
            report.skipped.push((
                w.name().to_string(),
                format!("no OVSDB server answers ({why})"),
            ));
            continue;
        }
        // the machines of ovs-vxlan start their own Open vSwitch
        if w == Wiring::OvsVxlan && !crate::effect::ovs::sandbox::installed() {
            let why = "Open vSwitch is not installed (ovs-vswitchd not found)";
            if explicit {
                return Err(CliError::Failed(format!("--wiring ovs-vxlan: {why}")));
            }
            report.skipped.push((w.name().to_string(), why.into()));
            continue;
        }
        if w == Wiring::Ovn && !std::path::Path::new("/usr/share/ovn/ovn-nb.ovsschema").exists() {
            let why = "OVN is not installed (Debian: ovn-central, ovn-host)";
            if explicit {
                return Err(CliError::Failed(format!("--wiring ovn: {why}")));
            }
            report.skipped.push((w.name().to_string(), why.into()));
            continue;
        }
        wirings.push(w);
    }
    if !a.scale.is_empty() {
        return scale(a, &wirings, &report.skipped);
    }
    if let Some(n) = a.flows {
        let ovsdb = k
            .ovs
            .default_addr()
            .ok_or_else(|| CliError::Failed("--flows: no OVSDB server answers".into()))?
            .to_string();
        let exe = std::env::current_exe()
            .map_err(|e| CliError::Failed(format!("cannot find the swctl binary: {e}")))?;
        let r = crate::bench::flows::run(&exe, &ovsdb, n, a.repeat, &mut |_| {})?;
        return Ok(Output {
            text: crate::bench::flows::table(&r),
            json: serde_json::to_value(&r).unwrap_or_default(),
            code: 0,
        });
    }
    report.wirings = wirings.iter().map(|w| w.name().to_string()).collect();
    report.conditions.kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    report.conditions.cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if let Ok(o) = &k.ovs.default
        && let Ok(st) = o.state().await
    {
        report.conditions.ovs_datapath = Some(st.datapath.clone());
        let v = st.vswitchd.get(&st.addr);
        report.conditions.ovs_tso = v.map(|v| v.tso);
        report.conditions.ovs_version = v.and_then(|v| v.version.clone());
    }
    let opts = bench::Options {
        wirings: wirings.clone(),
        hosts: a.hosts,
        duration: std::time::Duration::from_secs_f64(a.duration),
        streams: a.streams,
        repeat: a.repeat,
        setup_only: a.setup_only,
        compare_shell: a.compare_shell,
        ovsdb: k.ovs.default_addr().unwrap_or_default().to_string(),
        impair,
    };
    report.conditions.impair = impair.map(|i| i.to_string());
    let tty = std::io::stderr().is_terminal();
    let mut progress = |m: &str| {
        if tty {
            eprint!("\r\x1b[2K{m}");
        }
    };
    // the ovn wiring's own central, for the whole run
    let ovn_dir = std::path::Path::new(bench::OVN_DIR);
    if opts.wirings.contains(&Wiring::Ovn) {
        crate::effect::ovn::central::start(ovn_dir, None).await?;
    }
    let mut result = Ok(());
    'rounds: for round in 0..opts.repeat {
        for w in &opts.wirings {
            match bench::measure(k, *w, &opts, round, &mut progress).await {
                Ok((s, ifaces)) => {
                    if round == 0 {
                        report
                            .conditions
                            .interfaces
                            .push((w.name().to_string(), ifaces));
                    }
                    report.samples.push(s);
                }
                Err(e) => {
                    result = Err(e);
                    break 'rounds;
                }
            }
        }
    }
    if tty {
        eprint!("\r\x1b[2K");
    }
    // whatever happened, leave nothing behind
    let cleanup = bench::teardown(k).await;
    if opts.wirings.contains(&Wiring::Ovn) {
        let _ = crate::effect::ovn::central::stop(ovn_dir);
        let _ = std::fs::remove_dir_all(ovn_dir);
    }
    result?;
    cleanup?;
    bench::summarize(&mut report);
    if let Some(path) = &a.svg {
        std::fs::write(path, bench::svg(&report))
            .map_err(|e| CliError::Failed(format!("cannot write {path}: {e}")))?;
    }
    Ok(Output {
        text: bench::table(&report),
        json: serde_json::to_value(&report).unwrap_or_default(),
        code: 0,
    })
}

/// `swctl bench --scale ..`: each lab applied, re-applied and destroyed by
/// this swctl binary as a child process (it takes swctl's lock itself).
fn scale(
    a: &BenchArgs,
    wirings: &[crate::bench::Wiring],
    skipped: &[(String, String)],
) -> Result<Output, CliError> {
    use std::io::IsTerminal;
    let mut sizes = a.scale.clone();
    sizes.sort();
    sizes.dedup();
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Failed(format!("cannot find the swctl binary: {e}")))?;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |m: &str| {
        if tty {
            eprint!("\r\x1b[2K{m}");
        }
    };
    let r = crate::bench::scale::run(&exe, wirings, &sizes, a.repeat, &mut progress)?;
    if tty {
        eprint!("\r\x1b[2K");
    }
    if let Some(path) = &a.svg {
        std::fs::write(path, crate::bench::scale::svg(&r))
            .map_err(|e| CliError::Failed(format!("cannot write {path}: {e}")))?;
    }
    let mut text = crate::bench::scale::table(&r);
    for (w, why) in skipped {
        text.push_str(&format!("\n{w}: skipped: {why}"));
    }
    let mut json = serde_json::to_value(&r).unwrap_or_default();
    json["skipped"] = serde_json::json!(skipped);
    Ok(Output {
        text,
        json,
        code: 0,
    })
}
