//! swctl's own OpenFlow codec (versions 1.3 and 1.4, whose flow messages
//! are the same bytes): the few messages swctl sends and reads on a
//! bridge's management socket — hello, echo, error, flow-mod, barrier and
//! the flow-stats multipart — as data and bytes, pure. Why not a crate:
//! docs/open-vswitch.md ("OpenFlow codec"). `text` reads and writes flows in ovs-ofctl's syntax.

pub mod action;
pub mod oxm;
pub mod text;

use action::Instructions;
use oxm::Field;

/// OpenFlow 1.3's and 1.4's version numbers on the wire.
pub const OFP13: u8 = 4;
pub const OFP14: u8 = 5;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("an OpenFlow message was cut short (its {0})")]
    Short(&'static str),
    #[error("an OpenFlow message of version {0} (swctl speaks 1.3 and 1.4)")]
    Version(u8),
}

/// One flow: where it is, what it matches, what it does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flow {
    pub table: u8,
    pub priority: u16,
    pub cookie: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    /// canonical (`Field::canonical`), in the order of `oxm::Kind`
    pub matches: Vec<Field>,
    pub instructions: Instructions,
}

impl Flow {
    /// The match made canonical and sorted, so that flows compare equal
    /// however their text was written.
    pub fn normalized(mut self) -> Flow {
        self.matches = self.matches.into_iter().map(Field::canonical).collect();
        self.matches.sort();
        self
    }
}

/// A flow as a dump reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStats {
    pub flow: Flow,
    pub packets: u64,
    pub bytes: u64,
    pub duration_s: u32,
}

/// What happened to a flow, as a flow monitor says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowUpdate {
    /// "added", "removed", "modified" (an initial report is "added")
    pub event: &'static str,
    pub flow: Flow,
}

/// Flow-mod commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add = 0,
    Delete = 3,
    DeleteStrict = 4,
}

/// The messages swctl sends or reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// with the versions offered (bitmap: bit N for wire version N)
    Hello {
        versions: u32,
    },
    Error {
        kind: u16,
        code: u16,
    },
    EchoRequest(Vec<u8>),
    EchoReply(Vec<u8>),
    /// the flow (its cookie is the one written, or matched with
    /// `cookie_mask` for deletes)
    FlowMod {
        command: Command,
        flow: Flow,
        cookie_mask: u64,
    },
    BarrierRequest,
    BarrierReply,
    /// flows of every table whose cookie matches under the mask
    FlowStatsRequest {
        cookie: u64,
        cookie_mask: u64,
    },
    FlowStatsReply {
        more: bool,
        flows: Vec<FlowStats>,
    },
    /// OpenFlow 1.4's flow monitor (`ovs-ofctl monitor BR watch:`): every
    /// flow added, removed or changed in any table, in full
    FlowMonitorRequest {
        id: u32,
    },
    /// what a flow monitor reports (several per message)
    FlowUpdates(Vec<FlowUpdate>),
    /// anything else (by type)
    Other(u8),
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// `ofp_match` of type OXM: its length counts the OXMs, not the padding to
/// 8 bytes that follows.
fn encode_match(fields: &[Field], out: &mut Vec<u8>) {
    let start = out.len();
    put16(out, 1);
    put16(out, 0);
    for f in fields {
        f.encode(out);
    }
    let len = (out.len() - start) as u16;
    out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    while !(out.len() - start).is_multiple_of(8) {
        out.push(0);
    }
}

/// A match at the start of `b`: its fields and its padded length.
fn decode_match(b: &[u8]) -> Result<(Vec<Field>, usize), CodecError> {
    if b.len() < 4 {
        return Err(CodecError::Short("match"));
    }
    let len = u16::from_be_bytes([b[2], b[3]]) as usize;
    let padded = len.div_ceil(8) * 8;
    if len < 4 || b.len() < padded {
        return Err(CodecError::Short("match"));
    }
    let mut fields = vec![];
    let mut rest = &b[4..len];
    while !rest.is_empty() {
        let (f, n) = Field::decode(rest)?;
        fields.extend(f);
        rest = &rest[n..];
    }
    Ok((fields, padded))
}

