//! The topology commands' requests (`plan`, `apply`, `status`, `check`,
//! `destroy`, `show`): a lab is named by its file (`file`), by the name it
//! was applied under (`name`), or, over the API, given inline
//! (`topology`, a JSON object with the topology file's model).

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::model::names::Owner;

/// A lab that cannot be found from a request.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("give one of a topology file, --name of an applied lab or (API) a \"topology\"")]
    NotOne,
    #[error("the topology has no \"name\"")]
    Unnamed,
    #[error(transparent)]
    Name(#[from] crate::model::names::InvalidInput),
    #[error("no lab {0} is applied")]
    NotApplied(Owner),
    #[error("cannot keep the topology in {path}: {error}")]
    Keep {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "over TCP only a \"topology\" given inline or an applied lab's \"name\" is taken, not a file of the server's"
    )]
    FileOverTcp,
}

/// Where a topology given inline is kept while its lab exists (its record
/// names the file, as for a file applied from the CLI).
pub fn inline_dir() -> PathBuf {
    crate::effect::paths::run_dir().join("api")
}

/// The file of a lab: `file` as given; an applied lab's `name`: the file it
/// was applied from; `topology`: written under /run/swctl/api as NAME.json.
pub fn resolve(
    file: Option<&str>,
    name: Option<&str>,
    topology: Option<&serde_json::Value>,
) -> Result<String, SourceError> {
    match (file, name, topology) {
        (Some(f), None, None) => Ok(f.to_string()),
        (None, Some(n), None) => {
            let owner: Owner = n.parse()?;
            crate::lab::registered_file(&owner).ok_or(SourceError::NotApplied(owner))
        }
        (None, None, Some(t)) => {
            let name = t
                .get("name")
                .and_then(|n| n.as_str())
                .ok_or(SourceError::Unnamed)?;
            let owner: Owner = name.parse()?;
            let keep = |error| SourceError::Keep {
                path: inline_dir(),
                error,
            };
            std::fs::create_dir_all(inline_dir()).map_err(keep)?;
            let path = inline_dir().join(format!("{owner}.json"));
            std::fs::write(&path, t.to_string()).map_err(keep)?;
            Ok(path.display().to_string())
        }
        _ => Err(SourceError::NotOne),
    }
}

/// `plan FILE` / `--name LAB`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// the topology file (`-`: standard input)
    #[arg(required_unless_present = "name")]
    #[serde(default)]
    pub file: Option<String>,
    /// an applied lab, by name (its file)
    #[arg(long, conflicts_with = "file")]
    #[serde(default)]
    pub name: Option<String>,
    /// (API) the topology itself
    #[arg(skip)]
    #[serde(default)]
    pub topology: Option<serde_json::Value>,
    /// only this machine's part of a lab over machines (what its agent runs)
    #[arg(long)]
    #[serde(default)]
    pub machine: Option<String>,
}

fn default_timeout() -> f64 {
    3.0
}

/// `apply FILE` / `--name LAB`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Apply {
    /// the topology file (`-`: standard input)
    #[arg(required_unless_present = "name")]
    #[serde(default)]
    pub file: Option<String>,
    /// an applied lab, by name (its file)
    #[arg(long, conflicts_with = "file")]
    #[serde(default)]
    pub name: Option<String>,
    /// (API) the topology itself
    #[arg(skip)]
    #[serde(default)]
    pub topology: Option<serde_json::Value>,
    /// only this machine's part of a lab over machines (what its agent runs)
    #[arg(long)]
    #[serde(default)]
    pub machine: Option<String>,
    /// then check the lab with real packets (exit code 1 when it fails)
    #[arg(long)]
    #[serde(default)]
    pub check: bool,
    /// with --check: seconds each wave of probes may take
    #[arg(long, default_value_t = 3.0)]
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// with --check: probe every pair, not a ring per segment, in a big lab
    #[arg(long)]
    #[serde(default)]
    pub full: bool,
    /// first take over what imperative commands made and the file describes (a file from `swctl export`)
    #[arg(long)]
    #[serde(default)]
    pub adopt: bool,
}

/// `status FILE` / `--name LAB`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// the topology file (`-`: standard input)
    #[arg(required_unless_present = "name")]
    #[serde(default)]
    pub file: Option<String>,
    /// an applied lab, by name (its file)
    #[arg(long, conflicts_with = "file")]
    #[serde(default)]
    pub name: Option<String>,
    /// only this machine's part of a lab over machines (what its agent runs)
    #[arg(long)]
    #[serde(default)]
    pub machine: Option<String>,
}

/// `check FILE` / `--name LAB`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// the topology file (`-`: standard input)
    #[arg(required_unless_present = "name")]
    #[serde(default)]
    pub file: Option<String>,
    /// an applied lab, by name (its file)
    #[arg(long, conflicts_with = "file")]
    #[serde(default)]
    pub name: Option<String>,
    /// only the probes from this machine's hosts (what its agent runs)
    #[arg(long)]
    #[serde(default)]
    pub machine: Option<String>,
    /// seconds each wave of probes may take
    #[arg(long, default_value_t = 3.0)]
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// probe every pair, not a ring per segment, in a big lab
    #[arg(long)]
    #[serde(default)]
    pub full: bool,
}

/// `destroy FILE` / `--name LAB`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destroy {
    /// the topology file
    #[serde(default)]
    pub file: Option<String>,
    /// the topology's name, without its file
    #[arg(long, conflicts_with = "file")]
    #[serde(default)]
    pub name: Option<String>,
    /// parts that cannot be reached (a machine, an OVN central gone for
    /// good): remove the rest and drop the lab's record all the same,
    /// saying what may remain where
    #[arg(long)]
    #[serde(default)]
    pub forget: bool,
}

/// `gc [--dry-run]`
#[derive(Args, Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Gc {
    /// only say what would be removed
    #[arg(long)]
    #[serde(default)]
    pub dry_run: bool,
}

/// `show [NAME]`
#[derive(Args, Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Show {
    /// only what NAME is: a namespace, a switch, a lab
    #[serde(default)]
    pub name: Option<String>,
}

/// `lab.graph {"name"}` (API only: an applied lab's picture, as `swctl
/// graph --name LAB --format svg` draws it, with the graph as data)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphOf {
    pub name: String,
}

/// `lab.watch {"name"}` (API only: a subscription to a lab's events)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_lab_is_one_of_file_name_topology() {
        assert_eq!(resolve(Some("a.toml"), None, None).unwrap(), "a.toml");
        assert!(matches!(
            resolve(Some("a"), Some("b"), None),
            Err(SourceError::NotOne)
        ));
        assert!(matches!(
            resolve(None, None, None),
            Err(SourceError::NotOne)
        ));
        assert!(matches!(
            resolve(None, None, Some(&json!({"hosts": {}}))),
            Err(SourceError::Unnamed)
        ));
        let a: Apply =
            serde_json::from_value(json!({"topology": {"name": "x"}, "check": true})).unwrap();
        assert!(a.check && a.timeout == 3.0 && !a.full);
        assert!(serde_json::from_value::<Apply>(json!({"checks": true})).is_err());
    }
}
