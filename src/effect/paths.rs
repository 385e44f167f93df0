//! swctl's run state, all under /run/swctl (gone at reboot, like the
//! namespaces and devices it describes): the lock, the namespace registry,
//! the pending marks, the remembered OVSDB servers, the applied
//! topologies and the default sandbox directory. Every path is named here.

use std::path::{Path, PathBuf};

use crate::model::names::{Loc, NsName};

pub const RUN_DIR: &str = "/run/swctl";
/// the lock that serializes swctl runs that change the system
pub const LOCK_PATH: &str = "/run/swctl/lock";
/// namespace registry: NAME holds the owner of namespace NAME
pub const NETNS_REGISTRY_DIR: &str = "/run/swctl/netns";
/// OVSDB servers (other than the default) swctl made switches on
pub const OVSDB_SERVERS_DIR: &str = "/run/swctl/ovsdb";
/// applied topologies: NAME holds the file it was applied from
pub const TOPOLOGY_DIR: &str = "/run/swctl/topologies";
/// the default directory of `swctl ovs start`
pub const SANDBOX_DIR: &str = "/run/swctl/ovs";

/// Marks being written. The kernel does not take IFLA_IFALIAS in
/// RTM_NEWLINK, so a device exists unmarked for a moment after it is
/// created; the mark it will get is written here first
/// (/run/swctl/pending/LOC/NAME) and removed once the alias is set. A run
/// killed in between leaves the file, and the next observation reads the
/// mark from it (the planner then writes the alias).
pub const PENDING_DIR: &str = "/run/swctl/pending";

pub fn pending_path(loc: &Loc, name: &str) -> PathBuf {
    Path::new(PENDING_DIR).join(loc.to_string()).join(name)
}

pub fn write_pending(loc: &Loc, name: &str, alias: &str) {
    let p = pending_path(loc, name);
    if let Some(dir) = p.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(p, alias);
}

pub fn clear_pending(loc: &Loc, name: &str) {
    let p = pending_path(loc, name);
    let _ = std::fs::remove_file(&p);
    // the directory goes with its last record (fails while others remain)
    if let Some(dir) = p.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

pub fn read_pending(loc: &Loc, name: &str) -> Option<String> {
    std::fs::read_to_string(pending_path(loc, name)).ok()
}

/// Forget the pending marks of a namespace that is being deleted.
pub fn clear_pending_ns(ns: &NsName) {
    let _ = std::fs::remove_dir_all(Path::new(PENDING_DIR).join(ns.as_str()));
}
