//! Part of a namespace's devices (`Part`): what an imperative command that
//! names what it touches reads of the host instead of its every device —
//! the devices it names, the ports of the bridges it names, and the master
//! of each. Why: `swctl attach` beside a lab of hundreds of ports spent
//! most of its observation in the host's whole link dump (measured: the
//! host's dump 1.7 ms of a 2.1 ms observation next to 60 ports, growing
//! with each port), and a command scripted once per host pays it each time.

use std::collections::BTreeSet;

use super::LocObs;

/// These devices, the ports of these bridges, and the master of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    pub devices: BTreeSet<String>,
    /// bridges whose ports are read (`ip link show master BR`); a bridge
    /// here is among `devices` too
    pub ports_of: BTreeSet<String>,
}

impl Part {
    /// `st`, a whole observation of the namespace, cut to the part as a
    /// reading of the part sees it: its devices with their addresses, no
    /// routes, no flooding entries, no queueing disciplines (a part is read
    /// for adding a port, which none of those concern).
    pub fn cut(&self, st: &mut LocObs) {
        let mut kept: BTreeSet<String> = st
            .links
            .iter()
            .filter(|l| {
                self.devices.contains(&l.name)
                    || l.master.as_ref().is_some_and(|m| self.ports_of.contains(m))
            })
            .map(|l| l.name.clone())
            .collect();
        let masters: Vec<String> = st
            .links
            .iter()
            .filter(|l| kept.contains(&l.name))
            .filter_map(|l| l.master.clone())
            .collect();
        kept.extend(masters);
        st.links.retain(|l| kept.contains(&l.name));
        for l in st.links.iter_mut() {
            l.qdisc = None;
        }
        st.routes.clear();
        st.fdb.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LinkObs;

    fn link(name: &str, master: Option<&str>) -> LinkObs {
        LinkObs {
            name: name.into(),
            master: master.map(String::from),
            ..LinkObs::unnamed(0, true)
        }
    }

    #[test]
    fn a_part_is_its_devices_the_ports_of_its_bridges_and_their_masters() {
        let mut st = LocObs {
            links: vec![
                link("br", None),
                link("p1", Some("br")),
                link("p2", Some("br")),
                link("other", None),
                link("q1", Some("other")),
                link("named", Some("elsewhere")),
                link("elsewhere", None),
                link("x", Some("named")),
            ],
            ..Default::default()
        };
        let part = Part {
            devices: ["br", "named"].map(String::from).into(),
            ports_of: ["br"].map(String::from).into(),
        };
        part.cut(&mut st);
        let names: Vec<&str> = st.links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["br", "p1", "p2", "named", "elsewhere"]);
    }
}
