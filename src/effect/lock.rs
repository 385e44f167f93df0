//! Serializing swctl runs: an exclusive flock(2) on /run/swctl/lock, held
//! for the life of the process (released by the kernel even after kill -9).

use std::fs::{File, OpenOptions};
use std::io::Write;

use nix::fcntl::{Flock, FlockArg};

use super::paths::{lock_path, run_dir};

#[derive(Debug, thiserror::Error)]
#[error("cannot take swctl's lock {}", lock_path().display())]
pub struct LockError(#[source] pub std::io::Error);

/// Held while it lives.
pub struct Lock(#[allow(dead_code)] Flock<File>);

/// Take the lock, waiting (and saying so) while another swctl holds it.
pub fn take() -> Result<Lock, LockError> {
    std::fs::create_dir_all(run_dir()).map_err(LockError)?;
    let open = || {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(lock_path())
            .map_err(LockError)
    };
    let f = match Flock::lock(open()?, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((_, _)) => {
            let holder = std::fs::read_to_string(lock_path()).unwrap_or_default();
            // for people at a terminal; scripts get clean one-line errors
            let _ = std::io::IsTerminal::is_terminal(&std::io::stderr())
                && writeln!(
                    std::io::stderr(),
                    "swctl: waiting for another swctl run to finish{}",
                    if holder.trim().is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {})", holder.trim())
                    }
                )
                .is_ok();
            Flock::lock(open()?, FlockArg::LockExclusive).map_err(|(_, e)| LockError(e.into()))?
        }
    };
    // the holder's pid, padded to a fixed width and written in place: no
    // truncation (on this ext4 /run, truncating and rewriting the file was
    // a measurable part of a one-command `swctl attach`)
    let _ = std::os::unix::fs::FileExt::write_all_at(
        &*f,
        format!("{:<10}\n", std::process::id()).as_bytes(),
        0,
    );
    Ok(Lock(f))
}
