//! A trunk's bond: `bond = { members = N, mode = "...", lacp = "..." }` on
//! a trunk between two OVS switches — N veth pairs, an OVS bond at each end
//! (`ovs-vsctl add-bond BR PORT M1 M2 bond_mode=MODE lacp=LACP
//! other_config:lacp-time=fast`). The values, their rules and their words;
//! planned by `plan::ovs_bond`.

use serde::Serialize;
use serde_json::Value;

/// How an OVS bond spreads frames over its members (the Port
/// `bond_mode` column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BondMode {
    /// one member carries everything, another takes over when it fails
    /// (OVS's default)
    #[default]
    ActiveBackup,
    /// by source MAC and VLAN, rebalanced now and then; needs nothing of
    /// the other end
    BalanceSlb,
    /// by L2-L4 headers; needs LACP negotiated (without it OVS drops
    /// every frame: `choose_output_member` in ofproto/bond.c)
    BalanceTcp,
}

/// Whether an end speaks LACP (the Port `lacp` column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lacp {
    /// sends LACPDUs
    Active,
    /// answers an active partner only
    Passive,
    /// no LACP (OVS's default)
    #[default]
    Off,
}

impl BondMode {
    pub const ALL: [BondMode; 3] = [
        BondMode::ActiveBackup,
        BondMode::BalanceSlb,
        BondMode::BalanceTcp,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            BondMode::ActiveBackup => "active-backup",
            BondMode::BalanceSlb => "balance-slb",
            BondMode::BalanceTcp => "balance-tcp",
        }
    }
}

impl Lacp {
    pub const ALL: [Lacp; 3] = [Lacp::Active, Lacp::Passive, Lacp::Off];
    pub fn as_str(self) -> &'static str {
        match self {
            Lacp::Active => "active",
            Lacp::Passive => "passive",
            Lacp::Off => "off",
        }
    }
}

fn pick<T: Copy>(all: &[T], word: fn(T) -> &'static str, s: &str) -> Result<T, String> {
    all.iter().copied().find(|x| word(*x) == s).ok_or_else(|| {
        let names: Vec<String> = all.iter().map(|x| format!("{:?}", word(*x))).collect();
        format!("{s:?} is not one of {}", names.join(", "))
    })
}

/// The most members a bond takes here: each is a veth pair and a socket
/// ovs-vswitchd reads (OVS itself has no small limit).
pub const MAX_MEMBERS: u8 = 8;

/// A trunk's bond, as the file says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bond {
    /// veth pairs (2..=MAX_MEMBERS)
    pub members: u8,
    pub mode: BondMode,
    /// each end's LACP: the trunk's `a` end, then its `b` end (`lacp`
    /// gives both, `a_lacp`/`b_lacp` one)
    pub lacp: [Lacp; 2],
}

/// The keys of a bond's table.
pub const KEYS: &[&str] = &["members", "mode", "lacp", "a_lacp", "b_lacp"];

