//! An OVS bridge's OpenFlow settings as a topology asks for them: its
//! controllers, its fail mode, the OpenFlow versions it speaks and its
//! datapath id — the rules of each value (what `ovs-vsctl set-controller`,
//! `set-fail-mode` and `set Bridge protocols=` take) and the settings as
//! Open vSwitch holds them. Planned by `plan::ovs_openflow`.

use serde::Serialize;

use super::names::InvalidInput;

/// What a bridge does when no controller answers (`fail_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// forward as a learning switch (the NORMAL action) until a
    /// controller connects: swctl's default, so a lab works without one
    #[default]
    Standalone,
    /// forward only by the flows in the tables: nothing without a
    /// controller or flows
    Secure,
}

impl FailMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            FailMode::Standalone => "standalone",
            FailMode::Secure => "secure",
        }
    }
}

impl std::str::FromStr for FailMode {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        match s {
            "standalone" => Ok(FailMode::Standalone),
            "secure" => Ok(FailMode::Secure),
            _ => Err(InvalidInput::OneOf(
                s.to_string(),
                "\"standalone\", \"secure\"",
            )),
        }
    }
}

/// The OpenFlow settings of one bridge. The default is what swctl has
/// always made: standalone, no controller, OVS's own versions, OVS's own
/// datapath id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OpenFlow {
    /// controller targets, sorted, each once (`controller()`)
    pub controllers: Vec<String>,
    pub fail_mode: FailMode,
    /// OpenFlow versions (`OpenFlow10` .. `OpenFlow15`), sorted, each
    /// once; none: what ovs-vswitchd enables by default (1.0 to 1.5 on
    /// 3.1)
    pub protocols: Vec<String>,
    /// 16 hex digits, lowercase; None: OVS derives one from the bridge's
    /// address
    pub datapath_id: Option<String>,
}

impl OpenFlow {
    /// From the words of a command or a file, each checked; lists sorted,
    /// each entry once.
    pub fn parse(
        controllers: &[String],
        fail_mode: Option<&str>,
        protocols: &[String],
        datapath_id: Option<&str>,
    ) -> Result<OpenFlow, InvalidInput> {
        let sorted = |v: Result<Vec<String>, InvalidInput>| {
            v.map(|mut v| {
                v.sort();
                v.dedup();
                v
            })
        };
        Ok(OpenFlow {
            controllers: sorted(controllers.iter().map(|c| controller(c)).collect())?,
            fail_mode: fail_mode.map(str::parse).transpose()?.unwrap_or_default(),
            protocols: sorted(protocols.iter().map(|p| protocol(p)).collect())?,
            datapath_id: datapath_id.map(self::datapath_id).transpose()?,
        })
    }

    /// The differences from `want` in words ("fail_mode is secure, the
    /// file says standalone"); empty: the same.
    pub fn differences(&self, want: &OpenFlow) -> Vec<String> {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let mut d = vec![];
        if self.controllers != want.controllers {
            d.push(format!(
                "controllers are {}, the file says {}",
                list(&self.controllers),
                list(&want.controllers)
            ));
        }
        if self.fail_mode != want.fail_mode {
            d.push(format!(
                "fail_mode is {}, the file says {}",
                self.fail_mode.as_str(),
                want.fail_mode.as_str()
            ));
        }
        if self.protocols != want.protocols {
            d.push(format!(
                "protocols are {}, the file says {}",
                list(&self.protocols),
                list(&want.protocols)
            ));
        }
        if self.datapath_id != want.datapath_id {
            let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "OVS's own".into());
            d.push(format!(
                "datapath_id is {}, the file says {}",
                or(&self.datapath_id),
                or(&want.datapath_id)
            ));
        }
        d
    }
}

/// A controller as Open vSwitch reports it (a row of its Controller
/// table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Controller {
    pub target: String,
    /// ovs-vswitchd has an OpenFlow session with it
    pub is_connected: bool,
    /// `master`, `slave`, `other` (the controller's own choice)
    pub role: Option<String>,
}

