//! A kernel inode means one file or directory, whatever another mount does with its names
//! (the inode table's invariant 6): two mounts of one 3-server cluster, one of them reusing
//! names the other holds. Each test also looks again after the attribute timeout (the
//! default, 1 s) and through the `benchfs` CLI, which asks the servers directly.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use benchfs_testkit::{mount::TwoMounts, pattern, programs, require_fuse, Cluster};

/// Past the mounts' attribute (and entry) timeout, the default 1 s.
fn expire() {
    std::thread::sleep(Duration::from_millis(1500));
}

/// `benchfs cat`-like: the bytes of `path` as the servers have them, through the CLI.
fn cli_get(cluster: &Cluster, path: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join("copy");
    let out = Command::new(programs::benchfs())
        .args(["--servers", &cluster.addrs().join(",")])
        .arg("get")
        .arg(path)
        .arg(&local)
        .output()
        .expect("run benchfs get");
    assert!(out.status.success(), "benchfs get {path}: {}", String::from_utf8_lossy(&out.stderr));
    fs::read(&local).expect("read the copy")
}

/// hardlink_alias.sh: mount B learns a file by two names; mount A renames the first name
/// away and puts an unrelated file under it. B must keep reaching its file through the
/// other name, and never read, truncate or append the unrelated one.
#[test]
fn a_hard_link_alias_never_reaches_the_file_that_took_the_other_name() {
    require_fuse!();
    let mounts = TwoMounts::start(3);
    let (a, b) = (&mounts.a, &mounts.b);
    let (ra, rb) = (a.path().join("alias"), b.path().join("alias"));
    fs::create_dir_all(ra.join("a")).expect("mkdir a");
    fs::create_dir_all(ra.join("b")).expect("mkdir b");
    fs::write(ra.join("a/f"), "ORIGINAL-DATA\n").expect("write a/f");
    fs::hard_link(ra.join("a/f"), ra.join("b/g")).expect("ln");
    expire();
    // B learns both names, a/f first: one inode.
    let (f, g) = (fs::metadata(rb.join("a/f")).expect("stat a/f"), fs::metadata(rb.join("b/g")).expect("stat b/g"));
    assert_eq!((f.ino(), f.nlink()), (g.ino(), 2));
    fs::rename(ra.join("a/f"), ra.join("a/f.renamed")).expect("mv on A");
    fs::write(ra.join("a/f"), "SOMEONE ELSE'S FILE\n").expect("unrelated file on A");
    expire();
    assert_eq!(fs::read_to_string(rb.join("b/g")).expect("read b/g on B"), "ORIGINAL-DATA\n");
    fs::OpenOptions::new()
        .append(true)
        .open(rb.join("b/g"))
        .and_then(|mut h| h.write_all(b"APPENDED-VIA-B\n"))
        .expect("append to b/g on B");
    let other = fs::OpenOptions::new().write(true).open(rb.join("b/g")).expect("open b/g on B");
    other.set_len(28).expect("truncate b/g on B"); // drops the newline
    drop(other);
    expire();
    let unrelated = "SOMEONE ELSE'S FILE\n";
    assert_eq!(fs::read_to_string(ra.join("a/f")).expect("read a/f on A"), unrelated);
    assert_eq!(fs::read_to_string(rb.join("a/f")).expect("read a/f on B"), unrelated);
    assert_eq!(cli_get(&mounts.cluster, "/alias/a/f"), unrelated.as_bytes(), "the CLI sees the unrelated file changed");
    let original = "ORIGINAL-DATA\nAPPENDED-VIA-B";
    assert_eq!(fs::read_to_string(ra.join("b/g")).expect("read b/g on A"), original);
    assert_eq!(fs::read_to_string(ra.join("a/f.renamed")).expect("read a/f.renamed on A"), original);
    assert_eq!(cli_get(&mounts.cluster, "/alias/a/f.renamed"), original.as_bytes());
    // B's inode for the reused name is another one now: one inode, one file.
    let (f, g) = (fs::metadata(rb.join("a/f")).expect("stat a/f"), fs::metadata(rb.join("b/g")).expect("stat b/g"));
    assert_ne!(f.ino(), g.ino());
    assert_eq!((f.len(), g.len()), (unrelated.len() as u64, original.len() as u64));
}

