//! `benchfs stage-in` / `stage-out` against real servers: round trips that keep content
//! and attributes, an interrupted copy finished by a rerun, a server lost during a
//! stage-out, and two ranks sharing the work.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use benchfs_testkit::{pattern, runtime, show, Cluster};

const MIB: usize = 1 << 20;

fn benchfs(cluster: &Cluster, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_benchfs"));
    c.args(["--servers", &cluster.spec(), "--timeout", "10"]).args(args);
    for v in ["SLURM_PROCID", "SLURM_STEP_ID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"] {
        c.env_remove(v);
    }
    c
}

fn run(cluster: &Cluster, args: &[&str]) -> Output {
    benchfs(cluster, args).output().expect("run benchfs")
}

fn ok(cluster: &Cluster, args: &[&str]) -> String {
    let out = run(cluster, args);
    assert!(out.status.success(), "benchfs {args:?}: {}", show(&out));
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn set_mtime(p: &Path, secs: i64, nsec: u32) {
    let t = filetime::FileTime::from_unix_time(secs, nsec);
    filetime::set_symlink_file_times(p, t, t).expect("set times");
}

fn write(p: &Path, data: &[u8], mode: u32, secs: i64) {
    std::fs::write(p, data).expect("write");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    set_mtime(p, secs, 123_456_789);
}

/// Nested directories, empty files, a sparse file spanning several ranges, modes,
/// mtimes, symbolic links (one dangling) and empty directories.
fn make_tree(root: &Path) {
    let dirs = ["a", "a/b", "a/b/c", "empty", "a/empty"];
    for d in dirs {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    for i in 0..20 {
        let data = pattern(i, (i as usize) * 1000);
        write(&root.join(format!("a/b/f{i:02}")), &data, 0o640, 1_500_000_000 + i as i64);
    }
    write(&root.join("a/zero"), b"", 0o600, 1_400_000_000);
    write(&root.join("a/b/c/exec"), b"#!/bin/sh\n", 0o755, 1_400_000_001);
    let sparse = root.join("sparse");
    let f = std::fs::File::create(&sparse).expect("create");
    f.set_len(40 * MIB as u64 + 3).expect("set_len");
    std::os::unix::fs::FileExt::write_all_at(&f, &pattern(9, 5000), 17 * MIB as u64).expect("write");
    drop(f);
    write(&root.join("big"), &pattern(10, 3 * MIB + 7), 0o644, 1_600_000_000);
    set_mtime(&sparse, 1_300_000_000, 1);
    std::os::unix::fs::symlink("b/f01", root.join("a/link")).expect("symlink");
    std::os::unix::fs::symlink("/nowhere/at/all", root.join("dangling")).expect("symlink");
    set_mtime(&root.join("a/link"), 1_200_000_000, 5);
    for (d, mode) in [("a/b/c", 0o750), ("empty", 0o700), ("a", 0o755), ("a/b", 0o711), ("a/empty", 0o755)] {
        std::fs::set_permissions(root.join(d), std::fs::Permissions::from_mode(mode)).expect("chmod");
        set_mtime(&root.join(d), 1_100_000_000, 42);
    }
    set_mtime(root, 1_100_000_001, 0);
}

/// Every entry below `root` (and root itself): kind, mode, size, mtime in ns, link target.
fn stat_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).expect("lstat");
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let target = std::fs::read_link(&p).map(|t| t.display().to_string()).unwrap_or_default();
        let size = if m.is_dir() { 0 } else { m.size() };
        let mode = if m.file_type().is_symlink() { 0 } else { m.mode() };
        out.insert(rel, format!("mode {mode:o} size {size} mtime {}.{:09} -> {target}", m.mtime(), m.mtime_nsec()));
        if m.is_dir() {
            todo.extend(std::fs::read_dir(&p).expect("readdir").map(|e| e.expect("entry").path()));
        }
    }
    out
}

