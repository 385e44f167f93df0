//! OpenFlow 1.3 match fields (OXM, class OPENFLOW_BASIC): the fields swctl
//! matches on, their wire form (header, value, optional mask) and their
//! ovs-ofctl names and value syntax, in one table.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::CodecError;

/// One kind of field: its OXM number, its value length, the name
/// ovs-ofctl gives it in a match (and in `set_field:V->NAME`), and how its
/// value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    InPort,
    EthDst,
    EthSrc,
    EthType,
    VlanVid,
    IpProto,
    Ipv4Src,
    Ipv4Dst,
    TcpSrc,
    TcpDst,
    UdpSrc,
    UdpDst,
    Icmpv4Type,
    Icmpv4Code,
    ArpSpa,
    ArpTpa,
    Ipv6Src,
    Ipv6Dst,
    Icmpv6Type,
    Icmpv6Code,
}

/// How a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Port,
    Mac,
    /// a number written in hex (dl_type)
    Hex,
    Dec,
    Ipv4,
    Ipv6,
    /// a VLAN id: 12 bits, "present" on the wire
    Vid,
}

impl Kind {
    pub const ALL: [Kind; 20] = [
        Kind::InPort,
        Kind::EthDst,
        Kind::EthSrc,
        Kind::EthType,
        Kind::VlanVid,
        Kind::IpProto,
        Kind::Ipv4Src,
        Kind::Ipv4Dst,
        Kind::TcpSrc,
        Kind::TcpDst,
        Kind::UdpSrc,
        Kind::UdpDst,
        Kind::Icmpv4Type,
        Kind::Icmpv4Code,
        Kind::ArpSpa,
        Kind::ArpTpa,
        Kind::Ipv6Src,
        Kind::Ipv6Dst,
        Kind::Icmpv6Type,
        Kind::Icmpv6Code,
    ];

    /// (OXM field number, value bytes, ovs-ofctl name, syntax, maskable)
    pub fn spec(self) -> (u8, usize, &'static str, Syntax, bool) {
        use Syntax::*;
        match self {
            Kind::InPort => (0, 4, "in_port", Port, false),
            Kind::EthDst => (3, 6, "dl_dst", Mac, true),
            Kind::EthSrc => (4, 6, "dl_src", Mac, true),
            Kind::EthType => (5, 2, "dl_type", Hex, false),
            Kind::VlanVid => (6, 2, "dl_vlan", Vid, false),
            Kind::IpProto => (10, 1, "nw_proto", Dec, false),
            Kind::Ipv4Src => (11, 4, "nw_src", Ipv4, true),
            Kind::Ipv4Dst => (12, 4, "nw_dst", Ipv4, true),
            Kind::TcpSrc => (13, 2, "tcp_src", Dec, false),
            Kind::TcpDst => (14, 2, "tcp_dst", Dec, false),
            Kind::UdpSrc => (15, 2, "udp_src", Dec, false),
            Kind::UdpDst => (16, 2, "udp_dst", Dec, false),
            Kind::Icmpv4Type => (19, 1, "icmp_type", Dec, false),
            Kind::Icmpv4Code => (20, 1, "icmp_code", Dec, false),
            Kind::ArpSpa => (22, 4, "arp_spa", Ipv4, true),
            Kind::ArpTpa => (23, 4, "arp_tpa", Ipv4, true),
            Kind::Ipv6Src => (26, 16, "ipv6_src", Ipv6, true),
            Kind::Ipv6Dst => (27, 16, "ipv6_dst", Ipv6, true),
            Kind::Icmpv6Type => (29, 1, "icmpv6_type", Dec, false),
            Kind::Icmpv6Code => (30, 1, "icmpv6_code", Dec, false),
        }
    }

    pub fn name(self) -> &'static str {
        self.spec().2
    }

    pub fn by_code(code: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.spec().0 == code)
    }

    /// By the name `set_field` uses (OVS's field names, as in `ovs-fields(7)`).
    pub fn by_field_name(n: &str) -> Option<Kind> {
        Some(match n {
            "in_port" => Kind::InPort,
            "eth_dst" | "dl_dst" => Kind::EthDst,
            "eth_src" | "dl_src" => Kind::EthSrc,
            "eth_type" | "dl_type" => Kind::EthType,
            "vlan_vid" | "dl_vlan" => Kind::VlanVid,
            "ip_proto" | "nw_proto" => Kind::IpProto,
            "ip_src" | "nw_src" | "ipv4_src" => Kind::Ipv4Src,
            "ip_dst" | "nw_dst" | "ipv4_dst" => Kind::Ipv4Dst,
            "tcp_src" => Kind::TcpSrc,
            "tcp_dst" => Kind::TcpDst,
            "udp_src" => Kind::UdpSrc,
            "udp_dst" => Kind::UdpDst,
            "ipv6_src" => Kind::Ipv6Src,
            "ipv6_dst" => Kind::Ipv6Dst,
            _ => return None,
        })
    }
}

/// One field with its value (and mask), values in network order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Field {
    pub kind: Kind,
    pub value: Vec<u8>,
    pub mask: Option<Vec<u8>>,
}

