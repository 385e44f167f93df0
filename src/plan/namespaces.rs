//! Namespaces: create the missing ones, bring `lo` up where it is down,
//! forwarding and static routes as the desired state says.

use super::{Cx, Step};
use crate::model::names::Loc;

impl Cx<'_> {
    pub(super) fn namespaces(&mut self) {
        for (ns, spec) in &self.d.namespaces {
            let obs = self.o.namespaces.get(ns);
            if obs.is_none() {
                self.steps.push(Step::CreateNs {
                    ns: ns.clone(),
                    owner: self.d.owner.clone(),
                });
                self.ns_exist.insert(ns.clone());
            }
            let st = obs.map(|o| &o.state);
            // `lo` stays down if a run was interrupted right after creating
            // the namespace (or someone took it down): bring it up
            if let Some(lo) = st.and_then(|s| s.link("lo")).filter(|l| !l.up) {
                self.steps.push(Step::SetUp {
                    loc: Loc::Ns(ns.clone()),
                    dev: lo.name.clone(),
                });
            }
            if let Some(on) = spec.forward {
                // a new namespace starts with forwarding off
                let cur = st.map_or(Some(false), |s| s.forward);
                if cur != Some(on) {
                    self.steps.push(Step::SetForward { ns: ns.clone(), on });
                }
            }
        }
    }

    /// Static routes, after the devices: a route whose device this plan
    /// deletes (a port made again) goes with it and is added again (seen:
    /// a host's default route lost when its port was remade after its
    /// machine's Open vSwitch restarted).
    pub(super) fn routes(&mut self) {
        let mut add = vec![];
        for (ns, spec) in &self.d.namespaces {
            let st = self.o.namespaces.get(ns).map(|o| &o.state);
            let loc = Loc::Ns(ns.clone());
            let gone = |dev: &Option<String>| {
                dev.as_ref().is_some_and(|d| {
                    self.steps.iter().any(
                        |s| matches!(s, Step::DeleteLink { loc: l, dev: x } if l == &loc && x == d),
                    )
                })
            };
            for r in &spec.routes {
                let present = st.is_some_and(|s| {
                    s.routes
                        .iter()
                        .any(|x| x.dest == r.dest && x.via == Some(r.via) && !gone(&x.dev))
                });
                if !present {
                    add.push(Step::AddRoute {
                        ns: ns.clone(),
                        dest: r.dest,
                        via: r.via,
                    });
                }
            }
        }
        self.steps.extend(add);
    }
}
