//! The imperative changes (`ns add`, `switch add`, `attach`, `link`,
//! `route add`, `forward`, …): one request type each, and `Change`, the
//! one list that names each with its JSON-RPC method. The CLI's
//! subcommands hold these very types.

use clap::Args;
use serde::{Deserialize, Serialize};

use super::{BackendChoice, DatapathChoice, OnOff, ViaChoice, one_or_many};

/// A request that cannot be made from the given params.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("no method {0}")]
    NoMethod(String),
    #[error("{method}: {error}")]
    Params { method: String, error: String },
}

/// Every imperative change, each with its JSON-RPC method: the enum and the
/// method table come from this one list.
macro_rules! changes {
    ($( $(#[$doc:meta])* $method:literal => $var:ident($ty:ty), )*) => {
        /// An imperative change, as the CLI's subcommand or the API's method
        /// gives it.
        #[derive(Debug, Clone, Serialize)]
        #[serde(untagged)]
        pub enum Change { $( $(#[$doc])* $var($ty), )* }

        impl Change {
            /// The JSON-RPC methods, one per change.
            pub const METHODS: &[&str] = &[$($method),*];

            /// The JSON-RPC method of this change.
            pub fn method(&self) -> &'static str {
                match self { $(Change::$var(_) => $method,)* }
            }

            /// The change `method` names, from its params (an object).
            pub fn from_params(
                method: &str,
                params: serde_json::Value,
            ) -> Result<Change, RequestError> {
                let bad = |e: serde_json::Error| RequestError::Params {
                    method: method.to_string(),
                    error: e.to_string(),
                };
                match method {
                    $($method => serde_json::from_value::<$ty>(params)
                        .map(Change::$var)
                        .map_err(bad),)*
                    _ => Err(RequestError::NoMethod(method.to_string())),
                }
            }
        }
    };
}

changes! {
    "ns.add" => NsAdd(NsAdd),
    "ns.del" => NsDel(NsDel),
    "ns.attach" => NsAttach(NsAttach),
    "switch.add" => SwitchAdd(SwitchAdd),
    "switch.del" => SwitchDel(SwitchDel),
    "attach" => Attach(Attach),
    "detach" => Detach(Detach),
    "link" => Link(Link),
    "unlink" => Unlink(Unlink),
    "route.add" => RouteAdd(Route),
    "route.del" => RouteDel(Route),
    "forward" => Forward(Forward),
}

impl Change {
    /// `--backend` given before the subcommand (`swctl --backend ovs switch
    /// add`, the older spelling): this change's own unless it has one;
    /// false when this change takes no backend.
    pub fn set_backend(&mut self, b: BackendChoice) -> bool {
        let mine = match self {
            Change::SwitchAdd(r) => &mut r.backend,
            Change::SwitchDel(r) => &mut r.backend,
            Change::Attach(r) => &mut r.backend,
            Change::Detach(r) => &mut r.backend,
            _ => return false,
        };
        mine.get_or_insert(b);
        true
    }

    /// `--force` given before the subcommand; false when this change takes
    /// none.
    pub fn set_force(&mut self) -> bool {
        let mine = match self {
            Change::NsAdd(_) | Change::NsAttach(_) => return false,
            Change::NsDel(r) => &mut r.force,
            Change::SwitchAdd(r) => &mut r.force,
            Change::SwitchDel(r) => &mut r.force,
            Change::Attach(r) => &mut r.force,
            Change::Detach(r) => &mut r.force,
            Change::Link(r) => &mut r.force,
            Change::Unlink(r) => &mut r.force,
            Change::RouteAdd(r) | Change::RouteDel(r) => &mut r.force,
            Change::Forward(r) => &mut r.force,
        };
        *mine = true;
        true
    }

    /// `--force`: change what an applied topology owns all the same.
    pub fn force(&self) -> bool {
        match self {
            Change::NsAdd(_) | Change::NsAttach(_) => false,
            Change::NsDel(r) => r.force,
            Change::SwitchAdd(r) => r.force,
            Change::SwitchDel(r) => r.force,
            Change::Attach(r) => r.force,
            Change::Detach(r) => r.force,
            Change::Link(r) => r.force,
            Change::Unlink(r) => r.force,
            Change::RouteAdd(r) | Change::RouteDel(r) => r.force,
            Change::Forward(r) => r.force,
        }
    }
}

/// `ns add NAME...`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsAdd {
    #[arg(required = true)]
    #[serde(alias = "name", deserialize_with = "one_or_many")]
    pub names: Vec<String>,
}

/// `ns del NAME...`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsDel {
    #[arg(required = true)]
    #[serde(alias = "name", deserialize_with = "one_or_many")]
    pub names: Vec<String>,
    /// Delete namespaces an applied topology owns all the same
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
}

/// `ns attach NAME PID`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsAttach {
    pub name: String,
    pub pid: u32,
}

/// `switch add NAME`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchAdd {
    pub name: String,
    /// The switch's backend [default: $SWCTL_BACKEND, else ovs when an OVSDB server answers, else bridge]
    #[arg(long, value_enum)]
    #[serde(default)]
    pub backend: Option<BackendChoice>,
    /// Put the bridge inside this namespace instead of the host's
    #[arg(long)]
    #[serde(default)]
    pub netns: Option<String>,
    /// Address on the switch device itself (repeatable)
    #[arg(long)]
    #[serde(default, deserialize_with = "one_or_many")]
    pub ip: Vec<String>,
    /// OVS only: force the datapath [default: system when the openvswitch kernel module works, else netdev]
    #[arg(long, value_enum)]
    #[serde(default)]
    pub datapath: Option<DatapathChoice>,
    /// OVS only: the OVSDB server for this switch (unix:PATH or tcp:HOST:PORT) [default: $SWCTL_OVSDB, swctl's sandbox, the system's]
    #[arg(long)]
    #[serde(default)]
    pub ovsdb: Option<String>,
    /// OVS only: an OpenFlow controller (tcp:IP[:PORT], ssl:IP[:PORT], unix:PATH, ptcp:[PORT][:IP], punix:PATH; repeatable)
    #[arg(long)]
    #[serde(default, deserialize_with = "one_or_many")]
    pub controller: Vec<String>,
    /// OVS only: standalone (a learning switch while no controller answers) or secure (only the flow tables)
    #[arg(long)]
    #[serde(default)]
    pub fail_mode: Option<String>,
    /// OVS only: the OpenFlow versions to speak (OpenFlow10..OpenFlow15; comma-separated or repeated) [default: OVS's]
    #[arg(long, value_delimiter = ',')]
    #[serde(default, deserialize_with = "one_or_many")]
    pub protocols: Vec<String>,
    /// OVS only: the bridge's datapath id (16 hex digits) [default: OVS derives one]
    #[arg(long)]
    #[serde(default)]
    pub datapath_id: Option<String>,
    /// Change a switch an applied topology owns all the same
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
}

