//! `Netlink` for the real kernel: each method builds its rtnetlink message
//! (the `ip` command it equals is in its doc) and sends it on the
//! namespace's socket; marks are written to the pending record before a
//! device exists (see `paths::write_pending`).

use std::net::IpAddr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{AfSpecInet, AfSpecInet6, AfSpecUnspec, In6AddrGenMode};
use netlink_packet_route::link::{
    BridgeStpState, InfoBridge, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use netlink_packet_route::neighbour::{NeighbourAttribute, NeighbourMessage, NeighbourState};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Kernel, ethtool, netns};
use crate::effect::paths::write_pending;
use crate::effect::{LinkChange, Netlink, NewLink, NlError};
use crate::model::LINK_GROUP;
use crate::model::LocObs;
use crate::model::names::{Cidr, Loc, NsName, RouteDest};

pub(super) fn up_header(m: &mut LinkMessage, up: bool) {
    m.header.change_mask |= LinkFlags::Up;
    if up {
        m.header.flags |= LinkFlags::Up;
    }
}

fn addr_msg(index: u32, cidr: &Cidr) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = if cidr.addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.prefix_len = cidr.prefix;
    m.header.index = index;
    m.header.scope = AddressScope::Universe;
    if cidr.addr.is_ipv4() {
        m.attributes.push(AddressAttribute::Local(cidr.addr));
    } else {
        // No duplicate address detection: a lab address is usable at once
        // instead of staying "tentative" for a second or more.
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    m.attributes.push(AddressAttribute::Address(cidr.addr));
    m
}

fn route_msg(dest: &RouteDest, via: &IpAddr) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if via.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    // iproute2 marks routes the admin adds as `proto boot`.
    m.header.protocol = RouteProtocol::Boot;
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    if let RouteDest::Net(c) = dest {
        m.header.destination_prefix_length = c.prefix;
        m.attributes
            .push(RouteAttribute::Destination(route_addr(&c.addr)));
    }
    m.attributes.push(RouteAttribute::Gateway(route_addr(via)));
    m
}

fn route_addr(ip: &IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(*a),
        IpAddr::V6(a) => RouteAddress::Inet6(*a),
    }
}

const CREATE: u16 = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

