//! Validated names and addresses: namespace names, interface names, owner
//! names, CIDRs and route destinations. Everything the user types passes
//! through here before swctl touches the system, so a bad argument can never
//! leave half a topology behind.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Why a name or address was refused. One variant per rule, so the message
/// says exactly what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("namespace name is empty")]
    EmptyNamespace,
    #[error("namespace name {0:?} is not a plain file name (no '/', no '.' or '..', no NUL)")]
    NamespaceNotFileName(String),
    #[error("namespace name {0:?} is reserved: `host` means the host's own namespace")]
    NamespaceReserved(String),
    #[error("namespace name {0:?} is too long ({1} bytes, at most 64)")]
    NamespaceTooLong(String, usize),
    #[error("namespace name {0:?} contains whitespace or a control character")]
    NamespaceBadChar(String),
    #[error("interface name is empty")]
    EmptyIfName,
    #[error("expected {expected}, found {found}")]
    OptionType {
        expected: &'static str,
        found: String,
    },
    #[error("interface name {0:?} is too long ({1} bytes, the kernel allows at most 15)")]
    IfNameTooLong(String, usize),
    #[error(
        "interface name {0:?} is not legal: no '/', ':', whitespace or control characters, and not '.' or '..'"
    )]
    IfNameBadChar(String),
    #[error(
        "{0:?} is not an address with a prefix length (expected e.g. 198.18.0.1/24 or 2001:db8::1/64)"
    )]
    CidrSyntax(String),
    #[error("{0:?}: prefix length {1} is too long for {2} (at most {3})")]
    CidrPrefix(String, u32, &'static str, u8),
    #[error("{0:?} is not an IP address")]
    IpSyntax(String),
    #[error(
        "{0:?} is not a route destination (expected `default` or a network such as 198.18.1.0/24)"
    )]
    RouteDest(String),
    #[error("owner/topology name {0:?} must be 1-32 characters of A-Z a-z 0-9 _ . -")]
    OwnerName(String),
    #[error("{0} is not an MTU (68-65535)")]
    Mtu(i64),
    #[error("{0} is not a VLAN id (1-4094)")]
    Vlan(i64),
    #[error("{0:?} is not an OVSDB address (expected unix:PATH or tcp:HOST:PORT)")]
    OvsdbAddr(String),
    #[error("{0:?} is not one of {1}")]
    OneOf(String, &'static str),
    /// a value of the wrong form, and what the form is
    #[error("{0:?} is not {1}")]
    Form(String, &'static str),
    /// a flow that cannot be read (`openflow::text`), and why
    #[error("flow {0:?}: {1}")]
    Flow(String, String),
    /// a mirror of a switch that cannot be (`model::mirror`), and why
    #[error("{0}")]
    Mirror(String),
}

/// An MTU as the kernel takes it for these devices (68-65535).
pub fn mtu(v: i64) -> Result<u32, InvalidInput> {
    if (68..=65535).contains(&v) {
        Ok(v as u32)
    } else {
        Err(InvalidInput::Mtu(v))
    }
}

/// An 802.1Q VLAN id usable as an access VLAN (1-4094).
pub fn vlan(v: i64) -> Result<u16, InvalidInput> {
    if (1..=4094).contains(&v) {
        Ok(v as u16)
    } else {
        Err(InvalidInput::Vlan(v))
    }
}

/// An OVSDB server address as ovs-vsctl's --db takes it.
pub fn ovsdb_addr(s: &str) -> Result<String, InvalidInput> {
    let ok = |rest: &str| !rest.is_empty();
    match s.split_once(':') {
        Some(("unix", p)) if ok(p) => Ok(s.to_string()),
        Some(("tcp", hp))
            if hp
                .rsplit_once(':')
                .is_some_and(|(h, p)| ok(h) && p.parse::<u16>().is_ok()) =>
        {
            Ok(s.to_string())
        }
        _ => Err(InvalidInput::OvsdbAddr(s.to_string())),
    }
}

/// An OVS datapath type swctl can ask for.
pub fn datapath(s: &str) -> Result<String, InvalidInput> {
    match s {
        "system" | "netdev" => Ok(s.to_string()),
        _ => Err(InvalidInput::OneOf(s.to_string(), "\"system\", \"netdev\"")),
    }
}

/// A named network namespace as iproute2 knows it: a file under /run/netns.
/// The reserved word `host` is never a `NsName`; see [`Loc`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NsName(String);

impl NsName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NsName {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        if s.is_empty() {
            return Err(InvalidInput::EmptyNamespace);
        }
        if s == "host" {
            return Err(InvalidInput::NamespaceReserved(s.into()));
        }
        if s == "." || s == ".." || s.contains('/') || s.contains('\0') {
            return Err(InvalidInput::NamespaceNotFileName(s.into()));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidInput::NamespaceBadChar(s.into()));
        }
        // NAME_MAX would allow 255; 64 keeps derived names and messages sane.
        if s.len() > 64 {
            return Err(InvalidInput::NamespaceTooLong(s.into(), s.len()));
        }
        Ok(NsName(s.to_string()))
    }
}