impl Field {
    pub fn exact(kind: Kind, value: Vec<u8>) -> Field {
        Field {
            kind,
            value,
            mask: None,
        }
    }

    pub fn u16(kind: Kind, v: u16) -> Field {
        Field::exact(kind, v.to_be_bytes().to_vec())
    }

    pub fn u8(kind: Kind, v: u8) -> Field {
        Field::exact(kind, vec![v])
    }

    /// The value as a number (fields of up to 4 bytes).
    pub fn num(&self) -> u32 {
        self.value
            .iter()
            .fold(0u32, |a, b| (a << 8) | u32::from(*b))
    }

    /// Value and mask made canonical: the value's bits outside the mask
    /// cleared, an all-ones mask dropped (so two ways of writing the same
    /// match compare equal).
    pub fn canonical(mut self) -> Field {
        if let Some(m) = &self.mask {
            for (v, m) in self.value.iter_mut().zip(m) {
                *v &= m;
            }
            if m.iter().all(|b| *b == 0xff) {
                self.mask = None;
            }
        }
        self
    }

    /// The OXM bytes: header (class 0x8000, field << 1 | hasmask, length),
    /// value, mask.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (code, len, ..) = self.kind.spec();
        let has_mask = self.mask.is_some();
        out.extend_from_slice(&0x8000u16.to_be_bytes());
        out.push(code << 1 | u8::from(has_mask));
        out.push((if has_mask { 2 * len } else { len }) as u8);
        out.extend_from_slice(&self.value);
        if let Some(m) = &self.mask {
            out.extend_from_slice(m);
        }
    }

    /// One OXM at the start of `b`, and its length; fields of other classes
    /// or kinds swctl does not know are `None` (skipped by the caller).
    pub fn decode(b: &[u8]) -> Result<(Option<Field>, usize), CodecError> {
        if b.len() < 4 {
            return Err(CodecError::Short("OXM header"));
        }
        let class = u16::from_be_bytes([b[0], b[1]]);
        let (code, has_mask, len) = (b[2] >> 1, b[2] & 1 == 1, b[3] as usize);
        if b.len() < 4 + len {
            return Err(CodecError::Short("OXM value"));
        }
        let body = &b[4..4 + len];
        let kind = if class == 0x8000 {
            Kind::by_code(code)
        } else {
            None
        };
        let Some(kind) = kind else {
            return Ok((None, 4 + len));
        };
        let f = if has_mask {
            let half = len / 2;
            Field {
                kind,
                value: body[..half].to_vec(),
                mask: Some(body[half..].to_vec()),
            }
        } else {
            Field::exact(kind, body.to_vec())
        };
        Ok((Some(f), 4 + len))
    }

    /// The value as ovs-ofctl writes it (ports by number; `port_name`
    /// gives a name where one is known).
    pub fn value_text(&self, port_name: &dyn Fn(u32) -> Option<String>) -> String {
        let (.., syntax, _) = self.kind.spec();
        let v = &self.value;
        match syntax {
            Syntax::Port => port_text(self.num(), port_name),
            Syntax::Mac => {
                let mut t = mac_text(v);
                if let Some(m) = &self.mask {
                    t.push('/');
                    t.push_str(&mac_text(m));
                }
                t
            }
            Syntax::Hex => format!("0x{:04x}", self.num()),
            Syntax::Dec => self.num().to_string(),
            Syntax::Vid => (self.num() & 0x0fff).to_string(),
            Syntax::Ipv4 => {
                let a = Ipv4Addr::new(v[0], v[1], v[2], v[3]);
                match &self.mask {
                    None => a.to_string(),
                    Some(m) => {
                        let mask = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
                        if mask.leading_ones() + mask.trailing_zeros() == 32 {
                            format!("{a}/{}", mask.leading_ones())
                        } else {
                            format!("{a}/{}", Ipv4Addr::from(mask))
                        }
                    }
                }
            }
            Syntax::Ipv6 => {
                let a = Ipv6Addr::from(<[u8; 16]>::try_from(v.as_slice()).unwrap_or([0; 16]));
                match &self.mask {
                    None => a.to_string(),
                    Some(m) => {
                        let mask = u128::from_be_bytes(
                            <[u8; 16]>::try_from(m.as_slice()).unwrap_or([0; 16]),
                        );
                        format!("{a}/{}", mask.leading_ones())
                    }
                }
            }
        }
    }
}

pub fn mac_text(v: &[u8]) -> String {
    v.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The reserved ports, by number and ovs-ofctl name.
pub const RESERVED: &[(u32, &str)] = &[
    (0xffff_fff8, "IN_PORT"),
    (0xffff_fff9, "TABLE"),
    (0xffff_fffa, "NORMAL"),
    (0xffff_fffb, "FLOOD"),
    (0xffff_fffc, "ALL"),
    (0xffff_fffd, "CONTROLLER"),
    (0xffff_fffe, "LOCAL"),
    (0xffff_ffff, "ANY"),
];

pub fn port_text(p: u32, name: &dyn Fn(u32) -> Option<String>) -> String {
    if let Some((_, n)) = RESERVED.iter().find(|(x, _)| *x == p) {
        return n.to_string();
    }
    name(p).unwrap_or_else(|| p.to_string())
}
