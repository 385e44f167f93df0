//! `swctl bench`: the four ways to connect namespaces (S8), measured the
//! same way in one run. For each wiring swctl builds the lab itself (with
//! the same planner as `apply`), then measures setup, ready and teardown
//! time for N hosts, TCP request/response latency and TCP throughput (1 and
//! K streams) between two of them with a built-in traffic generator
//! (sockets opened inside the namespaces), and the CPU it costs. Rounds
//! interleave the wirings (A B C D A B C D ...) and ratios against `veth`
//! are computed within each round, so a noisy machine still compares fairly.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use serde::Serialize;

use crate::apply::{Scan, apply, observe};
use crate::model::{Backend, Desired, LinkSpec, NsSpec, PortSpec, SwitchSpec, Via};
use crate::names::{Cidr, IfName, Loc, NsName, Owner};
use crate::netlink::Kernel;
use crate::plan::{Scope, plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wiring {
    Veth,
    Bridge,
    OvsVeth,
    OvsInternal,
}

impl Wiring {
    pub const ALL: [Wiring; 4] = [
        Wiring::Veth,
        Wiring::Bridge,
        Wiring::OvsVeth,
        Wiring::OvsInternal,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Wiring::Veth => "veth",
            Wiring::Bridge => "bridge",
            Wiring::OvsVeth => "ovs-veth",
            Wiring::OvsInternal => "ovs-internal",
        }
    }

    pub fn parse(s: &str) -> Option<Wiring> {
        Wiring::ALL.into_iter().find(|w| w.name() == s)
    }

    pub fn needs_ovs(&self) -> bool {
        matches!(self, Wiring::OvsVeth | Wiring::OvsInternal)
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
    pub interfaces: Vec<(String, Vec<IfaceConditions>)>,
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

fn fail(e: impl std::fmt::Display) -> BenchError {
    BenchError::Failed(e.to_string())
}

const OWNER: &str = "swctl-bench";

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

/// The lab for a wiring: N hosts on one switch (or N/2 veth pairs).
pub fn lab(w: Wiring, n: usize) -> Desired {
    let mut d = Desired::new(OWNER.parse::<Owner>().expect("valid owner"));
    for i in 0..n {
        d.namespaces.insert(host(i), NsSpec::default());
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
                    a_addrs: vec![addr(i)],
                    b_addrs: vec![addr(i + 1)],
                    mtu: None,
                });
            }
        }
        _ => {
            d.switches.insert(
                switch_name(),
                SwitchSpec {
                    backend: if w == Wiring::Bridge {
                        Backend::Bridge
                    } else {
                        Backend::Ovs
                    },
                    loc: Loc::Host,
                    addrs: vec![],
                    datapath: None,
                    ovsdb: None,
                },
            );
            for i in 0..n {
                d.ports.push(PortSpec {
                    ns: host(i),
                    switch: switch_name(),
                    ifname: Some("eth0".parse().expect("valid")),
                    addrs: vec![addr(i)],
                    via: match w {
                        Wiring::OvsInternal => Via::Internal,
                        _ => Via::Veth,
                    },
                    vlan: None,
                    mtu: None,
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

async fn converge(k: &Kernel, d: &Desired) -> Result<(), BenchError> {
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
pub async fn teardown(k: &Kernel) -> Result<(), BenchError> {
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

/// Run `f` on a thread inside namespace `ns`.
fn in_ns<T: Send + 'static>(
    ns: &NsName,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<Result<T, String>> {
    let file = crate::netns::open(ns).map_err(|e| e.to_string());
    std::thread::spawn(move || {
        let file = file?;
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
        Ok(f())
    })
}

fn join<T>(h: std::thread::JoinHandle<Result<Result<T, String>, String>>) -> Result<T, BenchError> {
    h.join()
        .map_err(|_| fail("a traffic thread panicked"))?
        .map_err(fail)?
        .map_err(fail)
}

/// Latency: 1-byte request/response over one TCP connection (TCP_NODELAY),
/// for `dur`; RTTs in microseconds.
fn tcp_rr(
    server: &NsName,
    client: &NsName,
    to: SocketAddr,
    dur: Duration,
) -> Result<Vec<f64>, BenchError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = in_ns(server, move || -> Result<(), String> {
        let l = TcpListener::bind(to).map_err(|e| format!("bind {to}: {e}"))?;
        tx.send(()).ok();
        let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut b = [0u8; 1];
        loop {
            match s.read(&mut b) {
                Ok(0) => return Ok(()),
                Ok(_) => s.write_all(&b).map_err(|e| e.to_string())?,
                Err(e) => return Err(e.to_string()),
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| fail("latency server did not start"))?;
    let cli = in_ns(client, move || -> Result<Vec<f64>, String> {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))
            .map_err(|e| format!("connect {to}: {e}"))?;
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut rtts = Vec::new();
        let end = Instant::now() + dur;
        let mut b = [7u8; 1];
        while Instant::now() < end && rtts.len() < 200_000 {
            let t = Instant::now();
            s.write_all(&b).map_err(|e| e.to_string())?;
            s.read_exact(&mut b).map_err(|e| e.to_string())?;
            rtts.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Ok(rtts)
    });
    let rtts = join(cli)?;
    join(srv)?;
    Ok(rtts)
}

/// Throughput: `streams` TCP connections from client to server for `dur`;
/// Gbit/s counted by the receiver.
fn tcp_stream(
    server: &NsName,
    client: &NsName,
    to: SocketAddr,
    streams: usize,
    dur: Duration,
) -> Result<f64, BenchError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = in_ns(server, move || -> Result<(u64, f64), String> {
        let l = TcpListener::bind(to).map_err(|e| format!("bind {to}: {e}"))?;
        tx.send(()).ok();
        let mut readers = Vec::new();
        for _ in 0..streams {
            let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(10))).ok();
            readers.push(std::thread::spawn(
                move || -> (u64, Option<Instant>, Instant) {
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut total = 0u64;
                    let mut first = None;
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                first.get_or_insert_with(Instant::now);
                                total += n as u64;
                            }
                        }
                    }
                    (total, first, Instant::now())
                },
            ));
        }
        let mut total = 0;
        let mut start: Option<Instant> = None;
        let mut end: Option<Instant> = None;
        for r in readers {
            let (t, f, e) = r.join().map_err(|_| "reader panicked")?;
            total += t;
            if let Some(f) = f {
                start = Some(start.map_or(f, |s: Instant| s.min(f)));
            }
            end = Some(end.map_or(e, |x: Instant| x.max(e)));
        }
        let secs = match (start, end) {
            (Some(s), Some(e)) => (e - s).as_secs_f64(),
            _ => 0.0,
        };
        Ok((total, secs))
    });
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| fail("throughput server did not start"))?;
    let cli = in_ns(client, move || -> Result<(), String> {
        let mut senders = Vec::new();
        for _ in 0..streams {
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))
                .map_err(|e| format!("connect {to}: {e}"))?;
            s.set_write_timeout(Some(Duration::from_secs(10))).ok();
            senders.push(std::thread::spawn(move || -> Result<(), String> {
                let buf = vec![0x5au8; 128 * 1024];
                let end = Instant::now() + dur;
                while Instant::now() < end {
                    s.write_all(&buf).map_err(|e| e.to_string())?;
                }
                s.shutdown(std::net::Shutdown::Write).ok();
                Ok(())
            }));
        }
        for s in senders {
            s.join().map_err(|_| "sender panicked")??;
        }
        Ok(())
    });
    join(cli)?;
    let (bytes, secs) = join(srv)?;
    if secs <= 0.0 || bytes == 0 {
        return Err(fail("no data went through"));
    }
    Ok(bytes as f64 * 8.0 / secs / 1e9)
}

