//! A recording fake of the effect traits (`Netlink`; `Namespaces` in `ns`,
//! `OvsDb` in `ovs`, `Northbound` in `ovn`): it keeps
//! a simulated system in an `Observed`, answers dumps from it, enforces the
//! kernel rules that matter to the planner (names unique per namespace, a
//! veth pair dies whole, devices die with their namespace) and records every
//! call as its `ip` command. Used by the tests that need no root.

use std::net::IpAddr;
use std::sync::Mutex;

use crate::effect::{LinkChange, Namespaces, Netlink, NewLink, NlError};
use crate::model::names::{Cidr, Loc, NsName, Owner, RouteDest};
use crate::model::{LINK_GROUP, LinkObs, LocObs, Mark, NsObs, Observed, RouteObs};

mod flows;
mod host;
mod ns;
mod ovn;
mod ovs;
pub mod ovsdb;
mod tc;
mod vxlan;

pub use ovs::FakeOvs;

/// One end of a veth pair: (namespace, device name).
type End = (Loc, String);

#[derive(Default)]
pub struct Fake {
    pub calls: Mutex<Vec<String>>,
    pub sys: Mutex<Observed>,
    /// veth peers: (loc, name) <-> (loc, name)
    peers: Mutex<Vec<(End, End)>>,
    next_index: Mutex<u32>,
    /// fail the n-th call (0-based) with EPERM, to test partial applies
    pub fail_at: Mutex<Option<usize>>,
    /// simulated OVSDB servers; None: "no OVSDB server answers"
    pub ovs: Mutex<Option<FakeOvs>>,
    /// simulated OVN Northbound databases, by address
    pub nb: Mutex<std::collections::BTreeMap<String, ovsdb::MemDb>>,
    /// sysctls written (by location and key); net.core.netdev_max_backlog
    /// reads 1000 until written, as on a fresh kernel
    sysctls: Mutex<std::collections::HashMap<(Loc, String), String>>,
    /// what hosts run and have beyond their devices (`host`): kept by
    /// name across a namespace's deletion, as files and records are
    pub hosts: Mutex<std::collections::BTreeMap<NsName, crate::model::host::HostObs>>,
    /// sysctls this fake kernel does not have (every other reads "0"
    /// until written)
    pub missing_sysctls: Mutex<std::collections::BTreeSet<String>>,
}

fn err(op: String, errno: i32) -> NlError {
    NlError::Request {
        op,
        errno,
        words: std::io::Error::from_raw_os_error(errno).to_string(),
    }
}

impl Fake {
    pub fn new() -> Fake {
        let f = Fake::default();
        *f.next_index.lock().unwrap() = 100;
        f
    }

