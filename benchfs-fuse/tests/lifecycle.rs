//! The mount's life: SIGTERM/SIGINT unmount and leave nothing in /proc/mounts, the daemon
//! returns only once the mount is live and exits on `fusermount3 -u`/`umount`, a busy mount
//! is detached, and bad mountpoints or clusters give a clear message and a non-zero exit.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use benchfs_testkit::mount::{is_mounted, wait_until, Backend, TestMount};
use benchfs_testkit::{fast_tempdir, process, programs, require, require_fuse};

fn stops_cleanly_on(backend: Backend, sig: i32) {
    let mut m = TestMount::new(backend, &[]);
    std::fs::write(m.path().join("f"), b"data").expect("write");
    let path = m.path().to_path_buf();
    let status = m.stop_with(sig).expect("benchfs-fuse exits after the signal");
    assert!(status.success(), "exit status {status:?}:\n{}", m.log_text());
    assert!(!is_mounted(&path), "{} still in /proc/mounts", path.display());
}

#[test]
fn sigterm_unmounts_embedded() {
    require_fuse!();
    stops_cleanly_on(Backend::Embedded, libc::SIGTERM);
}

#[test]
fn sigterm_unmounts_cluster() {
    require_fuse!();
    stops_cleanly_on(Backend::Cluster, libc::SIGTERM);
}

#[test]
fn sigint_unmounts() {
    require_fuse!();
    stops_cleanly_on(Backend::Embedded, libc::SIGINT);
}

/// Pids of processes whose command line mentions `needle`.
fn pids_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        (cmd.contains("benchfs-fuse") && cmd.contains(&needle)).then_some(pid)
    })
    .collect()
}

fn daemon(mountpoint: &Path, data: &Path) -> Output {
    Command::new(programs::benchfs_fuse())
        .arg(mountpoint)
        .arg("--data-dir")
        .arg(data)
        .env_remove("BENCHFS_SERVERS")
        .env_remove("BENCHFS_REGISTRY")
        .output()
        .expect("run benchfs-fuse")
}

/// Unmounts `mnt` with `cmd` and waits for the daemon serving it to exit.
fn unmount_daemon(mnt: &Path, cmd: &[&str]) {
    let pids = pids_mentioning(mnt);
    assert_eq!(pids.len(), 1, "one daemon serves {}", mnt.display());
    let st = Command::new(cmd[0]).args(&cmd[1..]).arg(mnt).status().expect("run unmount command");
    assert!(st.success(), "{cmd:?} failed");
    assert!(wait_until(20, || pids_mentioning(mnt).is_empty()), "the daemon did not exit after {cmd:?}");
    assert!(!is_mounted(mnt));
}

#[test]
fn daemon_is_mounted_on_return_and_exits_when_unmounted() {
    require_fuse!();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = fast_tempdir();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");

    // Live as soon as the command returns: no polling.
    let out = daemon(&mnt, data.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(is_mounted(&mnt));
    std::fs::write(mnt.join("kept"), b"across mounts").expect("write");
    if require::on_path("fusermount3") {
        unmount_daemon(&mnt, &["fusermount3", "-u"]);
    } else {
        require::skip("fuse", "the `fusermount3 -u` case: fusermount3 is missing (apt-get install fuse3)");
        unmount_daemon(&mnt, &["umount"]);
    }

    // The embedded server's data directory persists; `umount` works as well.
    let out = daemon(&mnt, data.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(mnt.join("kept")).expect("read"), b"across mounts");
    unmount_daemon(&mnt, &["umount"]);
}

#[test]
fn busy_mount_is_detached_on_sigterm() {
    require_fuse!();
    let mut m = TestMount::new(Backend::Embedded, &[]);
    let mut holder = Command::new("sleep").arg("60").current_dir(m.path()).spawn().expect("spawn sleep");
    process::signal(m.pid(), libc::SIGTERM);
    assert!(wait_until(10, || !is_mounted(m.path())), "busy mount not detached");
    assert!(m.exited().is_none(), "must keep serving the detached mount while it is in use");
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(wait_until(10, || m.exited().is_some()), "did not exit once the mount was released");
    assert!(m.exited().is_some_and(|s| s.success()), "{}", m.log_text());
}

/// Runs benchfs-fuse expecting failure; returns its stderr.
fn fails(args: &[&str], mountpoint: &Path) -> String {
    let out = Command::new(programs::benchfs_fuse())
        .arg(mountpoint)
        .args(args)
        .env_remove("BENCHFS_SERVERS")
        .env_remove("BENCHFS_REGISTRY")
        .stdin(Stdio::null())
        .output()
        .expect("run benchfs-fuse");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?} on {}: {err}", mountpoint.display());
    assert!(!is_mounted(mountpoint), "{err}");
    err
}

