//! The command line's grammar (clap derive): every command, its arguments
//! and their help. Values are parsed into swctl's types elsewhere
//! (`imperative`, `topo`, `bench`), never here.

use clap::{Args, Parser, Subcommand};

use crate::effect::paths::SANDBOX_DIR;
use crate::lab::request::change::{self, Change};
use crate::lab::request::{BackendChoice, lab};

#[derive(Parser, Debug)]
#[command(
    name = "swctl",
    version,
    about = "Switching manager for Linux network namespaces (Linux bridge and Open vSwitch)"
)]
pub struct Cli {
    /// Print machine-readable JSON (also for errors)
    #[arg(long, global = true)]
    pub json: bool,
    /// (also after the subcommand, where it means something) the switch backend
    #[arg(long, value_enum, hide = true)]
    pub backend: Option<BackendChoice>,
    /// (also after the subcommand, where it means something) change what an applied topology owns
    #[arg(long, hide = true)]
    pub force: bool,
    /// Print nothing on success (errors still go to stderr; --json output stays)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log to stderr: -v each change as its ip/ovs-vsctl command, -vv each phase and OVSDB exchange, -vvv everything [$SWCTL_LOG, a tracing filter, wins]
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Named network namespaces (`ip netns`)
    #[command(subcommand)]
    Ns(NsCmd),
    /// Switches (Linux bridges, Open vSwitch bridges)
    #[command(subcommand)]
    Switch(SwitchCmd),
    /// Attach a namespace to a switch (a veth pair, or an OVS internal port)
    Attach(change::Attach),
    /// Detach a namespace from a switch (removes both ends of the wiring)
    Detach(change::Detach),
    /// A direct veth pair between two namespaces (`host`: the host's own)
    Link(change::Link),
    /// Remove the direct link between two namespaces
    Unlink(change::Unlink),
    /// Static routes inside a namespace
    #[command(subcommand)]
    Route(RouteCmd),
    /// An OVS switch's OpenFlow flows, with counters and whose each is (`ovs-ofctl dump-flows`)
    Flows(crate::lab::flows::FlowsList),
    /// Add or delete flows of swctl's own on an OVS switch (over OpenFlow; others' flows are never touched)
    #[command(subcommand)]
    Flow(FlowCmd),
    /// Impair a running lab's link: rate, delay, jitter, loss, ... on a host's port or link, both directions unless --egress (`tc qdisc ... tbf|netem`); without values: what it has
    Impair(crate::lab::impair::ImpairReq),
    /// The processes a lab runs in a host (its `run` list): how each is, and the end of its log
    Logs(crate::lab::logs::LogsReq),
    /// Packets crossing a host's device, a switch's port or a trunk's end, as pcap to standard output or a file (`tcpdump -w`, natively): `swctl capture h1 | tcpdump -r -`
    Capture(crate::lab::capture::CaptureReq),
    /// IP forwarding inside a namespace (net.ipv4.ip_forward, IPv6 forwarding)
    Forward(change::Forward),
    /// Every namespace, switch, port and address swctl manages (or only what NAME is: a namespace, a switch, a lab)
    Show(lab::Show),
    /// The applied labs: hosts, switches, machines, in sync or not, file
    Labs,
    /// The embedded Open vSwitch sandbox (a private ovsdb-server and ovs-vswitchd)
    #[command(subcommand)]
    Ovs(SandboxCmd),
    /// swctl's private OVN central (Northbound, Southbound, ovn-northd)
    #[command(subcommand)]
    Ovn(OvnCmd),
    /// Serve swctl's JSON-RPC 2.0 API on a Unix socket (mode 0600) until killed
    Serve {
        /// the socket
        #[arg(long, default_value = crate::effect::paths::API_SOCKET)]
        socket: String,
        /// also serve on TCP at this address (HOST:PORT; no authentication:
        /// whoever reaches it can change the system, so keep it on loopback)
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// What `apply FILE` would do, step by step, changing nothing
    Plan(lab::Plan),
    /// Make the system match a topology file (a second apply changes nothing)
    Apply(lab::Apply),
    /// Remove everything a topology owns, and nothing else
    Destroy(lab::Destroy),
    /// Drift between a topology file and the system (exit code 3 when they differ)
    Status(lab::Status),
    /// Connectivity of a topology with real packets between its namespaces
    Check(lab::Check),
    /// Remove leftovers of topologies that are no longer applied, and say what went
    Gc(lab::Gc),
    /// Draw a lab: hosts, switches (with backend), ports (wiring, VLAN, addresses), links, gateways, machines
    Graph {
        /// the topology file
        file: Option<String>,
        /// an applied lab, by name (its file)
        #[arg(long, conflicts_with = "file")]
        name: Option<String>,
        #[arg(long, value_enum, default_value = "dot")]
        format: super::graph::GraphFormat,
    },
    /// A lab as a topology file (--name), or what the imperative commands made (applied with `apply --adopt`, it changes nothing)
    Export {
        /// an applied lab
        #[arg(long)]
        name: Option<String>,
        /// the name of the lab the imperative objects become
        #[arg(long = "as", default_value = "lab", conflicts_with = "name")]
        as_name: String,
        /// only these namespaces and switches (and the ports and links among them) [default: all]
        #[arg(conflicts_with = "name")]
        only: Vec<String>,
    },
    /// Print a shell completion script (bash: `swctl completions bash > /etc/bash_completion.d/swctl`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (swctl.1 and one per subcommand) into a directory
    Man {
        #[arg(long)]
        dir: String,
    },
    /// Compare the ways to connect namespaces (and a bridge across two simulated machines): setup, latency, throughput, CPU
    Bench(BenchArgs),
}

/// How `check` (and `apply --check`) probes.
#[derive(Debug, Clone, Copy)]
pub struct CheckArgs {
    /// seconds each wave of probes may take
    pub timeout: f64,
    /// probe every pair, not a ring per segment, in a big lab
    pub full: bool,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// wirings to compare [default: all this machine can run]: veth,bridge,ovs-veth,ovs-internal,bridge-vxlan,ovs-vxlan,ovn (the last three span two simulated machines)
    #[arg(long, value_delimiter = ',')]
    pub wiring: Vec<String>,
    /// namespaces for the setup/ready/teardown figures
    #[arg(long, default_value_t = 50)]
    pub hosts: usize,
    /// seconds per throughput test
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// TCP streams for the multi-stream test
    #[arg(long, default_value_t = 4)]
    pub streams: usize,
    /// rounds (wirings interleaved in each)
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// write an SVG chart here
    #[arg(long)]
    pub svg: Option<String>,
    /// only setup, ready and teardown
    #[arg(long)]
    pub setup_only: bool,
    /// also build and remove the same lab with the tutorials' ip/ovs-vsctl commands, and compare
    #[arg(long)]
    pub compare_shell: bool,
    /// setup, re-apply, teardown time and peak RSS at each of these sizes
    /// (e.g. 100,200,500,1000,2000; past 1000 hosts the bridge lab is a
    /// chain of trunked bridges), with the kernel's `ip -batch` floor
    #[arg(long, value_delimiter = ',')]
    pub scale: Vec<usize>,
    /// N flows on one OVS switch by one `swctl apply` against `ovs-ofctl add-flows` of the same flows
    #[arg(long)]
    pub flows: Option<usize>,
    /// every wiring measured under the same impairment of each host's link, both directions, e.g. "rate=100mbit,delay=5ms" (the keys of a topology file's port)
    #[arg(long)]
    pub impair: Option<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum SandboxCmd {
    /// Start a private ovsdb-server and ovs-vswitchd; print the OVSDB address
    Start {
        #[arg(long, default_value = SANDBOX_DIR)]
        dir: String,
        /// userspace TSO of its ovs-vswitchd (read when it starts): auto is on where correct (the userspace datapath, Open vSwitch 2.13+); off for a switch that will carry tunnels below Open vSwitch 3.3
        #[arg(long, value_enum, default_value_t = TsoChoice::Auto)]
        tso: TsoChoice,
    },
    /// Stop exactly the sandbox's daemons
    Stop {
        #[arg(long, default_value = SANDBOX_DIR)]
        dir: String,
    },
    /// Whether the sandbox runs and answers (exit code 3 when not) [default: the server of $SWCTL_OVSDB, else the sandbox in /run/swctl/ovs]
    Status {
        #[arg(long)]
        dir: Option<String>,
    },
}

/// `swctl ovs start --tso`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsoChoice {
    Auto,
    On,
    Off,
}

#[derive(Subcommand, Debug, Clone)]
pub enum OvnCmd {
    /// Start the Northbound and Southbound databases and ovn-northd; print
    /// their addresses
    Start {
        #[arg(long, default_value = crate::effect::ovn::central::DEFAULT_DIR)]
        dir: String,
        /// also listen on this address (Northbound 6641, Southbound 6642),
        /// for machines that reach the central over the network
        #[arg(long)]
        listen: Option<std::net::IpAddr>,
    },
    /// Stop exactly the central's daemons (the databases stay)
    Stop {
        #[arg(long, default_value = crate::effect::ovn::central::DEFAULT_DIR)]
        dir: String,
    },
    /// Whether the central runs and answers (exit code 3 when not)
    Status {
        #[arg(long, default_value = crate::effect::ovn::central::DEFAULT_DIR)]
        dir: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum NsCmd {
    /// Create namespaces (existing swctl namespaces are fine), with `lo` up
    Add(change::NsAdd),
    /// Delete namespaces swctl created, with everything inside and every port leading to them
    Del(change::NsDel),
    /// List namespaces (all of /run/netns; swctl's are marked)
    List,
    /// Name the network namespace of a running process (a container, `unshare -n`), like `ip netns attach`; `ns del` later only forgets it
    Attach(change::NsAttach),
    /// Run a command inside a namespace; its exit code is swctl's
    Exec {
        name: String,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SwitchCmd {
    /// Create a switch (up, STP off)
    Add(change::SwitchAdd),
    /// Delete switches swctl created, and the ports swctl made on them
    Del(change::SwitchDel),
    /// List switches (swctl's and others' bridges)
    List,
}

#[derive(Subcommand, Debug)]
pub enum FlowCmd {
    /// `swctl flow add SWITCH FLOW` (`ovs-ofctl add-flow`, with swctl's cookie)
    Add(crate::lab::flows::FlowAdd),
    /// `swctl flow del SWITCH [MATCH]`: swctl's `flow add` flows (matching MATCH)
    Del(crate::lab::flows::FlowDel),
}

#[derive(Subcommand, Debug)]
pub enum RouteCmd {
    /// `swctl route add NS DEST via GW` (DEST: `default` or a network)
    Add(change::Route),
    /// `swctl route del NS DEST via GW`
    Del(change::Route),
}

impl Cmd {
    /// The imperative change this command is, if it is one.
    pub fn change(&self) -> Option<Change> {
        Some(match self {
            Cmd::Ns(NsCmd::Add(r)) => Change::NsAdd(r.clone()),
            Cmd::Ns(NsCmd::Del(r)) => Change::NsDel(r.clone()),
            Cmd::Ns(NsCmd::Attach(r)) => Change::NsAttach(r.clone()),
            Cmd::Switch(SwitchCmd::Add(r)) => Change::SwitchAdd(r.clone()),
            Cmd::Switch(SwitchCmd::Del(r)) => Change::SwitchDel(r.clone()),
            Cmd::Attach(r) => Change::Attach(r.clone()),
            Cmd::Detach(r) => Change::Detach(r.clone()),
            Cmd::Link(r) => Change::Link(r.clone()),
            Cmd::Unlink(r) => Change::Unlink(r.clone()),
            Cmd::Route(RouteCmd::Add(r)) => Change::RouteAdd(r.clone()),
            Cmd::Route(RouteCmd::Del(r)) => Change::RouteDel(r.clone()),
            Cmd::Forward(r) => Change::Forward(r.clone()),
            _ => return None,
        })
    }
}
