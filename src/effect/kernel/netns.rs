//! Named network namespaces, natively, exactly as iproute2 makes them: a
//! bind mount of the namespace file under /run/netns (made a shared mount
//! point first), so `ip netns list` and `ip netns exec` see swctl's
//! namespaces and the other way round.
//!
//! Owns: creating (with swctl's mark on `lo`, before the namespace is
//! visible), deleting and listing namespaces, running code inside a
//! namespace on a dedicated thread (only to open sockets or files there), and
//! `ns exec`. The registry /run/swctl/netns of earlier versions is only read
//! (and pruned): the mark on `lo` is the truth, a record keyed by a name is
//! not.
//!
//! Why a thread: setns(CLONE_NEWNET) changes the namespace of the calling
//! thread only. A thread that entered a namespace opens a netlink socket
//! there and exits; the socket stays bound to that namespace and is driven
//! from tokio like any other (the approach netavark takes).

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use crate::model::Mark;
use crate::model::names::{NsName, Owner};

pub const NETNS_RUN_DIR: &str = "/run/netns";
use crate::effect::paths::netns_registry_dir;

/// Failures of namespace operations, each named for what was being done.
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("namespace {0} already exists and was not created by swctl")]
    ExistsForeign(NsName),
    #[error("namespace {0} does not exist")]
    NotFound(NsName),
    #[error("cannot prepare {NETNS_RUN_DIR} as a shared mount point: {1} ({0})")]
    PrepareRunDir(&'static str, #[source] io::Error),
    #[error("cannot create namespace {0}: {1}")]
    Create(NsName, String, #[source] io::Error),
    #[error("cannot delete namespace {0}: {1}")]
    Delete(NsName, String, #[source] io::Error),
    #[error("cannot enter namespace {0}: {1}")]
    Enter(String, #[source] io::Error),
    #[error("cannot list {NETNS_RUN_DIR}")]
    List(#[source] io::Error),
    #[error("cannot set {key} in namespace {ns}")]
    Sysctl {
        ns: String,
        key: String,
        #[source]
        err: io::Error,
    },
    #[error("cannot run {0:?} in namespace {1}")]
    Exec(String, NsName, #[source] io::Error),
    #[error("a thread that entered a namespace died")]
    ThreadPanicked,
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

pub fn ns_path(name: &NsName) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name.as_str())
}

fn registry_path(name: &NsName) -> PathBuf {
    netns_registry_dir().join(name.as_str())
}

/// Names under /run/netns (what `ip netns list` shows), sorted; entries that
/// are not valid names for swctl are skipped.
pub fn list() -> Result<Vec<NsName>, NsError> {
    let rd = match fs::read_dir(NETNS_RUN_DIR) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(NsError::List(e)),
    };
    let mut v: Vec<NsName> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    v.sort();
    Ok(v)
}

pub fn exists(name: &NsName) -> bool {
    ns_path(name).exists()
}

/// Drop the registry entry of `name` (its namespace is gone or is not
/// swctl's); the namespace itself is left alone.
pub fn forget(name: &NsName) {
    let _ = fs::remove_file(registry_path(name));
}

/// Every namespace named in the registry of earlier versions, whether or
/// not the namespace itself still exists.
pub fn registry() -> Vec<NsName> {
    let Ok(rd) = fs::read_dir(netns_registry_dir()) else {
        return vec![];
    };
    let mut v: Vec<NsName> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    v.sort();
    v
}

/// Open the namespace file (for IFLA_NET_NS_FD and setns).
pub fn open(name: &NsName) -> Result<File, NsError> {
    File::open(ns_path(name)).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            NsError::NotFound(name.clone())
        } else {
            NsError::Enter(name.to_string(), e)
        }
    })
}

