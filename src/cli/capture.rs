//! `swctl capture`: pcap to standard output or a file (the use case is
//! `lab::capture`), the count of frames on standard error as tcpdump says
//! it; Ctrl-C and SIGTERM end it with the file whole, a closed pipe ends
//! the process as it ends tcpdump (SIGPIPE).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{CliError, Output};
use crate::effect::ovs::Servers;
use crate::effect::system::System;
use crate::lab::capture::{CaptureError, CaptureReq, locate, pump, start};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

pub(super) fn run(r: &CaptureReq) -> Result<Output, CliError> {
    if !super::is_root() {
        return Err(CliError::NotRoot);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let k = System::new(Servers::none("not needed")).map_err(|e| CliError::Observe(e.into()))?;
    let spot = rt.block_on(locate(&k, &r.target))?;
    let mut cap = start(&spot, r.snaplen)?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let (n, to) = match &r.write {
        Some(path) => {
            let f =
                std::fs::File::create(path).map_err(|e| CaptureError::Write(path.clone(), e))?;
            let mut w = std::io::BufWriter::new(f);
            (pump(&mut cap, &mut w, r.count, &STOP, path)?, path.clone())
        }
        None => {
            let mut w = std::io::stdout().lock();
            (
                pump(&mut cap, &mut w, r.count, &STOP, "standard output")?,
                "-".into(),
            )
        }
    };
    let _ = writeln!(
        std::io::stderr(),
        "capture {}: {n} frame{} from {spot}",
        r.target,
        if n == 1 { "" } else { "s" }
    );
    Ok(Output {
        text: String::new(),
        json: serde_json::json!({"command": "capture", "target": r.target, "at": spot.to_string(), "frames": n, "file": to}),
        code: 0,
    })
}
