//! Flows in ovs-ofctl's syntax (`ovs-ofctl(8)`, "Flow Syntax"), the subset
//! swctl takes: `table`, `priority`, `cookie`, `idle_timeout`,
//! `hard_timeout`; matches `in_port`, `dl_src`, `dl_dst`, `dl_type`,
//! `dl_vlan`, `ip`/`ipv6`/`arp`/`icmp`/`icmp6`/`tcp`/`tcp6`/`udp`/`udp6`,
//! `nw_src`/`nw_dst` (with a prefix or mask), `nw_proto`, `tp_src`/`tp_dst`,
//! `ipv6_src`/`ipv6_dst`, `icmp_type`/`icmp_code`; actions (`SUPPORTED`).
//! Read into a `Flow`, each error at its column; and written back the way
//! `ovs-ofctl dump-flows` writes a flow.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Flow;
use super::action::{Action, OFPP10_IN_PORT};
use super::oxm::{Field, Kind, RESERVED};

/// What a flow may say, for the error that meets something else.
pub const SUPPORTED: &str = "fields: table, priority, cookie, idle_timeout, hard_timeout, in_port, dl_src, dl_dst, dl_type, dl_vlan, ip, ipv6, arp, icmp, icmp6, tcp, tcp6, udp, udp6, nw_src, nw_dst, nw_proto, tp_src, tp_dst, ipv6_src, ipv6_dst, icmp_type, icmp_code; actions: output:PORT, drop, normal, flood, all, controller, in_port, local, mod_vlan_vid:VID, strip_vlan, push_vlan:ETHERTYPE, mod_dl_src:MAC, mod_dl_dst:MAC, mod_nw_src:IP, mod_nw_dst:IP, dec_ttl, set_field:VALUE->FIELD, resubmit:PORT, resubmit(PORT,TABLE), goto_table:TABLE; a PORT is a number, an OVS port name or a host's name";

/// A flow that cannot be read: where (1-based column) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {why}")]
pub struct ParseError {
    pub column: usize,
    pub why: String,
}

/// A port name (an OVS port, or a host on the switch) to its OpenFlow
/// number, or why not.
pub type Resolver<'a> = dyn FnMut(&str) -> Result<u32, String> + 'a;

fn num<T: TryFrom<u64>>(s: &str) -> Option<T> {
    let v = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => s.parse::<u64>().ok()?,
    };
    T::try_from(v).ok()
}

fn mac(s: &str) -> Option<Vec<u8>> {
    let v: Vec<u8> = s
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).ok().filter(|_| x.len() <= 2))
        .collect::<Option<_>>()?;
    (v.len() == 6).then_some(v)
}

fn port(s: &str, resolve: &mut Resolver) -> Result<u32, String> {
    if let Some(n) = num::<u32>(s) {
        return Ok(n);
    }
    if let Some((n, _)) = RESERVED
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(s))
    {
        return Ok(*n);
    }
    resolve(s)
}

/// A value of `kind` (ports through `resolve`).
fn value(kind: Kind, s: &str, resolve: &mut Resolver) -> Result<Field, String> {
    use super::oxm::Syntax;
    let (_, len, name, syntax, maskable) = kind.spec();
    let (v, m) = match s.split_once('/') {
        Some((v, m)) if maskable => (v, Some(m)),
        Some(_) => return Err(format!("{name} takes no mask")),
        None => (s, None),
    };
    let bad = || format!("{s:?} is not a value of {name}");
    let f = match syntax {
        Syntax::Port => Field::exact(kind, port(v, resolve)?.to_be_bytes().to_vec()),
        Syntax::Mac => Field {
            kind,
            value: mac(v).ok_or_else(bad)?,
            mask: m.map(|m| mac(m).ok_or_else(bad)).transpose()?,
        },
        Syntax::Hex | Syntax::Dec => {
            let n: u64 = num(v).ok_or_else(bad)?;
            if n >= 1u64 << (8 * len) {
                return Err(bad());
            }
            Field::exact(kind, n.to_be_bytes()[8 - len..].to_vec())
        }
        Syntax::Vid => {
            let n: u16 = num(v).filter(|n| *n < 4096).ok_or_else(bad)?;
            Field::u16(kind, n | 0x1000)
        }
        Syntax::Ipv4 => {
            let a: Ipv4Addr = v.parse().map_err(|_| bad())?;
            let mask = match m {
                None => None,
                Some(m) => Some(match m.parse::<u32>() {
                    Ok(p) if p <= 32 => u32::MAX.checked_shl(32 - p).unwrap_or(0),
                    _ => u32::from(m.parse::<Ipv4Addr>().map_err(|_| bad())?),
                }),
            };
            Field {
                kind,
                value: a.octets().to_vec(),
                mask: mask.map(|x| x.to_be_bytes().to_vec()),
            }
        }
        Syntax::Ipv6 => {
            let a: Ipv6Addr = v.parse().map_err(|_| bad())?;
            let mask = match m {
                None => None,
                Some(m) => {
                    let p: u32 = m.parse().ok().filter(|p| *p <= 128).ok_or_else(bad)?;
                    Some(u128::MAX.checked_shl(128 - p).unwrap_or(0))
                }
            };
            Field {
                kind,
                value: a.octets().to_vec(),
                mask: mask.map(|x| x.to_be_bytes().to_vec()),
            }
        }
    };
    Ok(f.canonical())
}