    /// A fake with a simulated OVSDB server whose bridges get `datapath`.
    pub fn with_ovs(datapath: &str) -> Fake {
        let f = Fake::new();
        *f.ovs.lock().unwrap() = Some(FakeOvs::new("unix:/fake/db.sock", datapath));
        f
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub(crate) fn record(&self, op: String) -> Result<(), NlError> {
        let mut c = self.calls.lock().unwrap();
        let n = c.len();
        c.push(op.clone());
        if *self.fail_at.lock().unwrap() == Some(n) {
            return Err(err(op, libc::EPERM));
        }
        Ok(())
    }

    fn with_loc<T>(
        &self,
        loc: &Loc,
        op: &str,
        f: impl FnOnce(&mut LocObs) -> Result<T, NlError>,
    ) -> Result<T, NlError> {
        let mut sys = self.sys.lock().unwrap();
        let st = match loc {
            Loc::Host => &mut sys.host,
            Loc::Ns(n) => match sys.namespaces.get_mut(n) {
                Some(o) => &mut o.state,
                None => return Err(err(op.into(), libc::ENOENT)),
            },
        };
        f(st)
    }

    pub fn new_link(&self, name: &str, kind: &str, alias: &str) -> LinkObs {
        let mut i = self.next_index.lock().unwrap();
        *i += 1;
        LinkObs {
            name: name.into(),
            index: *i,
            kind: Some(kind.into()),
            alias: Some(alias.into()),
            mark: Mark::from_alias(alias),
            master: None,
            up: true,
            mtu: 1500,
            addrs: vec![],
            mac: None,
            group: 0,
            vxlan: None,
            arp_ignore: Some(0),
            qdisc: None,
        }
    }

    /// A device someone else made (`ip link add NAME type KIND [alias A]`):
    /// not in swctl's group, no stable address; `peer`: a veth pair.
    pub fn add_foreign(&self, loc: &Loc, name: &str, kind: &str, alias: &str, peer: Option<&str>) {
        let mut l = self.new_link(name, kind, alias);
        if alias.is_empty() {
            l.alias = None;
        }
        let mut sys = self.sys.lock().unwrap();
        let st = match loc {
            Loc::Host => &mut sys.host,
            Loc::Ns(n) => &mut sys.namespaces.get_mut(n).expect("namespace").state,
        };
        st.links.push(l);
        drop(sys);
        if let Some(p) = peer {
            let mut b = self.new_link(p, kind, "");
            b.alias = None;
            self.with_loc(loc, "", |st| {
                st.links.push(b);
                Ok(())
            })
            .expect("location");
            self.peers
                .lock()
                .unwrap()
                .push(((loc.clone(), name.into()), (loc.clone(), p.into())));
        }
    }

    /// A device swctl creates: its mark, address and group set.
    fn new_own_link(&self, dev: &NewLink, kind: &str) -> LinkObs {
        let mut l = self.new_link(dev.name, kind, &dev.alias);
        l.mac = Some(dev.mac);
        l.group = LINK_GROUP;
        l
    }

    /// `ip netns del NAME`, and the veth pairs with an end in it
    fn delete_one_ns(&self, name: &NsName) -> Result<(), NlError> {
        self.record(format!("ip netns del {name}"))?;
        let gone = Loc::Ns(name.clone());
        self.sys.lock().unwrap().namespaces.remove(name);
        // veth peers of devices in it die too
        let mut peers = self.peers.lock().unwrap();
        let dead: Vec<_> = peers
            .iter()
            .filter(|(a, b)| a.0 == gone || b.0 == gone)
            .cloned()
            .collect();
        peers.retain(|(a, b)| a.0 != gone && b.0 != gone);
        drop(peers);
        for (a, b) in dead {
            self.remove_link(&a.0, &a.1);
            self.remove_link(&b.0, &b.1);
        }
        Ok(())
    }

    pub(crate) fn remove_link(&self, loc: &Loc, name: &str) {
        let mut sys = self.sys.lock().unwrap();
        let st = match loc {
            Loc::Host => &mut sys.host,
            Loc::Ns(n) => match sys.namespaces.get_mut(n) {
                Some(o) => &mut o.state,
                None => return,
            },
        };
        st.links.retain(|l| l.name != name);
        st.fdb.retain(|f| f.dev != name);
        for l in st.links.iter_mut() {
            if l.master.as_deref() == Some(name) {
                l.master = None;
            }
        }
    }
}

impl Netlink for Fake {
    async fn add_bridge(&self, dev: &NewLink<'_>) -> Result<(), NlError> {
        let (loc, name) = (dev.loc, dev.name);
        let op = format!("{loc}: ip link add {name} type bridge");
        self.record(op.clone())?;
        let l = self.new_own_link(dev, "bridge");
        self.with_loc(loc, &op, |st| {
            if st.link(name).is_some() {
                return Err(err(op.clone(), libc::EEXIST));
            }
            st.links.push(l);
            Ok(())
        })
    }

    async fn add_vxlan(
        &self,
        dev: &NewLink<'_>,
        vx: &crate::effect::Vxlan<'_>,
    ) -> Result<(), NlError> {
        self.vxlan(dev, vx)
    }

    async fn fdb(&self, loc: &Loc, dev: &str, dst: &IpAddr, add: bool) -> Result<(), NlError> {
        self.flood_entry(loc, dev, dst, add)
    }

