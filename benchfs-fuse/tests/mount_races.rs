//! Regressions of issue 21's races on mounts of a 3-server cluster (cases 2, 3, 5 and 9):
//! hidden names of unlinked open files that leaked when unlink raced close, reads of zeros
//! when create, unlink and read raced on one mount, O_APPEND writes placed by a size the
//! kernel had from a stale source (an old readdirplus snapshot, a stat before another
//! mount's append, an open racing a truncate), and explicit times lost to the close's
//! publication of earlier writes.
//!
//! The races run bounded in count (and give up after a time cap); each case's result is
//! checked through the mount after the attribute timeout and through a plain client.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use benchfs::{Client, Config};
use benchfs_testkit::{mount::TestMount, pattern, require_fuse, Cluster};

/// Past the mount's default attribute timeout (1 s): the kernel asks again.
const PAST_ATTR_TIMEOUT: Duration = Duration::from_millis(1500);
/// No race below runs longer than this, however slow the machine.
const RACE_CAP: Duration = Duration::from_secs(20);

/// A 3-server cluster, mounts of it, and a client of it (what the CLI sees).
struct Setup {
    mounts: Vec<TestMount>,
    rt: tokio::runtime::Runtime,
    client: Client,
    _cluster: Cluster,
}

fn setup(mounts: usize) -> Setup {
    let cluster = Cluster::start(3);
    let mounts = (0..mounts).map(|_| TestMount::on_servers(&cluster.addrs())).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = rt.block_on(Client::connect(Config::new(cluster.addrs().clone()).unwrap())).expect("connect");
    Setup { mounts, rt, client, _cluster: cluster }
}

impl Setup {
    fn mount(&self, i: usize) -> &Path {
        self.mounts[i].path()
    }

    /// The file at `path` (relative to the mounts' root) as a client reads it.
    fn client_read(&self, path: &str) -> Vec<u8> {
        self.rt.block_on(async {
            let f = self
                .client
                .open(path, &benchfs::OpenOptions::from_flags(libc::O_RDONLY, 0))
                .await
                .expect("client open");
            f.read_owned(0, 1 << 20).await.expect("client read")
        })
    }

    fn client_mtime(&self, path: &str) -> i64 {
        self.rt.block_on(self.client.stat(path)).expect("client stat").mtime.0
    }

    fn client_names(&self, dir: &str) -> Vec<String> {
        let entries = self.rt.block_on(self.client.readdir(dir)).expect("client readdir");
        entries.into_iter().map(|e| e.name).collect()
    }
}

/// Runs `op(thread, i)` for i in 0..count on each of `threads` threads at once.
fn race(threads: usize, count: usize, op: impl Fn(usize, usize) + Sync) {
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let op = &op;
            s.spawn(move || {
                for i in 0..count {
                    if t0.elapsed() > RACE_CAP {
                        break;
                    }
                    op(t, i);
                }
            });
        }
    });
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open for append");
    f.write_all(bytes).expect("append");
}

#[test]
fn unlink_racing_close_leaves_no_hidden_file() {
    require_fuse!();
    let s = setup(1);
    let dir = s.mount(0).join("leak");
    std::fs::create_dir(&dir).unwrap();
    let f = dir.join("f");
    // The writer is another process (a shell's redirections: open, write, close, no fork),
    // as in the reported case; this process unlinks until it is done.
    let mut writer = std::process::Command::new("bash")
        .arg("-c")
        .arg("for i in $(seq 3000); do echo data > \"$1\" 2>/dev/null; done")
        .arg("bash")
        .arg(&f)
        .spawn()
        .expect("run bash");
    let t0 = Instant::now();
    while writer.try_wait().expect("wait for bash").is_none() && t0.elapsed() < RACE_CAP {
        let _ = std::fs::remove_file(&f);
    }
    let _ = writer.kill();
    let _ = writer.wait();
    let _ = std::fs::remove_file(&f);
    // close(2) returns before the kernel's RELEASE arrives: give the last ones a moment.
    std::thread::sleep(PAST_ATTR_TIMEOUT);
    let listed: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(listed.is_empty(), "listed: {listed:?}");
    let left = s.client_names("/leak");
    assert!(
        left.is_empty(),
        "{} names left on the servers (hidden files of closed descriptors), e.g. {:?}",
        left.len(),
        &left[..left.len().min(3)]
    );
    std::fs::remove_dir(&dir).expect("rmdir of the emptied directory");
}

