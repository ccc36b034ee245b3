//! POSIX rules that another user's calls through an `--allow-other` mount must meet, as on
//! a local file system: what is created in a setgid directory gets its group (and a new
//! directory its setgid bit); an unlinked file still open reports `st_nlink` 0 and keeps
//! its data until closed; a directory's ctime as reported does not move when nothing
//! changed it (a failed rename or unlink in it).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use benchfs_testkit::{fast_tempdir, mount::Backend, mount::TestMount, require, require_fuse};

/// Runs `sh -c script` as uid 65534, gid 65533, with "$1" the directory given.
fn as_nobody(dir: &Path, script: &str) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65533", "--clear-groups", "sh", "-c", script, "sh"])
        .arg(dir)
        .output()
        .expect("setpriv");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

fn owner(p: &Path) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

#[test]
fn what_another_user_creates_is_theirs_or_the_setgid_directory_s_group() {
    require_fuse!();
    if !require::on_path("setpriv") {
        require::skip("setpriv", "setpriv(1) is not installed");
        return;
    }
    let m = TestMount::new(Backend::Cluster, &["--allow-other"]);
    let reference = fast_tempdir();
    for root in [m.path(), reference.path()] {
        for dir in [root.parent().unwrap(), root] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let (plain, sg) = (root.join("plain"), root.join("sg"));
        for d in [&plain, &sg] {
            std::fs::create_dir(d).unwrap();
            std::os::unix::fs::chown(d, Some(0), Some(1234)).unwrap();
        }
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::set_permissions(&sg, std::fs::Permissions::from_mode(0o2777)).unwrap();
        for d in [&plain, &sg] {
            as_nobody(d, "umask 022 && : > \"$1/f\" && mkdir \"$1/d\" && mkfifo \"$1/p\" && ln -s f \"$1/l\"");
        }
    }
    for rel in ["plain/f", "plain/d", "plain/p", "plain/l", "sg/f", "sg/d", "sg/p", "sg/l"] {
        let (got, want) = (owner(&m.path().join(rel)), owner(&reference.path().join(rel)));
        assert_eq!(got, want, "{rel}: (uid, gid, mode) on the mount, on tmpfs");
    }
    assert_eq!(owner(&m.path().join("sg/d")), (65534, 1234, 0o2755));
    assert_eq!(owner(&m.path().join("plain/f")), (65534, 65533, 0o644));
}

#[test]
fn an_unlinked_open_file_has_no_links_and_keeps_its_data() {
    require_fuse!();
    let m = TestMount::new(Backend::Cluster, &[]);
    let p = m.path().join("u");
    std::fs::write(&p, b"hello").unwrap();
    let f = std::fs::File::open(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    assert_eq!(f.metadata().unwrap().nlink(), 0, "fstat of an unlinked open file");
    let mut buf = [0u8; 5];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"hello");
    assert!(std::fs::read_dir(m.path()).unwrap().next().is_none(), "the name is gone");
}

#[test]
fn a_directory_s_ctime_stays_put_when_nothing_changes_it() {
    require_fuse!();
    let m = TestMount::new(Backend::Cluster, &[]);
    let (d, f) = (m.path().join("d"), m.path().join("f"));
    std::fs::create_dir(&d).unwrap();
    std::fs::create_dir(d.join("x")).unwrap();
    std::fs::write(&f, b"").unwrap();
    let ctime = |p: &Path| {
        let m = std::fs::symlink_metadata(p).unwrap();
        (m.ctime(), m.ctime_nsec())
    };
    let before = ctime(&d);
    // Past the attribute timeout: what the kernel shows now comes from the mount.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let e = std::fs::rename(&f, &d).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EISDIR), "{e}");
    let e = std::fs::remove_file(&d).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EISDIR), "{e}");
    assert_eq!(ctime(&d), before, "the ctime of {} moved, yet nothing in it changed", d.display());
}

#[test]
fn a_directory_counts_its_subdirectories_in_its_link_count() {
    require_fuse!();
    let m = TestMount::new(Backend::Cluster, &[]);
    let (d, e) = (m.path().join("d"), m.path().join("e"));
    for p in ["d", "e", "d/a", "d/b", "d/c", "d/c2", "d/a/deep"] {
        std::fs::create_dir(m.path().join(p)).unwrap();
    }
    std::fs::write(d.join("file"), b"not counted").unwrap();
    std::fs::remove_dir(d.join("c")).unwrap();
    std::fs::rename(d.join("b"), e.join("b")).unwrap();
    std::fs::rename(d.join("c2"), d.join("c3")).unwrap();
    // Past the attribute timeout: the counts come from the directories' owners.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let nlink = |p: &Path| std::fs::symlink_metadata(p).unwrap().nlink();
    assert_eq!((nlink(&d), nlink(&e), nlink(&d.join("a")), nlink(&e.join("b"))), (4, 3, 3, 2));
}

