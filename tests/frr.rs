//! A routed lab whose routes come from FRR (Debian's frr package) run by
//! swctl (`run`): `examples/frr-ospf.toml` under this test's names — a
//! triangle of routers running zebra and ospfd, hosts behind two of them
//! with default routes only. `apply --check` waits for the file's
//! expectations (OSPF converging); the route is OSPF's; a link cut by
//! hand is routed around (the time it took printed); `status` says the
//! link is missing and `apply` puts it back; ospfd killed by hand is drift
//! and started again; `destroy` leaves no daemon.

mod common;

use std::time::{Duration, Instant};

use common::{Lab, sh, text, write};

fn daemons(p: &str) -> Vec<String> {
    let mut out = vec![];
    for d in ["zebra", "ospfd"] {
        let o = sh(&["pgrep", "-a", "-x", d]);
        out.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.contains(&format!(" -N {p}r")))
                .map(String::from),
        );
    }
    out
}

fn ping(from: &str, to: &str) -> bool {
    sh(&[
        env!("CARGO_BIN_EXE_swctl"),
        "ns",
        "exec",
        from,
        "--",
        "ping",
        "-c",
        "1",
        "-W",
        "1",
        to,
    ])
    .status
    .success()
}

#[test]
fn ospf_from_frr_routes_the_lab_and_around_a_cut() {
    let lab = Lab::new("fo");
    let p = lab.p.clone();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let text_ = std::fs::read_to_string(format!("{dir}/frr-ospf.toml"))
        .unwrap()
        .replace("frr14", &p)
        .replace("-f frr/", &format!("-f {dir}/frr/"));
    let f = write(&lab, "frr.toml", &text_);
    let (h1, h3, r1) = (lab.name("h1"), lab.name("h3"), lab.name("r1"));

    // the expectations are waited for: OSPF converged when this returns
    let o = lab.swctl(&["apply", "--check", &f]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(daemons(&p).len(), 6, "{:?}", daemons(&p));
    assert!(ping(&h1, &h3), "h1 -> h3 by name");
    let routes = sh(&["ip", "-n", &r1, "route", "show", "198.18.83.0/24"]);
    assert!(text(&routes).contains("proto ospf"), "{}", text(&routes));
    assert!(
        lab.swctl(&["status", &f]).status.success(),
        "OSPF's routes are not drift"
    );

    // the direct link r1-r3 cut by hand: routed around through r2
    sh(&["ip", "-n", &r1, "link", "del", "to-r3"]);
    let t = Instant::now();
    while !ping(&h1, &h3) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no way around the cut in 30 s"
        );
    }
    eprintln!(
        "routed around the cut in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let via = sh(&["ip", "-n", &r1, "route", "show", "198.18.83.0/24"]);
    assert!(text(&via).contains("dev to-r2"), "{}", text(&via));
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    assert!(
        text(&st).contains(&format!("missing  link {p}r1 <-> {p}r3")),
        "{}",
        text(&st)
    );
    lab.ok(&["apply", &f]);
    assert!(ping(&h1, &h3));

    // ospfd of r2 killed by hand: drift, started again
    // (by pid: `pkill -f` would match the `timeout` it runs under too)
    let pid = daemons(&p)
        .into_iter()
        .find(|l| l.contains(&format!("ospfd -N {p}r2 ")))
        .and_then(|l| l.split_whitespace().next().map(String::from))
        .expect("ospfd of r2");
    assert!(sh(&["kill", "-TERM", &pid]).status.success());
    let t = Instant::now();
    while daemons(&p).len() == 6 {
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = lab.swctl(&["status", &f]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    assert!(
        text(&st).contains(&format!("process ospfd in {p}r2")),
        "{}",
        text(&st)
    );
    lab.ok(&["apply", &f]);
    assert_eq!(daemons(&p).len(), 6);

    lab.ok(&["destroy", &f]);
    assert!(daemons(&p).is_empty(), "left: {:?}", daemons(&p));
}
