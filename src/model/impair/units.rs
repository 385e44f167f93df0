//! The values of an impairment in `tc`'s words, read and written back the
//! same: a rate (`100mbit`, bits per second; tc's units of
//! lib/utils_math.c), a time (`10ms`, microseconds, as iproute2 6.1 keeps
//! netem's delay), a probability (`1%`, as the kernel holds it: a fraction
//! of `u32::MAX`).

use std::fmt;

use serde::Serialize;

use super::TICKS_PER_US;

/// A rate, in bits per second (`100mbit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rate(pub u64);

/// A time, in microseconds (`10ms`, `500us`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Time(pub u32);

/// A probability as the kernel holds it: the fraction of `u32::MAX`
/// (`1%` is 42949673).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Percent(pub u32);

/// Decimal units first (what people write), largest first.
const RATE_UNITS: &[(&str, u64)] = &[
    ("tbit", 1_000_000_000_000),
    ("gbit", 1_000_000_000),
    ("mbit", 1_000_000),
    ("kbit", 1_000),
    ("bit", 1),
];

/// tc's other rate units (lib/utils_math.c), case-insensitive as there.
const RATE_UNITS_MORE: &[(&str, f64)] = &[
    ("kibit", 1024.0),
    ("mibit", 1048576.0),
    ("gibit", 1073741824.0),
    ("tibit", 1099511627776.0),
    ("bps", 8.0),
    ("kibps", 8.0 * 1024.0),
    ("kbps", 8000.0),
    ("mibps", 8.0 * 1048576.0),
    ("mbps", 8e6),
    ("gibps", 8.0 * 1073741824.0),
    ("gbps", 8e9),
    ("tibps", 8.0 * 1099511627776.0),
    ("tbps", 8e12),
];

/// A number and the letters after it (`"1.5ms"` → 1.5, "ms").
fn number_unit(s: &str) -> Option<(f64, String)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let n: f64 = s[..end].parse().ok()?;
    Some((n, s[end..].trim().to_ascii_lowercase()))
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || {
            format!(
                "{s:?} is not a rate: a number and a unit, e.g. 100mbit, 1gbit, 512kbit, 10mbps (bytes)"
            )
        };
        let (n, unit) = number_unit(s).ok_or_else(bad)?;
        let scale = RATE_UNITS
            .iter()
            .map(|(u, v)| (*u, *v as f64))
            .chain(RATE_UNITS_MORE.iter().copied())
            .find(|(u, _)| *u == unit)
            .map(|(_, v)| v)
            .ok_or_else(bad)?;
        let bits = n * scale;
        if bits < 8.0 || bits >= u64::MAX as f64 {
            return Err(format!("{s:?}: a rate is 8bit (one byte a second) or more"));
        }
        Ok(Rate(bits as u64))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (u, v) = RATE_UNITS
            .iter()
            .find(|(_, v)| self.0.is_multiple_of(*v))
            .expect("bit divides all");
        write!(f, "{}{u}", self.0 / v)
    }
}

impl std::str::FromStr for Time {
    type Err = String;
    fn from_str(s: &str) -> Result<Time, String> {
        let bad =
            || format!("{s:?} is not a time: a number and a unit, e.g. 10ms, 1.5ms, 500us, 1s");
        let (n, unit) = number_unit(s).ok_or_else(bad)?;
        let scale = match unit.as_str() {
            "s" | "sec" | "secs" => 1e6,
            "ms" | "msec" | "msecs" => 1e3,
            "us" | "usec" | "usecs" => 1.0,
            _ => return Err(bad()),
        };
        let us = n * scale;
        // netem keeps it in 32-bit ticks of 64 ns
        if us * TICKS_PER_US >= u32::MAX as f64 {
            return Err(format!("{s:?}: at most 274s"));
        }
        Ok(Time(us as u32))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            t if t > 0 && t % 1_000_000 == 0 => write!(f, "{}s", t / 1_000_000),
            t if t > 0 && t % 1000 == 0 => write!(f, "{}ms", t / 1000),
            t => write!(f, "{t}us"),
        }
    }
}

impl Percent {
    fn scaled(fraction: f64) -> u32 {
        (fraction * u32::MAX as f64).round() as u32
    }
}

impl std::str::FromStr for Percent {
    type Err = String;
    fn from_str(s: &str) -> Result<Percent, String> {
        let bad = || format!("{s:?} is not a percentage: e.g. 1%, 0.5%");
        let (n, unit) = number_unit(s).ok_or_else(bad)?;
        if unit != "%" {
            return Err(bad());
        }
        if n > 100.0 {
            return Err(format!("{s:?}: at most 100%"));
        }
        Ok(Percent(Percent::scaled(n / 100.0)))
    }
}

impl fmt::Display for Percent {
    /// The shortest decimal that reads back as the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = self.0 as f64 / u32::MAX as f64 * 100.0;
        for digits in 0..=10 {
            let s = format!("{pct:.digits$}");
            if let Ok(v) = s.parse::<f64>()
                && Percent::scaled(v / 100.0) == self.0
            {
                let s = if s.contains('.') {
                    s.trim_end_matches('0').trim_end_matches('.').to_string()
                } else {
                    s
                };
                return write!(f, "{s}%");
            }
        }
        write!(f, "{pct}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_tc_reads_them() {
        assert_eq!("100mbit".parse::<Rate>().unwrap(), Rate(100_000_000));
        assert_eq!("1.5Gbit".parse::<Rate>().unwrap(), Rate(1_500_000_000));
        assert_eq!("10mbps".parse::<Rate>().unwrap(), Rate(80_000_000));
        assert_eq!("1kibit".parse::<Rate>().unwrap(), Rate(1024));
        assert!("100".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
        assert_eq!("10ms".parse::<Time>().unwrap(), Time(10_000));
        assert_eq!("1.5ms".parse::<Time>().unwrap(), Time(1500));
        assert_eq!("2s".parse::<Time>().unwrap(), Time(2_000_000));
        assert!("10".parse::<Time>().is_err());
        assert!("300s".parse::<Time>().is_err());
        assert_eq!("1%".parse::<Percent>().unwrap(), Percent(42_949_673));
        assert_eq!("100%".parse::<Percent>().unwrap(), Percent(u32::MAX));
        assert!("101%".parse::<Percent>().is_err());
        assert!("1".parse::<Percent>().is_err());
    }

    #[test]
    fn values_are_written_as_they_read_back() {
        for s in ["100mbit", "1500kbit", "1gbit", "7bit"] {
            let r: Rate = s.parse().unwrap_or(Rate(7));
            assert_eq!(r.to_string().parse::<Rate>().unwrap_or(Rate(7)), r);
        }
        assert_eq!(Rate(100_000_000).to_string(), "100mbit");
        assert_eq!(Time(1500).to_string(), "1500us");
        assert_eq!(Time(10_000).to_string(), "10ms");
        for s in ["1%", "0.5%", "0.001%", "33.3333%", "100%", "0%"] {
            let p: Percent = s.parse().unwrap();
            assert_eq!(p.to_string(), s, "{s}");
        }
    }
}
