//! Which OVS datapath works on this host: the kernel one (`system`) needs
//! the openvswitch module; without it ovs-vswitchd runs the userspace
//! datapath (`netdev`). Detected, never hard-coded.

/// Whether the kernel's openvswitch datapath is usable: its generic
/// netlink family `ovs_datapath` exists. (ovs-vswitchd lists
/// `datapath_types = [netdev, system]` even where `system` fails.)
pub fn kernel_datapath() -> bool {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};
    let Ok(mut s) = Socket::new(NETLINK_GENERIC) else {
        return false;
    };
    if s.bind_auto().is_err() {
        return false;
    }
    let name = b"ovs_datapath\0";
    let attr_len = 4 + name.len();
    let padded = (attr_len + 3) & !3;
    let total = 16 + 4 + padded;
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&0x10u16.to_ne_bytes()); // GENL_ID_CTRL
    m.extend_from_slice(&(1u16 | 4).to_ne_bytes()); // NLM_F_REQUEST | NLM_F_ACK
    m.extend_from_slice(&1u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid
    m.extend_from_slice(&[3, 1, 0, 0]); // CTRL_CMD_GETFAMILY, version 1
    m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    m.extend_from_slice(&2u16.to_ne_bytes()); // CTRL_ATTR_FAMILY_NAME
    m.extend_from_slice(name);
    m.resize(total, 0);
    if s.send_to(&m, &SocketAddr::new(0, 0), 0).is_err() {
        return false;
    }
    let mut buf = vec![0u8; 8192];
    let Ok(n) = s.recv(&mut &mut buf[..], 0) else {
        return false;
    };
    if n < 20 {
        return false;
    }
    let ty = u16::from_ne_bytes([buf[4], buf[5]]);
    // NLMSG_ERROR (2) first means the family does not exist
    ty == 0x10
}