/// `switch del NAME...`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchDel {
    #[arg(required = true)]
    #[serde(alias = "name", deserialize_with = "one_or_many")]
    pub names: Vec<String>,
    /// The backend the switches must be on (refused when one is on another)
    #[arg(long, value_enum)]
    #[serde(default)]
    pub backend: Option<BackendChoice>,
    /// Delete switches an applied topology owns all the same
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
}

/// `attach NS SWITCH`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attach {
    pub ns: String,
    pub switch: String,
    /// Address for the namespace end (repeatable; IPv4 or IPv6 CIDR)
    #[arg(long)]
    #[serde(default, deserialize_with = "one_or_many")]
    pub ip: Vec<String>,
    /// Interface name inside the namespace [default: first free ethN]
    #[arg(long)]
    #[serde(default)]
    pub ifname: Option<String>,
    /// The wiring (auto: on OVS an internal port, a veth pair on a big userspace-datapath switch; else a veth pair)
    #[arg(long, value_enum, default_value = "auto")]
    #[serde(default)]
    pub via: ViaChoice,
    /// Access VLAN of the port (OVS switches)
    #[arg(long)]
    #[serde(default)]
    pub vlan: Option<u16>,
    /// MTU of the port's devices (68-65535)
    #[arg(long)]
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Already attached with other addresses: put --ip in their place (without it, refused)
    #[arg(long)]
    #[serde(default)]
    pub replace: bool,
    /// The backend the switch must be on (refused when it is on another)
    #[arg(long, value_enum)]
    #[serde(default)]
    pub backend: Option<BackendChoice>,
    /// Attach to a switch an applied topology owns all the same
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
}

