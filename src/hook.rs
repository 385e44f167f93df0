//! Test hooks, compiled in only with the cargo feature `test-hooks` (the
//! test suite enables it; a release build has none of this).
//!
//! `crash_point`: with `SWCTL_TEST_KILL_AT=k` in the environment the process
//! sends itself SIGKILL right before its k-th netlink or OVSDB request,
//! exactly like a `kill -9` at that point. The lowest I/O layers call it;
//! it depends on nothing of swctl's, so it closes no import cycle.

/// Die here if this is the request the test asked to die at.
#[cfg(feature = "test-hooks")]
pub fn crash_point() {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    static N: AtomicU64 = AtomicU64::new(0);
    let at = AT.get_or_init(|| {
        std::env::var("SWCTL_TEST_KILL_AT")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if let Some(k) = at
        && N.fetch_add(1, Ordering::Relaxed) + 1 == *k
    {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Without the feature: nothing, and the call compiles away.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn crash_point() {}
