//! The effect layer: everything that touches the system. The narrow effect
//! traits (`Netlink`: links, addresses, routes, dumps; `Namespaces`:
//! namespace lifecycle and sysctls; `OvsDb`: OVSDB state and one
//! transaction per batch) with their real implementations (`kernel` over
//! rtnetlink, `ovs` over swctl's OVSDB client) and a recording fake
//! (`fake`); `System`, the real machine (the kernel plus the OVSDB servers);
//! `observe` (the system into an `Observed`) and `apply` (a `Plan` through
//! the traits); the run-state paths under /run/swctl (`paths`) and the lock
//! that serializes swctl runs (`lock`).

pub mod apply;
pub mod capture;
pub mod fake;
pub mod host;
pub mod kernel;
pub mod lock;
pub mod observe;
pub mod openflow;
pub mod ovn;
pub mod ovs;
pub mod paths;
pub mod probe;
pub mod procs;
pub mod system;

use std::io;
use std::net::IpAddr;

use crate::model::LocObs;
use crate::model::names::{Cidr, Loc, Mac, NsName, Owner, RouteDest};
use crate::model::ovn::{NbChange, NbState};
use crate::model::ovs::{OvsChange, OvsState};
use crate::model::part::Part;
use crate::ovsdb::OvsdbError;

pub use kernel::netns::NsError;

/// A failed netlink request, in the user's words.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    #[error("`{op}` failed: {words}")]
    Request {
        op: String,
        errno: i32,
        words: String,
    },
    #[error("cannot open a netlink socket in namespace {0}")]
    Socket(String, #[source] io::Error),
    #[error(transparent)]
    Namespace(#[from] NsError),
    #[error("`{0}` failed: the netlink connection closed")]
    Closed(String),
    #[error("`{0}` failed: no such device")]
    NoDevice(String),
    #[error("cannot probe which qdiscs this kernel has")]
    Probe(#[source] io::Error),
}

impl NlError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::Request { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// errno → words, with the context of the request that failed.
pub(crate) fn words(errno: i32, op: &str) -> String {
    let base = io::Error::from_raw_os_error(errno).to_string();
    let hint = match errno {
        libc::EEXIST => "it already exists",
        libc::ENODEV => "no such device",
        libc::EPERM | libc::EACCES => "permission denied: swctl must run as root (CAP_NET_ADMIN)",
        libc::ENETUNREACH if op.contains("route") => {
            "the gateway is not on a network this namespace is connected to"
        }
        libc::ESRCH if op.contains("route") => "no such route",
        libc::EADDRNOTAVAIL => "no such address on this device",
        libc::EOPNOTSUPP => "not supported by this kernel",
        libc::EINVAL if op.contains("netns") => {
            "invalid argument: the device cannot change namespace (a bridge is netns-local)"
        }
        libc::ENOSPC | libc::EMLINK => "too many devices",
        libc::EXFULL if op.contains("master") || op.contains("veth") => {
            "the bridge has no free port number (a Linux bridge takes at most 1023 ports)"
        }
        libc::EMFILE => {
            "too many open files (swctl keeps one netlink socket per namespace: raise `ulimit -n`)"
        }
        _ => "",
    };
    if hint.is_empty() {
        base
    } else {
        format!("{hint} ({base})")
    }
}

/// A failed effect: the kernel's or the OVSDB server's.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Netlink(#[from] NlError),
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    #[error(transparent)]
    OpenFlow(#[from] openflow::OfError),
    /// a lab's flows could not be written: a port they name is not there
    #[error("the flows of bridge {bridge}: {why}")]
    Flows { bridge: String, why: String },
    /// boxed: a process's failure carries its log's end
    #[error(transparent)]
    Proc(Box<procs::ProcError>),
}

impl From<procs::ProcError> for StepError {
    fn from(e: procs::ProcError) -> StepError {
        StepError::Proc(Box::new(e))
    }
}

/// A device to create: where, its name, the mark for its alias, its
/// stable Ethernet address. It is created in `LINK_GROUP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink<'a> {
    pub loc: &'a Loc,
    pub name: &'a str,
    pub alias: String,
    pub mac: Mac,
    /// false: no IPv6 link-local address (IFLA_INET6_ADDR_GEN_MODE none)
    pub ipv6: bool,
}

/// A vxlan device's parameters (`add_vxlan`).
#[derive(Debug, Clone)]
pub struct Vxlan<'a> {
    pub vni: u32,
    pub local: IpAddr,
    /// a point-to-point tunnel's other end
    pub remote: Option<IpAddr>,
    pub master: Option<&'a str>,
    pub mtu: Option<u32>,
}

/// What `set_link` changes; None leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkChange {
    pub up: Option<bool>,
    pub master: Option<String>,
    pub alias: Option<String>,
    pub mtu: Option<u32>,
    pub mac: Option<Mac>,
    /// `addrgenmode none`: no IPv6 link-local address when the device
    /// comes up
    pub no_link_local: bool,
}

