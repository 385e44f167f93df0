//! `swctl capture` against tcpdump as the reader: pcap to a file and to a
//! pipe, a host's device, all of a host's devices, a switch's side of a
//! port; a VLAN tag the kernel took off the frame is back in the capture;
//! Ctrl-C (SIGINT) ends it with the file whole; a closed pipe ends it;
//! targets that name nothing are refused (exit 2).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Lab, sh, text, write};

fn lab_text(p: &str) -> String {
    format!(
        r#"name = "{p}"
[switches.{p}s]
backend = "bridge"
[hosts.{p}a]
[[hosts.{p}a.ports]]
switch = "{p}s"
ip = "198.18.50.1/24"
[hosts.{p}b]
[[hosts.{p}b.ports]]
switch = "{p}s"
ip = "198.18.50.2/24"
[[links]]
a = "{p}a"
b = "{p}b"
a_ip = "198.18.51.1/24"
b_ip = "198.18.51.2/24"
"#
    )
}

fn swctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_swctl"))
}

/// Ping from `ns` on another thread, `n` echoes 100 ms apart, starting
/// after the capture has had a moment to open.
fn ping_later(ns: &str, addr: &str, n: u32) -> std::thread::JoinHandle<()> {
    let (ns, addr) = (ns.to_string(), addr.to_string());
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let c = n.to_string();
        sh(&[
            "ip", "netns", "exec", &ns, "ping", "-c", &c, "-i", "0.1", "-W", "1", &addr,
        ]);
    })
}

/// tcpdump's reading of a pcap file: its lines (`-e`: with link headers).
fn tcpdump(file: &str) -> String {
    let o = sh(&["tcpdump", "-enr", file]);
    assert!(o.status.success(), "tcpdump -r {file}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn capture_writes_pcap_tcpdump_reads() {
    let lab = Lab::new("cp");
    let p = &lab.p;
    let (a, b) = (lab.name("a"), lab.name("b"));
    let f = write(&lab, "t.toml", &lab_text(p));
    lab.ok(&["apply", &f]);

    // a host's device, to a file
    let pcap = write(&lab, "a.pcap", "");
    let pinger = ping_later(&a, "198.18.50.2", 3);
    let o = swctl()
        .args(["capture", &format!("{a}:eth0"), "-c", "8", "-w", &pcap])
        .output()
        .unwrap();
    pinger.join().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("8 frames"), "{}", text(&o));
    let seen = tcpdump(&pcap);
    assert!(
        seen.contains("198.18.50.1 > 198.18.50.2: ICMP echo request"),
        "{seen}"
    );
    assert!(
        seen.contains("198.18.50.2 > 198.18.50.1: ICMP echo reply"),
        "{seen}"
    );

    // every device of a host, through a pipe into tcpdump
    let pinger = ping_later(&a, "198.18.51.2", 3);
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} capture {a} -c 6 | tcpdump -nr - 'icmp'",
            env!("CARGO_BIN_EXE_swctl")
        ))
        .output()
        .unwrap();
    pinger.join().unwrap();
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(
        seen.contains("198.18.51.1 > 198.18.51.2: ICMP echo request"),
        "{seen}"
    );

    // the switch's side of b's port
    let pcap2 = write(&lab, "sw.pcap", "");
    let pinger = ping_later(&a, "198.18.50.2", 3);
    let o = swctl()
        .args(["capture", &format!("{p}s:{b}"), "-c", "4", "-w", &pcap2])
        .output()
        .unwrap();
    pinger.join().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("(host)"), "{}", text(&o));
    assert!(tcpdump(&pcap2).contains("ICMP echo"));

    // names that lead nowhere
    for t in [format!("{p}s:nobody"), format!("{p}zz"), "host".to_string()] {
        let o = swctl().args(["capture", &t, "-c", "1"]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{t}: {}", text(&o));
    }
    lab.ok(&["destroy", &f]);
}

