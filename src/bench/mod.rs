//! `swctl bench`: the four ways to connect namespaces (S8) and a bridge
//! spanning two simulated machines (`bridge-vxlan`), measured the same way
//! in one run. For each wiring swctl builds the lab itself (with
//! the same planner as `apply`), then measures setup, ready and teardown
//! time for N hosts, TCP request/response latency and TCP throughput (1 and
//! K streams) between two of them with a built-in traffic generator
//! (sockets opened inside the namespaces), and the CPU it costs. Rounds
//! interleave the wirings (A B C D A B C D ...) and ratios against `veth`
//! are computed within each round, so a noisy machine still compares fairly.
//!
//! Files: `traffic` (the measurements), `report` (summary, table, SVG),
//! `shell` (the same lab by hand-typed commands, for comparison).

pub mod flows;
pub mod report;
pub mod scale;
pub mod shell;
mod traffic;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::effect::kernel::ethtool;
use crate::effect::observe::{Scan, observe};
use crate::effect::{apply::apply, system::System};
use crate::model::names::{Cidr, IfName, Loc, NsName, Owner};
use crate::model::{
    Backend, Desired, EndSpec, LinkSpec, NsSpec, PortSpec, SwitchSpec, TrunkSpec, Via,
};
use crate::plan::{Scope, plan};
use report::percentile;
pub use report::{median_of, summarize, svg, table};
pub use shell::{run_shell_reference, shell_reference};
use traffic::{cpu_jiffies, ncores, ready, tcp_rr, tcp_stream, vswitchd_jiffies};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wiring {
    Veth,
    Bridge,
    OvsVeth,
    OvsInternal,
    /// a Linux bridge spanning two simulated machines over VXLAN, hosts
    /// alternating between them
    BridgeVxlan,
    /// an OVS bridge spanning two simulated machines over VXLAN (each
    /// machine's own Open vSwitch, hosts by internal ports, alternating)
    OvsVxlan,
    /// an OVN logical switch across two simulated machines (geneve; each
    /// machine a chassis; a private central for the bench)
    Ovn,
}

impl Wiring {
    pub const ALL: [Wiring; 7] = [
        Wiring::Veth,
        Wiring::Bridge,
        Wiring::OvsVeth,
        Wiring::OvsInternal,
        Wiring::BridgeVxlan,
        Wiring::OvsVxlan,
        Wiring::Ovn,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Wiring::Veth => "veth",
            Wiring::Bridge => "bridge",
            Wiring::OvsVeth => "ovs-veth",
            Wiring::OvsInternal => "ovs-internal",
            Wiring::BridgeVxlan => "bridge-vxlan",
            Wiring::OvsVxlan => "ovs-vxlan",
            Wiring::Ovn => "ovn",
        }
    }

    pub fn parse(s: &str) -> Option<Wiring> {
        Wiring::ALL.into_iter().find(|w| w.name() == s)
    }

    /// Whether the wiring uses this machine's Open vSwitch (the
    /// cross-machine one runs its machines' own).
    pub fn needs_ovs(&self) -> bool {
        matches!(self, Wiring::OvsVeth | Wiring::OvsInternal)
    }

    /// Whether the lab spans two simulated machines.
    pub fn spans(&self) -> bool {
        matches!(self, Wiring::BridgeVxlan | Wiring::OvsVxlan | Wiring::Ovn)
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub wirings: Vec<Wiring>,
    pub hosts: usize,
    pub duration: Duration,
    pub streams: usize,
    pub repeat: usize,
    pub setup_only: bool,
    /// also time the tutorials' commands for the same lab
    pub compare_shell: bool,
    /// the OVSDB server, for the reference commands
    pub ovsdb: String,
    /// every host's link impaired so (`--impair`)
    pub impair: Option<crate::model::impair::Impair>,
}

