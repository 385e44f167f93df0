//! `swctl impair HOST[:IFNAME]`: a running lab's link impaired, changed or
//! cleared live (containerlab's `tools netem set`, Mininet's
//! `TCLink.config`): the host's end of a port or link, and the other end of
//! its veth pair as a topology's port or link would (both directions)
//! unless `--egress` (what HOST sends only). swctl's qdisc (handle 5357:)
//! on each, through the same steps an apply plans; without values it says
//! what each end has. On a lab's device the change is drift until the
//! file says it too: `swctl apply FILE` puts the file's back.

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::effect::Effects;
use crate::effect::apply::{ApplyError, apply};
use crate::effect::observe::{Scan, observe};
use crate::model::impair::{Impair, KEYS, QdiscObs};
use crate::model::names::{IfName, InvalidInput, Loc, NsName};
use crate::model::{LinkObs, Mark, Observed};
use crate::plan::impair::{given, other_end, qdisc_step};
use crate::plan::{Plan, PlanError, Step};

/// `impair HOST[:IFNAME] [--rate R] [--delay D] ... | --clear`
#[derive(Args, Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpairReq {
    /// HOST or HOST:IFNAME: a host's end of a port or link (HOST alone: its only one); `host:IFNAME` in the host's namespace
    pub target: String,
    /// e.g. 100mbit, 1gbit (tc's units)
    #[arg(long)]
    #[serde(default)]
    pub rate: Option<String>,
    /// e.g. 10ms
    #[arg(long)]
    #[serde(default)]
    pub delay: Option<String>,
    /// varies the delay by up to this, e.g. 2ms (needs --delay)
    #[arg(long)]
    #[serde(default)]
    pub jitter: Option<String>,
    /// e.g. 1%
    #[arg(long)]
    #[serde(default)]
    pub loss: Option<String>,
    #[arg(long)]
    #[serde(default)]
    pub corrupt: Option<String>,
    #[arg(long)]
    #[serde(default)]
    pub duplicate: Option<String>,
    /// packets sent at once, out of order (needs --delay)
    #[arg(long)]
    #[serde(default)]
    pub reorder: Option<String>,
    /// netem's queue, in packets
    #[arg(long)]
    #[serde(default)]
    pub limit: Option<u32>,
    /// only what HOST sends (its end's egress); default: both directions
    #[arg(long)]
    #[serde(default)]
    pub egress: bool,
    /// remove swctl's impairment (both ends, or HOST's with --egress)
    #[arg(long, conflicts_with_all = ["rate", "delay", "jitter", "loss", "corrupt", "duplicate", "reorder", "limit"])]
    #[serde(default)]
    pub clear: bool,
}

/// What to do: show, set or clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpairAction {
    Show,
    Set(Impair),
    Clear,
}

