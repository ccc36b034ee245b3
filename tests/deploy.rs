//! The deployment scripts: `shellcheck` on every script in deploy/ and bench/run.sh,
//! the mpirun launcher end to end on this machine (a hostfile of localhost slots), and
//! the Slurm batch script under a stand-in `srun` that runs its tasks here.
//!
//! Each test says "skipped: ..." and passes when a tool it needs is missing, unless
//! `BENCHFS_REQUIRE` requires it (tests/support/require.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use benchfs_testkit::require::{self, on_path as have};
use benchfs_testkit::show;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of the binaries under test (benchfsd, benchfs; benchfs-fuse when the
/// workspace was built).
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_benchfsd")).parent().expect("bin dir").to_path_buf()
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// FUSE can be tested here: the binary exists, /dev/fuse and fusermount3 too, and we
/// are root (the mount is made by a child of mpirun/srun without a user_allow_other).
fn fuse_reason() -> Option<String> {
    if !bin_dir().join("benchfs-fuse").exists() {
        return Some(format!("{} is not built", bin_dir().join("benchfs-fuse").display()));
    }
    if !Path::new("/dev/fuse").exists() || !have("fusermount3") {
        return Some("/dev/fuse or fusermount3 is missing".into());
    }
    if !is_root() {
        return Some("not root".into());
    }
    None
}

fn pgrep(pattern: &str) -> String {
    let o = Command::new("pgrep").args(["-af", pattern]).output().expect("pgrep");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn is_mounted(p: &Path) -> bool {
    Command::new("mountpoint").arg("-q").arg(p).status().is_ok_and(|s| s.success())
}

/// Nothing of the cluster is left: no process naming `dir`, no mount, no data.
fn assert_clean(dir: &Path, mount: Option<&Path>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let pat = dir.to_string_lossy().to_string();
    while !pgrep(&pat).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(pgrep(&pat), "", "processes left behind");
    if let Some(m) = mount {
        assert!(!is_mounted(m), "{} is still mounted", m.display());
    }
    let local = dir.join("local");
    let left: Vec<_> = std::fs::read_dir(&local).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "node-local data left behind: {left:?}");
    assert!(!dir.join("state").exists(), "state directory left behind");
}

/// A command for the launchers: writes through the CLI (and the mount, when there is
/// one), reads back, compares, and lists the servers.
const ROUND_TRIP: &str = r#"
set -e
b="$BENCHFS_BIN_DIR/benchfs"
"$b" status
head -c 3000000 /dev/urandom > "$WORK/in"
"$b" put "$WORK/in" /via-cli
"$b" get /via-cli "$WORK/out"
cmp "$WORK/in" "$WORK/out"
if [ -n "$BENCHFS_MOUNT" ]; then
  cp "$WORK/in" "$BENCHFS_MOUNT/via-fuse"
  "$b" get /via-fuse "$WORK/out2"
  cmp "$WORK/in" "$WORK/out2"
  cmp "$WORK/in" "$BENCHFS_MOUNT/via-cli"
  echo FUSE-OK
fi
echo ROUND-TRIP-OK
"#;

#[test]
fn scripts_pass_shellcheck() {
    if !have("shellcheck") {
        require::skip("shellcheck", "shellcheck is not installed (apt-get install shellcheck)");
        return;
    }
    let mut files = vec![PathBuf::from("bench/run.sh")];
    let mut stack = vec![repo().join("deploy")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read deploy/").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "sh" || x == "sbatch") {
                files.push(p.strip_prefix(repo()).expect("in repo").to_path_buf());
            }
        }
    }
    files.sort();
    assert!(files.len() >= 6, "expected the deploy scripts, found {files:?}");
    // From the repository root, so `# shellcheck source=deploy/...` directives resolve.
    let o = Command::new("shellcheck").arg("-x").args(&files).current_dir(repo()).output().expect("run shellcheck");
    assert!(o.status.success() && o.stdout.is_empty(), "shellcheck {files:?}:\n{}", show(&o));
}

fn mpirun_reason() -> Option<&'static str> {
    if !have("mpirun") {
        return Some("mpirun is not installed (apt-get install openmpi-bin)");
    }
    None
}

fn launcher(dir: &Path, slots: usize, extra: &[&str], cmd: &[&str]) -> Output {
    launcher_env(dir, slots, extra, cmd, &[])
}

fn launcher_env(dir: &Path, slots: usize, extra: &[&str], cmd: &[&str], env: &[(&str, String)]) -> Output {
    let hostfile = dir.join("hostfile");
    std::fs::write(&hostfile, format!("# this machine only\nlocalhost slots={slots}\n")).expect("hostfile");
    std::fs::create_dir_all(dir.join("work")).expect("work dir");
    Command::new(repo().join("deploy/mpirun/benchfs-launch.sh"))
        .arg("--hostfile")
        .arg(&hostfile)
        .arg("--bin")
        .arg(bin_dir())
        .arg("--state")
        .arg(dir.join("state"))
        .arg("--local")
        .arg(dir.join("local"))
        .args(extra)
        .arg("--")
        .args(cmd)
        .env("WORK", dir.join("work"))
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run benchfs-launch.sh")
}

