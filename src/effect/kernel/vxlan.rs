//! VXLAN over rtnetlink: the vxlan device that carries a switch to other
//! machines (`ip link add .. type vxlan`), its head-end replication entries
//! (`bridge fdb append 00:00:00:00:00:00 dev VX dst IP`, RTM_NEWNEIGH in
//! AF_BRIDGE with NLM_F_APPEND), and reading them back (RTM_GETNEIGH dump
//! in AF_BRIDGE: every forwarding entry of the namespace, so only where a
//! vxlan device is).

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::Kernel;
use crate::effect::paths::write_pending;
use crate::effect::{LinkChange, Netlink, NewLink, NlError, Vxlan};

use crate::model::names::Loc;
use crate::model::{FdbObs, LINK_GROUP, VXLAN_PORT};

impl Kernel {
    pub(super) async fn add_vxlan_impl(
        &self,
        dev: &NewLink<'_>,
        vx: &Vxlan<'_>,
    ) -> Result<(), NlError> {
        let (loc, name) = (dev.loc, dev.name);
        let mut m = LinkMessage::default();
        super::links::up_header(&mut m, false);
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes
            .push(LinkAttribute::Address(dev.mac.0.to_vec()));
        m.attributes.push(LinkAttribute::Group(LINK_GROUP));
        if let Some(mtu) = vx.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        let mut data = vec![
            InfoVxlan::Id(vx.vni),
            InfoVxlan::Port(VXLAN_PORT),
            // head-end replication only: no learning of remote VTEPs from
            // received packets (the flooding entries are the truth)
            InfoVxlan::Learning(false),
        ];
        data.push(match vx.local {
            IpAddr::V4(a) => InfoVxlan::Local(a),
            IpAddr::V6(a) => InfoVxlan::Local6(a),
        });
        if let Some(r) = vx.remote {
            data.push(match r {
                IpAddr::V4(a) => InfoVxlan::Group(a),
                IpAddr::V6(a) => InfoVxlan::Group6(a),
            });
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(data)),
        ]));
        // A device for a host's namespace is created from this machine's
        // own (IFLA_NET_NS_FD): the kernel opens its UDP socket in the
        // namespace of the request, so the tunnel leaves through this
        // machine's underlay while the device is born in the host's (no
        // 16-22 ms move, as for veth peers).
        let _ns = match loc {
            Loc::Ns(_) => {
                let f = self.ns_fd(loc)?;
                use std::os::fd::AsRawFd;
                m.attributes.push(LinkAttribute::NetNsFd(f.as_raw_fd()));
                Some(f)
            }
            Loc::Host => None,
        };
        write_pending(loc, name, &dev.alias);
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        self.request(&Loc::Host, RouteNetlinkMessage::NewLink(m), flags, || {
            format!(
                "ip {}link add {name} type vxlan id {} local {} dstport {VXLAN_PORT}",
                loc.ip_n(),
                vx.vni,
                vx.local
            )
        })
        .await?;
        self.set_link(
            loc,
            name,
            &LinkChange {
                up: Some(true),
                master: vx.master.map(String::from),
                alias: Some(dev.alias.clone()),
                ..Default::default()
            },
        )
        .await
    }

    pub(super) async fn fdb_impl(
        &self,
        loc: &Loc,
        dev: &str,
        dst: &IpAddr,
        add: bool,
    ) -> Result<(), NlError> {
        let idx = self.ifindex(loc, dev).await?;
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Bridge;
        m.header.ifindex = idx;
        m.header.state = NeighbourState::Permanent;
        // NTF_SELF: the entry is the vxlan device's own, not the bridge's
        m.header.flags = NeighbourFlags::Own;
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(vec![0; 6]));
        m.attributes
            .push(NeighbourAttribute::Destination(match dst {
                IpAddr::V4(a) => NeighbourAddress::Inet(*a),
                IpAddr::V6(a) => NeighbourAddress::Inet6(*a),
            }));
        let (msg, flags, verb) = if add {
            (
                RouteNetlinkMessage::NewNeighbour(m),
                NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND,
                "append",
            )
        } else {
            (RouteNetlinkMessage::DelNeighbour(m), NLM_F_ACK, "del")
        };
        self.request(loc, msg, flags, || {
            format!(
                "bridge {}fdb {verb} 00:00:00:00:00:00 dev {dev} dst {dst}",
                loc.ip_n()
            )
        })
        .await?;
        Ok(())
    }

    /// The all-zero entries of the vxlan devices in `links` (index, name).
    pub(super) async fn fdb_dump(
        &self,
        loc: &Loc,
        vxlans: &[(u32, String)],
    ) -> Result<Vec<FdbObs>, NlError> {
        let mut q = NeighbourMessage::default();
        q.header.family = AddressFamily::Bridge;
        let rows = self
            .request_map(
                loc,
                RouteNetlinkMessage::GetNeighbour(q),
                NLM_F_DUMP,
                || format!("bridge {}fdb show", loc.ip_n()),
                |r| {
                    let RouteNetlinkMessage::NewNeighbour(n) = r else {
                        return None;
                    };
                    let dev = vxlans.iter().find(|(i, _)| *i == n.header.ifindex)?;
                    let mut zero = false;
                    let mut dst = None;
                    for a in &n.attributes {
                        match a {
                            NeighbourAttribute::LinkLayerAddress(mac) => {
                                zero = mac.iter().all(|b| *b == 0);
                            }
                            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                                dst = Some(IpAddr::V4(*a));
                            }
                            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                                dst = Some(IpAddr::V6(*a));
                            }
                            // in an AF_BRIDGE message the parser cannot tell
                            // the family of NDA_DST: by its length
                            NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                                dst = match b.len() {
                                    4 => <[u8; 4]>::try_from(&b[..]).ok().map(IpAddr::from),
                                    16 => <[u8; 16]>::try_from(&b[..]).ok().map(IpAddr::from),
                                    _ => None,
                                };
                            }
                            _ => {}
                        }
                    }
                    zero.then_some(())?;
                    Some(FdbObs {
                        dev: dev.1.clone(),
                        dst: dst?,
                    })
                },
            )
            .await?;
        Ok(rows)
    }
}