/// CPU time counters: (busy jiffies, total jiffies) machine-wide.
fn cpu_jiffies() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// utime + stime of every ovs-vswitchd, in jiffies.
fn vswitchd_jiffies() -> Option<u64> {
    let mut sum = None;
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let p = e.path();
        let Ok(comm) = std::fs::read_to_string(p.join("comm")) else {
            continue;
        };
        if comm.trim() != "ovs-vswitchd" {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(p.join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        // fields after the command: state is 0, utime 11, stime 12
        let f: Vec<&str> = rest.split_whitespace().collect();
        let (Some(ut), Some(st)) = (
            f.get(11).and_then(|x| x.parse::<u64>().ok()),
            f.get(12).and_then(|x| x.parse::<u64>().ok()),
        ) else {
            continue;
        };
        sum = Some(sum.unwrap_or(0) + ut + st);
    }
    sum
}

fn ncores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Offload settings of an interface (ETHTOOL_GTXCSUM, GTSO, GGSO).
fn offloads(ns: &NsName, dev: &str) -> (Option<bool>, Option<bool>, Option<bool>) {
    let dev = dev.to_string();
    let r = crate::netns::run_in(Some(ns), move || {
        let get = |cmd: u32| -> Option<bool> {
            #[repr(C)]
            struct EthtoolValue {
                cmd: u32,
                data: u32,
            }
            // SAFETY: socket + ioctl on a zeroed ifreq with a NUL-terminated name.
            unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
                if fd < 0 {
                    return None;
                }
                let mut ev = EthtoolValue { cmd, data: 0 };
                let mut ifr: libc::ifreq = std::mem::zeroed();
                for (i, b) in dev.bytes().take(15).enumerate() {
                    ifr.ifr_name[i] = b as libc::c_char;
                }
                ifr.ifr_ifru.ifru_data = &mut ev as *mut EthtoolValue as *mut libc::c_char;
                let ok = libc::ioctl(fd, 0x8946 as _, &mut ifr) >= 0;
                libc::close(fd);
                ok.then_some(ev.data != 0)
            }
        };
        (get(0x16), get(0x1e), get(0x23)) // GTXCSUM, GTSO, GGSO
    });
    r.unwrap_or((None, None, None))
}