/// One Ethernet frame with an 802.1Q tag, sent from `ns` on its device
/// `dev` by a packet socket.
fn send_tagged(ns: &str, dev: &str, vid: u16) {
    let dev = dev.to_string();
    common::in_ns(ns, move || {
        // SAFETY: plain socket calls on a fresh fd, closed at the end.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(fd >= 0, "socket");
            let name = std::ffi::CString::new(dev).unwrap();
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
            sll.sll_halen = 6;
            let mut frame = vec![0xff; 6];
            frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
            frame.extend_from_slice(&[0x81, 0x00]);
            frame.extend_from_slice(&vid.to_be_bytes());
            frame.extend_from_slice(&[0x88, 0xb5]); // local experimental
            frame.extend_from_slice(&[0x5a; 46]);
            let n = libc::sendto(
                fd,
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(n as usize, frame.len(), "sendto");
            libc::close(fd);
        }
    })
    .join()
    .unwrap();
}

#[test]
fn vlan_tags_ctrl_c_and_a_closed_pipe() {
    let lab = Lab::new("cv");
    let p = &lab.p;
    let (a, b) = (lab.name("a"), lab.name("b"));
    let f = write(&lab, "t.toml", &lab_text(p));
    lab.ok(&["apply", &f]);

    // a tagged frame over the link: the kernel keeps the tag beside the
    // frame; the capture has it back in
    let pcap = write(&lab, "v.pcap", "");
    let mut cap = swctl()
        .args(["capture", &format!("{b}:{a}"), "-w", &pcap])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        send_tagged(&a, &b, 10);
    }
    std::thread::sleep(Duration::from_millis(300));
    // Ctrl-C: it ends, the file whole
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(cap.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = cap.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "capture did not end on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let seen = tcpdump(&pcap);
    assert!(seen.contains("vlan 10"), "{seen}");
    assert!(seen.contains("ethertype 802.1Q"), "{seen}");

    // a closed pipe: the reader goes after the header, the capture ends at
    // its next frame
    let mut cap = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} capture {a}:eth0 | head -c 24 > /dev/null",
            env!("CARGO_BIN_EXE_swctl")
        ))
        .spawn()
        .unwrap();
    let pinger = ping_later(&a, "198.18.50.2", 5);
    let t = Instant::now();
    loop {
        if cap.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "capture did not end on a closed pipe"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pinger.join().unwrap();
    lab.ok(&["destroy", &f]);
}

fn unbase64(s: &str) -> Vec<u8> {
    let v = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = vec![];
    for q in s.as_bytes().chunks(4) {
        let n = q
            .iter()
            .take_while(|&&c| c != b'=')
            .fold((0u32, 0u32), |(n, k), &c| {
                (n | (v(c) as u32) << (18 - 6 * k), k + 1)
            });
        for i in 0..n.1.saturating_sub(1) {
            out.push((n.0 >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// The subscription `capture` over a WebSocket: where, each frame in
/// base64 (an ICMP echo among them), the count at the end; a target that
/// names nothing refused as bad params.
#[test]
fn capture_over_the_api() {
    use common::serve::{Server, WsClient};
    use serde_json::json;
    let lab = Lab::new("ca");
    let p = &lab.p;
    let a = lab.name("a");
    let f = write(&lab, "t.toml", &lab_text(p));
    lab.ok(&["apply", &f]);
    let srv = Server::start(&lab);
    let mut ws = WsClient::connect(&srv);
    let v = ws.call("capture", json!({"target": format!("{p}zz:eth0")}));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let v = ws.call(
        "capture",
        json!({"target": format!("{a}:eth0"), "count": 6}),
    );
    assert!(v["result"].is_number() || v["result"].is_string(), "{v}");
    let hello = ws.next(5.0).expect("the first notification");
    assert_eq!(hello["event"], "capturing", "{hello}");
    assert_eq!(hello["at"], format!("eth0 ({a})"), "{hello}");
    let pinger = ping_later(&a, "198.18.50.2", 4);
    let mut frames = vec![];
    let done = loop {
        let e = ws.next(5.0).expect("a frame within 5 s");
        if e["event"] == "done" {
            break e;
        }
        frames.push(unbase64(e["data"].as_str().unwrap()));
    };
    pinger.join().unwrap();
    assert_eq!(done["frames"], 6, "{done}");
    assert_eq!(frames.len(), 6);
    // an IPv4 ICMP packet among them: ethertype 0x0800, protocol 1
    assert!(
        frames
            .iter()
            .any(|f| f.len() > 23 && f[12..14] == [8, 0] && f[23] == 1),
        "{frames:?}"
    );
    lab.ok(&["destroy", &f]);
}
