//! Link impairments (Mininet's `TCLink`, containerlab's `tools netem`): the
//! rate, delay, jitter, loss, corruption, duplication, reordering and queue
//! limit a topology asks of one end of a device, in the words of `tc`
//! (`100mbit`, `10ms`, `1%`), and the queueing discipline that gives them
//! (`Qdisc`): `tbf` for a rate alone (it works where netem is missing),
//! `netem` for everything else (its own rate included). Pure: the wire
//! encoding is `effect::kernel::tc`'s.
//!
//! Units are the ones iproute2 6.1's `tc` sends (Debian 12), so that a
//! qdisc swctl makes is the one `tc qdisc add ... netem delay 10ms` makes,
//! byte for byte (tests/impair_wire.rs): times in microseconds turned into
//! the kernel's scheduler ticks (64 ns: `/proc/net/psched` says 1000/64
//! on every kernel since 2.6.31), probabilities as a fraction of
//! `u32::MAX`, rates in bytes per second.

mod units;

use std::fmt;

use serde::Serialize;

pub use units::{Percent, Rate, Time};

/// Scheduler ticks per microsecond (`/proc/net/psched`: t2us 1000, us2t 64).
pub const TICKS_PER_US: f64 = 1000.0 / 64.0;

/// The handle major of every qdisc swctl puts on a device ("SW", as in its
/// OpenFlow cookies): how it knows its own from anybody else's.
pub const HANDLE_MAJOR: u16 = 0x5357;
/// `HANDLE_MAJOR` as a root qdisc's handle (`handle 5357:`).
pub const HANDLE: u32 = (HANDLE_MAJOR as u32) << 16;

/// What a topology asks of one end's egress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Impair {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<Percent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrupt: Option<Percent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<Percent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reorder: Option<Percent>,
    /// netem's queue, in packets
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The keys of an impairment, as a topology file and `swctl impair` spell
/// them (`Impair::set` takes each, `Impair::values` gives each back).
pub const KEYS: &[&str] = &[
    "rate",
    "delay",
    "jitter",
    "loss",
    "corrupt",
    "duplicate",
    "reorder",
    "limit",
];

impl Impair {
    pub fn is_empty(&self) -> bool {
        *self == Impair::default()
    }

    /// Set one key from its text (`limit` is a number of packets, the
    /// others `tc`'s words).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "rate" => self.rate = Some(value.parse()?),
            "delay" => self.delay = Some(value.parse()?),
            "jitter" => self.jitter = Some(value.parse()?),
            "loss" => self.loss = Some(value.parse()?),
            "corrupt" => self.corrupt = Some(value.parse()?),
            "duplicate" => self.duplicate = Some(value.parse()?),
            "reorder" => self.reorder = Some(value.parse()?),
            "limit" => {
                self.limit = Some(
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            format!("{value:?} is not a number of packets (1 or more)")
                        })?,
                )
            }
            _ => {
                return Err(format!(
                    "unknown impairment {key:?} (known: {})",
                    KEYS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// `rate=100mbit,delay=5ms` (what `swctl bench --impair` takes).
    pub fn from_pairs(text: &str) -> Result<Impair, String> {
        let mut i = Impair::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?}: KEY=VALUE, e.g. rate=100mbit,delay=5ms"))?;
            i.set(k.trim(), v.trim())?;
        }
        i.check()?;
        if i.is_empty() {
            return Err("no impairment given (e.g. rate=100mbit,delay=5ms)".into());
        }
        Ok(i)
    }

    /// Each key given, with its value as `set` takes it back.
    pub fn values(&self) -> Vec<(&'static str, String)> {
        // every field named: a new one is listed here or not at all
        let Impair {
            rate,
            delay,
            jitter,
            loss,
            corrupt,
            duplicate,
            reorder,
            limit,
        } = self;
        let mut out = Vec::new();
        let mut put = |k: &'static str, v: Option<String>| out.extend(v.map(|v| (k, v)));
        put("rate", rate.map(|v| v.to_string()));
        put("delay", delay.map(|v| v.to_string()));
        put("jitter", jitter.map(|v| v.to_string()));
        put("loss", loss.map(|v| v.to_string()));
        put("corrupt", corrupt.map(|v| v.to_string()));
        put("duplicate", duplicate.map(|v| v.to_string()));
        put("reorder", reorder.map(|v| v.to_string()));
        put("limit", limit.map(|v| v.to_string()));
        out
    }

    /// The rules `tc` and netem apply: jitter and reordering need a delay
    /// (netem reorders by sending some packets without it).
    pub fn check(&self) -> Result<(), String> {
        if self.delay.is_none_or(|d| d.0 == 0) {
            if self.jitter.is_some() {
                return Err("jitter needs a delay (netem varies the delay)".into());
            }
            if self.reorder.is_some() {
                return Err(
                    "reorder needs a delay (netem reorders by sending some packets without it)"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// The keys that need netem (all but `rate`), among those given.
    pub fn needs_netem(&self) -> Vec<&'static str> {
        self.values()
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| *k != "rate")
            .collect()
    }

    /// The qdisc that gives this impairment: none, `tbf` for a rate alone,
    /// else `netem` (with its own rate).
    pub fn qdisc(&self) -> Option<Qdisc> {
        if self.is_empty() {
            return None;
        }
        let bytes = self.rate.map_or(0, |r| r.0 / 8);
        if self.needs_netem().is_empty() {
            return Some(Qdisc::Tbf(Tbf::for_rate(bytes)));
        }
        let ticks = |t: Option<Time>| t.map_or(0, |t| (t.0 as f64 * TICKS_PER_US) as u32);
        let p = |p: Option<Percent>| p.map_or(0, |p| p.0);
        Some(Qdisc::Netem(Netem {
            latency: ticks(self.delay),
            jitter: ticks(self.jitter),
            limit: self.limit.unwrap_or(NETEM_LIMIT),
            loss: p(self.loss),
            // as tc: reordering sends every gap-th packet at once
            gap: u32::from(self.reorder.is_some()),
            duplicate: p(self.duplicate),
            reorder: p(self.reorder),
            corrupt: p(self.corrupt),
            rate: bytes,
        }))
    }
}

impl fmt::Display for Impair {
    /// `rate=100mbit delay=10ms`, or `none`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.values();
        if v.is_empty() {
            return f.write_str("none");
        }
        let words: Vec<String> = v.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&words.join(" "))
    }
}

