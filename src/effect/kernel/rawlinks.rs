//! `ip link show` of one namespace read straight off the netlink socket:
//! each device's message walked for the few attributes `dump::link_row`
//! keeps (name, alias, master, MTU, group, address, kind, IPv4's
//! `arp_ignore`) instead of parsed whole into netlink-packet-route's types
//! first. Why: that parse of every attribute (a bridge port's 40, IPv6's
//! configuration array) and its allocations were most of the CPU of an
//! imperative command beside a big lab (measured, `swctl attach` of one
//! host: 7.5 ms next to 1 bridge port, 19.9 ms next to 200, the host's link
//! dump the difference). A vxlan device, rare and with nested data swctl
//! reads, is handed to the full parse (`link_row`) as before.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use netlink_packet_route::RouteNetlinkMessage;

use crate::effect::NlError;
use crate::model::names::{Loc, Mac};
use crate::model::{LinkObs, Mark};

pub(super) const NLMSG_HDR: usize = 16;
const IFINFO: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_GETLINK: u16 = 18;
const RTM_NEWLINK: u16 = 16;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_AF_SPEC: u16 = 26;
const IFLA_GROUP: u16 = 27;
const IFLA_EXT_MASK: u16 = 29;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INET_CONF: u16 = 1;
const AF_INET: u16 = 2;
/// `IPV4_DEVCONF_ARP_IGNORE` (include/uapi/linux/ip.h), 1-based: the
/// array holds `cnf.data[i - 1]`
const ARP_IGNORE: usize = 19;
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
const IFF_UP: u32 = 1;

/// The attributes of a netlink message body: (type without flags, value).
pub(super) fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            return None;
        }
        let value = &b[4..len];
        b = &b[len.next_multiple_of(4).min(b.len())..];
        Some((kind, value))
    })
}

fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

