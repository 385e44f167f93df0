//! `lab.watch`: what happens to an applied lab, as it happens, without
//! polling: the kernel's link, address and route events in every namespace
//! of the lab (a netlink monitor each, `ip -n NS monitor`), the namespaces'
//! names coming and going (inotify on /run/netns) and the bridges, ports and
//! interfaces of the lab's OVSDB servers (an OVSDB `monitor` each). Each
//! change becomes a `{"event": "drift", ...}` JSON object on a channel.
//!
//! What is the lab's: everything inside its own namespaces (its hosts', its
//! simulated machines', its underlay's), and elsewhere (the host, a shared
//! switch namespace, an OVSDB server) what carries its mark.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::events::now_ms;
use crate::effect::kernel::events::{KernelEvent, Monitor};
use crate::effect::kernel::netns;
use crate::effect::ovs::events::{OvsEvent, OvsMonitor};
use crate::model::names::{Loc, NsName, Owner};
use crate::model::{Desired, Mark};

/// What to watch for a lab.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// namespaces wholly the lab's
    pub own: BTreeSet<NsName>,
    /// namespaces where only the lab's marked devices count (None: the
    /// host's)
    pub shared: BTreeSet<Option<NsName>>,
    /// OVSDB servers (unix:PATH / tcp:HOST:PORT)
    pub ovsdbs: BTreeSet<String>,
    /// the lab's OVS bridges (server, bridge), whose flows are watched
    pub bridges: BTreeSet<(String, String)>,
}

/// The namespaces and servers of lab `d` (as applied from its file).
pub fn targets(d: &Desired) -> Targets {
    let mut t = Targets::default();
    t.own.extend(d.namespaces.keys().cloned());
    for (m, ns, _) in super::machines::simulated(d) {
        t.own.insert(ns.clone());
        let dir = super::spread::agent_run_dir(&d.owner, m);
        let sb = crate::effect::paths::machine_sandbox(&dir);
        t.ovsdbs.insert(crate::effect::ovs::sandbox::address(&sb));
    }
    if let Ok(Some(u)) = super::machines::underlay(d) {
        t.own.extend(u.namespaces.keys().cloned());
    }
    // what is on this box outside the lab's own namespaces
    t.shared.insert(None);
    for (name, s) in &d.switches {
        if let Loc::Ns(n) = &s.loc
            && !t.own.contains(n)
        {
            t.shared.insert(Some(n.clone()));
        }
        // a lab over machines has its OVS switches on the machines
        if s.backend == crate::model::Backend::Ovs && d.machines.is_empty() {
            let default = || {
                crate::effect::ovs::default_candidates()
                    .into_iter()
                    .find(|a| {
                        a.strip_prefix("unix:")
                            .is_none_or(|p| std::path::Path::new(p).exists())
                    })
            };
            if let Some(a) = s.ovsdb.clone().or_else(default) {
                t.bridges.insert((a.clone(), name.to_string()));
                t.ovsdbs.insert(a);
            }
        }
    }
    t
}

/// Whether a mark (a device's alias) is the lab's, or one of its machines'.
fn marked_by(alias: Option<&str>, lab: &Owner) -> bool {
    alias
        .and_then(Mark::from_alias)
        .is_some_and(|m| m.owner().lab() == lab.as_str())
}

fn kernel_json(lab: &Owner, ns: Option<&NsName>, e: &KernelEvent) -> Value {
    json!({
        "event": "drift", "lab": lab, "object": e.object, "change": e.change,
        "netns": ns, "dev": e.dev, "detail": e.detail, "time_ms": now_ms(),
    })
}

/// An IPv6 link-local address comes and goes with every device: noise.
fn noise(e: &KernelEvent) -> bool {
    e.object == "address"
        && e.detail
            .parse::<crate::model::names::Cidr>()
            .is_ok_and(|c| c.is_link_local())
}