/// netem's queue when none is asked for (tc's default).
pub const NETEM_LIMIT: u32 = 1000;

/// A root qdisc as swctl makes it and reads it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Qdisc {
    Tbf(Tbf),
    Netem(Netem),
}

/// A device's root qdisc as observed; the kernel's default one (handle 0:
/// `noqueue`, `pfifo_fast`, `mq`) is not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QdiscObs {
    pub handle: u32,
    pub kind: String,
    /// what it gives, when it is a kind swctl reads (tbf, netem)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Qdisc>,
}

impl QdiscObs {
    /// Whether swctl put it there (its handle is `5357:`).
    pub fn is_swctl(&self) -> bool {
        self.handle >> 16 == HANDLE_MAJOR as u32
    }

    /// `tbf 8001:` (how `tc` names a qdisc)
    pub fn label(&self) -> String {
        format!("{} {:x}:", self.kind, self.handle >> 16)
    }

    /// What it is, in words: swctl's impairment (`rate=100mbit`; its label
    /// when swctl cannot read its kind), or whose it is (`tbf 1: (not
    /// swctl's)`). What plans, `status`, `show`, `impair` and `lab.watch`
    /// say of a qdisc.
    pub fn words(&self) -> String {
        match (self.is_swctl(), self.config) {
            (true, Some(c)) => c.impair().to_string(),
            (true, None) => self.label(),
            (false, _) => format!("{} (not swctl's)", self.label()),
        }
    }

    /// `words` of a device's root qdisc; `none` for the kernel's default.
    pub fn words_of(q: Option<&QdiscObs>) -> String {
        q.map_or_else(|| "none".to_string(), QdiscObs::words)
    }
}

/// The qdisc kinds this kernel has (probed: `effect::kernel::tc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QdiscKinds {
    pub tbf: bool,
    pub netem: bool,
}

/// A token bucket: `tc qdisc ... tbf rate R burst B limit L`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tbf {
    /// bytes per second
    pub rate: u64,
    /// bytes sent at once at most
    pub burst: u32,
    /// bytes queued at most
    pub limit: u32,
}

impl Tbf {
    /// The bucket for a rate: a burst of 5 ms at that rate but at least
    /// 64 KiB (a whole TCP segmentation-offload packet passes unsplit, and
    /// any MTU), a queue of 50 ms at that rate (tc's `latency 50ms`) but
    /// at least 512 KiB beyond the burst. Why the floor, measured here
    /// (iperf3, 2 s, 10mbit): a TCP sender may keep 4 MB in the qdisc
    /// (`tcp_limit_output_bytes`), and with a 127 KB queue it lost 1000 to
    /// 3400 segments a run and averaged 8.3-9.8 Mbit/s; with 512 KiB, 0
    /// and 9.7 every run (Mininet's shaped links queue 1000 packets).
    pub fn for_rate(bytes: u64) -> Tbf {
        let burst = (bytes / 200).clamp(65536, u32::MAX as u64) as u32;
        let queue = (bytes / 20).max(512 * 1024);
        let limit = (queue + burst as u64).min(u32::MAX as u64) as u32;
        Tbf {
            rate: bytes,
            burst,
            limit,
        }
    }
}

/// The network emulator: `tc qdisc ... netem delay D J loss L ...`
/// (`tc_netem_qopt` and the attributes swctl sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Netem {
    /// delay, in scheduler ticks
    pub latency: u32,
    /// jitter, in scheduler ticks
    pub jitter: u32,
    /// packets queued at most
    pub limit: u32,
    pub loss: u32,
    pub gap: u32,
    pub duplicate: u32,
    pub reorder: u32,
    pub corrupt: u32,
    /// bytes per second; 0: no rate
    pub rate: u64,
}

