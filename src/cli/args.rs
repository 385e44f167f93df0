//! The command line's grammar (clap derive): every command, its arguments
//! and their help. Values are parsed into swctl's types elsewhere
//! (`imperative`, `topo`, `bench`), never here.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::effect::paths::SANDBOX_DIR;
use crate::model::Backend;

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
    /// Switch backend for `switch add` [default: $SWCTL_BACKEND, else ovs when an OVSDB server answers, else bridge]
    #[arg(long, global = true, value_enum)]
    pub backend: Option<BackendArg>,
    /// Let an imperative command change or remove what an applied topology owns
    #[arg(long, global = true)]
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

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum BackendArg {
    Bridge,
    Ovs,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Bridge => Backend::Bridge,
            BackendArg::Ovs => Backend::Ovs,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ViaArg {
    Auto,
    Veth,
    Internal,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Named network namespaces (`ip netns`)
    #[command(subcommand)]
    Ns(NsCmd),
    /// Switches (Linux bridges; OVS bridges with --backend ovs)
    #[command(subcommand)]
    Switch(SwitchCmd),
    /// Attach a namespace to a switch (a veth pair, or an OVS internal port)
    Attach(AttachArgs),
    /// Detach a namespace from a switch (removes both ends of the wiring)
    Detach { ns: String, switch: String },
    /// A direct veth pair between two namespaces (`host`: the host's own)
    Link(LinkArgs),
    /// Remove the direct link between two namespaces
    Unlink { a: String, b: String },
    /// Static routes inside a namespace
    #[command(subcommand)]
    Route(RouteCmd),
    /// IP forwarding inside a namespace (net.ipv4.ip_forward, IPv6 forwarding)
    Forward { ns: String, state: OnOff },
    /// Every namespace, switch, port and address swctl manages (or only what NAME is: a namespace, a switch, a lab)
    Show { name: Option<String> },
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
    Plan {
        /// the topology file (`-`: standard input)
        file: String,
        /// only this machine's part of a lab over machines (what its agent runs)
        #[arg(long)]
        machine: Option<String>,
    },
    /// Make the system match a topology file (a second apply changes nothing)
    Apply {
        /// the topology file (`-`: standard input)
        file: String,
        /// only this machine's part of a lab over machines (what its agent runs)
        #[arg(long)]
        machine: Option<String>,
        /// then check the lab with real packets (exit code 1 when it fails)
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        probe: CheckArgs,
        /// first take over what imperative commands made and the file describes (a file from `swctl export`)
        #[arg(long)]
        adopt: bool,
    },
    /// Remove everything a topology owns, and nothing else
    Destroy {
        file: Option<String>,
        /// the topology's name, without its file
        #[arg(long, conflicts_with = "file")]
        name: Option<String>,
    },
    /// Drift between a topology file and the system (exit code 3 when they differ)
    Status {
        /// the topology file (`-`: standard input)
        file: String,
        /// only this machine's part of a lab over machines (what its agent runs)
        #[arg(long)]
        machine: Option<String>,
    },
    /// Connectivity of a topology with real packets between its namespaces
    Check {
        /// the topology file (`-`: standard input)
        file: String,
        /// only the probes from this machine's hosts (what its agent runs)
        #[arg(long)]
        machine: Option<String>,
        #[command(flatten)]
        probe: CheckArgs,
    },
    /// Remove leftovers of topologies that are no longer applied, and say what went
    Gc {
        /// only say what would be removed
        #[arg(long)]
        dry_run: bool,
    },
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
#[derive(Args, Debug, Clone, Copy)]
pub struct CheckArgs {
    /// seconds each wave of probes may take
    #[arg(long, default_value_t = 3.0)]
    pub timeout: f64,
    /// probe every pair, not a ring per segment, in a big lab
    #[arg(long)]
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
}

#[derive(Subcommand, Debug, Clone)]
pub enum SandboxCmd {
    /// Start a private ovsdb-server and ovs-vswitchd; print the OVSDB address
    Start {
        #[arg(long, default_value = SANDBOX_DIR)]
        dir: String,
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

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DatapathArg {
    System,
    Netdev,
}

impl DatapathArg {
    pub fn as_str(&self) -> &'static str {
        match self {
            DatapathArg::System => "system",
            DatapathArg::Netdev => "netdev",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum NsCmd {
    /// Create namespaces (existing swctl namespaces are fine), with `lo` up
    Add {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Delete namespaces swctl created, with everything inside and every port leading to them
    Del {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List namespaces (all of /run/netns; swctl's are marked)
    List,
    /// Name the network namespace of a running process (a container, `unshare -n`), like `ip netns attach`; `ns del` later only forgets it
    Attach { name: String, pid: u32 },
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
    Add {
        name: String,
        /// Put the bridge inside this namespace instead of the host's
        #[arg(long)]
        netns: Option<String>,
        /// Address on the switch device itself (repeatable)
        #[arg(long = "ip")]
        ips: Vec<String>,
        /// OVS only: force the datapath [default: system when the openvswitch kernel module works, else netdev]
        #[arg(long, value_enum)]
        datapath: Option<DatapathArg>,
        /// OVS only: the OVSDB server for this switch (unix:PATH or tcp:HOST:PORT) [default: $SWCTL_OVSDB, swctl's sandbox, the system's]
        #[arg(long)]
        ovsdb: Option<String>,
    },
    /// Delete switches swctl created, and the ports swctl made on them
    Del {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List switches (swctl's and others' bridges)
    List,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    pub ns: String,
    pub switch: String,
    /// Address for the namespace end (repeatable; IPv4 or IPv6 CIDR)
    #[arg(long = "ip")]
    pub ips: Vec<String>,
    /// Interface name inside the namespace [default: first free ethN]
    #[arg(long)]
    pub ifname: Option<String>,
    #[arg(long, value_enum, default_value = "auto")]
    pub via: ViaArg,
    /// access VLAN of the port (OVS switches)
    #[arg(long)]
    pub vlan: Option<u16>,
    /// MTU of the port's devices (68-65535)
    #[arg(long)]
    pub mtu: Option<u32>,
    /// already attached with other addresses: put --ip in their place (without it, refused)
    #[arg(long)]
    pub replace: bool,
}

#[derive(Args, Debug)]
pub struct LinkArgs {
    pub a: String,
    pub b: String,
    #[arg(long = "ip-a")]
    pub ip_a: Vec<String>,
    #[arg(long = "ip-b")]
    pub ip_b: Vec<String>,
    #[arg(long = "ifname-a")]
    pub ifname_a: Option<String>,
    #[arg(long = "ifname-b")]
    pub ifname_b: Option<String>,
    /// MTU of both ends (68-65535)
    #[arg(long)]
    pub mtu: Option<u32>,
    /// already linked with other addresses: put --ip-a/--ip-b in their place (without it, refused)
    #[arg(long)]
    pub replace: bool,
}

#[derive(Subcommand, Debug)]
pub enum RouteCmd {
    /// `swctl route add NS DEST via GW` (DEST: `default` or a network)
    Add(RouteArgs),
    /// `swctl route del NS DEST via GW`
    Del(RouteArgs),
}

#[derive(Args, Debug)]
pub struct RouteArgs {
    pub ns: String,
    pub dest: String,
    /// the word `via`
    pub via: String,
    pub gw: String,
}
