//! `ip -j link; ip -j addr; ip -j route` of one namespace, parsed from the
//! rtnetlink dump into a `LocObs`: names, kinds, aliases (and the marks in
//! them, or in the pending record), masters, MTU, addresses, gateway routes.

use std::collections::HashMap;
use std::net::IpAddr;

use netlink_packet_core::NLM_F_DUMP;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    AfSpecInet, AfSpecUnspec, InfoData, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::Kernel;
use crate::effect::NlError;
use crate::effect::paths::read_pending;
use crate::model::names::Mac;
use crate::model::names::{Cidr, Loc, RouteDest};
use crate::model::{LINK_GROUP, LinkObs, LocObs, Mark, RouteObs, VxlanObs};

fn from_route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// One link of a dump, with its master's index (named once all are read).
pub(super) fn link_row(r: RouteNetlinkMessage) -> Option<(LinkObs, Option<u32>)> {
    let RouteNetlinkMessage::NewLink(l) = r else {
        return None;
    };
    let mut o = LinkObs::unnamed(l.header.index, l.header.flags.contains(LinkFlags::Up));
    let mut master = None;
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => o.name = n,
            LinkAttribute::IfAlias(s) => {
                o.mark = Mark::from_alias(&s);
                o.alias = Some(s);
            }
            LinkAttribute::Controller(i) => master = Some(i),
            LinkAttribute::Mtu(m) => o.mtu = m,
            LinkAttribute::Group(g) => o.group = g,
            LinkAttribute::Address(a) if a.len() == 6 => {
                o.mac = Some(Mac(a[..6].try_into().expect("6 bytes")));
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in &infos {
                    if let LinkInfo::Kind(k) = i {
                        o.kind = Some(k.to_string());
                    }
                }
                if o.kind.as_deref() == Some("vxlan") {
                    o.vxlan = vxlan_obs(&infos);
                }
            }
            LinkAttribute::AfSpecUnspec(specs) => {
                for sp in specs {
                    if let AfSpecUnspec::Inet(v) = sp {
                        for x in v {
                            if let AfSpecInet::DevConf(c) = x {
                                o.arp_ignore = Some(c.arp_ignore);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Some((o, master))
}

/// One address of a dump: the device's index and the address.
pub(super) fn addr_row(r: RouteNetlinkMessage) -> Option<(u32, Cidr)> {
    let RouteNetlinkMessage::NewAddress(a) = r else {
        return None;
    };
    let mut local = None;
    let mut address = None;
    for at in &a.attributes {
        match at {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    let ip = local.or(address)?;
    Some((
        a.header.index,
        Cidr {
            addr: ip,
            prefix: a.header.prefix_len,
        },
    ))
}

/// One gateway route of the main table, with its device's index; connected
/// routes belong to their addresses and are left out.
pub(super) fn route_row(r: RouteNetlinkMessage) -> Option<(RouteDest, IpAddr, Option<u32>)> {
    let RouteNetlinkMessage::NewRoute(rt) = r else {
        return None;
    };
    if rt.header.table != RouteHeader::RT_TABLE_MAIN || rt.header.kind != RouteType::Unicast {
        return None;
    }
    // a routing daemon's (`proto ospf`, `bgp`, `zebra`, `dhcp`, ...) is
    // its own: only routes as `ip route add` makes them (boot, static) are
    // swctl's to compare (measured: FRR's OSPF routes were drift, and
    // deleting them failed as zebra took them back)
    if !matches!(
        rt.header.protocol,
        RouteProtocol::Boot | RouteProtocol::Static | RouteProtocol::Unspec
    ) {
        return None;
    }
    let mut dest = None;
    let mut via = None;
    let mut oif = None;
    for at in &rt.attributes {
        match at {
            RouteAttribute::Destination(a) => dest = from_route_addr(a),
            RouteAttribute::Gateway(a) => via = from_route_addr(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            _ => {}
        }
    }
    let dest = match dest {
        Some(ip) if rt.header.destination_prefix_length > 0 => RouteDest::Net(Cidr {
            addr: ip,
            prefix: rt.header.destination_prefix_length,
        }),
        _ => RouteDest::Default,
    };
    Some((dest, via?, oif))
}

impl Kernel {
    /// `ip addr show` of one namespace: (device index, address) pairs.
    pub(super) async fn addr_dump(&self, loc: &Loc) -> Result<Vec<(u32, Cidr)>, NlError> {
        let mut am = AddressMessage::default();
        am.header.family = AddressFamily::Unspec;
        self.request_map(
            loc,
            RouteNetlinkMessage::GetAddress(am),
            NLM_F_DUMP,
            || format!("ip {}addr show", loc.ip_n()),
            addr_row,
        )
        .await
    }

    /// `ip link; ip addr; ip route; tc qdisc` of one namespace, one dump
    /// after the other on its socket.
    pub(super) async fn dump_all(&self, loc: &Loc) -> Result<LocObs, NlError> {
        let links_f = self.link_dump(loc);
        let addrs_f = self.addr_dump(loc);
        // both families in one dump (AF_UNSPEC: the kernel walks each
        // family's table in turn), one round trip fewer per namespace
        let mut rm = RouteMessage::default();
        rm.header.address_family = AddressFamily::Unspec;
        let routes_f = self.request_map(
            loc,
            RouteNetlinkMessage::GetRoute(rm),
            NLM_F_DUMP,
            || format!("ip {}route show table all", loc.ip_n()),
            route_row,
        );
        // One dump at a time per socket: a second concurrent dump on the
        // same socket is refused with EBUSY by the kernel.
        let links = links_f.await?;
        let addrs = addrs_f.await?;
        let routes = routes_f.await?;
        let vxlans: Vec<(u32, String)> = links
            .iter()
            .filter(|(l, _)| l.vxlan.is_some())
            .map(|(l, _)| (l.index, l.name.clone()))
            .collect();
        let qdiscs = self.qdisc_dump(loc).await?;
        let mut st = self.parse_dump(loc, links, addrs, routes);
        for (index, q) in qdiscs {
            // the kernel's own default (handle 0) is nobody's
            if q.handle != 0
                && let Some(l) = st.links.iter_mut().find(|l| l.index == index)
            {
                l.qdisc = Some(q);
            }
        }
        if !vxlans.is_empty() {
            st.fdb = self.fdb_dump(loc, &vxlans).await?;
        }
        Ok(st)
    }

    pub(super) fn parse_dump(
        &self,
        loc: &Loc,
        links: Vec<(LinkObs, Option<u32>)>,
        addrs: Vec<(u32, Cidr)>,
        routes: Vec<(RouteDest, IpAddr, Option<u32>)>,
    ) -> LocObs {
        let mut out = LocObs::default();
        let (links, masters): (Vec<LinkObs>, Vec<Option<u32>>) = links.into_iter().unzip();
        out.links = links;
        // a pending mark is finished only on a device that is swctl's by
        // identity (its group), never on a look-alike of the same name
        for l in out.links.iter_mut() {
            if l.alias.is_none()
                && l.group == LINK_GROUP
                && matches!(
                    l.kind.as_deref(),
                    Some("veth" | "bridge" | "tun" | "openvswitch")
                )
            {
                let pending = self.pending.get_or_init(read_pending);
                l.mark = pending
                    .get(&(loc.to_string(), l.name.clone()))
                    .and_then(|a| Mark::from_alias(a));
            }
        }
        let by_index: HashMap<u32, String> = out
            .links
            .iter()
            .map(|l| (l.index, l.name.clone()))
            .collect();
        for (l, m) in out.links.iter_mut().zip(masters) {
            l.master = m.and_then(|i| by_index.get(&i).cloned());
        }
        {
            // a dump is the truth for this namespace: forget indexes of
            // devices that are gone (a long-lived process, like `bench`,
            // meets the same names again with new indexes)
            let mut idx = self.index.lock().expect("lock");
            idx.retain(|(l, _), _| l != loc);
            for l in &out.links {
                idx.insert((loc.clone(), l.name.clone()), l.index);
            }
        }
        let at: HashMap<u32, usize> = out
            .links
            .iter()
            .enumerate()
            .map(|(i, l)| (l.index, i))
            .collect();
        for (index, cidr) in addrs {
            if let Some(&i) = at.get(&index) {
                out.links[i].addrs.push(cidr);
            }
        }
        for (dest, via, oif) in routes {
            out.routes.push(RouteObs {
                dest,
                via: Some(via),
                dev: oif.and_then(|i| by_index.get(&i).cloned()),
            });
        }
        out
    }
}

/// A vxlan device's identifier and local address, from its link info.
fn vxlan_obs(infos: &[LinkInfo]) -> Option<VxlanObs> {
    let mut vni = None;
    let mut local = None;
    let mut remote = None;
    for i in infos {
        if let LinkInfo::Data(InfoData::Vxlan(v)) = i {
            for x in v {
                match x {
                    InfoVxlan::Id(id) => vni = Some(*id),
                    InfoVxlan::Local(a) => local = Some(IpAddr::V4(*a)),
                    InfoVxlan::Local6(a) => local = Some(IpAddr::V6(*a)),
                    InfoVxlan::Group(a) => remote = Some(IpAddr::V4(*a)),
                    InfoVxlan::Group6(a) => remote = Some(IpAddr::V6(*a)),
                    _ => {}
                }
            }
        }
    }
    Some(VxlanObs {
        vni: vni?,
        local,
        remote,
    })
}
