//! `swctl export`: a lab as a topology file (`--name LAB`: its file read
//! and written back; no root, nothing observed), or what the imperative
//! commands made, read off the system (`lab::export`), as a lab to adopt.

use std::path::Path;

use serde_json::json;

use super::{CliError, Output};
use crate::effect::observe::{Scan, observe};
use crate::effect::system::System;
use crate::lab::topology::write::to_toml;
use crate::model::Desired;
use crate::model::names::Owner;

/// The file applied lab `name` was applied from (`graph --name`,
/// `export --name`).
pub(super) fn applied_file(name: &str) -> Result<String, CliError> {
    let owner: Owner = name.parse()?;
    crate::lab::registered_file(&owner).ok_or_else(|| {
        CliError::NotFound(format!(
            "no lab {owner} is applied (`swctl labs` lists them)"
        ))
    })
}

fn output(d: &Desired) -> Output {
    let text = to_toml(d);
    Output {
        json: json!({"command": "export", "name": d.owner, "toml": text}),
        text: text.trim_end().to_string(),
        code: 0,
    }
}

/// `export --name LAB`.
pub(super) fn lab(name: &str) -> Result<Output, CliError> {
    let file = applied_file(name)?;
    Ok(output(
        &crate::lab::topology::load(Path::new(&file))?.desired,
    ))
}

/// `export [--as NAME] [NS|SWITCH...]`: the imperative commands' objects.
pub(super) async fn imperative(
    k: &System,
    scan: &Scan,
    as_name: &str,
    only: &[String],
) -> Result<Output, CliError> {
    let mut o = observe(k, scan).await.map_err(CliError::Observe)?;
    // forwarding is read only where asked: in the imperative ones
    for (n, x) in o.namespaces.iter_mut() {
        if x.owner == Some(Owner::cli()) {
            x.state.forward = crate::effect::Namespaces::forward(k, n).ok();
        }
    }
    let mut d = crate::lab::export::imperative(&o, as_name.parse()?);
    if !only.is_empty() {
        crate::lab::export::keep_only(&mut d, only);
    }
    if d.namespaces.is_empty() && d.switches.is_empty() && d.links.is_empty() {
        return Err(CliError::NotFound(
            "nothing made by imperative commands to export (`swctl export --name LAB` exports a lab)"
                .into(),
        ));
    }
    Ok(output(&d))
}
