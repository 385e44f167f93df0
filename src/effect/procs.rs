//! Processes swctl keeps running in hosts (`run`), and one-shot commands
//! (`exec`). A process is started detached from swctl under a supervisor
//! of its own — `swctl __supervise` (this binary, its own session and
//! process group: `setsid`), which forks the command into the host as
//! `ip netns exec NS sh -c CMD` would put it (`netns::enter_for_exec`:
//! the host's /etc/netns files bound over /etc), its output appended to a
//! log, waits for it and writes how it ended into the process's record.
//! The record (`RECORD_DIR/NS/NAME.json`: pid, start time, command, the
//! namespace's identity) is how a later swctl knows the process: alive
//! when /proc/PID has that start time (a pid reused by another process
//! is not it). Stopping signals the whole group (SIGTERM, SIGKILL after
//! `STOP_WAIT`), so nothing it started stays behind.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::kernel::netns;
use super::paths;
use crate::model::host::{ProcObs, ProcState};
use crate::model::names::{NsName, Owner};

/// How long a stopped process gets between SIGTERM and SIGKILL.
pub const STOP_WAIT: Duration = Duration::from_secs(5);
/// How long an `exec` command may run.
pub const EXEC_WAIT: Duration = Duration::from_secs(120);

/// A failed start, stop or one-shot command, in the user's words.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot start process {name} in {ns} (`{cmd}`)")]
    Spawn {
        ns: NsName,
        name: String,
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    /// `what`: the process, how it ended, where its log is
    #[error("{what} as soon as it started; its log ends:\n{tail}")]
    Ended { what: String, tail: String },
    #[error("process {name} in {ns} (pid {pid}) did not stop, even killed")]
    Stop { ns: NsName, name: String, pid: i32 },
    #[error("`{cmd}` in {ns} {how}; its output:\n{output}")]
    Exec {
        ns: NsName,
        cmd: String,
        how: String,
        output: String,
    },
    #[error("cannot run `{cmd}` in {ns}")]
    ExecSpawn {
        ns: NsName,
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmd}` in {ns} did not finish within {secs} s (stopped)")]
    ExecTimeout { ns: NsName, cmd: String, secs: u64 },
    #[error("cannot write {0}")]
    Write(String, #[source] std::io::Error),
}

/// A process's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    owner: String,
    cmd: String,
    /// the supervisor (its session and process group)
    supervisor: i32,
    /// the command (0 until the supervisor forked it)
    pid: i32,
    /// /proc/PID/stat's start time of the command
    start: u64,
    ns_id: u64,
    log: String,
    /// how it ended, once it did
    exit: Option<String>,
}

/// Where the records of host `ns` are.
fn record_dir(ns: &NsName) -> PathBuf {
    paths::run_dir().join("procs").join(ns.as_str())
}

fn record_path(ns: &NsName, name: &str) -> PathBuf {
    record_dir(ns).join(format!("{name}.json"))
}

/// The log of process `name` of host `ns`.
pub fn log_path(ns: &NsName, name: &str) -> PathBuf {
    paths::log_dir()
        .join(ns.as_str())
        .join(format!("{name}.log"))
}

fn write_record(path: &Path, r: &Record) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(r).unwrap_or_default())?;
    std::fs::rename(tmp, path)
}

fn read_record(path: &Path) -> Option<Record> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Field 22 of /proc/PID/stat (after the command's parenthesis), of a
/// process that is not a zombie (dead, its parent yet to reap it).
fn start_time(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    if f.next()? == "Z" {
        return None;
    }
    f.nth(18)?.parse().ok()
}

/// Whether the process of a record is the one running under its pid.
fn alive(r: &Record) -> bool {
    r.pid > 0 && start_time(r.pid) == Some(r.start)
}

/// The identity of namespace `ns` now (its /run/netns file's inode).
pub fn ns_id(ns: &NsName) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(netns::ns_path(ns)).ok().map(|m| m.ino())
}

/// The last `n` lines of a log.
pub fn tail(log: &Path, n: usize) -> Vec<String> {
    let Ok(f) = std::fs::File::open(log) else {
        return vec![];
    };
    let lines: Vec<String> = std::io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// The processes swctl started in host `ns`.
pub fn read(ns: &NsName) -> Vec<ProcObs> {
    let Ok(rd) = std::fs::read_dir(record_dir(ns)) else {
        return vec![];
    };
    let mut out: Vec<ProcObs> = rd
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".json")?
                .to_string();
            let r = read_record(&path)?;
            let state = if alive(&r) {
                ProcState::Running
            } else if let Some(how) = &r.exit {
                ProcState::Exited(how.clone())
            } else {
                ProcState::Gone
            };
            let tail = if state == ProcState::Running {
                vec![]
            } else {
                tail(Path::new(&r.log), 5)
            };
            Some(ProcObs {
                name,
                cmd: r.cmd,
                owner: r.owner.parse().ok()?,
                pid: r.pid,
                state,
                ns_id: r.ns_id,
                log: r.log,
                tail,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Now as UTC in RFC 3339's words (`2026-12-03T17:40:20Z`), for the logs:
/// days since 1970 to a civil date (Howard Hinnant's `civil_from_days`).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Start process `name` (`cmd`) in host `ns` under a supervisor, and wait
/// (bounded) until it runs: an error when it cannot be started or ends at
/// once (`sh: 1: x: not found`).
pub fn start(
    ns: &NsName,
    owner: &Owner,
    name: &str,
    cmd: &str,
    cwd: Option<&str>,
) -> Result<(), ProcError> {
    let spawn_err = |source| ProcError::Spawn {
        ns: ns.clone(),
        name: name.into(),
        cmd: cmd.into(),
        source,
    };
    let rec = record_path(ns, name);
    // an earlier one of the name still running (its host deleted by hand
    // and made again: it runs in the old namespace) goes first
    stop(ns, name)?;
    std::fs::create_dir_all(record_dir(ns)).map_err(spawn_err)?;
    let log = log_path(ns, name);
    if let Some(d) = log.parent() {
        std::fs::create_dir_all(d).map_err(spawn_err)?;
    }
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(spawn_err)?;
    let _ = writeln!(out, "-- swctl: starting `{cmd}` in {ns} at {}", utc_now());
    let exe = std::env::current_exe().map_err(spawn_err)?;
    let mut c = std::process::Command::new(exe);
    c.arg(SUPERVISE)
        .arg(ns.as_str())
        .arg(owner.as_str())
        .arg(&rec)
        .arg(&log)
        .arg(cwd.unwrap_or("/"))
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().map_err(spawn_err)?)
        .stderr(out);
    // SAFETY: setsid is async-signal-safe; nothing else runs in the child
    // before exec
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = c.spawn().map_err(spawn_err)?;
    // the supervisor writes the record once the command is forked
    let t = Instant::now();
    let ended = |r: &Record| ProcError::Ended {
        what: format!(
            "process {name} in {ns} (`{cmd}`) {} ({})",
            r.exit.clone().unwrap_or_default(),
            log.display()
        ),
        tail: tail(&log, 10).join("\n"),
    };
    loop {
        if let Some(r) = read_record(&rec).filter(|r| r.pid > 0) {
            // a moment for a command that fails at once (not found, bad
            // option) to say so; what runs longer is the process's to report
            // (`status`)
            std::thread::sleep(Duration::from_millis(100));
            let r = read_record(&rec).unwrap_or(r);
            if r.exit
                .as_deref()
                .is_some_and(|h| h != "exited with status 0")
            {
                let _ = child.wait();
                return Err(ended(&r));
            }
            // reaped when it ends, by this process while it lives (`swctl
            // serve`), else by init
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(spawn_err(std::io::Error::other(format!(
                "its supervisor ended ({st}) before starting it; see {}",
                log.display()
            ))));
        }
        if t.elapsed() > Duration::from_secs(5) {
            return Err(spawn_err(std::io::Error::other(
                "its supervisor did not start it within 5 s",
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stop process `name` of host `ns` and its group (SIGTERM, SIGKILL after
/// `STOP_WAIT`), and forget it.
pub fn stop(ns: &NsName, name: &str) -> Result<(), ProcError> {
    let rec = record_path(ns, name);
    let Some(r) = read_record(&rec) else {
        return Ok(());
    };
    let pg = nix::unistd::Pid::from_raw(r.supervisor);
    if alive(&r) {
        let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGTERM);
        let t = Instant::now();
        while alive(&r) && t.elapsed() < STOP_WAIT {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // whatever of its group is left (what it started, or it, deaf to
    // SIGTERM) goes too
    if r.supervisor > 0 {
        let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
    }
    // the supervisor too: gone, it writes no record after this one goes
    let supervisor_gone = || {
        r.supervisor <= 0
            || start_time(r.supervisor).is_none()
            || nix::sys::signal::kill(nix::unistd::Pid::from_raw(r.supervisor), None).is_err()
    };
    let t = Instant::now();
    while (alive(&r) || !supervisor_gone()) && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    if alive(&r) {
        return Err(ProcError::Stop {
            ns: ns.clone(),
            name: name.into(),
            pid: r.pid,
        });
    }
    let _ = std::fs::remove_file(&rec);
    let _ = std::fs::remove_dir(record_dir(ns));
    Ok(())
}

/// The hidden first argument of the supervisor.
pub const SUPERVISE: &str = "__supervise";

/// The supervisor (`swctl __supervise NS OWNER RECORD LOG DIR CMD`, its output
/// already the log): fork the command into the host, record it, wait,
/// record how it ended. Runs single-threaded, before anything else in
/// `main`; never returns.
pub fn supervise(args: &[String]) -> ! {
    use nix::sys::signal::{SigHandler, Signal, signal};
    let [ns, owner, rec, log, cwd, cmd] = args else {
        eprintln!("swctl: __supervise NS OWNER RECORD LOG DIR CMD");
        std::process::exit(2);
    };
    let (Ok(ns), Ok(owner)) = (ns.parse::<NsName>(), owner.parse::<Owner>()) else {
        eprintln!("swctl: __supervise: bad namespace or owner");
        std::process::exit(2);
    };
    // a SIGTERM to the group is for the command: the supervisor stays to
    // write how it ended
    // SAFETY: single-threaded; SIG_IGN is a valid disposition
    unsafe {
        for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            let _ = signal(s, SigHandler::SigIgn);
        }
    }
    // nothing of the process that started it stays open (a test harness's
    // pipe held for days would keep its reader waiting)
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        let fds: Vec<i32> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect();
        for fd in fds {
            // SAFETY: single-threaded; fds this process does not use
            unsafe {
                libc::close(fd);
            }
        }
    }
    // SAFETY: single-threaded here, so the child may do anything
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            unsafe {
                for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
                    let _ = signal(s, SigHandler::SigDfl);
                }
            }
            if let Err(e) = netns::enter_for_exec(&ns) {
                eprintln!("swctl: {e}");
                std::process::exit(126);
            }
            if let Err(e) = std::env::set_current_dir(cwd) {
                eprintln!("swctl: cannot run in {cwd}: {e}");
                std::process::exit(126);
            }
            let sh = std::ffi::CString::new("/bin/sh").unwrap();
            let argv = [
                sh.clone(),
                std::ffi::CString::new("-c").unwrap(),
                std::ffi::CString::new(script(cmd).as_bytes()).unwrap_or_default(),
            ];
            let e = nix::unistd::execv(&sh, &argv).unwrap_err();
            eprintln!("swctl: cannot run /bin/sh: {e}");
            std::process::exit(127);
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            let pid = child.as_raw();
            let mut r = Record {
                owner: owner.to_string(),
                cmd: cmd.clone(),
                supervisor: std::process::id() as i32,
                pid,
                start: start_time(pid).unwrap_or(0),
                ns_id: ns_id(&ns).unwrap_or(0),
                log: log.clone(),
                exit: None,
            };
            let path = Path::new(rec);
            let _ = write_record(path, &r);
            let how = loop {
                match nix::sys::wait::waitpid(child, None) {
                    Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => {
                        break format!("exited with status {code}");
                    }
                    Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => {
                        break format!("killed by signal {}", sig as i32);
                    }
                    Ok(_) => continue,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => break format!("lost ({e})"),
                }
            };
            eprintln!("-- swctl: {how}");
            // still its record (not stopped and started again meanwhile)
            if read_record(path).is_some_and(|x| x.pid == pid) {
                r.exit = Some(how);
                let _ = write_record(path, &r);
            }
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("swctl: cannot fork: {e}");
            std::process::exit(1);
        }
    }
}

/// What the shell runs for `cmd`: a simple command replaces the shell
/// (`exec CMD`: the process swctl records and signals is the command
/// itself, not a shell waiting for it — Debian's sh does not do this on its
/// own); a list or a pipeline stays the shell's.
fn script(cmd: &str) -> String {
    let simple = !cmd.contains([';', '&', '|', '<', '>', '(', ')', '`', '\n'])
        && !cmd.trim_start().starts_with("exec ");
    if simple {
        format!("exec {cmd}")
    } else {
        cmd.to_string()
    }
}

/// Run one-shot command `cmd` in host `ns` (`ip netns exec NS sh -c CMD`),
/// its output kept; an error with the output when it fails or outlasts
/// `EXEC_WAIT`.
pub fn exec(ns: &NsName, cmd: &str, cwd: Option<&str>) -> Result<String, ProcError> {
    let exe = std::env::current_exe().map_err(|source| ProcError::ExecSpawn {
        ns: ns.clone(),
        cmd: cmd.into(),
        source,
    })?;
    let mut child = std::process::Command::new(exe)
        .args(["ns", "exec", ns.as_str(), "--", "/bin/sh", "-c", cmd])
        .current_dir(cwd.unwrap_or("/"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| ProcError::ExecSpawn {
            ns: ns.clone(),
            cmd: cmd.into(),
            source,
        })?;
    // its output read beside the wait (a full pipe would block it)
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut out = String::new();
        if let Some(s) = so.as_mut() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(s) = se.as_mut() {
            let _ = s.read_to_string(&mut out);
        }
        out
    });
    let t = Instant::now();
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if t.elapsed() > EXEC_WAIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ProcError::ExecTimeout {
                ns: ns.clone(),
                cmd: cmd.into(),
                secs: EXEC_WAIT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = reader.join().unwrap_or_default();
    if status.success() {
        Ok(output)
    } else {
        use std::os::unix::process::ExitStatusExt;
        let how = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(s)) => format!("was killed by signal {s}"),
            _ => "failed".into(),
        };
        Err(ProcError::Exec {
            ns: ns.clone(),
            cmd: cmd.into(),
            how,
            output: output.trim_end().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_log_says_when_in_utc() {
        let date = || {
            let o = std::process::Command::new("date")
                .args(["-u", "+%Y-%m-%dT%H:%M"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let before = date();
        let t = super::utc_now();
        let after = date();
        // date(1)'s minute, before or after (a minute may turn between)
        assert!(
            t.starts_with(&before) || t.starts_with(&after),
            "{t} vs {before}/{after}"
        );
        assert_eq!(t.len(), "2026-12-03T17:40:20Z".len(), "{t}");
    }
}
