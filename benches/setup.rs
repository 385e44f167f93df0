//! Setup/teardown speed: N namespaces, each attached to one Linux bridge by
//! a veth pair and given an address, built and removed
//!   1. by swctl in one plan (the library path `apply FILE` uses),
//!   2. by the `swctl` CLI, one process per command (ns add, switch add,
//!      N × attach),
//!   3. by the tutorials' `ip` commands from a shell script,
//!   4. by `ip -batch` (one ip process for the host-side commands, one per
//!      namespace for its side),
//!
//! in the same run, interleaved, repeated. Prints medians and the ratios.
//!
//! Run: `cargo bench --bench setup -- [N] [REPEAT]` as root (default 200 3).
//! Namespaces are named `bq<i>`, the bridge `bqbr`, addresses 198.18.0.0/15.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use swctl::apply::{Scan, apply, observe};
use swctl::model::*;
use swctl::names::*;
use swctl::netlink::Kernel;
use swctl::plan::{Scope, plan};

const BR: &str = "bqbr";

fn host(i: usize) -> String {
    format!("bq{i}")
}

fn addr(i: usize) -> String {
    // 198.18.0.0/15: i+1 spread over the two /16s' host part
    let n = i + 1;
    format!("198.18.{}.{}/15", n / 250, n % 250 + 1)
}

fn desired(n: usize) -> Desired {
    let mut d = Desired::new("bench".parse().unwrap());
    d.switches.insert(
        BR.parse().unwrap(),
        SwitchSpec {
            backend: Backend::Bridge,
            loc: Loc::Host,
            addrs: vec![],
            datapath: None,
        },
    );
    for i in 0..n {
        let h: NsName = host(i).parse().unwrap();
        d.namespaces.insert(h.clone(), NsSpec::default());
        d.ports.push(PortSpec {
            ns: h,
            switch: BR.parse().unwrap(),
            ifname: None,
            addrs: vec![addr(i).parse().unwrap()],
            via: Via::Veth,
        });
    }
    d
}

fn sh(script: &str) -> Duration {
    let t = Instant::now();
    let st = Command::new("bash")
        .arg("-e")
        .arg("-c")
        .arg(script)
        .status()
        .expect("bash");
    assert!(st.success(), "script failed");
    t.elapsed()
}

fn check_connectivity(n: usize) {
    let last = addr(n - 1);
    let ip = last.split('/').next().unwrap();
    let st = Command::new("ip")
        .args(["netns", "exec", &host(0), "ping", "-c1", "-W2", ip])
        .output()
        .expect("ping");
    assert!(st.status.success(), "{} cannot reach {ip}", host(0));
}

fn ip_script(n: usize) -> (String, String) {
    let mut up = format!("ip link add {BR} type bridge\nip link set {BR} up\n");
    let mut down = String::new();
    for i in 0..n {
        let h = host(i);
        let _ = writeln!(up, "ip netns add {h}");
        let _ = writeln!(up, "ip -n {h} link set lo up");
        let _ = writeln!(up, "ip link add v{h} type veth peer name eth0 netns {h}");
        let _ = writeln!(up, "ip link set v{h} master {BR} up");
        let _ = writeln!(up, "ip -n {h} link set eth0 up");
        let _ = writeln!(up, "ip -n {h} addr add {} dev eth0", addr(i));
        let _ = writeln!(down, "ip netns del {h}");
    }
    let _ = writeln!(down, "ip link del {BR}");
    (up, down)
}

fn ip_batch(n: usize) -> (String, String) {
    let dir = std::env::temp_dir().join("swctl-bench-batch");
    std::fs::create_dir_all(&dir).unwrap();
    let mut host_b = format!("link add {BR} type bridge\nlink set {BR} up\n");
    let mut ns_add = String::new();
    let mut script = String::new();
    for i in 0..n {
        let h = host(i);
        let _ = writeln!(ns_add, "netns add {h}");
        let _ = writeln!(host_b, "link add v{h} type veth peer name eth0 netns {h}");
        let _ = writeln!(host_b, "link set v{h} master {BR} up");
        let f = dir.join(format!("{h}.batch"));
        std::fs::write(
            &f,
            format!(
                "link set lo up\nlink set eth0 up\naddr add {} dev eth0\n",
                addr(i)
            ),
        )
        .unwrap();
        let _ = writeln!(script, "ip -n {h} -batch {}", f.display());
    }
    let nf = dir.join("ns.batch");
    let hf = dir.join("host.batch");
    std::fs::write(&nf, ns_add).unwrap();
    std::fs::write(&hf, host_b).unwrap();
    let up = format!(
        "ip -batch {}\nip -batch {}\n{script}",
        nf.display(),
        hf.display()
    );
    let mut down_b = String::new();
    for i in 0..n {
        let _ = writeln!(down_b, "netns del {}", host(i));
    }
    let _ = writeln!(down_b, "link del {BR}");
    let df = dir.join("down.batch");
    std::fs::write(&df, down_b).unwrap();
    (up, format!("ip -batch {}\n", df.display()))
}

