//! `OvsChange` in words: each planned OVSDB change as the `ovs-vsctl`
//! command that would make it (what `plan` prints and `swctl -v` logs).

use std::fmt::Write as _;

use super::openflow::OpenFlow;
use super::ovs::{K_OWNER, OvsChange};

/// The rest of a bridge's OpenFlow settings as ovs-vsctl words (`all`:
/// the defaults too, to put back what was changed).
fn openflow_words(
    f: &mut std::fmt::Formatter<'_>,
    br: &str,
    o: &OpenFlow,
    all: bool,
) -> std::fmt::Result {
    if !o.controllers.is_empty() {
        write!(f, " -- set-controller {br} {}", o.controllers.join(" "))?;
    } else if all {
        write!(f, " -- del-controller {br}")?;
    }
    if !o.protocols.is_empty() {
        write!(f, " -- set Bridge {br} protocols={}", o.protocols.join(","))?;
    } else if all {
        write!(f, " -- clear Bridge {br} protocols")?;
    }
    match &o.datapath_id {
        Some(id) => write!(f, " -- set Bridge {br} other_config:datapath-id={id}"),
        None if all => write!(f, " -- remove Bridge {br} other_config datapath-id"),
        None => Ok(()),
    }
}

impl std::fmt::Display for OvsChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ovs-vsctl --db={} ", self.db())?;
        match self {
            OvsChange::AddBridge {
                name,
                datapath_type,
                hwaddr,
                openflow,
                ..
            } => {
                write!(
                    f,
                    "add-br {name} -- set Bridge {name} datapath_type={datapath_type} fail_mode={} other_config:hwaddr=\"{hwaddr}\"",
                    openflow.fail_mode.as_str()
                )?;
                openflow_words(f, name, openflow, false)
            }
            OvsChange::SetOpenflow {
                bridge, openflow, ..
            } => {
                write!(f, "set-fail-mode {bridge} {}", openflow.fail_mode.as_str())?;
                openflow_words(f, bridge, openflow, true)
            }
            OvsChange::DelBridge { name, .. } => write!(f, "del-br {name}"),
            OvsChange::SetTag {
                port, tag: Some(t), ..
            } => write!(f, "set Port {port} tag={t}"),
            OvsChange::SetTag {
                port, tag: None, ..
            } => write!(f, "clear Port {port} tag"),
            OvsChange::AddPort {
                bridge,
                port,
                internal,
                tag,
                mac,
                iface_id,
                mtu,
                ..
            } => {
                write!(f, "add-port {bridge} {port}")?;
                if let Some(t) = tag {
                    write!(f, " tag={t}")?;
                }
                if *internal {
                    write!(f, " -- set Interface {port} type=internal")?;
                    if let Some(m) = mac {
                        write!(f, " mac=\"{m}\"")?;
                    }
                    if let Some(m) = mtu {
                        write!(f, " mtu_request={m}")?;
                    }
                }
                if let Some(id) = iface_id {
                    write!(f, " -- set Interface {port} external_ids:iface-id={id}")?;
                }
                Ok(())
            }
            OvsChange::DelPort { bridge, port, .. } => {
                write!(f, "del-port {bridge} {port}")
            }
            OvsChange::AddTrunk {
                bridge,
                port,
                vlans,
                native,
                ..
            } => {
                write!(f, "add-port {bridge} {port}")?;
                trunk_words(f, vlans, *native)
            }
            OvsChange::SetTrunk {
                port,
                vlans,
                native,
                ..
            } => {
                write!(f, "set Port {port}")?;
                trunk_words(f, vlans, *native)
            }
            OvsChange::AddBond {
                bridge,
                port,
                members,
                vlans,
                native,
                mode,
                lacp,
                ..
            } => {
                write!(
                    f,
                    "add-bond {bridge} {port} {} bond_mode={} lacp={} other_config:lacp-time=fast",
                    members.join(" "),
                    mode.as_str(),
                    lacp.as_str()
                )?;
                trunk_words(f, vlans, *native)
            }
            OvsChange::SetBond {
                port, mode, lacp, ..
            } => write!(
                f,
                "set Port {port} bond_mode={} lacp={} other_config:lacp-time=fast",
                mode.as_str(),
                lacp.as_str()
            ),
            OvsChange::SetMirror {
                bridge,
                name,
                uuid,
                select,
                vlans,
                output,
                ..
            } => {
                let port = |p: &super::ovs::HostPort| {
                    p.name
                        .clone()
                        .unwrap_or_else(|| format!("<port of {}>", p.ns))
                };
                let mut cols = String::new();
                match select {
                    None => cols += " select_all=true",
                    Some(ps) => {
                        let names: Vec<String> = ps.iter().map(port).collect();
                        let _ = write!(
                            cols,
                            " select_src_port={0} select_dst_port={0}",
                            names.join(",")
                        );
                    }
                }
                if !vlans.is_empty() {
                    let v: Vec<String> = vlans.iter().map(|v| v.to_string()).collect();
                    let _ = write!(cols, " select_vlan={}", v.join(","));
                }
                let _ = write!(cols, " output_port={}", port(output));
                match uuid {
                    Some(_) => write!(f, "set Mirror {name}{cols}"),
                    None => write!(
                        f,
                        "-- --id=@m create Mirror name={name}{cols} -- add Bridge {bridge} mirrors @m"
                    ),
                }
            }
            OvsChange::DelMirror { bridge, name, .. } => write!(
                f,
                "-- --id=@m get Mirror {name} -- remove Bridge {bridge} mirrors @m"
            ),
            OvsChange::AddBondIface { port, iface, .. } => {
                write!(f, "add-bond-iface {port} {iface}")
            }
            OvsChange::DelBondIface { port, iface, .. } => {
                write!(f, "del-bond-iface {port} {iface}")
            }
            OvsChange::SetSpanning {
                bridge, spanning, ..
            } => write!(
                f,
                "set Bridge {bridge} stp_enable={} rstp_enable={}",
                spanning.stp, spanning.rstp
            ),
            OvsChange::AddPatch {
                a_bridge,
                a_port,
                b_bridge,
                b_port,
                vlans,
                native,
                ..
            } => {
                for (br, port, peer, sep) in [
                    (a_bridge, a_port, b_port, ""),
                    (b_bridge, b_port, a_port, " -- "),
                ] {
                    write!(f, "{sep}add-port {br} {port}")?;
                    trunk_words(f, vlans, *native)?;
                    write!(f, " -- set Interface {port} type=patch options:peer={peer}")?;
                }
                Ok(())
            }
            OvsChange::AddTunnel {
                bridge,
                port,
                remote,
                key,
                dst_port,
                ..
            } => write!(
                f,
                "add-port {bridge} {port} protected=true -- set Interface {port} type=vxlan options:remote_ip={remote} options:key={key} options:dst_port={dst_port}"
            ),
            OvsChange::AddUplink { bridge, port, .. } => write!(f, "add-port {bridge} {port}"),
            OvsChange::SetMtu { iface, mtu, .. } => {
                write!(f, "set Interface {iface} mtu_request={mtu}")
            }
            OvsChange::SetOwner {
                table, name, owner, ..
            } => write!(f, "set {table} {name} external_ids:{K_OWNER}={owner}"),
        }
    }
}

/// ` trunks=10,20 tag=5 vlan_mode=native-untagged` (what a trunk port is
/// set to; nothing said: every VLAN, untagged frames as VLAN 0)
fn trunk_words(
    f: &mut std::fmt::Formatter<'_>,
    vlans: &[u16],
    native: Option<u16>,
) -> std::fmt::Result {
    if vlans.is_empty() {
        write!(f, " trunks=[]")?;
    } else {
        let v: Vec<String> = vlans.iter().map(|v| v.to_string()).collect();
        write!(f, " trunks={}", v.join(","))?;
    }
    match native {
        Some(n) => write!(f, " tag={n} vlan_mode=native-untagged"),
        None => write!(f, " tag=[] vlan_mode=trunk"),
    }
}