impl fmt::Display for NsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl Serialize for NsName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Where a device lives: the host's own namespace or a named one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Loc {
    #[default]
    Host,
    Ns(NsName),
}

impl Loc {
    pub fn ns(&self) -> Option<&NsName> {
        match self {
            Loc::Host => None,
            Loc::Ns(n) => Some(n),
        }
    }

    /// The `-n NS ` of an `ip` command run in this location (empty for
    /// the host), for the command texts of steps and errors.
    pub fn ip_n(&self) -> String {
        match self {
            Loc::Host => String::new(),
            Loc::Ns(n) => format!("-n {n} "),
        }
    }
}

impl FromStr for Loc {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        if s == "host" {
            Ok(Loc::Host)
        } else {
            Ok(Loc::Ns(s.parse()?))
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Host => f.pad("host"),
            Loc::Ns(n) => f.pad(n.as_str()),
        }
    }
}

impl Serialize for Loc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A kernel interface name: 1..=15 bytes (IFNAMSIZ - 1), and what
/// `dev_valid_name()` in net/core/dev.c accepts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfName(String);

impl IfName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IfName {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        if s.is_empty() {
            return Err(InvalidInput::EmptyIfName);
        }
        if s.len() > 15 {
            return Err(InvalidInput::IfNameTooLong(s.into(), s.len()));
        }
        if s == "."
            || s == ".."
            || s.chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
        {
            return Err(InvalidInput::IfNameBadChar(s.into()));
        }
        Ok(IfName(s.to_string()))
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl Serialize for IfName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Who owns what swctl creates: `cli` for imperative commands, otherwise a
/// topology name. Written into every ownership mark.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner(String);

impl Owner {
    pub fn cli() -> Owner {
        Owner("cli".into())
    }

    /// The owner of lab `self`'s part on machine `m` (`LAB+MACHINE`): what
    /// that machine's agent marks its objects with, so that simulated
    /// machines sharing one /run/netns never take each other's namespaces.
    pub fn for_machine(&self, m: &Owner) -> Owner {
        Owner(format!("{}+{}", self.lab(), m.0))
    }

    /// The lab of an owner (the part before `+`).
    pub fn lab(&self) -> &str {
        self.0.split('+').next().unwrap_or(&self.0)
    }

    /// The machine of a machine part's owner.
    pub fn machine(&self) -> Option<&str> {
        self.0.split_once('+').map(|(_, m)| m)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Owner {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        // LAB+MACHINE (a machine part's owner): each half as a name
        let ok = s.split('+').count() <= 2
            && s.split('+').all(|part| {
                !part.is_empty()
                    && part.len() <= 32
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            });
        if ok {
            Ok(Owner(s.into()))
        } else {
            Err(InvalidInput::OwnerName(s.into()))
        }
    }
}

impl Serialize for Owner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// An interface address with its prefix length, e.g. 198.18.0.1/24.
/// Parsed strictly: no missing prefix, no leading zeros, no spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// An IPv6 link-local address (fe80::/10): the kernel's own, never swctl's.
    pub fn is_link_local(&self) -> bool {
        matches!(self.addr, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80)
    }
    pub fn max_prefix(addr: &IpAddr) -> u8 {
        if addr.is_ipv4() { 32 } else { 128 }
    }

    /// The network this address belongs to (host bits cleared).
    pub fn network(&self) -> Cidr {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                IpAddr::V6((bits & mask).into())
            }
        };
        Cidr {
            addr,
            prefix: self.prefix,
        }
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        if self.addr.is_ipv4() != ip.is_ipv4() {
            return false;
        }
        Cidr {
            addr: *ip,
            prefix: self.prefix,
        }
        .network()
            == self.network()
    }
}

