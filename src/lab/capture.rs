//! `swctl capture TARGET [-c N] [-w FILE]`: what crosses a lab's device,
//! as pcap (`effect::capture`). TARGET is a host (every device of its
//! namespace but `lo`), `HOST:IFNAME`, `host:IFNAME` (the host's own
//! namespace), or `SWITCH:PORT` — a switch's port by its device name or by
//! the host it leads to (the switch's side of that host's port), or a
//! trunk's end by the other switch's name. Ends after N frames, on Ctrl-C
//! or SIGTERM, or on a closed pipe (`| head`), the file whole.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::effect::Effects;
use crate::effect::capture::{Capture, open, pcap_header, pcap_record};
use crate::effect::observe::{Scan, observe};
use crate::model::names::{IfName, InvalidInput, Loc, NsName};
use crate::model::{LinkObs, Mark};

/// `capture TARGET [-c N] [-w FILE] [-s SNAPLEN]`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureReq {
    /// HOST, HOST:IFNAME, host:IFNAME, or SWITCH:PORT (a port's device, the host it leads to, or the switch a trunk joins)
    pub target: String,
    /// stop after this many frames
    #[arg(short = 'c', long = "count")]
    #[serde(default)]
    pub count: Option<u64>,
    /// write pcap to this file instead of standard output
    #[arg(short = 'w', long = "write")]
    #[serde(default)]
    pub write: Option<String>,
    /// bytes kept of each frame
    #[arg(short = 's', long, default_value_t = 262144)]
    #[serde(default = "default_snaplen")]
    pub snaplen: u32,
}

fn default_snaplen() -> u32 {
    262144
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Name(#[from] InvalidInput),
    #[error("{0}")]
    NoTarget(String),
    #[error("cannot read the system state")]
    Observe(#[source] crate::effect::StepError),
    #[error("cannot capture on {0}")]
    Open(String, #[source] crate::effect::NlError),
    #[error("cannot write {0}")]
    Write(String, #[source] std::io::Error),
}

impl CaptureError {
    /// Refused before anything was read (exit 2).
    pub fn refused(&self) -> bool {
        matches!(self, CaptureError::Name(_) | CaptureError::NoTarget(_))
    }
}

/// Where to capture: a namespace (None: the host's) and a device in it
/// (None: all but lo), in words for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    pub loc: Loc,
    pub dev: Option<String>,
}

impl std::fmt::Display for Spot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.dev {
            Some(d) => write!(f, "{d} ({})", self.loc),
            None => write!(f, "every device of {} but lo", self.loc),
        }
    }
}

/// The switch's port `port` of switch `sw` in an observation: a device of
/// the switch (by name), the switch's side of a host's port, a trunk's end
/// toward another switch.
fn switch_port(o: &crate::model::Observed, sw: &str, port: &str) -> Option<(Loc, String)> {
    let is_port = |l: &LinkObs| match &l.mark {
        Some(Mark::Port {
            ns, sw: s, side, ..
        }) => s.as_str() == sw && ns.as_str() == port && *side == crate::model::Side::A,
        Some(Mark::Trunk { a, b, side, .. }) => {
            (a.as_str() == sw && b.as_str() == port && *side == crate::model::Side::A)
                || (b.as_str() == sw && a.as_str() == port && *side == crate::model::Side::B)
        }
        _ => false,
    };
    o.locs().find_map(|(loc, st)| {
        st.links
            .iter()
            .find(|l| (l.name == port && l.master.as_deref() == Some(sw)) || is_port(l))
            .map(|l| (loc.clone(), l.name.clone()))
    })
}

/// Find the device TARGET names.
pub async fn locate<S: Effects>(sys: &S, target: &str) -> Result<Spot, CaptureError> {
    let (first, rest) = match target.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (target, None),
    };
    if first == "host" {
        let dev = rest
            .ok_or_else(|| CaptureError::NoTarget("host: name the device (host:IFNAME)".into()))?;
        return Ok(Spot {
            loc: Loc::Host,
            dev: Some(dev.parse::<IfName>()?.to_string()),
        });
    }
    if let Ok(ns) = first.parse::<NsName>()
        && crate::effect::kernel::netns::exists(&ns)
    {
        return Ok(Spot {
            loc: Loc::Ns(ns),
            dev: rest
                .map(|d| d.parse::<IfName>().map(|d| d.to_string()))
                .transpose()?,
        });
    }
    let sw: IfName = first.parse()?;
    let port = rest.ok_or_else(|| {
        CaptureError::NoTarget(format!(
            "{first} is no namespace; a switch's port is SWITCH:PORT (the port's device, or the host it leads to)"
        ))
    })?;
    let scan = Scan {
        switch: Some(sw.clone()),
        all_owned: true,
        ..Scan::default()
    };
    let o = observe(sys, &scan).await.map_err(CaptureError::Observe)?;
    let (loc, dev) = switch_port(&o, sw.as_str(), port).ok_or_else(|| {
        CaptureError::NoTarget(format!(
            "switch {sw} has no port {port} (a device of it, a host on it, or a switch a trunk joins it to)"
        ))
    })?;
    Ok(Spot {
        loc,
        dev: Some(dev),
    })
}

/// Open the capture at `spot`.
pub fn start(spot: &Spot, snaplen: u32) -> Result<Capture, CaptureError> {
    open(spot.loc.ns(), spot.dev.as_deref(), snaplen)
        .map_err(|e| CaptureError::Open(spot.to_string(), e))
}

/// Frames into `out` as pcap until `count`, `stop`, or a write fails (a
/// closed pipe); how many were written.
pub fn pump(
    cap: &mut Capture,
    out: &mut dyn Write,
    count: Option<u64>,
    stop: &AtomicBool,
    what: &str,
) -> Result<u64, CaptureError> {
    let werr = |e| CaptureError::Write(what.to_string(), e);
    out.write_all(&pcap_header(cap.snaplen)).map_err(werr)?;
    out.flush().map_err(werr)?;
    let mut n = 0;
    while count.is_none_or(|c| n < c) && !stop.load(Ordering::Relaxed) {
        let f = cap
            .read()
            .map_err(|e| CaptureError::Write("the capture socket".into(), e))?;
        if let Some(f) = f {
            pcap_record(out, &f).map_err(werr)?;
            out.flush().map_err(werr)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Bytes in base64 (RFC 4648, with padding): a frame in a JSON message.
pub fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_is_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(i.as_bytes()), o);
        }
    }
}