fn assert_same_tree(a: &Path, b: &Path) {
    let diff = Command::new("diff").arg("-r").arg("--no-dereference").arg(a).arg(b).output().expect("diff");
    assert!(diff.status.success(), "diff -r {a:?} {b:?}: {}", show(&diff));
    let (sa, sb) = (stat_tree(a), stat_tree(b));
    for (k, v) in &sa {
        assert_eq!(Some(v), sb.get(k), "stat of {k:?} differs");
    }
    assert_eq!(sa.len(), sb.len(), "entries: {:?} vs {:?}", sa.keys(), sb.keys());
}

/// "N copied" (or another count) from a summary line.
fn count(line: &str, what: &str) -> u64 {
    let before = line.split(&format!(" {what}")).next().expect("count");
    before.rsplit(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{what} in {line:?}"))
}

#[test]
fn stage_in_and_out_round_trip_keeps_content_and_attributes() {
    let cluster = Cluster::start(2);
    let (src, out) = (cluster.dir.path().join("src"), cluster.dir.path().join("out"));
    std::fs::create_dir(&src).unwrap();
    make_tree(&src);
    let s = src.to_str().unwrap();
    let line = ok(&cluster, &["stage-in", "--verify", s, "/job/in"]);
    assert_eq!(count(&line, "failed"), 0, "{line}");
    // A rerun finds everything in place.
    let again = ok(&cluster, &["stage-in", s, "/job/in"]);
    assert_eq!(count(&again, "copied"), 0, "{again}");
    // Change files on BenchFS, as a job would, then make the same changes to the source.
    let c = cluster.dir.path().join("changed");
    std::fs::write(&c, pattern(77, 5 * MIB)).unwrap();
    ok(&cluster, &["put", c.to_str().unwrap(), "/job/in/a/b/f03"]);
    ok(&cluster, &["put", c.to_str().unwrap(), "/job/in/a/new"]);
    let line = ok(&cluster, &["stage-out", "--verify", "/job/in", out.to_str().unwrap()]);
    assert_eq!(count(&line, "failed"), 0, "{line}");
    for (f, mode) in [("a/b/f03", 0o640), ("a/new", 0o644)] {
        std::fs::copy(&c, src.join(f)).unwrap();
        std::fs::set_permissions(src.join(f), std::fs::Permissions::from_mode(mode)).unwrap();
        let m = std::fs::metadata(out.join(f)).unwrap();
        set_mtime(&src.join(f), m.mtime(), m.mtime_nsec() as u32);
    }
    // The new file changed a's mtime on BenchFS: that is what stage-out copied.
    let a = std::fs::metadata(out.join("a")).unwrap();
    set_mtime(&src.join("a"), a.mtime(), a.mtime_nsec() as u32);
    assert_same_tree(&src, &out);
    assert!(std::fs::metadata(out.join("sparse")).unwrap().blocks() * 512 < 8 * MIB as u64, "holes stay holes");
    // Single files: into an existing directory, or to a new name.
    ok(&cluster, &["stage-out", "/job/in/big", out.join("empty/").to_str().unwrap()]);
    ok(&cluster, &["stage-out", "/job/in/big", out.join("big2").to_str().unwrap()]);
    for p in ["empty/big", "big2"] {
        assert!(std::fs::read(out.join(p)).unwrap() == std::fs::read(src.join("big")).unwrap(), "{p}");
    }
}

#[test]
fn an_interrupted_stage_in_is_finished_by_a_rerun() {
    let cluster = Cluster::start(2);
    let src = cluster.dir.path().join("src");
    for d in 0..4 {
        std::fs::create_dir_all(src.join(format!("d{d}"))).unwrap();
        for f in 0..100 {
            write(&src.join(format!("d{d}/f{f:03}")), &pattern(d * 1000 + f, 64 << 10), 0o644, 1_500_000_000);
        }
    }
    write(&src.join("d3/large"), &pattern(5, 24 * MIB), 0o600, 1_500_000_001);
    let s = src.to_str().unwrap();
    let mut child =
        benchfs(&cluster, &["stage-in", "--jobs", "1", s, "/in"]).stdout(Stdio::null()).spawn().expect("spawn");
    // Kill it once the first file is complete (one at a time: far from the end).
    rt_wait(&cluster, "/in/d0/f000");
    let finished_early = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!finished_early, "the stage-in ended before the test could interrupt it");
    let line = ok(&cluster, &["stage-in", s, "/in"]);
    assert!(count(&line, "up to date") >= 1 && count(&line, "copied") >= 1, "{line}");
    let out = cluster.dir.path().join("out");
    ok(&cluster, &["stage-out", "--verify", "/in", out.to_str().unwrap()]);
    assert_same_tree(&src, &out);
}

