//! ovs-vswitchd's control socket (what `ovs-appctl` talks to: JSON-RPC,
//! as OVSDB): found beside the OVSDB socket of its server (swctl's sandbox:
//! `ovs-vswitchd.ctl`) or as Debian names it (`ovs-vswitchd.PID.ctl` in
//! /run/openvswitch), and `revalidator/purge` after a mirror changed.
//!
//! Why: OVS 3.1 on the userspace datapath keeps the datapath flows that
//! drop what a mirror's output port sends after the mirror is gone —
//! measured here: a host whose port had been a mirror's output still could
//! not ping its neighbour after the mirror was removed (`ovs-appctl
//! dpctl/dump-flows`: `in_port(4),eth_type(0x0806) ... actions:drop`, its
//! `used` kept fresh by the ARP retries, so it never idles out), and
//! `ovs-appctl revalidator/purge` ended it at once. A purge only costs
//! each flow its next first packet.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::ovsdb::Client;

/// ovs-vswitchd's control socket for the OVSDB server at `ovsdb`, where
/// one is there.
pub fn vswitchd_ctl(ovsdb: &str) -> Option<PathBuf> {
    let dir = ovsdb
        .strip_prefix("unix:")
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("/run/openvswitch"));
    let plain = dir.join("ovs-vswitchd.ctl");
    if plain.exists() {
        return Some(plain);
    }
    let pid = std::fs::read_to_string(dir.join("ovs-vswitchd.pid")).ok()?;
    let ctl = dir.join(format!("ovs-vswitchd.{}.ctl", pid.trim()));
    ctl.exists().then_some(ctl)
}

/// `ovs-appctl -t CTL revalidator/purge`: every datapath flow of that
/// ovs-vswitchd dropped, made again from the OpenFlow tables on the next
/// packet. Best effort: the change is made either way; why not, if not.
pub async fn purge_datapath_flows(ovsdb: &str) -> Result<(), String> {
    let ctl = vswitchd_ctl(ovsdb)
        .ok_or_else(|| format!("no control socket of ovs-vswitchd beside {ovsdb}"))?;
    let c = Client::connect(&format!("unix:{}", ctl.display()))
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(
        Duration::from_secs(5),
        c.request("revalidator/purge", json!([])),
    )
    .await
    .map_err(|_| "revalidator/purge did not answer within 5 s".to_string())?
    .map(|_| ())
    .map_err(|e| e.to_string())
}