/// What `show` and `status` say of a bridge's OpenFlow side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub fail_mode: FailMode,
    /// none: OVS's own
    pub protocols: Vec<String>,
    /// the datapath id in use
    pub datapath_id: Option<String>,
    pub controllers: Vec<Controller>,
}

/// The cookie of every flow swctl writes: "SW" in its top 16 bits, its
/// owner's hash in the next 32, the low 16 free (0). `OWNER_MASK` matches
/// one owner's flows, `SWCTL_MASK` every flow of swctl's.
pub const SWCTL_COOKIE: u64 = 0x5357 << 48;
pub const SWCTL_MASK: u64 = 0xffff << 48;
pub const OWNER_MASK: u64 = 0xffff_ffff_ffff_0000;

/// Whether a flow's cookie is one swctl writes (any owner's).
pub fn is_swctl(c: u64) -> bool {
    c & SWCTL_MASK == SWCTL_COOKIE
}

/// The cookie of `owner`'s flows (`ovs-ofctl add-flow BR cookie=C,...`).
pub fn cookie(owner: &super::names::Owner) -> u64 {
    SWCTL_COOKIE | u64::from(super::mac::stable_hash(&["flow", owner.as_str()])) << 16
}

/// Whose a flow is, by its cookie: one of `owners`, swctl's of an owner
/// not among them, or nobody's swctl knows (a controller's, one added by
/// hand).
pub fn owner_of(c: u64, owners: &[super::names::Owner]) -> FlowOwner {
    if !is_swctl(c) {
        return FlowOwner::Foreign;
    }
    owners
        .iter()
        .find(|o| cookie(o) == c & OWNER_MASK)
        .map_or(FlowOwner::Unknown, |o| FlowOwner::Swctl(o.clone()))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowOwner {
    /// written by swctl for this owner (a lab, or `cli`)
    Swctl(super::names::Owner),
    /// swctl's cookie, but no lab applied here has it
    Unknown,
    /// not swctl's: a controller's, or added by hand
    Foreign,
}

impl std::fmt::Display for FlowOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowOwner::Swctl(o) => write!(f, "{o}"),
            FlowOwner::Unknown => write!(f, "swctl (a lab not applied here)"),
            FlowOwner::Foreign => write!(f, "foreign"),
        }
    }
}

const TARGET_FORM: &str = "an OpenFlow controller target (tcp:IP[:PORT], ssl:IP[:PORT], unix:PATH, ptcp:[PORT][:IP], pssl:[PORT][:IP], punix:PATH)";

/// A controller target as ovs-vswitchd takes it (`ovs-vsctl
/// set-controller BR TARGET`): active `tcp:`/`ssl:` to an IP address and
/// an optional port (6653 by default), `unix:` a socket; passive
/// `ptcp:`/`pssl:` an optional port and address to listen on, `punix:` a
/// socket path. An IPv6 address goes in brackets, as OVS writes it.
pub fn controller(s: &str) -> Result<String, InvalidInput> {
    let bad = || InvalidInput::Form(s.to_string(), TARGET_FORM);
    let port_ok = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    // "IP" or "[IPv6]", then an optional ":PORT"
    let ip_port = |rest: &str, ip_required: bool| -> bool {
        let (ip, port) = if let Some(r) = rest.strip_prefix('[') {
            match r.split_once(']') {
                Some((ip, tail)) => (Some(ip), tail.strip_prefix(':')),
                None => return false,
            }
        } else {
            match rest.split_once(':') {
                Some((ip, p)) => (Some(ip).filter(|i| !i.is_empty()), Some(p)),
                None => (Some(rest).filter(|i| !i.is_empty()), None),
            }
        };
        let ip_ok = match ip {
            Some(ip) => ip.parse::<std::net::IpAddr>().is_ok(),
            None => !ip_required,
        };
        ip_ok && port.is_none_or(port_ok)
    };
    let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
    let ok = match kind {
        "tcp" | "ssl" => ip_port(rest, true),
        "unix" | "punix" => !rest.is_empty() && !rest.contains('\0'),
        // ptcp:[PORT][:IP]
        "ptcp" | "pssl" => {
            let (port, ip) = match rest.split_once(':') {
                Some((p, ip)) => (p, Some(ip.trim_start_matches('[').trim_end_matches(']'))),
                None => (rest, None),
            };
            (port.is_empty() || port_ok(port))
                && ip.is_none_or(|i| i.parse::<std::net::IpAddr>().is_ok())
        }
        _ => false,
    };
    if ok { Ok(s.to_string()) } else { Err(bad()) }
}

