//! The multi-host path on one machine: `deploy/netns-cluster.sh` builds three hosts,
//! each a network namespace with its own stack and address on a private bridge, one
//! `benchfsd` in each. A file written from host 1 through the CLI must come back
//! bit-identical on host 3, and `down` must leave no namespace, link or process.
//!
//! Needs root and `ip` (iproute2); otherwise it says "skipped: ..." and passes (fails
//! when `BENCHFS_REQUIRE` requires `netns`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use benchfs_testkit::{require, show};

/// Our own namespace prefix and state directory, so a cluster someone brought up by
/// hand (prefix "benchfs") is never touched.
fn prefix() -> String {
    format!("bfstest{}", std::process::id())
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/netns-cluster.sh")
}

struct NetnsCluster {
    state: PathBuf,
}

impl NetnsCluster {
    fn cmd(&self) -> Command {
        let mut c = Command::new(script());
        c.env("BENCHFS_NETNS_PREFIX", prefix())
            .env("BENCHFS_NETNS_STATE", &self.state)
            .env("BENCHFS_BIN_DIR", Path::new(env!("CARGO_BIN_EXE_benchfsd")).parent().expect("bin dir"))
            .env("RUST_LOG", "warn");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run netns-cluster.sh")
    }

    fn down(&self) -> Output {
        self.run(&["down"])
    }
}

/// Tears the cluster down however the test ends (a failed assert included).
impl Drop for NetnsCluster {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

fn why_skip() -> Option<String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces need CAP_NET_ADMIN)".into());
    }
    if !require::on_path("ip") {
        return Some("'ip' is missing (apt-get install iproute2)".into());
    }
    // Root without CAP_NET_ADMIN (some containers) cannot make namespaces.
    let probe = format!("{}-probe", prefix());
    let ok = Command::new("ip").args(["netns", "add", &probe]).output().is_ok_and(|o| o.status.success());
    let _ = Command::new("ip").args(["netns", "delete", &probe]).output();
    if !ok {
        return Some("cannot create network namespaces here (no CAP_NET_ADMIN?)".into());
    }
    None
}

fn text(cmd: &mut Command) -> String {
    let o = cmd.output().expect("run");
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn ours_in(list: &str) -> Vec<String> {
    list.lines().filter(|l| l.contains(&prefix())).map(str::to_string).collect()
}

#[test]
fn three_hosts_write_on_one_read_on_another_and_tear_down_cleanly() {
    if let Some(why) = why_skip() {
        require::skip("netns", why);
        return;
    }
    let links_before = text(Command::new("ip").args(["-o", "link", "show"]));
    let dir = tempfile::Builder::new().prefix("benchfs-netns-test-").tempdir().expect("tempdir");
    // Declared after `dir`, so dropped (torn down) before it is deleted.
    let cluster = NetnsCluster { state: dir.path().join("state") };

    let up = cluster.run(&["up", "3"]);
    assert!(up.status.success(), "up failed:\n{}", show(&up));
    let ns = text(Command::new("ip").args(["netns", "list"]));
    for i in 1..=3 {
        assert!(ns.contains(&format!("{}-h{i}", prefix())), "namespace of host {i} missing: {ns}");
    }

    // Each host really is its own stack: its own address, nothing else but loopback.
    let addr = cluster.run(&["exec", "3", "ip", "-4", "-o", "addr", "show"]);
    let addr = String::from_utf8_lossy(&addr.stdout);
    assert!(addr.contains("10.213.0.13/24") && !addr.contains("10.213.0.11/"), "host 3's addresses: {addr}");

    // 5 MiB + a bit: several chunks, so they spread over the three servers.
    let data: Vec<u8> = (0..(5 << 20) + 12345u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let src = dir.path().join("in");
    let dst = dir.path().join("out");
    std::fs::write(&src, &data).expect("write input");
    let benchfs = env!("CARGO_BIN_EXE_benchfs");
    let put = cluster.run(&["exec", "1", benchfs, "put", &src.to_string_lossy(), "/from-host-1"]);
    assert!(put.status.success(), "put on host 1:\n{}", show(&put));
    let get = cluster.run(&["exec", "3", benchfs, "get", "/from-host-1", &dst.to_string_lossy()]);
    assert!(get.status.success(), "get on host 3:\n{}", show(&get));
    assert!(std::fs::read(&dst).expect("read output") == data, "host 3 read different bytes");

    // Host 2 reaches all three servers on their bridge addresses.
    let st = cluster.run(&["exec", "2", benchfs, "status"]);
    assert!(st.status.success(), "status on host 2:\n{}", show(&st));
    let st = String::from_utf8_lossy(&st.stdout);
    for i in 1..=3 {
        assert!(st.contains(&format!("10.213.0.1{i}:7070")), "server {i} missing from status:\n{st}");
    }

    let down = cluster.down();
    assert!(down.status.success(), "down failed:\n{}", show(&down));
    assert_eq!(ours_in(&text(Command::new("ip").args(["netns", "list"]))), Vec::<String>::new(), "namespaces left");
    let links_after = text(Command::new("ip").args(["-o", "link", "show"]));
    let names =
        |s: &str| s.lines().filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string())).collect::<Vec<_>>();
    assert_eq!(names(&links_after), names(&links_before), "links changed in the root namespace");
    let procs = text(Command::new("pgrep").args(["-af", &cluster.state.to_string_lossy()]));
    assert_eq!(procs.trim(), "", "processes left behind");
    assert!(!cluster.state.exists(), "state directory left behind");
    // `down` is idempotent.
    let again = cluster.down();
    assert!(again.status.success(), "second down failed:\n{}", show(&again));
}
