//! The imperative commands' face: a request validated and run by the use
//! case (`lab::change`), its typed report rendered as the CLI prints it
//! (text, and the JSON the API answers with).

use serde_json::json;

use super::render::change_output;
use super::{CliError, Job, Output};
use crate::effect::system::System;
use crate::lab::change::{self, ChangeError, ChangeJob, ChangeReport, Validated};
use crate::lab::request::Change;

/// The job of imperative change `c`, validated (nothing touched).
pub(super) fn job(c: &Change) -> Result<Job, CliError> {
    Ok(match change::validate(c)? {
        Validated::Change(j) => Job::Change(j),
        Validated::NsAttach(name, pid) => Job::NsAttach(name, pid),
    })
}

/// Run the change; its report as text and JSON.
pub(super) async fn run(k: &System, job: ChangeJob) -> Result<Output, CliError> {
    Ok(render(&change::run(k, job).await?))
}

fn render(r: &ChangeReport) -> Output {
    let mut out = change_output(&r.what, &r.plan, r.ms);
    if !r.removed_ports.is_empty() {
        out.text = format!(
            "removed ports: {}\n{}",
            r.removed_ports.join(", "),
            out.text
        );
        out.json["removed_ports"] = json!(r.removed_ports);
    }
    if let Some((backend, why)) = &r.backend {
        out.text = format!("backend: {backend} ({why})\n{}", out.text);
        out.json["backend"] = json!(backend);
        out.json["backend_reason"] = json!(why);
    }
    out
}

/// A use case's error as the CLI's (the same exit codes and JSON as
/// before the use case moved out of the CLI).
impl From<ChangeError> for CliError {
    fn from(e: ChangeError) -> CliError {
        match e {
            ChangeError::Invalid(e) => CliError::Invalid(e),
            ChangeError::Usage(m) => CliError::Usage(m),
            ChangeError::Refused(m) => CliError::Refused(m),
            ChangeError::Plan(e) => CliError::Plan(e),
            ChangeError::Observe(e) => CliError::Observe(e),
            ChangeError::Apply(e) => CliError::Apply(e),
            ChangeError::Ovs(e) => CliError::Ovs(e),
        }
    }
}
