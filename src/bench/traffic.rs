//! The benchmark's measurements inside the lab: TCP request/response
//! latency and TCP throughput with a built-in generator (sockets opened on
//! threads that entered the namespaces), CPU counters (machine-wide and
//! ovs-vswitchd's own), and the time until every host reaches a neighbour.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

use super::{BenchError, addr, fail, host};
use crate::model::names::NsName;

/// Run `f` on a thread inside namespace `ns`.
pub(super) fn in_ns<T: Send + 'static>(
    ns: &NsName,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<Result<T, String>> {
    let file = crate::effect::kernel::netns::open(ns).map_err(|e| e.to_string());
    std::thread::spawn(move || {
        let file = file?;
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
        Ok(f())
    })
}

pub(super) fn join<T>(
    h: std::thread::JoinHandle<Result<Result<T, String>, String>>,
) -> Result<T, BenchError> {
    h.join()
        .map_err(|_| fail("a traffic thread panicked"))?
        .map_err(fail)?
        .map_err(fail)
}

/// Latency: 1-byte request/response over one TCP connection (TCP_NODELAY),
/// for `dur`; RTTs in microseconds.
pub(super) fn tcp_rr(
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
pub(super) fn tcp_stream(
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
pub(super) fn cpu_jiffies() -> (u64, u64) {
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
pub(super) fn vswitchd_jiffies() -> Option<u64> {
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

pub(super) fn ncores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Time until every host reaches its neighbour (ICMP), bounded.
pub(super) fn ready(n: usize, limit: Duration) -> Result<Duration, BenchError> {
    let t = Instant::now();
    let pairs: Vec<(NsName, IpAddr, Duration)> = (0..n)
        .map(|i| {
            let j = if i % 2 == 0 { i + 1 } else { i - 1 };
            let j = if j >= n { i - 1 } else { j };
            (host(i), addr(j).addr, Duration::ZERO)
        })
        .collect();
    loop {
        let res = crate::effect::probe::ping_all(&pairs, Duration::from_millis(500));
        if res.iter().all(|r| r.is_ok()) {
            return Ok(t.elapsed());
        }
        if t.elapsed() > limit {
            let bad = res.iter().filter(|r| r.is_err()).count();
            return Err(fail(format!(
                "{bad} hosts did not reach their neighbour within {} s",
                limit.as_secs()
            )));
        }
    }
}