/// `mkdir -p /run/netns && mount --make-rshared /run/netns`, binding the
/// directory onto itself first when it is not a mount point (what
/// iproute2's netns_add does, so namespaces made by either tool propagate
/// to the other's mount namespaces).
pub(super) fn prepare_run_dir() -> Result<(), NsError> {
    fs::create_dir_all(NETNS_RUN_DIR).map_err(|e| NsError::PrepareRunDir("mkdir", e))?;
    let shared = || {
        mount(
            None::<&str>,
            NETNS_RUN_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            mount(
                Some(NETNS_RUN_DIR),
                NETNS_RUN_DIR,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| NsError::PrepareRunDir("bind", errno_io(e)))?;
            shared().map_err(|e| NsError::PrepareRunDir("make-shared", errno_io(e)))
        }
        Err(e) => Err(NsError::PrepareRunDir("make-shared", errno_io(e))),
    }
}

/// A netlink (NETLINK_ROUTE) socket opened inside a namespace.
pub fn netlink_socket() -> io::Result<OwnedFd> {
    let s = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
    use std::os::fd::{FromRawFd, IntoRawFd};
    // SAFETY: the fd was just created by Socket::new and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(s.into_raw_fd()) })
}

/// Create namespaces, one after the other on one dedicated thread
/// (`ip netns add NAME` for each), and return for each a netlink socket
/// opened inside it. The registry entry is written before the namespace, so
/// a crash at any point leaves something `gc` recognises as swctl's.
pub fn create_many(
    names: &[NsName],
    owner: &Owner,
) -> Result<Vec<Result<OwnedFd, NsError>>, NsError> {
    prepare_run_dir()?;
    let names = names.to_vec();
    let owner = owner.clone();
    std::thread::scope(|s| {
        s.spawn(move || names.iter().map(|n| create_here(n, &owner)).collect())
            .join()
            .map_err(|_| NsError::ThreadPanicked)
    })
}

fn create_here(name: &NsName, owner: &Owner) -> Result<OwnedFd, NsError> {
    let path = ns_path(name);
    let fail = |what: &str, e: io::Error| NsError::Create(name.clone(), what.to_string(), e);
    // Claim the name: O_EXCL, as iproute2 does.
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o0)
        .open(&path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // A run killed between claiming the name and the bind mount
            // leaves an empty file, no namespace: take it over (a live
            // namespace there is someone's, swctl's or not, and stays).
            if !is_nsfs(&path) {
                let _ = fs::remove_file(&path);
                return create_here(name, owner);
            }
            return Err(NsError::ExistsForeign(name.clone()));
        }
        Err(e) => return Err(fail("create the mount point file", e)),
    }
    let undo = |e: NsError| {
        let _ = fs::remove_file(&path);
        e
    };
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| undo(fail("unshare", errno_io(e))))?;
    // Marked before it is visible: `lo` carries the owner from before the
    // bind mount, so every namespace under /run/netns that swctl made is
    // marked, and a look-alike someone else makes with the same name is not.
    let alias = Mark::Ns {
        owner: owner.clone(),
    }
    .to_alias();
    let sock = mark_lo(&alias).map_err(|e| undo(fail("mark lo and set it up", e)))?;
    mount(
        Some("/proc/thread-self/ns/net"),
        &path,
        Some("none"),
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| undo(fail("bind mount", errno_io(e))))?;
    Ok(sock)
}

