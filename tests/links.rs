//! Symbolic links and special files (FIFOs, sockets, devices) against 3 real servers:
//! records only, never followed by BenchFS, moved and removed like files.

use benchfs::{Error, FileKind, OpenOptions};
use benchfs_testkit::{runtime, Cluster};

/// The errno an open failed with (a `File` has no Debug for `unwrap_err`).
fn open_errno(r: benchfs::Result<benchfs::File>) -> i32 {
    r.err().expect("opened").errno()
}

#[test]
fn links_and_special_files_are_records_never_followed() {
    let cluster = Cluster::start(3);
    let rt = runtime();
    rt.block_on(async {
        let c = cluster.client().await;
        c.mkdir("/d", 0o755).await.unwrap();
        c.create("/d/f", 0o644).await.unwrap().close().await.unwrap();
        let l = c.symlink("../d/f", "/d/rel").await.unwrap();
        assert_eq!((l.kind, l.size, l.mode, l.chunk_size), (FileKind::Symlink, 6, 0o777, 0));
        c.symlink("/nowhere", "/d/dangling").await.unwrap();
        c.symlink("/d/loop", "/d/loop").await.unwrap();
        assert_eq!(c.readlink("/d/rel").await.unwrap(), "../d/f");
        assert_eq!(c.readlink("/d/loop").await.unwrap(), "/d/loop");
        // stat is lstat: the link's own record, whatever it points to.
        assert_eq!(c.stat("/d/dangling").await.unwrap().kind, FileKind::Symlink);
        assert_eq!(c.readlink("/d/f").await.unwrap_err().errno(), libc::EINVAL);
        assert_eq!(c.symlink("x", "/d/f").await.unwrap_err().errno(), libc::EEXIST);
        assert_eq!(c.symlink("", "/d/e").await.unwrap_err().errno(), libc::EINVAL);
        assert_eq!(c.symlink(&"x".repeat(4096), "/d/e").await.unwrap_err().errno(), libc::ENAMETOOLONG);
        assert!(c.symlink(&"x".repeat(4095), "/d/long").await.is_ok());
        assert_eq!(c.symlink("x", "/nodir/l").await.unwrap_err().errno(), libc::ENOENT);
        // Opening a link is ELOOP (BenchFS never follows), with or without O_CREAT.
        assert!(matches!(c.open("/d/rel", &OpenOptions::default()).await, Err(Error::Loop(_))));
        let create = OpenOptions { write: true, create: true, truncate: true, ..OpenOptions::default() };
        assert_eq!(open_errno(c.open("/d/rel", &create).await), libc::ELOOP);
        assert_eq!(c.readlink("/d/rel").await.unwrap(), "../d/f", "an open through a link changed it");
        assert_eq!(open_errno(c.create("/d/rel", 0o644).await), libc::EEXIST);
        assert_eq!(c.truncate("/d/rel", 0).await.unwrap_err().errno(), libc::EINVAL);

        for (name, kind, rdev) in [
            ("fifo", FileKind::Fifo, 0),
            ("sock", FileKind::Socket, 0),
            ("chr", FileKind::CharDev, libc::makedev(1, 3)),
            ("blk", FileKind::BlockDev, libc::makedev(7, 0)),
        ] {
            let p = format!("/d/{name}");
            let a = c.mknod(&p, kind, 0o640, rdev).await.unwrap();
            assert_eq!((a.kind, a.mode, a.rdev, a.size), (kind, 0o640, rdev, 0));
            assert_eq!(c.stat(&p).await.unwrap(), a);
            assert_eq!(open_errno(c.open(&p, &OpenOptions::default()).await), libc::ENOTSUP);
            assert_eq!(open_errno(c.open(&p, &create).await), libc::ENOTSUP);
            assert_eq!(c.mknod(&p, kind, 0o640, rdev).await.unwrap_err().errno(), libc::EEXIST);
        }
        assert_eq!(c.mknod("/d/x", FileKind::File, 0o644, 0).await.unwrap_err().errno(), libc::EINVAL);

        // readdir reports each kind.
        let kinds: Vec<_> = c.readdir("/d").await.unwrap().into_iter().map(|e| (e.name, e.attr.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("blk".to_string(), FileKind::BlockDev),
                ("chr".into(), FileKind::CharDev),
                ("dangling".into(), FileKind::Symlink),
                ("f".into(), FileKind::File),
                ("fifo".into(), FileKind::Fifo),
                ("long".into(), FileKind::Symlink),
                ("loop".into(), FileKind::Symlink),
                ("rel".into(), FileKind::Symlink),
                ("sock".into(), FileKind::Socket),
            ]
        );

        // Renames move links and special files like files (to any server), keeping them.
        for i in 0..8 {
            c.rename("/d/rel", &format!("/d/rel{i}")).await.unwrap();
            c.rename(&format!("/d/rel{i}"), "/d/rel").await.unwrap();
        }
        c.rename("/d/fifo", "/fifo2").await.unwrap();
        assert_eq!(c.stat("/fifo2").await.unwrap().kind, FileKind::Fifo);
        // A link replaces a file and a file a link.
        c.rename("/d/dangling", "/d/f").await.unwrap();
        assert_eq!(c.readlink("/d/f").await.unwrap(), "/nowhere");
        // A whole directory of them moves.
        c.rename("/d", "/e").await.unwrap();
        assert_eq!(c.readlink("/e/rel").await.unwrap(), "../d/f");
        assert_eq!(c.stat("/e/chr").await.unwrap().rdev, libc::makedev(1, 3));
        for n in ["rel", "f", "loop", "long", "sock", "chr", "blk"] {
            c.unlink(&format!("/e/{n}")).await.unwrap();
        }
        c.unlink("/fifo2").await.unwrap();
        c.rmdir("/e").await.unwrap();
        assert!(c.readdir("/").await.unwrap().is_empty());
    });
}

#[test]
fn cli_ln_and_ls_show_links_and_types() {
    let cluster = Cluster::start(2);
    let cli = |args: &[&str]| cluster.cli(args);
    cli(&["mkdir", "/d"]);
    cli(&["ln", "-s", "../some/where", "/d/link"]);
    runtime().block_on(async {
        let c = cluster.client().await;
        c.mknod("/d/pipe", FileKind::Fifo, 0o644, 0).await.unwrap();
        c.mknod("/d/null", FileKind::CharDev, 0o666, libc::makedev(1, 3)).await.unwrap();
    });
    let ls = cli(&["ls", "-l", "/d"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(lines[0].starts_with("lrwxrwxrwx") && lines[0].ends_with(" link -> ../some/where"), "{ls}");
    assert!(lines[1].starts_with("crw-rw-rw-") && lines[1].contains(" 1, 3 ") && lines[1].ends_with(" null"), "{ls}");
    assert!(lines[2].starts_with("prw-r--r--") && lines[2].ends_with(" pipe"), "{ls}");
    let st = cli(&["stat", "/d/link"]);
    assert!(st.contains("type: symbolic link") && st.contains("target: ../some/where"), "{st}");
    // ln without -s makes a hard link: both names show two links.
    cli(&["put", "/dev/null", "/d/f"]);
    cli(&["ln", "/d/f", "/d/hard"]);
    for name in ["/d/f", "/d/hard"] {
        assert!(cli(&["stat", name]).contains("links: 2"), "{name}");
    }
    assert!(cli(&["ls", "-l", "/d"]).lines().any(|l| l.starts_with("-rw-r--r--   2 ") && l.ends_with(" hard")));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_benchfs"))
        .args(["--servers", &cluster.spec(), "ln", "/d", "/d2"])
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not permitted"));
}
