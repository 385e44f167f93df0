//! What the user wants (`Desired`): namespaces, switches, ports, links and
//! routes, each as a spec; the backend and wiring identifiers; and `Key`, the
//! name of an object swctl manages.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use super::end::EndSpec;
use super::names::{Cidr, IfName, InvalidInput, Loc, NsName, Owner, RouteDest};

/// The switch implementations swctl drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Bridge,
    Ovs,
    /// an OVN logical switch (`span = "ovn"`): a Logical_Switch in the
    /// Northbound database; on each machine its ports are internal ports of
    /// ovn-controller's integration bridge
    Ovn,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Bridge => "bridge",
            Backend::Ovs => "ovs",
            Backend::Ovn => "ovn",
        })
    }
}

/// How a namespace is wired to a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    #[default]
    Auto,
    Veth,
    Internal,
}

impl std::str::FromStr for Via {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Via, InvalidInput> {
        match s {
            "auto" => Ok(Via::Auto),
            "veth" => Ok(Via::Veth),
            "internal" => Ok(Via::Internal),
            _ => Err(InvalidInput::OneOf(
                s.to_string(),
                "\"auto\", \"veth\", \"internal\"",
            )),
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Backend, InvalidInput> {
        match s {
            "bridge" => Ok(Backend::Bridge),
            "ovs" => Ok(Backend::Ovs),
            "ovn" => Ok(Backend::Ovn),
            _ => Err(InvalidInput::OneOf(
                s.to_string(),
                "\"bridge\", \"ovs\", \"ovn\"",
            )),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Via::Auto => "auto",
            Via::Veth => "veth",
            Via::Internal => "internal",
        })
    }
}

/// A static route inside a namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RouteSpec {
    pub dest: RouteDest,
    pub via: IpAddr,
}

/// A namespace ("host" in Mininet's words) as the user wants it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NsSpec {
    /// net.ipv4.ip_forward (and net.ipv6.conf.all.forwarding); None: leave as is
    pub forward: Option<bool>,
    pub routes: Vec<RouteSpec>,
    /// `net.*` sysctls (`model::host`), the kernel's words
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// processes swctl keeps running in it
    pub run: Vec<super::host::RunSpec>,
    /// one-shot commands run once it is made (again when the list changes)
    pub exec: Vec<String>,
    /// what /etc/netns/NAME/hosts must say (the lab's hosts by name); None:
    /// whatever it says (an imperative command knows no lab). One text
    /// shared by every host of the lab: a copy each was O(hosts²) memory
    /// (measured: 20 MB of a 1000-host apply's 110 MB peak)
    pub hosts: Option<std::sync::Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SwitchSpec {
    pub backend: Backend,
    /// where the switch device lives (bridge backend only)
    pub loc: Loc,
    /// addresses on the switch device itself
    pub addrs: Vec<Cidr>,
    /// OVS only: force `system` or `netdev`; None: what works on this host
    pub datapath: Option<String>,
    /// OVS only: the OVSDB server of this switch (`unix:PATH`,
    /// `tcp:HOST:PORT`); None: the default one
    pub ovsdb: Option<String>,
    /// OVS only: controllers, fail mode, OpenFlow versions, datapath id
    pub openflow: super::openflow::OpenFlow,
    /// OVS only: flows in ovs-ofctl's syntax (`crate::openflow::text`),
    /// swctl's own by cookie
    pub flows: Vec<String>,
    /// OVS only: spanning tree on the bridge (`stp = true`, `rstp =
    /// true`); None: whatever it has (an imperative `switch add`), where a
    /// topology says all (neither key: none)
    pub spanning: Option<super::ovs::Spanning>,
    /// OVS only: port mirrors (`mirrors = [...]`), named
    pub mirrors: Vec<super::mirror::MirrorSpec>,
}

/// What a topology says of one pair (`[[expect]] from = "h1", to = "h3"`):
/// `from` reaches `to` (a host's name or an address) within `within`, or
/// (`reach = false`) never does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectSpec {
    pub from: NsName,
    pub to: String,
    pub reach: bool,
    pub within: std::time::Duration,
}

/// A namespace attached to a switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    pub ns: NsName,
    pub switch: IfName,
    /// name inside the namespace; None: the first free `ethN`
    pub ifname: Option<IfName>,
    pub via: Via,
    /// access VLAN (OVS: the Port's `tag`)
    pub vlan: Option<u16>,
    /// what the end inside the namespace must have (addresses, MTU; the
    /// switch's side has the same but the addresses)
    pub end: EndSpec,
}