fn string(v: &[u8]) -> String {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// One RTM_NEWLINK message (header included) as `link_row` makes it.
pub(super) fn row(msg: &[u8]) -> Option<(LinkObs, Option<u32>)> {
    let body = msg.get(NLMSG_HDR..)?;
    let hdr = body.get(..IFINFO)?;
    let index = u32_of(&hdr[4..8])?;
    let flags = u32_of(&hdr[8..12])?;
    let mut o = LinkObs::unnamed(index, flags & IFF_UP != 0);
    let mut master = None;
    for (kind, v) in attrs(&body[IFINFO..]) {
        match kind {
            IFLA_IFNAME => o.name = string(v),
            IFLA_IFALIAS => {
                let s = string(v);
                o.mark = Mark::from_alias(&s);
                o.alias = Some(s);
            }
            IFLA_MASTER => master = u32_of(v),
            IFLA_MTU => o.mtu = u32_of(v)?,
            IFLA_GROUP => o.group = u32_of(v)?,
            IFLA_ADDRESS if v.len() == 6 => o.mac = Some(Mac(v.try_into().ok()?)),
            IFLA_LINKINFO => {
                for (k, kv) in attrs(v) {
                    if k == IFLA_INFO_KIND {
                        o.kind = Some(string(kv));
                    }
                }
                if o.kind.as_deref() == Some("vxlan") {
                    // its nested data: the full parse, as before
                    let m =
                        netlink_packet_core::NetlinkMessage::<RouteNetlinkMessage>::deserialize(
                            msg,
                        )
                        .ok()?;
                    let netlink_packet_core::NetlinkPayload::InnerMessage(inner) = m.payload else {
                        return None;
                    };
                    return super::dump::link_row(inner);
                }
            }
            IFLA_AF_SPEC => {
                for (family, fv) in attrs(v) {
                    if family != AF_INET {
                        continue;
                    }
                    for (k, conf) in attrs(fv) {
                        if k == IFLA_INET_CONF {
                            let at = (ARP_IGNORE - 1) * 4;
                            o.arp_ignore = conf.get(at..at + 4).and_then(u32_of).map(|x| x as i32);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Some((o, master))
}

/// A question on a raw socket that failed, as the kernel's answer to `op`.
pub(super) fn failed(op: String, e: io::Error) -> NlError {
    let errno = e.raw_os_error().unwrap_or(libc::EIO);
    let words = crate::effect::words(errno, &op);
    NlError::Request { op, errno, words }
}

impl super::Kernel {
    /// `ip link show` of one namespace: the host's (where a big lab's ports
    /// are) read raw off a socket of its own (`rawlinks`), the others'
    /// through their rtnetlink connection.
    pub(super) async fn link_dump(
        &self,
        loc: &Loc,
    ) -> Result<Vec<(LinkObs, Option<u32>)>, NlError> {
        let op = || format!("ip {}link show", loc.ip_n());
        if *loc == Loc::Host {
            let sock = super::netns::netlink_socket().map_err(|e| NlError::Socket(op(), e))?;
            return dump(&sock).map_err(|e| failed(op(), e));
        }
        self.request_map(
            loc,
            RouteNetlinkMessage::GetLink(super::link_query(None)),
            netlink_packet_core::NLM_F_DUMP,
            op,
            super::dump::link_row,
        )
        .await
    }
}

/// Which devices a question asks for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Which<'a> {
    /// `ip link show`: a dump of every device
    All,
    /// `ip link show DEV`
    Named(&'a str),
    /// the device with this index
    Index(u32),
    /// `ip link show master BR`: the ports of the bridge with this index
    /// (a dump the kernel filters before it fills a message: the others'
    /// cost nothing)
    PortsOf(u32),
}

fn push_attr(b: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    b.extend_from_slice(&(len as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(value);
    b.resize(b.len().next_multiple_of(4), 0);
}

/// A question's bytes: the netlink header (type `kind`, a request, a dump
/// when `dump`, sequence 1, port 0: the kernel) over `body`, its length set.
pub(super) fn question(kind: u16, dump: bool, body: &[u8]) -> Vec<u8> {
    let flags = netlink_packet_core::NLM_F_REQUEST
        | if dump {
            netlink_packet_core::NLM_F_DUMP
        } else {
            0
        };
    let len = (NLMSG_HDR + body.len()) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&1u32.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(body);
    b
}

/// The question: RTM_GETLINK without counters, for `which`.
fn request(which: Which) -> Vec<u8> {
    let mut body = vec![0u8; IFINFO];
    if let Which::Index(i) = which {
        body[4..8].copy_from_slice(&i.to_ne_bytes());
    }
    push_attr(
        &mut body,
        IFLA_EXT_MASK,
        &RTEXT_FILTER_SKIP_STATS.to_ne_bytes(),
    );
    match which {
        Which::Named(n) => {
            let mut v = n.as_bytes().to_vec();
            v.push(0);
            push_attr(&mut body, IFLA_IFNAME, &v);
        }
        Which::PortsOf(i) => push_attr(&mut body, IFLA_MASTER, &i.to_ne_bytes()),
        Which::All | Which::Index(_) => {}
    }
    let dump = matches!(which, Which::All | Which::PortsOf(_));
    question(RTM_GETLINK, dump, &body)
}

/// Every device of the namespace `sock` was opened in (`ip link show`):
/// a blocking dump on its own socket, each message walked as it comes.
pub(super) fn dump(sock: &OwnedFd) -> io::Result<Vec<(LinkObs, Option<u32>)>> {
    ask(sock, Which::All)
}

/// The devices `which` asks for, in the namespace `sock` was opened in;
/// a device asked for by name or index that does not exist: none.
pub(super) fn ask(sock: &OwnedFd, which: Which) -> io::Result<Vec<(LinkObs, Option<u32>)>> {
    let one = matches!(which, Which::Named(_) | Which::Index(_));
    talk(sock, &request(which), one, RTM_NEWLINK, row)
}

/// One question `req` on `sock` and its answers of type `kind`, each
/// walked by `walk` as it comes: a blocking exchange (the kernel fills
/// each batch of a dump in the recv itself). `one`: a question about one
/// object, answered by one message (no DONE) or ENODEV (none).
pub(super) fn talk<T>(
    sock: &OwnedFd,
    req: &[u8],
    one: bool,
    kind: u16,
    walk: impl Fn(&[u8]) -> Option<T>,
) -> io::Result<Vec<T>> {
    let fd = sock.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
    }
    // SAFETY: a buffer of req.len() bytes; the socket is connected to the kernel
    if unsafe { libc::send(fd, req.as_ptr().cast(), req.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 64 << 10];
    let mut out = Vec::new();
    loop {
        // SAFETY: buf is writable for its length
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut b = &buf[..n as usize];
        while b.len() >= NLMSG_HDR {
            let len = u32::from_ne_bytes(b[..4].try_into().expect("4 bytes")) as usize;
            let t = u16::from_ne_bytes([b[4], b[5]]);
            if len < NLMSG_HDR || len > b.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a netlink message longer than what was read",
                ));
            }
            match t {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let code = b
                        .get(NLMSG_HDR..NLMSG_HDR + 4)
                        .and_then(u32_of)
                        .map_or(0, |c| c as i32);
                    if code != 0 && !(one && -code == libc::ENODEV) {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    return Ok(out);
                }
                t if t == kind => {
                    out.extend(walk(&b[..len]));
                    // a question about one object has one answer, no DONE
                    if one {
                        return Ok(out);
                    }
                }
                _ => {}
            }
            b = &b[len.next_multiple_of(4).min(b.len())..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::names::NsName;
    use crate::model::part::Part;

    fn ip(args: &[&str]) {
        let ok = std::process::Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?}");
    }

    /// The raw walk and netlink-packet-route's full parse (`link_row`, what
    /// every other namespace still goes through) see the same devices the
    /// same way: a bridge, a veth pair with a mark in its alias and
    /// arp_ignore set, a vxlan device (handed to the full parse), `lo`.
    #[test]
    fn the_raw_walk_reads_what_the_full_parse_reads() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("not run: needs root (a namespace of its own)");
            return;
        }
        let ns = format!("zraw{}", std::process::id() % 100000);
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &ns])
            .status();
        ip(&["netns", "add", &ns]);
        let cleanup = scopeguard(&ns);
        ip(&["-n", &ns, "link", "add", "br0", "type", "bridge"]);
        ip(&[
            "-n", &ns, "link", "add", "v0", "group", "29559", "type", "veth", "peer", "name", "v1",
        ]);
        ip(&[
            "-n",
            &ns,
            "link",
            "set",
            "v0",
            "master",
            "br0",
            "up",
            "alias",
            "swctl:1 owner=t role=switch",
        ]);
        ip(&[
            "-n",
            &ns,
            "link",
            "add",
            "vx0",
            "type",
            "vxlan",
            "id",
            "42",
            "local",
            "198.18.0.1",
            "dstport",
            "4789",
        ]);
        ip(&[
            "netns",
            "exec",
            &ns,
            "sysctl",
            "-qw",
            "net.ipv4.conf.v1.arp_ignore=1",
        ]);
        let name: NsName = ns.parse().unwrap();
        let sock = crate::effect::kernel::netns::run_in(
            Some(&name),
            crate::effect::kernel::netns::netlink_socket,
        )
        .unwrap()
        .unwrap();
        let raw = dump(&sock).unwrap();
        let k = crate::effect::kernel::Kernel::new().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let loc = Loc::Ns(name);
        let full = rt
            .block_on(k.request_map(
                &loc,
                RouteNetlinkMessage::GetLink(super::super::link_query(None)),
                netlink_packet_core::NLM_F_DUMP,
                || "ip link show".into(),
                super::super::dump::link_row,
            ))
            .unwrap();
        assert_eq!(raw.len(), 5, "{raw:#?}");
        assert_eq!(raw, full);
        let by = |n: &str| raw.iter().find(|(l, _)| l.name == n).unwrap();
        assert_eq!(by("v1").0.arp_ignore, Some(1));
        assert!(by("v0").0.mark.is_some() && by("v0").0.group == 29559);
        assert_eq!(by("v0").1, Some(by("br0").0.index));
        assert!(by("vx0").0.vxlan.is_some());

        // questions about part of the namespace answer what the dump says
        let one = |w: Which| ask(&sock, w).unwrap();
        assert_eq!(one(Which::Named("v1")), vec![by("v1").clone()]);
        assert_eq!(
            one(Which::Index(by("br0").0.index)),
            vec![by("br0").clone()]
        );
        assert_eq!(
            one(Which::PortsOf(by("br0").0.index)),
            vec![by("v0").clone()]
        );
        assert!(one(Which::Named("nothere")).is_empty());
        // and a part read so equals the whole observation cut to it
        // (`Part::cut`, what the fake does): the bridge named, its port,
        // a device named whose master is not, that master
        ip(&["-n", &ns, "link", "add", "br1", "type", "bridge"]);
        ip(&["-n", &ns, "link", "set", "v1", "master", "br1"]);
        ip(&["-n", &ns, "addr", "add", "198.18.0.9/24", "dev", "v1"]);
        ip(&["-n", &ns, "addr", "add", "2001:db8::9/64", "dev", "v1"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            "198.18.0.10/32",
            "peer",
            "198.18.0.11",
            "dev",
            "br0",
        ]);
        let part = Part {
            devices: ["br0", "v1", "nothere"].map(String::from).into(),
            counted: ["br0"].map(String::from).into(),
        };
        let got = rt.block_on(k.part_dump(&loc, &part)).unwrap();
        let mut want = rt.block_on(k.dump_all(&loc)).unwrap();
        part.cut(&mut want);
        assert_eq!(got, want);
        let names: Vec<&str> = got.links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["br0", "v1", "br1"]);
        // br0's port v0 counted, not read (this namespace's ports by the
        // filtered dump: sysfs here is the host's)
        assert_eq!(got.unread_ports, [("br0".to_string(), 1)].into());
        assert!(
            got.link("v1")
                .is_some_and(|l| l.master.as_deref() == Some("br1") && l.addrs.len() == 2),
            "{got:?}"
        );
        // the local end of a point-to-point address, as the full parse
        assert_eq!(got.link("br0").unwrap().addrs.len(), 1);
        drop(cleanup);
    }

    struct Guard(String);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }
    fn scopeguard(ns: &str) -> Guard {
        Guard(ns.to_string())
    }
}
