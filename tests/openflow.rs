//! OpenFlow settings of OVS switches against real software: a secure
//! bridge forwards nothing until Debian's ovs-testcontroller (a learning
//! switch controller) is connected, ovs-vsctl as the oracle of what swctl
//! wrote, settings changed by hand are drift and repaired. Requires root,
//! Open vSwitch and openvswitch-testcontroller (scripts/deps.sh).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// ovs-testcontroller listening on `port` of the loopback, its control
/// socket in a directory of its own (the package's default run directory
/// does not exist: no service was started); killed on drop.
struct TestController {
    child: Child,
    dir: std::path::PathBuf,
}

impl TestController {
    fn start(tag: &str, port: u16) -> TestController {
        let dir = std::env::temp_dir().join(format!("{tag}-testcontroller"));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("ovs-testcontroller")
            .env("OVS_RUNDIR", &dir)
            .arg(format!("--unixctl={}", dir.join("tc.ctl").display()))
            .arg(format!("ptcp:{port}:127.0.0.1"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ovs-testcontroller (openvswitch-testcontroller) is installed");
        TestController { child, dir }
    }
}

impl Drop for TestController {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `ovs-vsctl get Bridge BR COLUMN`, trimmed.
fn get(addr: &str, br: &str, col: &str) -> String {
    vsctl_ok(addr, &["get", "Bridge", br, col])
        .trim()
        .to_string()
}

/// Whether `switch list` says the switch's controller is connected.
fn connected(lab: &Lab, br: &str) -> bool {
    lab.switch_entry(br).is_some_and(|s| {
        s["openflow"]["controllers"]
            .as_array()
            .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c["is_connected"] == true))
    })
}

#[test]
fn a_secure_switch_forwards_once_its_controller_is_connected_and_drift_is_repaired() {
    let lab = Lab::ovs("of");
    let addr = lab.ovsdb.clone().unwrap();
    let br = lab.name("br");
    let (h1, h2) = (lab.name("1"), lab.name("2"));
    let port = free_port();
    let target = format!("tcp:127.0.0.1:{port}");
    let file = write(
        &lab,
        "of.toml",
        &format!(
            r#"name = "{p}"
backend = "ovs"
[switches.{br}]
fail_mode = "secure"
controller = "{target}"
protocols = ["OpenFlow13", "OpenFlow10"]
datapath_id = "0x00000000000000A1"
[hosts.{h1}]
[[hosts.{h1}.ports]]
switch = "{br}"
ip = ["198.18.41.1/24"]
[hosts.{h2}]
[[hosts.{h2}.ports]]
switch = "{br}"
ip = ["198.18.41.2/24"]
"#,
            p = lab.p
        ),
    );
    lab.ok(&["apply", &file]);
    // what Open vSwitch holds, by ovs-vsctl
    assert_eq!(get(&addr, &br, "fail_mode"), "secure");
    assert_eq!(get(&addr, &br, "protocols"), "[OpenFlow10, OpenFlow13]");
    assert_eq!(
        get(&addr, &br, "other_config:datapath-id"),
        "\"00000000000000a1\""
    );
    assert_eq!(get(&addr, &br, "datapath_id"), "\"00000000000000a1\"");
    assert_eq!(vsctl_ok(&addr, &["get-controller", &br]).trim(), target);
    // secure, no controller yet: nothing forwards
    assert!(
        !ping_once(&h1, "198.18.41.2"),
        "a secure switch forwarded without a controller"
    );
    assert!(!connected(&lab, &br));

    let _tc = TestController::start(&lab.p, port);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !connected(&lab, &br) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(connected(&lab, &br), "the controller never connected");
    let shown = lab.ok(&["show"]);
    assert!(
        shown.contains(&format!("controller={target} (connected)")),
        "{shown}"
    );
    ping(Some(&h1), "198.18.41.2").unwrap();
    let got = tcp_transfer(&h2, &h1, "198.18.41.2:5410".parse().unwrap(), 1 << 20).unwrap();
    assert_eq!(got, 1 << 20);
    assert!(lab.ok(&["status", &file]).contains("in sync"));

    // changed by hand: drift (exit 3, in words), repaired by apply
    vsctl_ok(
        &addr,
        &[
            "set-fail-mode",
            &br,
            "standalone",
            "--",
            "del-controller",
            &br,
        ],
    );
    let out = lab.swctl(&["status", &file]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("fail_mode is standalone, the file says secure"),
        "{t}"
    );
    assert!(
        t.contains(&format!("controllers are none, the file says {target}")),
        "{t}"
    );
    lab.ok(&["apply", &file]);
    assert_eq!(get(&addr, &br, "fail_mode"), "secure");
    assert_eq!(vsctl_ok(&addr, &["get-controller", &br]).trim(), target);
    assert!(lab.ok(&["apply", &file]).contains("nothing to change"));
    // the repaired controller connects again, and traffic flows at once
    let deadline = Instant::now() + Duration::from_secs(15);
    while !connected(&lab, &br) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    ping(Some(&h1), "198.18.41.2").unwrap();
    lab.ok(&["destroy", &file]);
    assert!(!vsctl(&addr, &["br-exists", &br]).status.success());
}

#[test]
fn openflow_settings_are_refused_on_a_linux_bridge_and_checked() {
    let lab = Lab::ovs("og");
    let br = lab.name("br");
    let out = lab.swctl(&[
        "switch",
        "add",
        &br,
        "--backend",
        "bridge",
        "--fail-mode",
        "secure",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("only an OVS bridge has fail_mode"),
        "{}",
        text(&out)
    );
    assert!(ip_links(None).iter().all(|l| l["ifname"] != br.as_str()));
    for bad in [
        vec!["--controller", "tcp:example.com:6653"],
        vec!["--protocols", "OpenFlow16"],
        vec!["--datapath-id", "1"],
    ] {
        let mut a = vec!["switch", "add", &br];
        a.extend(bad.iter());
        let out = lab.swctl(&a);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
    }
    // the settings alone choose OVS, and the switch is made with them
    let out = lab.ok(&[
        "switch",
        "add",
        &br,
        "--protocols",
        "OpenFlow13",
        "--fail-mode",
        "secure",
    ]);
    assert!(
        out.contains("backend: ovs") || out.contains("switch add"),
        "{out}"
    );
    let addr = lab.ovsdb.clone().unwrap();
    assert_eq!(get(&addr, &br, "fail_mode"), "secure");
    assert_eq!(get(&addr, &br, "protocols"), "[OpenFlow13]");
    lab.ok(&["switch", "del", &br]);
}