/// Watch namespace `ns` (None: the host's) while it exists; `own`: every
/// change there is the lab's. `present` says whether its name exists.
async fn watch_ns(
    lab: Owner,
    ns: Option<NsName>,
    own: bool,
    mut present: watch::Receiver<bool>,
    tx: mpsc::Sender<Value>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    // said once the first monitor is open (or the namespace is absent)
    let mut ready = Some(ready);
    let mut say_ready = || {
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
    };
    loop {
        if !*present.borrow_and_update() {
            say_ready();
            if present.changed().await.is_err() {
                return;
            }
            continue;
        }
        // a name just made may not be mounted yet: a few tries
        let mut m = None;
        for _ in 0..40 {
            match Monitor::open(ns.as_ref()).await {
                Ok(x) => {
                    m = Some(x);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
            }
            if !*present.borrow() {
                break;
            }
        }
        say_ready();
        let Some(mut m) = m else {
            if present.changed().await.is_err() {
                return;
            }
            continue;
        };
        loop {
            tokio::select! {
                e = m.next() => match e {
                    Some(e) => {
                        if noise(&e) || !(own || marked_by(e.alias.as_deref(), &lab)) {
                            continue;
                        }
                        if tx.send(kernel_json(&lab, ns.as_ref(), &e)).await.is_err() {
                            return;
                        }
                    }
                    // events lost (overflow) or the socket closed: anew
                    None => break,
                },
                c = present.changed() => {
                    if c.is_err() {
                        return;
                    }
                    if !*present.borrow() {
                        // the name went: let the namespace die with it
                        break;
                    }
                }
            }
        }
        drop(m);
    }
}

fn ovs_json(lab: &Owner, addr: &str, e: &OvsEvent) -> Value {
    json!({
        "event": "drift", "lab": lab, "object": e.object, "change": e.change,
        "ovsdb": addr, "name": e.name, "detail": e.detail, "time_ms": now_ms(),
    })
}

/// Watch OVSDB server `addr`: the lab's rows; its loss and return.
async fn watch_ovsdb(lab: Owner, addr: String, tx: mpsc::Sender<Value>) {
    let mut up = None;
    loop {
        let mut m = match OvsMonitor::open(&addr).await {
            Ok(m) => m,
            Err(e) => {
                if up == Some(true) {
                    let _ = tx
                        .send(json!({"event": "drift", "lab": lab, "object": "ovsdb",
                            "change": "removed", "ovsdb": addr, "detail": e.to_string(),
                            "time_ms": now_ms()}))
                        .await;
                }
                up = Some(false);
                // waiting for a server to come back is not watching a lab
                tokio::time::sleep(Duration::from_millis(500)).await;
                if tx.is_closed() {
                    return;
                }
                continue;
            }
        };
        if up == Some(false) {
            let ev = json!({"event": "drift", "lab": lab, "object": "ovsdb",
                "change": "added", "ovsdb": addr, "detail": "", "time_ms": now_ms()});
            if tx.send(ev).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                evs = m.next() => {
                    let Some(evs) = evs else {
                        let ev = json!({"event": "drift", "lab": lab, "object": "ovsdb",
                            "change": "removed", "ovsdb": addr,
                            "detail": "the server closed the connection", "time_ms": now_ms()});
                        if tx.send(ev).await.is_err() {
                            return;
                        }
                        up = Some(false);
                        break;
                    };
                    for e in evs {
                        let ours = e.owner.as_deref().is_some_and(|o| {
                            o.split('+').next() == Some(lab.as_str())
                        });
                        if ours && tx.send(ovs_json(&lab, &addr, &e)).await.is_err() {
                            return;
                        }
                    }
                }
                _ = tx.closed() => return,
            }
        }
    }
}