    async fn add_veth(
        &self,
        da: &NewLink<'_>,
        db: &NewLink<'_>,
        master: Option<&str>,
    ) -> Result<(), NlError> {
        let (loc, name, peer_loc, peer) = (da.loc, da.name, db.loc, db.name);
        let op = format!(
            "{loc}: ip link add {name} master {master:?} type veth peer name {peer} netns {peer_loc}"
        );
        self.record(op.clone())?;
        let taken = |l: &Loc, n: &str| {
            let sys = self.sys.lock().unwrap();
            sys.loc(l).map(|st| st.link(n).is_some())
        };
        match (taken(loc, name), taken(peer_loc, peer)) {
            (None, _) | (_, None) => return Err(err(op, libc::ENOENT)),
            (Some(true), _) | (_, Some(true)) => return Err(err(op, libc::EEXIST)),
            _ => {}
        }
        if loc == peer_loc && name == peer {
            return Err(err(op, libc::EEXIST));
        }
        let mut a = self.new_own_link(da, "veth");
        if let Some(m) = master {
            let ok = taken(loc, m) == Some(true);
            if !ok {
                return Err(err(op, libc::ENODEV));
            }
            a.master = Some(m.into());
        }
        let b = self.new_own_link(db, "veth");
        self.with_loc(loc, &op, |st| {
            st.links.push(a);
            Ok(())
        })?;
        self.with_loc(peer_loc, &op, |st| {
            st.links.push(b);
            Ok(())
        })?;
        self.peers
            .lock()
            .unwrap()
            .push(((loc.clone(), name.into()), (peer_loc.clone(), peer.into())));
        Ok(())
    }

    async fn del_link(&self, loc: &Loc, name: &str) -> Result<(), NlError> {
        let op = format!("{loc}: ip link del {name}");
        self.record(op.clone())?;
        self.with_loc(loc, &op, |st| {
            if st.link(name).is_none() {
                return Err(err(op.clone(), libc::ENODEV));
            }
            Ok(())
        })?;
        self.remove_link(loc, name);
        let me = (loc.clone(), name.to_string());
        let mut peers = self.peers.lock().unwrap();
        if let Some(pos) = peers.iter().position(|(a, b)| a == &me || b == &me) {
            let (a, b) = peers.remove(pos);
            let other = if a == me { b } else { a };
            drop(peers);
            self.remove_link(&other.0, &other.1);
        }
        Ok(())
    }

    async fn set_link(&self, loc: &Loc, name: &str, change: &LinkChange) -> Result<(), NlError> {
        let op = format!("{loc}: ip link set {name} {change:?}");
        self.record(op.clone())?;
        self.with_loc(loc, &op, |st| {
            if let Some(m) = &change.master
                && st.link(m).is_none()
            {
                return Err(err(op.clone(), libc::ENODEV));
            }
            let l = st
                .links
                .iter_mut()
                .find(|l| l.name == name)
                .ok_or_else(|| err(op.clone(), libc::ENODEV))?;
            if let Some(up) = change.up {
                l.up = up;
            }
            if let Some(mtu) = change.mtu {
                l.mtu = mtu;
            }
            if let Some(mac) = change.mac {
                l.mac = Some(mac);
            }
            if let Some(m) = &change.master {
                l.master = Some(m.clone());
            }
            if let Some(a) = &change.alias {
                l.alias = Some(a.clone());
                l.mark = Mark::from_alias(a);
            }
            Ok(())
        })
    }

    async fn add_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError> {
        let op = format!("{loc}: ip addr add {cidr} dev {dev}");
        self.record(op.clone())?;
        self.with_loc(loc, &op, |st| {
            let l = st
                .links
                .iter_mut()
                .find(|l| l.name == dev)
                .ok_or_else(|| err(op.clone(), libc::ENODEV))?;
            if l.addrs.contains(cidr) {
                return Err(err(op.clone(), libc::EEXIST));
            }
            l.addrs.push(*cidr);
            Ok(())
        })
    }

    async fn del_addr(&self, loc: &Loc, dev: &str, cidr: &Cidr) -> Result<(), NlError> {
        let op = format!("{loc}: ip addr del {cidr} dev {dev}");
        self.record(op.clone())?;
        self.with_loc(loc, &op, |st| {
            let l = st
                .links
                .iter_mut()
                .find(|l| l.name == dev)
                .ok_or_else(|| err(op.clone(), libc::ENODEV))?;
            let before = l.addrs.len();
            l.addrs.retain(|a| a != cidr);
            if l.addrs.len() == before {
                return Err(err(op.clone(), libc::EADDRNOTAVAIL));
            }
            Ok(())
        })
    }

    async fn add_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError> {
        let op = format!("{loc}: ip route add {dest} via {via}");
        self.record(op.clone())?;
        self.with_loc(loc, &op, |st| {
            let dev = st
                .links
                .iter()
                .find(|l| l.up && l.addrs.iter().any(|a| a.contains(via)))
                .map(|l| l.name.clone())
                .ok_or_else(|| err(op.clone(), libc::ENETUNREACH))?;
            if st.routes.iter().any(|r| r.dest == *dest) {
                return Err(err(op.clone(), libc::EEXIST));
            }
            st.routes.push(RouteObs {
                dest: *dest,
                via: Some(*via),
                dev: Some(dev),
            });
            Ok(())
        })
    }