impl PortSpec {
    /// The name of the port's switch end (the host end of its veth pair, or
    /// its OVS port): derived from what it connects, so a port made again
    /// has it again
    pub fn switch_end_name(&self) -> IfName {
        super::names::derived_ifname(self.ns.as_str(), &[self.ns.as_str(), self.switch.as_str()])
    }
}

/// A direct veth pair between two locations (`host` allowed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkSpec {
    pub a: Loc,
    pub b: Loc,
    pub a_ifname: Option<IfName>,
    pub b_ifname: Option<IfName>,
    /// what the end in `a` must have (a file's `a_ip`, `mtu`)
    pub a_end: EndSpec,
    /// what the end in `b` must have (a file's `b_ip`, `mtu`)
    pub b_end: EndSpec,
}

/// A trunk: a veth pair joining two switches into one layer-2 segment
/// (`ip link add A master SW_A type veth peer name B; ip link set B master
/// SW_B`). `a` is the smaller name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrunkSpec {
    pub a: IfName,
    pub b: IfName,
    /// what both ends must have (no addresses: a trunk is layer 2)
    pub end: EndSpec,
    /// the VLANs that cross (an OVS end's `trunks`); empty: every VLAN
    pub vlans: Vec<u16>,
    /// the VLAN untagged frames on the trunk belong to (an OVS end's
    /// `tag` with `vlan_mode=native-untagged`)
    pub native: Option<u16>,
    /// N veth pairs bonded at each end (two OVS switches), instead of one
    pub bond: Option<super::bond::Bond>,
}

impl TrunkSpec {
    pub fn key(&self) -> Key {
        Key::trunk(&self.a, &self.b)
    }

    /// The names of its two ends (`tk` and the other switch's name, cut
    /// to fit, with a hash of the trunk): veth ends, or patch ports.
    pub fn end_names(&self) -> (IfName, IfName) {
        let name = |here: &IfName, there: &IfName, side: &str| {
            super::names::derived_ifname(
                &format!("tk{there}"),
                &[here.as_str(), there.as_str(), side],
            )
        };
        (name(&self.a, &self.b, "a"), name(&self.b, &self.a, "b"))
    }

    /// The names of the veth ends of a bond's member `m` (`tk` and the
    /// other switch's name, cut, with a hash of the trunk and the member).
    pub fn member_names(&self, m: u8) -> (IfName, IfName) {
        let m = m.to_string();
        let name = |here: &IfName, there: &IfName, side: &str| {
            super::names::derived_ifname(
                &format!("tk{there}"),
                &[here.as_str(), there.as_str(), side, &m],
            )
        };
        (name(&self.a, &self.b, "a"), name(&self.b, &self.a, "b"))
    }
}

/// How swctl reaches a machine of a lab that spans several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reach {
    /// the machine swctl runs on
    Local,
    /// `ssh USER@HOST swctl ...`
    Ssh(String),
    /// a simulated machine: this network namespace on the machine swctl
    /// runs on, with its own swctl state and OVS
    Netns(NsName),
}

/// A machine of a lab spread over several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineSpec {
    /// its tunnel endpoint (VTEP) address
    pub vtep: IpAddr,
    pub reach: Reach,
    /// the MTU of its underlay (the device with its VTEP address): a
    /// simulated machine's is made so (default `UNDERLAY_MTU`), a reached
    /// machine's is its own; when every machine of a spanning switch says
    /// it, that switch's guests get what the tunnel leaves of it
    /// (`lab::underlay::guest_mtu`)
    pub mtu: Option<u32>,
}

/// A switch whose ports are on several machines, joined by VXLAN: one
/// network identifier for the switch on every machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SpanSpec {
    /// the VXLAN network identifier (1..=16777215); None: derived from the
    /// lab and the switch (`lab::machines::resolve`)
    pub vni: Option<u32>,
}

/// The tunnel of a spanning switch on one machine: to every other machine
/// that has ports on it (planned by the switch's backend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelSpec {
    pub switch: IfName,
    pub vni: u32,
    /// this machine's VTEP address
    pub local: IpAddr,
    /// the other machines' VTEP addresses
    pub remotes: Vec<IpAddr>,
    /// the UDP port the tunnel's packets go to
    pub port: u16,
}

/// A device of this machine that becomes a port of a switch: the simulated
/// machine's underlay taken into the OVS bridge that holds its VTEP address
/// (the userspace datapath sends tunnels only through an OVS bridge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UplinkSpec {
    pub switch: IfName,
    pub dev: IfName,
}