/// `detach NS SWITCH`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detach {
    pub ns: String,
    pub switch: String,
    /// The backend the switch must be on (refused when it is on another)
    #[arg(long, value_enum)]
    #[serde(default)]
    pub backend: Option<BackendChoice>,
    /// Detach what an applied topology owns all the same
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
}

/// `link A B`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub a: String,
    pub b: String,
    /// Address of A's end (repeatable)
    #[arg(long)]
    #[serde(default, deserialize_with = "one_or_many")]
    pub ip_a: Vec<String>,
    /// Address of B's end (repeatable)
    #[arg(long)]
    #[serde(default, deserialize_with = "one_or_many")]
    pub ip_b: Vec<String>,
    /// Interface name of A's end
    #[arg(long)]
    #[serde(default)]
    pub ifname_a: Option<String>,
    /// Interface name of B's end
    #[arg(long)]
    #[serde(default)]
    pub ifname_b: Option<String>,
    /// MTU of both ends (68-65535)
    #[arg(long)]
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Already linked with other addresses: put --ip-a/--ip-b in their place (without it, refused)
    #[arg(long)]
    #[serde(default)]
    pub replace: bool,
    /// Change a link an applied topology owns all the same
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
}

/// `unlink A B`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unlink {
    pub a: String,
    pub b: String,
    /// Remove a link an applied topology owns all the same
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
}

fn via_word() -> String {
    "via".into()
}

/// `route add|del NS DEST via GATEWAY` (over the API: `ns`, `dest`, `via`
/// the gateway).
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub ns: String,
    /// `default` or a network
    pub dest: String,
    /// the word `via`
    #[arg(value_name = "via")]
    #[serde(skip, default = "via_word")]
    pub word: String,
    /// the gateway
    #[arg(value_name = "GATEWAY")]
    #[serde(rename = "via")]
    pub gw: String,
    /// Change a route an applied topology owns all the same
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
}

/// `forward NS on|off`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    pub ns: String,
    #[arg(value_enum)]
    pub state: OnOff,
    /// Change forwarding in a namespace an applied topology owns all the same
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_method_takes_its_params_and_refuses_unknown_ones() {
        let minimal = |m: &str| match m {
            "ns.add" | "ns.del" | "switch.del" => json!({"names": ["x"]}),
            "ns.attach" => json!({"name": "x", "pid": 1}),
            "switch.add" => json!({"name": "x"}),
            "attach" | "detach" => json!({"ns": "x", "switch": "y"}),
            "link" | "unlink" => json!({"a": "x", "b": "y"}),
            "route.add" | "route.del" => {
                json!({"ns": "x", "dest": "default", "via": "198.18.0.1"})
            }
            "forward" => json!({"ns": "x", "state": true}),
            other => panic!("a method without a test: {other}"),
        };
        for m in Change::METHODS {
            let c = Change::from_params(m, minimal(m)).unwrap();
            assert_eq!(c.method(), *m);
            let mut p = minimal(m);
            p["bogus"] = json!(1);
            let e = Change::from_params(m, p).unwrap_err().to_string();
            assert!(e.contains("unknown field `bogus`"), "{m}: {e}");
        }
    }

    #[test]
    fn params_take_one_value_or_a_list_and_the_clis_options() {
        let c = Change::from_params(
            "attach",
            json!({"ns": "h", "switch": "s", "ip": "198.18.0.1/24", "replace": true,
                   "via": "veth", "vlan": 10, "backend": "ovs", "force": true}),
        )
        .unwrap();
        let Change::Attach(a) = c else { panic!() };
        assert_eq!(a.ip, vec!["198.18.0.1/24"]);
        assert!(a.replace && a.force);
        assert_eq!(a.via, ViaChoice::Veth);
        assert_eq!(a.backend, Some(BackendChoice::Ovs));
        let Change::RouteAdd(r) = Change::from_params(
            "route.add",
            json!({"ns": "h", "dest": "default", "via": "198.18.0.1"}),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!((r.word.as_str(), r.gw.as_str()), ("via", "198.18.0.1"));
        let Change::Forward(f) =
            Change::from_params("forward", json!({"ns": "h", "state": "off"})).unwrap()
        else {
            panic!()
        };
        assert_eq!(f.state, OnOff::Off);
        assert!(Change::from_params("forward", json!({"ns": "h", "state": "maybe"})).is_err());
        assert!(Change::from_params("nope", json!({})).is_err());
    }
}
