//! Shared harness for the real-kernel tests: a unique name prefix per test,
//! cleanup on drop (also when the test panics), the swctl binary and the
//! independent oracles (`ip -j`, ping) run with a bounded time, and a TCP
//! transfer between two namespaces made from sockets opened inside them.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

pub mod serve;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// One test's sandbox: every namespace and link it makes starts with `p`.
pub struct Lab {
    pub p: String,
    /// host-namespace links the test made by name outside the prefix
    pub extra_links: Vec<String>,
    /// environment for every swctl run
    pub env: Vec<(String, String)>,
    /// the OVSDB address, for OVS tests
    pub ovsdb: Option<String>,
}

/// The OVS sandbox the tests share: `$SWCTL_OVSDB` when scripts/test.sh
/// started one, else one started here (once per test process) in
/// /run/swctl/ovs-test. One per host: two ovs-vswitchd on the userspace
/// datapath in one namespace fight over the `ovs-netdev` tap.
pub fn ovs_sandbox() -> String {
    static ADDR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ADDR.get_or_init(|| {
        if let Ok(a) = std::env::var("SWCTL_OVSDB") {
            return a;
        }
        let out = Command::new("timeout")
            .args([
                "60",
                env!("CARGO_BIN_EXE_swctl"),
                "--json",
                "ovs",
                "start",
                "--dir",
                SANDBOX_DIR,
            ])
            .output()
            .expect("run swctl ovs start");
        assert!(
            out.status.success(),
            "swctl ovs start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        v["address"].as_str().expect("address").to_string()
    })
    .clone()
}

pub const SANDBOX_DIR: &str = "/run/swctl/ovs-test";

/// `ovs-vsctl --db=ADDR ARGS...`: the independent oracle for OVS state.
pub fn vsctl(addr: &str, args: &[&str]) -> Output {
    let db = format!("--db={addr}");
    let mut a = vec!["ovs-vsctl", db.as_str(), "--timeout=20"];
    a.extend_from_slice(args);
    sh(&a)
}

pub fn vsctl_ok(addr: &str, args: &[&str]) -> String {
    let out = vsctl(addr, args);
    assert!(
        out.status.success(),
        "ovs-vsctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests drive the real kernel and must run as root (see README: scripts/test.sh)"
    );
}

impl Lab {
    /// `tag`: 1-2 letters unique to the test; the prefix stays short so
    /// that namespace names plus suffixes fit interface-name limits.
    pub fn new(tag: &str) -> Lab {
        require_root();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id() % 1000;
        let p = format!("z{tag}{pid:03}{n}");
        let lab = Lab {
            p,
            extra_links: vec![],
            env: vec![("SWCTL_BACKEND".into(), "bridge".into())],
            ovsdb: None,
        };
        lab.cleanup();
        lab
    }

    /// A lab on the OVS backend, on the shared sandbox.
    pub fn ovs(tag: &str) -> Lab {
        let mut lab = Lab::new(tag);
        let addr = ovs_sandbox();
        lab.env = vec![
            ("SWCTL_BACKEND".into(), "ovs".into()),
            ("SWCTL_OVSDB".into(), addr.clone()),
        ];
        lab.ovsdb = Some(addr);
        lab
    }

    pub fn name(&self, s: &str) -> String {
        format!("{}{s}", self.p)
    }

    pub fn cleanup(&self) {
        // the Open vSwitch of this lab's simulated machines first: a daemon
        // inside keeps a deleted namespace alive
        if let Ok(rd) = std::fs::read_dir("/run/swctl/machines") {
            for e in rd.flatten() {
                if !e
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{}+", self.p))
                {
                    continue;
                }
                for d in ["ovn-controller", "ovs-vswitchd", "ovsdb-server"] {
                    let pidfile = e.path().join("ovs").join(format!("{d}.pid"));
                    let Ok(pid) = std::fs::read_to_string(pidfile) else {
                        continue;
                    };
                    let comm = std::fs::read_to_string(format!("/proc/{}/comm", pid.trim()));
                    // that daemon still (pids are reused)
                    if comm.is_ok_and(|c| c.trim() == d) {
                        let _ = sh(&["kill", pid.trim()]);
                    }
                }
            }
        }
        if let Some(addr) = &self.ovsdb {
            let out = vsctl(addr, &["list-br"]);
            for br in String::from_utf8_lossy(&out.stdout).lines() {
                if br.starts_with(&self.p) {
                    let _ = vsctl(addr, &["--if-exists", "del-br", br]);
                }
            }
        }
        // processes swctl runs in this lab's hosts (a failed test never got
        // to destroy): each supervisor's group, then their records, logs
        // and hosts files
        for (dir, by) in [
            ("/run/swctl/procs", true),
            ("/var/log/swctl", false),
            ("/etc/netns", false),
        ] {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in rd.flatten() {
                if !e.file_name().to_string_lossy().starts_with(&self.p) {
                    continue;
                }
                if by && let Ok(recs) = std::fs::read_dir(e.path()) {
                    for r in recs.flatten() {
                        let v: Value = std::fs::read(r.path())
                            .ok()
                            .and_then(|b| serde_json::from_slice(&b).ok())
                            .unwrap_or_default();
                        if let Some(sup) = v["supervisor"].as_i64().filter(|&s| s > 1) {
                            let _ = sh(&["kill", "-KILL", "--", &format!("-{sup}")]);
                        }
                    }
                }
                let _ = std::fs::remove_dir_all(e.path());
                let _ = std::fs::remove_file(e.path());
            }
        }
        for n in self.namespaces() {
            let _ = sh(&["ip", "netns", "del", &n]);
        }
        for l in self.host_links() {
            let _ = sh(&["ip", "link", "del", &l]);
        }
        for l in &self.extra_links {
            let _ = sh(&["ip", "link", "del", l]);
        }
        // the run state of this lab's machines' agents, and its record
        if let Ok(rd) = std::fs::read_dir("/run/swctl/machines") {
            for e in rd.flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{}+", self.p))
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let _ = std::fs::remove_file(format!("/run/swctl/topologies/{}", self.p));
        // swctl's registry entries for namespaces that are gone
        if let Ok(rd) = std::fs::read_dir("/run/swctl/netns") {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&self.p) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// This test's namespaces, by `ip netns list`.
    pub fn namespaces(&self) -> Vec<String> {
        let out = sh(&["ip", "-j", "netns", "list"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Array(vec![]));
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str())
            .filter(|n| n.starts_with(&self.p))
            .map(String::from)
            .collect()
    }

    /// Host links that belong to this test: named with its prefix, or
    /// marked by swctl for one of its namespaces.
    pub fn host_links(&self) -> Vec<String> {
        ip_links(None)
            .into_iter()
            .filter(|l| {
                let name = l["ifname"].as_str().unwrap_or("");
                let alias = l["ifalias"].as_str().unwrap_or("");
                name.starts_with(&self.p[..self.p.len().min(8)])
                    || alias.contains(&format!("={}", self.p))
            })
            .filter_map(|l| l["ifname"].as_str().map(String::from))
            .collect()
    }

    /// Run swctl; bounded to 60 s.
    pub fn swctl(&self, args: &[&str]) -> Output {
        let mut c = Command::new("timeout");
        c.arg("60").arg(env!("CARGO_BIN_EXE_swctl")).args(args);
        c.env_remove("SWCTL_BACKEND");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.output().expect("run swctl")
    }

    /// Run swctl and insist on success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.swctl(args);
        assert!(
            out.status.success(),
            "swctl {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The entry of switch `name` in `swctl --json switch list`, if listed.
    pub fn switch_entry(&self, name: &str) -> Option<Value> {
        find_named(&self.json(&["switch", "list"])["switches"], name)
    }

    /// Run swctl --json and parse its output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).expect("swctl --json prints JSON")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Run a command with a 30 s bound.
pub fn sh(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("30")
        .args(args)
        .output()
        .expect("run command")
}

/// `ip -j [-n NS] -d link show` as JSON objects.
pub fn ip_links(ns: Option<&str>) -> Vec<Value> {
    let mut a = vec!["ip", "-j", "-d"];
    if let Some(n) = ns {
        a.extend_from_slice(&["-n", n]);
    }
    a.extend_from_slice(&["link", "show"]);
    let out = sh(&a);
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// `ip -j [-n NS] addr show` → (ifname, "addr/prefix") pairs.
pub fn ip_addrs(ns: Option<&str>) -> Vec<(String, String)> {
    let mut a = vec!["ip", "-j"];
    if let Some(n) = ns {
        a.extend_from_slice(&["-n", n]);
    }
    a.extend_from_slice(&["addr", "show"]);
    let out = sh(&a);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Array(vec![]));
    let mut res = vec![];
    for l in v.as_array().into_iter().flatten() {
        for ai in l["addr_info"].as_array().into_iter().flatten() {
            res.push((
                l["ifname"].as_str().unwrap_or("").to_string(),
                format!("{}/{}", ai["local"].as_str().unwrap_or(""), ai["prefixlen"]),
            ));
        }
    }
    res
}

pub fn link<'a>(links: &'a [Value], name: &str) -> Option<&'a Value> {
    links.iter().find(|l| l["ifname"] == name)
}

/// One ping from inside `ns` (or the host); returns ping's output on success.
pub fn ping(ns: Option<&str>, addr: &str) -> Result<String, String> {
    let mut a = vec![];
    if let Some(n) = ns {
        a.extend_from_slice(&["ip", "netns", "exec", n]);
    }
    // first packet may wait for ARP; 3 tries, 2 s each, bounded overall
    a.extend_from_slice(&["ping", "-c", "1", "-W", "2", addr]);
    for _ in 0..3 {
        let out = sh(&a);
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
    }
    Err(format!("{:?} failed", a))
}

/// Run `f` on a thread that entered namespace `ns`.
pub fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("namespace exists");
    std::thread::spawn(move || {
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// Send `bytes` over TCP from a socket in `client_ns` to a listener in
/// `server_ns` at `addr`; the server answers with the count it received.
/// Every socket operation has a timeout.
pub fn tcp_transfer(
    server_ns: &str,
    client_ns: &str,
    addr: SocketAddr,
    bytes: usize,
) -> Result<usize, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = in_ns(server_ns, move || -> Result<(), String> {
        let l = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        tx.send(()).ok();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let (mut s, _) = loop {
            match l.accept() {
                Ok(c) => break c,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() > deadline {
                        return Err("accept timed out".into());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        s.set_nonblocking(false).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65536];
        let mut total: u64 = 0;
        loop {
            let n = s.read(&mut buf).map_err(|e| format!("server read: {e}"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        s.write_all(&total.to_be_bytes())
            .map_err(|e| e.to_string())?;
        Ok(())
    });
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "server did not start")?;
    let client = in_ns(client_ns, move || -> Result<usize, String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_write_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        let chunk = vec![0x5au8; 65536];
        let mut sent = 0;
        while sent < bytes {
            let n = chunk.len().min(bytes - sent);
            s.write_all(&chunk[..n])
                .map_err(|e| format!("client write: {e}"))?;
            sent += n;
        }
        s.shutdown(std::net::Shutdown::Write)
            .map_err(|e| e.to_string())?;
        let mut cnt = [0u8; 8];
        s.read_exact(&mut cnt)
            .map_err(|e| format!("client read: {e}"))?;
        Ok(u64::from_be_bytes(cnt) as usize)
    });
    let got = client.join().map_err(|_| "client panicked")??;
    server.join().map_err(|_| "server panicked")??;
    Ok(got)
}

/// The element of a JSON array whose `name` is `name`.
pub fn find_named(list: &Value, name: &str) -> Option<Value> {
    list.as_array()?.iter().find(|x| x["name"] == name).cloned()
}

/// Two segments joined by a gateway: a Linux bridge (h1, h2, gw) and an OVS
/// bridge (h3 by veth, h4 by internal port, gw by internal port).
pub fn two_segment_lab(lab: &Lab) -> String {
    let p = &lab.p;
    format!(
        r#"
name = "{p}"
[switches.{p}br]
backend = "bridge"
[switches.{p}ov]
backend = "ovs"

[hosts.{p}h1]
routes = [{{ to = "198.18.61.0/24", via = "198.18.60.254" }}]
[[hosts.{p}h1.ports]]
switch = "{p}br"
ip = "198.18.60.1/24"

[hosts.{p}h2]
routes = [{{ to = "198.18.61.0/24", via = "198.18.60.254" }}]
[[hosts.{p}h2.ports]]
switch = "{p}br"
ip = "198.18.60.2/24"

[hosts.{p}h3]
routes = [{{ to = "default", via = "198.18.61.254" }}]
[[hosts.{p}h3.ports]]
switch = "{p}ov"
ip = "198.18.61.3/24"
via = "veth"

[hosts.{p}h4]
routes = [{{ to = "default", via = "198.18.61.254" }}]
[[hosts.{p}h4.ports]]
switch = "{p}ov"
ip = "198.18.61.4/24"
via = "internal"

[hosts.{p}gw]
forward = true
[[hosts.{p}gw.ports]]
switch = "{p}br"
ip = "198.18.60.254/24"
[[hosts.{p}gw.ports]]
switch = "{p}ov"
ip = "198.18.61.254/24"
"#
    )
}

pub fn write(lab: &Lab, name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}-{name}", lab.p));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Exactly one echo request, one second to answer: what a user typing
/// `ping -c1` right after `apply` sees.
pub fn ping_once(ns: &str, addr: &str) -> bool {
    sh(&[
        "ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", addr,
    ])
    .status
    .success()
}

/// FNV-1a over a byte stream.
pub fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= *b as u64;
        *h = h.wrapping_mul(0x100_0000_01b3);
    }
}

/// Send `n` pseudo-random bytes from `client` to `server`; the server
/// answers with the hash of what it received; both hashes returned.
pub fn checksummed(server: &str, client: &str, addr: SocketAddr, n: usize) -> (u64, u64) {
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = in_ns(server, move || {
        let l = TcpListener::bind(addr).unwrap();
        tx.send(()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut buf = vec![0u8; 65536];
        loop {
            let k = s.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            fnv(&mut h, &buf[..k]);
        }
        s.write_all(&h.to_be_bytes()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let cli = in_ns(client, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut sent = 0;
        let mut chunk = vec![0u8; 65536];
        while sent < n {
            for c in chunk.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *c = x as u8;
            }
            let k = chunk.len().min(n - sent);
            fnv(&mut h, &chunk[..k]);
            s.write_all(&chunk[..k]).unwrap();
            sent += k;
        }
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = [0u8; 8];
        s.read_exact(&mut got).unwrap();
        (h, u64::from_be_bytes(got))
    });
    let hashes = cli.join().unwrap();
    srv.join().unwrap();
    hashes
}

pub fn ping_df(ns: &str, addr: &str, size: &str) -> bool {
    sh(&[
        "ip", "netns", "exec", ns, "ping", "-c1", "-W1", "-M", "do", "-s", size, addr,
    ])
    .status
    .success()
}

/// The `[machines]` of a lab over three simulated machines m1..m3, named
/// `{p}m1`.., their VTEPs 198.18.`net`.1..3.
pub fn three_machines(p: &str, net: u8) -> String {
    let mut t = String::new();
    for (i, m) in ["m1", "m2", "m3"].iter().enumerate() {
        t.push_str(&format!(
            "[machines.{m}]\nvtep = \"198.18.{net}.{}\"\nnetns = \"{p}{m}\"\n",
            i + 1
        ));
    }
    t
}

/// The swctl binary with `args` (bridge backend, no SWCTL_LOG), at most
/// 60 s; outside any lab's environment.
pub fn swctl_bare(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_swctl"))
        .args(args)
        .env("SWCTL_BACKEND", "bridge")
        .env_remove("SWCTL_LOG")
        .output()
        .expect("run swctl")
}

/// What a command printed, both streams.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A lab file `p` with one Linux bridge `{p}s` and a host `{p}NAME` on it
/// per (NAME, CIDR).
pub fn one_bridge_lab(p: &str, hosts: &[(&str, &str)]) -> String {
    let mut t = format!("name = \"{p}\"\n[switches.{p}s]\nbackend = \"bridge\"\n");
    for (h, ip) in hosts {
        t.push_str(&format!(
            "[hosts.{p}{h}]\n[[hosts.{p}{h}.ports]]\nswitch = \"{p}s\"\nip = \"{ip}\"\n"
        ));
    }
    t
}

/// A test (or part of one) this machine cannot run: said on stderr and,
/// under scripts/test.sh, in its summary (`$SWCTL_TEST_NOTES`), so a green
/// run says plainly what it did not cover.
pub fn not_run_here(what: &str) {
    eprintln!("not run here: {what}");
    if let Ok(path) = std::env::var("SWCTL_TEST_NOTES") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{what}");
        }
    }
}