/// (mtime, ctime, nlink) of `p` as `stat` reports it.
fn times_and_links(p: &Path) -> ((i64, i64), (i64, i64), u64) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    ((m.mtime(), m.mtime_nsec()), (m.ctime(), m.ctime_nsec()), m.nlink())
}

#[test]
fn a_directory_shows_an_unlink_rmdir_or_rename_in_it_at_once() {
    // As a local file system does (the suite's unlink, rmdir and rename cases stat the
    // parent right after the call): its mtime and ctime move, and its link count follows
    // the subdirectories that left or arrived, though the owner hears of it in a batch.
    require_fuse!();
    let m = TestMount::new(Backend::Cluster, &[]);
    let (a, b) = (m.path().join("a"), m.path().join("b"));
    for p in ["a", "b", "a/sub", "a/gone", "a/moved", "b/replaced"] {
        std::fs::create_dir(m.path().join(p)).unwrap();
    }
    std::fs::write(a.join("f"), b"").unwrap();
    std::fs::write(a.join("g"), b"").unwrap();
    // What is done, and how many subdirectories a and b gain by it.
    type Change<'a> = (&'a str, &'a dyn Fn(), [i64; 2]);
    let changes: [Change; 5] = [
        ("unlink a/f", &|| std::fs::remove_file(a.join("f")).unwrap(), [0, 0]),
        ("rmdir a/gone", &|| std::fs::remove_dir(a.join("gone")).unwrap(), [-1, 0]),
        ("rename a/g b/g", &|| std::fs::rename(a.join("g"), b.join("g")).unwrap(), [0, 0]),
        ("rename a/sub b/sub", &|| std::fs::rename(a.join("sub"), b.join("sub")).unwrap(), [-1, 1]),
        ("rename a/moved over b/replaced", &|| std::fs::rename(a.join("moved"), b.join("replaced")).unwrap(), [-1, 0]),
    ];
    for (what, change, links) in changes {
        let before = [times_and_links(&a), times_and_links(&b)];
        // Past the clock's granularity, so that a new time differs from the old one.
        std::thread::sleep(std::time::Duration::from_millis(20));
        change();
        let after = [times_and_links(&a), times_and_links(&b)];
        let touched: &[usize] = if what.starts_with("rename") { &[0, 1] } else { &[0] };
        for &i in touched {
            let dir = ["a", "b"][i];
            assert!(after[i].0 > before[i].0, "{what}: the mtime of {dir} did not move: {:?}", after[i]);
            assert!(after[i].1 > before[i].1, "{what}: the ctime of {dir} did not move: {:?}", after[i]);
        }
        for i in 0..2 {
            let want = before[i].2.checked_add_signed(links[i]).unwrap();
            assert_eq!(after[i].2, want, "{what}: st_nlink of {}", ["a", "b"][i]);
        }
    }
}

#[test]
fn posix_fallocate_grows_the_file_and_moves_its_times_at_once() {
    // As tmpfs does (the suite's posix_fallocate case): the file's ctime and mtime move
    // with the call, not at the next close, and the bytes it added read as zeros.
    require_fuse!();
    use std::os::fd::AsRawFd;
    let m = TestMount::new(Backend::Cluster, &[]);
    let p = m.path().join("f");
    std::fs::write(&p, b"abc").unwrap();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&p).unwrap();
    for (offset, len, size) in [(0, 123, 123), (10, 2, 123), (4096, 5000, 9096)] {
        let before = times_and_links(&p);
        std::thread::sleep(std::time::Duration::from_millis(20));
        // SAFETY: a valid descriptor; no memory is passed.
        let r = unsafe { libc::posix_fallocate(f.as_raw_fd(), offset, len) };
        assert_eq!(r, 0, "posix_fallocate({offset}, {len}): {}", std::io::Error::from_raw_os_error(r));
        let after = f.metadata().unwrap();
        assert_eq!(after.len(), size, "posix_fallocate({offset}, {len}): size");
        assert!((after.ctime(), after.ctime_nsec()) > before.1, "posix_fallocate({offset}, {len}): ctime");
        assert!((after.mtime(), after.mtime_nsec()) > before.0, "posix_fallocate({offset}, {len}): mtime");
    }
    drop(f);
    let data = std::fs::read(&p).unwrap();
    assert_eq!(data.len(), 9096);
    assert_eq!(&data[..3], b"abc");
    assert!(data[3..].iter().all(|&b| b == 0), "the added bytes read as zeros");
}

