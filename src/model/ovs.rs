//! Open vSwitch as data: the rows swctl reads (bridges, ports, interfaces
//! with the external_ids keys swctl writes) and `OvsChange`, one planned
//! OVSDB change, with its `ovs-vsctl` equivalent.

use std::collections::BTreeMap;

use serde::Serialize;

use super::bond::{BondMode, Lacp};
use super::mark::Mark;
use super::names::{Mac, NsName, Owner};
use super::openflow::OpenFlow;

pub const K_OWNER: &str = "swctl-owner";
pub const K_ROLE: &str = "swctl-role";
pub const K_NS: &str = "swctl-ns";
pub const K_SWITCH: &str = "swctl-switch";
/// a trunk's port: the switch at its other end
pub const K_PEER: &str = "swctl-peer";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OvsIface {
    pub uuid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ofport: Option<i64>,
    pub error: Option<String>,
    /// `options` (a tunnel's remote_ip, key, dst_port)
    pub options: BTreeMap<String, String>,
    /// `external_ids` (an OVN port's iface-id, ovn-installed)
    pub external_ids: BTreeMap<String, String>,
    /// `link_state` as ovs-vswitchd reports it (`up`, `down`)
    pub link_state: Option<String>,
    /// a bond member's `lacp_current`: its partner's LACPDUs arrive
    pub lacp_current: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OvsPort {
    pub uuid: String,
    pub name: String,
    /// access VLAN
    pub tag: Option<i64>,
    pub external_ids: BTreeMap<String, String>,
    pub ifaces: Vec<OvsIface>,
    /// split horizon: never forwards to another protected port
    pub protected: bool,
    /// the VLANs a trunk port carries (empty: all)
    pub trunks: Vec<i64>,
    /// `trunk`, `native-untagged`, ... (None: OVS's default)
    pub vlan_mode: Option<String>,
    /// a bond's `bond_mode` (None: OVS's default, active-backup)
    pub bond_mode: Option<String>,
    /// a bond's `lacp` (None: off)
    pub lacp: Option<String>,
    /// `other_config` (a bond's `lacp-time`)
    pub other_config: BTreeMap<String, String>,
}

impl OvsPort {
    /// What swctl made the port for (`port`, `tunnel`, `uplink`).
    pub fn role(&self) -> Option<&str> {
        self.external_ids.get(K_ROLE).map(String::as_str)
    }
    /// For a tunnel swctl made: the remote VTEP in its options.
    pub fn remote(&self) -> Option<&str> {
        self.ifaces
            .first()
            .and_then(|i| i.options.get("remote_ip"))
            .map(String::as_str)
    }
    pub fn owner(&self) -> Option<Owner> {
        self.external_ids.get(K_OWNER).and_then(|o| o.parse().ok())
    }
    /// For a port swctl made: the namespace it leads to.
    pub fn ns(&self) -> Option<NsName> {
        self.external_ids.get(K_NS).and_then(|o| o.parse().ok())
    }
    pub fn internal(&self) -> bool {
        self.ifaces.iter().any(|i| i.kind == "internal")
    }
    /// A bond in words: "bond balance-tcp, 2/2 members up, LACP current
    /// on 2" (as `ovs-appctl bond/show` would say it, from the rows).
    pub fn bond_words(&self) -> String {
        let up = self
            .ifaces
            .iter()
            .filter(|i| i.link_state.as_deref() == Some("up"))
            .count();
        let mut w = format!(
            "bond {}, {up}/{} members up",
            self.bond_mode.as_deref().unwrap_or("active-backup"),
            self.ifaces.len()
        );
        if self.lacp.as_deref().is_some_and(|l| l != "off") {
            let current = self
                .ifaces
                .iter()
                .filter(|i| i.lacp_current == Some(true))
                .count();
            w += &format!(", LACP current on {current}");
        }
        w
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OvsBridge {
    /// the OVSDB server it lives on
    pub db: String,
    pub uuid: String,
    pub name: String,
    pub datapath_type: String,
    pub external_ids: BTreeMap<String, String>,
    pub ports: Vec<OvsPort>,
    /// its OpenFlow settings as the rows say (a cleared fail_mode reads
    /// as standalone: what OVS does without one)
    pub openflow: super::openflow::OpenFlow,
    /// its controllers as ovs-vswitchd reports them (connected or not)
    pub controllers: Vec<super::openflow::Controller>,
    /// the datapath id ovs-vswitchd uses (the `datapath_id` column)
    pub dpid: Option<String>,
    /// its flows, read over OpenFlow for the bridges swctl made (None:
    /// not read, or could not be)
    #[serde(skip)]
    pub flows: Option<Vec<crate::openflow::FlowStats>>,
    /// its spanning tree (`stp_enable`, `rstp_enable`)
    pub spanning: Spanning,
    /// its port mirrors (the `mirrors` column)
    pub mirrors: Vec<OvsMirror>,
}

/// A Mirror row of a bridge, its ports by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OvsMirror {
    pub uuid: String,
    pub name: String,
    pub select_all: bool,
    /// `select_src_port`, `select_dst_port` (port names, sorted)
    pub src: Vec<String>,
    pub dst: Vec<String>,
    /// `select_vlan`, sorted
    pub vlans: Vec<u16>,
    /// `output_port`'s name
    pub output: Option<String>,
    pub external_ids: BTreeMap<String, String>,
}

impl OvsMirror {
    pub fn owner(&self) -> Option<Owner> {
        self.external_ids.get(K_OWNER).and_then(|o| o.parse().ok())
    }
    /// What it copies, in words: "h1-ab12 both ways to h3-cd34".
    pub fn words(&self) -> String {
        let what = if self.select_all {
            "everything".to_string()
        } else if self.src == self.dst {
            format!("{} both ways", list(&self.src))
        } else {
            format!("from {}, to {}", list(&self.src), list(&self.dst))
        };
        let vlans = if self.vlans.is_empty() {
            String::new()
        } else {
            format!(" on VLANs {:?}", self.vlans)
        };
        format!(
            "{what}{vlans} to {}",
            self.output.as_deref().unwrap_or("no port")
        )
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "no port".into()
    } else {
        v.join(" ")
    }
}

impl OvsChange {
    /// What a `SetMirror` makes its row copy, in `OvsMirror::words`' words
    /// (a port this plan makes named by its host).
    pub fn mirror_words(&self) -> Option<String> {
        let OvsChange::SetMirror {
            select,
            vlans,
            output,
            ..
        } = self
        else {
            return None;
        };
        let name = |p: &HostPort| {
            p.name
                .clone()
                .unwrap_or_else(|| format!("the port of {}", p.ns))
        };
        let ports: Vec<String> = select.iter().flatten().map(name).collect();
        Some(
            OvsMirror {
                select_all: select.is_none(),
                src: ports.clone(),
                dst: ports,
                vlans: vlans.clone(),
                output: Some(name(output)),
                ..Default::default()
            }
            .words(),
        )
    }
}

/// A port a mirror names: the port swctl made for host `ns` on the bridge
/// (found by its external_ids when the transaction is built, among the
/// ports the same transaction makes or those that exist: what `ovs-vsctl
/// -- --id=@p get Port P` does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPort {
    pub ns: NsName,
    /// its current name, where it exists (for the words)
    pub name: Option<String>,
}

/// An OVS bridge's spanning tree: 802.1D STP, 802.1w RSTP, or none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Spanning {
    pub stp: bool,
    pub rstp: bool,
}