/// Every effect at once: what a use case that observes, plans and applies
/// needs of the system (the real one, `System`; the simulated one,
/// `fake::Fake`). One bound instead of three.
pub trait Effects:
    Netlink + Namespaces + OvsDb + Northbound + FlowTables + TrafficControl + HostRuns
{
}

impl<T: Netlink + Namespaces + OvsDb + Northbound + FlowTables + TrafficControl + HostRuns> Effects
    for T
{
}

/// What a host runs and is set to beyond its devices (`model::host`):
/// read with each namespace, changed by the planner's steps. The real ones
/// are files and processes (`host`, `procs`); the fake keeps them in
/// memory, its processes running until stopped.
#[allow(async_fn_in_trait)]
pub trait HostRuns {
    /// What host `ns` has: its identity, the sysctls `keys` (None: no
    /// such sysctl), its hosts file, the processes swctl started and the
    /// commands it ran there.
    async fn read_host(&self, ns: &NsName, keys: &[String]) -> crate::model::host::HostObs;
    /// /etc/netns/NS/hosts made `content`
    async fn write_hosts(&self, ns: &NsName, content: &str) -> Result<(), procs::ProcError>;
    /// /etc/netns/NS/hosts removed (and the directory, once empty)
    async fn del_hosts(&self, ns: &NsName) -> Result<(), procs::ProcError>;
    async fn start_proc(
        &self,
        ns: &NsName,
        owner: &Owner,
        name: &str,
        cmd: &str,
        cwd: Option<&str>,
    ) -> Result<(), procs::ProcError>;
    async fn stop_proc(&self, ns: &NsName, name: &str) -> Result<(), procs::ProcError>;
    /// each of `cmds` in turn (the first failure ends it), then recorded
    /// as the host's (`ExecObs`)
    async fn run_exec(
        &self,
        ns: &NsName,
        owner: &Owner,
        cmds: &[String],
        cwd: Option<&str>,
    ) -> Result<(), procs::ProcError>;
}

/// Devices' root qdiscs, swctl's only (`tc qdisc replace|del dev DEV root
/// handle 5357:`; they are read with the rest of a namespace, in
/// `Netlink::dump`), and which kinds this kernel has. The kernel's are
/// `kernel::tc`; the fake keeps what the same messages say.
#[allow(async_fn_in_trait)]
pub trait TrafficControl {
    async fn set_qdisc(
        &self,
        loc: &Loc,
        dev: &str,
        q: &crate::model::impair::Qdisc,
    ) -> Result<(), NlError>;
    async fn del_qdisc(&self, loc: &Loc, dev: &str) -> Result<(), NlError>;
    /// probed once per process
    fn qdisc_kinds(&self) -> Result<crate::model::impair::QdiscKinds, NlError>;
}

/// An OVS bridge's OpenFlow tables (`ovs-ofctl dump-flows`, `add-flows`,
/// `del-flows --strict`, in one batch closed by a barrier). `System` speaks
/// OpenFlow on the bridge's management socket (`openflow::OfSession`), the
/// fake keeps a table per bridge with the switch's rules (an added flow
/// replaces one of the same table, priority and match; deletes by cookie
/// under a mask).
#[allow(async_fn_in_trait)]
pub trait FlowTables {
    async fn flows(
        &self,
        db: &str,
        bridge: &str,
    ) -> Result<Vec<crate::openflow::FlowStats>, openflow::OfError>;
    async fn flow_mods(
        &self,
        db: &str,
        bridge: &str,
        mods: &[(String, crate::openflow::Msg)],
    ) -> Result<(), openflow::OfError>;
}