/// Runs `f` in a child process as uid 65534, gid 65533 (no supplementary groups) and
/// returns what it returned: 0, or the errno of the call that failed. `f` runs after
/// fork(2) in a process that had threads: it may only make system calls (no allocation).
fn in_child_as_nobody(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child makes only async-signal-safe calls and leaves with _exit.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let ok = libc::setgroups(0, std::ptr::null()) == 0
                && libc::setresgid(65533, 65533, 65533) == 0
                && libc::setresuid(65534, 65534, 65534) == 0;
            libc::_exit(if ok { f() } else { 255 });
        }
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        assert!(libc::WIFEXITED(status), "the child did not exit: {status:#x}");
        libc::WEXITSTATUS(status)
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(254)
}

fn cpath(p: &Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

/// rename(2) as the unprivileged user: 0 or its errno.
fn rename_as_nobody(from: &Path, to: &Path) -> i32 {
    let (from, to) = (cpath(from), cpath(to));
    // SAFETY: both strings outlive the child's call.
    in_child_as_nobody(|| if unsafe { libc::rename(from.as_ptr(), to.as_ptr()) } == 0 { 0 } else { errno() })
}

#[test]
fn owner_rules_the_kernel_and_the_mount_share_are_those_of_tmpfs() {
    // Moving a directory to another parent needs write permission on it (its `..`
    // changes) and moves its ctime; chmod by an owner outside the file's group drops
    // setgid; a descriptor opened with O_CREAT and a read-only mode may truncate and
    // write (permission is checked at open, not per request on the descriptor).
    require_fuse!();
    let m = TestMount::new(Backend::Cluster, &["--allow-other"]);
    let reference = fast_tempdir();
    let mut seen = Vec::new();
    for root in [reference.path(), m.path()] {
        for dir in [root.parent().unwrap(), root] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        for d in ["from", "to", "from/d", "from/e"] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        for d in ["from", "to"] {
            std::fs::set_permissions(root.join(d), std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        // d and e are root's, 0755: the unprivileged user may not write in them.
        let away = rename_as_nobody(&root.join("from/d"), &root.join("to/d"));
        let beside = rename_as_nobody(&root.join("from/e"), &root.join("from/e2"));
        std::fs::set_permissions(root.join("from/d"), std::fs::Permissions::from_mode(0o777)).unwrap();
        let before = times_and_links(&root.join("from/d")).1;
        std::thread::sleep(std::time::Duration::from_millis(20));
        let writable = rename_as_nobody(&root.join("from/d"), &root.join("to/d"));
        let ctime_moved = times_and_links(&root.join("to/d")).1 > before;

        let sg = root.join("sg");
        std::fs::write(&sg, b"").unwrap();
        std::os::unix::fs::chown(&sg, Some(65534), Some(1234)).unwrap();
        let c = cpath(&sg);
        // SAFETY: `c` outlives the child's call.
        let chmod = in_child_as_nobody(|| if unsafe { libc::chmod(c.as_ptr(), 0o2755) } == 0 { 0 } else { errno() });
        let sg_mode = owner(&sg).2;

        let ro = root.join("from/ro");
        let c = cpath(&ro);
        let written = in_child_as_nobody(|| unsafe {
            // SAFETY: `c` outlives the call; the buffer is static.
            let fd = libc::open(c.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o444);
            if fd < 0 {
                return 100;
            }
            if libc::ftruncate(fd, 10) != 0 {
                return 101;
            }
            if libc::write(fd, b"hi".as_ptr().cast(), 2) != 2 {
                return 102;
            }
            if libc::close(fd) != 0 {
                return 103;
            }
            0
        });
        let content = std::fs::read(&ro).unwrap();
        seen.push((away, beside, writable, ctime_moved, chmod, sg_mode, written, owner(&ro), content));
    }
    assert_eq!(seen[1], seen[0], "on the mount (left) and on tmpfs (right)");
    let want = (libc::EACCES, 0, 0, true, 0, 0o755, 0, (65534, 65533, 0o444), b"hi\0\0\0\0\0\0\0\0".to_vec());
    assert_eq!(seen[0], want, "tmpfs");
}
