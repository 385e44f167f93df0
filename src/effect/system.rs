//! The real machine as one value: the kernel (rtnetlink, namespaces) and
//! the OVSDB servers of this command. It implements every effect trait by
//! handing each call to the part that owns it, so `observe` and `apply`
//! take one system, real or fake.

use std::net::IpAddr;

use super::kernel::Kernel;
use super::ovs::Servers;
use super::{LinkChange, Namespaces, Netlink, NewLink, NlError, Northbound, OvsDb, Vxlan};
use crate::model::LocObs;
use crate::model::names::{Cidr, Loc, NsName, Owner, RouteDest};
use crate::model::ovn::{NbChange, NbState};
use crate::model::ovs::{OvsChange, OvsState};
use crate::ovsdb::OvsdbError;

pub struct System {
    pub kernel: Kernel,
    pub ovs: Servers,
}

impl System {
    /// The kernel of the calling thread's namespace (the host's), and the
    /// OVSDB servers already connected.
    pub fn new(ovs: Servers) -> Result<System, NlError> {
        Ok(System {
            kernel: Kernel::new()?,
            ovs,
        })
    }
}

impl Netlink for System {
    async fn add_bridge(&self, dev: &NewLink<'_>) -> Result<(), NlError> {
        self.kernel.add_bridge(dev).await
    }
    async fn add_veth(
        &self,
        a: &NewLink<'_>,
        b: &NewLink<'_>,
        master: Option<&str>,
    ) -> Result<(), NlError> {
        self.kernel.add_veth(a, b, master).await
    }
    async fn del_link(&self, loc: &Loc, name: &str) -> Result<(), NlError> {
        self.kernel.del_link(loc, name).await
    }
    async fn set_link(&self, loc: &Loc, name: &str, change: &LinkChange) -> Result<(), NlError> {
        self.kernel.set_link(loc, name, change).await
    }
    async fn add_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError> {
        self.kernel.add_addr(loc, dev, cidr).await
    }
    async fn del_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError> {
        self.kernel.del_addr(loc, dev, cidr).await
    }
    async fn add_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError> {
        self.kernel.add_route(loc, dest, via).await
    }
    async fn del_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError> {
        self.kernel.del_route(loc, dest, via).await
    }
    async fn dump(&self, loc: &Loc) -> Result<LocObs, NlError> {
        self.kernel.dump(loc).await
    }
    async fn move_link(
        &self,
        from: &Loc,
        dev: &str,
        to: &Loc,
        new_name: &str,
        alias: &str,
    ) -> Result<(), NlError> {
        self.kernel.move_link(from, dev, to, new_name, alias).await
    }
    async fn set_tx_csum(&self, loc: &Loc, dev: &str, on: bool) -> Result<(), NlError> {
        self.kernel.set_tx_csum(loc, dev, on).await
    }
    fn expedite_grace_periods(&self) -> Box<dyn std::any::Any> {
        self.kernel.expedite_grace_periods()
    }
    fn settle_marks(&self) {
        self.kernel.settle_marks()
    }
    async fn grow_ovs_rx_buffer(&self, dev: &str) -> Result<(), NlError> {
        self.kernel.grow_ovs_rx_buffer(dev).await
    }
    async fn announce(&self, loc: &Loc, dev: &str, v6: bool) -> Result<(), NlError> {
        self.kernel.announce(loc, dev, v6).await
    }
    async fn flush_neighbours(&self, loc: &Loc) -> Result<usize, NlError> {
        self.kernel.flush_neighbours(loc).await
    }
    async fn add_vxlan(&self, dev: &NewLink<'_>, vx: &Vxlan<'_>) -> Result<(), NlError> {
        self.kernel.add_vxlan(dev, vx).await
    }
    async fn fdb(&self, loc: &Loc, dev: &str, dst: &IpAddr, add: bool) -> Result<(), NlError> {
        self.kernel.fdb(loc, dev, dst, add).await
    }
    async fn has_link(&self, loc: &Loc, name: &str) -> Result<bool, NlError> {
        self.kernel.has_link(loc, name).await
    }
    async fn running(&self, loc: &Loc, name: &str) -> Result<bool, NlError> {
        self.kernel.running(loc, name).await
    }
    async fn dump_links(&self, loc: &Loc) -> Result<LocObs, NlError> {
        self.kernel.dump_links(loc).await
    }
    async fn dump_part(
        &self,
        loc: &Loc,
        part: &crate::model::part::Part,
    ) -> Result<LocObs, NlError> {
        self.kernel.dump_part(loc, part).await
    }
    fn release(&self, loc: &Loc) {
        self.kernel.release(loc)
    }
    fn prepare(&self, names: &[NsName]) {
        self.kernel.prepare(names)
    }
}

