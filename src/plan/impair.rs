//! Impairments the planner refuses before anything changes: what this
//! kernel has no qdisc for (`Observed::qdisc_kinds`, probed when a lab
//! asks for any; netem is a module production kernels load on demand and
//! some kernels, this development machine's among them, lack), and an OVS
//! internal port, whose switch side has no device to shape (what its host
//! receives would pass unimpaired: `auto` gives such a port a veth pair
//! instead). The steps themselves are planned with every other attribute
//! of an end (`ends`, through `qdisc_step`), or for a running lab's end and
//! its other end (`swctl impair`, `other_end`).

use super::{PlanError, Step};
use crate::model::impair::{Impair, Qdisc, QdiscKinds, QdiscObs};
use crate::model::names::Loc;
use crate::model::{Desired, LinkObs, Mark, Observed, PortSpec, Via};

/// Every impairment of `d` can be given by this kernel's qdiscs.
pub(super) fn kernel_gives(d: &Desired, o: &Observed) -> Result<(), PlanError> {
    let Some(k) = o.qdisc_kinds else {
        return Ok(());
    };
    for (what, e) in d.end_specs() {
        if let Some(i) = e.impair {
            given(&i, k, what)?;
        }
    }
    Ok(())
}

/// Whether a kernel of qdisc kinds `k` gives impairment `i` (`what`: where
/// it is asked for, in words).
pub fn given(i: &Impair, k: QdiscKinds, what: String) -> Result<(), PlanError> {
    let netem = i.needs_netem();
    if !netem.is_empty() && !k.netem {
        return Err(PlanError::NoQdisc {
            kind: "netem",
            what,
            keys: netem.join(", "),
            works: if k.tbf { "rate (tbf)" } else { "no impairment" },
        });
    }
    if netem.is_empty() && i.rate.is_some() && !k.tbf {
        return Err(PlanError::NoQdisc {
            kind: "tbf",
            what,
            keys: "rate".into(),
            works: if k.netem {
                "netem (give a delay too)"
            } else {
                "no impairment"
            },
        });
    }
    Ok(())
}

/// The step that gives device `dev` in `loc` root qdisc `want` (None: none
/// of swctl's), if it has not that already; `have`: its root qdisc.
pub fn qdisc_step(
    loc: &Loc,
    dev: &str,
    have: Option<&QdiscObs>,
    want: Option<Qdisc>,
) -> Option<Step> {
    let ours = have.filter(|h| h.is_swctl());
    let was = QdiscObs::words_of(have);
    match want {
        Some(w) if ours.and_then(|h| h.config).is_some_and(|c| w.matches(&c)) => None,
        Some(w) => Some(Step::SetQdisc {
            loc: loc.clone(),
            dev: dev.to_string(),
            qdisc: w,
            was,
        }),
        None if ours.is_some() => Some(Step::DelQdisc {
            loc: loc.clone(),
            dev: dev.to_string(),
            was,
        }),
        None => None,
    }
}

/// The other end of the veth pair swctl made whose end `l` is (a port's
/// switch side, a link's other end), where it is: found by swctl's marks
/// in `o`. None: it has none here (an OVS internal port; a link's end on
/// another machine).
pub fn other_end<'a>(o: &'a Observed, l: &LinkObs) -> Option<(Loc, &'a LinkObs)> {
    let m = l.mark.as_ref()?;
    o.locs().find_map(|(loc, st)| {
        st.links
            .iter()
            .find(|x| match (m, x.mark.as_ref()) {
                (
                    Mark::Port { ns, sw, side, .. },
                    Some(Mark::Port {
                        ns: n2,
                        sw: s2,
                        side: d2,
                        ..
                    }),
                ) => ns == n2 && sw == s2 && side != d2,
                (
                    Mark::Link { a, b, side, .. },
                    Some(Mark::Link {
                        a: a2,
                        b: b2,
                        side: d2,
                        ..
                    }),
                ) => a == a2 && b == b2 && side != d2,
                _ => false,
            })
            .map(|x| (loc, x))
    })
}

/// The wiring of an impaired port: never an internal port.
pub(super) fn wiring(p: &PortSpec, via: Via) -> Result<Via, PlanError> {
    let impaired = p.end.impair.is_some_and(|i| !i.is_empty());
    match (impaired, via, p.via) {
        (true, Via::Internal, Via::Auto) => Ok(Via::Veth),
        (true, Via::Internal, _) => Err(PlanError::ImpairedInternalPort {
            ns: p.ns.clone(),
            switch: p.switch.clone(),
        }),
        _ => Ok(via),
    }
}
