//! `swctl bench` with tiny N and duration: its JSON is complete and sane
//! (every wiring measured or its absence explained, positive throughput,
//! p99 ≥ p50, ratios against veth, the SVG written), and it leaves nothing
//! behind. No thresholds on speed. Requires root (and OVS for the OVS
//! wirings, else they must be reported as skipped).

mod common;

use common::*;
use serde_json::Value;

/// The bench's labs share a name prefix (`swb`) and each test checks that
/// none is left: the two that build labs take turns.
static LABS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn bench_json_is_complete_and_sane() {
    let _turn = LABS.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let addr = ovs_sandbox();
    let svg = std::env::temp_dir().join(format!("swctl-bench-{}.svg", std::process::id()));
    let out = std::process::Command::new("timeout")
        .args([
            "300",
            env!("CARGO_BIN_EXE_swctl"),
            "--json",
            "bench",
            "--hosts",
            "4",
            "--duration",
            "0.5",
        ])
        .args([
            "--streams",
            "2",
            "--repeat",
            "2",
            "--svg",
            svg.to_str().unwrap(),
        ])
        .env("SWCTL_OVSDB", &addr)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let wirings: Vec<String> = v["wirings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let skipped: Vec<String> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[0].as_str().unwrap().to_string())
        .collect();
    for w in [
        "veth",
        "bridge",
        "ovs-veth",
        "ovs-internal",
        "bridge-vxlan",
        "ovs-vxlan",
        "ovn",
    ] {
        assert!(
            wirings.iter().any(|x| x == w) || skipped.iter().any(|x| x == w),
            "{w} neither measured nor explained"
        );
    }
    for s in v["skipped"].as_array().unwrap() {
        assert!(
            !s[1].as_str().unwrap().is_empty(),
            "a skip without a reason: {s}"
        );
    }
    // with the sandbox running, all seven are measured (bridge-vxlan,
    // ovs-vxlan, ovn: two simulated machines, each with its own Open
    // vSwitch for the last two, a private central for ovn)
    assert_eq!(wirings.len(), 7, "{v}");
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(samples.len(), wirings.len() * 2);
    for s in samples {
        let f = |k: &str| {
            s[k].as_f64()
                .unwrap_or_else(|| panic!("{k} missing in {s}"))
        };
        assert!(f("gbps_1") > 0.0 && f("gbps_k") > 0.0, "{s}");
        assert!(
            f("rtt_p99_us") >= f("rtt_p50_us") && f("rtt_p50_us") > 0.0,
            "{s}"
        );
        assert!(
            f("rtt_avg_us") > 0.0 && s["round_trips"].as_u64().unwrap() > 0,
            "{s}"
        );
        assert!(
            f("setup_s") > 0.0 && f("teardown_s") > 0.0 && f("ready_s") >= 0.0,
            "{s}"
        );
        assert!(f("cpu_cores") >= 0.0 && f("cpu_per_gbps") >= 0.0, "{s}");
        if s["wiring"] == "veth" {
            assert_eq!(f("ratio_gbps_1"), 1.0);
        } else {
            assert!(f("ratio_gbps_1") > 0.0);
        }
        if s["wiring"].as_str().unwrap().starts_with("ovs") {
            assert!(s["vswitchd_cores"].as_f64().is_some(), "{s}");
        }
    }
    // the conditions: kernel, datapath, offloads and MTU of each interface
    let c = &v["conditions"];
    assert!(!c["kernel"].as_str().unwrap().is_empty());
    assert!(c["ovs_datapath"].is_string());
    assert!(
        c["ovs_version"].is_string(),
        "the sandbox records ovs_version"
    );
    for (w, ifaces) in c["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (&x[0], &x[1]))
    {
        assert_eq!(ifaces.as_array().unwrap().len(), 2, "{w}");
        for i in ifaces.as_array().unwrap() {
            assert!(i["mtu"].as_u64().unwrap() > 0, "{i}");
            assert!(i["tx_checksum"].is_boolean(), "{i}");
        }
    }
    // every metric has median/min/max, min ≤ median ≤ max
    for s in v["summary"].as_array().unwrap() {
        let (lo, mid, hi) = (
            s["min"].as_f64().unwrap(),
            s["median"].as_f64().unwrap(),
            s["max"].as_f64().unwrap(),
        );
        assert!(lo <= mid && mid <= hi, "{s}");
    }
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("ovs-internal"));
    assert!(chart.contains("bridge-vxlan") && chart.contains("ovs-vxlan"));
    assert!(
        chart.contains(">ovn<") || chart.contains("ovn"),
        "ovn in the chart"
    );
    assert!(
        !std::path::Path::new("/run/swctl/bench-ovn").exists(),
        "the bench's OVN central left behind"
    );
    let _ = std::fs::remove_file(&svg);
    // nothing left behind
    let left: Vec<String> = sh(&["ip", "netns", "list"])
        .stdout
        .split(|b| *b == b'\n')
        .map(|l| String::from_utf8_lossy(l).to_string())
        .filter(|l| l.starts_with("swb"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let daemons = sh(&["pgrep", "-af", "machines/swctl-bench"]);
    let text = String::from_utf8_lossy(&daemons.stdout);
    let left: Vec<&str> = text.lines().filter(|l| !l.contains("pgrep")).collect();
    assert!(left.is_empty(), "the machines' Open vSwitch left: {left:?}");
}

#[test]
fn bench_refuses_bad_arguments() {
    require_root();
    for args in [
        vec!["bench", "--wiring", "carrier-pigeon"],
        vec!["bench", "--hosts", "1"],
        vec!["bench", "--duration", "0"],
        vec!["bench", "--streams", "0"],
        vec!["bench", "--impair", "rate=fast"],
        vec!["bench", "--impair", "jitter=1ms"],
        vec![
            "bench",
            "--impair",
            "rate=1mbit",
            "--wiring",
            "ovs-internal",
        ],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_swctl"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// `--scale`: every wiring at every size, run by the swctl binary as a
/// child, with the `ip -batch` floor; JSON complete, nothing left behind.
#[test]
fn scale_mode_measures_each_size_and_the_floor() {
    let _turn = LABS.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("bs");
    let svg = std::env::temp_dir().join(format!("{}-scale.svg", lab.p));
    let out = lab.swctl(&[
        "--json",
        "bench",
        "--scale",
        "6,4",
        "--wiring",
        "veth,bridge",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sizes"], serde_json::json!([4, 6]));
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 4, "{v}");
    for p in points {
        for k in ["setup_s", "reapply_s", "teardown_s", "rss_mb"] {
            assert!(p[k].as_f64().unwrap() > 0.0, "{k}: {p}");
        }
    }
    assert_eq!(v["floor"].as_array().unwrap().len(), 2, "{v}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("ip -batch floor"));
    let _ = std::fs::remove_file(&svg);
    // nothing of the bench is left
    let left = sh(&["ip", "netns", "list"]);
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains("swb"),
        "{}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// `--impair`: every wiring measured under the same impairment; a rate
/// caps each wiring's throughput at it (measured within 10%: the shaper
/// counts frames, the bench payload).
#[test]
fn impaired_bench_measures_every_wiring_under_the_impairment() {
    let _turn = LABS.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let addr = ovs_sandbox();
    let out = std::process::Command::new("timeout")
        .args(["300", env!("CARGO_BIN_EXE_swctl"), "--json", "bench"])
        .args([
            "--hosts",
            "2",
            "--duration",
            "2",
            "--streams",
            "1",
            "--repeat",
            "1",
        ])
        .args([
            "--wiring",
            "veth,bridge,ovs-veth",
            "--impair",
            "rate=80mbit",
        ])
        .env("SWCTL_OVSDB", &addr)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["conditions"]["impair"], "rate=80mbit", "{v}");
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3, "{v}");
    for s in samples {
        let g = s["gbps_1"].as_f64().unwrap();
        assert!(
            (g - 0.0765).abs() < 0.008,
            "{}: {g} Gbit/s under 80mbit",
            s["wiring"]
        );
    }
}