impl Namespaces for System {
    async fn create_ns(&self, names: &[NsName], owner: &Owner) -> Vec<Result<(), NlError>> {
        self.kernel.create_ns(names, owner).await
    }
    async fn delete_ns(&self, names: &[NsName]) -> Vec<Result<(), NlError>> {
        self.kernel.delete_ns(names).await
    }
    fn list_ns(&self) -> Result<Vec<NsName>, NlError> {
        self.kernel.list_ns()
    }
    fn set_forward(&self, ns: &NsName, on: bool) -> Result<(), NlError> {
        self.kernel.set_forward(ns, on)
    }
    fn forward(&self, ns: &NsName) -> Result<bool, NlError> {
        self.kernel.forward(ns)
    }
    fn set_sysctl(&self, loc: &Loc, key: &str, value: &str) -> Result<(), NlError> {
        self.kernel.set_sysctl(loc, key, value)
    }
    fn sysctl(&self, loc: &Loc, key: &str) -> Result<String, NlError> {
        self.kernel.sysctl(loc, key)
    }
}

/// A connection per call: the coordinator reaches a lab's Northbound a
/// few times per command.
impl Northbound for System {
    async fn nb_state(&self, addr: &str) -> Result<NbState, OvsdbError> {
        super::ovn::nb::Nb::connect(addr).await?.state().await
    }
    async fn nb_apply(&self, addr: &str, changes: &[NbChange]) -> Result<(), OvsdbError> {
        super::ovn::nb::Nb::connect(addr)
            .await?
            .apply(changes)
            .await
    }
}

impl super::TrafficControl for System {
    async fn set_qdisc(
        &self,
        loc: &Loc,
        dev: &str,
        q: &crate::model::impair::Qdisc,
    ) -> Result<(), NlError> {
        self.kernel.set_qdisc(loc, dev, q).await
    }
    async fn del_qdisc(&self, loc: &Loc, dev: &str) -> Result<(), NlError> {
        self.kernel.del_qdisc(loc, dev).await
    }
    fn qdisc_kinds(&self) -> Result<crate::model::impair::QdiscKinds, NlError> {
        self.kernel.qdisc_kinds()
    }
}

impl super::FlowTables for System {
    async fn flows(
        &self,
        db: &str,
        bridge: &str,
    ) -> Result<Vec<crate::openflow::FlowStats>, super::openflow::OfError> {
        let mut s = super::openflow::OfSession::connect(db, bridge).await?;
        s.dump(0, 0).await
    }
    async fn flow_mods(
        &self,
        db: &str,
        bridge: &str,
        mods: &[(String, crate::openflow::Msg)],
    ) -> Result<(), super::openflow::OfError> {
        let mut s = super::openflow::OfSession::connect(db, bridge).await?;
        s.flow_mods(mods).await
    }
}

impl OvsDb for System {
    async fn ovs_state(&self) -> Result<Result<OvsState, String>, OvsdbError> {
        self.ovs.ovs_state().await
    }
    async fn ovs_apply(&self, changes: &[OvsChange]) -> Result<(), OvsdbError> {
        self.ovs.ovs_apply(changes).await
    }
}