    async fn del_route(&self, loc: &Loc, dest: &RouteDest, via: &IpAddr) -> Result<(), NlError> {
        let op = format!("{loc}: ip route del {dest} via {via}");
        self.record(op.clone())?;
        self.with_loc(loc, &op, |st| {
            let before = st.routes.len();
            st.routes
                .retain(|r| !(r.dest == *dest && r.via == Some(*via)));
            if st.routes.len() == before {
                return Err(err(op.clone(), libc::ESRCH));
            }
            Ok(())
        })
    }

    async fn move_link(
        &self,
        from: &Loc,
        dev: &str,
        to: &Loc,
        new_name: &str,
        alias: &str,
    ) -> Result<(), NlError> {
        let op = format!("{from}: ip link set {dev} netns {to} name {new_name}");
        self.record(op.clone())?;
        let mut l = self.with_loc(from, &op, |st| {
            st.link(dev)
                .cloned()
                .ok_or_else(|| err(op.clone(), libc::ENODEV))
        })?;
        if self
            .sys
            .lock()
            .unwrap()
            .loc(to)
            .and_then(|st| st.link(new_name))
            .is_some()
        {
            return Err(err(op, libc::EEXIST));
        }
        self.remove_link(from, dev);
        l.name = new_name.into();
        l.alias = Some(alias.into());
        l.mark = Mark::from_alias(alias);
        l.up = true;
        l.master = None;
        l.group = LINK_GROUP;
        // the kernel drops a device's addresses when it changes namespace
        l.addrs.clear();
        self.with_loc(to, &op, |st| {
            st.links.push(l);
            Ok(())
        })
    }

    async fn set_tx_csum(&self, loc: &Loc, dev: &str, on: bool) -> Result<(), NlError> {
        let op = format!(
            "{loc}: ethtool -K {dev} tx {}",
            if on { "on" } else { "off" }
        );
        self.record(op.clone())?;
        self.with_loc(loc, &op, |st| {
            st.link(dev)
                .map(|_| ())
                .ok_or_else(|| err(op.clone(), libc::ENODEV))
        })
    }

    async fn grow_ovs_rx_buffer(&self, dev: &str) -> Result<(), NlError> {
        let op = format!("host: ovs-vswitchd's socket of {dev}: SO_RCVBUFFORCE");
        self.record(op.clone())?;
        self.with_loc(&Loc::Host, &op, |st| {
            st.link(dev)
                .map(|_| ())
                .ok_or_else(|| err(op.clone(), libc::ENODEV))
        })?;
        if let Some(o) = self.ovs.lock().unwrap().as_mut() {
            // as SO_RCVBUF reads it back: doubled
            o.rx_buffers.insert(
                dev.to_string(),
                2 * crate::effect::kernel::packet_sock::BYTES,
            );
        }
        Ok(())
    }

    async fn announce(&self, loc: &Loc, dev: &str, _v6: bool) -> Result<(), NlError> {
        let op = format!("{loc}: announce the addresses of {dev}");
        self.record(op.clone())?;
        self.with_loc(loc, &op, |st| match st.link(dev) {
            Some(_) => Ok(()),
            None => Err(err(op.clone(), libc::ENODEV)),
        })
    }

    async fn flush_neighbours(&self, loc: &Loc) -> Result<usize, NlError> {
        self.record(format!("{loc}: ip neigh flush all"))?;
        Ok(0)
    }

    /// The fake's devices are running once they are up.
    async fn running(&self, loc: &Loc, name: &str) -> Result<bool, NlError> {
        let sys = self.sys.lock().unwrap();
        Ok(sys
            .loc(loc)
            .and_then(|st| st.link(name))
            .is_some_and(|l| l.up))
    }

    async fn has_link(&self, loc: &Loc, name: &str) -> Result<bool, NlError> {
        let sys = self.sys.lock().unwrap();
        Ok(sys.loc(loc).is_some_and(|st| st.link(name).is_some()))
    }

    async fn dump(&self, loc: &Loc) -> Result<LocObs, NlError> {
        let sys = self.sys.lock().unwrap();
        let mut st = sys
            .loc(loc)
            .cloned()
            .ok_or_else(|| err(format!("dump {loc}"), libc::ENOENT))?;
        st.forward = None;
        Ok(st)
    }
}
