//! `CliError`: everything that can go wrong in a command, one variant per
//! layer, with its exit code (2: the input was refused before anything was
//! touched; 1: the system said no) and its cause chain, printed once.

use std::io::Write;

use serde_json::json;

use crate::effect::apply::ApplyError;
use crate::effect::kernel::netns::NsError;
use crate::effect::ovs::sandbox;
use crate::model::names::InvalidInput;
use crate::plan::PlanError;

/// Everything that can go wrong in a command, by layer.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// a value refused by its rules (the rule is the cause)
    #[error("invalid argument")]
    Invalid(#[from] InvalidInput),
    /// arguments that do not make sense together, or a value out of range
    #[error("{0}")]
    Usage(String),
    /// the command would change what an applied topology owns
    #[error("{0}")]
    Refused(String),
    /// the command ran and failed for a reason of its own
    #[error("{0}")]
    Failed(String),
    /// what the command names does not exist (a lab, a namespace)
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Bench(#[from] crate::bench::BenchError),
    #[error(
        "swctl must run as root: it creates namespaces and network devices (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    )]
    NotRoot,
    #[error("cannot make a plan")]
    Plan(#[from] PlanError),
    #[error("cannot read the system state")]
    Observe(#[source] crate::effect::StepError),
    #[error("cannot apply the plan")]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error(transparent)]
    Ovs(#[from] crate::ovsdb::OvsdbError),
    #[error("the Open vSwitch sandbox")]
    Sandbox(#[from] sandbox::SandboxError),
    #[error(transparent)]
    Topology(#[from] crate::lab::topology::TopologyError),
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
    #[error(transparent)]
    Lock(#[from] crate::effect::lock::LockError),
    #[error(transparent)]
    Flow(#[from] crate::lab::flows::FlowError),
    #[error(transparent)]
    Impair(#[from] crate::lab::impair::ImpairError),
    #[error(transparent)]
    Logs(#[from] crate::lab::logs::LogsError),
    #[error(transparent)]
    Capture(#[from] crate::lab::capture::CaptureError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl CliError {
    /// 2: the input was refused before anything happened; 1: the system said no.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Invalid(_)
            | CliError::Usage(_)
            | CliError::Refused(_)
            | CliError::Plan(_)
            | CliError::NotRoot
            | CliError::Topology(_)
            | CliError::Lab(crate::lab::LabError::Plan(_) | crate::lab::LabError::Conflicts(_))
            | CliError::Flow(
                crate::lab::flows::FlowError::Name(_)
                | crate::lab::flows::FlowError::Parse { .. }
                | crate::lab::flows::FlowError::NoBridge(_),
            ) => 2,
            CliError::Impair(e) if e.refused() => 2,
            CliError::Capture(e) if e.refused() => 2,
            CliError::Logs(_) => 2,
            _ => 1,
        }
    }

    /// The error and its causes, outermost first; for an apply failure,
    /// every failed step.
    pub fn chain(&self) -> Vec<String> {
        let mut v = vec![self.to_string()];
        let apply_err = match self {
            CliError::Apply(a)
            | CliError::Lab(crate::lab::LabError::Apply(a))
            | CliError::Impair(crate::lab::impair::ImpairError::Apply(a)) => Some(a),
            _ => None,
        };
        if let Some(a) = apply_err {
            for (step, e) in &a.failures {
                v.push(format!("step `{step}`: {e}"));
            }
            return v;
        }
        let mut src = std::error::Error::source(self);
        while let Some(s) = src {
            v.push(s.to_string());
            src = s.source();
        }
        v
    }
}

impl CliError {
    /// The error as JSON: `{"error", "causes", "exit_code"}`, with the
    /// topology file's `problems` or the failed steps' `failures`.
    pub fn to_json(&self) -> serde_json::Value {
        let chain = self.chain();
        let mut v =
            json!({"error": chain[0], "causes": &chain[1..], "exit_code": self.exit_code()});
        if let CliError::Topology(crate::lab::topology::TopologyError::Invalid { file, problems }) =
            self
        {
            v["error"] = json!(format!(
                "{file}: {} problem{}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            ));
            v["causes"] = json!([]);
            v["problems"] = json!(problems);
        }
        let apply_err = match self {
            CliError::Apply(a) | CliError::Lab(crate::lab::LabError::Apply(a)) => Some(a),
            _ => None,
        };
        if let Some(a) = apply_err {
            v["failures"] = a
                .failures
                .iter()
                .map(|(step, e)| json!({"step": step, "error": e.to_string()}))
                .collect();
        }
        v
    }
}

/// Print an error the way the user asked for: one line with its causes
/// (each said once), or JSON on standard output.
pub fn report_error(e: &CliError, json_out: bool) {
    if json_out {
        println!("{}", e.to_json());
    } else {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "swctl: {}", e.chain().join(": "));
    }
}
