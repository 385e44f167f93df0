//! The `swctl` command line: argument parsing (clap derive), validation of
//! every argument before anything is touched, backend selection, and the
//! imperative commands, each expressed as (desired, scope) for the planner.
//! Output is text for people or JSON (`--json`) for scripts.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::json;

use crate::apply::{ApplyError, Scan, apply, observe};
use crate::model::{
    Backend, Desired, Key, LinkSpec, NsSpec, Observed, PortSpec, RouteSpec, SwitchSpec, Via,
};
use crate::names::{Cidr, IfName, InvalidInput, Loc, NsName, Owner, RouteDest, parse_ip};
use crate::netlink::Kernel;
use crate::netns::{self, NsError};
use crate::ovs::Ovs;
use crate::plan::{Plan, PlanError, Scope, Wiring, plan};
use crate::sandbox;
use crate::switch::{LinuxBridge, Switch, SwitchInfo};
use crate::topology::Topology;

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
    /// Every namespace, switch, port and address swctl manages
    Show,
    /// The embedded Open vSwitch sandbox (a private ovsdb-server and ovs-vswitchd)
    #[command(subcommand)]
    Ovs(SandboxCmd),
    /// What `apply FILE` would do, step by step, changing nothing
    Plan { file: String },
    /// Make the system match a topology file (a second apply changes nothing)
    Apply { file: String },
    /// Remove everything a topology owns, and nothing else
    Destroy {
        file: Option<String>,
        /// the topology's name, without its file
        #[arg(long, conflicts_with = "file")]
        name: Option<String>,
    },
    /// Drift between a topology file and the system (exit code 3 when they differ)
    Status { file: String },
    /// Connectivity of a topology with real packets between its namespaces
    Check {
        file: String,
        /// seconds for the whole check
        #[arg(long, default_value_t = 3.0)]
        timeout: f64,
        /// every pair even when the host's neighbour table is too small for it
        #[arg(long)]
        full: bool,
    },
    /// Remove leftovers of topologies that are no longer applied
    Gc,
    /// Compare the four ways to connect namespaces: setup, latency, throughput, CPU
    Bench(BenchArgs),
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// wirings to compare [default: all this machine can run]: veth,bridge,ovs-veth,ovs-internal
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
}