/// A machine's end of a direct link between hosts on two machines: a
/// point-to-point VXLAN device in the host's namespace, to the other
/// machine's VTEP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XLinkSpec {
    /// the link as the file has it
    pub link: LinkSpec,
    /// whether this machine has its `a` end (else its `b` end)
    pub here_a: bool,
    pub vni: u32,
    pub local: IpAddr,
    pub remote: IpAddr,
}

/// VXLAN's UDP port (IANA).
pub const VXLAN_PORT: u16 = 4789;
/// The UDP port of OVS spans in a lab that also has kernel VXLAN devices
/// (Linux bridge spans, links across machines): Linux's own first VXLAN
/// port. Why not 4789: an OVS userspace datapath with a vxlan port on 4789
/// takes every VXLAN packet to its VTEP off the wire (tunnel pop), those of
/// the kernel's devices on the same machine too, and drops them.
pub const VXLAN_PORT_OVS_BESIDE_KERNEL: u16 = 8472;
/// What VXLAN adds to a frame: outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8.
pub const VXLAN_OVERHEAD: u32 = 50;
/// What an OVN (Geneve) tunnel takes of a frame, with room for its
/// options: outer Ethernet 14, IPv4 20, UDP 8, Geneve 8, OVN's metadata
/// option 8, rounded up to leave room (OVN asks for at least 58).
pub const GENEVE_OVERHEAD: u32 = 100;

/// What the user wants. For imperative commands this holds only the objects
/// the command is about; for a topology, everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desired {
    pub owner: Owner,
    /// names every host's hosts file gives besides the lab's hosts (a
    /// file's `names`; a machine's part: the hosts on other machines)
    pub names: BTreeMap<String, Vec<std::net::IpAddr>>,
    /// where the hosts' commands (`run`, `exec`) run: the topology
    /// file's directory, when it was read from one
    #[serde(skip)]
    pub dir: Option<std::path::PathBuf>,
    /// what `check` must find besides what it derives (`[[expect]]`)
    pub expect: Vec<ExpectSpec>,
    pub namespaces: BTreeMap<NsName, NsSpec>,
    pub switches: BTreeMap<IfName, SwitchSpec>,
    pub ports: Vec<PortSpec>,
    pub links: Vec<LinkSpec>,
    pub trunks: Vec<TrunkSpec>,
    /// machines of a lab that spans several (empty: this machine only)
    pub machines: BTreeMap<Owner, MachineSpec>,
    /// which machine each host is on (only with machines)
    pub placement: BTreeMap<NsName, Owner>,
    /// switches that span machines
    pub spans: BTreeMap<IfName, SpanSpec>,
    /// a machine's part: the tunnels of its spanning switches
    pub tunnels: Vec<TunnelSpec>,
    /// a machine's part: its ends of links to hosts on other machines
    pub xlinks: Vec<XLinkSpec>,
    /// a machine's part: its devices that are ports of its switches
    pub uplinks: Vec<UplinkSpec>,
    /// the OVN central of a lab with OVN switches
    pub ovn: Option<OvnSpec>,
    /// OVN logical routers between the lab's OVN switches
    pub routers: BTreeMap<IfName, RouterSpec>,
}

/// An OVN logical router: one port on each switch it joins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RouterSpec {
    pub ports: Vec<RouterPortSpec>,
}

/// A router's port on an OVN switch, with its addresses (the hosts'
/// gateway there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterPortSpec {
    pub switch: IfName,
    pub addrs: Vec<Cidr>,
}

/// Where a lab's OVN central is: its Northbound database (swctl writes
/// there) and the Southbound one (each machine's ovn-controller reads
/// there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OvnSpec {
    pub nb: String,
    pub sb: String,
}

impl Desired {
    pub fn new(owner: Owner) -> Desired {
        Desired {
            owner,
            names: BTreeMap::new(),
            dir: None,
            expect: Vec::new(),
            namespaces: BTreeMap::new(),
            switches: BTreeMap::new(),
            ports: Vec::new(),
            links: Vec::new(),
            trunks: Vec::new(),
            machines: BTreeMap::new(),
            placement: BTreeMap::new(),
            spans: BTreeMap::new(),
            tunnels: Vec::new(),
            xlinks: Vec::new(),
            uplinks: Vec::new(),
            ovn: None,
            routers: BTreeMap::new(),
        }
    }