/// `ip link set lo up alias ALIAS` in the calling thread's namespace, on a
/// netlink socket opened here, synchronously; returns the socket (bound to
/// this namespace) for tokio to drive.
fn mark_lo(alias: &str) -> io::Result<OwnedFd> {
    use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
    let mut s = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
    s.bind_auto()?;
    let mut m = LinkMessage::default();
    // loopback is always ifindex 1 in a new namespace
    m.header.index = 1;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    m.attributes.push(LinkAttribute::IfAlias(alias.to_string()));
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::SetLink(m));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    req.header.sequence_number = 1;
    req.finalize();
    let mut buf = vec![0u8; req.header.length as usize];
    req.serialize(&mut buf);
    s.send(&buf, 0)?;
    let mut rbuf = vec![0u8; 8192];
    let n = s.recv(&mut &mut rbuf[..], 0)?;
    let resp = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rbuf[..n])
        .map_err(|e| io::Error::other(e.to_string()))?;
    if let NetlinkPayload::Error(e) = resp.payload
        && let Some(code) = e.code
    {
        return Err(io::Error::from_raw_os_error(-code.get()));
    }
    use std::os::fd::{FromRawFd, IntoRawFd};
    // SAFETY: the fd was created by Socket::new and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(s.into_raw_fd()) })
}

/// Whether `path` is a namespace file (a bind mount of nsfs), not just the
/// empty file the bind mount goes on.
fn is_nsfs(path: &Path) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs(2) on a NUL-terminated path into a zeroed struct.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == NSFS_MAGIC
    }
}

/// `ip netns del NAME`: detach the bind mount and remove the file and the
/// registry entry. The kernel frees the namespace (and the devices in it)
/// once nothing holds it any more.
pub fn delete(name: &NsName) -> Result<(), NsError> {
    let path = ns_path(name);
    let fail = |what: &str, e: io::Error| NsError::Delete(name.clone(), what.to_string(), e);
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(fail("umount", errno_io(e))),
    }
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("remove the mount point file", e)),
    }
    match fs::remove_file(registry_path(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail("remove the registry entry", e)),
    }
}

/// How many threads detach namespace mounts at once. Each umount waits for
/// an expedited RCU grace period (`namespace_unlock`; perf, 1000 namespaces:
/// half of swctl's off-CPU time in destroy); waits that overlap share one
/// grace period, so the deletions go on several threads (measured, 1000
/// namespaces: one thread 170-190 ms, 8 threads 17-22 ms).
const DELETE_THREADS: usize = 8;

/// `ip netns del` for many names, on a few threads at once (see
/// DELETE_THREADS); one result per name, in order.
pub fn delete_many(names: &[NsName]) -> Vec<Result<(), NsError>> {
    if names.len() < 2 * DELETE_THREADS {
        return names.iter().map(delete).collect();
    }
    let per = names.len().div_ceil(DELETE_THREADS);
    std::thread::scope(|s| {
        let parts: Vec<_> = names
            .chunks(per)
            .map(|c| s.spawn(move || c.iter().map(delete).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().expect("a deleting thread panicked"))
            .collect()
    })
}

/// Run `f` on a fresh thread that has entered namespace `name` (or stayed in
/// the host's when None). Only for opening sockets and /proc/sys files: the
/// thread ends when `f` returns.
pub fn run_in<T: Send>(name: Option<&NsName>, f: impl FnOnce() -> T + Send) -> Result<T, NsError> {
    let file = name.map(open).transpose()?;
    std::thread::scope(|s| {
        s.spawn(move || {
            if let (Some(file), Some(n)) = (&file, name) {
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|e| NsError::Enter(n.to_string(), errno_io(e)))?;
            }
            Ok(f())
        })
        .join()
        .map_err(|_| NsError::ThreadPanicked)?
    })
}

/// A netlink socket inside each of `names`, opened by one thread that
/// enters them in turn (a thread per namespace costs a clone each).
pub fn sockets_in(names: &[NsName]) -> Vec<Result<OwnedFd, NsError>> {
    let files: Vec<Result<File, NsError>> = names.iter().map(open).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            files
                .iter()
                .zip(names)
                .map(|(f, n)| {
                    let f = match f {
                        Ok(f) => f,
                        Err(e) => {
                            return Err(NsError::Enter(
                                n.to_string(),
                                io::Error::other(e.to_string()),
                            ));
                        }
                    };
                    setns(f.as_fd(), CloneFlags::CLONE_NEWNET)
                        .map_err(|e| NsError::Enter(n.to_string(), errno_io(e)))?;
                    netlink_socket().map_err(|e| NsError::Enter(n.to_string(), e))
                })
                .collect()
        })
        .join()
        .unwrap_or_else(|_| names.iter().map(|_| Err(NsError::ThreadPanicked)).collect())
    })
}

