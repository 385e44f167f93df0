//! OpenFlow 1.3 instructions and actions as swctl writes them: apply-actions
//! (output, push/pop VLAN, dec TTL, set-field, Nicira's resubmit) and
//! goto-table, encoded exactly as `ovs-ofctl -O OpenFlow13` encodes the same
//! text (lib/ofp-actions.c), and read back from a flow dump.

use super::CodecError;
use super::oxm::{Field, Kind, port_text};

/// Nicira's experimenter id (resubmit).
const NX_VENDOR: u32 = 0x0000_2320;
/// OpenFlow 1.0's IN_PORT, which Nicira's resubmit carries (16-bit ports).
pub const OFPP10_IN_PORT: u16 = 0xfff8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// OFPAT_OUTPUT (max_len: how much of the packet a controller gets)
    Output { port: u32, max_len: u16 },
    /// OFPAT_PUSH_VLAN with its ethertype
    PushVlan(u16),
    /// OFPAT_POP_VLAN (`strip_vlan`)
    PopVlan,
    /// OFPAT_DEC_NW_TTL (`dec_ttl`)
    DecNwTtl,
    /// OFPAT_SET_FIELD
    SetField(Field),
    /// NXAST_RESUBMIT (table None) or NXAST_RESUBMIT_TABLE: look the packet
    /// up again as if it came in on `port` (IN_PORT: its own), in `table`
    Resubmit { port: u16, table: Option<u8> },
    /// an action swctl does not write (kept as its type, for the dump)
    Other(u16),
}

/// A flow's instructions: its apply-actions list and where it goes next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instructions {
    pub apply: Vec<Action>,
    pub goto_table: Option<u8>,
    /// instructions of other kinds seen in a dump (write-actions, meter..)
    pub other: Vec<u16>,
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn pad8(out: &mut Vec<u8>, start: usize) {
    while !(out.len() - start).is_multiple_of(8) {
        out.push(0);
    }
}

impl Action {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        match self {
            Action::Output { port, max_len } => {
                put16(out, 0);
                put16(out, 16);
                put32(out, *port);
                put16(out, *max_len);
                out.extend_from_slice(&[0; 6]);
            }
            Action::PushVlan(ethertype) => {
                put16(out, 17);
                put16(out, 8);
                put16(out, *ethertype);
                put16(out, 0);
            }
            Action::PopVlan => {
                put16(out, 18);
                put16(out, 8);
                put32(out, 0);
            }
            Action::DecNwTtl => {
                put16(out, 24);
                put16(out, 8);
                put32(out, 0);
            }
            Action::SetField(f) => {
                put16(out, 25);
                put16(out, 0); // length, below
                f.encode(out);
                pad8(out, start);
                let len = (out.len() - start) as u16;
                out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
            }
            Action::Resubmit { port, table } => {
                put16(out, 0xffff);
                put16(out, 16);
                put32(out, NX_VENDOR);
                put16(out, if table.is_some() { 14 } else { 1 });
                put16(out, *port);
                out.push(table.unwrap_or(0));
                out.extend_from_slice(&[0; 3]);
            }
            Action::Other(_) => {}
        }
    }

    /// One action at the start of `b`, and its length.
    pub fn decode(b: &[u8]) -> Result<(Action, usize), CodecError> {
        if b.len() < 4 {
            return Err(CodecError::Short("action header"));
        }
        let kind = u16::from_be_bytes([b[0], b[1]]);
        let len = u16::from_be_bytes([b[2], b[3]]) as usize;
        if len < 4 || b.len() < len {
            return Err(CodecError::Short("action"));
        }
        let u16at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let a = match kind {
            0 if len >= 16 => Action::Output {
                port: u32at(4),
                max_len: u16at(8),
            },
            17 if len >= 8 => Action::PushVlan(u16at(4)),
            18 => Action::PopVlan,
            24 => Action::DecNwTtl,
            25 if len >= 8 => match Field::decode(&b[4..len])? {
                (Some(f), _) => Action::SetField(f),
                (None, _) => Action::Other(kind),
            },
            0xffff if len >= 16 && u32at(4) == NX_VENDOR => match u16at(8) {
                1 => Action::Resubmit {
                    port: u16at(10),
                    table: None,
                },
                14 => Action::Resubmit {
                    port: u16at(10),
                    table: Some(b[12]),
                },
                _ => Action::Other(kind),
            },
            _ => Action::Other(kind),
        };
        Ok((a, len))
    }

    /// As `ovs-ofctl dump-flows` writes it.
    pub fn text(&self, port_name: &dyn Fn(u32) -> Option<String>) -> String {
        match self {
            Action::Output { port, max_len } => match *port {
                0xffff_fffd => {
                    if *max_len == 0xffff {
                        "CONTROLLER".into()
                    } else {
                        format!("CONTROLLER:{max_len}")
                    }
                }
                0xffff_fff8 => "IN_PORT".into(),
                0xffff_fffa | 0xffff_fffb | 0xffff_fffc | 0xffff_fffe => {
                    port_text(*port, port_name)
                }
                p => format!("output:{}", port_text(p, port_name)),
            },
            Action::PushVlan(t) => format!("push_vlan:0x{t:04x}"),
            Action::PopVlan => "strip_vlan".into(),
            Action::DecNwTtl => "dec_ttl".into(),
            Action::SetField(f) => match f.kind {
                Kind::VlanVid => format!("set_field:{}->vlan_vid", f.num() & 0x1fff),
                _ => format!(
                    "set_field:{}->{}",
                    f.value_text(port_name),
                    field_name(f.kind)
                ),
            },
            Action::Resubmit { port, table } => {
                let p = if *port == OFPP10_IN_PORT {
                    String::new()
                } else {
                    port_text(u32::from(*port), port_name)
                };
                match table {
                    None => format!("resubmit:{p}"),
                    Some(t) => format!("resubmit({p},{t})"),
                }
            }
            Action::Other(k) => format!("unknown_action_{k}"),
        }
    }
}