fn cli_script(n: usize) -> (String, String) {
    let exe = env!("CARGO_BIN_EXE_swctl");
    let names: Vec<String> = (0..n).map(host).collect();
    let mut up = format!(
        "{exe} ns add {} >/dev/null\n{exe} switch add {BR} >/dev/null\n",
        names.join(" ")
    );
    for (i, h) in names.iter().enumerate() {
        let _ = writeln!(up, "{exe} attach {h} {BR} --ip {} >/dev/null", addr(i));
    }
    let down = format!(
        "{exe} ns del {} >/dev/null\n{exe} switch del {BR} >/dev/null\n",
        names.join(" ")
    );
    (up, down)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(200);
    let repeat: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    assert!(nix::unistd::geteuid().is_root(), "run as root");
    assert!((2..60000).contains(&n));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let d = desired(n);
    let (ip_up, ip_down) = ip_script(n);
    let (b_up, b_down) = ip_batch(n);
    let (c_up, c_down) = cli_script(n);
    let methods = [
        "swctl (one plan)",
        "swctl CLI (per command)",
        "ip commands",
        "ip -batch",
    ];
    let mut setup: Vec<Vec<f64>> = vec![vec![]; methods.len()];
    let mut teardown: Vec<Vec<f64>> = vec![vec![]; methods.len()];
    let mut noop = vec![];
    for round in 0..repeat {
        for (m, name) in methods.iter().enumerate() {
            let (su, td) = match m {
                0 => rt.block_on(async {
                    let k = Kernel::new().unwrap();
                    let t = Instant::now();
                    let o = observe(
                        &k,
                        &Scan {
                            all_owned: true,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                    let p = plan(&d, &o, &Scope::Owner).unwrap();
                    apply(&k, &p, false).await.unwrap();
                    let su = t.elapsed();
                    check_connectivity(n);
                    let t = Instant::now();
                    let o = observe(
                        &k,
                        &Scan {
                            all_owned: true,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                    let p = plan(&d, &o, &Scope::Owner).unwrap();
                    assert!(
                        p.is_empty(),
                        "second plan not empty: {} steps",
                        p.steps.len()
                    );
                    noop.push(t.elapsed().as_secs_f64());
                    drop(k);
                    let k = Kernel::new().unwrap();
                    let t = Instant::now();
                    let o = observe(
                        &k,
                        &Scan {
                            all_owned: true,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                    let p = plan(&Desired::new(d.owner.clone()), &o, &Scope::Owner).unwrap();
                    apply(&k, &p, true).await.unwrap();
                    (su, t.elapsed())
                }),
                1 => {
                    let su = sh(&c_up);
                    check_connectivity(n);
                    (su, sh(&c_down))
                }
                2 => {
                    let su = sh(&ip_up);
                    check_connectivity(n);
                    (su, sh(&ip_down))
                }
                _ => {
                    let su = sh(&b_up);
                    check_connectivity(n);
                    (su, sh(&b_down))
                }
            };
            eprintln!(
                "round {round} {name:<24} setup {:>8.3} s  teardown {:>8.3} s",
                su.as_secs_f64(),
                td.as_secs_f64()
            );
            setup[m].push(su.as_secs_f64());
            teardown[m].push(td.as_secs_f64());
            // let the kernel finish freeing the namespaces before the next method
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    println!("\n{n} namespaces on one Linux bridge, veth + address each; median of {repeat}");
    println!(
        "{:<26} {:>10} {:>10} {:>12}",
        "method", "setup s", "teardown s", "setup ratio"
    );
    let base = median(&mut setup[0].clone());
    for (m, name) in methods.iter().enumerate() {
        let s = median(&mut setup[m]);
        let t = median(&mut teardown[m]);
        println!("{name:<26} {s:>10.3} {t:>10.3} {:>11.1}x", s / base);
    }
    println!("no-change observe+plan (swctl): {:.3} s", median(&mut noop));
}