/// The updates of a flow-monitor reply (OpenFlow 1.4's
/// `ofp_flow_update_full`; abbreviated, paused and resumed ones skipped).
fn flow_updates(mut b: &[u8]) -> Result<Vec<FlowUpdate>, CodecError> {
    let mut out = vec![];
    while b.len() >= 4 {
        let len = u16::from_be_bytes([b[0], b[1]]) as usize;
        let event = u16::from_be_bytes([b[2], b[3]]);
        if len < 4 || b.len() < len {
            return Err(CodecError::Short("flow update"));
        }
        let e = &b[..len];
        let name = match event {
            0 | 1 => Some("added"),
            2 => Some("removed"),
            3 => Some("modified"),
            _ => None,
        };
        if let Some(name) = name.filter(|_| len >= 24) {
            let u16at = |i: usize| u16::from_be_bytes([e[i], e[i + 1]]);
            let (matches, mlen) = decode_match(&e[24..])?;
            let instructions = Instructions::decode(&e[24 + mlen..])?;
            out.push(FlowUpdate {
                event: name,
                flow: Flow {
                    table: e[4],
                    idle_timeout: u16at(6),
                    hard_timeout: u16at(8),
                    priority: u16at(10),
                    cookie: u64::from_be_bytes(e[16..24].try_into().expect("8 bytes")),
                    matches,
                    instructions,
                }
                .normalized(),
            });
        }
        b = &b[len..];
    }
    Ok(out)
}

