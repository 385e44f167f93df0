//! Queueing disciplines over rtnetlink, natively: `tc qdisc replace dev
//! DEV root handle 5357: tbf|netem ...`, `tc qdisc del dev DEV root handle
//! 5357:`, `tc qdisc show`, and which kinds this kernel has.
//!
//! netlink-packet-route 0.34 knows neither tbf nor netem (their options
//! come back as one opaque attribute), so their TCA_OPTIONS are written
//! and read here, exactly as iproute2 6.1's `tc` writes them (q_tbf.c,
//! q_netem.c, tc_core.c): netem's options are its `tc_netem_qopt` struct
//! followed by attributes, not a nested list. tests/impair_wire.rs compares
//! each message with the one `tc` sends for the same words, byte for byte.

use netlink_packet_core::{
    DefaultNla, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};

use super::Kernel;
use crate::effect::NlError;
use crate::model::impair::{
    HANDLE_MAJOR, Impair, Netem, Qdisc, QdiscKinds, QdiscObs, Rate, TICKS_PER_US, Tbf, Time,
};
use crate::model::names::Loc;

const TCA_OPTIONS: u16 = 2;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RTAB: u16 = 2;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TCA_NETEM_REORDER: u16 = 3;
const TCA_NETEM_CORRUPT: u16 = 4;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
/// tc's `enum link_layer`: LINKLAYER_ETHERNET (the kernel then ignores the
/// rate table, but tc sends one: so does swctl)
const LINKLAYER_ETHERNET: u8 = 1;

/// One netlink attribute: header, value, padding to 4 bytes.
fn attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// tc_core.c's `tc_calc_xmittime`: the ticks to send `size` bytes at
/// `rate` bytes a second (each conversion truncates, as C's does).
fn xmittime(rate: u32, size: u32) -> u32 {
    let us = (1e6 * (size as f64 / rate as f64)) as u32;
    (us as f64 * TICKS_PER_US) as u32
}

/// The TCA_OPTIONS payload of a qdisc, as `tc` writes it.
pub fn options(q: &Qdisc) -> Vec<u8> {
    match q {
        Qdisc::Tbf(t) => tbf_options(t),
        Qdisc::Netem(n) => netem_options(n),
    }
}

fn tbf_options(t: &Tbf) -> Vec<u8> {
    let rate32 = t.rate.min(u32::MAX as u64) as u32;
    // tc_calc_rtable with tc's default mtu 2047: cell_log 3
    let cell_log = 3u8;
    let rtab: Vec<u32> = (0..256u32)
        .map(|i| xmittime(rate32, (i + 1) << cell_log))
        .collect();
    // struct tc_ratespec: cell_log, linklayer, overhead, cell_align, mpu, rate
    let mut parms = vec![cell_log, LINKLAYER_ETHERNET];
    parms.extend_from_slice(&0u16.to_ne_bytes());
    parms.extend_from_slice(&(-1i16).to_ne_bytes());
    parms.extend_from_slice(&0u16.to_ne_bytes());
    parms.extend_from_slice(&rate32.to_ne_bytes());
    // the peak rate: none
    parms.extend_from_slice(&[0; 12]);
    // limit, buffer (ticks), mtu
    parms.extend(u32s(&[t.limit, xmittime(rate32, t.burst), 0]));
    let mut out = Vec::new();
    attr(&mut out, TCA_TBF_PARMS, &parms);
    attr(&mut out, TCA_TBF_BURST, &t.burst.to_ne_bytes());
    if t.rate >= 1 << 32 {
        attr(&mut out, TCA_TBF_RATE64, &t.rate.to_ne_bytes());
    }
    attr(&mut out, TCA_TBF_RTAB, &u32s(&rtab));
    out
}

fn netem_options(n: &Netem) -> Vec<u8> {
    // struct tc_netem_qopt: latency, limit, loss, gap, duplicate, jitter
    let mut out = u32s(&[n.latency, n.limit, n.loss, n.gap, n.duplicate, n.jitter]);
    if n.reorder > 0 {
        // struct tc_netem_reorder: probability, correlation
        attr(&mut out, TCA_NETEM_REORDER, &u32s(&[n.reorder, 0]));
    }
    if n.corrupt > 0 {
        attr(&mut out, TCA_NETEM_CORRUPT, &u32s(&[n.corrupt, 0]));
    }
    if n.rate > 0 {
        let rate32 = if n.rate >= 1 << 32 {
            attr(&mut out, TCA_NETEM_RATE64, &n.rate.to_ne_bytes());
            u32::MAX
        } else {
            n.rate as u32
        };
        // struct tc_netem_rate: rate, packet_overhead, cell_size, cell_overhead
        attr(&mut out, TCA_NETEM_RATE, &u32s(&[rate32, 0, 0, 0]));
    }
    out
}

