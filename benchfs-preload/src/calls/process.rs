//! fork, exec and spawn. Served descriptors survive neither as such: another process
//! image has no interposer state, and a forked child does not share the parent's offset
//! unless both use the kernel's open file. So before a fork or spawn every served
//! descriptor is handed to the kernel mount, before an exec those that survive it (the
//! others are published: close-to-open), and a forked child starts with fresh clients.

use std::ffi::{c_char, c_int, c_void};

use crate::entry::{self, Outcome};
use crate::{fds, real, state};

/// `all`: every descriptor (fork, spawn, whose child may also be an exec); else those
/// without close-on-exec.
fn hand_over(name: &str, all: bool) {
    let _ = entry::run(
        name,
        || {
            fds::hand_over(all);
            state::tell_kernel_all();
            Outcome::Pass
        },
        || 0,
    );
}

/// pthread_atfork's prepare handler: no interposer lock may be held across the fork.
pub extern "C" fn before_fork() {
    hand_over("fork", true);
    state::lock_for_fork();
    fds::lock_for_fork();
    super::dirs::lock_for_fork();
}

pub extern "C" fn after_fork_in_parent() {
    super::dirs::unlock_after_fork();
    fds::unlock_after_fork();
    state::unlock_in_parent();
}

pub extern "C" fn after_fork_in_child() {
    super::dirs::unlock_after_fork();
    fds::unlock_after_fork();
    state::reset_in_child();
}

/// vfork(2) is fork(2) here (as POSIX allows): a vfork child shares the parent's memory,
/// so handing its descriptors to the kernel before its exec would change the parent's
/// table under it, while a fork hands them over in the parent first (the fork handlers),
/// where the child's writes then share the parent's offset. Shells vfork for every command.
///
/// # Safety
/// As fork(2) (the vfork contract is stricter, so every vfork caller is served).
#[no_mangle]
pub unsafe extern "C" fn vfork() -> libc::pid_t {
    // SAFETY: as fork(2).
    unsafe { libc::fork() }
}

/// glibc's other name of vfork.
///
/// # Safety
/// As [`vfork`].
#[no_mangle]
pub unsafe extern "C" fn __vfork() -> libc::pid_t {
    // SAFETY: as fork(2).
    unsafe { libc::fork() }
}

/// # Safety
/// As execve(2).
#[no_mangle]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    hand_over("execve", false);
    // SAFETY: as execve(2).
    unsafe { real::execve(path, argv, envp) }
}

/// # Safety
/// As execv(3).
#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    hand_over("execv", false);
    // SAFETY: as execv(3).
    unsafe { real::execv(path, argv) }
}

/// # Safety
/// As execvp(3).
#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    hand_over("execvp", false);
    // SAFETY: as execvp(3).
    unsafe { real::execvp(file, argv) }
}

/// # Safety
/// As execvpe(3).
#[no_mangle]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    hand_over("execvpe", false);
    // SAFETY: as execvpe(3).
    unsafe { real::execvpe(file, argv, envp) }
}

/// # Safety
/// As fexecve(3).
#[no_mangle]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    hand_over("fexecve", false);
    // SAFETY: as fexecve(3).
    unsafe { real::fexecve(fd, argv, envp) }
}

/// # Safety
/// As posix_spawn(3).
#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    acts: *const c_void,
    attr: *const c_void,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    hand_over("posix_spawn", true);
    // SAFETY: as posix_spawn(3).
    unsafe { real::posix_spawn(pid, path, acts, attr, argv, envp) }
}

/// # Safety
/// As posix_spawnp(3).
#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    acts: *const c_void,
    attr: *const c_void,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    hand_over("posix_spawnp", true);
    // SAFETY: as posix_spawnp(3).
    unsafe { real::posix_spawnp(pid, file, acts, attr, argv, envp) }
}

/// # Safety
/// As system(3).
#[no_mangle]
pub unsafe extern "C" fn system(cmd: *const c_char) -> c_int {
    hand_over("system", true);
    // SAFETY: as system(3).
    unsafe { real::system(cmd) }
}

/// # Safety
/// As popen(3).
#[no_mangle]
pub unsafe extern "C" fn popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    hand_over("popen", true);
    // SAFETY: as popen(3).
    unsafe { real::popen(cmd, mode) }
}