#[test]
fn mpirun_launcher_runs_a_job_on_local_slots_and_cleans_up() {
    if let Some(why) = mpirun_reason() {
        require::skip("mpirun", why);
        return;
    }
    let dir = tempfile::Builder::new().prefix("benchfs-launch-test-").tempdir().expect("tempdir");
    let mount = dir.path().join("mnt");
    let mut extra = vec![];
    let m = mount.to_string_lossy().to_string();
    match fuse_reason() {
        None => extra.extend(["--mount", m.as_str()]),
        Some(why) => require::skip("fuse", format_args!("the FUSE part: {why}")),
    }
    let o = launcher(dir.path(), 3, &extra, &["bash", "-c", ROUND_TRIP]);
    assert!(o.status.success(), "launcher failed:\n{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("ROUND-TRIP-OK"), "{}", show(&o));
    // Three servers on one host: three distinct ports, all reachable.
    assert_eq!(out.matches("reachable").count(), 3, "{}", show(&o));
    if extra.is_empty() {
        assert!(!out.contains("FUSE-OK"));
    } else {
        assert!(out.contains("FUSE-OK"), "{}", show(&o));
    }
    assert_clean(dir.path(), Some(&mount));
}

#[test]
fn mpirun_launcher_passes_on_failure_and_still_cleans_up() {
    if let Some(why) = mpirun_reason() {
        require::skip("mpirun", why);
        return;
    }
    let dir = tempfile::Builder::new().prefix("benchfs-launch-test-").tempdir().expect("tempdir");
    // Inputs are staged in before the command, results out after it, even though it fails.
    let (input, output) = (dir.path().join("input"), dir.path().join("output"));
    std::fs::create_dir_all(input.join("sub")).unwrap();
    std::fs::write(input.join("sub/data"), vec![7u8; 300_000]).unwrap();
    let env = [
        ("BENCHFS_STAGE_IN", format!("{}:/in", input.display())),
        ("BENCHFS_STAGE_OUT", format!("/in:{}", output.display())),
    ];
    let o = launcher_env(dir.path(), 2, &["--np", "2"], &["bash", "-c", "exit 7"], &env);
    assert_eq!(o.status.code(), Some(7), "the command's status is the launcher's:\n{}", show(&o));
    assert!(std::fs::read(output.join("sub/data")).is_ok_and(|d| d == vec![7u8; 300_000]), "{}", show(&o));
    assert_clean(dir.path(), None);
}

/// A stand-in for `srun` on one machine: runs `--ntasks` copies of the command here with
/// the SLURM_* variables a task sees, and forwards SIGTERM/SIGINT to them.
const FAKE_SRUN: &str = r#"#!/usr/bin/env bash
n=${SLURM_NTASKS:-1}
while [[ $# -gt 0 && $1 == -* ]]; do
  case $1 in
    --ntasks=*) n=${1#--ntasks=} ;;
  esac
  shift
done
pids=()
for ((i = 0; i < n; i++)); do
  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NODEID=0 "$@" &
  pids+=($!)
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM INT
rc=0
for p in "${pids[@]}"; do
  while true; do
    wait "$p"; st=$?
    kill -0 "$p" 2>/dev/null || break
  done
  ((st > rc)) && rc=$st
done
exit "$rc"
"#;

#[test]
fn slurm_script_runs_a_job_under_a_stand_in_srun() {
    let dir = tempfile::Builder::new().prefix("benchfs-slurm-test-").tempdir().expect("tempdir");
    let fake = dir.path().join("fakebin");
    std::fs::create_dir_all(&fake).expect("fakebin");
    std::fs::write(fake.join("srun"), FAKE_SRUN).expect("srun");
    Command::new("chmod").arg("+x").arg(fake.join("srun")).status().expect("chmod");
    std::fs::create_dir_all(dir.path().join("work")).expect("work");
    let mount = dir.path().join("mnt");
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new(repo().join("deploy/slurm/benchfs.sbatch"));
    cmd.args(["bash", "-c", ROUND_TRIP])
        .env("PATH", path)
        .env("SLURM_JOB_ID", "4242")
        .env("SLURM_JOB_NUM_NODES", "3")
        .env("SLURM_SUBMIT_DIR", dir.path())
        .env("BENCHFS_DIR", repo())
        .env("BENCHFS_BIN_DIR", bin_dir())
        .env("BENCHFS_LOCAL_DIR", dir.path().join("local"))
        .env("BENCHFS_STATE_DIR", dir.path().join("state"))
        .env("BENCHFS_HOST", "127.0.0.1")
        .env("WORK", dir.path().join("work"))
        .env("RUST_LOG", "warn")
        .env_remove("BENCHFS_MOUNT");
    let fuse = fuse_reason();
    match &fuse {
        None => {
            cmd.env("BENCHFS_MOUNT", &mount);
        }
        Some(why) => require::skip("fuse", format_args!("the FUSE part: {why}")),
    }
    let o = cmd.output().expect("run benchfs.sbatch");
    assert!(o.status.success(), "benchfs.sbatch failed:\n{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("ROUND-TRIP-OK"), "{}", show(&o));
    assert_eq!(out.matches("reachable").count(), 3, "{}", show(&o));
    assert_eq!(out.contains("FUSE-OK"), fuse.is_none(), "{}", show(&o));
    assert_clean(dir.path(), Some(&mount));
}