impl Netlink for Kernel {
    async fn add_bridge(&self, dev: &NewLink<'_>) -> Result<(), NlError> {
        let (loc, name) = (dev.loc, dev.name);
        let mut m = LinkMessage::default();
        up_header(&mut m, true);
        m.attributes.push(LinkAttribute::IfName(name.into()));
        // a fixed address: the bridge does not take its lowest port's, so
        // its neighbours' entries stay right whatever ports come and go
        m.attributes
            .push(LinkAttribute::Address(dev.mac.0.to_vec()));
        m.attributes.push(LinkAttribute::Group(LINK_GROUP));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Bridge),
            // STP off, as people set it with `brctl stp BR off`: a lab bridge
            // must forward at once, not after 30 s of listening/learning.
            LinkInfo::Data(InfoData::Bridge(vec![InfoBridge::StpState(
                BridgeStpState::Disabled,
            )])),
        ]));
        write_pending(loc, name, &dev.alias);
        self.request(loc, RouteNetlinkMessage::NewLink(m), CREATE, || {
            format!("ip {}link add {name} type bridge", loc.ip_n())
        })
        .await?;
        self.set_link(
            loc,
            name,
            &LinkChange {
                alias: Some(dev.alias.clone()),
                ..Default::default()
            },
        )
        .await
    }

    async fn add_veth(
        &self,
        a: &NewLink<'_>,
        b: &NewLink<'_>,
        master: Option<&str>,
    ) -> Result<(), NlError> {
        let (loc, name, peer_loc, peer) = (a.loc, a.name, b.loc, b.name);
        let master_idx = match master {
            Some(m) => Some(self.ifindex(loc, m).await?),
            None => None,
        };
        let peer_fd = if peer_loc != loc {
            Some(self.ns_fd(peer_loc)?)
        } else {
            None
        };
        // The peer cannot be created UP: veth_open() answers ENOTCONN until
        // the first end is registered too. It is set up with its alias below.
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.into()));
        p.attributes.push(LinkAttribute::Address(b.mac.0.to_vec()));
        p.attributes.push(LinkAttribute::Group(LINK_GROUP));
        if let Some(f) = &peer_fd {
            // The peer is born in its namespace: no RTM_NEWLINK move later
            // (a move costs ~16 ms per link on this kernel).
            p.attributes.push(LinkAttribute::NetNsFd(f.as_raw_fd()));
        }
        let mut m = LinkMessage::default();
        up_header(&mut m, true);
        m.attributes.push(LinkAttribute::IfName(name.into()));
        // stable addresses: a pair made again is the same to its neighbours
        m.attributes.push(LinkAttribute::Address(a.mac.0.to_vec()));
        m.attributes.push(LinkAttribute::Group(LINK_GROUP));
        if let Some(i) = master_idx {
            m.attributes.push(LinkAttribute::Controller(i));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        write_pending(loc, name, &a.alias);
        write_pending(peer_loc, peer, &b.alias);
        self.request(loc, RouteNetlinkMessage::NewLink(m), CREATE, || {
            let netns = peer_loc
                .ns()
                .map(|n| format!(" netns {n}"))
                .unwrap_or_default();
            let master = master.map(|m| format!(" master {m}")).unwrap_or_default();
            format!(
                "ip {}link add {name}{master} type veth peer name {peer}{netns}",
                loc.ip_n()
            )
        })
        .await?;
        drop(peer_fd);
        // No link-local address: set before the pair has carrier, the peer's
        // before its up (with it, tried: ends got fe80::; docs/bench-and-speed.md)
        let ca = LinkChange {
            alias: Some(a.alias.clone()),
            no_link_local: !a.ipv6,
            ..Default::default()
        };
        self.set_link(loc, name, &ca).await?;
        let alias_b = LinkChange {
            alias: Some(b.alias.clone()),
            no_link_local: true,
            ..Default::default()
        };
        if !b.ipv6 {
            self.set_link(peer_loc, peer, &alias_b).await?;
        }
        let cb = LinkChange {
            alias: b.ipv6.then(|| b.alias.clone()),
            up: Some(true),
            ..Default::default()
        };
        self.set_link(peer_loc, peer, &cb).await
    }

    async fn del_link(&self, loc: &Loc, name: &str) -> Result<(), NlError> {
        // forgotten whatever the answer: a device already gone (ENODEV,
        // which apply accepts: its namespace's cleanup took it) must not
        // leave its index for the device made next under the same name
        // (seen: `addr add` to the new eth0 sent to the old one's index)
        self.index
            .lock()
            .expect("lock")
            .remove(&(loc.clone(), name.to_string()));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        self.request(loc, RouteNetlinkMessage::DelLink(m), NLM_F_ACK, || {
            format!("ip {}link del {name}", loc.ip_n())
        })
        .await?;
        Ok(())
    }

    async fn set_link(&self, loc: &Loc, name: &str, change: &LinkChange) -> Result<(), NlError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        let mut words = Vec::new();
        if let Some(up) = change.up {
            up_header(&mut m, up);
            words.push(if up { "up".to_string() } else { "down".into() });
        }
        if let Some(mtu) = change.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
            words.push(format!("mtu {mtu}"));
        }
        if let Some(mac) = change.mac {
            m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
            words.push(format!("address {mac}"));
        }
        if change.no_link_local {
            m.attributes
                .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                    vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
                )]));
            words.push("addrgenmode none".into());
        }
        if let Some(master) = &change.master {
            let i = self.ifindex(loc, master).await?;
            m.attributes.push(LinkAttribute::Controller(i));
            words.push(format!("master {master}"));
        }
        if let Some(a) = &change.alias {
            m.attributes.push(LinkAttribute::IfAlias(a.clone()));
            words.push(format!("alias {a:?}"));
        }
        self.request(loc, RouteNetlinkMessage::SetLink(m), NLM_F_ACK, || {
            format!("ip {}link set {name} {}", loc.ip_n(), words.join(" "))
        })
        .await?;
        if let Some(a) = &change.alias {
            self.written
                .lock()
                .expect("lock")
                .push((loc.to_string(), name.to_string(), a.clone()));
        }
        Ok(())
    }

    async fn add_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError> {
        let i = self.ifindex(loc, dev).await?;
        self.request(
            loc,
            RouteNetlinkMessage::NewAddress(addr_msg(i, cidr)),
            CREATE,
            || format!("ip {}addr add {cidr} dev {dev}", loc.ip_n()),
        )
        .await?;
        Ok(())
    }

    async fn del_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError> {
        let i = self.ifindex(loc, dev).await?;
        self.request(
            loc,
            RouteNetlinkMessage::DelAddress(addr_msg(i, cidr)),
            NLM_F_ACK,
            || format!("ip {}addr del {cidr} dev {dev}", loc.ip_n()),
        )
        .await?;
        Ok(())
    }

    async fn add_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError> {
        self.request(
            loc,
            RouteNetlinkMessage::NewRoute(route_msg(dest, via)),
            CREATE,
            || format!("ip {}route add {dest} via {via}", loc.ip_n()),
        )
        .await?;
        Ok(())
    }

    async fn del_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError> {
        self.request(
            loc,
            RouteNetlinkMessage::DelRoute(route_msg(dest, via)),
            NLM_F_ACK,
            || format!("ip {}route del {dest} via {via}", loc.ip_n()),
        )
        .await?;
        Ok(())
    }

    async fn move_link(
        &self,
        from: &Loc,
        dev: &str,
        to: &Loc,
        new_name: &str,
        alias: &str,
    ) -> Result<(), NlError> {
        self.move_link_impl(from, dev, to, new_name, alias).await
    }

    async fn announce(&self, loc: &Loc, dev: &str, v6: bool) -> Result<(), NlError> {
        // Why a change of address: with arp_notify (IPv4) and ndisc_notify
        // (IPv6) on, the kernel answers NETDEV_CHANGEADDR with a gratuitous
        // ARP for each address and an unsolicited NA for each IPv6 one
        // (checked with tcpdump). From user space it needs an AF_PACKET
        // socket per device, whose close waits for an RCU grace period
        // (12.8 ms each, measured). arp_notify is set over netlink (the
        // device's IPv4 devconf: /proc/sys lookups grow with the number of
        // namespaces); ndisc_notify has no netlink setter, so /proc/sys, and
        // only when there is an IPv6 address to announce.
        let q = super::link_query(Some(dev));
        let op = || format!("ip {}link show {dev}", loc.ip_n());
        let resp = self
            .request(loc, RouteNetlinkMessage::GetLink(q), 0, op)
            .await?;
        let mut mac = None;
        let mut conf = None;
        for m in resp {
            let RouteNetlinkMessage::NewLink(l) = m else {
                continue;
            };
            for a in l.attributes {
                match a {
                    LinkAttribute::Address(a) if a.len() == 6 => mac = Some(a),
                    LinkAttribute::AfSpecUnspec(specs) => {
                        for sp in specs {
                            if let AfSpecUnspec::Inet(v) = sp {
                                for x in v {
                                    if let AfSpecInet::DevConf(c) = x {
                                        conf = Some(c);
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let Some(mac) = mac else {
            return Ok(()); // no link-layer address: nothing to announce with
        };
        if let Some(mut c) = conf.filter(|c| c.arp_notify != 1) {
            c.arp_notify = 1;
            let mut m = LinkMessage::default();
            m.attributes.push(LinkAttribute::IfName(dev.into()));
            m.attributes
                .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet(vec![
                    AfSpecInet::DevConfRequest(c),
                ])]));
            self.request(loc, RouteNetlinkMessage::SetLink(m), NLM_F_ACK, || {
                format!(
                    "{}sysctl -w net.ipv4.conf.{dev}.arp_notify=1",
                    loc.ns()
                        .map(|n| format!("ip netns exec {n} "))
                        .unwrap_or_default()
                )
            })
            .await?;
        }
        if v6 {
            let key = format!("net/ipv6/conf/{dev}/ndisc_notify");
            netns::sysctl_set(loc.ns(), &key, "1")?;
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(dev.into()));
        m.attributes.push(LinkAttribute::Address(mac));
        self.request(loc, RouteNetlinkMessage::SetLink(m), NLM_F_ACK, || {
            format!("ip {}link set {dev} address (its own)", loc.ip_n())
        })
        .await?;
        Ok(())
    }

    fn prepare(&self, names: &[NsName]) {
        let missing: Vec<NsName> = {
            let h = self.handles.lock().expect("lock");
            names
                .iter()
                .filter(|n| !h.contains_key(&Loc::Ns((*n).clone())))
                .cloned()
                .collect()
        };
        for (n, fd) in missing.iter().zip(netns::sockets_in(&missing)) {
            if let Ok(fd) = fd {
                self.adopt(Loc::Ns(n.clone()), fd);
            }
        }
    }

    fn release(&self, loc: &Loc) {
        // the ifindex cache stays right: a dump just refreshed it
        self.handles.lock().expect("lock").remove(loc);
    }

    async fn flush_neighbours(&self, loc: &Loc) -> Result<usize, NlError> {
        let mut n = 0;
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut q = NeighbourMessage::default();
            q.header.family = family;
            let entries = self
                .request(
                    loc,
                    RouteNetlinkMessage::GetNeighbour(q),
                    NLM_F_DUMP,
                    || format!("ip {}neigh show", loc.ip_n()),
                )
                .await?;
            for e in entries {
                let RouteNetlinkMessage::NewNeighbour(m) = e else {
                    continue;
                };
                // entries the kernel or an admin made for good stay
                if matches!(
                    m.header.state,
                    NeighbourState::Permanent | NeighbourState::Noarp
                ) {
                    continue;
                }
                let mut d = NeighbourMessage::default();
                d.header = m.header.clone();
                d.attributes = m
                    .attributes
                    .iter()
                    .filter(|a| matches!(a, NeighbourAttribute::Destination(_)))
                    .cloned()
                    .collect();
                match self
                    .request(loc, RouteNetlinkMessage::DelNeighbour(d), NLM_F_ACK, || {
                        format!("ip {}neigh flush all", loc.ip_n())
                    })
                    .await
                {
                    Ok(_) => n += 1,
                    // gone meanwhile (garbage-collected): the goal holds
                    Err(NlError::Request { errno, .. }) if errno == libc::ENOENT => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(n)
    }

    async fn set_tx_csum(&self, loc: &Loc, dev: &str, on: bool) -> Result<(), NlError> {
        ethtool::set_tx_csum(loc.ns(), dev, on)
    }
    fn expedite_grace_periods(&self) -> Box<dyn std::any::Any> {
        Box::new(super::rcu::Expedited::start())
    }
    fn settle_marks(&self) {
        let written = std::mem::take(&mut *self.written.lock().expect("lock"));
        crate::effect::paths::settle_pending(&written);
    }
    async fn grow_ovs_rx_buffer(&self, dev: &str) -> Result<(), NlError> {
        super::packet_sock::grow(dev).map(|_| ())
    }

    async fn add_vxlan(
        &self,
        dev: &NewLink<'_>,
        vx: &crate::effect::Vxlan<'_>,
    ) -> Result<(), NlError> {
        self.add_vxlan_impl(dev, vx).await
    }

    async fn fdb(&self, loc: &Loc, dev: &str, dst: &IpAddr, add: bool) -> Result<(), NlError> {
        self.fdb_impl(loc, dev, dst, add).await
    }

    async fn dump_links(&self, loc: &Loc) -> Result<LocObs, NlError> {
        let links = self.link_dump(loc).await?;
        Ok(self.parse_dump(loc, links, vec![], vec![]))
    }

    async fn dump_part(
        &self,
        loc: &Loc,
        part: &crate::model::part::Part,
    ) -> Result<LocObs, NlError> {
        self.part_dump(loc, part).await
    }

    async fn running(&self, loc: &Loc, name: &str) -> Result<bool, NlError> {
        self.oper_running(loc, name).await
    }

    async fn has_link(&self, loc: &Loc, name: &str) -> Result<bool, NlError> {
        let q = super::link_query(Some(name));
        let op = || format!("ip {}link show {name}", loc.ip_n());
        match self
            .request(loc, RouteNetlinkMessage::GetLink(q), 0, op)
            .await
        {
            Ok(_) => Ok(true),
            Err(NlError::Request { errno, .. }) if errno == libc::ENODEV => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn dump(&self, loc: &Loc) -> Result<LocObs, NlError> {
        self.dump_all(loc).await
    }
}

impl Kernel {
    async fn move_link_impl(
        &self,
        from: &Loc,
        dev: &str,
        to: &Loc,
        new_name: &str,
        alias: &str,
    ) -> Result<(), NlError> {
        let idx = self.ifindex(from, dev).await?;
        let fd = self.ns_fd(to)?;
        let mut m = LinkMessage::default();
        m.header.index = idx;
        m.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
        m.attributes.push(LinkAttribute::IfName(new_name.into()));
        // swctl's from the instant it arrives (see LINK_GROUP)
        m.attributes.push(LinkAttribute::Group(LINK_GROUP));
        let op = || {
            format!(
                "ip {}link set {dev} netns {} name {new_name}",
                from.ip_n(),
                to.ns().map_or("1".to_string(), |n| n.to_string())
            )
        };
        write_pending(to, new_name, alias);
        let r = self
            .request(from, RouteNetlinkMessage::SetLink(m), NLM_F_ACK, op)
            .await;
        drop(fd);
        self.index
            .lock()
            .expect("lock")
            .remove(&(from.clone(), dev.to_string()));
        r?;
        let c = LinkChange {
            up: Some(true),
            alias: Some(alias.into()),
            ..Default::default()
        };
        self.set_link(to, new_name, &c).await
    }
}