/// The attributes after a struct of `skip` bytes: (kind, value).
fn attrs(b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= b.len() {
        let len = u16::from_ne_bytes([b[i], b[i + 1]]) as usize;
        let kind = u16::from_ne_bytes([b[i + 2], b[i + 3]]) & 0x3fff;
        if len < 4 || i + len > b.len() {
            break;
        }
        out.push((kind, &b[i + 4..i + len]));
        i += len.next_multiple_of(4);
    }
    out
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

fn u64_of(b: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(..8)?.try_into().ok()?))
}

/// A qdisc swctl knows from its kind and TCA_OPTIONS payload, as the
/// kernel dumps it (sch_tbf.c's and sch_netem.c's `dump`).
pub fn decode(kind: &str, b: &[u8]) -> Option<Qdisc> {
    match kind {
        "tbf" => {
            let mut parms = None;
            let mut rate64 = None;
            for (k, v) in attrs(b) {
                match k {
                    TCA_TBF_PARMS => parms = Some(v),
                    TCA_TBF_RATE64 => rate64 = u64_of(v),
                    _ => {}
                }
            }
            let p = parms?;
            let rate = rate64.unwrap_or(u32_at(p, 8)? as u64);
            let limit = u32_at(p, 24)?;
            let buffer_ns = u32_at(p, 28)? as u64 * 64;
            let burst = (buffer_ns as u128 * rate as u128 / 1_000_000_000) as u32;
            Some(Qdisc::Tbf(Tbf { rate, burst, limit }))
        }
        "netem" => {
            let q: Vec<u32> = (0..6).map(|i| u32_at(b, i * 4)).collect::<Option<_>>()?;
            let mut n = Netem {
                latency: q[0],
                limit: q[1],
                loss: q[2],
                gap: q[3],
                duplicate: q[4],
                jitter: q[5],
                reorder: 0,
                corrupt: 0,
                rate: 0,
            };
            let mut rate64 = None;
            for (k, v) in attrs(&b[24..]) {
                match k {
                    TCA_NETEM_REORDER => n.reorder = u32_at(v, 0)?,
                    TCA_NETEM_CORRUPT => n.corrupt = u32_at(v, 0)?,
                    TCA_NETEM_RATE => n.rate = u32_at(v, 0)? as u64,
                    TCA_NETEM_RATE64 => rate64 = u64_of(v),
                    _ => {}
                }
            }
            if let Some(r) = rate64 {
                n.rate = r;
            }
            Some(Qdisc::Netem(n))
        }
        _ => None,
    }
}

/// `tc qdisc replace dev IFINDEX root handle 5357: ...` as a message.
pub fn replace_message(ifindex: u32, q: &Qdisc) -> TcMessage {
    let mut m = TcMessage::with_index(ifindex as i32);
    m.header.handle = TcHandle {
        major: HANDLE_MAJOR,
        minor: 0,
    };
    m.header.parent = TcHandle::ROOT;
    m.attributes.push(TcAttribute::Kind(q.kind().to_string()));
    m.attributes
        .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options(q))));
    m
}

/// The flags of `tc qdisc replace`.
pub const REPLACE_FLAGS: u16 = NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;

/// The whole request as it goes on the wire (sequence number 0).
pub fn replace_bytes(ifindex: u32, q: &Qdisc) -> Vec<u8> {
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(replace_message(
        ifindex, q,
    )));
    req.header.flags = NLM_F_REQUEST | REPLACE_FLAGS;
    req.finalize();
    let mut buf = vec![0; req.buffer_len()];
    req.serialize(&mut buf);
    buf
}

/// The root qdisc of a dumped one, with its device's index.
pub(super) fn qdisc_row(r: RouteNetlinkMessage) -> Option<(u32, QdiscObs)> {
    let RouteNetlinkMessage::NewQueueDiscipline(m) = r else {
        return None;
    };
    if m.header.parent != TcHandle::ROOT {
        return None;
    }
    let mut kind = String::new();
    let mut config = None;
    for a in &m.attributes {
        if let TcAttribute::Kind(k) = a {
            kind = k.clone();
        }
    }
    for a in &m.attributes {
        if let TcAttribute::Options(o) = a {
            for x in o {
                if let TcOption::Other(nla) = x {
                    use netlink_packet_core::Nla;
                    let mut v = vec![0; nla.value_len()];
                    nla.emit_value(&mut v);
                    config = decode(&kind, &v);
                }
            }
        }
    }
    let handle = ((m.header.handle.major as u32) << 16) | m.header.handle.minor as u32;
    Some((
        m.header.index as u32,
        QdiscObs {
            handle,
            kind,
            config,
        },
    ))
}