#[test]
fn clear_errors_and_nonzero_exit() {
    require_fuse!();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let data = data.to_str().expect("utf-8");

    let missing = tmp.path().join("missing");
    assert!(fails(&["--data-dir", data], &missing).contains("does not exist"));

    let file = tmp.path().join("file");
    std::fs::write(&file, b"").expect("write");
    assert!(fails(&["--data-dir", data], &file).contains("not a directory"));

    let dir = tmp.path().join("mnt");
    std::fs::create_dir(&dir).expect("mkdir");
    // Unreachable cluster, in the foreground and as a daemon: one message each.
    let err = fails(&["--servers", "127.0.0.1:1", "-f"], &dir);
    assert!(err.contains("cannot reach the cluster"), "{err}");
    let err = fails(&["--servers", "127.0.0.1:1"], &dir);
    assert_eq!(err.matches("cannot reach the cluster").count(), 1, "{err}");
    assert!(fails(&["--servers", "127.0.0.1:1", "--data-dir", data], &dir).contains("--data-dir"));

    // Something already mounted there.
    let m = TestMount::new(Backend::Embedded, &[]);
    let out = Command::new(programs::benchfs_fuse()).arg(m.path()).arg("--data-dir").arg(data).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("busy"), "{}", String::from_utf8_lossy(&out.stderr));
    drop(m);

    // A stale mount: its daemon was killed.
    let mut m = TestMount::new(Backend::Embedded, &[]);
    m.stop_with(libc::SIGKILL);
    assert!(is_mounted(m.path()), "SIGKILL leaves the mount behind");
    let out = Command::new(programs::benchfs_fuse()).arg(m.path()).arg("--data-dir").arg(data).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stale"), "{}", String::from_utf8_lossy(&out.stderr));
    drop(m); // lazily unmounts the stale mount

    // No /dev/fuse (a private /dev in a mount namespace), where unshare(1) is available.
    if Command::new("unshare").arg("--version").output().is_ok() {
        let script = format!(
            "mount -t tmpfs none /dev && exec {} {} --data-dir {data}",
            programs::benchfs_fuse().display(),
            dir.display()
        );
        let out = Command::new("unshare").args(["--mount", "sh", "-c", &script]).output().expect("run unshare");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("/dev/fuse"), "{err}");
    } else {
        require::skip("unshare", "the no-/dev/fuse case: unshare(1) is not installed");
    }
}

#[test]
fn allow_other_with_kernel_permission_checks() {
    require_fuse!();
    if Command::new("setpriv").arg("--version").output().is_err() {
        require::skip("setpriv", "setpriv(1) is not installed");
        return;
    }
    let m = TestMount::new(Backend::Embedded, &["--allow-other"]);
    std::fs::write(m.path().join("root-file"), b"root data").expect("write");
    std::fs::create_dir(m.path().join("shared")).expect("mkdir");
    let mut perms = std::fs::metadata(m.path().join("shared")).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o777);
    std::fs::set_permissions(m.path().join("shared"), perms).expect("chmod");
    // As nobody: reading a 0644 file works, writing it is refused by the kernel, and a file
    // it creates belongs to it.
    let script =
        "cat root-file && ! (echo x >> root-file) 2>/dev/null && echo mine > shared/own && stat -c %u shared/own";
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script])
        .current_dir(m.path())
        .output()
        .expect("run setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "root data65534\n");
}