impl FromStr for Cidr {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| InvalidInput::CidrSyntax(s.into()))?;
        let addr: IpAddr = a.parse().map_err(|_| InvalidInput::CidrSyntax(s.into()))?;
        if p.is_empty()
            || !p.bytes().all(|b| b.is_ascii_digit())
            || (p.len() > 1 && p.starts_with('0'))
        {
            return Err(InvalidInput::CidrSyntax(s.into()));
        }
        let prefix: u32 = p.parse().map_err(|_| InvalidInput::CidrSyntax(s.into()))?;
        let max = Cidr::max_prefix(&addr);
        if prefix > max as u32 {
            let fam = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
            return Err(InvalidInput::CidrPrefix(s.into(), prefix, fam, max));
        }
        Ok(Cidr {
            addr,
            prefix: prefix as u8,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A route destination: `default` (0.0.0.0/0 or ::/0, by the gateway's
/// family) or a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteDest {
    Default,
    Net(Cidr),
}

impl FromStr for RouteDest {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        if s == "default" {
            return Ok(RouteDest::Default);
        }
        let c: Cidr = s.parse().map_err(|_| InvalidInput::RouteDest(s.into()))?;
        if c.network() != c {
            // `ip route add 198.18.1.5/24` is refused by the kernel too.
            return Err(InvalidInput::RouteDest(s.into()));
        }
        Ok(RouteDest::Net(c))
    }
}

impl fmt::Display for RouteDest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteDest::Default => f.write_str("default"),
            RouteDest::Net(c) => c.fmt(f),
        }
    }
}

impl Serialize for RouteDest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Names or values joined by spaces, as a command line lists them
/// (`ns add h1 h2`).
pub fn join_words<T: fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parse a plain IP address (a gateway), strictly.
pub fn parse_ip(s: &str) -> Result<IpAddr, InvalidInput> {
    s.parse().map_err(|_| InvalidInput::IpSyntax(s.into()))
}

pub use super::mac::{Mac, stable_hash};

/// A deterministic interface name for a device swctl derives itself:
/// up to 8 bytes of `base`, a dash, 6 hex digits of the hash of `key`.
/// Always ≤ 15 bytes and legal; stable for the same inputs.
pub fn derived_ifname(base: &str, key: &[&str]) -> IfName {
    let mut b: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
        .collect();
    if b.is_empty() {
        b.push('s');
    }
    let mut cut = b.len().min(8);
    while !b.is_char_boundary(cut) {
        cut -= 1;
    }
    b.truncate(cut);
    let h = stable_hash(key) & 0x00ff_ffff;
    IfName(format!("{b}-{h:06x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_names() {
        assert!("blue".parse::<NsName>().is_ok());
        assert!("a-b_c.1".parse::<NsName>().is_ok());
        for bad in [
            "", "host", ".", "..", "a/b", "../x", "a b", "tab\t", "nul\0",
        ] {
            assert!(bad.parse::<NsName>().is_err(), "{bad:?} accepted");
        }
        assert!("x".repeat(65).parse::<NsName>().is_err());
        assert_eq!("host".parse::<Loc>().unwrap(), Loc::Host);
    }

    #[test]
    fn ifnames() {
        assert!("eth0".parse::<IfName>().is_ok());
        assert!("a23456789012345".parse::<IfName>().is_ok());
        assert!(matches!(
            "a234567890123456".parse::<IfName>(),
            Err(InvalidInput::IfNameTooLong(_, 16))
        ));
        for bad in ["", ".", "..", "a/b", "a:b", "a b"] {
            assert!(bad.parse::<IfName>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "198.18.0.1/24".parse().unwrap();
        assert_eq!(c.prefix, 24);
        assert_eq!(c.network().to_string(), "198.18.0.0/24");
        assert!(c.contains(&"198.18.0.200".parse().unwrap()));
        assert!(!c.contains(&"198.18.1.1".parse().unwrap()));
        assert!("2001:db8::1/64".parse::<Cidr>().is_ok());
        for bad in [
            "198.18.0.1",
            "198.18.0.1/33",
            "198.18.0.1/",
            "198.18.0.1/024",
            "198.18.0/24",
            " 198.18.0.1/24",
            "198.18.0.1/24 ",
            "::1/129",
            "x/3",
            "198.18.0.1/+4",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn route_dest() {
        assert_eq!("default".parse::<RouteDest>().unwrap(), RouteDest::Default);
        assert!("198.18.1.0/24".parse::<RouteDest>().is_ok());
        assert!("198.18.1.5/24".parse::<RouteDest>().is_err());
    }

    #[test]
    fn derived_names_are_short_stable_distinct() {
        let a = derived_ifname("averyveryverylongnamespace", &["a", "b"]);
        assert!(a.as_str().len() <= 15);
        assert_eq!(a, derived_ifname("averyveryverylongnamespace", &["a", "b"]));
        assert_ne!(a, derived_ifname("averyveryverylongnamespace", &["a", "c"]));
        // key parts are separated, so ("ab","c") and ("a","bc") differ
        assert_ne!(stable_hash(&["ab", "c"]), stable_hash(&["a", "bc"]));
        assert!(a.as_str().parse::<IfName>().is_ok());
    }

    #[test]
    fn owners() {
        assert!("lab-1".parse::<Owner>().is_ok());
        assert!("a b".parse::<Owner>().is_err());
        assert!("".parse::<Owner>().is_err());
    }
}
