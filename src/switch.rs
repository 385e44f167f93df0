//! The `Switch` trait: what every backend does (create/delete a switch,
//! plug/unplug a port, describe its switches from an observation, say which
//! wirings it supports), and the Linux-bridge backend over rtnetlink.
//! The OVS backend implements the same trait over OVSDB.

use serde::Serialize;

use crate::model::{Backend, Mark, Observed, Via};
use crate::names::{Cidr, Loc, NsName, Owner};
use crate::netlink::{LinkChange, Netlink, NlError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortInfo {
    /// the switch-side device
    pub dev: String,
    /// the namespace at the other end, when swctl made the port
    pub ns: Option<NsName>,
    pub owner: Option<Owner>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchInfo {
    pub name: String,
    pub backend: Backend,
    pub loc: Loc,
    /// None: not created by swctl (swctl still lists and attaches to it)
    pub owner: Option<Owner>,
    pub up: bool,
    pub addrs: Vec<Cidr>,
    pub ports: Vec<PortInfo>,
}

#[allow(async_fn_in_trait)]
pub trait Switch {
    fn backend(&self) -> Backend;
    /// the wirings this backend can attach a namespace with; `auto` picks the first
    fn wirings(&self) -> &'static [Via];
    async fn create(&self, loc: &Loc, name: &str, mark: &Mark) -> Result<(), NlError>;
    async fn delete(&self, loc: &Loc, name: &str) -> Result<(), NlError>;
    async fn add_port(&self, loc: &Loc, switch: &str, dev: &str) -> Result<(), NlError>;
    async fn del_port(&self, loc: &Loc, switch: &str, dev: &str) -> Result<(), NlError>;
    /// this backend's switches in an observation (`swctl switch list`)
    fn list(&self, o: &Observed, only_owned: bool) -> Vec<SwitchInfo>;
}

/// The Linux bridge, driven over rtnetlink.
pub struct LinuxBridge<'a, N> {
    pub nl: &'a N,
}

impl<N: Netlink> Switch for LinuxBridge<'_, N> {
    fn backend(&self) -> Backend {
        Backend::Bridge
    }

    fn wirings(&self) -> &'static [Via] {
        &[Via::Veth]
    }

    /// `ip link add NAME type bridge stp_state 0 && ip link set NAME up`
    async fn create(&self, loc: &Loc, name: &str, mark: &Mark) -> Result<(), NlError> {
        self.nl.add_bridge(loc, name, &mark.to_alias()).await
    }

    /// `ip link del NAME`
    async fn delete(&self, loc: &Loc, name: &str) -> Result<(), NlError> {
        self.nl.del_link(loc, name).await
    }

    /// `ip link set DEV master SWITCH`
    async fn add_port(&self, loc: &Loc, switch: &str, dev: &str) -> Result<(), NlError> {
        let c = LinkChange {
            master: Some(switch.into()),
            ..Default::default()
        };
        self.nl.set_link(loc, dev, &c).await
    }

    /// `ip link set DEV nomaster` is what brctl delif does; swctl's ports are
    /// veth pairs, so unplugging one deletes the pair (`ip link del DEV`).
    async fn del_port(&self, loc: &Loc, _switch: &str, dev: &str) -> Result<(), NlError> {
        self.nl.del_link(loc, dev).await
    }

    fn list(&self, o: &Observed, only_owned: bool) -> Vec<SwitchInfo> {
        let mut out = Vec::new();
        for (loc, st) in o.locs() {
            for l in st
                .links
                .iter()
                .filter(|l| l.kind.as_deref() == Some("bridge"))
            {
                let owner = match &l.mark {
                    Some(Mark::Switch { owner }) => Some(owner.clone()),
                    _ => None,
                };
                if only_owned && owner.is_none() {
                    continue;
                }
                let ports = st
                    .links
                    .iter()
                    .filter(|p| p.master.as_deref() == Some(l.name.as_str()))
                    .map(|p| {
                        let (ns, owner) = match &p.mark {
                            Some(Mark::Port { ns, owner, .. }) => {
                                (Some(ns.clone()), Some(owner.clone()))
                            }
                            _ => (None, None),
                        };
                        PortInfo {
                            dev: p.name.clone(),
                            ns,
                            owner,
                        }
                    })
                    .collect();
                out.push(SwitchInfo {
                    name: l.name.clone(),
                    backend: Backend::Bridge,
                    loc: loc.clone(),
                    owner,
                    up: l.up,
                    addrs: l.addrs.clone(),
                    ports,
                });
            }
        }
        out
    }
}