/// Link, address and route operations in one namespace (`ip -n NS ...`).
#[allow(async_fn_in_trait)]
pub trait Netlink {
    /// `ip link add NAME address MAC group G type bridge stp_state 0;
    /// ip link set NAME up alias A`
    async fn add_bridge(&self, dev: &NewLink<'_>) -> Result<(), NlError>;
    /// `ip link add A address MAC group G up [master M] type veth peer name
    /// B address MAC group G netns B_NS up`, then the aliases of both ends.
    async fn add_veth(
        &self,
        a: &NewLink<'_>,
        b: &NewLink<'_>,
        master: Option<&str>,
    ) -> Result<(), NlError>;
    /// `ip link add NAME address MAC group G [mtu M] type vxlan id VNI local
    /// IP dstport 4789 nolearning && ip link set NAME master SW up alias A`
    async fn add_vxlan(&self, dev: &NewLink<'_>, vx: &Vxlan<'_>) -> Result<(), NlError>;
    /// `bridge fdb append|del 00:00:00:00:00:00 dev DEV dst IP`
    async fn fdb(&self, loc: &Loc, dev: &str, dst: &IpAddr, add: bool) -> Result<(), NlError>;
    /// `ip link del NAME`
    async fn del_link(&self, loc: &Loc, name: &str) -> Result<(), NlError>;
    /// `ip link set NAME [up|down] [master M] [alias A]`
    async fn set_link(&self, loc: &Loc, name: &str, change: &LinkChange) -> Result<(), NlError>;
    /// `ip addr add CIDR dev DEV`
    async fn add_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError>;
    /// `ip addr del CIDR dev DEV`
    async fn del_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError>;
    /// `ip route add DEST via GW`
    async fn add_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError>;
    /// `ip route del DEST via GW`
    async fn del_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError>;
    /// `ip link show NAME`: whether the device is operationally up (its
    /// queueing discipline attached: it sends what it is given)
    async fn running(&self, loc: &Loc, name: &str) -> Result<bool, NlError>;
    /// `ip link show NAME`: whether the device is there (a cheap look-up
    /// where a dump would list every device of the namespace)
    async fn has_link(&self, loc: &Loc, name: &str) -> Result<bool, NlError>;
    /// `ip -j link; ip -j addr; ip -j route` in one namespace
    async fn dump(&self, loc: &Loc) -> Result<LocObs, NlError>;
    /// `ip link show DEV` and `ip addr show dev DEV` of each device of
    /// `part` and of its master, and how many ports each of its counted
    /// bridges has: a part of one namespace, without routes or queueing
    /// disciplines (what an imperative command reads of the host beside a
    /// big lab).
    /// Default: the whole dump, cut to the part (`Part::cut`, the fake's way).
    async fn dump_part(&self, loc: &Loc, part: &Part) -> Result<LocObs, NlError> {
        let mut st = self.dump(loc).await?;
        part.cut(&mut st);
        Ok(st)
    }
    /// `ip -j link` in one namespace: its devices and their marks, without
    /// addresses and routes (all a teardown needs)
    async fn dump_links(&self, loc: &Loc) -> Result<LocObs, NlError> {
        let mut st = self.dump(loc).await?;
        st.routes.clear();
        for l in st.links.iter_mut() {
            l.addrs.clear();
        }
        Ok(st)
    }
    /// `ip link set DEV netns TO name NEW group G && ip -n TO link set NEW
    /// alias A up` (one RTM_SETLINK moves, renames and groups)
    async fn move_link(
        &self,
        from: &Loc,
        dev: &str,
        to: &Loc,
        new_name: &str,
        alias: &str,
    ) -> Result<(), NlError>;
    /// `arping -U -c1 -I DEV ADDR` for every IPv4 address of the device
    /// and (`v6`) an unsolicited neighbour advertisement for every IPv6 one:
    /// the kernel sends them on a change of address with arp_notify and
    /// ndisc_notify on, so those are set and the device is given its own
    /// address again
    async fn announce(&self, loc: &Loc, dev: &str, v6: bool) -> Result<(), NlError>;
    /// Close the netlink socket of `loc` (it is opened again when needed):
    /// an idle socket per namespace, each with its read buffer, is most of
    /// swctl's memory in a big lab.
    fn release(&self, _loc: &Loc) {}
    /// Open the sockets of these namespaces now, together (cheaper than one
    /// by one as each is first used); those that fail are opened later.
    fn prepare(&self, _names: &[NsName]) {}
    /// `ip neigh flush all`: forget every learned neighbour entry (ARP and
    /// NDP) of the namespace; returns how many there were
    async fn flush_neighbours(&self, loc: &Loc) -> Result<usize, NlError>;
    /// `ethtool -K DEV tx on|off`
    async fn set_tx_csum(&self, loc: &Loc, dev: &str, on: bool) -> Result<(), NlError>;
    /// ovs-vswitchd's receive socket of its port DEV (a device of this
    /// namespace) gets room for TSO packets (`kernel::packet_sock`; no
    /// ip/ovs-vsctl equivalent)
    async fn grow_ovs_rx_buffer(&self, dev: &str) -> Result<(), NlError>;
    /// RCU grace periods expedited until the guard is dropped (`echo 1 >
    /// /sys/kernel/rcu_expedited`, put back; `kernel::rcu`)
    /// (default: nothing to expedite, as for the fake)
    fn expedite_grace_periods(&self) -> Box<dyn std::any::Any> {
        Box::new(())
    }
    /// The marks written on their devices so far are no longer pending
    /// (`paths::settle_pending`; the fake keeps no record of pending marks)
    fn settle_marks(&self) {}
}

/// Namespace lifecycle and per-namespace sysctls.
#[allow(async_fn_in_trait)]
pub trait Namespaces {
    /// `ip netns add NAME; ip -n NAME link set lo up`, for each name
    async fn create_ns(&self, names: &[NsName], owner: &Owner) -> Vec<Result<(), NlError>>;
    /// `ip netns del NAME`, for each name; one result per name
    async fn delete_ns(&self, names: &[NsName]) -> Vec<Result<(), NlError>>;
    /// `ip netns list` (whose namespace each is, `observe` reads from the
    /// mark on its `lo`)
    fn list_ns(&self) -> Result<Vec<NsName>, NlError>;
    /// `ip netns exec NS sysctl -w net.ipv4.ip_forward=V` (and IPv6 forwarding)
    fn set_forward(&self, ns: &NsName, on: bool) -> Result<(), NlError>;
    /// `ip netns exec NS sysctl net.ipv4.ip_forward`
    fn forward(&self, ns: &NsName) -> Result<bool, NlError>;
    /// `[ip netns exec NS] sysctl -w KEY=VALUE` (KEY as a /proc/sys path)
    fn set_sysctl(&self, loc: &Loc, key: &str, value: &str) -> Result<(), NlError>;
    /// `[ip netns exec NS] sysctl KEY`
    fn sysctl(&self, loc: &Loc, key: &str) -> Result<String, NlError>;
}

/// The OVS effect trait: read the OVSDB state, apply a batch of changes in
/// one transaction per server. `ovs::Servers` implements it over real
/// servers, the fake over a simulated one.
#[allow(async_fn_in_trait)]
pub trait OvsDb {
    /// Ok(Err(why)) when no OVSDB server is reachable.
    async fn ovs_state(&self) -> Result<Result<OvsState, String>, OvsdbError>;
    async fn ovs_apply(&self, changes: &[OvsChange]) -> Result<(), OvsdbError>;
}

/// OVN's Northbound database at an address (`ovn-nbctl --db=ADDR`): read
/// its logical switches and routers, apply a batch of changes in one
/// transaction (`ovn::nb::apply_txn`). `System` talks to the real server,
/// the fake to an in-memory one that executes the same transaction.
#[allow(async_fn_in_trait)]
pub trait Northbound {
    /// `ovn-nbctl --db=ADDR show`, as data
    async fn nb_state(&self, addr: &str) -> Result<NbState, OvsdbError>;
    /// `ovn-nbctl --db=ADDR ls-add … -- lsp-add … -- …` in one transaction
    async fn nb_apply(&self, addr: &str, changes: &[NbChange]) -> Result<(), OvsdbError>;
}
