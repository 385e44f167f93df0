//! swctl's OpenFlow encoding against ovs-ofctl as the oracle (no root, no
//! switch): each supported flow text is read by swctl and encoded as a
//! flow-mod, `ovs-ofctl ofp-print` decodes those bytes, and the result must
//! be what `ovs-ofctl -O OpenFlow13 parse-flow` makes of the same text.

use std::process::Command;

use swctl::openflow::text::parse;
use swctl::openflow::{Command as FlowCmd, Msg, OFP13, encode};

/// The text after "ADD" of the flow-mod ovs-ofctl prints.
fn add_line(out: &[u8]) -> String {
    let t = String::from_utf8_lossy(out);
    let l = t
        .lines()
        .find(|l| l.contains("OFPT_FLOW_MOD"))
        .unwrap_or_else(|| panic!("no flow-mod in {t}"));
    l[l.find(": ADD").unwrap_or_else(|| panic!("{l}")) + 2..].to_string()
}

#[test]
fn each_supported_flow_is_encoded_as_ovs_ofctl_encodes_it() {
    let flows = [
        "priority=100,ip,nw_src=198.18.0.0/24,nw_dst=198.18.1.1 actions=output:2",
        "table=1,priority=5,tcp,tp_dst=80,in_port=1 actions=drop",
        "udp,tp_src=53 actions=normal",
        "ip actions=dec_ttl,output:1",
        "arp,nw_dst=198.18.0.1 actions=flood",
        "icmp,icmp_type=8,icmp_code=0 actions=all",
        "ipv6,ipv6_src=2001:db8::/32 actions=controller",
        "icmp6,icmp_type=135 actions=in_port",
        "dl_src=02:00:00:00:00:01,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:10,output:2",
        "dl_vlan=10 actions=strip_vlan,output:1",
        "dl_vlan=10 actions=mod_vlan_vid:20,output:1",
        "ip actions=mod_dl_src:02:00:00:00:00:09,mod_dl_dst:02:00:00:00:00:0a,mod_nw_src:198.18.0.9,mod_nw_dst:198.18.0.10,dec_ttl,output:1",
        "ip actions=set_field:198.18.0.7->ip_dst,resubmit(,2)",
        "in_port=1 actions=resubmit:2,resubmit(3,3),goto_table:4",
        "idle_timeout=10,hard_timeout=60,dl_type=0x0800,nw_proto=17 actions=controller:128",
        "cookie=0x5357000000000001,priority=7,tcp6,ipv6_dst=2001:db8::1,tp_src=443 actions=LOCAL",
    ];
    for text in flows {
        let f = parse(text, &mut |n: &str| Err(format!("no port {n}")))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        let bytes = encode(
            OFP13,
            1,
            &Msg::FlowMod {
                command: FlowCmd::Add,
                flow: f,
                cookie_mask: 0,
            },
        );
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let ours = Command::new("ovs-ofctl")
            .args(["ofp-print", &hex])
            .output()
            .expect("ovs-ofctl (openvswitch-common) is installed");
        let theirs = Command::new("ovs-ofctl")
            .args(["-O", "OpenFlow13", "parse-flow", text])
            .output()
            .unwrap();
        assert!(
            theirs.status.success(),
            "{text}: {}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        assert_eq!(add_line(&ours.stdout), add_line(&theirs.stdout), "{text}");
    }
}

#[test]
fn the_flow_monitor_request_is_one_ovs_takes() {
    let bytes = encode(
        swctl::openflow::OFP14,
        3,
        &Msg::FlowMonitorRequest { id: 7 },
    );
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new("ovs-ofctl")
        .args(["ofp-print", &hex])
        .output()
        .unwrap();
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t.contains("OFPST_FLOW_MONITOR request (OF1.4)"), "{t}");
    assert!(!t.contains("error"), "{t}");
    assert!(
        t.contains("id=7") && t.contains("flags=add,delete,modify,actions"),
        "{t}"
    );
}