/// Watch the lab until `tx`'s receiver goes (or the returned set is
/// dropped). Returns once the namespaces' monitors are in place: a change
/// made after it is seen. OVSDB monitors connect on their own.
pub async fn watch(lab: Owner, t: Targets, tx: mpsc::Sender<Value>) -> tokio::task::JoinSet<()> {
    let mut set = tokio::task::JoinSet::new();
    let names: BTreeSet<NsName> = t
        .own
        .iter()
        .cloned()
        .chain(t.shared.iter().flatten().cloned())
        .collect();
    // the names first: a namespace made or deleted from now on is seen
    let inotify = netns_events();
    let mut present: BTreeMap<NsName, watch::Sender<bool>> = BTreeMap::new();
    let mut ready = vec![];
    for n in &names {
        let (ptx, prx) = watch::channel(netns::exists(n));
        present.insert(n.clone(), ptx);
        let own = t.own.contains(n);
        let (rtx, rrx) = tokio::sync::oneshot::channel::<()>();
        ready.push(rrx);
        let (lab, n, tx) = (lab.clone(), n.clone(), tx.clone());
        set.spawn(watch_ns(lab, Some(n), own, prx, tx, rtx));
    }
    if t.shared.contains(&None) {
        let (keep, prx) = watch::channel(true);
        let (rtx, rrx) = tokio::sync::oneshot::channel::<()>();
        ready.push(rrx);
        let (lab, tx) = (lab.clone(), tx.clone());
        set.spawn(async move {
            let _keep = keep;
            watch_ns(lab, None, false, prx, tx, rtx).await
        });
    }
    for a in &t.ovsdbs {
        set.spawn(watch_ovsdb(lab.clone(), a.clone(), tx.clone()));
    }
    for (db, br) in &t.bridges {
        let (rtx, rrx) = tokio::sync::oneshot::channel::<()>();
        ready.push(rrx);
        set.spawn(super::watch_flows::watch_flows(
            lab.clone(),
            db.clone(),
            br.clone(),
            tx.clone(),
            rtx,
        ));
    }
    match inotify {
        Ok(ino) => {
            let (lab, tx) = (lab.clone(), tx.clone());
            set.spawn(async move { names_loop(lab, ino, present, tx).await });
        }
        Err(e) => {
            let _ = tx
                .send(json!({"event": "error", "lab": lab,
                    "detail": format!("cannot watch /run/netns: {e}")}))
                .await;
        }
    }
    for r in ready {
        let _ = r.await;
    }
    set
}

/// An inotify instance, for tokio's AsyncFd.
struct Ino(nix::sys::inotify::Inotify);

impl std::os::fd::AsRawFd for Ino {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

/// An inotify watch on /run/netns (the names of namespaces).
fn netns_events() -> std::io::Result<tokio::io::unix::AsyncFd<Ino>> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let dir = std::path::Path::new("/run/netns");
    std::fs::create_dir_all(dir)?;
    let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    ino.add_watch(
        dir,
        AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO,
    )?;
    // SAFETY: the inotify descriptor is owned by `Ino`, which the AsyncFd
    // owns: it stays open while registered.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(Ino(ino), tokio::io::Interest::READABLE)
    }
    .map_err(|e| e.into())
}

/// Namespaces of the lab made and deleted: an event each, and the word to
/// their watchers.
async fn names_loop(
    lab: Owner,
    ino: tokio::io::unix::AsyncFd<Ino>,
    present: BTreeMap<NsName, watch::Sender<bool>>,
    tx: mpsc::Sender<Value>,
) {
    use nix::sys::inotify::AddWatchFlags as F;
    loop {
        let evs = tokio::select! {
            g = ino.readable() => {
                let Ok(mut g) = g else { return };
                match g.get_inner().0.read_events() {
                    Ok(e) => e,
                    Err(nix::errno::Errno::EAGAIN) => {
                        g.clear_ready();
                        continue;
                    }
                    Err(_) => return,
                }
            }
            _ = tx.closed() => return,
        };
        for e in evs {
            let Some(name) = e.name.as_ref().and_then(|n| n.to_str()) else {
                continue;
            };
            let Ok(n) = name.parse::<NsName>() else {
                continue;
            };
            let Some(p) = present.get(&n) else { continue };
            let made = e.mask.intersects(F::IN_CREATE | F::IN_MOVED_TO);
            p.send_replace(made);
            let ev = json!({"event": "drift", "lab": lab, "object": "namespace",
                "change": if made { "added" } else { "removed" }, "netns": n,
                "detail": "", "time_ms": now_ms()});
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(detail: &str) -> KernelEvent {
        KernelEvent {
            object: "address",
            change: "added",
            dev: "eth0".into(),
            alias: None,
            detail: detail.into(),
        }
    }

    #[test]
    fn link_local_addresses_are_noise_others_are_not() {
        assert!(noise(&addr("fe80::40ed:daff:fec1:84/64")));
        assert!(noise(&addr("febf::1/64")));
        assert!(!noise(&addr("198.18.0.1/24")));
        assert!(!noise(&addr("2001:db8::1/64")));
    }
}
