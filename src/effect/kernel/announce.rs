//! Telling the neighbours about an address, from inside its namespace: a
//! gratuitous ARP request for IPv4 (what `arping -U -c 1 -I DEV ADDR` sends:
//! sender and target are the address, to the broadcast MAC) and an
//! unsolicited neighbour advertisement for IPv6 (override flag set, to all
//! nodes, hop limit 255, with the target link-layer address). A peer whose
//! entry for the address is stale (the device was made again) or failed is
//! corrected at once instead of after its entry times out.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn socket(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned by the OwnedFd from here on.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The ifindex and Ethernet address of `dev` in the calling thread's
/// namespace (SIOCGIFINDEX, SIOCGIFHWADDR).
fn iface(dev: &str) -> io::Result<(i32, [u8; 6])> {
    let s = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // SAFETY: a zeroed ifreq with a NUL-terminated name (≤ 15 bytes) and two
    // ioctls that fill it in.
    unsafe {
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in dev.bytes().take(15).enumerate() {
            ifr.ifr_name[i] = b as libc::c_char;
        }
        cvt(libc::ioctl(
            s.as_raw_fd(),
            libc::SIOCGIFINDEX as _,
            &mut ifr,
        ))?;
        let index = ifr.ifr_ifru.ifru_ifindex;
        cvt(libc::ioctl(
            s.as_raw_fd(),
            libc::SIOCGIFHWADDR as _,
            &mut ifr,
        ))?;
        let sa = ifr.ifr_ifru.ifru_hwaddr.sa_data;
        let mut mac = [0u8; 6];
        for (m, b) in mac.iter_mut().zip(sa.iter()) {
            *m = *b as u8;
        }
        Ok((index, mac))
    }
}

/// Send the announcement for `addr` on `dev` (calling thread's namespace).
pub fn announce(dev: &str, addr: &IpAddr) -> io::Result<()> {
    let (index, mac) = iface(dev)?;
    match addr {
        IpAddr::V4(a) => garp(index, mac, *a),
        IpAddr::V6(a) => unsolicited_na(index, mac, *a),
    }
}

fn garp(index: i32, mac: [u8; 6], addr: Ipv4Addr) -> io::Result<()> {
    const ETH_P_ARP: u16 = 0x0806;
    let s = socket(
        libc::AF_PACKET,
        libc::SOCK_DGRAM,
        (ETH_P_ARP.to_be()) as libc::c_int,
    )?;
    let mut pkt = Vec::with_capacity(28);
    pkt.extend_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    pkt.extend_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    pkt.extend_from_slice(&[6, 4]);
    pkt.extend_from_slice(&1u16.to_be_bytes()); // request (what arping -U sends)
    pkt.extend_from_slice(&mac);
    pkt.extend_from_slice(&addr.octets());
    pkt.extend_from_slice(&[0; 6]);
    pkt.extend_from_slice(&addr.octets());
    // SAFETY: a zeroed sockaddr_ll filled in field by field, passed with its size.
    unsafe {
        let mut to: libc::sockaddr_ll = std::mem::zeroed();
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = ETH_P_ARP.to_be();
        to.sll_ifindex = index;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        cvt(libc::sendto(
            s.as_raw_fd(),
            pkt.as_ptr() as *const libc::c_void,
            pkt.len(),
            0,
            &to as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        ) as libc::c_int)?;
    }
    Ok(())
}

fn sockaddr6(addr: Ipv6Addr, scope: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; zero is a valid value.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as u16;
    sa.sin6_addr.s6_addr = addr.octets();
    sa.sin6_scope_id = scope;
    sa
}

fn unsolicited_na(index: i32, mac: [u8; 6], addr: Ipv6Addr) -> io::Result<()> {
    let s = socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6)?;
    let hops: libc::c_int = 255; // RFC 4861: ND messages carry hop limit 255
    let ifindex = index as libc::c_uint;
    let link_local = (addr.segments()[0] & 0xffc0) == 0xfe80;
    let src = sockaddr6(addr, if link_local { ifindex } else { 0 });
    let dst = sockaddr6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), ifindex);
    let mut pkt = Vec::with_capacity(32);
    pkt.extend_from_slice(&[136, 0, 0, 0]); // neighbour advertisement; the kernel fills the checksum
    pkt.extend_from_slice(&[0x20, 0, 0, 0]); // override
    pkt.extend_from_slice(&addr.octets());
    pkt.extend_from_slice(&[2, 1]); // target link-layer address, 8 bytes
    pkt.extend_from_slice(&mac);
    let size6 = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: setsockopt/bind/sendto with pointers to live values and their sizes.
    unsafe {
        let fd = s.as_raw_fd();
        let int = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        cvt(libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_HOPS,
            &hops as *const libc::c_int as *const libc::c_void,
            int,
        ))?;
        cvt(libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_IF,
            &ifindex as *const libc::c_uint as *const libc::c_void,
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        ))?;
        cvt(libc::bind(
            fd,
            &src as *const libc::sockaddr_in6 as *const libc::sockaddr,
            size6,
        ))?;
        cvt(libc::sendto(
            fd,
            pkt.as_ptr() as *const libc::c_void,
            pkt.len(),
            0,
            &dst as *const libc::sockaddr_in6 as *const libc::sockaddr,
            size6,
        ) as libc::c_int)?;
    }
    Ok(())
}