/// Write a sysctl under /proc/sys/net inside a namespace
/// (`ip netns exec NS sysctl -w KEY=VALUE`); `key` uses dots.
pub fn sysctl_set(ns: Option<&NsName>, key: &str, value: &str) -> Result<(), NsError> {
    let path = sysctl_path(key);
    let res = run_in(ns, || fs::write(&path, value))?;
    res.map_err(|err| NsError::Sysctl {
        ns: ns.map_or("host".into(), |n| n.to_string()),
        key: key.into(),
        err,
    })
}

/// Read a sysctl inside a namespace (`ip netns exec NS sysctl KEY`).
pub fn sysctl_get(ns: Option<&NsName>, key: &str) -> Result<String, NsError> {
    let path = sysctl_path(key);
    let res = run_in(ns, || fs::read_to_string(&path))?;
    res.map(|s| s.trim().to_string())
        .map_err(|err| NsError::Sysctl {
            ns: ns.map_or("host".into(), |n| n.to_string()),
            key: key.into(),
            err,
        })
}

/// `net.ipv4.ip_forward` or, when a device name could contain dots, the
/// path form `net/ipv4/conf/DEV/rp_filter`.
fn sysctl_path(key: &str) -> PathBuf {
    if key.contains('/') {
        Path::new("/proc/sys").join(key)
    } else {
        Path::new("/proc/sys").join(key.replace('.', "/"))
    }
}

/// What `ip netns exec NAME` does before it execs, in this
/// (single-threaded) process: enter the namespace, give the process a
/// private mount namespace with a /sys of the new network namespace (so
/// /sys/class/net matches) and each file of /etc/netns/NAME bound over
/// its /etc namesake (the lab's hosts file over /etc/hosts).
pub fn enter_for_exec(name: &NsName) -> Result<(), NsError> {
    let file = open(name)?;
    setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| NsError::Enter(name.to_string(), errno_io(e)))?;
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| NsError::Enter(name.to_string(), errno_io(e)))?;
    // Keep mounts made here private to this process.
    let _ = mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    );
    if umount2("/sys", MntFlags::MNT_DETACH).is_ok() {
        let _ = mount(
            Some(name.as_str()),
            "/sys",
            Some("sysfs"),
            MsFlags::empty(),
            None::<&str>,
        );
    }
    // iproute2's bind_etc: a file that cannot be bound is skipped
    if let Ok(rd) = fs::read_dir(Path::new(ETC_NETNS).join(name.as_str())) {
        for e in rd.flatten() {
            let target = Path::new("/etc").join(e.file_name());
            if target.exists() {
                let _ = mount(
                    Some(&e.path()),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                );
            }
        }
    }
    Ok(())
}

/// Where a namespace's own /etc files are (`ip netns exec` binds them).
pub const ETC_NETNS: &str = "/etc/netns";

/// `ip netns exec NAME CMD...`: `enter_for_exec`, then exec. Returns only
/// on failure.
pub fn exec(name: &NsName, argv: &[String]) -> NsError {
    let inner = || -> Result<std::convert::Infallible, NsError> {
        enter_for_exec(name)?;
        let args: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                NsError::Exec(
                    argv[0].clone(),
                    name.clone(),
                    io::Error::new(io::ErrorKind::InvalidInput, e),
                )
            })?;
        let e = nix::unistd::execvp(&args[0], &args).unwrap_err();
        Err(NsError::Exec(argv[0].clone(), name.clone(), errno_io(e)))
    };
    match inner() {
        Err(e) => e,
        Ok(never) => match never {},
    }
}