/// Open vSwitch, driven over OVSDB. The planner batches OVS changes into
/// one transaction per apply; these single-change methods serve callers
/// that want one switch operation.
pub struct OvsSwitch<'a> {
    pub ovs: &'a crate::ovs::Ovs,
}

fn ovs_err(e: crate::ovsdb::OvsdbError) -> NlError {
    NlError::Closed(e.to_string())
}

impl Switch for OvsSwitch<'_> {
    fn backend(&self) -> Backend {
        Backend::Ovs
    }

    fn wirings(&self) -> &'static [Via] {
        &[Via::Internal, Via::Veth]
    }

    /// `ovs-vsctl add-br NAME` (datapath: what works on this host)
    async fn create(&self, _loc: &Loc, name: &str, mark: &Mark) -> Result<(), NlError> {
        let dp = if crate::ovs::kernel_datapath() {
            "system"
        } else {
            "netdev"
        };
        let c = crate::ovs::OvsChange::AddBridge {
            db: self.ovs.client.addr().to_string(),
            name: name.into(),
            datapath_type: dp.into(),
            owner: mark.owner().clone(),
        };
        self.ovs.apply(&[c]).await.map_err(ovs_err)
    }

    /// `ovs-vsctl del-br NAME`
    async fn delete(&self, _loc: &Loc, name: &str) -> Result<(), NlError> {
        let st = self.ovs.state().await.map_err(ovs_err)?;
        let Some(b) = st.bridge(name) else {
            return Ok(());
        };
        let c = crate::ovs::OvsChange::DelBridge {
            db: self.ovs.client.addr().to_string(),
            name: name.into(),
            uuid: b.uuid.clone(),
        };
        self.ovs.apply(&[c]).await.map_err(ovs_err)
    }

    /// `ovs-vsctl add-port SWITCH DEV`
    async fn add_port(&self, _loc: &Loc, switch: &str, dev: &str) -> Result<(), NlError> {
        let c = crate::ovs::OvsChange::AddPort {
            db: self.ovs.client.addr().to_string(),
            bridge: switch.into(),
            port: dev.into(),
            internal: false,
            tag: None,
            mark: Mark::Switch {
                owner: Owner::cli(),
            },
        };
        self.ovs.apply(&[c]).await.map_err(ovs_err)
    }

    /// `ovs-vsctl del-port SWITCH DEV`
    async fn del_port(&self, _loc: &Loc, switch: &str, dev: &str) -> Result<(), NlError> {
        let st = self.ovs.state().await.map_err(ovs_err)?;
        let Some(p) = st
            .bridge(switch)
            .and_then(|b| b.ports.iter().find(|p| p.name == dev))
        else {
            return Ok(());
        };
        let c = crate::ovs::OvsChange::DelPort {
            db: self.ovs.client.addr().to_string(),
            bridge: switch.into(),
            port: dev.into(),
            uuid: p.uuid.clone(),
        };
        self.ovs.apply(&[c]).await.map_err(ovs_err)
    }

    fn list(&self, o: &Observed, only_owned: bool) -> Vec<SwitchInfo> {
        ovs_list(o, only_owned)
    }
}

/// The OVS switches of an observation, on every server it covers.
pub fn ovs_list(o: &Observed, only_owned: bool) -> Vec<SwitchInfo> {
    {
        let Some(st) = &o.ovs else { return vec![] };
        st.bridges
            .iter()
            .filter(|b| !only_owned || b.owner().is_some())
            .map(|b| {
                let host = o.host.link(&b.name);
                SwitchInfo {
                    name: b.name.clone(),
                    backend: Backend::Ovs,
                    loc: Loc::Host,
                    owner: b.owner(),
                    up: host.is_some_and(|l| l.up),
                    addrs: host.map(|l| l.addrs.clone()).unwrap_or_default(),
                    ports: b
                        .ports
                        .iter()
                        .filter(|p| p.name != b.name)
                        .map(|p| PortInfo {
                            dev: p.name.clone(),
                            ns: p.ns(),
                            owner: p.owner(),
                        })
                        .collect(),
                }
            })
            .collect()
    }
}