/// The bytes of `msg` for the wire, as version `version`, transaction `xid`.
pub fn encode(version: u8, xid: u32, msg: &Msg) -> Vec<u8> {
    let mut out = vec![version, 0, 0, 0];
    put32(&mut out, xid);
    let kind: u8 = match msg {
        Msg::Hello { versions } => {
            // one version-bitmap element
            put16(&mut out, 1);
            put16(&mut out, 8);
            put32(&mut out, *versions);
            0
        }
        Msg::Error { kind, code } => {
            put16(&mut out, *kind);
            put16(&mut out, *code);
            1
        }
        Msg::EchoRequest(d) => {
            out.extend_from_slice(d);
            2
        }
        Msg::EchoReply(d) => {
            out.extend_from_slice(d);
            3
        }
        Msg::FlowMod {
            command,
            flow,
            cookie_mask,
        } => {
            put64(&mut out, flow.cookie);
            put64(&mut out, *cookie_mask);
            // a delete looks in every table
            let all_tables = matches!(command, Command::Delete) && flow.table == 0xff;
            out.push(if all_tables { 0xff } else { flow.table });
            out.push(*command as u8);
            put16(&mut out, flow.idle_timeout);
            put16(&mut out, flow.hard_timeout);
            put16(&mut out, flow.priority);
            put32(&mut out, 0xffff_ffff); // no buffer
            put32(&mut out, 0xffff_ffff); // out_port ANY
            put32(&mut out, 0xffff_ffff); // out_group ANY
            put16(&mut out, 0); // flags
            put16(&mut out, 0);
            encode_match(&flow.matches, &mut out);
            flow.instructions.encode(&mut out);
            14
        }
        Msg::BarrierRequest => 20,
        Msg::BarrierReply => 21,
        Msg::FlowStatsRequest {
            cookie,
            cookie_mask,
        } => {
            put16(&mut out, 1); // OFPMP_FLOW
            put16(&mut out, 0);
            put32(&mut out, 0);
            out.push(0xff); // every table
            out.extend_from_slice(&[0; 3]);
            put32(&mut out, 0xffff_ffff);
            put32(&mut out, 0xffff_ffff);
            put32(&mut out, 0);
            put64(&mut out, *cookie);
            put64(&mut out, *cookie_mask);
            encode_match(&[], &mut out);
            18
        }
        Msg::FlowMonitorRequest { id } => {
            put16(&mut out, 16); // OFPMP_FLOW_MONITOR
            put16(&mut out, 0);
            put32(&mut out, 0);
            put32(&mut out, *id);
            put32(&mut out, 0xffff_ffff); // out_port ANY
            put32(&mut out, 0xffff_ffff); // out_group ANY
            // ADD | REMOVED | MODIFY | INSTRUCTIONS (OVS 3.1 refuses
            // NO_ABBREV; updates are abbreviated only for this
            // connection's own changes, and it makes none)
            put16(&mut out, 2 | 4 | 8 | 16);
            out.push(0xff); // every table
            out.push(0); // OFPFMC_ADD
            encode_match(&[], &mut out);
            18
        }
        Msg::FlowStatsReply { .. } | Msg::FlowUpdates(_) | Msg::Other(_) => {
            unreachable!("swctl does not send these")
        }
    };
    out[1] = kind;
    let len = out.len() as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// The length of the message at the start of `b`, once its header is in.
pub fn frame_len(b: &[u8]) -> Option<usize> {
    (b.len() >= 4).then(|| u16::from_be_bytes([b[2], b[3]]) as usize)
}

/// One whole message: (version, xid, message).
pub fn decode(b: &[u8]) -> Result<(u8, u32, Msg), CodecError> {
    if b.len() < 8 {
        return Err(CodecError::Short("header"));
    }
    let (version, kind) = (b[0], b[1]);
    let xid = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    let body = &b[8..];
    let u16at = |b: &[u8], i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let msg = match kind {
        0 => {
            // the version bitmap, if any; else every version up to the
            // header's (OpenFlow 1.3, 6.3.1: OVS 3.1 sends a bare 1.5 hello)
            let mut versions = ((1u64 << (version.min(30) + 1)) - 2) as u32;
            let mut e = body;
            while e.len() >= 4 {
                let (t, l) = (u16at(e, 0), u16at(e, 2) as usize);
                if l < 4 || e.len() < l {
                    break;
                }
                if t == 1 && l >= 8 {
                    versions = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
                }
                let step = (l.div_ceil(8) * 8).min(e.len());
                e = &e[step..];
            }
            Msg::Hello { versions }
        }
        _ if version != OFP13 && version != OFP14 => return Err(CodecError::Version(version)),
        1 if body.len() >= 4 => Msg::Error {
            kind: u16at(body, 0),
            code: u16at(body, 2),
        },
        2 => Msg::EchoRequest(body.to_vec()),
        3 => Msg::EchoReply(body.to_vec()),
        20 => Msg::BarrierRequest,
        21 => Msg::BarrierReply,
        19 if body.len() >= 8 && u16at(body, 0) == 1 => {
            let more = u16at(body, 2) & 1 == 1;
            let mut rest = &body[8..];
            let mut flows = vec![];
            while rest.len() >= 48 {
                let len = u16at(rest, 0) as usize;
                if len < 48 || rest.len() < len {
                    return Err(CodecError::Short("flow stats"));
                }
                let e = &rest[..len];
                let u32at = |i: usize| u32::from_be_bytes([e[i], e[i + 1], e[i + 2], e[i + 3]]);
                let u64at = |i: usize| u64::from_be_bytes(e[i..i + 8].try_into().expect("8 bytes"));
                let (matches, mlen) = decode_match(&e[48..])?;
                let instructions = Instructions::decode(&e[48 + mlen..])?;
                flows.push(FlowStats {
                    flow: Flow {
                        table: e[2],
                        priority: u16at(e, 12),
                        idle_timeout: u16at(e, 14),
                        hard_timeout: u16at(e, 16),
                        cookie: u64at(24),
                        matches,
                        instructions,
                    }
                    .normalized(),
                    duration_s: u32at(4),
                    packets: u64at(32),
                    bytes: u64at(40),
                });
                rest = &rest[len..];
            }
            Msg::FlowStatsReply { more, flows }
        }
        19 if body.len() >= 8 && u16at(body, 0) == 16 => {
            Msg::FlowUpdates(flow_updates(&body[8..])?)
        }
        k => Msg::Other(k),
    };
    Ok((version, xid, msg))
}

#[cfg(test)]
mod tests;