/// A process whose cwd (or dirfd) is a directory another mount renamed and replaced by a
/// new directory of the same name works in its own directory (which the mount follows to
/// its new name) or gets an error; it never sees the new directory's files.
#[test]
fn a_directory_held_by_a_process_is_not_the_one_that_took_its_name() {
    require_fuse!();
    let mounts = TwoMounts::start(3);
    let (a, b) = (&mounts.a, &mounts.b);
    let (da, db) = (a.path().join("d"), b.path().join("d"));
    fs::create_dir(&da).expect("mkdir on A");
    fs::write(da.join("old"), "old file\n").expect("write on A");
    expire();
    let dirfd = fs::File::open(&db).expect("open the directory on B");
    assert_eq!(names(&format!("/proc/self/fd/{}", dirfd.as_raw_fd())), ["old"]);
    // A shell on B with its cwd in the directory, waiting for a line before it looks.
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg("read go; ls; cat new 2>&1; cat old 2>&1")
        .current_dir(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    fs::rename(&da, a.path().join("d.moved")).expect("mv on A");
    fs::create_dir(&da).expect("mkdir again on A");
    fs::write(da.join("new"), "NEW DIRECTORY'S FILE\n").expect("write on A");
    expire();
    sh.stdin.take().expect("stdin").write_all(b"go\n").expect("tell sh to go");
    let mut seen = String::new();
    sh.stdout.take().expect("stdout").read_to_string(&mut seen).expect("sh output");
    sh.wait().expect("sh");
    assert!(!seen.contains("NEW DIRECTORY'S FILE"), "the shell read the new directory's file:\n{seen}");
    let listed: Vec<&str> = seen.lines().take_while(|l| *l != "old file").collect();
    assert!(!listed.contains(&"new"), "the shell listed the new directory:\n{seen}");
    // Through the directory descriptor: openat and a listing.
    let new = std::ffi::CString::new("new").expect("name");
    // SAFETY: openat on a descriptor this test holds, with a NUL-terminated name.
    let fd = unsafe { libc::openat(dirfd.as_raw_fd(), new.as_ptr(), libc::O_RDONLY) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    if fd >= 0 {
        // SAFETY: closing the descriptor openat just returned.
        unsafe { libc::close(fd) };
    }
    assert!(fd < 0, "openat(dirfd, \"new\") opened the new directory's file");
    assert!(matches!(errno, Some(libc::ENOENT | libc::ESTALE)), "openat: errno {errno:?}");
    let listed = names(&format!("/proc/self/fd/{}", dirfd.as_raw_fd()));
    assert!(!listed.contains(&"new".to_string()), "the descriptor lists the new directory: {listed:?}");
    // The new directory, by its name, is the new one on both mounts and for the CLI.
    assert_eq!(names(&db.display().to_string()), ["new"]);
    assert_eq!(cli_get(&mounts.cluster, "/d/new"), b"NEW DIRECTORY'S FILE\n");
    assert_eq!(cli_get(&mounts.cluster, "/d.moved/old"), b"old file\n");
}

fn names(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(Path::new(dir)) {
        Ok(rd) => rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// reader_after_other_client.py: B holds an 8 MiB file open and has read 1 MiB; A
/// truncates it to 2 MiB, or removes it. What B reads next is bytes that were written
/// there (a short read at the new size), or an error: never zeros.
#[test]
fn a_reader_never_reads_zeros_after_another_mount_truncates_or_removes() {
    require_fuse!();
    let mounts = TwoMounts::start(3);
    let (a, b) = (&mounts.a, &mounts.b);
    let data = pattern(21, 8 << 20);
    for what in ["truncate", "unlink"] {
        let (fa, fb) = (a.path().join(what), b.path().join(what));
        fs::write(&fa, &data).expect("write on A");
        expire();
        let mut rb = fs::File::open(&fb).expect("open on B");
        let mut head = vec![0u8; 1 << 20];
        rb.read_exact(&mut head).expect("first MiB on B");
        assert!(head == data[..1 << 20]);
        if what == "truncate" {
            fs::OpenOptions::new().write(true).open(&fa).and_then(|f| f.set_len(2 << 20)).expect("truncate on A");
        } else {
            fs::remove_file(&fa).expect("unlink on A");
        }
        std::thread::sleep(Duration::from_millis(500));
        let mut rest = Vec::new();
        let r = rb.read_to_end(&mut rest);
        let off = 1 << 20;
        assert!(
            rest[..] == data[off..off + rest.len()],
            "{what}: B read {} bytes after A's {what} ({r:?}) that are not the file's: {} of its 4 KiB blocks zero",
            rest.len(),
            rest.chunks(4096).filter(|c| c.iter().all(|&x| x == 0)).count()
        );
        // Past the new size, only what B's page cache held before (read ahead), then
        // the end of the file or ESTALE.
        if let Err(e) = r {
            assert_eq!(e.raw_os_error(), Some(libc::ESTALE), "{what}: {e}");
        }
    }
}