    /// The machine that holds what has no host to follow (a switch without
    /// ports): the local one, else the first.
    pub fn home_machine(&self) -> Option<&Owner> {
        self.machines
            .iter()
            .find(|(_, m)| m.reach == Reach::Local)
            .or_else(|| self.machines.iter().next())
            .map(|(n, _)| n)
    }

    /// Whether switch `sw` is on machine `m`: it has ports there, or it has
    /// none and `m` is the lab's home.
    pub fn switch_on(&self, sw: &IfName, m: &Owner) -> bool {
        let on = self.machines_of(sw);
        on.contains(m) || (on.is_empty() && self.home_machine() == Some(m))
    }

    /// The one machine a trunk is made on: the first that has both its
    /// switches. One only: two switches that both span machines, trunked
    /// on each, would be a loop (a frame crosses the trunk on one machine,
    /// the tunnel, the trunk on the other, the tunnel back).
    pub fn trunk_machine(&self, t: &TrunkSpec) -> Option<Owner> {
        self.machines
            .keys()
            .find(|m| self.switch_on(&t.a, m) && self.switch_on(&t.b, m))
            .cloned()
    }

    /// The machines switch `sw` has ports on (a lab over machines).
    pub fn machines_of(&self, sw: &IfName) -> std::collections::BTreeSet<&Owner> {
        self.ports
            .iter()
            .filter(|p| &p.switch == sw)
            .filter_map(|p| self.placement.get(&p.ns))
            .collect()
    }

    /// The layer-2 segment each switch is part of, named by the smallest
    /// switch name of its group: switches joined by trunks are one segment.
    pub fn switch_groups(&self) -> BTreeMap<IfName, IfName> {
        let mut rep: BTreeMap<IfName, IfName> = self
            .switches
            .keys()
            .chain(self.trunks.iter().flat_map(|t| [&t.a, &t.b]))
            .chain(self.ports.iter().map(|p| &p.switch))
            .map(|n| (n.clone(), n.clone()))
            .collect();
        fn find(rep: &BTreeMap<IfName, IfName>, n: &IfName) -> IfName {
            let mut x = n.clone();
            while rep[&x] != x {
                x = rep[&x].clone();
            }
            x
        }
        for t in &self.trunks {
            let (ra, rb) = (find(&rep, &t.a), find(&rep, &t.b));
            if ra != rb {
                let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
                rep.insert(hi, lo);
            }
        }
        let names: Vec<IfName> = rep.keys().cloned().collect();
        names
            .into_iter()
            .map(|n| (n.clone(), find(&rep, &n)))
            .collect()
    }
}

/// An object swctl manages, as a key: what `Scope::Objects` lists for
/// removal and what the planner matches observed state by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Key {
    Ns {
        ns: NsName,
    },
    Switch {
        name: IfName,
    },
    Port {
        ns: NsName,
        switch: IfName,
    },
    Link {
        a: Loc,
        b: Loc,
    },
    Trunk {
        a: IfName,
        b: IfName,
    },
    Route {
        ns: NsName,
        dest: RouteDest,
        via: IpAddr,
    },
}

impl Key {
    /// Trunks are unordered too.
    pub fn trunk(a: &IfName, b: &IfName) -> Key {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        Key::Trunk {
            a: a.clone(),
            b: b.clone(),
        }
    }

    /// Links are unordered: `link a b` and `link b a` are the same link.
    pub fn link(a: &Loc, b: &Loc) -> Key {
        if a <= b {
            Key::Link {
                a: a.clone(),
                b: b.clone(),
            }
        } else {
            Key::Link {
                a: b.clone(),
                b: a.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_keys_are_unordered() {
        let a = Loc::Host;
        let b = Loc::Ns("n".parse().unwrap());
        assert_eq!(Key::link(&a, &b), Key::link(&b, &a));
    }

    fn sw(n: &str) -> IfName {
        n.parse().unwrap()
    }

    #[test]
    fn trunks_join_switches_into_one_segment() {
        let mut d = Desired::new("l".parse().unwrap());
        for t in [("c", "b"), ("b", "a"), ("x", "y")] {
            d.trunks.push(TrunkSpec {
                a: sw(t.0),
                b: sw(t.1),
                end: EndSpec::default(),
                vlans: vec![],
                native: None,
                bond: None,
            });
        }
        let g = d.switch_groups();
        assert_eq!(g[&sw("c")], sw("a"));
        assert_eq!(g[&sw("b")], sw("a"));
        assert_eq!(g[&sw("y")], sw("x"));
        assert_eq!(
            Key::trunk(&sw("b"), &sw("a")),
            Key::trunk(&sw("a"), &sw("b"))
        );
    }
}
