//! Userspace TCP segmentation offload (TSO) of an ovs-vswitchd on the
//! userspace datapath (`other_config:userspace-tso-enable=true`, read once
//! when ovs-vswitchd starts): whether it is on, whether it is right for
//! what the switch carries, and the setting swctl's own Open vSwitch gets
//! (written by `effect::ovs::sandbox`). Pure.
//!
//! Why (measured on this machine, OVS 3.1.0, iperf3 5 s, two namespaces):
//! internal ports 1.88 Gbit/s without it, 14.78 with it; veth ports 0.91
//! without, 11.39 with. Why not always: OVS 3.1 has no software
//! segmentation and no TSO over tunnels (Documentation/topics/
//! userspace-tso.rst: every port must take TSO packets or they are
//! dropped; VXLAN/Geneve tunnel TSO came with 3.3), so a vswitchd whose
//! bridges carry tunnels keeps it off below 3.3. The kernel datapath is
//! left to the kernel's own offloads.

use serde::Serialize;

/// The `other_config` key.
pub const KEY: &str = "userspace-tso-enable";

/// The receive buffer ovs-vswitchd's socket of a veth port gets on a TSO
/// datapath (`effect::kernel::packet_sock`; the kernel doubles it for its
/// bookkeeping, as for SO_RCVBUF): room for about 60 TSO packets.
pub const RX_BUFFER: usize = 4 << 20;

/// A dotted version as numbers (`3.1.0` → [3, 1, 0]); None when it is not
/// one.
fn numbers(v: &str) -> Option<Vec<u32>> {
    v.split('.').map(|p| p.trim().parse().ok()).collect()
}

fn at_least(version: Option<&str>, min: &[u32]) -> bool {
    version
        .and_then(numbers)
        .is_some_and(|v| v.as_slice() >= min)
}

/// Whether this ovs-vswitchd has userspace TSO (2.13 and later).
pub fn supported(version: Option<&str>) -> bool {
    at_least(version, &[2, 13])
}

/// Whether its tunnels (VXLAN, Geneve) take TSO packets (3.3 and later).
pub fn over_tunnels(version: Option<&str>) -> bool {
    at_least(version, &[3, 3])
}

/// The setting an ovs-vswitchd gets, and why, in the user's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub on: bool,
    pub why: String,
}

/// What swctl's own ovs-vswitchd gets: on where it is correct — the
/// userspace datapath, a version with it, and no tunnel on its bridges
/// that would drop TSO packets (`tunnels`: its bridges carry VXLAN or
/// Geneve, e.g. a simulated machine's switches that span machines).
pub fn decide(kernel_datapath: bool, version: Option<&str>, tunnels: bool) -> Decision {
    let v = version.unwrap_or("unknown");
    let (on, why) = if kernel_datapath {
        (
            false,
            "the kernel datapath: offloads are the kernel's".to_string(),
        )
    } else if !supported(version) {
        (
            false,
            format!("Open vSwitch {v} has no userspace TSO (2.13 and later)"),
        )
    } else if tunnels && !over_tunnels(version) {
        (
            false,
            format!(
                "its bridges carry tunnels, and Open vSwitch {v} drops TSO packets sent into a tunnel (tunnel TSO came with 3.3)"
            ),
        )
    } else {
        (true, format!("userspace datapath, Open vSwitch {v}"))
    };
    Decision { on, why }
}

/// What `ovs status` says of it: on or off, and for an ovs-vswitchd
/// without it, what it costs and how to turn it on.
pub fn words(on: bool, kernel_datapath: bool, version: Option<&str>, sandbox: bool) -> String {
    if kernel_datapath {
        return "kernel datapath: offloads are the kernel's".into();
    }
    if on {
        return "userspace TSO on".into();
    }
    if !supported(version) {
        return format!(
            "userspace TSO off: Open vSwitch {} has none",
            version.unwrap_or("unknown")
        );
    }
    let how = if sandbox {
        "`swctl ovs stop && swctl ovs start` (swctl's sandbox sets it where it is correct)"
    } else {
        "`ovs-vsctl set Open_vSwitch . other_config:userspace-tso-enable=true`, then restart ovs-vswitchd"
    };
    format!(
        "userspace TSO off: TCP between two hosts runs at about a tenth of what it could (measured here: internal ports 1.9 Gbit/s without, 14.8 with; veth 0.9 without, 11.4 with); to turn it on: {how} (not where its bridges carry tunnels, below Open vSwitch 3.3)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tso_where_it_is_correct() {
        assert!(decide(false, Some("3.1.0"), false).on);
        let d = decide(false, Some("3.1.0"), true);
        assert!(!d.on && d.why.contains("tunnel"), "{d:?}");
        assert!(decide(false, Some("3.3.1"), true).on);
        assert!(!decide(false, Some("2.12.0"), false).on);
        assert!(!decide(false, None, false).on, "unknown version: off");
        assert!(!decide(true, Some("3.1.0"), false).on, "kernel datapath");
        assert!(supported(Some("2.13")) && !supported(Some("2.9.1")));
        assert!(!supported(Some("3.x")));
    }
}
