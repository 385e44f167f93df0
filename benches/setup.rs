//! Setup/teardown speed: N namespaces, each attached to one switch (a Linux
//! bridge, or OVS by veth or by internal port) and given an address, built
//! and removed
//!   1. by swctl in one plan (the library path `apply FILE` uses),
//!   2. by the `swctl` CLI, one process per command (ns add, switch add,
//!      N × attach),
//!   3. by the tutorials' `ip` commands from a shell script,
//!   4. by `ip -batch` (one ip process for the host-side commands, one per
//!      namespace for its side),
//!
//! in the same run, interleaved, repeated. Prints medians and the ratios.
//!
//! Run: `cargo bench --bench setup -- [N] [REPEAT] [bridge|ovs-veth|ovs-internal]`
//! as root (default 200 3 bridge). OVS runs use $SWCTL_OVSDB or start the
//! sandbox in /run/swctl/ovs-bench. The shell reference is
//! `swctl::bench::shell_reference`, the script `swctl bench --compare-shell`
//! runs too (one definition of the tutorials' commands). The lab is
//! `swctl::bench::lab`: namespaces `swb<pid>-<i>`, addresses 198.18.0.0/15.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use swctl::bench::{Wiring, addr, host, lab as desired, shell_reference, switch_name};
use swctl::effect::apply::apply;
use swctl::effect::observe::{Scan, observe};
use swctl::effect::ovs::{Ovs, Servers, sandbox};
use swctl::effect::system::System;
use swctl::model::Desired;
use swctl::plan::{Scope, plan};

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
    let ip = addr(n - 1).addr.to_string();
    let st = Command::new("ip")
        .args(["netns", "exec", host(0).as_str(), "ping", "-c1", "-W2", &ip])
        .output()
        .expect("ping");
    assert!(st.status.success(), "{} cannot reach {ip}", host(0));
}