impl Bond {
    /// A bond from its table in a topology (as JSON), every rule checked:
    /// the problem in words otherwise.
    pub fn from_json(v: &Value) -> Result<Bond, String> {
        let Some(t) = v.as_object() else {
            return Err(format!(
                "a bond is a table ({{ members = 2, mode = \"balance-tcp\", lacp = \"active\" }}), not {v}"
            ));
        };
        if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "bond: unknown key {k:?}; expected one of {}",
                KEYS.join(", ")
            ));
        }
        let text = |k: &str| -> Result<Option<&str>, String> {
            match t.get(k) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(o) => Err(format!("bond.{k}: a string, not {o}")),
            }
        };
        let members = match t.get("members") {
            None => return Err("bond: members is required (how many veth pairs)".into()),
            Some(n) => n
                .as_u64()
                .filter(|n| (2..=MAX_MEMBERS as u64).contains(n))
                .ok_or_else(|| format!("bond.members: 2 to {MAX_MEMBERS}, not {n}"))?
                as u8,
        };
        let mode = match text("mode")? {
            None => BondMode::default(),
            Some(s) => {
                pick(&BondMode::ALL, BondMode::as_str, s).map_err(|e| format!("bond.mode: {e}"))?
            }
        };
        let lacp_of = |k: &str| -> Result<Option<Lacp>, String> {
            text(k)?
                .map(|s| pick(&Lacp::ALL, Lacp::as_str, s).map_err(|e| format!("bond.{k}: {e}")))
                .transpose()
        };
        let both = lacp_of("lacp")?.unwrap_or_default();
        let lacp = [
            lacp_of("a_lacp")?.unwrap_or(both),
            lacp_of("b_lacp")?.unwrap_or(both),
        ];
        let b = Bond {
            members,
            mode,
            lacp,
        };
        b.check()?;
        Ok(b)
    }

    /// The rules between the values.
    fn check(&self) -> Result<(), String> {
        let [a, b] = self.lacp;
        if (a == Lacp::Off) != (b == Lacp::Off) {
            return Err(format!(
                "bond: LACP is {} at one end and off at the other: an end that speaks LACP never enables a member its partner does not (give lacp to both)",
                if a == Lacp::Off {
                    b.as_str()
                } else {
                    a.as_str()
                }
            ));
        }
        if a == Lacp::Passive && b == Lacp::Passive {
            return Err(
                "bond: two passive LACP ends never negotiate (each waits for the other): make one end active (a_lacp = \"active\")".into(),
            );
        }
        if self.mode == BondMode::BalanceTcp && a == Lacp::Off {
            return Err(
                "bond: balance-tcp needs LACP (without it Open vSwitch drops every frame): add lacp = \"active\", or use balance-slb or active-backup".into(),
            );
        }
        Ok(())
    }

    /// Whether the bond runs LACP.
    pub fn lacp_on(&self) -> bool {
        self.lacp[0] != Lacp::Off
    }

    /// The table as a topology file writes it.
    pub fn to_toml(&self) -> String {
        let [a, b] = self.lacp;
        let lacp = if a == b {
            format!("lacp = \"{}\"", a.as_str())
        } else {
            format!("a_lacp = \"{}\", b_lacp = \"{}\"", a.as_str(), b.as_str())
        };
        format!(
            "{{ members = {}, mode = \"{}\", {lacp} }}",
            self.members,
            self.mode.as_str()
        )
    }
}

impl std::fmt::Display for Bond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} members, {}", self.members, self.mode.as_str())?;
        match self.lacp {
            [Lacp::Off, _] => write!(f, ", no LACP"),
            [a, b] if a == b => write!(f, ", LACP {}", a.as_str()),
            [a, b] => write!(f, ", LACP {}/{}", a.as_str(), b.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bond_reads_with_the_defaults_of_ovs() {
        let b = Bond::from_json(&json!({"members": 2})).unwrap();
        assert_eq!(b.mode, BondMode::ActiveBackup);
        assert_eq!(b.lacp, [Lacp::Off, Lacp::Off]);
        let b = Bond::from_json(
            &json!({"members": 3, "mode": "balance-tcp", "lacp": "active", "b_lacp": "passive"}),
        )
        .unwrap();
        assert_eq!(b.lacp, [Lacp::Active, Lacp::Passive]);
        assert_eq!(
            Bond::from_json(&serde_json::from_str::<Value>(&toml_to_json(&b.to_toml())).unwrap()),
            Ok(b)
        );
    }

    /// `{ a = 1, b = "x" }` as JSON (enough of TOML's inline tables for
    /// the round trip).
    fn toml_to_json(s: &str) -> String {
        let inner = s.trim().trim_start_matches('{').trim_end_matches('}');
        let parts: Vec<String> = inner
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                format!("\"{}\": {}", k.trim(), v.trim())
            })
            .collect();
        format!("{{{}}}", parts.join(","))
    }

    #[test]
    fn each_rule_says_why() {
        let e = |v: Value| Bond::from_json(&v).unwrap_err();
        assert!(e(json!({"members": 1})).contains("2 to 8"));
        assert!(e(json!({"members": 9})).contains("2 to 8"));
        assert!(e(json!({})).contains("members is required"));
        assert!(e(json!({"members": 2, "mode": "round-robin"})).contains("\"balance-slb\""));
        assert!(e(json!({"members": 2, "mode": "balance-tcp"})).contains("needs LACP"));
        assert!(e(json!({"members": 2, "lacp": "passive"})).contains("never negotiate"));
        assert!(e(json!({"members": 2, "a_lacp": "active"})).contains("off at the other"));
        assert!(e(json!({"members": 2, "speed": 1})).contains("unknown key \"speed\""));
        assert!(e(json!(2)).contains("a table"));
    }
}
