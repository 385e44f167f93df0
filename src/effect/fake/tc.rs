//! The fake's queueing disciplines: a device's root qdisc is what the real
//! effect's message says (`effect::kernel::tc`'s options, read back by its
//! decoder, as the kernel would), under the kernel's rules: `replace` puts
//! it over whatever is there, a delete names swctl's handle and fails on
//! anybody else's; a kind the simulated kernel lacks is refused as the
//! real one refuses it. Which kinds it has: `Observed::qdisc_kinds` of its
//! system (both, unless a test says otherwise).

use super::{Fake, err};
use crate::effect::kernel::tc::{decode, options};
use crate::effect::{NlError, TrafficControl};
use crate::model::impair::{HANDLE, Qdisc, QdiscKinds, QdiscObs};
use crate::model::names::Loc;
use crate::model::{LinkObs, LocObs};

/// Device `dev` of a namespace, or the kernel's ENODEV.
fn link<'a>(st: &'a mut LocObs, dev: &str, op: &str) -> Result<&'a mut LinkObs, NlError> {
    st.links
        .iter_mut()
        .find(|l| l.name == dev)
        .ok_or_else(|| err(op.to_string(), libc::ENODEV))
}

impl TrafficControl for Fake {
    async fn set_qdisc(&self, loc: &Loc, dev: &str, q: &Qdisc) -> Result<(), NlError> {
        let op = format!(
            "{loc}: tc qdisc replace dev {dev} root handle 5357: {}",
            q.tc_args()
        );
        self.record(op.clone())?;
        let kinds = self.qdisc_kinds()?;
        if !(match q {
            Qdisc::Tbf(_) => kinds.tbf,
            Qdisc::Netem(_) => kinds.netem,
        }) {
            return Err(err(op, libc::ENOENT));
        }
        self.with_loc(loc, &op, |st| {
            let l = link(st, dev, &op)?;
            l.qdisc = Some(QdiscObs {
                handle: HANDLE,
                kind: q.kind().to_string(),
                config: decode(q.kind(), &options(q)),
            });
            Ok(())
        })
    }

    async fn del_qdisc(&self, loc: &Loc, dev: &str) -> Result<(), NlError> {
        let op = format!("{loc}: tc qdisc del dev {dev} root handle 5357:");
        self.record(op.clone())?;
        self.with_loc(loc, &op, |st| {
            let l = link(st, dev, &op)?;
            match &l.qdisc {
                Some(q) if q.is_swctl() => {
                    l.qdisc = None;
                    Ok(())
                }
                _ => Err(err(op.clone(), libc::ENOENT)),
            }
        })
    }

    fn qdisc_kinds(&self) -> Result<QdiscKinds, NlError> {
        Ok(self.sys.lock().unwrap().qdisc_kinds.unwrap_or(QdiscKinds {
            tbf: true,
            netem: true,
        }))
    }
}