fn ip_batch(n: usize) -> (String, String) {
    let br = switch_name();
    let dir = std::env::temp_dir().join("swctl-bench-batch");
    std::fs::create_dir_all(&dir).unwrap();
    let mut host_b = format!("link add {br} type bridge\nlink set {br} up\n");
    let mut ns_add = String::new();
    let mut script = String::new();
    for i in 0..n {
        let h = host(i);
        let _ = writeln!(ns_add, "netns add {h}");
        let _ = writeln!(host_b, "link add v{h} type veth peer name eth0 netns {h}");
        let _ = writeln!(host_b, "link set v{h} master {br} up");
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
    let _ = writeln!(down_b, "link del {br}");
    let df = dir.join("down.batch");
    std::fs::write(&df, down_b).unwrap();
    (up, format!("ip -batch {}\n", df.display()))
}

fn cli_script(n: usize, w: Wiring) -> (String, String) {
    let br = switch_name();
    let exe = env!("CARGO_BIN_EXE_swctl");
    let via = match w {
        Wiring::OvsInternal => "internal",
        _ => "veth",
    };
    let names: Vec<String> = (0..n).map(|i| host(i).to_string()).collect();
    let mut up = format!(
        "{exe} ns add {} >/dev/null\n{exe} switch add {br} >/dev/null\n",
        names.join(" ")
    );
    for (i, h) in names.iter().enumerate() {
        let _ = writeln!(
            up,
            "{exe} attach {h} {br} --ip {} --via {via} >/dev/null",
            addr(i)
        );
    }
    let down = format!(
        "{exe} ns del {} >/dev/null\n{exe} switch del {br} >/dev/null\n",
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
    let wiring = match args.get(2).map(String::as_str).unwrap_or("bridge") {
        "bridge" => Wiring::Bridge,
        "ovs-veth" => Wiring::OvsVeth,
        "ovs-internal" => Wiring::OvsInternal,
        "veth" => panic!(
            "the setup bench compares switches; use `swctl bench --setup-only --compare-shell` for veth"
        ),
        other => panic!("unknown wiring {other}: bridge, ovs-veth or ovs-internal"),
    };
    assert!(nix::unistd::geteuid().is_root(), "run as root");
    assert!((2..60000).contains(&n));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bench_dir = std::path::Path::new("/run/swctl/ovs-bench");
    let mut started = false;
    let db = if wiring == Wiring::Bridge {
        String::new()
    } else {
        let db = match std::env::var("SWCTL_OVSDB") {
            Ok(db) => db,
            Err(_) => {
                rt.block_on(sandbox::start(bench_dir))
                    .expect("start the OVS sandbox");
                started = true;
                sandbox::address(bench_dir)
            }
        };
        // the CLI runs and swctl's own connection use the same server
        // SAFETY: single-threaded at this point (no runtime task running)
        unsafe { std::env::set_var("SWCTL_OVSDB", &db) };
        db
    };
    let d = desired(wiring, n, None);
    let (c_up, c_down) = cli_script(n, wiring);
    let mut scripts = vec![("swctl CLI (per command)", c_up, c_down)];
    // the tutorials' commands: the same script `swctl bench --compare-shell` runs
    let (up, down) = shell_reference(wiring, n, &db);
    if wiring == Wiring::Bridge {
        let (b_up, b_down) = ip_batch(n);
        scripts.push(("ip commands", up, down));
        scripts.push(("ip -batch", b_up, b_down));
    } else {
        scripts.push(("ip + ovs-vsctl commands", up, down));
    }
    let mut methods = vec!["swctl (one plan)"];
    methods.extend(scripts.iter().map(|s| s.0));
    let everything = Scan {
        all_owned: true,
        ..Default::default()
    };
    let connect = || async {
        let mut ovs = Servers::none("the bridge wiring needs no OVS");
        if wiring != Wiring::Bridge {
            ovs.default = Ovs::connect(&db).await.map_err(|e| e.to_string());
            ovs.default.as_ref().expect("OVSDB answers");
        }
        System::new(ovs).unwrap()
    };
    let mut setup: Vec<Vec<f64>> = vec![vec![]; methods.len()];
    let mut teardown: Vec<Vec<f64>> = vec![vec![]; methods.len()];
    let mut noop = vec![];
    for round in 0..repeat {
        for (m, name) in methods.iter().enumerate() {
            let (su, td) = if m == 0 {
                rt.block_on(async {
                    let k = connect().await;
                    let t = Instant::now();
                    let o = observe(&k, &everything).await.unwrap();
                    let p = plan(&d, &o, &Scope::Owner).unwrap();
                    apply(&k, &p, false).await.unwrap();
                    let su = t.elapsed();
                    check_connectivity(n);
                    let t = Instant::now();
                    let o = observe(&k, &everything).await.unwrap();
                    let p = plan(&d, &o, &Scope::Owner).unwrap();
                    assert!(
                        p.is_empty(),
                        "second plan not empty: {} steps",
                        p.steps.len()
                    );
                    noop.push(t.elapsed().as_secs_f64());
                    drop(k);
                    let k = connect().await;
                    let t = Instant::now();
                    let o = observe(&k, &everything).await.unwrap();
                    let p = plan(&Desired::new(d.owner.clone()), &o, &Scope::Owner).unwrap();
                    apply(&k, &p, true).await.unwrap();
                    (su, t.elapsed())
                })
            } else {
                let (_, up, down) = &scripts[m - 1];
                let su = sh(up);
                check_connectivity(n);
                (su, sh(down))
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
    let what = match wiring {
        Wiring::Bridge => "one Linux bridge, veth",
        Wiring::OvsVeth => "one OVS bridge, veth",
        Wiring::OvsInternal => "one OVS bridge, internal port",
        Wiring::Veth | Wiring::BridgeVxlan | Wiring::OvsVxlan | Wiring::Ovn => {
            unreachable!("refused above")
        }
    };
    println!("\n{n} namespaces on {what} + address each; median of {repeat}");
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
    if started {
        sandbox::stop(bench_dir).expect("stop the OVS sandbox");
    }
}
