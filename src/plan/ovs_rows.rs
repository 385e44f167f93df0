//! What the OVS planner reads of an OVSDB server's state: the state
//! itself (or why a switch cannot be planned without it), a bridge's
//! datapath and its vswitchd's TSO, whether veth ports need bigger receive
//! buffers (and the step that gives one), the port swctl made for a host,
//! whether a bridge is this plan's to change.

use super::{Cx, PlanError};
use crate::model::names::{IfName, NsName, Owner};
use crate::model::ovs::{K_NS, K_SWITCH, OvsBridge, OvsPort, OvsState};
use crate::model::{Backend, Key, Observed};

/// The OVSDB state, or why the switch cannot be planned without it.
pub(super) fn state<'a>(cx: &Cx<'a>, sw: &IfName) -> Result<&'a OvsState, PlanError> {
    let o: &'a Observed = cx.o;
    o.ovs.as_ref().ok_or_else(|| PlanError::Unavailable {
        switch: sw.clone(),
        backend: Backend::Ovs,
        why: o
            .ovs_missing
            .clone()
            .unwrap_or_else(|| "not looked up".into()),
    })
}

/// The server switch `sw` is on, or will be made on.
pub(super) fn db_of(cx: &Cx, st: &OvsState, sw: &IfName) -> String {
    match st.bridge(sw.as_str()) {
        Some(b) => b.db.clone(),
        None => {
            cx.d.switches
                .get(sw)
                .and_then(|s| s.ovsdb.clone())
                .unwrap_or_else(|| st.addr.clone())
        }
    }
}

/// The datapath type of an OVS bridge (planned or existing).
pub(super) fn datapath_of(cx: &Cx, sw: &IfName) -> String {
    let st = cx.o.ovs.as_ref();
    if let Some(b) = st.and_then(|s| s.bridge(sw.as_str())) {
        return b.datapath_type.clone();
    }
    if let Some(d) = cx.d.switches.get(sw).and_then(|s| s.datapath.clone()) {
        return d;
    }
    st.map(|s| s.datapath.clone()).unwrap_or_default()
}

/// Whether the ovs-vswitchd of switch `sw`'s server has userspace TSO
/// (`effect::ovs::tso`).
pub(super) fn tso_of(cx: &Cx, sw: &IfName) -> bool {
    cx.o.ovs.as_ref().is_some_and(|st| {
        let db = db_of(cx, st, sw);
        st.vswitchd_of(&db).tso
    })
}

/// Whether ovs-vswitchd's receive socket of a veth port on `sw` needs a
/// bigger buffer (`kernel::packet_sock`): on the userspace datapath, for
/// TSO packets, and without TSO for jumbo frames and bursts (measured
/// here, a span over a 9000-byte underlay with 8950-byte guests on veth
/// ports: 2.60 Gbit/s and 14,613 retransmits in 3 s with the default
/// buffer).
pub(super) fn rx_buffer_wanted(cx: &Cx, sw: &IfName) -> bool {
    datapath_of(cx, sw) == "netdev"
}

/// `Step::OvsRxBuffer` for ovs-vswitchd's socket of port `dev`, where one
/// is `wanted` (`rx_buffer_wanted`): a port this plan `added`, or one whose
/// buffer reads below `tso::RX_BUFFER` (ovs-vswitchd made its socket again:
/// a restart, the port re-added by hand).
pub(super) fn rx_buffer(cx: &mut Cx, wanted: bool, dev: &str, added: bool) {
    let small = || {
        cx.o.ovs.as_ref().is_some_and(|st| {
            st.rx_buffers
                .get(dev)
                .is_some_and(|&have| have < crate::model::tso::RX_BUFFER)
        })
    };
    if wanted && (added || small()) {
        cx.steps.push(super::Step::OvsRxBuffer {
            dev: dev.to_string(),
        });
    }
}

/// The owner of OVS bridge `b` (named `name`) when this plan may change
/// its settings: swctl's, and in the plan's scope; None: left alone.
pub(super) fn changeable(cx: &Cx, name: &IfName, b: &OvsBridge) -> Option<Owner> {
    let key = Key::Switch { name: name.clone() };
    b.owner().filter(|o| cx.in_scope(&key, o))
}

/// The OVS port swctl made for (ns, switch) on `bridge`, by its
/// external_ids.
pub(super) fn ovs_port_of<'o>(
    st: &'o OvsState,
    bridge: &IfName,
    ns: &NsName,
    sw: &IfName,
) -> Option<&'o OvsPort> {
    st.bridge(bridge.as_str())?.ports.iter().find(|p| {
        p.external_ids.get(K_NS).map(String::as_str) == Some(ns.as_str())
            && p.external_ids.get(K_SWITCH).map(String::as_str) == Some(sw.as_str())
    })
}
