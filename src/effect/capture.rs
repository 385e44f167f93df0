//! Packets off a device, natively (`ip netns exec NS tcpdump -i DEV -w -`,
//! without tcpdump): an AF_PACKET socket opened on a thread that entered
//! the namespace, bound to the device (or to every device but `lo`), read
//! with the kernel's per-packet data (PACKET_AUXDATA) so a VLAN tag the
//! device took off in hardware fashion (veth, bridge ports: the tag rides
//! beside the frame) is put back in the frame, as libpcap does; written as
//! pcap (LINKTYPE_ETHERNET), each record flushed at once so that
//! `swctl capture h1 | tcpdump -r -` or `| wireshark -k -i -` sees it live.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::NlError;
use super::kernel::netns;
use crate::model::names::NsName;

/// pcap's magic (microsecond timestamps), version 2.4, LINKTYPE_ETHERNET.
const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
/// TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID (linux/if_packet.h)
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
/// How often a read gives up to look at the stop flag.
const TICK: Duration = Duration::from_millis(200);

/// An open capture.
pub struct Capture {
    fd: OwnedFd,
    /// the device's index; None: every device of the namespace but `lo`
    pub ifindex: Option<u32>,
    pub snaplen: u32,
    buf: Vec<u8>,
}

/// One frame as captured.
pub struct Frame<'a> {
    pub time: SystemTime,
    /// the frame, its VLAN tag back in, at most `snaplen` bytes
    pub data: &'a [u8],
    /// its length on the wire
    pub len: u32,
}

fn last_os_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Open a capture of `dev` in namespace `ns` (None: this process's), or of
/// every device there but `lo` when `dev` is None.
pub fn open(ns: Option<&NsName>, dev: Option<&str>, snaplen: u32) -> Result<Capture, NlError> {
    let where_ = ns.map_or("host".to_string(), |n| n.to_string());
    let opened = netns::run_in(ns, || -> io::Result<(OwnedFd, Option<u32>)> {
        let ifindex = dev
            .map(|d| {
                nix::net::if_::if_nametoindex(d)
                    .map_err(|_| io::Error::new(io::ErrorKind::NotFound, format!("no device {d}")))
            })
            .transpose()?;
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2); the fd is owned right after.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                proto as i32,
            )
        };
        if raw < 0 {
            return Err(last_os_error("socket(AF_PACKET)"));
        }
        // SAFETY: raw is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: a zeroed sockaddr_ll is valid; the fields set are its own.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex.unwrap_or(0) as i32;
        // SAFETY: sll is a valid sockaddr_ll of the size given.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r < 0 {
            return Err(last_os_error("bind"));
        }
        let one: libc::c_int = 1;
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: TICK.as_micros() as libc::suseconds_t,
        };
        let rcvbuf: libc::c_int = 4 << 20;
        // SAFETY: setsockopt with values of the sizes given.
        unsafe {
            let set = |level, name, v: *const libc::c_void, len| {
                libc::setsockopt(fd.as_raw_fd(), level, name, v, len as u32)
            };
            if set(
                libc::SOL_PACKET,
                libc::PACKET_AUXDATA,
                &one as *const _ as *const _,
                4,
            ) < 0
            {
                return Err(last_os_error("PACKET_AUXDATA"));
            }
            set(
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const _,
                std::mem::size_of::<libc::timeval>(),
            );
            set(
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &rcvbuf as *const _ as *const _,
                4,
            );
        }
        Ok((fd, ifindex))
    })?
    .map_err(|e| NlError::Socket(where_, e))?;
    Ok(Capture {
        fd: opened.0,
        ifindex: opened.1,
        snaplen,
        buf: vec![0; 65536 + 4],
    })
}

impl Capture {
    /// The next frame; None when none came within a moment (look at the
    /// stop flag and call again).
    pub fn read(&mut self) -> io::Result<Option<Frame<'_>>> {
        loop {
            // room for the VLAN tag in front: the frame is read 4 bytes in
            let mut iov = libc::iovec {
                iov_base: self.buf[4..].as_mut_ptr() as *mut libc::c_void,
                iov_len: self.buf.len() - 4,
            };
            let mut cbuf = [0u64; 16];
            // SAFETY: a zeroed sockaddr_ll and msghdr are valid.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = &mut from as *mut _ as *mut libc::c_void;
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = std::mem::size_of_val(&cbuf);
            // SAFETY: msg points at live buffers of the sizes it says.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(None),
                    io::ErrorKind::Interrupted => Ok(None),
                    _ => Err(e),
                };
            }
            let time = SystemTime::now();
            // every device but lo: loopback's frames are not the lab's
            if self.ifindex.is_none() && from.sll_hatype == libc::ARPHRD_LOOPBACK {
                continue;
            }
            let wire = n as usize;
            let got = wire.min(self.buf.len() - 4);
            let vlan = auxdata_vlan(&msg);
            let (start, len) = match vlan {
                Some((tpid, tci)) if got >= 12 => {
                    // move the addresses 4 bytes forward, the tag after them
                    self.buf.copy_within(4..16, 0);
                    self.buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                    self.buf[14..16].copy_from_slice(&tci.to_be_bytes());
                    (0, got + 4)
                }
                _ => (4, got),
            };
            let wire_len = (wire + if vlan.is_some() { 4 } else { 0 }) as u32;
            let keep = len.min(self.snaplen as usize);
            return Ok(Some(Frame {
                time,
                data: &self.buf[start..start + keep],
                len: wire_len,
            }));
        }
    }
}

/// The VLAN tag the kernel kept beside the frame (struct tpacket_auxdata).
fn auxdata_vlan(msg: &libc::msghdr) -> Option<(u16, u16)> {
    // SAFETY: the cmsg macros walk the control buffer recvmsg filled.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA {
                let a =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::tpacket_auxdata);
                if a.tp_status & TP_STATUS_VLAN_VALID != 0 {
                    let tpid = if a.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                        a.tp_vlan_tpid
                    } else {
                        0x8100
                    };
                    return Some((tpid, a.tp_vlan_tci));
                }
                return None;
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// pcap's file header.
pub fn pcap_header(snaplen: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&PCAP_MAGIC.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&snaplen.to_le_bytes());
    h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// One pcap record: its header, then the frame.
pub fn pcap_record(out: &mut dyn Write, f: &Frame) -> io::Result<()> {
    let t = f.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&(t.as_secs() as u32).to_le_bytes());
    h[4..8].copy_from_slice(&t.subsec_micros().to_le_bytes());
    h[8..12].copy_from_slice(&(f.data.len() as u32).to_le_bytes());
    h[12..16].copy_from_slice(&f.len.to_le_bytes());
    out.write_all(&h)?;
    out.write_all(f.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pcap_file_is_what_libpcap_reads() {
        let h = pcap_header(262144);
        assert_eq!(h.len(), 24);
        assert_eq!(&h[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        let mut rec = Vec::new();
        let f = Frame {
            time: UNIX_EPOCH + Duration::from_micros(1_500_000),
            data: &[1, 2, 3],
            len: 60,
        };
        pcap_record(&mut rec, &f).unwrap();
        assert_eq!(rec.len(), 19);
        assert_eq!(&rec[..8], &[1, 0, 0, 0, 0x20, 0xa1, 0x07, 0]);
        assert_eq!(&rec[8..16], &[3, 0, 0, 0, 60, 0, 0, 0]);
    }
}