impl Spanning {
    pub fn any(&self) -> bool {
        self.stp || self.rstp
    }
}

impl std::fmt::Display for Spanning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (self.stp, self.rstp) {
            (_, true) => "rstp",
            (true, false) => "stp",
            (false, false) => "no spanning tree",
        })
    }
}

impl OvsBridge {
    pub fn owner(&self) -> Option<Owner> {
        self.external_ids.get(K_OWNER).and_then(|o| o.parse().ok())
    }
}

/// What an OVSDB server holds, as far as swctl cares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OvsState {
    pub addr: String,
    pub bridges: Vec<OvsBridge>,
    /// the datapath type new bridges get: "system" when the kernel
    /// datapath works here, else "netdev"
    pub datapath: String,
    /// by server address: what its root row says of its ovs-vswitchd
    pub vswitchd: std::collections::BTreeMap<String, Vswitchd>,
    /// by device: the receive buffer (SO_RCVBUF) of ovs-vswitchd's socket
    /// of each port it reads through a socket (a veth's host end), where
    /// it could be read (its ovs-vswitchd in this namespace, root)
    pub rx_buffers: std::collections::BTreeMap<String, usize>,
}

/// What a server's root row says of its ovs-vswitchd.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Vswitchd {
    /// userspace TSO configured (`other_config:userspace-tso-enable`,
    /// read when ovs-vswitchd started; `model::tso`)
    pub tso: bool,
    /// `ovs_version`, where recorded
    pub version: Option<String>,
}

impl OvsState {
    /// What the server at `db` says of its ovs-vswitchd (nothing known:
    /// no TSO, no version).
    pub fn vswitchd_of(&self, db: &str) -> Vswitchd {
        self.vswitchd.get(db).cloned().unwrap_or_default()
    }

