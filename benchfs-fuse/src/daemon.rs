//! Going to the background only once the mount is live.
//!
//! [`daemonize`] forks while the process still has a single thread (before the runtime and
//! the FUSE session exist). The parent then waits on a pipe: the child writes `ok` once the
//! mount is up (the parent exits 0, so a script can use the mountpoint as soon as the
//! command returns) or the error message (the parent prints it and exits 1). A child that
//! dies before reporting closes the pipe, which the parent reports too.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The child's end of the readiness pipe.
pub struct Ready {
    pipe: File,
}

/// Forks. Returns in the child (now a session leader in `/`); never returns in the parent.
///
/// Must be called before any thread is started.
///
/// # Errors
/// When the pipe or the fork cannot be made (the process is still in the foreground).
pub fn daemonize() -> io::Result<Ready> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors that nothing else owns.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the caller guarantees the process is single-threaded, so the child may run
    // arbitrary code after fork.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(rd);
            // SAFETY: plain system calls on no memory of ours.
            unsafe {
                libc::setsid();
                libc::umask(0o022);
            }
            // Do not keep the directory we were started in busy.
            let _ = std::env::set_current_dir("/");
            Ok(Ready { pipe: File::from(wr) })
        }
        _ => {
            drop(wr);
            std::process::exit(wait_for_child(File::from(rd)))
        }
    }
}

fn wait_for_child(mut pipe: File) -> i32 {
    let mut msg = String::new();
    let _ = pipe.read_to_string(&mut msg);
    match msg.strip_prefix("ok") {
        Some(_) => 0,
        None if msg.is_empty() => {
            eprintln!("benchfs-fuse: the background process exited before the mount was up");
            1
        }
        None => {
            eprintln!("benchfs-fuse: {}", msg.trim_end());
            1
        }
    }
}

impl Ready {
    /// Tells the waiting parent how the mount went. On success the child's standard input
    /// and output (and error, unless `keep_stderr`) are pointed at /dev/null first, so
    /// a caller that captures the command's output is not kept waiting by the daemon.
    pub fn report(mut self, result: Result<(), &str>, keep_stderr: bool) {
        let msg = match result {
            Ok(()) => {
                detach_stdio(keep_stderr);
                "ok".to_string()
            }
            Err(e) => e.to_string(),
        };
        let _ = self.pipe.write_all(msg.as_bytes());
    }
}

fn detach_stdio(keep_stderr: bool) {
    let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") else { return };
    let targets: &[i32] = if keep_stderr { &[0, 1] } else { &[0, 1, 2] };
    for &fd in targets {
        // SAFETY: dup2 onto a standard descriptor from an open one; no memory involved.
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
}
