//! The requests of swctl's use cases, one type each, shared by its two
//! faces: the command line parses argv into them (clap derive: each field is
//! an argument, its doc comment the help) and the JSON-RPC server
//! deserializes its params straight into them (serde: each field is a param
//! of the same name; unknown params are refused). So every option of the CLI
//! exists over the API under the same name, and neither face keeps a list of
//! the other's.
//!
//! `change` holds the imperative commands (`ns add`, `attach`, …), `lab`
//! the topology commands (`plan`, `apply`, `status`, …). Values stay words
//! here; the use cases validate them into swctl's types.

pub mod change;
pub mod lab;

use clap::ValueEnum;
use serde::{Deserialize, Deserializer, Serialize};

pub use change::Change;

/// A switch backend chosen by the user (`--backend`, `"backend"`).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    Bridge,
    Ovs,
}

impl From<BackendChoice> for crate::model::Backend {
    fn from(b: BackendChoice) -> crate::model::Backend {
        match b {
            BackendChoice::Bridge => crate::model::Backend::Bridge,
            BackendChoice::Ovs => crate::model::Backend::Ovs,
        }
    }
}

/// How a namespace is wired to a switch.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViaChoice {
    #[default]
    Auto,
    Veth,
    Internal,
}

impl From<ViaChoice> for crate::model::Via {
    fn from(v: ViaChoice) -> crate::model::Via {
        match v {
            ViaChoice::Auto => crate::model::Via::Auto,
            ViaChoice::Veth => crate::model::Via::Veth,
            ViaChoice::Internal => crate::model::Via::Internal,
        }
    }
}

/// An OVS datapath forced by the user.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatapathChoice {
    System,
    Netdev,
}

impl DatapathChoice {
    pub fn as_str(&self) -> &'static str {
        match self {
            DatapathChoice::System => "system",
            DatapathChoice::Netdev => "netdev",
        }
    }
}

/// `on` or `off` (over the API also `true` or `false`).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnOff {
    On,
    Off,
}

impl<'de> Deserialize<'de> for OnOff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OnOff, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Word {
            Bool(bool),
            Text(String),
        }
        match Word::deserialize(d)? {
            Word::Bool(true) => Ok(OnOff::On),
            Word::Bool(false) => Ok(OnOff::Off),
            Word::Text(s) if s == "on" => Ok(OnOff::On),
            Word::Text(s) if s == "off" => Ok(OnOff::Off),
            Word::Text(s) => Err(serde::de::Error::custom(format!(
                "expected \"on\", \"off\" or a boolean, found {s:?}"
            ))),
        }
    }
}

/// A list param that also takes one value (`"ip": "198.18.0.1/24"` as
/// well as `"ip": [...]`), as the CLI takes one or several `--ip`.
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Many {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Many::deserialize(d)? {
        Many::One(s) => vec![s],
        Many::Many(v) => v,
    })
}
