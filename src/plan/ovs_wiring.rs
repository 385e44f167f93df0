//! What `via = "auto"` gives a namespace on an OVS switch. Measured here
//! (OVS 3.1, userspace datapath; docs/bench-and-speed.md): an internal
//! port must be moved into its namespace, ~16-22 ms each, serialized by
//! the kernel (RTNL), where a veth pair is made in its namespace in
//! ~0.6 ms; in traffic, with userspace TSO internal ports carry 16.1
//! Gbit/s and veth ports 14.7 (0.09 vs 0.10 cores per Gbit/s), without
//! TSO 2.17 against 0.84. So on the userspace datapath: internal ports
//! for small switches, veth pairs past a size where the moves cost more
//! than the traffic gains — sooner with TSO (nearly equal traffic) than
//! without. On the kernel datapath (not measurable here) internal ports,
//! as ovs-vsctl users make them. A port that exists keeps its wiring: a
//! lab that grows does not rewire the hosts it has.

use crate::model::Via;

/// Hosts on one switch up to which `auto` picks internal ports on a
/// userspace datapath with TSO (8 moves: ~0.2 s).
pub const INTERNAL_UP_TO_TSO: usize = 8;

/// The same without TSO, where internal ports carry 2.6x more (64 moves:
/// ~1.4 s).
pub const INTERNAL_UP_TO: usize = 64;

/// The wiring of a port on a switch with `hosts` ports, on datapath
/// `datapath` ("netdev": userspace) with or without TSO; `existing`: the
/// port exists, internal or not.
pub fn auto(hosts: usize, datapath: &str, tso: bool, existing: Option<bool>) -> Via {
    match existing {
        Some(true) => return Via::Internal,
        Some(false) => return Via::Veth,
        None => {}
    }
    let limit = if tso {
        INTERNAL_UP_TO_TSO
    } else {
        INTERNAL_UP_TO
    };
    if datapath == "netdev" && hosts > limit {
        Via::Veth
    } else {
        Via::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_switches_get_internal_ports_big_userspace_ones_veth() {
        assert_eq!(auto(3, "netdev", true, None), Via::Internal);
        assert_eq!(auto(8, "netdev", true, None), Via::Internal);
        assert_eq!(auto(9, "netdev", true, None), Via::Veth);
        assert_eq!(auto(64, "netdev", false, None), Via::Internal);
        assert_eq!(auto(65, "netdev", false, None), Via::Veth);
        assert_eq!(auto(1000, "system", true, None), Via::Internal);
        // a port that exists keeps its wiring
        assert_eq!(auto(1000, "netdev", true, Some(true)), Via::Internal);
        assert_eq!(auto(2, "netdev", true, Some(false)), Via::Veth);
    }
}
