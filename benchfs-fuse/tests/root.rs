//! The mount's root: owned by the user who mounts, mode 0755 (or `--root-mode`), and
//! chmod/chown/utimens on the mountpoint take effect.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, UNIX_EPOCH};

use benchfs_testkit::mount::{Backend, TestMount};
use benchfs_testkit::require_fuse;

fn mode(m: &TestMount) -> u32 {
    std::fs::metadata(m.path()).expect("stat mountpoint").mode() & 0o7777
}

#[test]
fn root_belongs_to_the_mounting_user_and_honours_chmod_chown_utimens() {
    require_fuse!();
    let m = TestMount::new(Backend::Embedded, &[]);
    let st = std::fs::metadata(m.path()).expect("stat");
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    let me = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!((st.uid(), st.gid(), mode(&m)), (me.0, me.1, 0o755));

    std::fs::set_permissions(m.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod 1777");
    assert_eq!(mode(&m), 0o1777);
    std::os::unix::fs::chown(m.path(), Some(4321), Some(8765)).expect("chown");
    let st = std::fs::metadata(m.path()).expect("stat");
    assert_eq!((st.uid(), st.gid(), st.mode() & 0o7777), (4321, 8765, 0o1777));
    let t = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let dir = std::fs::File::open(m.path()).expect("open mountpoint");
    dir.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t)).expect("utimens");
    assert_eq!(std::fs::metadata(m.path()).expect("stat").modified().expect("mtime"), t);

    // The root still works as a directory.
    std::fs::write(m.path().join("f"), b"x").expect("write under the root");
    assert_eq!(std::fs::read(m.path().join("f")).expect("read"), b"x");
    assert_eq!(mode(&m), 0o1777);
}

#[test]
fn root_mode_option_sets_the_initial_mode() {
    require_fuse!();
    let m = TestMount::new(Backend::Embedded, &["--root-mode", "700"]);
    assert_eq!(mode(&m), 0o700);
}
