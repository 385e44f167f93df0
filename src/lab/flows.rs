//! A switch's OpenFlow table as use cases: `swctl flows SWITCH` (every
//! flow with its counters and whose it is), `flow add SWITCH FLOW` and
//! `flow del SWITCH [MATCH]` — flows of swctl's own, with the cookie of
//! the `cli` owner; a flow of anyone else (a controller's, one added by
//! hand, a lab's) is never changed by them. A port in a flow is a number,
//! an OVS port name or a host's name (its port on this switch), looked up
//! in OVSDB when the command runs.

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::effect::OvsDb;
use crate::effect::openflow::{OfError, OfSession};
use crate::model::names::{IfName, InvalidInput, Owner};
use crate::model::openflow::{FlowOwner, OWNER_MASK, cookie, owner_of};
use crate::openflow::text::{ParseError, check, flow_text};
use crate::openflow::{Command, Flow, Msg};
use crate::ovsdb::OvsdbError;
use crate::plan::flows::Ports;

/// `flows SWITCH`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowsList {
    pub switch: String,
}

/// `flow add SWITCH FLOW`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowAdd {
    pub switch: String,
    /// The flow in ovs-ofctl's syntax, e.g. "priority=100,ip,nw_dst=198.18.0.2 actions=output:h2" (a port: number, OVS port name or host name)
    pub flow: String,
}

/// `flow del SWITCH [MATCH]`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDel {
    pub switch: String,
    /// Only swctl's flows that match this (ovs-ofctl's syntax, e.g. "ip,nw_dst=198.18.0.2"); none: all of swctl's `flow add` flows on the switch
    #[serde(default, rename = "match")]
    pub filter: Option<String>,
}

/// A validated flow command (names and flow syntax checked, nothing read).
#[derive(Debug, Clone)]
pub enum FlowJob {
    List(IfName),
    Add(IfName, String),
    Del(IfName, Option<String>),
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Name(#[from] InvalidInput),
    #[error("flow {flow:?}")]
    Parse {
        flow: String,
        #[source]
        source: ParseError,
    },
    #[error(
        "no OVS bridge {0} (OpenFlow tables are Open vSwitch's; `swctl switch list` shows the switches)"
    )]
    NoBridge(IfName),
    #[error("no Open vSwitch to read: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    #[error(transparent)]
    OpenFlow(#[from] OfError),
}

/// Check what can be checked before anything is read: the switch's name
/// and the flow's syntax (ports are looked up when it runs).
pub fn validate_list(r: &FlowsList) -> Result<FlowJob, FlowError> {
    Ok(FlowJob::List(r.switch.parse()?))
}

pub fn validate_add(r: &FlowAdd) -> Result<FlowJob, FlowError> {
    check(&r.flow).map_err(|source| FlowError::Parse {
        flow: r.flow.clone(),
        source,
    })?;
    Ok(FlowJob::Add(r.switch.parse()?, r.flow.clone()))
}

pub fn validate_del(r: &FlowDel) -> Result<FlowJob, FlowError> {
    if let Some(m) = &r.filter {
        check(&del_text(m)).map_err(|source| FlowError::Parse {
            flow: m.clone(),
            source,
        })?;
    }
    Ok(FlowJob::Del(r.switch.parse()?, r.filter.clone()))
}

/// A match alone, as a flow the reader takes.
fn del_text(m: &str) -> String {
    format!("{m} actions=drop")
}

