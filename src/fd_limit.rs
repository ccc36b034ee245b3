//! The process's open-file limit (RLIMIT_NOFILE). Every connection is a descriptor, on
//! the server (one per client process and per peer) and on the client (one per server
//! it talks to), so a job of a few hundred nodes outgrows the usual soft limit of 1024
//! long before memory. The soft limit is raised to the hard limit once at start; what
//! is still too low is reported with the limit and what to change.

use std::io;
use std::sync::OnceLock;

/// The soft and hard limits, as `getrlimit` reports them (`u64::MAX`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    pub soft: u64,
    pub hard: u64,
}

fn get() -> io::Result<libc::rlimit> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `r` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// The current limits.
pub fn current() -> io::Result<FdLimit> {
    get().map(|r| FdLimit { soft: r.rlim_cur, hard: r.rlim_max })
}

/// Raises the soft limit to the hard one and returns the limits now in force. An
/// unlimited hard limit is capped at the kernel's `fs.nr_open`, which setrlimit requires.
pub fn raise() -> io::Result<FdLimit> {
    let mut r = get()?;
    let mut want = r.rlim_max;
    if want == libc::RLIM_INFINITY {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse().ok());
        want = nr_open.unwrap_or(1 << 20);
    }
    if r.rlim_cur < want {
        r.rlim_cur = want;
        // SAFETY: `r` is a valid rlimit whose soft value does not exceed its hard value.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    current()
}

/// [`raise`] once per process (clients call it when they build their first transport);
/// `None` if the limits could not be read or changed.
pub fn raise_once() -> Option<FdLimit> {
    static RAISED: OnceLock<Option<FdLimit>> = OnceLock::new();
    *RAISED.get_or_init(|| match raise() {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            current().ok()
        }
    })
}

/// For an error of running out of descriptors (EMFILE, ENFILE): the same error, with the
/// limit and the remedy in its message; any other error unchanged.
pub fn explain(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EMFILE) => {
            let limit = current().map_or_else(|_| "unknown".to_string(), |l| format!("{} (hard {})", l.soft, l.hard));
            io::Error::new(
                e.kind(),
                format!(
                    "{e}: this process's open-file limit is {limit}; each server connection takes one \
                     descriptor: raise the hard limit (ulimit -Hn, limits.conf, the batch system) or use \
                     fewer connections"
                ),
            )
        }
        Some(libc::ENFILE) => {
            io::Error::new(e.kind(), format!("{e}: the system-wide file table is full (sysctl fs.file-max)"))
        }
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_reaches_the_hard_limit() {
        let l = raise().unwrap();
        assert!(l.soft == l.hard || l.hard == libc::RLIM_INFINITY, "{l:?}");
        assert_eq!(raise_once().map(|l| l.soft), Some(l.soft));
    }

    #[test]
    fn out_of_descriptors_names_the_limit() {
        let e = explain(io::Error::from_raw_os_error(libc::EMFILE)).to_string();
        assert!(e.contains("open-file limit is") && e.contains("ulimit -Hn"), "{e}");
        let other = explain(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert_eq!(other.raw_os_error(), Some(libc::ECONNREFUSED));
    }
}
