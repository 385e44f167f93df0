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

/// A lab file: one OVS switch `br` with `keys` (TOML lines), and a host
/// per (name, CIDR) on it.
fn ovs_lab(lab: &Lab, file: &str, br: &str, keys: &str, hosts: &[(&str, &str)]) -> String {
    let mut t = format!(
        "name = \"{}\"\nbackend = \"ovs\"\n[switches.{br}]\n{keys}\n",
        lab.p
    );
    for (h, ip) in hosts {
        t.push_str(&format!(
            "[hosts.{h}]\n[[hosts.{h}.ports]]\nswitch = \"{br}\"\nip = [\"{ip}\"]\n"
        ));
    }
    write(lab, file, &t)
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
    let file = ovs_lab(
        &lab,
        "of.toml",
        &br,
        &format!(
            "fail_mode = \"secure\"\ncontroller = \"{target}\"\nprotocols = [\"OpenFlow13\", \"OpenFlow10\"]\ndatapath_id = \"0x00000000000000A1\""
        ),
        &[(&h1, "198.18.41.1/24"), (&h2, "198.18.41.2/24")],
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
    let st = lab.ok(&["status", &file]);
    assert!(
        st.contains(&format!("controller  {target} of {br}: not connected")),
        "{st}"
    );

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
    let st = lab.ok(&["status", &file]);
    assert!(st.contains("in sync"), "{st}");
    assert!(
        st.contains(&format!("controller  {target} of {br}: connected")),
        "{st}"
    );
    // the controller's flows are not the lab's: an apply leaves them
    let (_, theirs) = owned(&lab, &br);
    assert!(!theirs.is_empty(), "the controller installed no flow");
    assert!(lab.ok(&["apply", &file]).contains("nothing to change"));
    let (_, after) = owned(&lab, &br);
    assert!(
        theirs.iter().all(|f| after.contains(f)),
        "{theirs:?} -> {after:?}"
    );

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

/// A bridge's management socket, beside the sandbox's OVSDB socket
/// (where `ovs-ofctl` reaches it).
fn mgmt_of(addr: &str, br: &str) -> String {
    std::path::Path::new(addr.strip_prefix("unix:").unwrap())
        .parent()
        .unwrap()
        .join(format!("{br}.mgmt"))
        .display()
        .to_string()
}

/// `ovs-ofctl ARGS...`, which must succeed; its output.
fn ofctl(args: &[&str]) -> String {
    let mut a = vec!["ovs-ofctl"];
    a.extend_from_slice(args);
    let out = sh(&a);
    assert!(out.status.success(), "{a:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ovs-ofctl -O OpenFlow13 dump-flows --no-stats` of a bridge (by its
/// management socket), each line without its cookie, sorted.
fn ofctl_dump(addr: &str, br: &str) -> Vec<String> {
    let mgmt = mgmt_of(addr, br);
    let mut v: Vec<String> = ofctl(&["-O", "OpenFlow13", "--no-stats", "dump-flows", &mgmt])
        .lines()
        .map(|l| {
            l.trim()
                .split(", ")
                .filter(|p| !p.starts_with("cookie="))
                .collect::<Vec<_>>()
                .join(", ")
        })
        // the bridge's own default flow aside
        .filter(|l| !l.is_empty() && !l.starts_with("OFPST") && l != "priority=0 actions=NORMAL")
        .collect();
    v.sort();
    v
}

#[test]
fn flows_added_by_swctl_dump_as_ovs_ofctl_added_ones_and_steer_traffic() {
    let lab = Lab::ovs("oh");
    let addr = lab.ovsdb.clone().unwrap();
    let (a, b, c) = (lab.name("a"), lab.name("b"), lab.name("c"));
    let (h1, h2) = (lab.name("1"), lab.name("2"));
    let mgmt = |br: &str| mgmt_of(&addr, br);
    lab.ok(&["ns", "add", &h1, &h2]);
    lab.ok(&["switch", "add", &a]);
    lab.ok(&["switch", "add", &b]);
    lab.ok(&["switch", "add", &c]);
    // two bridges with ports numbered alike: swctl's flows on b, ovs-ofctl's
    // on c; the hosts on a
    for (br, x) in [(&b, "x"), (&c, "y")] {
        for n in ["1", "2"] {
            let port = lab.name(&format!("{x}{n}"));
            let req = format!("ofport_request={n}");
            vsctl_ok(
                &addr,
                &[
                    "add-port",
                    br,
                    &port,
                    "--",
                    "set",
                    "Interface",
                    &port,
                    "type=internal",
                    &req,
                ],
            );
        }
    }
    lab.ok(&["attach", &h1, &a, "--ip", "198.18.42.1/24", "--via", "veth"]);
    lab.ok(&["attach", &h2, &a, "--ip", "198.18.42.2/24", "--via", "veth"]);
    let flows = [
        "priority=100,ip,nw_src=198.18.0.0/24,nw_dst=198.18.1.1 actions=output:2",
        "table=1,priority=5,tcp,tp_dst=80,in_port=1 actions=drop",
        "priority=9,udp,tp_src=53 actions=normal",
        "priority=9,arp,nw_dst=198.18.0.1 actions=flood",
        "priority=9,icmp,icmp_type=8,icmp_code=0 actions=all",
        "priority=9,ipv6,ipv6_src=2001:db8::/32 actions=controller",
        "priority=9,icmp6,icmp_type=135 actions=in_port",
        "priority=9,dl_src=02:00:00:00:00:01 actions=mod_vlan_vid:10,output:2",
        "priority=9,dl_vlan=10 actions=strip_vlan,output:1",
        "priority=8,dl_vlan=10 actions=mod_vlan_vid:20,output:1",
        "priority=9,ip actions=mod_dl_src:02:00:00:00:00:09,mod_nw_dst:198.18.0.10,dec_ttl,output:1",
        "priority=7,ip actions=set_field:198.18.0.7->ip_dst,resubmit(,2)",
        "priority=9,in_port=1 actions=resubmit:2,goto_table:4",
        "priority=9,idle_timeout=100,hard_timeout=600,udp actions=controller:128",
    ];
    for f in flows {
        lab.ok(&["flow", "add", &b, f]);
        ofctl(&["-O", "OpenFlow13", "add-flow", &mgmt(&c), f]);
    }
    let (ours, theirs) = (ofctl_dump(&addr, &b), ofctl_dump(&addr, &c));
    assert_eq!(ours.len(), flows.len(), "{ours:#?} {theirs:#?}");
    assert_eq!(ours, theirs);
    // the owner of each: swctl's `cli` on b; foreign on a
    let listed = lab.json(&["flows", &b]);
    let mine = listed["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["owner"]["swctl"] == "cli")
        .count();
    assert_eq!(mine, flows.len());
    let listed = lab.json(&["flows", &c]);
    assert!(
        listed["flows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["owner"] == "foreign")
    );

    // steering on a's hosts by their names: h1 -> h2 dropped, at once
    ping(Some(&h1), "198.18.42.2").unwrap();
    let drop = "priority=60000,ip,nw_dst=198.18.42.2 actions=drop";
    lab.ok(&["flow", "add", &a, drop]);
    assert!(
        !ping_once(&h1, "198.18.42.2"),
        "the drop flow let a ping through"
    );
    // a flow naming hosts
    lab.ok(&[
        "flow",
        "add",
        &a,
        &format!("priority=60001,ip,in_port={h1},nw_dst=198.18.42.2 actions=output:{h2}"),
    ]);
    assert!(
        ping_once(&h1, "198.18.42.2"),
        "the host-named flow did not forward"
    );
    // flow del removes swctl's, never a foreign one added by hand
    let foreign = "priority=5,arp actions=normal";
    ofctl(&["-O", "OpenFlow13", "add-flow", &mgmt(&a), foreign]);
    lab.ok(&["flow", "del", &a]);
    let left = ofctl_dump(&addr, &a);
    assert_eq!(left, ["priority=5,arp actions=NORMAL"], "{left:#?}");
    assert!(ping_once(&h1, "198.18.42.2"));
    // a flow that names no port of the switch is refused before anything
    let out = lab.swctl(&["flow", "add", &a, "actions=output:nosuchhost"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no port or host \"nosuchhost\""),
        "{}",
        text(&out)
    );
    let out = lab.swctl(&["flow", "add", &a, "ip,nw_src=1.2.3.4/40 actions=drop"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("column 11"), "{}", text(&out));
    lab.ok(&["switch", "del", &a, &b, &c]);
}

#[test]
fn flows_over_the_api_are_the_cli_s() {
    let lab = Lab::ovs("oi");
    let srv = common::serve::Server::start(&lab);
    let (br, h1, h2) = (lab.name("br"), lab.name("1"), lab.name("2"));
    lab.ok(&["ns", "add", &h1, &h2]);
    lab.ok(&["switch", "add", &br]);
    lab.ok(&["attach", &h1, &br, "--ip", "198.18.43.1/24"]);
    lab.ok(&["attach", &h2, &br, "--ip", "198.18.43.2/24"]);
    let flow = format!("priority=300,ip,in_port={h1},nw_dst=198.18.43.2 actions=drop");
    let r = srv.call("flow.add", serde_json::json!({"switch": br, "flow": flow}));
    assert_eq!(r["result"]["command"], "flow add", "{r}");
    assert!(
        !ping_once(&h1, "198.18.43.2"),
        "the API's drop flow let a ping through"
    );
    let r = srv.call("flow.list", serde_json::json!({"switch": br}));
    let flows = r["result"]["flows"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"));
    let mine: Vec<&serde_json::Value> = flows
        .iter()
        .filter(|f| f["owner"]["swctl"] == "cli")
        .collect();
    assert_eq!(mine.len(), 1, "{r}");
    assert_eq!(
        mine[0]["flow"],
        format!("priority=300,ip,in_port={h1},nw_dst=198.18.43.2 actions=drop")
    );
    // a bad flow: invalid params, with the column, nothing changed
    let r = srv.call(
        "flow.add",
        serde_json::json!({"switch": br, "flow": "ip,nw_dst=1.2.3 actions=drop"}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(
        r["error"]["data"]["causes"]
            .to_string()
            .contains("column 11"),
        "{r}"
    );
    let r = srv.call("flow.del", serde_json::json!({"switch": br, "match": "ip"}));
    assert_eq!(r["result"]["command"], "flow del", "{r}");
    assert!(ping_once(&h1, "198.18.43.2"));
    let r = srv.call(
        "flow.list",
        serde_json::json!({"switch": br, "color": "red"}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    lab.ok(&["switch", "del", &br]);
}

/// The flows of `sw` in `swctl --json flows`, by owner: (the lab's, foreign).
fn owned(lab: &Lab, sw: &str) -> (Vec<String>, Vec<String>) {
    let v = lab.json(&["flows", sw]);
    let mut mine = vec![];
    let mut foreign = vec![];
    for f in v["flows"].as_array().unwrap() {
        let t = f["flow"].as_str().unwrap().to_string();
        if f["owner"]["swctl"] == lab.p.as_str() {
            mine.push(t);
        } else if f["owner"] == "foreign" {
            foreign.push(t);
        }
    }
    (mine, foreign)
}

#[test]
fn declared_flows_steer_traffic_and_are_reconciled_by_cookie() {
    let lab = Lab::ovs("oj");
    let addr = lab.ovsdb.clone().unwrap();
    let br = lab.name("br");
    let (h1, h2, h3) = (lab.name("1"), lab.name("2"), lab.name("3"));
    let drop = "priority=100,ip,nw_dst=198.18.44.3 actions=drop".to_string();
    let steer = format!("priority=90,ip,in_port={h1},nw_dst=198.18.44.2 actions=output:{h2}");
    let file = ovs_lab(
        &lab,
        "flows.toml",
        &br,
        &format!("flows = [\"{drop}\", \"{steer}\"]"),
        &[
            (&h1, "198.18.44.1/24"),
            (&h2, "198.18.44.2/24"),
            (&h3, "198.18.44.3/24"),
        ],
    );
    lab.ok(&["apply", &file]);
    // at once: h3 is cut off, h2 reached through the steering flow
    assert!(
        !ping_once(&h1, "198.18.44.3"),
        "the declared drop let a ping through"
    );
    assert!(ping_once(&h1, "198.18.44.2"));
    // TCP through the steering flow, checked end to end
    let got = tcp_transfer(&h2, &h1, "198.18.44.2:5420".parse().unwrap(), 1 << 20).unwrap();
    assert_eq!(got, 1 << 20);
    let (mine, _) = owned(&lab, &br);
    assert_eq!(mine.len(), 2, "{mine:?}");
    // the oracle: ovs-ofctl sees both with the lab's cookie
    let mgmt = mgmt_of(&addr, &br);
    let cookie = {
        let v = lab.json(&["flows", &br]);
        v["flows"][0]["cookie"].as_str().unwrap().to_string()
    };
    let dump = ofctl(&[
        "-O",
        "OpenFlow13",
        "dump-flows",
        &mgmt,
        &format!("cookie={cookie}/-1"),
    ]);
    assert_eq!(dump.matches("cookie=").count(), 2, "{dump}");
    assert!(lab.ok(&["apply", &file]).contains("nothing to change"));

    // disturbed by hand: the drop deleted, a foreign flow added
    ofctl(&[
        "--strict",
        "del-flows",
        &mgmt,
        "priority=100,ip,nw_dst=198.18.44.3",
    ]);
    ofctl(&["add-flow", &mgmt, "priority=5,arp actions=normal"]);
    assert!(
        ping_once(&h1, "198.18.44.3"),
        "the drop is gone: h3 answers"
    );
    let out = lab.swctl(&["status", &file]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!("flows missing on {br}: \"{drop}\"")),
        "{t}"
    );
    // a foreign flow is not drift: said apart, as foreign
    assert!(
        t.lines()
            .filter(|l| l.contains("arp"))
            .all(|l| l.trim_start().starts_with("foreign")),
        "{t}"
    );
    assert!(
        t.contains(&format!("foreign  1 flow on {br} not the lab's")),
        "{t}"
    );
    lab.ok(&["apply", &file]);
    assert!(
        !ping_once(&h1, "198.18.44.3"),
        "the repaired drop let a ping through"
    );
    let (mine, foreign) = owned(&lab, &br);
    assert_eq!(mine.len(), 2);
    assert!(
        foreign.iter().any(|f| f.contains("arp")),
        "the foreign flow survived: {foreign:?}"
    );
    assert!(lab.ok(&["apply", &file]).contains("nothing to change"));

    // a flow dropped from the file goes; the other and the foreign stay
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace(&format!("\"{drop}\", "), "");
    std::fs::write(&file, edited).unwrap();
    lab.ok(&["apply", &file]);
    assert!(ping_once(&h1, "198.18.44.3"));
    let (mine, foreign) = owned(&lab, &br);
    assert_eq!(mine, [steer]);
    assert!(foreign.iter().any(|f| f.contains("arp")));
    lab.ok(&["destroy", &file]);
    assert!(!vsctl(&addr, &["br-exists", &br]).status.success());
}

#[test]
fn flow_changes_on_a_watched_lab_arrive_as_events() {
    use common::serve::{Server, WsClient};
    let lab = Lab::ovs("ok");
    let addr = lab.ovsdb.clone().unwrap();
    let br = lab.name("br");
    let h1 = lab.name("1");
    let drop = "priority=100,ip,nw_dst=198.18.45.9 actions=drop";
    let file = ovs_lab(
        &lab,
        "watch.toml",
        &br,
        &format!("flows = [\"{drop}\"]"),
        &[(&h1, "198.18.45.1/24")],
    );
    lab.ok(&["apply", &file]);
    let srv = Server::start(&lab);
    let mut ws = WsClient::connect(&srv);
    let v = ws.call("lab.watch", serde_json::json!({"name": lab.p}));
    assert!(v["result"].is_number() || v["result"].is_string(), "{v}");
    let hello = ws.next(5.0).expect("the first event");
    assert!(
        hello["flows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == br.as_str()),
        "{hello}"
    );
    let mgmt = mgmt_of(&addr, &br);
    let flow_event = |change: &'static str, owner: String| {
        move |v: &serde_json::Value| {
            v["object"] == "flow" && v["change"] == change && v["owner"] == owner.as_str()
        }
    };
    // the lab's flow deleted by hand: heard within a second
    ofctl(&[
        "--strict",
        "del-flows",
        &mgmt,
        "priority=100,ip,nw_dst=198.18.45.9",
    ]);
    let (hit, seen) = ws.until(1.0, flow_event("removed", lab.p.clone()));
    let hit = hit.unwrap_or_else(|| panic!("not heard: {seen:#?}"));
    assert!(
        hit["detail"]
            .as_str()
            .unwrap()
            .contains("nw_dst=198.18.45.9"),
        "{hit}"
    );
    assert_eq!(hit["switch"], br.as_str());
    // a foreign flow added by hand
    ofctl(&["add-flow", &mgmt, "priority=5,arp actions=normal"]);
    let (hit, seen) = ws.until(1.0, flow_event("added", "foreign".into()));
    assert!(hit.is_some(), "not heard: {seen:#?}");
    // apply puts the lab's back: heard as the lab's
    lab.ok(&["apply", &file]);
    let (hit, seen) = ws.until(1.0, flow_event("added", lab.p.clone()));
    assert!(hit.is_some(), "not heard: {seen:#?}");
    lab.ok(&["destroy", &file]);
}

#[test]
fn the_flows_bench_writes_them_both_ways_and_counts() {
    let lab = Lab::ovs("ol");
    let v = lab.json(&["bench", "--flows", "300", "--repeat", "1"]);
    assert_eq!(v["flows"], 300, "{v}");
    assert!(
        v["swctl_s"].as_f64().unwrap() > 0.0 && v["ovs_ofctl_s"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    let out = lab.swctl(&["bench", "--flows", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