    pub fn bridge(&self, name: &str) -> Option<&OvsBridge> {
        self.bridges.iter().find(|b| b.name == name)
    }
}

/// One OVS change, planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "ovs", rename_all = "snake_case")]
pub enum OvsChange {
    /// `ovs-vsctl add-br NAME -- set Bridge NAME datapath_type=DP
    /// fail_mode=standalone other_config:hwaddr=MAC`
    AddBridge {
        db: String,
        name: String,
        datapath_type: String,
        owner: Owner,
        /// the bridge's own interface keeps this address whatever ports
        /// come and go (OVS would otherwise take the lowest port's)
        hwaddr: Mac,
        /// controllers, fail mode, versions, datapath id
        openflow: OpenFlow,
    },
    /// `ovs-vsctl set-fail-mode BR MODE -- set-controller BR TARGET.. (or
    /// del-controller BR) -- set Bridge BR protocols=.. -- set Bridge BR
    /// other_config:datapath-id=..`: the bridge's OpenFlow settings made
    /// what the file says, all four at once
    SetOpenflow {
        db: String,
        bridge: String,
        uuid: String,
        /// the bridge's owner, which its controller rows carry
        owner: Owner,
        openflow: OpenFlow,
        /// what they were (for the words of the drift)
        was: OpenFlow,
    },
    /// `ovs-vsctl del-br NAME`
    DelBridge {
        db: String,
        name: String,
        uuid: String,
        /// how many ports go with it (ovs-vswitchd's work, for the wait)
        ports: usize,
    },
    /// `ovs-vsctl add-port BR PORT [-- set Interface PORT type=internal]`
    AddPort {
        db: String,
        bridge: String,
        port: String,
        internal: bool,
        tag: Option<u16>,
        mark: Mark,
        /// an internal port's Ethernet address (the Interface `mac` column)
        mac: Option<Mac>,
        /// the OVN logical port it binds to (Interface
        /// `external_ids:iface-id`)
        iface_id: Option<String>,
        /// an internal port's MTU (Interface `mtu_request`): ovs-vswitchd
        /// makes its device so, and reads it with buffers that big (a
        /// device's MTU set by netlink after it left for a namespace is
        /// not seen by ovs-vswitchd: bigger frames are cut and dropped)
        mtu: Option<u32>,
    },
    /// `ovs-vsctl set TABLE NAME external_ids:swctl-owner=OWNER`: a row
    /// handed to another owner (`apply --adopt`)
    SetOwner {
        db: String,
        /// "Bridge" or "Port"
        table: String,
        uuid: String,
        name: String,
        owner: Owner,
    },
    /// `ovs-vsctl add-port BR PORT trunks=V,.. [tag=N vlan_mode=native-untagged]`:
    /// an end of a trunk to switch `peer` (a veth end in the host's
    /// namespace)
    AddTrunk {
        db: String,
        bridge: String,
        port: String,
        peer: String,
        owner: Owner,
        vlans: Vec<u16>,
        native: Option<u16>,
    },
    /// `ovs-vsctl add-port A PA trunks=.. -- set Interface PA type=patch
    /// options:peer=PB -- add-port B PB ... options:peer=PA`: a trunk
    /// between two bridges of one Open vSwitch, with no device at all
    AddPatch {
        db: String,
        a_bridge: String,
        a_port: String,
        b_bridge: String,
        b_port: String,
        owner: Owner,
        vlans: Vec<u16>,
        native: Option<u16>,
    },
    /// `ovs-vsctl add-bond BR PORT M1 M2.. bond_mode=MODE lacp=LACP
    /// other_config:lacp-time=fast trunks=..`: a bonded end of a trunk to
    /// switch `peer` (`members`: veth ends in the host's namespace)
    AddBond {
        db: String,
        bridge: String,
        port: String,
        members: Vec<String>,
        peer: String,
        owner: Owner,
        vlans: Vec<u16>,
        native: Option<u16>,
        mode: BondMode,
        lacp: Lacp,
    },
    /// `ovs-vsctl set Port PORT bond_mode=MODE lacp=LACP
    /// other_config:lacp-time=fast`
    SetBond {
        db: String,
        port: String,
        uuid: String,
        mode: BondMode,
        lacp: Lacp,
        /// what it runs (for the words of the drift)
        was: String,
    },
    /// `ovs-vsctl add-bond-iface PORT IFACE`
    AddBondIface {
        db: String,
        port: String,
        uuid: String,
        iface: String,
    },
    /// `ovs-vsctl del-bond-iface PORT IFACE`; `again`: its device was made
    /// again, and so is its row (ovs-vswitchd opens a member's device when
    /// the row appears: measured, a veth made again under a kept row stays
    /// `may_enable: false`, `lacp_current: false`)
    DelBondIface {
        db: String,
        port: String,
        uuid: String,
        iface: String,
        iface_uuid: String,
        again: bool,
    },
    /// `ovs-vsctl -- --id=@m create Mirror name=M select_src_port=@p..
    /// select_dst_port=@p.. [select_all=true] [select_vlan=..]
    /// output_port=@o -- add Bridge BR mirrors @m` (or `set Mirror M ...`
    /// for the row `uuid`): the ports those of hosts, found when the
    /// transaction is built
    SetMirror {
        db: String,
        bridge: String,
        name: String,
        uuid: Option<String>,
        owner: Owner,
        /// None: every packet (`select_all`)
        select: Option<Vec<HostPort>>,
        vlans: Vec<u16>,
        output: HostPort,
        /// what it copies now, in words (None: it is made)
        was: Option<String>,
    },
    /// `ovs-vsctl -- --id=@m get Mirror M -- remove Bridge BR mirrors @m`
    DelMirror {
        db: String,
        bridge: String,
        name: String,
        uuid: String,
    },
    /// `ovs-vsctl set Bridge BR stp_enable=B rstp_enable=B`
    SetSpanning {
        db: String,
        bridge: String,
        spanning: Spanning,
        was: Spanning,
    },
    /// `ovs-vsctl set Port PORT trunks=V,.. tag=N vlan_mode=M`
    SetTrunk {
        db: String,
        port: String,
        uuid: String,
        vlans: Vec<u16>,
        native: Option<u16>,
    },
    /// `ovs-vsctl set Port PORT tag=N` / `ovs-vsctl clear Port PORT tag`
    SetTag {
        db: String,
        port: String,
        uuid: String,
        tag: Option<u16>,
    },
    /// `ovs-vsctl add-port BR PORT protected=true -- set Interface PORT
    /// type=vxlan options:remote_ip=IP options:key=VNI options:dst_port=N`:
    /// one per remote machine of a spanning switch (split horizon, or a
    /// full mesh is a broadcast loop: one ARP made 8348 tunnel packets in
    /// 1 s without it, 7-8 with it)
    AddTunnel {
        db: String,
        bridge: String,
        port: String,
        remote: std::net::IpAddr,
        key: u32,
        dst_port: u16,
        owner: Owner,
    },
    /// `ovs-vsctl add-port BR DEV`: an existing device (the simulated
    /// machine's underlay) as a port of the bridge that holds the VTEP
    AddUplink {
        db: String,
        bridge: String,
        port: String,
        owner: Owner,
    },
    /// `ovs-vsctl set Interface IFACE mtu_request=N` (a bridge's own
    /// interface keeps 1500 whatever its ports' MTU: measured, an uplink
    /// of 1600 left it at 1500)
    SetMtu { db: String, iface: String, mtu: u32 },
    /// `ovs-vsctl del-port BR PORT`
    DelPort {
        db: String,
        bridge: String,
        port: String,
        uuid: String,
    },
}

