//! What a check is made of, as data: a probe (from a host to an address,
//! what it expects, why), its outcome, a pair that cannot work, and the
//! judgment of a reply — shared by the probes `check` derives and those a
//! topology states (`expect`).

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use super::reach::Neigh;
use crate::model::names::NsName;

/// What a probe expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// an answer
    Reach,
    /// no answer: the lab isolates the two
    Isolated,
}

/// One thing to test.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Probe {
    pub from: NsName,
    pub to: IpAddr,
    /// who has the address (a host, `host`, or a switch)
    pub owner: String,
    /// why `from` tries it: `switch sw0`, `link a<->b`, `route default via ..`
    pub why: String,
    pub expect: Expect,
    #[serde(skip)]
    pub neigh: Vec<Neigh>,
    /// how long to wait after it before sending the next probe's first echo
    /// (the ARP broadcasts it may cause, by the size of their segments)
    #[serde(skip)]
    pub pace: Duration,
    /// the least round trip the lab's impairments declare on the way (its
    /// two ends' delays, both ways); an answer sooner means they are not
    /// in effect
    #[serde(skip_serializing_if = "Duration::is_zero", serialize_with = "as_ms")]
    pub min_rtt: Duration,
    /// an expectation of the file's (`[[expect]]`): how long it may take
    /// to come true (a routing daemon converging)
    #[serde(skip_serializing_if = "Duration::is_zero", serialize_with = "as_ms")]
    pub within: Duration,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// What a reply says of a probe: fine, or why not.
pub fn judge(expect: Expect, rtt: Result<Duration, &str>, min_rtt: Duration) -> Result<(), String> {
    match (expect, rtt) {
        (Expect::Reach, Ok(d)) if d < min_rtt => Err(format!(
            "answered in {:.2} ms, sooner than the {:.1} ms the lab's delays declare: the impairment is not in effect",
            d.as_secs_f64() * 1000.0,
            min_rtt.as_secs_f64() * 1000.0
        )),
        (Expect::Reach, Ok(_)) => Ok(()),
        (Expect::Reach, Err(e)) => Err(e.to_string()),
        (Expect::Isolated, Ok(_)) => {
            Err("answered across an isolation the lab promises".to_string())
        }
        (Expect::Isolated, Err(_)) => Ok(()),
    }
}

/// A pair a route points at that cannot work by design.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Impossible {
    pub from: NsName,
    pub to: IpAddr,
    pub owner: String,
    pub why: String,
    pub because: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub probe: Probe,
    pub ok: bool,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
    pub wave: usize,
    /// tried a second time after it stayed silent the first
    pub retried: bool,
}