/// The OpenFlow versions Open vSwitch knows (`Bridge.protocols`).
pub const PROTOCOLS: &[&str] = &[
    "OpenFlow10",
    "OpenFlow11",
    "OpenFlow12",
    "OpenFlow13",
    "OpenFlow14",
    "OpenFlow15",
];

/// One OpenFlow version by its OVS name.
pub fn protocol(s: &str) -> Result<String, InvalidInput> {
    if PROTOCOLS.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(InvalidInput::OneOf(
            s.to_string(),
            "\"OpenFlow10\", \"OpenFlow11\", \"OpenFlow12\", \"OpenFlow13\", \"OpenFlow14\", \"OpenFlow15\"",
        ))
    }
}

/// A datapath id as ovs-vswitchd takes it (`other_config:datapath-id`):
/// exactly 16 hex digits, not all zero (ovs-vswitchd ignores any other
/// value and keeps its own); an `0x` before them is dropped, and the
/// digits are kept lowercase, as OVS reports them.
pub fn datapath_id(s: &str) -> Result<String, InvalidInput> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()) && h.chars().any(|c| c != '0') {
        Ok(h.to_ascii_lowercase())
    } else {
        Err(InvalidInput::Form(
            s.to_string(),
            "a datapath id (16 hex digits, not all zero, e.g. 0000000000000001)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_targets_as_ovs_takes_them() {
        for t in [
            "tcp:198.18.0.1:6653",
            "tcp:198.18.0.1",
            "ssl:[2001:db8::1]:6653",
            "unix:/run/c.sock",
            "ptcp:6653",
            "ptcp:6653:127.0.0.1",
            "ptcp:",
            "punix:/run/x.mgmt",
        ] {
            assert_eq!(controller(t).unwrap(), t);
        }
        for t in [
            "tcp:",
            "tcp:host.example:6653",
            "tcp:198.18.0.1:0",
            "tcp:198.18.0.1:70000",
            "udp:198.18.0.1:6653",
            "unix:",
            "ptcp:x",
            "198.18.0.1:6653",
        ] {
            let e = controller(t).unwrap_err().to_string();
            assert!(e.contains("OpenFlow controller target"), "{t}: {e}");
        }
    }

    #[test]
    fn versions_fail_modes_and_datapath_ids() {
        assert_eq!(protocol("OpenFlow13").unwrap(), "OpenFlow13");
        assert!(protocol("OpenFlow16").is_err());
        assert_eq!("secure".parse::<FailMode>().unwrap(), FailMode::Secure);
        assert!("open".parse::<FailMode>().is_err());
        assert_eq!(
            datapath_id("0x00000000000000AB").unwrap(),
            "00000000000000ab"
        );
        for bad in [
            "1",
            "0000000000000000",
            "00000000000000zz",
            "00000000000000001",
        ] {
            assert!(datapath_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn differences_are_said_in_words() {
        let want = OpenFlow {
            fail_mode: FailMode::Secure,
            controllers: vec!["tcp:198.18.0.1:6653".into()],
            ..Default::default()
        };
        let have = OpenFlow::default();
        let d = have.differences(&want);
        assert_eq!(
            d,
            [
                "controllers are none, the file says tcp:198.18.0.1:6653",
                "fail_mode is standalone, the file says secure"
            ]
        );
        assert!(want.differences(&want).is_empty());
    }
}