/// One wiring in one round.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    pub round: usize,
    pub wiring: String,
    pub setup_s: f64,
    pub ready_s: f64,
    pub teardown_s: f64,
    pub rtt_avg_us: Option<f64>,
    pub rtt_p50_us: Option<f64>,
    pub rtt_p99_us: Option<f64>,
    pub round_trips: Option<usize>,
    pub gbps_1: Option<f64>,
    pub gbps_k: Option<f64>,
    /// cores busy machine-wide during the K-stream test
    pub cpu_cores: Option<f64>,
    /// ovs-vswitchd's own cores during the K-stream test
    pub vswitchd_cores: Option<f64>,
    pub cpu_per_gbps: Option<f64>,
    /// the same lab by the tutorials' commands (`--compare-shell`)
    pub shell_setup_s: Option<f64>,
    pub shell_teardown_s: Option<f64>,
    /// ratios to `veth` in the same round
    pub ratio_gbps_1: Option<f64>,
    pub ratio_rtt_p50: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IfaceConditions {
    pub ns: String,
    pub dev: String,
    pub mtu: u32,
    pub tx_checksum: Option<bool>,
    pub tso: Option<bool>,
    pub gso: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Conditions {
    pub kernel: String,
    pub cores: usize,
    pub ovs_datapath: Option<String>,
    pub ovs_version: Option<String>,
    /// whether the default Open vSwitch has userspace TSO
    /// (`model::tso`; the simulated machines' own, carrying tunnels, keep
    /// it off below 3.3)
    pub ovs_tso: Option<bool>,
    pub interfaces: Vec<(String, Vec<IfaceConditions>)>,
    /// the impairment of every host's link (`--impair`), in words
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impair: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub wiring: String,
    pub metric: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub hosts: usize,
    pub duration_s: f64,
    pub streams: usize,
    pub repeat: usize,
    pub wirings: Vec<String>,
    /// wirings left out, and why
    pub skipped: Vec<(String, String)>,
    pub conditions: Conditions,
    pub samples: Vec<Sample>,
    pub summary: Vec<Summary>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bench: {0}")]
    Failed(String),
}

pub(crate) fn fail(e: impl std::fmt::Display) -> BenchError {
    BenchError::Failed(e.to_string())
}

const OWNER: &str = "swctl-bench";
/// The OVN central the `ovn` wiring runs against (the bench's own).
pub const OVN_DIR: &str = "/run/swctl/bench-ovn";
/// The underlay MTU of the wirings across simulated machines: jumbo, as
/// a lab that wants its tunnels fast sets `mtu` on its machines (the
/// tunnel's per-packet cost is most of what they spend).
pub const SPAN_UNDERLAY_MTU: u32 = 9000;

/// The bench's i-th namespace (unique per process).
pub fn host(i: usize) -> NsName {
    format!("swb{}-{i}", std::process::id() % 10000)
        .parse()
        .expect("valid name")
}

/// The bench's switch.
pub fn switch_name() -> IfName {
    format!("swb{}", std::process::id() % 10000)
        .parse()
        .expect("valid name")
}

/// The i-th host's address (198.18.0.0/15).
pub fn addr(i: usize) -> Cidr {
    let n = i + 1;
    format!("198.18.{}.{}/15", n / 250, n % 250 + 1)
        .parse()
        .expect("valid cidr")
}

/// Hosts per Linux bridge in a bench lab: past this, more bridges joined by
/// trunks (a bridge takes 1023 ports, a trunk end is one of them).
pub const PER_BRIDGE: usize = 1000;

/// The simulated machines of the cross-machine wiring: (machine, its
/// namespace, its VTEP).
pub fn machines() -> [(Owner, NsName, IpAddr); 2] {
    let m = |k: u8| {
        (
            format!("m{k}").parse().expect("valid name"),
            format!("swb{}m{k}", std::process::id() % 10000)
                .parse()
                .expect("valid name"),
            IpAddr::from([198, 18, 254, k]),
        )
    };
    [m(1), m(2)]
}

/// The lab for a wiring: N hosts on one switch (or N/2 veth pairs); on the
/// bridge wiring past PER_BRIDGE hosts, a chain of bridges joined by
/// trunks (one segment).
pub fn lab(w: Wiring, n: usize, impair: Option<crate::model::impair::Impair>) -> Desired {
    let mut d = Desired::new(OWNER.parse::<Owner>().expect("valid owner"));
    for i in 0..n {
        d.namespaces.insert(host(i), NsSpec::default());
    }
    if w.spans() {
        for (m, ns, vtep) in machines() {
            d.machines.insert(
                m,
                crate::model::MachineSpec {
                    vtep,
                    reach: crate::model::Reach::Netns(ns),
                    // a jumbo underlay: the guests get what the tunnel
                    // leaves of it (their MTU is in the conditions)
                    mtu: Some(SPAN_UNDERLAY_MTU),
                },
            );
        }
        let ms: Vec<Owner> = d.machines.keys().cloned().collect();
        for i in 0..n {
            d.placement.insert(host(i), ms[i % 2].clone());
        }
    }
    if w == Wiring::Ovn {
        let dir = std::path::Path::new(OVN_DIR);
        d.ovn = Some(crate::model::OvnSpec {
            nb: crate::effect::ovn::central::nb_address(dir),
            sb: crate::effect::ovn::central::sb_address(dir),
        });
    } else if w.spans() {
        d.spans
            .insert(switch_name(), crate::model::SpanSpec { vni: None });
    }
    match w {
        Wiring::Veth => {
            for i in (0..n).step_by(2) {
                if i + 1 >= n {
                    break;
                }
                d.links.push(LinkSpec {
                    a: Loc::Ns(host(i)),
                    b: Loc::Ns(host(i + 1)),
                    a_ifname: Some("eth0".parse().expect("valid")),
                    b_ifname: Some("eth0".parse().expect("valid")),
                    a_end: EndSpec {
                        addrs: vec![addr(i)],
                        mtu: None,
                        impair,
                    },
                    b_end: EndSpec {
                        addrs: vec![addr(i + 1)],
                        mtu: None,
                        impair,
                    },
                });
            }
        }
        _ => {
            let bridges = if w == Wiring::Bridge && n > PER_BRIDGE {
                n.div_ceil(PER_BRIDGE).max(1)
            } else {
                1
            };
            let sw = |k: usize| -> IfName {
                if k == 0 {
                    switch_name()
                } else {
                    format!("{}t{k}", switch_name())
                        .parse()
                        .expect("valid name")
                }
            };
            for k in 0..bridges {
                d.switches.insert(
                    sw(k),
                    SwitchSpec {
                        backend: match w {
                            Wiring::Bridge | Wiring::BridgeVxlan => Backend::Bridge,
                            Wiring::Ovn => Backend::Ovn,
                            _ => Backend::Ovs,
                        },
                        loc: Loc::Host,
                        addrs: vec![],
                        ..Default::default()
                    },
                );
                if k > 0 {
                    d.trunks.push(TrunkSpec {
                        a: sw(k - 1),
                        b: sw(k),
                        end: EndSpec::default(),
                        vlans: vec![],
                        native: None,
                        bond: None,
                    });
                }
            }
            for i in 0..n {
                d.ports.push(PortSpec {
                    ns: host(i),
                    switch: sw(if bridges > 1 { i / PER_BRIDGE } else { 0 }),
                    ifname: Some("eth0".parse().expect("valid")),
                    via: match w {
                        Wiring::OvsInternal => Via::Internal,
                        // what `auto` picks across machines (veth over the
                        // jumbo underlay: `lab::machines::part`)
                        Wiring::OvsVxlan | Wiring::Ovn => Via::Auto,
                        _ => Via::Veth,
                    },
                    vlan: None,
                    end: EndSpec {
                        addrs: vec![addr(i)],
                        mtu: None,
                        impair,
                    },
                });
            }
        }
    }
    d
}

fn everything() -> Scan {
    Scan {
        all_owned: true,
        ..Default::default()
    }
}

async fn converge(k: &System, d: &Desired) -> Result<(), BenchError> {
    if !d.machines.is_empty() {
        // the coordinator: underlay here, each machine's part by its agent
        crate::lab::spread::apply(k, d, "swctl-bench", &crate::lab::events::Events::none())
            .await
            .map_err(|e| fail(format!("building the lab over machines failed: {e}")))?;
        return Ok(());
    }
    let o = observe(k, &everything()).await.map_err(fail)?;
    let p = plan(d, &o, &Scope::Owner).map_err(fail)?;
    apply(k, &p, false).await.map_err(|e| {
        let first = e
            .failures
            .first()
            .map(|(s, x)| format!(": `{s}`: {x}"))
            .unwrap_or_default();
        fail(format!("building the lab failed{first}"))
    })?;
    Ok(())
}

/// Remove everything the bench owns (also leftovers of an aborted run).
pub async fn teardown(k: &System) -> Result<(), BenchError> {
    // the machines of the cross-machine wiring: their parts first
    if machines()
        .iter()
        .any(|(_, ns, _)| crate::effect::kernel::netns::ns_path(ns).exists())
    {
        // the agents delete the hosts' namespaces; a socket this process
        // still has in one (from the measurements) would keep it alive, and
        // its devices with it (seen: teardown waiting 5 s for them); and
        // the device indexes it learned there are stale once they are gone
        // (seen: the next lab's `addr add` sent to an old internal port's)
        use crate::effect::Namespaces;
        for ns in k.list_ns().unwrap_or_default() {
            k.kernel.forget(&Loc::Ns(ns));
        }
        let d = crate::lab::spread::destroy(k, &lab(Wiring::BridgeVxlan, 2, None), false)
            .await
            .map_err(|e| fail(format!("removing the lab over machines failed: {e}")))?;
        if let Some(u) = d.unreached.first() {
            return Err(fail(format!(
                "removing the lab over machines: {} not reached: {}",
                u.part, u.error
            )));
        }
    }
    let o = observe(k, &everything()).await.map_err(fail)?;
    let p = plan(
        &Desired::new(OWNER.parse().expect("valid")),
        &o,
        &Scope::Owner,
    )
    .map_err(fail)?;
    apply(k, &p, true).await.map_err(fail)?;
    Ok(())
}

/// One wiring, one round.
pub async fn measure(
    k: &System,
    w: Wiring,
    o: &Options,
    round: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<(Sample, Vec<IfaceConditions>), BenchError> {
    let n = o.hosts.max(2);
    let d = lab(w, n, o.impair);
    teardown(k).await?;
    progress(&format!("round {round} {}: setup of {n} hosts", w.name()));
    let t = Instant::now();
    converge(k, &d).await?;
    let setup = t.elapsed();
    let ready = ready(n, Duration::from_secs(30))?;
    let mut s = Sample {
        round,
        wiring: w.name().into(),
        setup_s: setup.as_secs_f64(),
        ready_s: ready.as_secs_f64(),
        ..Default::default()
    };
    let mut ifaces = Vec::new();
    if !o.setup_only {
        let (a, b) = (host(0), host(1));
        let to_ip: IpAddr = addr(1).addr;
        for h in [&a, &b] {
            let (tx, tso, gso) = ethtool::offloads(h, "eth0");
            let mtu = observe(
                k,
                &Scan {
                    namespaces: [h.clone()].into(),
                    ..Default::default()
                },
            )
            .await
            .ok()
            .and_then(|ob| {
                ob.namespaces
                    .get(h)
                    .and_then(|x| x.state.link("eth0").map(|l| l.mtu))
            })
            .unwrap_or(0);
            ifaces.push(IfaceConditions {
                ns: h.to_string(),
                dev: "eth0".into(),
                mtu,
                tx_checksum: tx,
                tso,
                gso,
            });
        }
        progress(&format!("round {round} {}: latency", w.name()));
        let lat_dur = o
            .duration
            .min(Duration::from_secs(2))
            .max(Duration::from_millis(200));
        let mut rtts = tcp_rr(&b, &a, SocketAddr::new(to_ip, 5601), lat_dur)?;
        rtts.sort_by(|x, y| x.partial_cmp(y).expect("finite"));
        s.round_trips = Some(rtts.len());
        s.rtt_avg_us = Some(rtts.iter().sum::<f64>() / rtts.len().max(1) as f64);
        s.rtt_p50_us = Some(percentile(&rtts, 0.50));
        s.rtt_p99_us = Some(percentile(&rtts, 0.99));
        progress(&format!("round {round} {}: throughput, 1 stream", w.name()));
        s.gbps_1 = Some(tcp_stream(
            &b,
            &a,
            SocketAddr::new(to_ip, 5602),
            1,
            o.duration,
        )?);
        progress(&format!(
            "round {round} {}: throughput, {} streams",
            w.name(),
            o.streams
        ));
        let (busy0, total0) = cpu_jiffies();
        let v0 = vswitchd_jiffies();
        let t0 = Instant::now();
        let g = tcp_stream(&b, &a, SocketAddr::new(to_ip, 5603), o.streams, o.duration)?;
        let secs = t0.elapsed().as_secs_f64();
        let (busy1, total1) = cpu_jiffies();
        let cores = (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64 * ncores() as f64;
        s.gbps_k = Some(g);
        s.cpu_cores = Some(cores);
        if w.needs_ovs() || matches!(w, Wiring::OvsVxlan | Wiring::Ovn) {
            // SAFETY: sysconf has no preconditions
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
            if let (Some(a0), Some(a1)) = (v0, vswitchd_jiffies()) {
                s.vswitchd_cores = Some((a1 - a0) as f64 / hz / secs);
            }
        }
        s.cpu_per_gbps = Some(cores / g.max(1e-9));
    }
    progress(&format!("round {round} {}: teardown", w.name()));
    let t = Instant::now();
    teardown(k).await?;
    s.teardown_s = t.elapsed().as_secs_f64();
    // (no hand-typed reference for OVN)
    if o.compare_shell && w != Wiring::Ovn {
        progress(&format!(
            "round {round} {}: the same with ip/ovs-vsctl",
            w.name()
        ));
        // the kernel frees the previous namespaces asynchronously
        std::thread::sleep(Duration::from_millis(300));
        let (su, td) = run_shell_reference(w, n, &o.ovsdb)?;
        s.shell_setup_s = Some(su);
        s.shell_teardown_s = Some(td);
    }
    Ok((s, ifaces))
}
