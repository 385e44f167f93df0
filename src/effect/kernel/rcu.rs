//! Expedited RCU grace periods while ovs-vswitchd lets go of many ports
//! (`echo 1 > /sys/kernel/rcu_expedited`, put back afterwards).
//!
//! Why (measured here, kernel 6.18, OVS 3.1.0 userspace datapath, `swctl
//! bench --setup-only --hosts 250`): the teardown of 250 hosts on OVS veth
//! ports took 3.93 s against the Linux bridge's 0.30 s (13x). ovs-vswitchd
//! reads each veth port through an AF_PACKET socket, and closing one waits
//! for an RCU grace period (net/packet/af_packet.c: `packet_release` calls
//! `synchronize_net()` unconditionally), one socket after another in its
//! main thread: ~14 ms a port. With expedited grace periods the same
//! teardown took 0.94 s (3.1x the bridge's). The setting is the whole
//! machine's: swctl sets it only when it was off, only while ovs-vswitchd
//! applies the removal (swctl's own changes are serialized by its lock),
//! and puts it back; a kernel without the file is left as it is.

const FILE: &str = "/sys/kernel/rcu_expedited";

/// Expedited grace periods until dropped (a no-op where they were on
/// already, or cannot be set).
pub struct Expedited {
    set: bool,
}

impl Expedited {
    pub fn start() -> Expedited {
        let off = std::fs::read_to_string(FILE).is_ok_and(|v| v.trim() == "0");
        let set = off && std::fs::write(FILE, "1").is_ok();
        if set {
            tracing::debug!("{FILE}: 1 while ovs-vswitchd removes ports");
        }
        Expedited { set }
    }
}

impl Drop for Expedited {
    fn drop(&mut self) {
        if self.set {
            let _ = std::fs::write(FILE, "0");
        }
    }
}