/// A validated request (values read, names checked, nothing observed).
#[derive(Debug, Clone)]
pub struct ImpairJob {
    pub loc: Loc,
    pub dev: Option<IfName>,
    pub action: ImpairAction,
    pub egress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImpairError {
    #[error(transparent)]
    Name(#[from] InvalidInput),
    #[error("--{0}: {1}")]
    Value(&'static str, String),
    #[error("{0}")]
    NoEnd(String),
    #[error("cannot make a plan")]
    Plan(#[from] PlanError),
    #[error("cannot read the system state")]
    Observe(#[source] crate::effect::StepError),
    #[error("cannot apply the plan")]
    Apply(#[from] ApplyError),
}

impl ImpairError {
    /// Refused before anything changed (exit 2).
    pub fn refused(&self) -> bool {
        matches!(
            self,
            ImpairError::Name(_)
                | ImpairError::Value(..)
                | ImpairError::NoEnd(_)
                | ImpairError::Plan(_)
        )
    }
}

/// Read the values and names (nothing observed yet).
pub fn validate(r: &ImpairReq) -> Result<ImpairJob, ImpairError> {
    let (host, dev) = match r.target.split_once(':') {
        Some((h, d)) => (h, Some(d.parse::<IfName>()?)),
        None => (r.target.as_str(), None),
    };
    let loc = if host == "host" {
        Loc::Host
    } else {
        Loc::Ns(host.parse::<NsName>()?)
    };
    if loc == Loc::Host && dev.is_none() {
        return Err(ImpairError::NoEnd(
            "host: name the device (host:IFNAME)".into(),
        ));
    }
    let mut i = Impair::default();
    let values = [
        ("rate", &r.rate),
        ("delay", &r.delay),
        ("jitter", &r.jitter),
        ("loss", &r.loss),
        ("corrupt", &r.corrupt),
        ("duplicate", &r.duplicate),
        ("reorder", &r.reorder),
        ("limit", &r.limit.map(|n| n.to_string())),
    ];
    debug_assert_eq!(values.len(), KEYS.len());
    for (k, v) in values {
        if let Some(v) = v {
            i.set(k, v).map_err(|e| ImpairError::Value(k, e))?;
        }
    }
    i.check()
        .map_err(|e| ImpairError::Value("jitter/--reorder", e))?;
    let action = match (r.clear, i.is_empty()) {
        (true, _) => ImpairAction::Clear,
        (false, true) => ImpairAction::Show,
        (false, false) => ImpairAction::Set(i),
    };
    Ok(ImpairJob {
        loc,
        dev,
        action,
        egress: r.egress,
    })
}

/// One end and what it has, after the command.
#[derive(Debug, Clone, Serialize)]
pub struct ImpairedEnd {
    pub loc: Loc,
    pub dev: String,
    /// its impairment (`none`), or a qdisc not swctl's
    pub impair: String,
    /// the step run on it, if any
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImpairReport {
    pub command: &'static str,
    pub target: String,
    /// whether a change was asked (else what each end has was shown)
    pub asked: bool,
    pub ends: Vec<ImpairedEnd>,
    pub changes: usize,
    pub ms: f64,
}

/// The device of `job` in `o`: named, or the host's only end swctl made.
fn the_end<'a>(o: &'a Observed, job: &ImpairJob) -> Result<&'a LinkObs, ImpairError> {
    let st = o
        .loc(&job.loc)
        .ok_or_else(|| ImpairError::NoEnd(format!("no namespace {}", job.loc)))?;
    let ours = |l: &&LinkObs| matches!(l.mark, Some(Mark::Port { .. } | Mark::Link { .. }));
    match &job.dev {
        Some(d) => st.link(d.as_str()).filter(ours).ok_or_else(|| {
            ImpairError::NoEnd(format!("{} has no port or link {d} swctl made", job.loc))
        }),
        None => {
            let all: Vec<&LinkObs> = st.links.iter().filter(ours).collect();
            match all.as_slice() {
                [one] => Ok(one),
                [] => Err(ImpairError::NoEnd(format!(
                    "{} has no port or link swctl made",
                    job.loc
                ))),
                many => Err(ImpairError::NoEnd(format!(
                    "{} has {} ports and links; name one: {}",
                    job.loc,
                    many.len(),
                    many.iter()
                        .map(|l| format!("{}:{}", job.loc, l.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
    }
}

/// Observe the target's namespace and wherever the other end may be, plan
/// the qdisc steps, apply them.
pub async fn run<S: Effects>(sys: &S, job: ImpairJob) -> Result<ImpairReport, ImpairError> {
    let t = std::time::Instant::now();
    let target = match &job.dev {
        Some(d) => format!("{}:{d}", job.loc),
        None => job.loc.to_string(),
    };
    let mut scan = Scan {
        qdisc_kinds: matches!(job.action, ImpairAction::Set(_)),
        ..Scan::default()
    };
    scan.namespaces.extend(job.loc.ns().cloned());
    let o = observe(sys, &scan).await.map_err(ImpairError::Observe)?;
    // the other end: the switch's side of a port (the host's namespace, or
    // the switch's), a link's other namespace
    let l = the_end(&o, &job)?;
    match &l.mark {
        Some(Mark::Port { sw, .. }) => scan.switch = Some(sw.clone()),
        Some(Mark::Link { a, b, .. }) => {
            scan.namespaces.extend(a.ns().cloned());
            scan.namespaces.extend(b.ns().cloned());
        }
        _ => {}
    }
    let o = observe(sys, &scan).await.map_err(ImpairError::Observe)?;
    let l = the_end(&o, &job)?;
    let mut ends = vec![(job.loc.clone(), l)];
    if !job.egress {
        match other_end(&o, l) {
            Some(e) => ends.push(e),
            None if job.action == ImpairAction::Show => {}
            None => {
                let why = match &l.mark {
                    Some(Mark::Port { sw, .. }) => format!(
                        "{target} is an OVS internal port of {sw}: there is no device on the switch's side to shape what {} receives; --egress shapes what it sends",
                        job.loc
                    ),
                    _ => format!(
                        "the other end of {target} is not on this machine: impair it there, or --egress for what {} sends",
                        job.loc
                    ),
                };
                return Err(ImpairError::NoEnd(why));
            }
        }
    }
    let want = match job.action {
        ImpairAction::Show => None,
        ImpairAction::Set(i) => {
            if let Some(k) = o.qdisc_kinds {
                given(&i, k, target.clone())?;
            }
            Some(i.qdisc())
        }
        ImpairAction::Clear => Some(None),
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut report = Vec::new();
    for (loc, l) in &ends {
        let step = want.and_then(|w| qdisc_step(loc, &l.name, l.qdisc.as_ref(), w));
        let impair = match (&step, want) {
            (Some(_), Some(w)) => w.map_or("none".into(), |q| q.impair().to_string()),
            _ => QdiscObs::words_of(l.qdisc.as_ref()),
        };
        report.push(ImpairedEnd {
            loc: loc.clone(),
            dev: l.name.clone(),
            impair,
            change: step.as_ref().map(|s| s.to_string()),
        });
        steps.extend(step);
    }
    let changes = steps.len();
    if changes > 0 {
        let plan = Plan {
            steps,
            wiring: vec![],
        };
        apply(sys, &plan, false).await?;
    }
    Ok(ImpairReport {
        command: "impair",
        target,
        asked: job.action != ImpairAction::Show,
        ends: report,
        changes,
        ms: t.elapsed().as_secs_f64() * 1000.0,
    })
}