/// One flow of a dump.
#[derive(Debug, Clone, Serialize)]
pub struct FlowEntry {
    pub cookie: String,
    pub owner: FlowOwner,
    pub table: u8,
    pub priority: u16,
    pub n_packets: u64,
    pub n_bytes: u64,
    pub duration_s: u32,
    /// the flow in ovs-ofctl's syntax, hosts' names for their ports
    pub flow: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowsReport {
    pub switch: IfName,
    /// the OpenFlow version spoken ("OpenFlow13")
    pub version: String,
    pub flows: Vec<FlowEntry>,
}

/// What `flow add`/`flow del` did.
#[derive(Debug, Clone, Serialize)]
pub struct FlowChanged {
    pub command: String,
    pub switch: IfName,
    /// the flow as written (add) or the match (del)
    pub flow: Option<String>,
    pub cookie: String,
    pub ms: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum FlowReport {
    List(FlowsReport),
    Changed(FlowChanged),
}

/// Run a flow command against the switch's OVSDB (ports) and its
/// management socket (flows).
pub async fn run<S: OvsDb>(sys: &S, job: FlowJob) -> Result<FlowReport, FlowError> {
    let t = std::time::Instant::now();
    let sw = match &job {
        FlowJob::List(s) | FlowJob::Add(s, _) | FlowJob::Del(s, _) => s.clone(),
    };
    let st = sys.ovs_state().await?.map_err(FlowError::Unavailable)?;
    let b = st
        .bridge(sw.as_str())
        .ok_or_else(|| FlowError::NoBridge(sw.clone()))?;
    let ports = Ports::of(b);
    let mut of = OfSession::connect(&b.db, &b.name).await?;
    let cli = Owner::cli();
    let mine = cookie(&cli);
    let parsed = |text: &str| -> Result<Flow, FlowError> {
        ports
            .parse(&b.name, text)
            .map_err(|source| FlowError::Parse {
                flow: text.to_string(),
                source,
            })
    };
    let name = |n: u32| ports.name(n);
    match job {
        FlowJob::List(_) => {
            let mut owners: Vec<Owner> = crate::lab::registered().into_iter().collect();
            owners.push(cli);
            let mut flows: Vec<FlowEntry> = of
                .dump(0, 0)
                .await?
                .into_iter()
                .map(|s| FlowEntry {
                    cookie: format!("{:#x}", s.flow.cookie),
                    owner: owner_of(s.flow.cookie, &owners),
                    table: s.flow.table,
                    priority: s.flow.priority,
                    n_packets: s.packets,
                    n_bytes: s.bytes,
                    duration_s: s.duration_s,
                    flow: flow_text(&s.flow, &name),
                })
                .collect();
            flows.sort_by(|a, b| {
                (a.table, std::cmp::Reverse(a.priority))
                    .cmp(&(b.table, std::cmp::Reverse(b.priority)))
            });
            Ok(FlowReport::List(FlowsReport {
                switch: sw,
                version: format!("OpenFlow1{}", of.version - 1),
                flows,
            }))
        }
        FlowJob::Add(_, text) => {
            let mut f = parsed(&text)?;
            f.cookie = mine;
            let written = flow_text(&f, &name);
            let m = Msg::FlowMod {
                command: Command::Add,
                flow: f,
                cookie_mask: 0,
            };
            of.flow_mods(&[(format!("flow {text:?}"), m)]).await?;
            Ok(FlowReport::Changed(FlowChanged {
                command: "flow add".into(),
                switch: sw,
                flow: Some(written),
                cookie: format!("{mine:#x}"),
                ms: t.elapsed().as_secs_f64() * 1000.0,
            }))
        }
        FlowJob::Del(_, filter) => {
            let mut f = match &filter {
                Some(m) => parsed(&del_text(m))?,
                None => Flow::default(),
            };
            f.cookie = mine;
            f.table = 0xff;
            let m = Msg::FlowMod {
                command: Command::Delete,
                flow: f,
                cookie_mask: OWNER_MASK,
            };
            of.flow_mods(&[("the delete".into(), m)]).await?;
            Ok(FlowReport::Changed(FlowChanged {
                command: "flow del".into(),
                switch: sw,
                flow: filter,
                cookie: format!("{mine:#x}"),
                ms: t.elapsed().as_secs_f64() * 1000.0,
            }))
        }
    }
}