#[derive(Subcommand, Debug, Clone)]
pub enum SandboxCmd {
    /// Start a private ovsdb-server and ovs-vswitchd; print the OVSDB address
    Start {
        #[arg(long, default_value = sandbox::DEFAULT_DIR)]
        dir: String,
    },
    /// Stop exactly the sandbox's daemons
    Stop {
        #[arg(long, default_value = sandbox::DEFAULT_DIR)]
        dir: String,
    },
    /// Whether the sandbox runs and answers
    Status {
        #[arg(long, default_value = sandbox::DEFAULT_DIR)]
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

/// Everything that can go wrong in a command, by layer.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("invalid argument: {0}")]
    Invalid(#[from] InvalidInput),
    #[error("{0}")]
    Usage(String),
    #[error(
        "swctl must run as root: it creates namespaces and network devices (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    )]
    NotRoot,
    #[error("cannot make a plan")]
    Plan(#[from] PlanError),
    #[error("cannot read the system state")]
    Observe(#[source] crate::apply::StepError),
    #[error("cannot apply the plan")]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error(transparent)]
    Ovs(#[from] crate::ovsdb::OvsdbError),
    #[error("Open vSwitch sandbox")]
    Sandbox(#[from] sandbox::SandboxError),
    #[error(transparent)]
    Topology(#[from] crate::topology::TopologyError),
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl CliError {
    /// 2: the input was refused before anything happened; 1: the system said no.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Invalid(_)
            | CliError::Usage(_)
            | CliError::Plan(_)
            | CliError::NotRoot
            | CliError::Topology(_)
            | CliError::Lab(crate::lab::LabError::Plan(_) | crate::lab::LabError::Conflicts(_)) => {
                2
            }
            _ => 1,
        }
    }

    /// The error and its causes, outermost first; for an apply failure,
    /// every failed step.
    pub fn chain(&self) -> Vec<String> {
        let mut v = vec![self.to_string()];
        let apply_err = match self {
            CliError::Apply(a) | CliError::Lab(crate::lab::LabError::Apply(a)) => Some(a),
            _ => None,
        };
        if let Some(a) = apply_err {
            for (step, e) in &a.failures {
                v.push(format!("step `{step}`: {e}"));
            }
            return v;
        }
        let mut src = std::error::Error::source(self);
        while let Some(s) = src {
            v.push(s.to_string());
            src = s.source();
        }
        v
    }
}

fn parse_all<T: FromStr<Err = InvalidInput>>(v: &[String]) -> Result<Vec<T>, InvalidInput> {
    v.iter().map(|s| s.parse()).collect()
}

fn unique<T: Ord + Clone + std::fmt::Display>(v: &[T], what: &str) -> Result<(), CliError> {
    let mut seen = BTreeSet::new();
    for x in v {
        if !seen.insert(x.clone()) {
            return Err(CliError::Usage(format!("{what} {x} is given twice")));
        }
    }
    Ok(())
}

/// Where swctl looks for an OVSDB server, in order: $SWCTL_OVSDB, swctl's
/// own sandbox, the system's Open vSwitch.
pub fn ovsdb_candidates() -> Vec<String> {
    if let Ok(s) = std::env::var("SWCTL_OVSDB") {
        return vec![s];
    }
    vec![
        sandbox::address(std::path::Path::new(sandbox::DEFAULT_DIR)),
        "unix:/run/openvswitch/db.sock".into(),
    ]
}

/// Connect to the first OVSDB server that answers; why none did otherwise.
pub async fn connect_ovs() -> Result<Ovs, String> {
    let mut why = Vec::new();
    for addr in ovsdb_candidates() {
        match Ovs::connect(&addr).await {
            Ok(o) => return Ok(o),
            Err(e) => why.push(e.to_string()),
        }
    }
    Err(why.join("; "))
}

/// The backend for a new switch, and why it was chosen.
async fn choose_backend(
    arg: Option<BackendArg>,
    k: &Kernel,
) -> Result<(Backend, String), CliError> {
    if let Some(b) = arg {
        return Ok((b.into(), "--backend".into()));
    }
    if let Ok(s) = std::env::var("SWCTL_BACKEND") {
        return match s.as_str() {
            "bridge" => Ok((Backend::Bridge, "$SWCTL_BACKEND".into())),
            "ovs" => Ok((Backend::Ovs, "$SWCTL_BACKEND".into())),
            other => Err(CliError::Usage(format!(
                "$SWCTL_BACKEND is {other:?}; expected `bridge` or `ovs`"
            ))),
        };
    }
    match &k.ovs {
        Ok(o) => Ok((
            Backend::Ovs,
            format!("an OVSDB server answers at {}", o.client.addr()),
        )),
        Err(_) => Ok((Backend::Bridge, "no OVSDB server answers".into())),
    }
}

/// What a command prints: text for people, a JSON value for scripts.
pub struct Output {
    pub text: String,
    pub json: serde_json::Value,
    /// exit code of a command that ran but reports a negative result
    /// (`status`: 3 on drift; `check`: 1 when a pair fails)
    pub code: i32,
}

/// Run a parsed command (everything but `ns exec`, which `main` handles
/// before any thread exists).
pub fn run(cli: &Cli) -> Result<Output, CliError> {
    // Validate first: no root needed to be told an argument is wrong.
    let job = Job::from_cli(cli)?;
    if !nix::unistd::geteuid().is_root() {
        return Err(CliError::NotRoot);
    }
    // changes are serialized across swctl processes
    let _lock = if job.changes() {
        Some(crate::lock::take()?)
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    rt.block_on(job.run())
}

/// A validated command that changes the system: (desired, scope) for the
/// planner, and what to observe.
struct ChangeJob {
    what: String,
    desired: Desired,
    scope: Scope,
    scan: Scan,
    /// teardown-like: keep going past failures, report them all
    keep_going: bool,
    /// names that must exist for the command to make sense (del of a
    /// missing object is an error, as with `ip`)
    must_exist: Vec<Key>,
    /// expected switch kind from an explicit --backend
    backend_check: Option<(IfName, Backend)>,
    /// `switch add`: pick the backend at run time (it may ask OVSDB)
    pick_backend: Option<Option<BackendArg>>,
    /// talk to OVSDB (commands that may involve an OVS switch)
    ovs: bool,
    /// why the backend was picked, when not by the usual rules
    backend_reason: Option<String>,
}

impl ChangeJob {
    fn new(what: String, desired: Desired, scope: Scope, scan: Scan) -> ChangeJob {
        ChangeJob {
            what,
            desired,
            scope,
            scan,
            keep_going: false,
            must_exist: vec![],
            backend_check: None,
            pick_backend: None,
            ovs: false,
            backend_reason: None,
        }
    }
    fn teardown(mut self, must_exist: Vec<Key>) -> ChangeJob {
        self.keep_going = true;
        self.must_exist = must_exist;
        self
    }
    fn with_ovs(mut self, check: Option<(IfName, Backend)>) -> ChangeJob {
        self.ovs = true;
        self.backend_check = check;
        self
    }
}

/// A validated command, ready to run.
enum Job {
    Change(Box<ChangeJob>),
    /// a topology command, its validated file (when it has one) and path
    Topo(TopoCmd, Option<Topology>, String),
    /// `swctl bench`, with the wirings asked for (empty: all)
    Bench(BenchArgs, Vec<crate::bench::Wiring>),
    NsList,
    SwitchList,
    Show,
    Sandbox(SandboxCmd),
}

impl From<ChangeJob> for Job {
    fn from(c: ChangeJob) -> Job {
        Job::Change(Box::new(c))
    }
}

fn locs_to_scan(scan: &mut Scan, locs: &[&Loc]) {
    for loc in locs {
        if let Loc::Ns(n) = loc {
            scan.namespaces.insert(n.clone());
        }
    }
}

impl Job {
    fn from_cli(cli: &Cli) -> Result<Job, CliError> {
        let mut d = Desired::new(Owner::cli());
        let mut scan = Scan::default();
        let explicit = cli.backend.map(Backend::from);
        Ok(match &cli.cmd {
            Cmd::Ns(NsCmd::Add { names }) => {
                let names: Vec<NsName> = parse_all(names)?;
                unique(&names, "namespace")?;
                for n in &names {
                    d.namespaces.insert(n.clone(), NsSpec::default());
                    scan.namespaces.insert(n.clone());
                }
                ChangeJob::new(format!("ns add {}", join(&names)), d, Scope::Nothing, scan).into()
            }
            Cmd::Ns(NsCmd::Del { names }) => {
                let names: Vec<NsName> = parse_all(names)?;
                unique(&names, "namespace")?;
                scan.all_owned = true;
                scan.namespaces.extend(names.iter().cloned());
                let keys: Vec<Key> = names.iter().map(|n| Key::Ns { ns: n.clone() }).collect();
                let scope = Scope::Objects(keys.iter().cloned().collect());
                ChangeJob::new(format!("ns del {}", join(&names)), d, scope, scan)
                    .teardown(keys)
                    .with_ovs(None)
                    .into()
            }
            Cmd::Ns(NsCmd::List) => Job::NsList,
            Cmd::Ns(NsCmd::Exec { .. }) => {
                return Err(CliError::Usage("`ns exec` is run by main".into()));
            }
            Cmd::Switch(SwitchCmd::Add {
                name,
                netns,
                ips,
                datapath,
                ovsdb,
            }) => {
                let name: IfName = name.parse()?;
                if let Some(db) = ovsdb
                    && !(db.starts_with("unix:") || db.starts_with("tcp:"))
                {
                    return Err(CliError::Usage(format!(
                        "--ovsdb {db:?}: expected unix:PATH or tcp:HOST:PORT"
                    )));
                }
                let loc = match netns {
                    Some(n) => Loc::Ns(n.parse()?),
                    None => Loc::Host,
                };
                let addrs: Vec<Cidr> = parse_all(ips)?;
                unique(&addrs, "address")?;
                if let Loc::Ns(n) = &loc {
                    scan.namespaces.insert(n.clone());
                }
                scan.all_owned = true; // a bridge of that name elsewhere cannot move
                d.switches.insert(
                    name.clone(),
                    SwitchSpec {
                        // decided at run time by pick_backend
                        backend: Backend::Bridge,
                        loc,
                        addrs,
                        datapath: datapath.map(|d| d.as_str().to_string()),
                        ovsdb: ovsdb.clone(),
                    },
                );
                let mut job = ChangeJob::new(format!("switch add {name}"), d, Scope::Nothing, scan)
                    .with_ovs(None);
                // an OVSDB server named for the switch means OVS
                job.pick_backend = Some(cli.backend);
                if cli.backend.is_none() && ovsdb.is_some() {
                    job.pick_backend = Some(Some(BackendArg::Ovs));
                    job.backend_reason = Some("--ovsdb".into());
                }
                job.into()
            }
            Cmd::Switch(SwitchCmd::Del { names }) => {
                let names: Vec<IfName> = parse_all(names)?;
                unique(&names, "switch")?;
                scan.all_owned = true;
                let keys: Vec<Key> = names
                    .iter()
                    .map(|n| Key::Switch { name: n.clone() })
                    .collect();
                let scope = Scope::Objects(keys.iter().cloned().collect());
                ChangeJob::new(format!("switch del {}", join(&names)), d, scope, scan)
                    .teardown(keys)
                    .with_ovs(explicit.map(|b| (names[0].clone(), b)))
                    .into()
            }
            Cmd::Switch(SwitchCmd::List) => Job::SwitchList,
            Cmd::Attach(a) => {
                let ns: NsName = a.ns.parse()?;
                let switch: IfName = a.switch.parse()?;
                let addrs: Vec<Cidr> = parse_all(&a.ips)?;
                unique(&addrs, "address")?;
                let ifname = a.ifname.as_deref().map(IfName::from_str).transpose()?;
                if ifname.as_ref().is_some_and(|n| n.as_str() == "lo") {
                    return Err(CliError::Usage(
                        "`lo` is the namespace's loopback; choose another --ifname".into(),
                    ));
                }
                let via = match a.via {
                    ViaArg::Auto => Via::Auto,
                    ViaArg::Veth => Via::Veth,
                    ViaArg::Internal => Via::Internal,
                };
                scan.switch = Some(switch.clone());
                scan.namespaces.insert(ns.clone());
                d.ports.push(PortSpec {
                    ns: ns.clone(),
                    switch: switch.clone(),
                    ifname,
                    addrs,
                    via,
                    vlan: check_vlan(a.vlan)?,
                    mtu: check_mtu(a.mtu)?,
                });
                ChangeJob::new(format!("attach {ns} {switch}"), d, Scope::Nothing, scan)
                    .with_ovs(explicit.map(|b| (switch.clone(), b)))
                    .into()
            }
            Cmd::Detach { ns, switch } => {
                let ns: NsName = ns.parse()?;
                let switch: IfName = switch.parse()?;
                scan.switch = Some(switch.clone());
                scan.namespaces.insert(ns.clone());
                let key = Key::Port {
                    ns: ns.clone(),
                    switch: switch.clone(),
                };
                let scope = Scope::Objects([key.clone()].into());
                ChangeJob::new(format!("detach {ns} {switch}"), d, scope, scan)
                    .teardown(vec![key])
                    .with_ovs(explicit.map(|b| (switch.clone(), b)))
                    .into()
            }
            Cmd::Link(l) => {
                let a: Loc = l.a.parse()?;
                let b: Loc = l.b.parse()?;
                let a_addrs: Vec<Cidr> = parse_all(&l.ip_a)?;
                let b_addrs: Vec<Cidr> = parse_all(&l.ip_b)?;
                let mut all = a_addrs.clone();
                all.extend(b_addrs.iter().cloned());
                unique(&all, "address")?;
                let a_ifname = l.ifname_a.as_deref().map(IfName::from_str).transpose()?;
                let b_ifname = l.ifname_b.as_deref().map(IfName::from_str).transpose()?;
                locs_to_scan(&mut scan, &[&a, &b]);
                d.links.push(LinkSpec {
                    a: a.clone(),
                    b: b.clone(),
                    a_ifname,
                    b_ifname,
                    a_addrs,
                    b_addrs,
                    mtu: check_mtu(l.mtu)?,
                });
                ChangeJob::new(format!("link {a} {b}"), d, Scope::Nothing, scan).into()
            }
            Cmd::Unlink { a, b } => {
                let a: Loc = a.parse()?;
                let b: Loc = b.parse()?;
                locs_to_scan(&mut scan, &[&a, &b]);
                let key = Key::link(&a, &b);
                let scope = Scope::Objects([key.clone()].into());
                ChangeJob::new(format!("unlink {a} {b}"), d, scope, scan)
                    .teardown(vec![key])
                    .into()
            }
            Cmd::Route(rc) => {
                let (r, add) = match rc {
                    RouteCmd::Add(r) => (r, true),
                    RouteCmd::Del(r) => (r, false),
                };
                if r.via != "via" {
                    return Err(CliError::Usage(format!(
                        "expected `via` after the destination, found {:?}: swctl route add|del NS DEST via GATEWAY",
                        r.via
                    )));
                }
                let ns: NsName = r.ns.parse()?;
                let dest: RouteDest = r.dest.parse()?;
                let via = parse_ip(&r.gw)?;
                if let RouteDest::Net(c) = dest
                    && c.addr.is_ipv4() != via.is_ipv4()
                {
                    return Err(CliError::Usage(format!(
                        "{dest} and gateway {via} are of different IP families"
                    )));
                }
                scan.namespaces.insert(ns.clone());
                if add {
                    d.namespaces.insert(
                        ns.clone(),
                        NsSpec {
                            forward: None,
                            routes: vec![RouteSpec { dest, via }],
                        },
                    );
                    let mut job = ChangeJob::new(
                        format!("route add {ns} {dest} via {via}"),
                        d,
                        Scope::Nothing,
                        scan,
                    );
                    job.must_exist = vec![Key::Ns { ns }];
                    job.into()
                } else {
                    let key = Key::Route {
                        ns: ns.clone(),
                        dest,
                        via,
                    };
                    let scope = Scope::Objects([key.clone()].into());
                    let mut job =
                        ChangeJob::new(format!("route del {ns} {dest} via {via}"), d, scope, scan);
                    job.must_exist = vec![Key::Ns { ns }, key];
                    job.into()
                }
            }
            Cmd::Forward { ns, state } => {
                let ns: NsName = ns.parse()?;
                let on = *state == OnOff::On;
                scan.namespaces.insert(ns.clone());
                scan.forward.insert(ns.clone());
                d.namespaces.insert(
                    ns.clone(),
                    NsSpec {
                        forward: Some(on),
                        routes: vec![],
                    },
                );
                let what = format!("forward {ns} {}", if on { "on" } else { "off" });
                let mut job = ChangeJob::new(what, d, Scope::Nothing, scan);
                job.must_exist = vec![Key::Ns { ns }];
                job.into()
            }
            Cmd::Show => Job::Show,
            Cmd::Ovs(c) => Job::Sandbox(c.clone()),
            Cmd::Plan { file } => Job::Topo(TopoCmd::Plan, Some(load(file)?), file.clone()),
            Cmd::Apply { file } => Job::Topo(TopoCmd::Apply, Some(load(file)?), file.clone()),
            Cmd::Status { file } => Job::Topo(TopoCmd::Status, Some(load(file)?), file.clone()),
            Cmd::Check {
                file,
                timeout,
                full,
            } => {
                if !(*timeout > 0.0 && *timeout <= 600.0) {
                    return Err(CliError::Usage(
                        "--timeout must be between 0 and 600 seconds".into(),
                    ));
                }
                Job::Topo(
                    TopoCmd::Check(*timeout, *full),
                    Some(load(file)?),
                    file.clone(),
                )
            }
            Cmd::Destroy { file, name } => match (file, name) {
                (Some(f), None) => Job::Topo(TopoCmd::Destroy(load(f)?.name), None, f.clone()),
                (None, Some(n)) => Job::Topo(TopoCmd::Destroy(n.parse()?), None, String::new()),
                _ => {
                    return Err(CliError::Usage(
                        "destroy needs a topology FILE or --name NAME".into(),
                    ));
                }
            },
            Cmd::Gc => Job::Topo(TopoCmd::Gc, None, String::new()),
            Cmd::Bench(b) => {
                let mut wirings = Vec::new();
                for w in &b.wiring {
                    let x = crate::bench::Wiring::parse(w).ok_or_else(|| {
                        CliError::Usage(format!(
                            "--wiring {w:?}: expected veth, bridge, ovs-veth or ovs-internal"
                        ))
                    })?;
                    if !wirings.contains(&x) {
                        wirings.push(x);
                    }
                }
                if !(2..=2000).contains(&b.hosts) {
                    return Err(CliError::Usage("--hosts must be between 2 and 2000".into()));
                }
                if !(b.duration > 0.0 && b.duration <= 600.0)
                    || b.streams == 0
                    || b.streams > 64
                    || b.repeat == 0
                    || b.repeat > 100
                {
                    return Err(CliError::Usage(
                        "--duration must be in (0, 600] s, --streams in 1..=64, --repeat in 1..=100".into(),
                    ));
                }
                Job::Bench(b.clone(), wirings)
            }
        })
    }

    fn changes(&self) -> bool {
        match self {
            Job::Change(_) => true,
            Job::Topo(c, ..) => matches!(c, TopoCmd::Apply | TopoCmd::Destroy(_) | TopoCmd::Gc),
            Job::NsList | Job::SwitchList | Job::Show | Job::Sandbox(_) => false,
            Job::Bench(..) => true,
        }
    }

    /// OVSDB servers named by the command or topology.
    fn named_servers(&self) -> Vec<String> {
        let d = match self {
            Job::Change(c) => &c.desired,
            Job::Topo(_, Some(t), _) => &t.desired,
            _ => return vec![],
        };
        d.switches
            .values()
            .filter_map(|s| s.ovsdb.clone())
            .collect()
    }

    /// Every OVSDB server to look at besides the default: the named ones and
    /// the ones swctl made switches on before.
    fn ovsdb_servers(&self) -> Vec<String> {
        let mut v = self.named_servers();
        v.extend(crate::ovs::known_servers());
        v.sort();
        v.dedup();
        v
    }

    fn requires(&self, addr: &str) -> bool {
        self.named_servers().iter().any(|a| a == addr)
    }

    fn needs_ovs(&self) -> bool {
        match self {
            Job::Change(c) => c.ovs,
            Job::SwitchList | Job::Show => true,
            Job::NsList | Job::Sandbox(_) => false,
            Job::Topo(..) | Job::Bench(..) => true,
        }
    }

    async fn run(self) -> Result<Output, CliError> {
        let mut k = Kernel::new().map_err(|e| CliError::Observe(e.into()))?;
        if self.needs_ovs() {
            k.ovs = connect_ovs().await;
            let default = k.ovs.as_ref().ok().map(|o| o.client.addr().to_string());
            for addr in self.ovsdb_servers() {
                if Some(&addr) == default.as_ref()
                    || k.ovs_extra.iter().any(|o| o.client.addr() == addr)
                {
                    continue;
                }
                match Ovs::connect(&addr).await {
                    Ok(o) => k.ovs_extra.push(o),
                    Err(e) if self.requires(&addr) => return Err(CliError::Ovs(e)),
                    Err(_) => {} // a remembered server that is gone
                }
            }
        }
        let everything = Scan {
            all_owned: true,
            ..Default::default()
        };
        match self {
            Job::NsList => {
                let mut lines = Vec::new();
                let mut arr = Vec::new();
                for n in netns::list()? {
                    let owner = netns::owner(&n);
                    lines.push(match &owner {
                        Some(o) => format!("{n}  (swctl, owner {o})"),
                        None => n.to_string(),
                    });
                    arr.push(json!({"name": n, "swctl": owner.is_some(), "owner": owner.map(|o| o.to_string())}));
                }
                Ok(Output {
                    text: lines.join("\n"),
                    json: json!({"namespaces": arr}),
                    code: 0,
                })
            }
            Job::SwitchList => {
                let o = observe(&k, &everything).await.map_err(CliError::Observe)?;
                let sw = all_switches(&k, &o, false);
                Ok(Output {
                    text: sw.iter().map(switch_line).collect::<Vec<_>>().join("\n"),
                    json: json!({ "switches": sw }),
                    code: 0,
                })
            }
            Job::Show => {
                let o = observe(&k, &everything).await.map_err(CliError::Observe)?;
                Ok(show(&k, &o))
            }
            Job::Sandbox(c) => sandbox_cmd(c).await,
            Job::Topo(cmd, topo, file) => topo_cmd(&k, cmd, topo, &file).await,
            Job::Bench(args, wirings) => bench_cmd(&k, &args, wirings).await,
            Job::Change(job) => {
                let mut job = *job;
                if let Some(arg) = job.pick_backend {
                    let (backend, mut why) = choose_backend(arg, &k).await?;
                    if let Some(r) = job.backend_reason.take() {
                        why = r;
                    }
                    for s in job.desired.switches.values_mut() {
                        s.backend = backend;
                    }
                    let mut out = run_change(&k, job).await?;
                    out.text = format!("backend: {backend} ({why})\n{}", out.text);
                    out.json["backend"] = json!(backend);
                    out.json["backend_reason"] = json!(why);
                    return Ok(out);
                }
                run_change(&k, job).await
            }
        }
    }
}

async fn run_change(k: &Kernel, mut job: ChangeJob) -> Result<Output, CliError> {
    for ns in job.desired.namespaces.keys() {
        job.scan.namespaces.insert(ns.clone());
    }
    let t0 = Instant::now();
    let o = observe(k, &job.scan).await.map_err(CliError::Observe)?;
    check_exists(&o, &job.must_exist)?;
    if let Some((sw, want)) = &job.backend_check
        && let Some((have, loc)) = o.find_switch(sw.as_str())
        && *want != have
    {
        return Err(CliError::Usage(format!(
            "switch {sw} (in {loc}) is on the {have} backend, but --backend {want} was given"
        )));
    }
    let p = plan(&job.desired, &o, &job.scope)?;
    let n = p.steps.len();
    apply(k, &p, job.keep_going).await?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    Ok(change_output(&job.what, &p, n, ms))
}

/// Every switch on both backends.
fn all_switches(k: &Kernel, o: &Observed, only_owned: bool) -> Vec<SwitchInfo> {
    let mut v = LinuxBridge { nl: k }.list(o, only_owned);
    // every OVS switch of the observation, whatever its server
    v.extend(crate::switch::ovs_list(o, only_owned));
    v
}

async fn sandbox_cmd(c: SandboxCmd) -> Result<Output, CliError> {
    let (what, dir) = match &c {
        SandboxCmd::Start { dir } => ("start", dir),
        SandboxCmd::Stop { dir } => ("stop", dir),
        SandboxCmd::Status { dir } => ("status", dir),
    };
    let dir = std::path::PathBuf::from(dir);
    match what {
        "start" => {
            let st = sandbox::start(&dir).await?;
            Ok(Output {
                text: format!(
                    "Open vSwitch sandbox running in {} (ovsdb-server pid {}, ovs-vswitchd pid {})\nOVSDB address: {}\n(export SWCTL_OVSDB={} to use it from another directory)",
                    st.dir.display(),
                    st.ovsdb_server.unwrap_or(0),
                    st.ovs_vswitchd.unwrap_or(0),
                    st.address,
                    st.address
                ),
                json: json!(st),
                code: 0,
            })
        }
        "stop" => {
            let stopped = sandbox::stop(&dir)?;
            let text = if stopped.is_empty() {
                format!("no sandbox daemons were running in {}", dir.display())
            } else {
                stopped
                    .iter()
                    .map(|(d, p)| format!("stopped {d} (pid {p})"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok(Output {
                text,
                json: json!({"stopped": stopped.iter().map(|(d, p)| json!({"daemon": d, "pid": p})).collect::<Vec<_>>()}),
                code: 0,
            })
        }
        _ => {
            let st = sandbox::status(&dir).await;
            Ok(Output {
                text: format!(
                    "{}: ovsdb-server {}, ovs-vswitchd {}, OVSDB {} at {}",
                    st.dir.display(),
                    st.ovsdb_server
                        .map_or("not running".to_string(), |p| format!("pid {p}")),
                    st.ovs_vswitchd
                        .map_or("not running".to_string(), |p| format!("pid {p}")),
                    if st.answers {
                        "answers"
                    } else {
                        "does not answer"
                    },
                    st.address
                ),
                json: json!(st),
                code: 0,
            })
        }
    }
}

fn check_mtu(m: Option<u32>) -> Result<Option<u32>, CliError> {
    match m {
        Some(v) if !(68..=65535).contains(&v) => {
            Err(CliError::Usage(format!("--mtu {v}: expected 68-65535")))
        }
        m => Ok(m),
    }
}

fn check_vlan(v: Option<u16>) -> Result<Option<u16>, CliError> {
    match v {
        Some(x) if !(1..=4094).contains(&x) => {
            Err(CliError::Usage(format!("--vlan {x}: expected 1-4094")))
        }
        v => Ok(v),
    }
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `del` of something that does not exist is an error, as with `ip`.
fn check_exists(o: &Observed, keys: &[Key]) -> Result<(), CliError> {
    for k in keys {
        let ok = match k {
            Key::Ns { ns } => o.namespaces.contains_key(ns),
            Key::Switch { name } => o.find_switch(name.as_str()).is_some(),
            Key::Port { ns, switch } => {
                if !o.namespaces.contains_key(ns) {
                    return Err(PlanError::UnknownNamespace(ns.clone()).into());
                }
                if o.find_switch(switch.as_str()).is_none() {
                    return Err(PlanError::UnknownSwitch(switch.clone()).into());
                }
                let ovs_port = o.ovs.as_ref().and_then(|s| s.bridge(switch.as_str())).is_some_and(|b| {
                    b.ports
                        .iter()
                        .any(|p| p.ns().as_ref() == Some(ns) && p.external_ids.get(crate::ovs::K_SWITCH) == Some(&switch.to_string()))
                });
                ovs_port || o.locs().any(|(_, st)| {
                    st.marked(|m| matches!(m, crate::model::Mark::Port { ns: n, sw, .. } if n == ns && sw == switch))
                        .next()
                        .is_some()
                })
            }
            Key::Route { ns, dest, via } => o
                .namespaces
                .get(ns)
                .is_some_and(|n| n.state.routes.iter().any(|r| &r.dest == dest && r.via == Some(*via))),
            Key::Link { a, b } => o.locs().any(|(_, st)| {
                st.marked(|m| matches!(m, crate::model::Mark::Link { a: x, b: y, .. } if Key::link(x, y) == Key::link(a, b)))
                    .next()
                    .is_some()
            }),
        };
        if !ok {
            return Err(match k {
                Key::Ns { ns } => PlanError::UnknownNamespace(ns.clone()),
                Key::Switch { name } => PlanError::UnknownSwitch(name.clone()),
                Key::Port { ns, switch } => PlanError::NotAttached(ns.clone(), switch.clone()),
                Key::Link { a, b } => PlanError::NoSuchLink(a.clone(), b.clone()),
                Key::Route { ns, dest, via } => PlanError::NoSuchRoute(ns.clone(), *dest, *via),
            }
            .into());
        }
    }
    Ok(())
}

fn change_output(what: &str, p: &Plan, n: usize, ms: f64) -> Output {
    let mut text = String::new();
    for w in &p.wiring {
        text.push_str(&wiring_line(w));
        text.push('\n');
    }
    if n == 0 {
        text.push_str(&format!("{what}: nothing to change"));
    } else {
        text.push_str(&format!(
            "{what}: {n} change{} in {ms:.1} ms",
            if n == 1 { "" } else { "s" }
        ));
    }
    Output {
        text,
        json: json!({
            "command": what,
            "changes": n,
            "steps": p.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "wiring": p.wiring,
            "elapsed_ms": ms,
        }),
        code: 0,
    }
}

fn wiring_line(w: &Wiring) -> String {
    let via = match w.via {
        Via::Veth => "veth",
        Via::Internal => "internal port",
        Via::Auto => "auto",
    };
    match &w.key {
        Key::Port { ns, switch } => format!(
            "{ns} attached to {switch} via {via}: {} ({}, port of {switch}) <-> {} (in {ns})",
            w.a_dev, w.a_loc, w.b_dev
        ),
        _ => format!(
            "link via {via}: {} (in {}) <-> {} (in {})",
            w.a_dev, w.a_loc, w.b_dev, w.b_loc
        ),
    }
}

fn switch_line(s: &SwitchInfo) -> String {
    let addrs = join(&s.addrs);
    format!(
        "{}  backend={} in={} owner={} {} ports={}{}",
        s.name,
        s.backend,
        s.loc,
        s.owner.as_ref().map_or("-".to_string(), |o| o.to_string()),
        if s.up { "up" } else { "down" },
        s.ports.len(),
        if addrs.is_empty() {
            String::new()
        } else {
            format!(" addr {addrs}")
        }
    )
}

#[derive(Serialize)]
struct ShowNs {
    name: NsName,
    owner: Option<String>,
    links: Vec<crate::model::LinkObs>,
    routes: Vec<crate::model::RouteObs>,
}

fn show(k: &Kernel, o: &Observed) -> Output {
    let switches = all_switches(k, o, true);
    let mut text = String::new();
    let mut nss = Vec::new();
    for (n, obs) in &o.namespaces {
        let Some(owner) = &obs.owner else { continue };
        text.push_str(&format!("namespace {n} (owner {owner})\n"));
        for l in &obs.state.links {
            let what = match &l.mark {
                Some(crate::model::Mark::Port { sw, .. }) => format!(" port of {sw}"),
                Some(crate::model::Mark::Link { a, b, .. }) => format!(" link {a}<->{b}"),
                Some(crate::model::Mark::Switch { .. }) => " switch".into(),
                None => String::new(),
            };
            text.push_str(&format!(
                "  {:<15} {:<8} {:<4} {}{}\n",
                l.name,
                l.kind.as_deref().unwrap_or("-"),
                if l.up { "up" } else { "down" },
                join(&l.addrs),
                what
            ));
        }
        for r in &obs.state.routes {
            if let Some(via) = r.via {
                text.push_str(&format!("  route {} via {via}\n", r.dest));
            }
        }
        nss.push(ShowNs {
            name: n.clone(),
            owner: Some(owner.to_string()),
            links: obs.state.links.clone(),
            routes: obs.state.routes.clone(),
        });
    }
    for s in &switches {
        text.push_str(&format!("switch {}\n", switch_line(s)));
        for p in &s.ports {
            text.push_str(&format!(
                "  port {} -> {}\n",
                p.dev,
                p.ns.as_ref().map_or("-".to_string(), |n| n.to_string())
            ));
        }
    }
    let host_links: Vec<_> = o
        .host
        .links
        .iter()
        .filter(|l| matches!(l.mark, Some(crate::model::Mark::Link { .. })))
        .cloned()
        .collect();
    for l in &host_links {
        text.push_str(&format!(
            "host link {} {} {}\n",
            l.name,
            if l.up { "up" } else { "down" },
            join(&l.addrs)
        ));
    }
    Output {
        text: text.trim_end().to_string(),
        json: json!({"namespaces": nss, "switches": switches, "host_links": host_links}),
        code: 0,
    }
}

/// Print an error the way the user asked for: one line per cause, or JSON.
pub fn report_error(e: &CliError, json_out: bool) {
    let chain = e.chain();
    if json_out {
        let v = json!({"error": chain[0], "causes": &chain[1..], "exit_code": e.exit_code()});
        println!("{v}");
    } else {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "swctl: {}", chain.join(": "));
    }
}

/// Whether the process runs as root (`ns exec` checks it before entering).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root() && Path::new("/proc/self/ns/net").exists()
}

#[derive(Debug, Clone)]
pub enum TopoCmd {
    Plan,
    Apply,
    Status,
    Check(f64, bool),
    Destroy(Owner),
    Gc,
}

fn load(file: &str) -> Result<Topology, CliError> {
    Ok(crate::topology::load(std::path::Path::new(file))?)
}

fn steps_text(p: &Plan) -> String {
    p.steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{:>4}. {s}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn topo_cmd(
    k: &Kernel,
    cmd: TopoCmd,
    topo: Option<Topology>,
    file: &str,
) -> Result<Output, CliError> {
    use std::io::IsTerminal;
    let t0 = Instant::now();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    match cmd {
        TopoCmd::Plan => {
            let t = topo.expect("loaded");
            let (_, p) = crate::lab::plan_for(k, &t.desired).await?;
            let text = if p.is_empty() {
                format!("{}: nothing to change", t.name)
            } else {
                format!("{}: {} steps\n{}", t.name, p.steps.len(), steps_text(&p))
            };
            Ok(Output {
                text,
                json: json!({"topology": t.name, "steps": p.steps, "commands": p.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "wiring": p.wiring}),
                code: 0,
            })
        }
        TopoCmd::Apply => {
            let t = topo.expect("loaded");
            let tty = std::io::stderr().is_terminal();
            let mut progress = |done: usize, total: usize| {
                if tty && total >= 20 {
                    eprint!("\rswctl: applying {}: {done}/{total} steps", t.name);
                    if done >= total {
                        eprintln!();
                    }
                }
            };
            let p = crate::lab::apply_topology(k, &t.desired, file, &mut progress).await?;
            let n = p.steps.len();
            let text = if n == 0 {
                format!("{}: nothing to change", t.name)
            } else {
                format!(
                    "{}: {n} change{} in {:.1} ms",
                    t.name,
                    if n == 1 { "" } else { "s" },
                    ms(t0)
                )
            };
            Ok(Output {
                text,
                json: json!({"topology": t.name, "changes": n, "commands": p.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "wiring": p.wiring, "elapsed_ms": ms(t0)}),
                code: 0,
            })
        }
        TopoCmd::Status => {
            let t = topo.expect("loaded");
            let (_, p) = crate::lab::plan_for(k, &t.desired).await?;
            let d = crate::lab::drift(&p);
            let mut text = if d.in_sync {
                format!("{}: in sync", t.name)
            } else {
                format!("{}: drift", t.name)
            };
            for (what, v) in [
                ("missing", &d.missing),
                ("differs", &d.differs),
                ("leaked", &d.leaked),
            ] {
                for x in v {
                    text.push_str(&format!("\n  {what:<8} {x}"));
                }
            }
            Ok(Output {
                text,
                json: json!({"topology": t.name, "drift": d}),
                code: if d.in_sync { 0 } else { 3 },
            })
        }
        TopoCmd::Check(timeout, full) => {
            let t = topo.expect("loaded");
            let (probes, reduced) = crate::check::plan_probes(&t.desired, full);
            let timeout = std::time::Duration::from_secs_f64(timeout);
            let res = tokio::task::spawn_blocking(move || crate::check::run(&probes, timeout))
                .await
                .map_err(|e| CliError::Usage(format!("check failed: {e}")))?;
            let failed = res.iter().filter(|r| !r.ok).count();
            let mut text = format!("{:<16} {:<40} {:<28} {}", "from", "to", "because", "result");
            for r in &res {
                let to = format!("{} ({})", r.probe.to, r.probe.owner);
                let result = match (&r.rtt_ms, &r.error) {
                    (Some(ms), _) => format!("ok {ms:.2} ms"),
                    (_, Some(e)) => format!("FAIL {e}"),
                    _ => "FAIL".into(),
                };
                text.push_str(&format!(
                    "\n{:<16} {:<40} {:<28} {result}",
                    r.probe.from, to, r.probe.why
                ));
            }
            if let Some(r) = &reduced {
                text.push_str(&format!("\nnote: {r}"));
            }
            text.push_str(&format!(
                "\n{}: {} pairs, {} failed",
                t.name,
                res.len(),
                failed
            ));
            Ok(Output {
                text,
                json: json!({"topology": t.name, "pairs": res, "failed": failed, "reduced": reduced}),
                code: if failed == 0 { 0 } else { 1 },
            })
        }
        TopoCmd::Destroy(name) => {
            let p = crate::lab::destroy(k, &name).await?;
            let n = p.steps.len();
            Ok(Output {
                text: if n == 0 {
                    format!("{name}: nothing to remove")
                } else {
                    format!(
                        "{name}: {n} removal step{} in {:.1} ms",
                        if n == 1 { "" } else { "s" },
                        ms(t0)
                    )
                },
                json: json!({"topology": name, "changes": n, "commands": p.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>()}),
                code: 0,
            })
        }
        TopoCmd::Gc => {
            let (dead, p) = crate::lab::gc(k).await?;
            Ok(Output {
                text: if dead.is_empty() {
                    "gc: no leftovers".into()
                } else {
                    format!(
                        "gc: removed leftovers of {} ({} steps)",
                        join(&dead),
                        p.steps.len()
                    )
                },
                json: json!({"removed_owners": dead, "commands": p.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>()}),
                code: 0,
            })
        }
    }
}

async fn bench_cmd(
    k: &Kernel,
    a: &BenchArgs,
    asked: Vec<crate::bench::Wiring>,
) -> Result<Output, CliError> {
    use crate::bench::{self, Wiring};
    use std::io::IsTerminal;
    let explicit = !asked.is_empty();
    let candidates = if explicit {
        asked
    } else {
        Wiring::ALL.to_vec()
    };
    let mut report = bench::Report {
        hosts: a.hosts,
        duration_s: a.duration,
        streams: a.streams,
        repeat: a.repeat,
        ..Default::default()
    };
    let mut wirings = Vec::new();
    for w in candidates {
        if w.needs_ovs()
            && let Err(why) = &k.ovs
        {
            if explicit {
                return Err(CliError::Usage(format!(
                    "--wiring {}: no OVSDB server answers: {why}",
                    w.name()
                )));
            }
            report.skipped.push((
                w.name().to_string(),
                format!("no OVSDB server answers ({why})"),
            ));
            continue;
        }
        wirings.push(w);
    }
    report.wirings = wirings.iter().map(|w| w.name().to_string()).collect();
    report.conditions.kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    report.conditions.cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if let Ok(o) = &k.ovs
        && let Ok(st) = o.state().await
    {
        report.conditions.ovs_datapath = Some(st.datapath.clone());
        report.conditions.ovs_version = o.version().await;
    }
    let opts = bench::Options {
        wirings: wirings.clone(),
        hosts: a.hosts,
        duration: std::time::Duration::from_secs_f64(a.duration),
        streams: a.streams,
        repeat: a.repeat,
        setup_only: a.setup_only,
        compare_shell: a.compare_shell,
        ovsdb: k
            .ovs
            .as_ref()
            .map(|o| o.client.addr().to_string())
            .unwrap_or_default(),
    };
    let tty = std::io::stderr().is_terminal();
    let mut progress = |m: &str| {
        if tty {
            eprint!("\r\x1b[2K{m}");
        }
    };
    let mut result = Ok(());
    'rounds: for round in 0..opts.repeat {
        for w in &opts.wirings {
            match bench::measure(k, *w, &opts, round, &mut progress).await {
                Ok((s, ifaces)) => {
                    if round == 0 {
                        report
                            .conditions
                            .interfaces
                            .push((w.name().to_string(), ifaces));
                    }
                    report.samples.push(s);
                }
                Err(e) => {
                    result = Err(e);
                    break 'rounds;
                }
            }
        }
    }
    if tty {
        eprint!("\r\x1b[2K");
    }
    // whatever happened, leave nothing behind
    let cleanup = bench::teardown(k).await;
    result.map_err(|e| CliError::Usage(e.to_string()))?;
    cleanup.map_err(|e| CliError::Usage(e.to_string()))?;
    bench::summarize(&mut report);
    if let Some(path) = &a.svg {
        std::fs::write(path, bench::svg(&report))
            .map_err(|e| CliError::Usage(format!("cannot write {path}: {e}")))?;
    }
    Ok(Output {
        text: bench::table(&report),
        json: serde_json::to_value(&report).unwrap_or_default(),
        code: 0,
    })
}