impl Qdisc {
    pub fn kind(&self) -> &'static str {
        match self {
            Qdisc::Tbf(_) => "tbf",
            Qdisc::Netem(_) => "netem",
        }
    }

    /// Whether `have` (read back from the kernel) is this qdisc. The
    /// kernel keeps a bucket's burst as a time at the rate, so it reads
    /// back within a byte or so of what was asked.
    pub fn matches(&self, have: &Qdisc) -> bool {
        match (self, have) {
            (Qdisc::Tbf(w), Qdisc::Tbf(h)) => {
                w.rate == h.rate
                    && w.limit == h.limit
                    && w.burst.abs_diff(h.burst) <= w.burst / 1000 + 2
            }
            _ => self == have,
        }
    }

    /// The impairment this qdisc gives (what `show` and `export` say).
    pub fn impair(&self) -> Impair {
        let rate = |bytes: u64| (bytes > 0).then_some(Rate(bytes * 8));
        match *self {
            Qdisc::Tbf(t) => Impair {
                rate: rate(t.rate),
                ..Impair::default()
            },
            Qdisc::Netem(n) => {
                let time = |ticks: u32| {
                    (ticks > 0).then_some(Time((ticks as f64 / TICKS_PER_US).round() as u32))
                };
                let p = |v: u32| (v > 0).then_some(Percent(v));
                Impair {
                    rate: rate(n.rate),
                    delay: time(n.latency),
                    jitter: time(n.jitter),
                    loss: p(n.loss),
                    corrupt: p(n.corrupt),
                    duplicate: p(n.duplicate),
                    reorder: p(n.reorder),
                    limit: (n.limit != NETEM_LIMIT).then_some(n.limit),
                }
            }
        }
    }

    /// `tc`'s words for this qdisc (after `tc qdisc replace dev DEV root
    /// handle 5357:`): what the step prints, and what the wire test asks
    /// `tc` to send.
    pub fn tc_args(&self) -> String {
        match *self {
            Qdisc::Tbf(t) => format!(
                "tbf rate {} burst {} limit {}",
                Rate(t.rate * 8),
                t.burst,
                t.limit
            ),
            Qdisc::Netem(n) => {
                let i = self.impair();
                let mut s = String::from("netem");
                if let Some(d) = i.delay {
                    s += &format!(" delay {d}");
                    if let Some(j) = i.jitter {
                        s += &format!(" {j}");
                    }
                }
                for (k, v) in [
                    ("loss", i.loss),
                    ("duplicate", i.duplicate),
                    ("corrupt", i.corrupt),
                    ("reorder", i.reorder),
                ] {
                    if let Some(v) = v {
                        s += &format!(" {k} {v}");
                    }
                }
                s += &format!(" limit {}", n.limit);
                if let Some(r) = i.rate {
                    s += &format!(" rate {r}");
                }
                s
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_sets_its_own_field() {
        let mut all = Impair::default();
        let sample = |k: &str| match k {
            "rate" => "1mbit",
            "delay" | "jitter" => "1ms",
            "limit" => "10",
            _ => "1%",
        };
        for k in KEYS {
            let mut one = Impair::default();
            one.set(k, sample(k)).unwrap();
            assert_eq!(one.values().len(), 1, "{k}");
            assert_eq!(one.values()[0].0, *k);
            all.set(k, sample(k)).unwrap();
        }
        assert_eq!(all.values().len(), KEYS.len());
        assert!(all.set("speed", "1").is_err());
    }

    #[test]
    fn a_rate_alone_is_a_token_bucket_the_rest_netem() {
        let mut i = Impair::default();
        assert_eq!(i.qdisc(), None);
        i.set("rate", "100mbit").unwrap();
        let Some(Qdisc::Tbf(t)) = i.qdisc() else {
            panic!("tbf")
        };
        assert_eq!((t.rate, t.burst), (12_500_000, 65536));
        assert_eq!(t.limit, 625_000 + 65536);
        i.set("delay", "10ms").unwrap();
        i.set("reorder", "25%").unwrap();
        let Some(Qdisc::Netem(n)) = i.qdisc() else {
            panic!("netem")
        };
        assert_eq!(n.latency, 156_250);
        assert_eq!((n.gap, n.limit, n.rate), (1, 1000, 12_500_000));
        assert_eq!(i.needs_netem(), vec!["delay", "reorder"]);
        // and back
        assert_eq!(Qdisc::Netem(n).impair(), i);
        assert_eq!(
            Qdisc::Netem(n).tc_args(),
            "netem delay 10ms reorder 25% limit 1000 rate 100mbit"
        );
    }

    #[test]
    fn jitter_and_reorder_need_a_delay() {
        let mut i = Impair::default();
        i.set("jitter", "1ms").unwrap();
        assert!(i.check().unwrap_err().contains("needs a delay"));
        i.set("delay", "5ms").unwrap();
        assert!(i.check().is_ok());
    }
}
