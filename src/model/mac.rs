//! Ethernet addresses: the stable one swctl gives each device it makes
//! (derived from what names the device, so a device made again keeps its
//! address and its neighbours' caches stay right), and parsing the text
//! form `ip link` and OVSDB write; and the stable hash derived names and
//! addresses come from.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Text that is not an Ethernet address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an Ethernet address (six hex bytes joined by ':')")]
pub struct BadMac(pub String);

/// An Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// A stable, locally administered unicast address for what `parts`
    /// name (lab, namespace, interface): a device made again gets the same
    /// address, so its neighbours' ARP/ND entries stay right.
    pub fn stable(parts: &[&str]) -> Mac {
        let a = stable_hash(parts).to_be_bytes();
        let mut more: Vec<&str> = parts.to_vec();
        more.push("mac");
        let b = stable_hash(&more).to_be_bytes();
        // bit 1 of the first byte: locally administered; bit 0: unicast
        Mac([(a[0] & 0xfc) | 0x02, a[1], a[2], a[3], b[0], b[1]])
    }
}

impl FromStr for Mac {
    type Err = BadMac;
    /// `02:a0:00:00:00:01`, as `ip link` and OVSDB write it.
    fn from_str(s: &str) -> Result<Mac, BadMac> {
        let bytes: Vec<u8> = s
            .split(':')
            .map(|b| u8::from_str_radix(b, 16))
            .collect::<Result<_, _>>()
            .map_err(|_| BadMac(s.into()))?;
        let b: [u8; 6] = bytes.try_into().map_err(|_| BadMac(s.into()))?;
        Ok(Mac(b))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// FNV-1a, 32 bits: a stable hash for derived interface names (stable across
/// runs and Rust versions, unlike `DefaultHasher`).
pub fn stable_hash(parts: &[&str]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0u8)) {
            h ^= b as u32;
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_macs_are_local_unicast_and_differ() {
        let a = Mac::stable(&["lab", "h1", "eth0"]);
        assert_eq!(a, Mac::stable(&["lab", "h1", "eth0"]));
        assert_eq!(a.0[0] & 0x03, 0x02, "locally administered unicast");
        assert_ne!(a, Mac::stable(&["lab", "h2", "eth0"]));
        assert_ne!(a, Mac::stable(&["lab2", "h1", "eth0"]));
        assert_eq!(a.to_string().len(), 17);
    }

    #[test]
    fn the_text_form_reads_back() {
        let a = Mac::stable(&["x"]);
        assert_eq!(a.to_string().parse::<Mac>().unwrap(), a);
        assert!("02:00:00:00:00".parse::<Mac>().is_err());
        assert!("02:00:00:00:00:zz".parse::<Mac>().is_err());
    }
}
