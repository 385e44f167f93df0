//! Part of a namespace's devices (`Part`): what an imperative command that
//! names what it touches reads of the host instead of its every device —
//! the devices it names, the master of each, and how many ports the
//! bridges it names have (not which). Why: `swctl attach` beside a lab of
//! hundreds of ports spent most of its observation in the host's whole
//! link dump (measured: the host's dump 1.7 ms of a 2.1 ms observation
//! next to 60 ports, growing with each port), and a command scripted once
//! per host pays it each time; reading its own switch's 200 ports, only to
//! check the bridge's port limit, still cost 2.8–4.2 ms of a no-op attach
//! (the kernel fills every port's message even in a dump filtered on the
//! master), where counting them costs ~0.1 ms.

use std::collections::BTreeSet;

use super::{LinkObs, LocObs};

/// These devices, the master of each, and the number of ports of these
/// bridges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    pub devices: BTreeSet<String>,
    /// bridges whose ports are counted (`LocObs::unread_ports`), besides
    /// those among `devices`; a bridge here is among `devices` too
    pub counted: BTreeSet<String>,
}

impl Part {
    /// `st`, a whole observation of the namespace, cut to the part as a
    /// reading of the part sees it: its devices with their addresses, the
    /// counted bridges' other ports as a number, no routes, no flooding
    /// entries, no queueing disciplines (a part is read for adding a port,
    /// which none of those concern).
    pub fn cut(&self, st: &mut LocObs) {
        let mut kept: BTreeSet<String> = st
            .links
            .iter()
            .filter(|l| self.devices.contains(&l.name))
            .map(|l| l.name.clone())
            .collect();
        let masters: Vec<String> = st
            .links
            .iter()
            .filter(|l| kept.contains(&l.name))
            .filter_map(|l| l.master.clone())
            .collect();
        kept.extend(masters);
        // the counted bridges' other ports, as a number (of a bridge `st` has)
        let counts: Vec<(String, usize)> = (self.counted.iter())
            .filter(|b| st.link(b).is_some())
            .map(|br| {
                let unread = |l: &&LinkObs| {
                    l.master.as_deref() == Some(br.as_str()) && !kept.contains(&l.name)
                };
                (br.clone(), st.links.iter().filter(unread).count())
            })
            .collect();
        st.unread_ports.extend(counts);
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
    fn a_part_is_its_devices_their_masters_and_the_number_of_its_bridges_ports() {
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
            devices: ["br", "named", "p2"].map(String::from).into(),
            counted: ["br", "gone"].map(String::from).into(),
        };
        part.cut(&mut st);
        let names: Vec<&str> = st.links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["br", "p2", "named", "elsewhere"]);
        // p1 counted, not read; a counted bridge that is not there, nothing
        assert_eq!(st.unread_ports, [("br".to_string(), 1)].into());
    }
}
