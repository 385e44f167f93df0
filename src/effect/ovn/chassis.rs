//! A machine's Open vSwitch as an OVN chassis: the root row's external_ids
//! that ovn-controller reads (`ovs-vsctl set Open_vSwitch .
//! external_ids:system-id=.. ovn-remote=.. ovn-encap-type=geneve
//! ovn-encap-ip=.. ovn-bridge=.. ovn-bridge-datapath-type=..`), and
//! ovn-controller itself, started in the calling process's network
//! namespace with its files in the machine's Open vSwitch directory.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::effect::ovs::sandbox::{SandboxError, pid_in, run};
use crate::ovsdb::Client;
use crate::ovsdb::ops::{Expect, Op, Row, Txn, set_keys};

/// The integration bridge ovn-controller makes and binds ports on.
pub const INTEGRATION_BRIDGE: &str = "br-int";

/// What makes an Open vSwitch a chassis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChassisConfig {
    /// its name in the Southbound database
    pub system_id: String,
    /// the Southbound database (unix:PATH on simulated machines: one
    /// filesystem, no network needed)
    pub remote: String,
    /// the tunnel endpoint address (geneve)
    pub encap_ip: std::net::IpAddr,
    /// the integration bridge's datapath type (netdev without the kernel's
    /// openvswitch module: ovn-controller leaves it to the default
    /// otherwise, which does not exist there)
    pub datapath: String,
}

impl ChassisConfig {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("system-id", self.system_id.clone()),
            ("ovn-remote", self.remote.clone()),
            ("ovn-encap-type", "geneve".into()),
            ("ovn-encap-ip", self.encap_ip.to_string()),
            ("ovn-bridge", INTEGRATION_BRIDGE.into()),
            ("ovn-bridge-datapath-type", self.datapath.clone()),
        ]
    }
}

/// The chassis settings in the root row now (those `configure` writes).
pub async fn read(c: &Client) -> Result<std::collections::BTreeMap<String, String>, SandboxError> {
    let mut t = Txn::new();
    t.push(
        Op::Select {
            table: "Open_vSwitch".into(),
            wh: vec![],
            columns: Some(vec!["external_ids".into()]),
        },
        Expect::Any,
    );
    let r = c.transact(&t).await?;
    Ok(r[0]["rows"]
        .get(0)
        .map(|v| Row::from_value(v).map("external_ids"))
        .unwrap_or_default())
}

/// Write the chassis settings into the root row, keeping its other
/// external_ids; nothing when they are already so.
pub async fn configure(c: &Client, cfg: &ChassisConfig) -> Result<bool, SandboxError> {
    let have = read(c).await?;
    let pairs = cfg.pairs();
    if pairs
        .iter()
        .all(|(k, v)| have.get(*k).map(String::as_str) == Some(v.as_str()))
    {
        return Ok(false);
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut t = Txn::new();
    t.push(
        set_keys("Open_vSwitch", "external_ids", &pairs),
        Expect::Count(1),
    );
    c.transact(&t).await?;
    Ok(true)
}

/// Whether ovn-controller of the machine whose Open vSwitch lives in `dir`
/// runs (in any namespace).
pub fn running(dir: &Path) -> Option<i32> {
    pid_in(&dir.join("ovn-controller.pid"), "ovn-controller")
}

/// Start ovn-controller for the Open vSwitch in `dir` (here, in this
/// process's network namespace) unless it runs, and wait until it has made
/// the integration bridge. (ovn-controller 23.03 takes no `--unixctl`: its
/// control socket is `ovn-controller.PID.ctl` in `dir`.)
pub async fn start(dir: &Path, ovs: &Client) -> Result<(), SandboxError> {
    if running(dir).is_none() {
        let d = |f: &str| dir.join(f).display().to_string();
        run(
            dir,
            "ovn-controller",
            &[
                format!("unix:{}", d("db.sock")),
                format!("--pidfile={}", d("ovn-controller.pid")),
                format!("--log-file={}", d("ovn-controller.log")),
                "--detach".into(),
            ],
        )?;
    }
    let t0 = Instant::now();
    loop {
        let mut t = Txn::new();
        t.push(
            Op::Select {
                table: "Bridge".into(),
                wh: vec![crate::ovsdb::ops::cond(
                    "name",
                    "==",
                    json!(INTEGRATION_BRIDGE),
                )],
                columns: Some(vec!["_uuid".into()]),
            },
            Expect::Any,
        );
        let r = ovs.transact(&t).await?;
        if r[0]["rows"].as_array().is_some_and(|a| !a.is_empty()) {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(SandboxError::NotReady {
                what: format!("ovn-controller's {INTEGRATION_BRIDGE}"),
                secs: 10,
                log: dir.join("ovn-controller.log").display().to_string(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stop the machine's ovn-controller the way `ovn-appctl exit` does, so
/// that it removes its own chassis from the Southbound database (killed,
/// it leaves the rows, and a lab's `hv_cfg` would wait for a chassis that
/// is gone); a signal when it does not answer. Nothing when it is not
/// running.
pub async fn stop(dir: &Path) -> Result<(), SandboxError> {
    let Some(pid) = running(dir) else {
        return Ok(());
    };
    let ctl = format!(
        "unix:{}",
        dir.join(format!("ovn-controller.{pid}.ctl")).display()
    );
    if let Ok(c) = Client::connect(&ctl).await {
        let _ = tokio::time::timeout(Duration::from_secs(5), c.request("exit", json!([]))).await;
        let t = Instant::now();
        while running(dir).is_some() && t.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    crate::effect::ovs::sandbox::stop_daemons(dir, &[("ovn-controller", "ovn-controller")])?;
    Ok(())
}