#[test]
fn create_unlink_read_on_one_mount_never_reads_zeros() {
    require_fuse!();
    let s = setup(1);
    let dir = s.mount(0).join("zeros");
    std::fs::create_dir(&dir).unwrap();
    let bad = std::sync::Mutex::new(Vec::new());
    let reads = std::sync::atomic::AtomicUsize::new(0);
    race(6, 1500, |t, i| {
        // A fixed pseudo-random walk per thread over 10 names and 3 operations.
        let x = (t * 7919 + i * 104_729) ^ (i >> 3);
        let p = dir.join(format!("n{}", x % 10));
        match (x / 10) % 3 {
            0 => {
                let o = std::fs::OpenOptions::new().write(true).create_new(true).open(&p);
                if let Ok(mut h) = o {
                    let _ = h.write_all(format!("{t}:{i}").as_bytes());
                }
            }
            1 => drop(std::fs::remove_file(&p)),
            _ => {
                if let Ok(got) = std::fs::read(&p) {
                    reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if !got.is_empty() && !got.contains(&b':') {
                        bad.lock().unwrap().push(got);
                    }
                }
            }
        }
    });
    let bad = bad.into_inner().unwrap();
    let reads = reads.into_inner();
    assert!(reads > 100, "only {reads} reads found a file: the race did not run");
    assert!(
        bad.is_empty(),
        "{} of {reads} reads returned bytes nobody wrote: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

#[test]
fn appends_and_truncating_rewrites_on_one_mount_leave_no_hole() {
    require_fuse!();
    let s = setup(1);
    let f = s.mount(0).join("log");
    std::fs::write(&f, b"").unwrap();
    race(5, 400, |t, i| {
        if t < 4 {
            append(&f, format!("<{t}:{i}>\n").as_bytes());
        } else if i % 8 == 0 {
            let mut h = std::fs::OpenOptions::new().write(true).truncate(true).open(&f).expect("open O_TRUNC");
            h.write_all(format!("<T:{i}>\n").as_bytes()).expect("rewrite");
        }
    });
    std::thread::sleep(PAST_ATTR_TIMEOUT);
    for (who, data) in [("mount", std::fs::read(&f).unwrap()), ("client", s.client_read("/log"))] {
        let zeros = data.iter().filter(|&&b| b == 0).count();
        let start = String::from_utf8_lossy(&data[..data.len().min(200)]).into_owned();
        assert_eq!(zeros, 0, "{who}: {zeros} zero bytes between records in {} bytes starting {start:?}", data.len());
        assert!(data.ends_with(b">\n"), "{who}: {:?}", String::from_utf8_lossy(&data));
    }
}

/// Re-reads the directory open as `fd` from the start (rewinddir on a duplicate), as
/// `os.listdir(fd)` does: the kernel reads the old handle's snapshot again.
fn reread_dir(fd: &std::fs::File) -> usize {
    use std::os::fd::AsRawFd;
    // SAFETY: dup of a descriptor we own; fdopendir takes the duplicate and closedir
    // closes it; readdir's entries are not kept past the loop.
    unsafe {
        let dup = libc::dup(fd.as_raw_fd());
        assert!(dup >= 0, "dup");
        let d = libc::fdopendir(dup);
        assert!(!d.is_null(), "fdopendir");
        libc::rewinddir(d);
        let mut n = 0;
        while !libc::readdir(d).is_null() {
            n += 1;
        }
        libc::closedir(d);
        n
    }
}

#[test]
fn an_old_directory_handle_does_not_roll_back_a_size() {
    require_fuse!();
    let s = setup(2);
    let (a, b) = (s.mount(0), s.mount(1));
    std::fs::create_dir(a.join("d")).unwrap();
    std::fs::write(a.join("d/f"), b"original\n").unwrap();
    std::thread::sleep(PAST_ATTR_TIMEOUT);
    let dfd = std::fs::File::open(b.join("d")).expect("open the directory on B");
    append(&a.join("d/f"), b"A-appended\n");
    std::thread::sleep(PAST_ATTR_TIMEOUT * 2);
    assert_eq!(std::fs::metadata(b.join("d/f")).unwrap().len(), 20);
    assert!(reread_dir(&dfd) >= 3);
    assert_eq!(std::fs::metadata(b.join("d/f")).unwrap().len(), 20, "B's size after re-reading the old handle");
    append(&b.join("d/f"), b"B-appended\n");
    std::thread::sleep(PAST_ATTR_TIMEOUT);
    let want = b"original\nA-appended\nB-appended\n";
    assert_eq!(String::from_utf8_lossy(&std::fs::read(a.join("d/f")).unwrap()), String::from_utf8_lossy(want));
    assert_eq!(String::from_utf8_lossy(&s.client_read("/d/f")), String::from_utf8_lossy(want));
}

#[test]
fn append_after_a_stat_lands_after_another_mounts_append() {
    require_fuse!();
    let s = setup(2);
    let (a, b) = (s.mount(0), s.mount(1));
    std::fs::write(a.join("f"), b"original\n").unwrap();
    std::thread::sleep(PAST_ATTR_TIMEOUT);
    assert_eq!(std::fs::metadata(b.join("f")).unwrap().len(), 9);
    append(&a.join("f"), b"A-appended\n");
    // Within B's attribute timeout: B's kernel still has 9 bytes as the size.
    append(&b.join("f"), b"B-appended\n");
    std::thread::sleep(PAST_ATTR_TIMEOUT);
    let want = "original\nA-appended\nB-appended\n";
    assert_eq!(String::from_utf8_lossy(&std::fs::read(b.join("f")).unwrap()), want);
    assert_eq!(String::from_utf8_lossy(&s.client_read("/f")), want);
}

/// futimens(2) on `f` (atime and mtime to `secs`).
fn futimens(f: &std::fs::File, secs: i64) {
    use std::os::fd::AsRawFd;
    let t = libc::timespec { tv_sec: secs, tv_nsec: 0 };
    // SAFETY: a valid descriptor and an array of two timespecs.
    let rc = unsafe { libc::futimens(f.as_raw_fd(), [t, t].as_ptr()) };
    assert_eq!(rc, 0, "futimens: {}", std::io::Error::last_os_error());
}

#[test]
fn times_set_on_an_open_file_survive_its_close() {
    require_fuse!();
    let s = setup(1);
    let m = s.mount(0);
    let old = 1_000_000_000;
    {
        let mut f = std::fs::File::create(m.join("set")).unwrap();
        f.write_all(&[7; 5000]).unwrap();
        futimens(&f, old);
    }
    // A write after the time set moves mtime as usual.
    {
        let mut f = std::fs::File::create(m.join("later")).unwrap();
        f.write_all(b"first").unwrap();
        futimens(&f, old);
        f.write_all(b"second").unwrap();
    }
    std::thread::sleep(PAST_ATTR_TIMEOUT);
    assert_eq!(std::fs::metadata(m.join("set")).unwrap().mtime(), old, "mount, after the attribute timeout");
    assert_eq!(s.client_mtime("/set"), old, "client");
    assert!(std::fs::metadata(m.join("later")).unwrap().mtime() > old);
    assert!(s.client_mtime("/later") > old);

    // GNU tar (an essential package) sets each extracted file's times with futimens
    // before closing it.
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..3 {
        let p = tree.join(format!("f{i}"));
        std::fs::write(&p, pattern(i, 3000)).unwrap();
        let c = CString::new(p.as_os_str().as_bytes()).unwrap();
        let t = libc::timespec { tv_sec: old + i as i64, tv_nsec: 0 };
        // SAFETY: a NUL-terminated path and an array of two timespecs.
        assert_eq!(unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), [t, t].as_ptr(), 0) }, 0);
    }
    let archive: PathBuf = src.path().join("t.tar");
    let tar = |args: &[&std::ffi::OsStr]| {
        let st = std::process::Command::new("tar").args(args).status().expect("run tar");
        assert!(st.success(), "tar {args:?}");
    };
    tar(&["-C".as_ref(), src.path().as_os_str(), "-cf".as_ref(), archive.as_os_str(), "t".as_ref()]);
    tar(&["-C".as_ref(), m.as_os_str(), "-xf".as_ref(), archive.as_os_str()]);
    std::thread::sleep(PAST_ATTR_TIMEOUT);
    for i in 0..3u64 {
        let want = old + i as i64;
        assert_eq!(std::fs::metadata(m.join(format!("t/f{i}"))).unwrap().mtime(), want, "t/f{i} on the mount");
        assert_eq!(s.client_mtime(&format!("/t/f{i}")), want, "t/f{i} through a client");
    }
}
