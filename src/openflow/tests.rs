//! The codec's own tests: flows read from text, their bytes, read back.

use super::text::{flow_text, parse};
use super::*;

fn names(n: &str) -> Result<u32, String> {
    match n {
        "h1" => Ok(1),
        "h2" => Ok(2),
        _ => Err(format!("no port {n}")),
    }
}

fn back(p: u32) -> Option<String> {
    match p {
        1 => Some("h1".into()),
        2 => Some("h2".into()),
        _ => None,
    }
}

fn read(t: &str) -> Flow {
    parse(t, &mut names).unwrap_or_else(|e| panic!("{t}: {e}"))
}

/// A flow-mod as the switch would read it, through a flow-stats reply
/// made of the same match and instructions.
fn through_the_wire(f: &Flow) -> Flow {
    let bytes = encode(
        OFP13,
        7,
        &Msg::FlowMod {
            command: Command::Add,
            flow: f.clone(),
            cookie_mask: 0,
        },
    );
    assert_eq!(frame_len(&bytes), Some(bytes.len()));
    // flow-mod body: 40 bytes of fields after the header, then the match
    let body = &bytes[8..];
    let mut stats = vec![0u8; 48];
    let rest = &body[40..];
    stats.extend_from_slice(rest);
    let len = stats.len() as u16;
    stats[0..2].copy_from_slice(&len.to_be_bytes());
    stats[2] = f.table;
    stats[12..14].copy_from_slice(&f.priority.to_be_bytes());
    stats[14..16].copy_from_slice(&f.idle_timeout.to_be_bytes());
    stats[16..18].copy_from_slice(&f.hard_timeout.to_be_bytes());
    stats[24..32].copy_from_slice(&f.cookie.to_be_bytes());
    let mut reply = vec![OFP13, 19, 0, 0, 0, 0, 0, 9, 0, 1, 0, 0, 0, 0, 0, 0];
    reply.extend_from_slice(&stats);
    let l = reply.len() as u16;
    reply[2..4].copy_from_slice(&l.to_be_bytes());
    match decode(&reply).unwrap().2 {
        Msg::FlowStatsReply { flows, more } => {
            assert!(!more);
            flows[0].flow.clone()
        }
        m => panic!("{m:?}"),
    }
}

#[test]
fn every_supported_flow_reads_encodes_and_reads_back_the_same() {
    for t in [
        "priority=100,ip,nw_src=198.18.0.0/24,nw_dst=198.18.1.1 actions=output:2",
        "table=1,priority=5,tcp,tp_dst=80,in_port=h1 actions=drop",
        "udp,udp_src=53 actions=normal",
        "arp,nw_dst=198.18.0.1 actions=flood",
        "icmp,icmp_type=8,icmp_code=0 actions=all",
        "ipv6,ipv6_src=2001:db8::/32 actions=controller",
        "icmp6,icmp_type=135 actions=in_port",
        "dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:10,output:h2",
        "dl_vlan=10 actions=strip_vlan,output:1",
        "dl_vlan=10 actions=mod_vlan_vid:20,output:1",
        "ip actions=mod_dl_src:02:00:00:00:00:09,mod_dl_dst:02:00:00:00:00:0a,mod_nw_src:198.18.0.9,mod_nw_dst:198.18.0.10,dec_ttl,output:1",
        "ip actions=set_field:198.18.0.7->ip_dst,set_field:4106->vlan_vid,resubmit(,2)",
        "in_port=1 actions=resubmit:2,resubmit(h1,3),goto_table:4",
        "idle_timeout=10,hard_timeout=60,dl_type=0x0800,nw_proto=17 actions=controller:128",
    ] {
        let f = read(t);
        assert_eq!(through_the_wire(&f), f, "{t}");
        // written back and read again: the same flow
        let again = read(&flow_text(&f, &back));
        assert_eq!(again, f, "{t} -> {}", flow_text(&f, &back));
    }
}

#[test]
fn what_ovs_ofctl_writes_is_what_swctl_writes() {
    let f = read(
        "priority=100,tcp,nw_src=198.18.0.0/255.255.255.0,tp_dst=22,in_port=h1 actions=output:h2",
    );
    assert_eq!(
        flow_text(&f, &back),
        "priority=100,tcp,in_port=h1,nw_src=198.18.0.0/24,tcp_dst=22 actions=output:h2"
    );
    // a mask made canonical: the host bits of the value dropped
    assert_eq!(
        read("ip,nw_src=198.18.0.77/24 actions=drop"),
        read("ip,nw_src=198.18.0.0/24 actions=drop")
    );
    assert_eq!(read("actions=drop").priority, 32768);
}

#[test]
fn errors_point_at_the_column_and_say_what_is_supported() {
    let cases = [
        ("ip,nw_src=198.18.0.1 actions=output:h9", 30, "no port h9"),
        (
            "ip,nw_src=300.1.1.1 actions=drop",
            11,
            "is not a value of nw_src",
        ),
        (
            "nw_src=198.18.0.1 actions=drop",
            8,
            "nw_src needs ip or arp",
        ),
        ("tcp,tp_dst=80", 14, "no actions="),
        (
            "ip,color=red actions=drop",
            4,
            "is not a field swctl takes; fields: table",
        ),
        ("ip actions=meter:1", 12, "is not an action swctl takes"),
        ("table=3 actions=goto_table:2", 17, "later table"),
        ("tp_dst=80 actions=drop", 8, "needs tcp, udp or icmp"),
    ];
    for (t, col, why) in cases {
        let e = parse(t, &mut names).unwrap_err();
        assert!(e.why.contains(why), "{t}: {e}");
        assert_eq!(e.column, col, "{t}: {e}");
    }
}

#[test]
fn hello_negotiation_and_simple_messages() {
    let h = encode(
        OFP13,
        1,
        &Msg::Hello {
            versions: 1 << 4 | 1 << 5,
        },
    );
    assert_eq!(
        decode(&h).unwrap(),
        (OFP13, 1, Msg::Hello { versions: 0x30 })
    );
    let e = encode(OFP13, 2, &Msg::EchoRequest(vec![1, 2]));
    assert_eq!(decode(&e).unwrap().2, Msg::EchoRequest(vec![1, 2]));
    assert_eq!(
        decode(&encode(OFP14, 3, &Msg::BarrierReply)).unwrap().2,
        Msg::BarrierReply
    );
    assert_eq!(
        decode(&[1, 0, 0, 8, 0, 0, 0, 1]).unwrap().2,
        Msg::Hello { versions: 2 }
    );
    assert_eq!(
        decode(&[1, 2, 0, 8, 0, 0, 0, 1]),
        Err(CodecError::Version(1))
    );
}
