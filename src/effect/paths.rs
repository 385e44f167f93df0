//! swctl's run state, all under /run/swctl (gone at reboot, like the
//! namespaces and devices it describes): the lock, the pending marks, the
//! namespace registry of earlier versions (read and pruned only), the remembered OVSDB servers, the applied
//! topologies and the default sandbox directory. Every path is named here.

use std::collections::HashMap;

use crate::model::names::Loc;

use std::path::{Path, PathBuf};

/// The default run-state directory.
pub const RUN_DIR: &str = "/run/swctl";

/// The run-state directory of this process: `$SWCTL_RUN_DIR`, else
/// /run/swctl. A simulated machine's agent runs with its own (its lock,
/// pending marks and applied topologies), as a real machine has its own.
pub fn run_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        std::env::var_os("SWCTL_RUN_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(RUN_DIR))
    })
}

/// the lock that serializes swctl runs that change the system
pub fn lock_path() -> PathBuf {
    run_dir().join("lock")
}
/// namespace registry of earlier versions: NAME holds the owner of
/// namespace NAME (pruned by `prune_run_state`; nothing writes it now)
pub fn netns_registry_dir() -> PathBuf {
    run_dir().join("netns")
}
/// OVSDB servers (other than the default) swctl made switches on
pub fn ovsdb_servers_dir() -> PathBuf {
    run_dir().join("ovsdb")
}
/// applied topologies: NAME holds the file it was applied from
pub fn topology_dir() -> PathBuf {
    run_dir().join("topologies")
}
/// the logs of the processes swctl runs in hosts (`run`): NS/NAME.log
/// under `$SWCTL_LOG_DIR`, else /var/log/swctl (kept across reboots, as
/// logs are)
pub fn log_dir() -> PathBuf {
    std::env::var_os("SWCTL_LOG_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/log/swctl"))
}
/// the default directory of `swctl ovs start`
pub const SANDBOX_DIR: &str = "/run/swctl/ovs";
/// the default socket of `swctl serve` (the JSON-RPC API)
pub const API_SOCKET: &str = "/run/swctl/api.sock";
/// the default directory of `swctl ovn start` (the OVN central)
pub const OVN_DIR: &str = "/run/swctl/ovn";
/// a simulated machine's own Open vSwitch, in its agent's run-state
/// directory `dir`
pub fn machine_sandbox(dir: &Path) -> PathBuf {
    dir.join("ovs")
}

/// Marks being written. The kernel does not take IFLA_IFALIAS in
/// RTM_NEWLINK, so a device exists unmarked for a moment after it is
/// created; the mark it will get is appended here first, one line
/// `LOC<TAB>NAME<TAB>ALIAS` per device, before the device exists. A run
/// killed before the alias is set leaves the line, and the next observation
/// reads the mark from it for that device, if the device is swctl's by
/// identity (its link group); the planner then writes the alias. Lines of
/// devices that have their alias are inert, and pruned (`prune_run_state`).
///
/// Why one journal and not a file per device: this /run is not always a
/// tmpfs (here it is ext4), and creating and deleting 2000 small files per
/// 1000-host apply showed up in profiles (ext4_create, recently_deleted).
pub fn pending_log() -> PathBuf {
    run_dir().join("pending.log")
}
/// where a file per device used to be (removed when found)
pub fn legacy_pending_dir() -> PathBuf {
    run_dir().join("pending")
}

/// Append the mark `alias` that device `name` in `loc` is about to get.
pub fn write_pending(loc: &Loc, name: &str, alias: &str) {
    use std::io::Write;
    let _ = std::fs::create_dir_all(run_dir());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(pending_log())
    {
        let _ = f.write_all(format!("{loc}\t{name}\t{alias}\n").as_bytes());
    }
}

/// Every pending mark: (location, device) -> alias, the last line winning.
pub fn read_pending() -> HashMap<(String, String), String> {
    let text = std::fs::read_to_string(pending_log()).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, '\t');
            Some((
                (it.next()?.to_string(), it.next()?.to_string()),
                it.next()?.to_string(),
            ))
        })
        .collect()
}

/// Forget the pending marks that were written on their devices (location,
/// device, alias — the alias the record's last line for that device has),
/// so the record holds only what an interrupted run left: without this,
/// every `swctl attach` left its namespace end's line (the next command
/// does not look at that namespace) and each command read and rewrote a
/// record that grew by one line per attach.
pub fn settle_pending(written: &[(String, String, String)]) {
    if written.is_empty() {
        return;
    }
    let done: std::collections::HashSet<(&str, &str, &str)> = written
        .iter()
        .map(|(l, n, a)| (l.as_str(), n.as_str(), a.as_str()))
        .collect();
    rewrite_pending(|loc, name, alias| !done.contains(&(loc, name, alias)));
}

/// Keep only the pending marks `keep` (location, device, alias) says are
/// still needed; the record is written again only when one goes.
pub fn rewrite_pending(keep: impl Fn(&str, &str, &str) -> bool) {
    let _ = std::fs::remove_dir_all(legacy_pending_dir());
    let all = read_pending();
    if all.is_empty() {
        let _ = std::fs::remove_file(pending_log());
        return;
    }
    let mut lines: Vec<String> = all
        .iter()
        .filter(|((loc, name), alias)| keep(loc, name, alias))
        .map(|((loc, name), alias)| format!("{loc}\t{name}\t{alias}\n"))
        .collect();
    if lines.len() == all.len() {
        return;
    }
    lines.sort();
    if lines.is_empty() {
        let _ = std::fs::remove_file(pending_log());
    } else {
        let _ = std::fs::write(pending_log(), lines.concat());
    }
}
