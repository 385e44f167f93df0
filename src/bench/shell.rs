//! The tutorials' commands for the bench lab (`--compare-shell`, and the
//! `setup` benchmark): the one place swctl runs `ip` and `ovs-vsctl`, to
//! time the same lab built the way people build it by hand.

use std::time::Instant;

use super::{BenchError, Wiring, addr, fail, host, switch_name};

/// Where the reference commands keep the Open vSwitch of each machine of
/// the `ovs-vxlan` lab.
const REF_DIR: &str = "/run/swctl/bench-ref";

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
        // no hand-typed reference for OVN (`measure` does not ask for one)
        Wiring::Veth | Wiring::Ovn => {}
        Wiring::BridgeVxlan => {
            // two machines by hand: an underlay namespace with a bridge, a
            // namespace per machine with its VTEP, a bridge and a vxlan
            // device flooding to the other (the notes' recipe)
            let u = format!("{br}su");
            let _ = writeln!(
                up,
                "ip netns add {u}\nip -n {u} link set lo up\nip -n {u} link add ub type bridge\nip -n {u} link set ub up"
            );
            for k in 1..=2u8 {
                let m = format!("{br}sm{k}");
                let other = 3 - k;
                let _ = writeln!(
                    up,
                    "ip netns add {m}\nip -n {m} link set lo up\n\
                     ip link add u netns {m} mtu 1600 type veth peer name u{k} netns {u} mtu 1600\n\
                     ip -n {u} link set u{k} master ub up\n\
                     ip -n {m} addr add 198.18.254.{k}/24 dev u && ip -n {m} link set u up\n\
                     ip -n {m} link add {br} type bridge stp_state 0 && ip -n {m} link set {br} up\n\
                     ip -n {m} link add vx type vxlan id 4242 local 198.18.254.{k} dstport 4789 nolearning\n\
                     ip -n {m} link set vx master {br} up\n\
                     bridge -n {m} fdb append 00:00:00:00:00:00 dev vx dst 198.18.254.{other}"
                );
            }
        }
        Wiring::OvsVxlan => {
            // two machines by hand, each with its own Open vSwitch started
            // in its namespace, the VTEP on an OVS bridge holding the
            // underlay, a protected vxlan port to the other (the notes)
            let u = format!("{br}su");
            let _ = writeln!(
                up,
                "ip netns add {u}\nip -n {u} link set lo up\nip -n {u} link add ub type bridge\nip -n {u} link set ub up"
            );
            for k in 1..=2u8 {
                let m = format!("{br}sm{k}");
                let d = format!("{REF_DIR}/{m}");
                let mv = format!("ovs-vsctl --db=unix:{d}/db.sock");
                let other = 3 - k;
                let _ = writeln!(
                    up,
                    "ip netns add {m}\nip -n {m} link set lo up\n\
                     ip link add u netns {m} mtu 1600 type veth peer name u{k} netns {u} mtu 1600\n\
                     ip -n {u} link set u{k} master ub up && ip -n {m} link set u up\n\
                     mkdir -p {d} && export OVS_RUNDIR={d} OVS_LOGDIR={d} OVS_DBDIR={d}\n\
                     ovsdb-tool create {d}/conf.db /usr/share/openvswitch/vswitch.ovsschema\n\
                     ip netns exec {m} ovsdb-server {d}/conf.db --remote=punix:{d}/db.sock --pidfile={d}/ovsdb-server.pid --unixctl={d}/ovsdb-server.ctl --log-file={d}/ovsdb-server.log --detach\n\
                     {mv} --no-wait init\n\
                     ip netns exec {m} ovs-vswitchd unix:{d}/db.sock --pidfile={d}/ovs-vswitchd.pid --unixctl={d}/ovs-vswitchd.ctl --log-file={d}/ovs-vswitchd.log --detach\n\
                     {mv} add-br phy -- set Bridge phy datapath_type=netdev fail_mode=standalone -- add-port phy u -- set Interface phy mtu_request=1600\n\
                     ip -n {m} addr add 198.18.254.{k}/24 dev phy && ip -n {m} link set phy up\n\
                     {mv} add-br {br} -- set Bridge {br} datapath_type=netdev fail_mode=standalone\n\
                     {mv} add-port {br} vx protected=true -- set Interface vx type=vxlan options:remote_ip=198.18.254.{other} options:key=4242"
                );
            }
        }
    }
    for i in 0..n {
        let h = host(i);
        let a = addr(i);
        let _ = writeln!(up, "ip netns add {h}\nip -n {h} link set lo up");
        let p = format!("r{}-{i}", std::process::id() % 10000);
        match w {
            Wiring::Ovn => {}
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
            Wiring::BridgeVxlan => {
                let m = format!("{br}sm{}", i % 2 + 1);
                let _ = writeln!(
                    up,
                    "ip -n {m} link add {p} type veth peer name eth0 netns {h}"
                );
                let _ = writeln!(up, "ip -n {m} link set {p} master {br} up");
                let _ = writeln!(
                    up,
                    "ip -n {h} link set eth0 up && ip -n {h} addr add {a} dev eth0"
                );
            }
            Wiring::OvsVxlan => {
                let m = format!("{br}sm{}", i % 2 + 1);
                let mv = format!("ovs-vsctl --db=unix:{REF_DIR}/{m}/db.sock");
                let _ = writeln!(
                    up,
                    "{mv} add-port {br} {p} -- set Interface {p} type=internal"
                );
                let _ = writeln!(
                    up,
                    "ip -n {m} link set {p} netns {h} && ip -n {h} link set {p} name eth0"
                );
                let _ = writeln!(
                    up,
                    "ip -n {h} link set eth0 up && ip -n {h} addr add {a} dev eth0"
                );
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
        Wiring::Veth | Wiring::Ovn => {}
        Wiring::BridgeVxlan => {
            let _ = writeln!(
                down,
                "ip netns del {br}sm1\nip netns del {br}sm2\nip netns del {br}su"
            );
        }
        Wiring::OvsVxlan => {
            for k in 1..=2 {
                let d = format!("{REF_DIR}/{br}sm{k}");
                let _ = writeln!(
                    down,
                    "ovs-appctl -t {d}/ovs-vswitchd.ctl exit\novs-appctl -t {d}/ovsdb-server.ctl exit\n\
                     ip netns del {br}sm{k}\nrm -rf {d}"
                );
            }
            let _ = writeln!(
                down,
                "ip netns del {br}su\nrmdir --ignore-fail-on-non-empty {REF_DIR}"
            );
        }
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
