//! `ip netns attach NAME PID`: a running process's network namespace (a
//! container's, an `unshare -n` shell's) given a name in /run/netns, so
//! swctl can attach it to switches; and the record that says swctl adopted
//! it (/run/swctl/adopted/NAME: the pid and the namespace's identity, its
//! nsfs inode), so `ns del` only forgets it — the name goes, with swctl's
//! ports into it; the namespace stays with its processes. The record counts
//! only while the name still refers to that very namespace.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::mount::{MsFlags, mount};

use super::netns::{NsError, ns_path, prepare_run_dir};
use crate::model::names::NsName;

fn record_path(name: &NsName) -> PathBuf {
    crate::effect::paths::run_dir()
        .join("adopted")
        .join(name.as_str())
}

/// A namespace's identity: device and inode of its nsfs file.
fn identity(path: &std::path::Path) -> io::Result<(u64, u64)> {
    let m = fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// Name the network namespace of process `pid` `name`. Ok(false) when the
/// name already refers to that namespace (nothing to do).
pub fn attach(name: &NsName, pid: u32) -> Result<bool, NsError> {
    let src = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let fail = |what: &str, e: io::Error| NsError::Create(name.clone(), what.into(), e);
    let want = identity(&src).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => fail(
            &format!("there is no process {pid}"),
            io::Error::from(io::ErrorKind::NotFound),
        ),
        _ => fail(&format!("cannot read {}", src.display()), e),
    })?;
    let path = ns_path(name);
    if path.exists() {
        if identity(&path).ok() == Some(want) {
            write_record(name, pid, want).map_err(|e| fail("record the adoption", e))?;
            return Ok(false);
        }
        return Err(NsError::Create(
            name.clone(),
            format!("/run/netns/{name} exists and is another namespace"),
            io::Error::from_raw_os_error(libc::EEXIST),
        ));
    }
    prepare_run_dir()?;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| fail("create the mount point file", e))?;
    if let Err(e) = mount(
        Some(&src),
        &path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = fs::remove_file(&path);
        return Err(fail(
            "bind-mount it",
            io::Error::from_raw_os_error(e as i32),
        ));
    }
    write_record(name, pid, want).map_err(|e| fail("record the adoption", e))?;
    Ok(true)
}

fn write_record(name: &NsName, pid: u32, (dev, ino): (u64, u64)) -> io::Result<()> {
    let p = record_path(name);
    fs::create_dir_all(p.parent().expect("a directory"))?;
    fs::write(p, format!("pid {pid}\ndev {dev}\nino {ino}\n"))
}

/// The pid `name` was adopted from, when swctl adopted it and the name
/// still refers to that namespace.
pub fn adopted(name: &NsName) -> Option<u32> {
    let text = fs::read_to_string(record_path(name)).ok()?;
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse::<u64>().ok())
    };
    let (pid, dev, ino) = (field("pid ")?, field("dev ")?, field("ino ")?);
    (identity(&ns_path(name)).ok()? == (dev, ino)).then_some(pid as u32)
}

/// Drop the record (the name was deleted).
pub fn forget(name: &NsName) {
    let _ = fs::remove_file(record_path(name));
}