impl crate::effect::TrafficControl for Kernel {
    async fn set_qdisc(&self, loc: &Loc, dev: &str, q: &Qdisc) -> Result<(), NlError> {
        self.replace_qdisc(loc, dev, q).await
    }
    async fn del_qdisc(&self, loc: &Loc, dev: &str) -> Result<(), NlError> {
        self.delete_qdisc(loc, dev).await
    }
    fn qdisc_kinds(&self) -> Result<QdiscKinds, NlError> {
        static KINDS: std::sync::OnceLock<QdiscKinds> = std::sync::OnceLock::new();
        if let Some(k) = KINDS.get() {
            return Ok(*k);
        }
        let k = probe_kinds()?;
        Ok(*KINDS.get_or_init(|| k))
    }
}

impl Kernel {
    /// `tc qdisc show` in one namespace: each device's root qdisc.
    pub(super) async fn qdisc_dump(&self, loc: &Loc) -> Result<Vec<(u32, QdiscObs)>, NlError> {
        self.request_map(
            loc,
            RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
            NLM_F_DUMP,
            || format!("tc {}qdisc show", loc.ip_n()),
            qdisc_row,
        )
        .await
    }

    /// `tc qdisc replace dev DEV root handle 5357: KIND ...`
    pub(super) async fn replace_qdisc(
        &self,
        loc: &Loc,
        dev: &str,
        q: &Qdisc,
    ) -> Result<(), NlError> {
        let index = self.ifindex(loc, dev).await?;
        let op = || {
            format!(
                "tc {}qdisc replace dev {dev} root handle 5357: {}",
                loc.ip_n(),
                q.tc_args()
            )
        };
        let msg = RouteNetlinkMessage::NewQueueDiscipline(replace_message(index, q));
        self.request(loc, msg, REPLACE_FLAGS, op).await.map(|_| ())
    }

    /// `tc qdisc del dev DEV root handle 5357:` (only swctl's: a qdisc of
    /// another handle is refused by the kernel, not deleted)
    pub(super) async fn delete_qdisc(&self, loc: &Loc, dev: &str) -> Result<(), NlError> {
        let index = self.ifindex(loc, dev).await?;
        let op = || format!("tc {}qdisc del dev {dev} root handle 5357:", loc.ip_n());
        let mut m = TcMessage::with_index(index as i32);
        m.header.handle = TcHandle {
            major: HANDLE_MAJOR,
            minor: 0,
        };
        m.header.parent = TcHandle::ROOT;
        let msg = RouteNetlinkMessage::DelQueueDiscipline(m);
        self.request(loc, msg, NLM_F_ACK, op).await.map(|_| ())
    }
}

/// Which qdisc kinds this kernel has (built in, or a module it loads on
/// demand): each is put on the loopback of a namespace made for the probe
/// on a thread of its own, and gone with it; nothing on the machine
/// changes. A kernel without the kind answers ENOENT ("Specified qdisc
/// kind is unknown").
pub fn probe_kinds() -> Result<QdiscKinds, NlError> {
    let probe = || -> std::io::Result<QdiscKinds> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
        let mut s = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
        s.bind_auto()?;
        s.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        let has = |q: &Qdisc| -> std::io::Result<bool> {
            // lo is index 1 in a new namespace
            s.send(&replace_bytes(1, q), 0)?;
            let mut buf = vec![0u8; 8192];
            let n = s.recv(&mut &mut buf[..], 0)?;
            // NLMSG_ERROR: header (16) then the error code
            let code = i32::from_ne_bytes(buf[16..20.min(n)].try_into().unwrap_or([0; 4]));
            Ok(code == 0)
        };
        // what a lab's rate alone and its delay become
        let probe = |i: Impair| i.qdisc().expect("an impairment");
        let tbf = has(&probe(Impair {
            rate: Some(Rate(1_000_000)),
            ..Impair::default()
        }))?;
        let netem = has(&probe(Impair {
            delay: Some(Time(1000)),
            ..Impair::default()
        }))?;
        Ok(QdiscKinds { tbf, netem })
    };
    std::thread::scope(|s| s.spawn(probe).join())
        .map_err(|_| NlError::Probe(std::io::Error::other("the probe's thread panicked")))?
        .map_err(NlError::Probe)
}