/// Time until every host reaches its neighbour (ICMP), bounded.
fn ready(n: usize, limit: Duration) -> Result<Duration, BenchError> {
    let t = Instant::now();
    let probes: Vec<crate::check::Probe> = (0..n)
        .map(|i| {
            let j = if i % 2 == 0 { i + 1 } else { i - 1 };
            let j = if j >= n { i - 1 } else { j };
            crate::check::Probe {
                from: host(i),
                to: addr(j).addr,
                owner: host(j).to_string(),
                why: "bench".into(),
            }
        })
        .collect();
    loop {
        let res = crate::check::run(&probes, Duration::from_millis(500));
        if res.iter().all(|r| r.ok) {
            return Ok(t.elapsed());
        }
        if t.elapsed() > limit {
            let bad = res.iter().filter(|r| !r.ok).count();
            return Err(fail(format!(
                "{bad} hosts did not reach their neighbour within {} s",
                limit.as_secs()
            )));
        }
    }
}

/// One wiring, one round.
pub async fn measure(
    k: &Kernel,
    w: Wiring,
    o: &Options,
    round: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<(Sample, Vec<IfaceConditions>), BenchError> {
    let n = o.hosts.max(2);
    let d = lab(w, n);
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
            let (tx, tso, gso) = offloads(h, "eth0");
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
        if w.needs_ovs() {
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
    if o.compare_shell {
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

/// Ratios to `veth` within each round, and median/min/max per metric.
pub fn summarize(r: &mut Report) {
    let rounds: std::collections::BTreeSet<usize> = r.samples.iter().map(|s| s.round).collect();
    for round in rounds {
        let base = r
            .samples
            .iter()
            .find(|s| s.round == round && s.wiring == "veth")
            .cloned();
        if let Some(b) = base {
            for s in r.samples.iter_mut().filter(|s| s.round == round) {
                s.ratio_gbps_1 = match (s.gbps_1, b.gbps_1) {
                    (Some(x), Some(y)) if y > 0.0 => Some(x / y),
                    _ => None,
                };
                s.ratio_rtt_p50 = match (s.rtt_p50_us, b.rtt_p50_us) {
                    (Some(x), Some(y)) if y > 0.0 => Some(x / y),
                    _ => None,
                };
            }
        }
    }
    type Get = fn(&Sample) -> Option<f64>;
    let metrics: [(&str, Get); 14] = [
        ("setup_s", |s| Some(s.setup_s)),
        ("ready_s", |s| Some(s.ready_s)),
        ("teardown_s", |s| Some(s.teardown_s)),
        ("rtt_avg_us", |s| s.rtt_avg_us),
        ("rtt_p50_us", |s| s.rtt_p50_us),
        ("rtt_p99_us", |s| s.rtt_p99_us),
        ("gbps_1", |s| s.gbps_1),
        ("gbps_k", |s| s.gbps_k),
        ("cpu_cores", |s| s.cpu_cores),
        ("cpu_per_gbps", |s| s.cpu_per_gbps),
        ("ratio_gbps_1", |s| s.ratio_gbps_1),
        ("ratio_rtt_p50", |s| s.ratio_rtt_p50),
        ("shell_setup_s", |s| s.shell_setup_s),
        ("shell_teardown_s", |s| s.shell_teardown_s),
    ];
    r.summary.clear();
    for w in &r.wirings {
        for (name, get) in metrics {
            let mut v: Vec<f64> = r
                .samples
                .iter()
                .filter(|s| &s.wiring == w)
                .filter_map(get)
                .collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
            r.summary.push(Summary {
                wiring: w.clone(),
                metric: name.into(),
                median: v[v.len() / 2],
                min: v[0],
                max: v[v.len() - 1],
            });
        }
    }
}

/// Median of a metric for a wiring.
pub fn median_of<'r>(r: &'r Report, w: &str, metric: &str) -> Option<&'r Summary> {
    r.summary
        .iter()
        .find(|s| s.wiring == w && s.metric == metric)
}

fn us(v: String) -> String {
    if v == "-" { v } else { v + "us" }
}

/// The terminal table.
pub fn table(r: &Report) -> String {
    let mut t = format!(
        "{} hosts, {:.1} s per throughput test, {} streams, {} round(s); kernel {}, {} cores{}\n",
        r.hosts,
        r.duration_s,
        r.streams,
        r.repeat,
        r.conditions.kernel,
        r.conditions.cores,
        r.conditions
            .ovs_datapath
            .as_ref()
            .map(|d| format!(
                ", OVS {} datapath {d}",
                r.conditions
                    .ovs_version
                    .as_deref()
                    .unwrap_or("(version unknown)")
            ))
            .unwrap_or_default()
    );
    t.push_str(&format!(
        "{:<13} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>9} {:>9}\n",
        "wiring",
        "setup s",
        "ready s",
        "teardn s",
        "rtt p50",
        "rtt p99",
        "Gb/s 1",
        "Gb/s K",
        "cores",
        "cores/Gb",
        "x veth"
    ));
    let f = |w: &str, m: &str, scale: f64, prec: usize| {
        median_of(r, w, m).map_or("-".to_string(), |s| {
            format!("{:.*}", prec, s.median * scale)
        })
    };
    for w in &r.wirings {
        t.push_str(&format!(
            "{:<13} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>9} {:>9}\n",
            w,
            f(w, "setup_s", 1.0, 3),
            f(w, "ready_s", 1.0, 3),
            f(w, "teardown_s", 1.0, 3),
            us(f(w, "rtt_p50_us", 1.0, 1)),
            us(f(w, "rtt_p99_us", 1.0, 1)),
            f(w, "gbps_1", 1.0, 2),
            f(w, "gbps_k", 1.0, 2),
            f(w, "cpu_cores", 1.0, 2),
            f(w, "cpu_per_gbps", 1.0, 2),
            f(w, "ratio_gbps_1", 1.0, 2),
        ));
    }
    for (w, why) in &r.skipped {
        t.push_str(&format!("{w:<13} skipped: {why}\n"));
    }
    if r.samples.iter().any(|s| s.shell_setup_s.is_some()) {
        t.push_str("setup by swctl vs the tutorials' ip/ovs-vsctl commands:\n");
        for w in &r.wirings {
            let (Some(a), Some(b)) = (median_of(r, w, "setup_s"), median_of(r, w, "shell_setup_s"))
            else {
                continue;
            };
            let td = median_of(r, w, "shell_teardown_s").map_or(0.0, |x| x.median);
            t.push_str(&format!(
                "{w:<13} swctl {:.3} s, commands {:.3} s ({:.1}x); teardown commands {td:.3} s\n",
                a.median,
                b.median,
                b.median / a.median.max(1e-9)
            ));
        }
    }
    t.push_str("medians over the rounds; `x veth`: 1-stream throughput relative to veth, within each round");
    t
}

/// An SVG chart: throughput (1 stream) and RTT p50 per wiring, bars at the
/// median with min–max whiskers.
pub fn svg(r: &Report) -> String {
    let (w, h) = (760.0, 360.0);
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="22" font-size="15">swctl bench: {} hosts, {} round(s), kernel {}</text>
"##,
        r.hosts, r.repeat, r.conditions.kernel
    );
    let panels = [
        ("gbps_1", "TCP throughput, 1 stream (Gbit/s)", 20.0),
        ("rtt_p50_us", "TCP request/response RTT p50 (µs)", 390.0),
    ];
    let colors = ["#4C72B0", "#55A868", "#C44E52", "#8172B2"];
    for (metric, title, x0) in panels {
        let vals: Vec<(&String, &Summary)> = r
            .wirings
            .iter()
            .filter_map(|wi| median_of(r, wi, metric).map(|s| (wi, s)))
            .collect();
        // headroom above the tallest whisker for its label
        let maxv = vals
            .iter()
            .map(|(_, s)| s.max)
            .fold(0.0f64, f64::max)
            .max(1e-9)
            * 1.12;
        let (pw, ph, py) = (340.0, 240.0, 66.0);
        out.push_str(&format!(
            r#"<text x="{}" y="{}" font-size="13">{title}</text>"#,
            x0,
            py - 22.0
        ));
        out.push_str(&format!(
            r#"<line x1="{x0}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#,
            py + ph,
            x0 + pw,
            py + ph
        ));
        let bw = pw / (vals.len().max(1) as f64) * 0.6;
        for (i, (name, s)) in vals.iter().enumerate() {
            let cx = x0 + pw / vals.len() as f64 * (i as f64 + 0.5);
            let y = |v: f64| py + ph - v / maxv * ph;
            out.push_str(&format!(
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                cx - bw / 2.0,
                y(s.median),
                bw,
                py + ph - y(s.median),
                colors[i % colors.len()]
            ));
            out.push_str(&format!(
                r#"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="black"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
                y(s.min),
                y(s.max),
                cx - 6.0,
                y(s.min),
                cx + 6.0,
                y(s.min),
                cx - 6.0,
                y(s.max),
                cx + 6.0,
                y(s.max)
            ));
            out.push_str(&format!(
                r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{:.2}</text><text x="{cx:.1}" y="{:.1}" text-anchor="middle">{name}</text>"#,
                y(s.max) - 6.0,
                s.median,
                py + ph + 16.0
            ));
        }
    }
    out.push_str("</svg>\n");
    out
}

/// The tutorials' commands for the same lab (the reference of
/// `--compare-shell`, the one place swctl runs `ip` and `ovs-vsctl`): one
/// command per step, peers created in their namespace like swctl does.
pub fn shell_reference(w: Wiring, n: usize, db: &str) -> (String, String) {
    use std::fmt::Write as _;
    let br = switch_name();
    let v = format!("ovs-vsctl --db={db}");
    let mut up = String::new();
    let mut down = String::new();
    match w {
        Wiring::Bridge => {
            let _ = writeln!(up, "ip link add {br} type bridge && ip link set {br} up");
        }
        Wiring::OvsVeth | Wiring::OvsInternal => {
            let _ = writeln!(
                up,
                "{v} add-br {br} -- set Bridge {br} datapath_type=netdev fail_mode=standalone"
            );
        }
        Wiring::Veth => {}
    }
    for i in 0..n {
        let h = host(i);
        let a = addr(i);
        let _ = writeln!(up, "ip netns add {h}\nip -n {h} link set lo up");
        let p = format!("r{}-{i}", std::process::id() % 10000);
        match w {
            Wiring::Veth => {
                if i % 2 == 1 {
                    let prev = host(i - 1);
                    let _ = writeln!(
                        up,
                        "ip -n {prev} link add eth0 type veth peer name eth0 netns {h}"
                    );
                    let _ = writeln!(
                        up,
                        "ip -n {prev} link set eth0 up && ip -n {h} link set eth0 up"
                    );
                    let _ = writeln!(up, "ip -n {prev} addr add {} dev eth0", addr(i - 1));
                    let _ = writeln!(up, "ip -n {h} addr add {a} dev eth0");
                }
            }
            Wiring::Bridge => {
                let _ = writeln!(up, "ip link add {p} type veth peer name eth0 netns {h}");
                let _ = writeln!(up, "ip link set {p} master {br} up");
                let _ = writeln!(
                    up,
                    "ip -n {h} link set eth0 up && ip -n {h} addr add {a} dev eth0"
                );
            }
            Wiring::OvsVeth => {
                let _ = writeln!(up, "ip link add {p} type veth peer name eth0 netns {h}");
                let _ = writeln!(up, "{v} add-port {br} {p} && ip link set {p} up");
                let _ = writeln!(up, "ip netns exec {h} ethtool -K eth0 tx off >/dev/null");
                let _ = writeln!(
                    up,
                    "ip -n {h} link set eth0 up && ip -n {h} addr add {a} dev eth0"
                );
            }
            Wiring::OvsInternal => {
                let _ = writeln!(
                    up,
                    "{v} add-port {br} {p} -- set Interface {p} type=internal"
                );
                let _ = writeln!(
                    up,
                    "ip link set {p} netns {h} && ip -n {h} link set {p} name eth0"
                );
                let _ = writeln!(
                    up,
                    "ip -n {h} link set eth0 up && ip -n {h} addr add {a} dev eth0"
                );
            }
        }
        let _ = writeln!(down, "ip netns del {h}");
    }
    match w {
        Wiring::Bridge => {
            let _ = writeln!(down, "ip link del {br}");
        }
        Wiring::OvsVeth | Wiring::OvsInternal => {
            let _ = writeln!(down, "{v} del-br {br}");
        }
        Wiring::Veth => {}
    }
    (up, down)
}

/// Setup and teardown of the same lab by the reference commands.
pub fn run_shell_reference(w: Wiring, n: usize, db: &str) -> Result<(f64, f64), BenchError> {
    let (up, down) = shell_reference(w, n, db);
    let run = |script: &str| -> Result<f64, BenchError> {
        let t = Instant::now();
        let out = std::process::Command::new("bash")
            .args(["-e", "-c", script])
            .output()
            .map_err(|e| fail(format!("cannot run bash: {e}")))?;
        if !out.status.success() {
            return Err(fail(format!(
                "the reference commands failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(t.elapsed().as_secs_f64())
    };
    let su = run(&up)?;
    let td = run(&down)?;
    Ok((su, td))
}