impl OvsChange {
    /// How many interfaces ovs-vswitchd adds or removes for this change.
    pub fn weight(&self) -> usize {
        match self {
            OvsChange::DelBridge { ports, .. } => (*ports).max(1),
            _ => 1,
        }
    }

    /// The OVSDB server the change goes to.
    pub fn db(&self) -> &str {
        match self {
            OvsChange::AddBridge { db, .. }
            | OvsChange::DelBridge { db, .. }
            | OvsChange::AddPort { db, .. }
            | OvsChange::SetTag { db, .. }
            | OvsChange::AddTrunk { db, .. }
            | OvsChange::AddPatch { db, .. }
            | OvsChange::AddBond { db, .. }
            | OvsChange::SetMirror { db, .. }
            | OvsChange::DelMirror { db, .. }
            | OvsChange::SetBond { db, .. }
            | OvsChange::AddBondIface { db, .. }
            | OvsChange::DelBondIface { db, .. }
            | OvsChange::SetSpanning { db, .. }
            | OvsChange::SetTrunk { db, .. }
            | OvsChange::AddTunnel { db, .. }
            | OvsChange::AddUplink { db, .. }
            | OvsChange::SetMtu { db, .. }
            | OvsChange::SetOwner { db, .. }
            | OvsChange::SetOpenflow { db, .. }
            | OvsChange::DelPort { db, .. } => db,
        }
    }
}
