//! SIOCETHTOOL on a socket opened inside a namespace: transmit checksum
//! offload on/off (`ethtool -K DEV tx on|off`) and reading the offload
//! settings (`ethtool -k DEV`), one implementation for the backends and the
//! benchmark.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::netns;
use crate::effect::{NlError, words};
use crate::model::names::NsName;

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GTXCSUM: u32 = 0x16;
const ETHTOOL_STXCSUM: u32 = 0x17;
const ETHTOOL_GTSO: u32 = 0x1e;
const ETHTOOL_GGSO: u32 = 0x23;

/// One `struct ethtool_value` command on interface `dev` of the calling
/// thread's namespace; returns the value the kernel wrote back.
fn ethtool_value(dev: &str, cmd: u32, data: u32) -> io::Result<u32> {
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq whose name is
    // NUL-terminated (≤ 15 bytes, checked) and whose data pointer outlives
    // the call.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mut ev = EthtoolValue { cmd, data };
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in dev.bytes().take(15).enumerate() {
            ifr.ifr_name[i] = b as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = &mut ev as *mut EthtoolValue as *mut libc::c_char;
        if libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL as _, &mut ifr) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ev.data)
    }
}

/// `ethtool -K DEV tx on|off` (ETHTOOL_STXCSUM), inside namespace `ns`.
pub fn set_tx_csum(ns: Option<&NsName>, dev: &str, on: bool) -> Result<(), NlError> {
    let name = dev.to_string();
    let res = netns::run_in(ns, move || ethtool_value(&name, ETHTOOL_STXCSUM, on as u32))?;
    res.map(|_| ()).map_err(|e| {
        let op = format!(
            "ethtool -K {dev} tx {}{}",
            if on { "on" } else { "off" },
            ns.map(|n| format!(" (in {n})")).unwrap_or_default()
        );
        let errno = e.raw_os_error().unwrap_or(0);
        NlError::Request {
            words: words(errno, &op),
            op,
            errno,
        }
    })
}

/// The offload settings of an interface (`ethtool -k DEV`): transmit
/// checksumming, TSO, GSO (ETHTOOL_GTXCSUM, GTSO, GGSO); None where the
/// driver does not say.
pub fn offloads(ns: &NsName, dev: &str) -> (Option<bool>, Option<bool>, Option<bool>) {
    let dev = dev.to_string();
    let r = netns::run_in(Some(ns), move || {
        let get = |cmd: u32| ethtool_value(&dev, cmd, 0).ok().map(|v| v != 0);
        (get(ETHTOOL_GTXCSUM), get(ETHTOOL_GTSO), get(ETHTOOL_GGSO))
    });
    r.unwrap_or((None, None, None))
}