/// Waits until `path` exists on BenchFS with its final mtime (attributes come last).
fn rt_wait(cluster: &Cluster, path: &str) {
    runtime().block_on(async {
        let c = cluster.client().await;
        while !c.stat(path).await.is_ok_and(|a| a.mtime.0 == 1_500_000_000) {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
}

#[test]
fn a_server_lost_during_stage_out_fails_only_its_files() {
    let mut cluster = Cluster::start(3);
    let src = cluster.dir.path().join("src");
    for d in 0..3 {
        std::fs::create_dir_all(src.join(format!("d{d}"))).unwrap();
        for f in 0..20 {
            write(&src.join(format!("d{d}/f{f:02}")), &pattern(f, 10_000), 0o644, 1_500_000_000);
        }
    }
    ok(&cluster, &["stage-in", src.to_str().unwrap(), "/in"]);
    // Lose a server that does not hold the record of the root being copied.
    let owner = runtime().block_on(async {
        let c = cluster.client().await;
        c.servers()[c.ring().meta_owner("/in")].clone()
    });
    let victim = (cluster.index_of(&owner) + 1) % 3;
    let dead = cluster.servers[victim].addr.clone();
    cluster.kill(victim);
    let out_dir = cluster.dir.path().join("out");
    let out = run(&cluster, &["stage-out", "/in", out_dir.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&dead), "the lost server is named: {}", show(&out));
    let mut copied = 0;
    for d in 0..3 {
        for f in 0..20 {
            let rel = format!("d{d}/f{f:02}");
            match std::fs::read(out_dir.join(&rel)) {
                // Anything copied is complete, with its attributes (the last step).
                Ok(got) if std::fs::metadata(out_dir.join(&rel)).unwrap().mtime() == 1_500_000_000 => {
                    assert!(got == pattern(f, 10_000), "{rel} differs");
                    copied += 1;
                }
                // Anything else is named: the file, or a directory it could not be listed from.
                _ => assert!(
                    [format!("/in/{rel}: "), format!("/in/d{d}: "), "/in: ".to_string()]
                        .iter()
                        .any(|n| stderr.contains(n)),
                    "{rel} neither copied nor named: {}",
                    show(&out)
                ),
            }
        }
    }
    assert!(copied > 0, "nothing copied: {}", show(&out));
}

#[test]
fn two_ranks_split_the_work_without_copying_anything_twice() {
    let cluster = Cluster::start(2);
    let src = cluster.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    make_tree(&src);
    let files = stat_tree(&src).len() as u64;
    let s = src.to_str().unwrap();
    let ranks: Vec<_> = (0..2)
        .map(|r| {
            benchfs(&cluster, &["stage-in", s, "/ranked"])
                .envs([("SLURM_PROCID", r.to_string().as_str()), ("SLURM_STEP_NUM_TASKS", "2")])
                .envs([("SLURM_STEP_ID", "0"), ("SLURM_JOB_ID", "staging-test")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outs: Vec<Output> = ranks.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for o in &outs {
        assert!(o.status.success(), "{}", show(o));
    }
    let lines: Vec<String> = outs.iter().map(|o| String::from_utf8_lossy(&o.stdout).to_string()).collect();
    let own = |r: usize| lines[r].lines().find(|l| l.contains(&format!("rank {r}/2"))).expect("rank line").to_string();
    let total = lines[0].lines().find(|l| l.contains("total (2 ranks)")).expect("total line");
    let entries = |l: &str| count(l, "copied") + count(l, "up to date");
    assert_eq!(entries(&own(0)) + entries(&own(1)), files, "{lines:?}");
    assert!(!own(0).contains("; 0 B in") && !own(1).contains("; 0 B in"), "both ranks copied: {lines:?}");
    assert_eq!(entries(total), files, "{total}");
    assert_eq!(count(total, "failed"), 0, "{total}");
    let out = cluster.dir.path().join("out");
    ok(&cluster, &["stage-out", "/ranked", out.to_str().unwrap()]);
    assert_same_tree(&src, &out);
    assert!(!ok(&cluster, &["ls", "/"]).contains(".benchfs-stage"), "rank reports are removed");
}

/// A source with directories `a` and `a/b` holding files, copied into a destination where
/// something else already has those names.
fn small_tree(root: &Path) {
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    for (i, f) in ["a/f1", "a/b/f2", "top"].iter().enumerate() {
        write(&root.join(f), &pattern(i as u64, 3000), 0o644, 1_500_000_000);
    }
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).unwrap().next().is_none()
}

#[test]
fn stage_out_never_writes_through_a_symlink_in_dest() {
    let cluster = Cluster::start(2);
    let dir = cluster.dir.path();
    let src = dir.join("src");
    small_tree(&src);
    ok(&cluster, &["stage-in", src.to_str().unwrap(), "/in"]);
    // At the first level: DEST/a is a link to another directory.
    let (out1, outside1) = (dir.join("out1"), dir.join("outside1"));
    std::fs::create_dir_all(&out1).unwrap();
    std::fs::create_dir_all(&outside1).unwrap();
    std::os::unix::fs::symlink(&outside1, out1.join("a")).unwrap();
    // One level down: DEST/a is a directory, DEST/a/b a link.
    let (out2, outside2) = (dir.join("out2"), dir.join("outside2"));
    std::fs::create_dir_all(out2.join("a")).unwrap();
    std::fs::create_dir_all(&outside2).unwrap();
    std::os::unix::fs::symlink(&outside2, out2.join("a/b")).unwrap();
    for out in [&out1, &out2] {
        let o = run(&cluster, &["stage-out", "/in", out.to_str().unwrap()]);
        // Replaced (as rsync without -K) or refused, but never written through.
        assert!(is_empty_dir(&outside1) && is_empty_dir(&outside2), "written outside DEST: {}", show(&o));
        if o.status.success() {
            for d in ["a", "a/b"] {
                assert!(std::fs::symlink_metadata(out.join(d)).unwrap().is_dir(), "{d} in {out:?}");
            }
            for f in ["a/f1", "a/b/f2", "top"] {
                assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(src.join(f)).unwrap(), "{f}");
            }
        }
    }
}

#[test]
fn stage_in_never_writes_through_a_symlink_in_dest() {
    let cluster = Cluster::start(2);
    let src = cluster.dir.path().join("src");
    small_tree(&src);
    runtime().block_on(async {
        let c = cluster.client().await;
        c.mkdir("/elsewhere", 0o755).await.unwrap();
        c.mkdir("/job", 0o755).await.unwrap();
        c.symlink("/elsewhere", "/job/a").await.unwrap();
    });
    let o = run(&cluster, &["stage-in", src.to_str().unwrap(), "/job"]);
    runtime().block_on(async {
        let c = cluster.client().await;
        assert!(c.readdir("/elsewhere").await.unwrap().is_empty(), "written outside DEST: {}", show(&o));
        if o.status.success() {
            assert!(c.stat("/job/a").await.unwrap().is_dir(), "{}", show(&o));
            assert_eq!(c.stat("/job/a/b/f2").await.unwrap().size, 3000);
        }
    });
}

/// Starts one rank of a two-rank Slurm step; `ranks` is the count it is told.
fn rank(cluster: &Cluster, args: &[&str], r: usize, ranks: usize) -> std::process::Child {
    benchfs(cluster, args)
        .envs([("SLURM_PROCID", r.to_string()), ("SLURM_STEP_NUM_TASKS", ranks.to_string())])
        .envs([("SLURM_STEP_ID", "0"), ("SLURM_JOB_ID", "disagree")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[test]
fn ranks_that_disagree_make_rank_0_fail() {
    let cluster = Cluster::start(2);
    let src = cluster.dir.path().join("src");
    small_tree(&src);
    let s = src.to_str().unwrap();
    // Rank 1 told of three ranks, or given another destination.
    let cases =
        [(["stage-in", s, "/r1"], ["stage-in", s, "/r1"], 3), (["stage-in", s, "/r2"], ["stage-in", s, "/r3"], 2)];
    for (args0, args1, ranks1) in cases {
        let r0 = rank(&cluster, &args0, 0, 2);
        let r1 = rank(&cluster, &args1, 1, ranks1);
        let (o0, o1) = (r0.wait_with_output().unwrap(), r1.wait_with_output().unwrap());
        assert!(!o0.status.success(), "rank 0 passed a run rank 1 disagrees with:\n{}\n{}", show(&o0), show(&o1));
        let err = String::from_utf8_lossy(&o0.stderr);
        assert!(err.contains("rank 1 was started as another run"), "{}", show(&o0));
    }
}

#[test]
fn verify_compares_the_bytes_of_files_it_would_skip() {
    let cluster = Cluster::start(2);
    let src = cluster.dir.path().join("src");
    small_tree(&src);
    let s = src.to_str().unwrap();
    ok(&cluster, &["stage-in", s, "/v"]);
    // Other bytes, same size and mtime.
    runtime().block_on(async {
        let c = cluster.client().await;
        let o = benchfs::OpenOptions { write: true, ..Default::default() };
        let f = c.open("/v/a/f1", &o).await.unwrap();
        f.write_at(&pattern(99, 3000), 0).await.unwrap();
        f.close().await.unwrap();
        let set = benchfs::meta::SetAttr { mtime: Some((1_500_000_000, 123_456_789)), ..Default::default() };
        c.set_attr("/v/a/f1", set).await.unwrap();
    });
    let line = ok(&cluster, &["stage-in", "--verify", s, "/v"]);
    assert_eq!(count(&line, "copied"), 1, "{line}");
    let out = cluster.dir.path().join("out");
    ok(&cluster, &["stage-out", "--verify", "/v", out.to_str().unwrap()]);
    assert_same_tree(&src, &out);
}

#[test]
fn hard_links_are_staged_as_hard_links() {
    let cluster = Cluster::start(2);
    let src = cluster.dir.path().join("src");
    small_tree(&src);
    std::fs::hard_link(src.join("a/f1"), src.join("a/b/again")).unwrap();
    std::fs::hard_link(src.join("a/f1"), src.join("zlast")).unwrap();
    let s = src.to_str().unwrap();
    let line = ok(&cluster, &["stage-in", s, "/h"]);
    assert_eq!(count(&line, "failed"), 0, "{line}");
    runtime().block_on(async {
        let c = cluster.client().await;
        let names = ["/h/a/f1", "/h/a/b/again", "/h/zlast"];
        let mut fids = Vec::new();
        for n in names {
            let a = c.stat(n).await.unwrap();
            assert_eq!(a.nlink, 3, "{n}");
            fids.push(a.fid);
        }
        assert!(fids.windows(2).all(|w| w[0] == w[1]), "{fids:?}");
    });
    // A rerun leaves them alone; a stage-out links them again.
    let again = ok(&cluster, &["stage-in", s, "/h"]);
    assert_eq!(count(&again, "copied"), 0, "{again}");
    let out = cluster.dir.path().join("out");
    ok(&cluster, &["stage-out", "/h", out.to_str().unwrap()]);
    let ino = |p: &str| std::fs::metadata(out.join(p)).unwrap().ino();
    assert_eq!(ino("a/f1"), ino("a/b/again"));
    assert_eq!(ino("a/f1"), ino("zlast"));
    assert_eq!(std::fs::metadata(out.join("zlast")).unwrap().nlink(), 3);
    assert_same_tree(&src, &out);
}