/// The parts of `s` split at top-level commas (not inside parentheses),
/// each with its 0-based offset in `s`, trimmed.
fn split(s: &str, also_space: bool) -> Vec<(usize, &str)> {
    let mut out = vec![];
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push((start, &s[start..i]));
                start = i + 1;
            }
            ' ' | '\t' if depth == 0 && also_space => {
                out.push((start, &s[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((start, &s[start..]));
    out.into_iter()
        .filter(|(_, p)| !p.trim().is_empty())
        .map(|(o, p)| (o + (p.len() - p.trim_start().len()), p.trim()))
        .collect()
}

/// Whether `text` reads as a flow, any port name taken (its ports are
/// looked up later, when the switch's are known).
pub fn check(text: &str) -> Result<(), ParseError> {
    parse(text, &mut |_| Ok(1)).map(|_| ())
}

/// Read one flow. `resolve` turns a port name into its number.
pub fn parse(text: &str, resolve: &mut Resolver) -> Result<Flow, ParseError> {
    let at = |column: usize, why: String| ParseError {
        column: column + 1,
        why,
    };
    let (head, acts_at) = match text.find("actions=") {
        Some(i) => (&text[..i], i + "actions=".len()),
        None => {
            return Err(at(
                text.len(),
                "no actions= (a flow ends with actions=...)".into(),
            ));
        }
    };
    let mut flow = Flow::default();
    // (column, generic key, value) for the fields that depend on others
    let mut later: Vec<(usize, &str, &str)> = vec![];
    let mut dl_type: Option<u16> = None;
    let mut proto: Option<u8> = None;
    for (off, tok) in split(head, true) {
        let (k, v) = match tok.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (tok, ""),
        };
        let shorthand = |t: u16, p: Option<u8>| (t, p);
        let sh = match k {
            "ip" => Some(shorthand(0x0800, None)),
            "ipv6" => Some(shorthand(0x86dd, None)),
            "arp" => Some(shorthand(0x0806, None)),
            "icmp" => Some(shorthand(0x0800, Some(1))),
            "icmp6" => Some(shorthand(0x86dd, Some(58))),
            "tcp" => Some(shorthand(0x0800, Some(6))),
            "tcp6" => Some(shorthand(0x86dd, Some(6))),
            "udp" => Some(shorthand(0x0800, Some(17))),
            "udp6" => Some(shorthand(0x86dd, Some(17))),
            _ => None,
        };
        if let Some((t, p)) = sh {
            if !v.is_empty() {
                return Err(at(off, format!("{k} takes no value")));
            }
            dl_type = Some(t);
            proto = p.or(proto);
            continue;
        }
        if v.is_empty() {
            return Err(at(
                off,
                format!("{tok:?} is not a field of a flow; {SUPPORTED}"),
            ));
        }
        let bad = |what: &str| at(off + k.len() + 1, format!("{v:?} is not {what}"));
        match k {
            "table" => {
                flow.table = num(v)
                    .filter(|t| *t < 255)
                    .ok_or_else(|| bad("a table (0-254)"))?
            }
            "priority" => flow.priority = num(v).ok_or_else(|| bad("a priority (0-65535)"))?,
            "cookie" => flow.cookie = num(v).ok_or_else(|| bad("a cookie"))?,
            "idle_timeout" => flow.idle_timeout = num(v).ok_or_else(|| bad("a timeout (s)"))?,
            "hard_timeout" => flow.hard_timeout = num(v).ok_or_else(|| bad("a timeout (s)"))?,
            "dl_type" => dl_type = Some(num(v).ok_or_else(|| bad("an Ethernet type"))?),
            "nw_proto" => proto = Some(num(v).ok_or_else(|| bad("an IP protocol number"))?),
            "in_port" | "dl_src" | "dl_dst" | "dl_vlan" | "nw_src" | "nw_dst" | "tp_src"
            | "tp_dst" | "ipv6_src" | "ipv6_dst" | "icmp_type" | "icmp_code" | "tcp_src"
            | "tcp_dst" | "udp_src" | "udp_dst" | "arp_spa" | "arp_tpa" | "icmpv6_type"
            | "icmpv6_code" => later.push((off + k.len() + 1, k, v)),
            _ => {
                return Err(at(
                    off,
                    format!("{k:?} is not a field swctl takes; {SUPPORTED}"),
                ));
            }
        }
    }
    if flow.priority == 0 && !head.contains("priority") {
        flow.priority = 32768;
    }
    let ip4 = dl_type == Some(0x0800);
    let ip6 = dl_type == Some(0x86dd);
    if let Some(t) = dl_type {
        flow.matches.push(Field::u16(Kind::EthType, t));
    }
    if let Some(p) = proto {
        if !ip4 && !ip6 {
            return Err(at(
                0,
                "nw_proto needs ip or ipv6 (dl_type=0x0800 or 0x86dd)".into(),
            ));
        }
        flow.matches.push(Field::u8(Kind::IpProto, p));
    }
    for (col, k, v) in later {
        let k = k.replace("icmpv6_", "icmp_");
        let k = k.as_str();
        let need = |what: &str| at(col, format!("{k} needs {what} in the same flow"));
        let kind = match k {
            "in_port" => Kind::InPort,
            "dl_src" => Kind::EthSrc,
            "dl_dst" => Kind::EthDst,
            "dl_vlan" => Kind::VlanVid,
            "nw_src" | "nw_dst" => match dl_type {
                Some(0x0800) if k == "nw_src" => Kind::Ipv4Src,
                Some(0x0800) => Kind::Ipv4Dst,
                Some(0x0806) if k == "nw_src" => Kind::ArpSpa,
                Some(0x0806) => Kind::ArpTpa,
                _ => return Err(need("ip or arp")),
            },
            "arp_spa" | "arp_tpa" if dl_type != Some(0x0806) => return Err(need("arp")),
            "arp_spa" => Kind::ArpSpa,
            "arp_tpa" => Kind::ArpTpa,
            "ipv6_src" | "ipv6_dst" if !ip6 => return Err(need("ipv6")),
            "ipv6_src" => Kind::Ipv6Src,
            "ipv6_dst" => Kind::Ipv6Dst,
            "tp_src" | "tp_dst" | "tcp_src" | "tcp_dst" | "udp_src" | "udp_dst" | "icmp_type"
            | "icmp_code" | "icmpv6_type" | "icmpv6_code" => {
                let src = k.ends_with("src") || k.ends_with("_type");
                match proto {
                    Some(6) if !k.starts_with("udp") && !k.starts_with("icmp") => {
                        if src {
                            Kind::TcpSrc
                        } else {
                            Kind::TcpDst
                        }
                    }
                    Some(17) if !k.starts_with("tcp") && !k.starts_with("icmp") => {
                        if src {
                            Kind::UdpSrc
                        } else {
                            Kind::UdpDst
                        }
                    }
                    Some(1) if ip4 && (k.starts_with("tp") || k.starts_with("icmp")) => {
                        if src {
                            Kind::Icmpv4Type
                        } else {
                            Kind::Icmpv4Code
                        }
                    }
                    Some(58) if ip6 && (k.starts_with("tp") || k.starts_with("icmp")) => {
                        if src {
                            Kind::Icmpv6Type
                        } else {
                            Kind::Icmpv6Code
                        }
                    }
                    _ => return Err(need("tcp, udp or icmp (a matching nw_proto)")),
                }
            }
            _ => unreachable!("listed above"),
        };
        flow.matches
            .push(value(kind, v, resolve).map_err(|e| at(col, e))?);
    }
    let has_vlan = flow.matches.iter().any(|f| f.kind == Kind::VlanVid);
    for (off, a) in split(&text[acts_at..], false) {
        let col = acts_at + off;
        parse_action(a, has_vlan, &mut flow, resolve).map_err(|e| at(col, e))?;
    }
    Ok(flow.normalized())
}

fn parse_action(
    a: &str,
    has_vlan: bool,
    flow: &mut Flow,
    resolve: &mut Resolver,
) -> Result<(), String> {
    let out = |port: u32| Action::Output {
        port,
        max_len: if port == 0xffff_fffd { 0xffff } else { 0 },
    };
    let (k, v) = match a.split_once(':') {
        Some((k, v)) => (k, Some(v)),
        None => (a, None),
    };
    // NORMAL, FLOOD, .. as dump-flows writes them, normal, flood as typed
    let lower = k.to_ascii_lowercase();
    let k = lower.as_str();
    let ins = &mut flow.instructions;
    let bad = |what: &str| format!("{a:?}: {what}");
    let ip = |v: Option<&str>| -> Result<Vec<u8>, String> {
        match v.and_then(|v| v.parse::<IpAddr>().ok()) {
            Some(IpAddr::V4(x)) => Ok(x.octets().to_vec()),
            _ => Err(bad("expected an IPv4 address")),
        }
    };
    let mac_of = |v: Option<&str>| v.and_then(mac).ok_or_else(|| bad("expected a MAC address"));
    match (k, v) {
        ("drop", None) => {}
        ("normal" | "flood" | "all" | "controller" | "in_port" | "local", None) => {
            ins.apply.push(out(port(&k.to_ascii_uppercase(), resolve)?))
        }
        ("controller", Some(n)) => ins.apply.push(Action::Output {
            port: 0xffff_fffd,
            max_len: num(n).ok_or_else(|| bad("expected a length"))?,
        }),
        ("output", Some(p)) => ins.apply.push(out(port(p, resolve)?)),
        ("strip_vlan" | "pop_vlan", None) => ins.apply.push(Action::PopVlan),
        ("push_vlan", Some(t)) => ins.apply.push(Action::PushVlan(
            num(t)
                .filter(|t| *t == 0x8100 || *t == 0x88a8)
                .ok_or_else(|| bad("expected 0x8100 or 0x88a8"))?,
        )),
        ("dec_ttl", None) => ins.apply.push(Action::DecNwTtl),
        ("mod_vlan_vid", Some(n)) => {
            let vid: u16 = num(n)
                .filter(|v| *v < 4096)
                .ok_or_else(|| bad("expected a VLAN id (0-4095)"))?;
            // as ovs-ofctl: a tag pushed first when the match has none
            if !has_vlan {
                ins.apply.push(Action::PushVlan(0x8100));
            }
            ins.apply
                .push(Action::SetField(Field::u16(Kind::VlanVid, vid | 0x1000)));
        }
        ("mod_dl_src", v) => ins
            .apply
            .push(Action::SetField(Field::exact(Kind::EthSrc, mac_of(v)?))),
        ("mod_dl_dst", v) => ins
            .apply
            .push(Action::SetField(Field::exact(Kind::EthDst, mac_of(v)?))),
        ("mod_nw_src", v) => ins
            .apply
            .push(Action::SetField(Field::exact(Kind::Ipv4Src, ip(v)?))),
        ("mod_nw_dst", v) => ins
            .apply
            .push(Action::SetField(Field::exact(Kind::Ipv4Dst, ip(v)?))),
        ("set_field", Some(sf)) => {
            let (val, field) = sf
                .split_once("->")
                .ok_or_else(|| bad("expected set_field:VALUE->FIELD"))?;
            let kind = Kind::by_field_name(field.trim())
                .ok_or_else(|| bad(&format!("{field:?} is not a field swctl sets")))?;
            let f = if kind == Kind::VlanVid {
                Field::u16(
                    kind,
                    num(val)
                        .filter(|v: &u16| *v < 0x2000)
                        .ok_or_else(|| bad("expected a VLAN id"))?,
                )
            } else {
                value(kind, val.trim(), resolve)?
            };
            ins.apply.push(Action::SetField(f));
        }
        ("resubmit", Some(p)) => ins.apply.push(Action::Resubmit {
            port: port16(p, resolve)?,
            table: None,
        }),
        (r, None) if r.starts_with("resubmit(") && r.ends_with(')') => {
            let inner = &r["resubmit(".len()..r.len() - 1];
            let (p, t) = inner
                .split_once(',')
                .ok_or_else(|| bad("expected resubmit(PORT,TABLE)"))?;
            let p = if p.trim().is_empty() {
                OFPP10_IN_PORT
            } else {
                port16(p.trim(), resolve)?
            };
            let t = t.trim();
            let table = if t.is_empty() {
                None
            } else {
                Some(
                    num(t)
                        .filter(|t| *t < 255)
                        .ok_or_else(|| bad("expected a table (0-254)"))?,
                )
            };
            if table.is_none() && p == OFPP10_IN_PORT {
                return Err(bad("resubmit needs a port or a table"));
            }
            ins.apply.push(Action::Resubmit {
                port: p,
                table: Some(table.unwrap_or(255)),
            });
        }
        ("goto_table", Some(t)) => {
            let t: u8 = num(t)
                .filter(|t| *t < 255)
                .ok_or_else(|| bad("expected a table (0-254)"))?;
            if t <= flow.table {
                return Err(bad("goto_table must go to a later table"));
            }
            ins.goto_table = Some(t);
        }
        (p, None) if num::<u32>(p).is_some() => ins.apply.push(out(num(p).expect("checked"))),
        _ => return Err(format!("{a:?} is not an action swctl takes; {SUPPORTED}")),
    }
    Ok(())
}

/// A port for Nicira's resubmit (OpenFlow 1.0 numbers: 16 bits).
fn port16(p: &str, resolve: &mut Resolver) -> Result<u16, String> {
    let n = port(p, resolve)?;
    if n >= 0xffff_ff00 {
        return Ok((n & 0xffff) as u16);
    }
    u16::try_from(n).map_err(|_| format!("port {n} is too big for resubmit"))
}

/// The match as ovs-ofctl writes it (`ip`, `tcp`, .. for the usual
/// dl_type/nw_proto pairs; names for ports where `port_name` knows them).
pub fn match_text(f: &Flow, port_name: &dyn Fn(u32) -> Option<String>) -> Vec<String> {
    let get = |k: Kind| f.matches.iter().find(|m| m.kind == k).map(|m| m.num());
    let (t, p) = (get(Kind::EthType), get(Kind::IpProto));
    let word = match (t, p) {
        (Some(0x0800), Some(1)) => Some("icmp"),
        (Some(0x0800), Some(6)) => Some("tcp"),
        (Some(0x0800), Some(17)) => Some("udp"),
        (Some(0x86dd), Some(58)) => Some("icmp6"),
        (Some(0x86dd), Some(6)) => Some("tcp6"),
        (Some(0x86dd), Some(17)) => Some("udp6"),
        (Some(0x0800), None) => Some("ip"),
        (Some(0x86dd), None) => Some("ipv6"),
        (Some(0x0806), None) => Some("arp"),
        _ => None,
    };
    let mut out: Vec<String> = word.map(String::from).into_iter().collect();
    for m in &f.matches {
        let hidden = word.is_some()
            && (m.kind == Kind::EthType
                || (m.kind == Kind::IpProto && word != Some("ip") && word != Some("ipv6")));
        if !hidden {
            let name = match m.kind {
                Kind::ArpSpa => "arp_spa",
                Kind::ArpTpa => "arp_tpa",
                k => k.name(),
            };
            out.push(format!("{name}={}", m.value_text(port_name)));
        }
    }
    out
}

/// A flow as one line of swctl's own text: `table=T,priority=P,MATCH
/// actions=ACTIONS` (the cookie and counters are shown beside it).
pub fn flow_text(f: &Flow, port_name: &dyn Fn(u32) -> Option<String>) -> String {
    let mut parts = vec![];
    if f.table != 0 {
        parts.push(format!("table={}", f.table));
    }
    parts.push(format!("priority={}", f.priority));
    if f.idle_timeout != 0 {
        parts.push(format!("idle_timeout={}", f.idle_timeout));
    }
    if f.hard_timeout != 0 {
        parts.push(format!("hard_timeout={}", f.hard_timeout));
    }
    parts.extend(match_text(f, port_name));
    format!(
        "{} actions={}",
        parts.join(","),
        f.instructions.text(port_name)
    )
}
