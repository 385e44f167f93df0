//! swctl's qdisc requests against iproute2's `tc` as the oracle: for a table
//! of impairments, the message swctl sends (`effect::kernel::tc`) must be
//! the one `tc qdisc replace dev DEV root handle 5357: ARGS` sends for the
//! same words (`Qdisc::tc_args`), byte for byte but the sequence number and
//! port. `tc` sends its request before the kernel answers, so netem's
//! encoding is checked here too, on a kernel without netem (strace's
//! `-e write=all` dumps what each sendmsg carries).

mod common;

use std::process::Command;

use common::Lab;
use swctl::effect::kernel::tc::replace_bytes;
use swctl::model::impair::{Impair, KEYS};

/// The RTM_NEWQDISC message (type 0x24) `tc ARGS` sends in namespace `ns`.
fn tc_sends(ns: &str, args: &str) -> Vec<u8> {
    let cmd = format!("tc qdisc replace dev d0 root handle 5357: {args}");
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "strace", "-f", "-e", "trace=sendmsg"])
        .args(["-e", "write=all"])
        .args(cmd.split_whitespace())
        .output()
        .expect("strace runs");
    let text = String::from_utf8_lossy(&out.stderr);
    // each buffer: " * N bytes in buffer 0" then " | OFFSET  HEX...  ASCII |"
    let mut buffers: Vec<Vec<u8>> = Vec::new();
    for l in text.lines() {
        if l.starts_with(" * ") && l.contains("bytes in buffer") {
            buffers.push(Vec::new());
        } else if let (Some(b), Some(rest)) = (buffers.last_mut(), l.strip_prefix(" | ")) {
            let hex = &rest[7..rest.len().min(7 + 16 * 3 + 1)];
            b.extend(
                hex.split_whitespace()
                    .map(|h| u8::from_str_radix(h, 16).expect("hex byte")),
            );
        }
    }
    buffers
        .into_iter()
        .find(|b| b.len() >= 16 && b[4] == 0x24)
        .unwrap_or_else(|| panic!("no RTM_NEWQDISC in what `{cmd}` sent:\n{text}"))
}

fn ifindex(ns: &str) -> u32 {
    let out = Command::new("ip")
        .args(["-n", ns, "-j", "link", "show", "d0"])
        .output()
        .expect("ip");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j");
    v[0]["ifindex"].as_u64().expect("ifindex") as u32
}

#[test]
fn each_qdisc_is_sent_as_tc_sends_it() {
    if Command::new("strace").arg("-V").output().is_err() {
        panic!("strace is needed (scripts/deps.sh installs it)");
    }
    let lab = Lab::new("qw");
    let ns = lab.name("w");
    assert!(common::sh(&["ip", "netns", "add", &ns]).status.success());
    assert!(
        common::sh(&[
            "ip", "-n", &ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1"
        ])
        .status
        .success()
    );
    let index = ifindex(&ns);
    let table: &[&[(&str, &str)]] = &[
        &[("rate", "100mbit")],
        &[("rate", "1mbit")],
        &[("rate", "10gbit")],
        // past 2^32 bytes a second: the 64-bit rate attribute
        &[("rate", "40gbit")],
        &[("delay", "10ms")],
        &[("delay", "1500us"), ("jitter", "300us")],
        &[("loss", "1%")],
        &[("delay", "20ms"), ("loss", "0.5%"), ("limit", "500")],
        &[("duplicate", "2%"), ("corrupt", "0.1%")],
        &[("delay", "5ms"), ("reorder", "25%")],
        &[("delay", "5ms"), ("rate", "100mbit")],
        &[("rate", "50gbit"), ("loss", "3%")],
        &[
            ("rate", "1gbit"),
            ("delay", "1s"),
            ("jitter", "10ms"),
            ("loss", "0.01%"),
            ("corrupt", "1%"),
            ("duplicate", "1%"),
            ("reorder", "50%"),
            ("limit", "10000"),
        ],
    ];
    let mut keys_seen = std::collections::BTreeSet::new();
    let mut failed = Vec::new();
    for set in table {
        let mut i = Impair::default();
        for (k, v) in *set {
            i.set(k, v).expect("valid");
            keys_seen.insert(*k);
        }
        let q = i.qdisc().expect("a qdisc");
        let args = q.tc_args();
        let theirs = tc_sends(&ns, &args);
        let ours = replace_bytes(index, &q);
        // the header but its sequence number and port, then all the rest
        let same =
            theirs.len() == ours.len() && theirs[..8] == ours[..8] && theirs[16..] == ours[16..];
        if !same {
            failed.push(format!(
                "{i}: `tc ... {args}`\n tc:    {theirs:02x?}\n swctl: {ours:02x?}"
            ));
        }
    }
    lab.cleanup();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    // the table covers every key swctl takes
    assert_eq!(keys_seen, KEYS.iter().copied().collect());
}
