//! The fake's vxlan devices and their flooding entries (what the kernel's
//! `effect::kernel::vxlan` does), kept in the simulated observation.

use std::net::IpAddr;

use super::{Fake, err};
use crate::effect::{NewLink, NlError};
use crate::model::names::Loc;

impl Fake {
    /// `ip link add NAME type vxlan ... master SW`
    pub(super) fn vxlan(
        &self,
        dev: &NewLink<'_>,
        vx: &crate::effect::Vxlan<'_>,
    ) -> Result<(), NlError> {
        let (loc, name) = (dev.loc, dev.name);
        let op = format!(
            "{loc}: ip link add {name} type vxlan id {} local {} remote {:?} master {:?}",
            vx.vni, vx.local, vx.remote, vx.master
        );
        self.record(op.clone())?;
        let mut l = self.new_own_link(dev, "vxlan");
        l.vxlan = Some(crate::model::VxlanObs {
            vni: vx.vni,
            local: Some(vx.local),
            remote: vx.remote,
        });
        l.master = vx.master.map(String::from);
        if let Some(m) = vx.mtu {
            l.mtu = m;
        }
        self.with_loc(loc, &op, |st| {
            if st.link(name).is_some() {
                return Err(err(op.clone(), libc::EEXIST));
            }
            st.links.push(l);
            Ok(())
        })
    }

    /// `bridge fdb append|del 00:00:00:00:00:00 dev DEV dst IP`
    pub(super) fn flood_entry(
        &self,
        loc: &Loc,
        dev: &str,
        dst: &IpAddr,
        add: bool,
    ) -> Result<(), NlError> {
        let op = format!(
            "{loc}: bridge fdb {} 00:00:00:00:00:00 dev {dev} dst {dst}",
            if add { "append" } else { "del" }
        );
        self.record(op.clone())?;
        self.with_loc(loc, &op, |st| {
            if st.link(dev).is_none() {
                return Err(err(op.clone(), libc::ENODEV));
            }
            let e = crate::model::FdbObs {
                dev: dev.to_string(),
                dst: *dst,
            };
            let had = st.fdb.contains(&e);
            match (add, had) {
                (true, true) => Err(err(op.clone(), libc::EEXIST)),
                (true, false) => {
                    st.fdb.push(e);
                    Ok(())
                }
                (false, false) => Err(err(op.clone(), libc::ENOENT)),
                (false, true) => {
                    st.fdb.retain(|x| x != &e);
                    Ok(())
                }
            }
        })
    }
}
