//! Tests that disturb the shared OVS sandbox, kept in their own test binary
//! (cargo runs test binaries one after the other): ovs-vswitchd killed in
//! the middle of a test, and a TCP connection to ovsdb-server kept alive
//! across the server's inactivity probes. Requires root and Open vSwitch.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

/// The tests that kill ovs-vswitchd, one at a time (cargo runs a binary's
/// tests on parallel threads).
static KILLING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn sandbox_dir(addr: &str) -> PathBuf {
    PathBuf::from(addr.strip_prefix("unix:").expect("unix address"))
        .parent()
        .expect("socket in a directory")
        .to_path_buf()
}

#[test]
fn vswitchd_killed_mid_test_then_back() {
    let _one = KILLING.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::ovs("s");
    let addr = lab.ovsdb.clone().unwrap();
    let dir = sandbox_dir(&addr);
    let br = lab.name("br");
    let (h1, h2) = (lab.name("1"), lab.name("2"));
    lab.ok(&["ns", "add", &h1, &h2]);
    lab.ok(&["switch", "add", &br]);
    lab.ok(&["attach", &h1, &br, "--ip", "198.18.30.1/24"]);
    // kill -9 ovs-vswitchd
    let pid = std::fs::read_to_string(dir.join("ovs-vswitchd.pid")).unwrap();
    assert!(sh(&["kill", "-9", pid.trim()]).status.success());
    std::thread::sleep(Duration::from_millis(200));
    let out = lab.swctl(&["attach", &h2, &br, "--ip", "198.18.30.2/24"]);
    assert!(
        !out.status.success(),
        "attach succeeded without ovs-vswitchd"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is ovs-vswitchd running?"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // back: swctl ovs start starts only what is missing
    let out = lab.ok(&["ovs", "start", "--dir", dir.to_str().unwrap()]);
    assert!(out.contains("OVSDB address"), "{out}");
    // the next commands recover: h2's port is completed, h1's internal port
    // (made again in the host namespace by the new ovs-vswitchd) moved back
    lab.ok(&["attach", &h2, &br, "--ip", "198.18.30.2/24"]);
    lab.ok(&["attach", &h1, &br, "--ip", "198.18.30.1/24"]);
    ping(Some(&h1), "198.18.30.2").unwrap();
    let got = tcp_transfer(&h2, &h1, "198.18.30.2:5400".parse().unwrap(), 1 << 20).unwrap();
    assert_eq!(got, 1 << 20);
    lab.ok(&["switch", "del", &br]);
}

/// Over TCP, ovsdb-server probes an idle client after 5 s and drops it 5 s
/// later unless the probe is answered: the client must answer.
#[test]
fn tcp_connection_survives_inactivity_probes() {
    require_root();
    let addr = ovs_sandbox();
    let dir = sandbox_dir(&addr);
    // a TCP remote on a free loopback port
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ctl = dir.join("ovsdb-server.ctl");
    let remote = format!("ptcp:{port}:127.0.0.1");
    let out = sh(&[
        "ovs-appctl",
        "-t",
        ctl.to_str().unwrap(),
        "ovsdb-server/add-remote",
        &remote,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt.block_on(async {
        let mut c = None;
        for _ in 0..50 {
            if let Ok(x) = swctl::ovsdb::Client::connect(&format!("tcp:127.0.0.1:{port}")).await {
                c = Some(x);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let c = c.expect("TCP remote answers");
        c.echo().await.unwrap();
        // idle for longer than probe + grace
        tokio::time::sleep(Duration::from_secs(12)).await;
        c.list_dbs().await
    });
    let _ = sh(&[
        "ovs-appctl",
        "-t",
        ctl.to_str().unwrap(),
        "ovsdb-server/remove-remote",
        &remote,
    ]);
    assert!(res.unwrap().contains(&"Open_vSwitch".to_string()));
}

/// ovs-vswitchd's receive socket of a veth port (userspace TSO, as swctl's
/// sandbox starts it): room for TSO packets, checked with `ss` (its skmem
/// `rb`: the buffer, doubled); ovs-vswitchd killed and started again makes
/// new sockets with the default buffer: `status` says so (exit 3), `apply`
/// repairs it, TCP passes at once.
#[test]
fn veth_ports_keep_room_for_tso_packets_across_a_vswitchd_restart() {
    let _one = KILLING.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::ovs("v");
    let addr = lab.ovsdb.clone().unwrap();
    let dir = sandbox_dir(&addr);
    let tso = vsctl_ok(
        &addr,
        &[
            "get",
            "Open_vSwitch",
            ".",
            "other_config:userspace-tso-enable",
        ],
    );
    if !tso.contains("true") {
        eprintln!("skipped: the test sandbox has no userspace TSO ({tso})");
        return;
    }
    let (h1, h2, sw) = (lab.name("1"), lab.name("2"), lab.name("s"));
    let file = write(
        &lab,
        "tso.toml",
        &format!(
            "name = \"{n}\"\nbackend = \"ovs\"\n[switches.{sw}]\n\
             [hosts.{h1}]\n[[hosts.{h1}.ports]]\nswitch = \"{sw}\"\nvia = \"veth\"\nip = \"198.18.31.1/24\"\n\
             [hosts.{h2}]\n[[hosts.{h2}.ports]]\nswitch = \"{sw}\"\nvia = \"veth\"\nip = \"198.18.31.2/24\"\n",
            n = lab.name("lab")
        ),
    );
    let v = lab.json(&["apply", &file]);
    let ports: Vec<String> = v["wiring"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["a_dev"].as_str().unwrap().to_string())
        .collect();
    let buffers = || {
        let out =
            String::from_utf8_lossy(&sh(&["ss", "-f", "link", "-m", "-p"]).stdout).to_string();
        ports
            .iter()
            .map(|p| {
                out.lines()
                    .find(|l| l.contains(&format!(":{p} ")) && l.contains("ovs-vswitchd"))
                    .and_then(|l| l.split("rb").nth(1))
                    .and_then(|r| r.split(',').next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .collect::<Vec<u64>>()
    };
    assert_eq!(buffers(), vec![8 << 20; 2]);
    let pid = std::fs::read_to_string(dir.join("ovs-vswitchd.pid")).unwrap();
    assert!(sh(&["kill", "-9", pid.trim()]).status.success());
    lab.ok(&["ovs", "start", "--dir", dir.to_str().unwrap()]);
    assert!(buffers().iter().all(|&b| b < 8 << 20), "{:?}", buffers());
    let out = lab.swctl(&["status", &file]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("receive buffer"), "{}", text(&out));
    lab.ok(&["apply", &file]);
    assert_eq!(buffers(), vec![8 << 20; 2]);
    let got = tcp_transfer(&h2, &h1, "198.18.31.2:5401".parse().unwrap(), 8 << 20).unwrap();
    assert_eq!(got, 8 << 20);
    // the removal of a bridge's ports runs with expedited RCU grace
    // periods (`effect::kernel::rcu`), put back afterwards
    let before = std::fs::read_to_string("/sys/kernel/rcu_expedited").unwrap_or_default();
    lab.ok(&["destroy", &file]);
    let after = std::fs::read_to_string("/sys/kernel/rcu_expedited").unwrap_or_default();
    assert_eq!(before, after);
}
