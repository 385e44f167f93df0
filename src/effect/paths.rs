//! swctl's run state, all under /run/swctl (gone at reboot, like the
//! namespaces and devices it describes): the lock, the pending marks, the
//! namespace registry of earlier versions (read and pruned only), the remembered OVSDB servers, the applied
//! topologies and the default sandbox directory. Every path is named here.

use std::collections::HashMap;

use crate::model::names::Loc;

pub const RUN_DIR: &str = "/run/swctl";
/// the lock that serializes swctl runs that change the system
pub const LOCK_PATH: &str = "/run/swctl/lock";
/// namespace registry of earlier versions: NAME holds the owner of
/// namespace NAME (pruned by `prune_run_state`; nothing writes it now)
pub const NETNS_REGISTRY_DIR: &str = "/run/swctl/netns";
/// OVSDB servers (other than the default) swctl made switches on
pub const OVSDB_SERVERS_DIR: &str = "/run/swctl/ovsdb";
/// applied topologies: NAME holds the file it was applied from
pub const TOPOLOGY_DIR: &str = "/run/swctl/topologies";
/// the default directory of `swctl ovs start`
pub const SANDBOX_DIR: &str = "/run/swctl/ovs";

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
pub const PENDING_LOG: &str = "/run/swctl/pending.log";
/// where a file per device used to be (removed when found)
pub const LEGACY_PENDING_DIR: &str = "/run/swctl/pending";

/// Append the mark `alias` that device `name` in `loc` is about to get.
pub fn write_pending(loc: &Loc, name: &str, alias: &str) {
    use std::io::Write;
    let _ = std::fs::create_dir_all(RUN_DIR);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(PENDING_LOG)
    {
        let _ = f.write_all(format!("{loc}\t{name}\t{alias}\n").as_bytes());
    }
}

/// Every pending mark: (location, device) -> alias, the last line winning.
pub fn read_pending() -> HashMap<(String, String), String> {
    let text = std::fs::read_to_string(PENDING_LOG).unwrap_or_default();
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

/// Keep only the pending marks `keep` says are still needed.
pub fn rewrite_pending(keep: impl Fn(&str, &str) -> bool) {
    let _ = std::fs::remove_dir_all(LEGACY_PENDING_DIR);
    let all = read_pending();
    if all.is_empty() {
        let _ = std::fs::remove_file(PENDING_LOG);
        return;
    }
    let mut lines: Vec<String> = all
        .into_iter()
        .filter(|((loc, name), _)| keep(loc, name))
        .map(|((loc, name), alias)| format!("{loc}\t{name}\t{alias}\n"))
        .collect();
    lines.sort();
    if lines.is_empty() {
        let _ = std::fs::remove_file(PENDING_LOG);
    } else {
        let _ = std::fs::write(PENDING_LOG, lines.concat());
    }
}
