//! The fake's simulated OVSDB server: bridges and ports as rows with
//! external_ids, internal ports appearing as `tun` devices in the host
//! namespace (as ovs-vswitchd's userspace datapath makes them), one
//! recorded "transaction" per batch.

use super::Fake;
use crate::effect::OvsDb;
use crate::model::names::Loc;
use crate::model::ovs::{K_NS, K_OWNER, K_ROLE, K_SWITCH, OvsBridge, OvsChange, OvsPort, OvsState};
use crate::ovsdb::OvsdbError;

impl OvsDb for Fake {
    async fn ovs_state(&self) -> Result<Result<OvsState, String>, OvsdbError> {
        Ok(self
            .ovs
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| "no OVSDB server answers (fake)".to_string()))
    }

    async fn ovs_apply(&self, changes: &[OvsChange]) -> Result<(), OvsdbError> {
        let op = format!(
            "ovsdb transact: {}",
            changes
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" -- ")
        );
        self.record(op.clone()).map_err(|e| OvsdbError::Commit {
            error: e.to_string(),
            details: None,
        })?;
        let mut guard = self.ovs.lock().unwrap();
        let st = guard
            .as_mut()
            .ok_or_else(|| OvsdbError::Schema("no fake OVSDB".into()))?;
        let mut new_host_links = vec![];
        let mut gone_host_links = vec![];
        let mut set_mtu = vec![];
        for c in changes {
            match c {
                OvsChange::AddBridge {
                    db,
                    name,
                    datapath_type,
                    owner,
                    hwaddr,
                } => {
                    if st.bridge(name).is_some() {
                        return Err(OvsdbError::Commit {
                            error: "constraint violation".into(),
                            details: Some(format!("bridge {name} exists")),
                        });
                    }
                    let port = OvsPort {
                        tag: None,
                        protected: false,
                        uuid: self.uuid(),
                        name: name.clone(),
                        external_ids: Default::default(),
                        ifaces: vec![self.iface(name, "internal")],
                    };
                    st.bridges.push(OvsBridge {
                        db: db.clone(),
                        uuid: self.uuid(),
                        name: name.clone(),
                        datapath_type: datapath_type.clone(),
                        external_ids: [
                            (K_OWNER.to_string(), owner.to_string()),
                            (K_ROLE.to_string(), "switch".into()),
                        ]
                        .into(),
                        ports: vec![port],
                    });
                    new_host_links.push((name.clone(), Some(*hwaddr)));
                }
                OvsChange::DelBridge { name, .. } => {
                    if let Some(b) = st.bridges.iter().find(|b| &b.name == name) {
                        for p in &b.ports {
                            if p.internal() {
                                gone_host_links.push(p.name.clone());
                            }
                        }
                    }
                    st.bridges.retain(|b| &b.name != name);
                }
                OvsChange::SetTag { uuid, tag, .. } => {
                    let p = st
                        .bridges
                        .iter_mut()
                        .flat_map(|b| b.ports.iter_mut())
                        .find(|p| &p.uuid == uuid)
                        .ok_or_else(|| OvsdbError::Count {
                            op: "update Port".into(),
                            expected: "1".into(),
                            got: 0,
                        })?;
                    p.tag = tag.map(i64::from);
                }
                OvsChange::AddPort {
                    bridge,
                    port,
                    internal,
                    tag,
                    mark,
                    mac,
                    ..
                } => {
                    let (ns, sw) = mark.port_ids();
                    let ifc = self.iface(port, if *internal { "internal" } else { "" });
                    let p = OvsPort {
                        tag: tag.map(i64::from),
                        protected: false,
                        uuid: self.uuid(),
                        name: port.clone(),
                        external_ids: [
                            (K_OWNER.to_string(), mark.owner().to_string()),
                            (K_ROLE.to_string(), "port".into()),
                            (K_NS.to_string(), ns),
                            (K_SWITCH.to_string(), sw),
                        ]
                        .into(),
                        ifaces: vec![ifc],
                    };
                    let b = st
                        .bridges
                        .iter_mut()
                        .find(|b| &b.name == bridge)
                        .ok_or_else(|| OvsdbError::Count {
                            op: format!("mutate Bridge {bridge}"),
                            expected: "1".into(),
                            got: 0,
                        })?;
                    b.ports.push(p);
                    if *internal {
                        new_host_links.push((port.clone(), *mac));
                    }
                }
                OvsChange::AddTunnel {
                    bridge,
                    port,
                    remote,
                    key,
                    dst_port,
                    owner,
                    ..
                } => {
                    let mut ifc = self.iface(port, "vxlan");
                    ifc.options = [
                        ("remote_ip".to_string(), remote.to_string()),
                        ("key".to_string(), key.to_string()),
                        ("dst_port".to_string(), dst_port.to_string()),
                    ]
                    .into();
                    let p = self.role_port(port, ifc, owner, "tunnel", bridge, true);
                    push_port(st, bridge, p)?;
                }
                OvsChange::AddUplink {
                    bridge,
                    port,
                    owner,
                    ..
                } => {
                    let ifc = self.iface(port, "");
                    let p = self.role_port(port, ifc, owner, "uplink", bridge, false);
                    push_port(st, bridge, p)?;
                }
                OvsChange::SetMtu { iface, mtu, .. } => {
                    set_mtu.push((iface.clone(), *mtu));
                }
                OvsChange::SetOwner { uuid, owner, .. } => {
                    let k = crate::model::ovs::K_OWNER.to_string();
                    for b in st.bridges.iter_mut() {
                        if &b.uuid == uuid {
                            b.external_ids.insert(k.clone(), owner.to_string());
                        }
                        for p in b.ports.iter_mut().filter(|p| &p.uuid == uuid) {
                            p.external_ids.insert(k.clone(), owner.to_string());
                        }
                    }
                }
                OvsChange::DelPort { bridge, port, .. } => {
                    if let Some(b) = st.bridges.iter_mut().find(|b| &b.name == bridge) {
                        if b.ports.iter().any(|p| &p.name == port && p.internal()) {
                            gone_host_links.push(port.clone());
                        }
                        b.ports.retain(|p| &p.name != port);
                    }
                }
            }
        }
        drop(guard);
        for n in gone_host_links {
            self.remove_link(&Loc::Host, &n);
        }
        for (n, mac) in new_host_links {
            let mut l = self.new_link(&n, "tun", "");
            l.mac = mac;
            l.alias = None;
            l.mark = None;
            l.up = false;
            self.sys.lock().unwrap().host.links.push(l);
        }
        let mut sys = self.sys.lock().unwrap();
        for (n, mtu) in set_mtu {
            if let Some(l) = sys.host.links.iter_mut().find(|l| l.name == n) {
                l.mtu = mtu;
            }
        }
        Ok(())
    }
}

impl Fake {
    /// A Port row of a tunnel or uplink, as swctl writes it.
    fn role_port(
        &self,
        name: &str,
        ifc: crate::model::ovs::OvsIface,
        owner: &crate::model::names::Owner,
        role: &str,
        bridge: &str,
        protected: bool,
    ) -> OvsPort {
        OvsPort {
            tag: None,
            protected,
            uuid: self.uuid(),
            name: name.to_string(),
            external_ids: [
                (K_OWNER.to_string(), owner.to_string()),
                (K_ROLE.to_string(), role.to_string()),
                (K_SWITCH.to_string(), bridge.to_string()),
            ]
            .into(),
            ifaces: vec![ifc],
        }
    }
}

/// `ports += P` on bridge `bridge`, which must exist.
fn push_port(st: &mut OvsState, bridge: &str, p: OvsPort) -> Result<(), OvsdbError> {
    let b = st
        .bridges
        .iter_mut()
        .find(|b| b.name == bridge)
        .ok_or_else(|| OvsdbError::Count {
            op: format!("mutate Bridge {bridge}"),
            expected: "1".into(),
            got: 0,
        })?;
    b.ports.push(p);
    Ok(())
}