/// The OVS field name `set_field` writes (`ovs-fields(7)`).
pub fn field_name(k: Kind) -> &'static str {
    match k {
        Kind::EthDst => "eth_dst",
        Kind::EthSrc => "eth_src",
        Kind::EthType => "eth_type",
        Kind::VlanVid => "vlan_vid",
        Kind::IpProto => "ip_proto",
        Kind::Ipv4Src => "ip_src",
        Kind::Ipv4Dst => "ip_dst",
        other => other.name(),
    }
}

impl Instructions {
    /// Apply-actions (when there are actions), then goto-table.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if !self.apply.is_empty() {
            let start = out.len();
            put16(out, 4);
            put16(out, 0);
            put32(out, 0);
            for a in &self.apply {
                a.encode(out);
            }
            let len = (out.len() - start) as u16;
            out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
        }
        if let Some(t) = self.goto_table {
            put16(out, 1);
            put16(out, 8);
            out.push(t);
            out.extend_from_slice(&[0; 3]);
        }
    }

    pub fn decode(mut b: &[u8]) -> Result<Instructions, CodecError> {
        let mut ins = Instructions::default();
        while b.len() >= 4 {
            let kind = u16::from_be_bytes([b[0], b[1]]);
            let len = u16::from_be_bytes([b[2], b[3]]) as usize;
            if len < 4 || b.len() < len {
                return Err(CodecError::Short("instruction"));
            }
            match kind {
                1 if len >= 8 => ins.goto_table = Some(b[4]),
                4 => {
                    let mut a = &b[8.min(len)..len];
                    while !a.is_empty() {
                        let (act, n) = Action::decode(a)?;
                        ins.apply.push(act);
                        a = &a[n..];
                    }
                }
                k => ins.other.push(k),
            }
            b = &b[len..];
        }
        Ok(ins)
    }

    /// `actions=...` as ovs-ofctl writes it (`drop` for none).
    pub fn text(&self, port_name: &dyn Fn(u32) -> Option<String>) -> String {
        let mut parts: Vec<String> = self.apply.iter().map(|a| a.text(port_name)).collect();
        parts.extend(
            self.other
                .iter()
                .map(|k| format!("unknown_instruction_{k}")),
        );
        if let Some(t) = self.goto_table {
            parts.push(format!("goto_table:{t}"));
        }
        if parts.is_empty() {
            "drop".into()
        } else {
            parts.join(",")
        }
    }
}
