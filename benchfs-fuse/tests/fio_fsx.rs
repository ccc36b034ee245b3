//! Standard exercisers through the mount: fio's verified sequential and random jobs, and
//! fsx's random mix of reads, writes, mmap, truncates and syncs checked against a model.
//! Each is skipped (the test passes, printing "skipped: ...") when the tool is missing,
//! unless `BENCHFS_REQUIRE` requires it (tests/support/require.rs).

use std::path::Path;
use std::process::Command;

use benchfs_testkit::{both_backends, fast_tempdir, mount::Backend, mount::TestMount, require, require_fuse};

/// fsx operations per run (the acceptance bar is 10^5).
const FSX_OPS: &str = "100000";

/// fsx's mix: every operation the mount supports; the costly ones (mmap writes and fsyncs
/// each wait for a server round trip per page range) weigh less so the run stays short.
const FSX_CONFIG: &str = "\
flen = 262144
[weights]
close_open = 1
read = 10
write = 10
mapread = 5
mapwrite = 2
invalidate = 1
truncate = 5
fsync = 1
fdatasync = 1
sendfile = 1
posix_fadvise = 1
";

fn run_fio(dir: &Path, job: &[&str]) {
    let out = Command::new("fio")
        .arg(format!("--directory={}", dir.display()))
        .args(["--ioengine=psync", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--verify_state_save=0"])
        .arg("--group_reporting")
        .args(job)
        .output()
        .expect("run fio");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !text.contains("verify: bad"), "fio {job:?} failed:\n{text}");
}

fn fio_jobs(m: &TestMount, direct: bool) {
    if !require::on_path("fio") {
        require::skip("fio", "fio is not installed (apt-get install fio)");
        return;
    }
    let direct = if direct { "--direct=1" } else { "--direct=0" };
    let dir = m.path().join(format!("fio{direct}"));
    std::fs::create_dir(&dir).expect("mkdir");
    run_fio(&dir, &["--name=seq", "--rw=write", "--bs=1M", "--size=64M", "--end_fsync=1", direct]);
    run_fio(&dir, &["--name=rand", "--rw=randwrite", "--bs=4k", "--size=8M", direct]);
    run_fio(&dir, &["--name=randmix", "--rw=randrw", "--bs=64k", "--size=16M", "--numjobs=2", direct]);
}

both_backends!(fio_verify, |m| { fio_jobs(m, false) });

#[test]
fn fio_verify_direct_io() {
    require_fuse!();
    let m = TestMount::new(Backend::Cluster, &["--direct-io"]);
    fio_jobs(&m, true);
}

fn fsx(m: &TestMount) {
    if !require::on_path("fsx") {
        require::skip("fsx", "fsx is not installed (cargo install fsx)");
        return;
    }
    let artifacts = fast_tempdir();
    let config = artifacts.path().join("fsx.toml");
    std::fs::write(&config, FSX_CONFIG).expect("write fsx config");
    let out = Command::new("fsx")
        .args(["-N", FSX_OPS, "-S", "20261125", "-f"])
        .arg(&config)
        .arg("-P")
        .arg(artifacts.path())
        .arg(m.path().join("fsx.file"))
        .output()
        .expect("run fsx");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("All operations completed A-OK"), "fsx failed:\n{text}");
}

both_backends!(fsx_random_operations, |m| { fsx(m) });
