//! Membership: a stopped server is still a member (clients see an outage, not a smaller
//! cluster); a client with the wrong server list, or a server replaced by an empty one,
//! gets errors, never zeros or writes into the wrong place.
//!
//! Each test collects every failed expectation and panics with the whole list at the end,
//! so one run shows everything that is wrong.

use std::process::Command;
use std::time::{Duration, Instant};

use benchfs::{Client, Config, OpenOptions};
use benchfs_testkit::{pattern, read, runtime, show, Cluster};

const MIB: usize = 1 << 20;
const BIG: usize = 20 * MIB;
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn expect(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        eprintln!("{} {what}", if ok { "  ok  " } else { "  FAIL" });
        if !ok {
            self.0.push(what);
        }
    }
    fn finish(self, test: &str) {
        assert!(self.0.is_empty(), "{test}: {} expectations failed:\n  - {}", self.0.len(), self.0.join("\n  - "));
    }
}

async fn write_file(c: &Client, path: &str, data: &[u8]) -> benchfs::Result<()> {
    let f = c.create(path, 0o644).await?;
    f.write_at(data, 0).await?;
    f.fsync().await?;
    f.close().await
}

/// What a successful read returned, compared with what it should have.
fn describe(got: &[u8], want: &[u8]) -> String {
    let zeros = got.iter().filter(|&&b| b == 0).count();
    let first_diff = got.iter().zip(want).position(|(a, b)| a != b);
    format!("{} bytes (want {}), {zeros} zero bytes, first difference at {first_diff:?}", got.len(), want.len())
}

fn registry_client(cluster: &Cluster) -> Config {
    let mut cfg = Config::from_registry(&cluster.registry()).expect("config from the registry");
    cfg.timeout = TIMEOUT;
    cfg
}

/// Index (in the client's sorted list) of a server that holds chunks of a file of `len`
/// bytes with id `fid` but is not the metadata owner of `path`.
fn chunk_only_server(c: &Client, path: &str, fid: u128, len: usize) -> usize {
    let meta = c.ring().meta_owner(path);
    let chunks = len.div_ceil(MIB) as u64;
    (0..c.server_count())
        .find(|&s| s != meta && (0..chunks).any(|i| c.ring().chunk_owner(fid, i) == s))
        .expect("a server holding chunks but not the metadata")
}

/// (a) A clean stop (SIGTERM) is an outage of a member, not a smaller cluster.
#[test]
fn stopped_server_stays_a_member() {
    let t = Instant::now();
    let mut cluster = Cluster::start_with_registry(3);
    let rt = runtime();
    let mut ck = Checks::default();
    let data = pattern(11, BIG);
    let (victim_addr, vi) = rt.block_on(async {
        let c = Client::connect(registry_client(&cluster)).await.expect("connect via the registry");
        assert_eq!(c.server_count(), 3);
        write_file(&c, "/big", &data).await.expect("write /big");
        let fid = c.stat("/big").await.unwrap().fid;
        let v = chunk_only_server(&c, "/big", fid, BIG);
        let addr = c.servers()[v].clone();
        (addr.clone(), cluster.index_of(&addr))
    });
    eprintln!("stopping {victim_addr} (holds chunks of /big, not its metadata) with SIGTERM");
    let clean = cluster.stop(vi);
    ck.expect(clean, format!("benchfsd {victim_addr} exits 0 on SIGTERM"));

    // A client built from the registry during the outage.
    let cfg = registry_client(&cluster);
    ck.expect(
        cfg.servers.len() == 3 && cfg.servers.contains(&victim_addr),
        format!("the registry still lists the stopped server: it lists {:?}", cfg.servers),
    );
    let created = rt.block_on(async {
        let c = Client::new_lazy(cfg);
        match read::whole(&c, "/big").await {
            Ok(got) => ck.expect(
                false,
                format!(
                    "reading /big during the outage fails (EIO) naming {victim_addr}: it returned Ok, {}",
                    describe(&got, &data)
                ),
            ),
            Err(e) => ck.expect(
                e.errno() == libc::EIO && e.to_string().contains(&victim_addr),
                format!(
                    "reading /big during the outage fails with EIO naming {victim_addr}: errno {} ({e})",
                    e.errno()
                ),
            ),
        }
        // Creates during the outage: an error naming the stopped server, or a file that
        // is still there, intact, after it returns.
        let mut created = Vec::new();
        for i in 0..12 {
            let p = format!("/during{i}");
            let d = pattern(100 + i, (i as usize % 3) * MIB + 1000 * (i as usize + 1));
            match write_file(&c, &p, &d).await {
                Ok(()) => created.push((p, d)),
                Err(e) => ck.expect(
                    e.to_string().contains(&victim_addr),
                    format!("create of {p} during the outage failed naming {victim_addr}: {e}"),
                ),
            }
        }
        eprintln!("{} of 12 creates during the outage succeeded", created.len());
        created
    });

    let out = Command::new(env!("CARGO_BIN_EXE_benchfs"))
        .args(["status", "--timeout", "2", "--registry"])
        .arg(cluster.registry())
        .output()
        .expect("run benchfs status");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let down_line = text.lines().any(|l| l.contains(&victim_addr) && l.to_lowercase().contains("unreachable"));
    ck.expect(
        !out.status.success() && down_line,
        format!("`benchfs status --registry` exits non-zero and shows {victim_addr} down:\n{}", show(&out)),
    );

    cluster.restart(vi);
    rt.block_on(async {
        let cfg = registry_client(&cluster);
        ck.expect(cfg.servers.len() == 3, format!("after restart the registry lists 3 servers: {:?}", cfg.servers));
        let c = Client::connect(cfg).await.expect("connect after restart");
        for (p, d) in &created {
            match c.stat(p).await {
                Ok(a) => ck.expect(
                    a.size == d.len() as u64,
                    format!("after restart {p} has size {} (want {})", a.size, d.len()),
                ),
                Err(e) => {
                    ck.expect(false, format!("after restart, {p} (created OK during the outage) can be stat'ed: {e}"))
                }
            }
            match read::whole(&c, p).await {
                Ok(got) => ck.expect(got == *d, format!("after restart {p} reads back: {}", describe(&got, d))),
                Err(e) => ck.expect(false, format!("after restart {p} can be read: {e}")),
            }
            let r = c.unlink(p).await;
            ck.expect(r.is_ok(), format!("after restart {p} can be removed: {r:?}"));
        }
        match read::whole(&c, "/big").await {
            Ok(got) => {
                ck.expect(got == data, format!("after restart /big is bit-identical: {}", describe(&got, &data)))
            }
            Err(e) => ck.expect(false, format!("after restart /big can be read: {e}")),
        }
    });
    eprintln!("stopped_server_stays_a_member: {:.1} s", t.elapsed().as_secs_f64());
    ck.finish("stopped_server_stays_a_member");
}

/// (b) A client given 2 of the 3 servers: every answer is an error or the truth.
///
/// Asserted for each of 16 files written with the right client: the 2-server client's
/// `stat` is Ok with the exact size, or an error other than ENOENT (the file exists, so
/// "not found" is a wrong answer); its read is the exact bytes or an error. Each of 8
/// creates through the 2-server client fails, or the right client then reads exactly
/// those bytes under that name. And some operation (or connect) must fail at all.
#[test]
fn wrong_server_list_gets_errors_not_wrong_answers() {
    let t = Instant::now();
    let cluster = Cluster::start(3);
    let rt = runtime();
    let mut ck = Checks::default();
    rt.block_on(async {
        let right = cluster.client_with(|c| c.timeout = TIMEOUT).await;
        let files: Vec<(String, Vec<u8>)> =
            (0..16).map(|i| (format!("/right{i}"), pattern(200 + i, MIB / 2 + (i as usize) * 300_000))).collect();
        for (p, d) in &files {
            write_file(&right, p, d).await.expect("write with the right client");
        }
        let mut cfg = Config::new(cluster.addrs()[..2].to_vec()).unwrap();
        cfg.timeout = TIMEOUT;
        let wrong = match Client::connect(cfg).await {
            Err(e) => {
                eprintln!("  ok   connect with 2 of 3 servers fails: {e}");
                return;
            }
            Ok(c) => c,
        };
        let mut errors = 0;
        for (p, d) in &files {
            match wrong.stat(p).await {
                Ok(a) => ck.expect(
                    a.size == d.len() as u64,
                    format!("2-server client: stat {p} is Ok with size {} (real size {})", a.size, d.len()),
                ),
                Err(e) => {
                    errors += 1;
                    ck.expect(e.errno() != libc::ENOENT, format!("2-server client: stat {p} of an existing file: {e}"));
                }
            }
            match read::whole(&wrong, p).await {
                Ok(got) => ck.expect(got == *d, format!("2-server client: read {p} is Ok: {}", describe(&got, d))),
                Err(_) => errors += 1,
            }
        }
        for i in 0..8 {
            let p = format!("/wrong{i}");
            let d = pattern(300 + i, MIB + 12345 * (i as usize + 1));
            match write_file(&wrong, &p, &d).await {
                Err(_) => errors += 1,
                Ok(()) => match read::whole(&right, &p).await {
                    Ok(got) => ck.expect(
                        got == d,
                        format!(
                            "2-server client's create of {p} succeeded; the right client reads: {}",
                            describe(&got, &d)
                        ),
                    ),
                    Err(e) => ck.expect(
                        false,
                        format!("2-server client's create of {p} succeeded, but the right client cannot read it: {e}"),
                    ),
                },
            }
        }
        ck.expect(errors > 0, format!("the 2-server client got at least one error ({errors} errors)"));
    });
    eprintln!("wrong_server_list_gets_errors_not_wrong_answers: {:.1} s", t.elapsed().as_secs_f64());
    ck.finish("wrong_server_list_gets_errors_not_wrong_answers");
}

/// (c) A server replaced by a fresh one (same address, empty data dir): the chunks it
/// held are gone, and reading them is an error, not zeros.
#[test]
fn replaced_server_with_empty_data_is_an_error_not_zeros() {
    let t = Instant::now();
    let mut cluster = Cluster::start(3);
    let rt = runtime();
    let mut ck = Checks::default();
    let data = pattern(21, BIG);
    let (victim_addr, vi, fid) = rt.block_on(async {
        let c = cluster.client_with(|c| c.timeout = TIMEOUT).await;
        write_file(&c, "/big", &data).await.expect("write /big");
        let fid = c.stat("/big").await.unwrap().fid;
        let v = chunk_only_server(&c, "/big", fid, BIG);
        let addr = c.servers()[v].clone();
        (addr.clone(), cluster.index_of(&addr), fid)
    });
    cluster.stop(vi);
    cluster.restart_empty(vi);
    eprintln!("replaced {victim_addr} by a benchfsd with an empty data dir");
    rt.block_on(async {
        let c = cluster.client_with(|c| c.timeout = TIMEOUT).await;
        let v = c.servers().iter().position(|a| *a == victim_addr).unwrap();
        match read::whole(&c, "/big").await {
            Ok(got) => ck.expect(
                false,
                format!("reading /big fails after its chunk server lost them: Ok, {}", describe(&got, &data)),
            ),
            Err(e) => ck.expect(true, format!("reading /big fails after its chunk server lost them: {e}")),
        }
        let f = c.open("/big", &OpenOptions::default()).await.expect("open /big (metadata is intact)");
        let mut lost = 0;
        for i in 0..(BIG / MIB) as u64 {
            if c.ring().chunk_owner(fid, i) != v {
                continue;
            }
            let mut buf = vec![0u8; MIB];
            match f.read_at(&mut buf, i * MIB as u64).await {
                Ok(n) => ck.expect(
                    false,
                    format!(
                        "chunk {i} (on the replaced server) reads as an error: Ok({n}), {}",
                        describe(&buf[..n], &data[i as usize * MIB..][..MIB])
                    ),
                ),
                Err(_) => lost += 1,
            }
        }
        eprintln!("{lost} lost chunks read as errors");
    });
    eprintln!("replaced_server_with_empty_data_is_an_error_not_zeros: {:.1} s", t.elapsed().as_secs_f64());
    ck.finish("replaced_server_with_empty_data_is_an_error_not_zeros");
}

/// `benchfs` with `args`, its output.
fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_benchfs")).args(args).output().expect("run benchfs")
}

/// Issue 21, case 8: servers started one at a time, with `benchfs status` polled in
/// between (a user's readiness loop), by registry and by the list of those up so far.
/// Status must never form a ring, so the first real client forms one of all of them. With
/// `--expect 3` a status that finds fewer waits and fails saying so; without it, status
/// shows what is there.
#[test]
fn servers_started_one_at_a_time_with_status_polls_form_one_ring_of_all() {
    for expect in [false, true] {
        let mut ck = Checks::default();
        let extra = |dir: &std::path::Path| {
            let mut a = vec!["--registry".to_string(), dir.join("registry").display().to_string()];
            if expect {
                a.extend(["--expect".to_string(), "3".to_string()]);
            }
            a
        };
        let cluster = Cluster::start_each(3, extra, |c| {
            let registry = c.registry().display().to_string();
            let by_registry = cli(&["--registry", &registry, "--timeout", "0.5", "status"]);
            let n = c.servers.len();
            if expect && n < 3 {
                let text = String::from_utf8_lossy(&by_registry.stderr);
                ck.expect(
                    !by_registry.status.success() && text.contains(&format!("waiting for {n} of 3 servers")),
                    format!("status with {n} of 3 registered waits and fails saying so:\n{}", show(&by_registry)),
                );
            } else {
                ck.expect(by_registry.status.success(), format!("status by registry, {n} up:\n{}", show(&by_registry)));
            }
            let secret = c.registry().join("secret").display().to_string();
            let by_list = cli(&["--servers", &c.spec(), "--secret-file", &secret, "--timeout", "2", "status"]);
            let text = String::from_utf8_lossy(&by_list.stdout);
            ck.expect(
                by_list.status.success() && text.matches("not formed yet").count() == n,
                format!("status by the list of the {n} up so far shows no ring on any:\n{}", show(&by_list)),
            );
        });
        let rt = runtime();
        rt.block_on(async {
            // Connecting checks that every server serves the ring of all three.
            match Client::connect(registry_client(&cluster)).await {
                Ok(c) => {
                    let data = pattern(21, 4 * MIB);
                    write_file(&c, "/f", &data).await.expect("write /f");
                    let got = read::whole(&c, "/f").await.expect("read /f");
                    ck.expect(got == data, "a file spread over the servers reads back");
                    // (Servers that form at one instant may each stamp their own
                    // formation time; the member list is what makes the ring.)
                    let want = benchfs::placement::members_hash(&cluster.config().servers);
                    let rings: Vec<_> = c.server_rings().await.into_iter().map(|r| r.ok().flatten()).collect();
                    ck.expect(
                        rings.iter().all(|r| r.is_some_and(|r| r.members_hash == want)),
                        format!("every server serves the ring of all three: {rings:?}"),
                    );
                }
                Err(e) => ck.expect(false, format!("a client of all three servers connects: {e}")),
            }
        });
        ck.finish(&format!("one at a time, --expect {expect}"));
    }
}

/// Issue 21, case 8: with `--expect 3` and two servers registered, a client waits,
/// printing "waiting for 2 of 3 servers", and fails with it after its timeout; a client
/// given the two by hand is refused by them. Neither forms a ring.
#[test]
fn a_client_that_finds_fewer_than_expected_waits_then_fails_saying_so() {
    let mut ck = Checks::default();
    let cluster = Cluster::start_with(2, |dir| {
        vec!["--registry".into(), dir.join("registry").display().to_string(), "--expect".into(), "3".into()]
    });
    let registry = cluster.registry().display().to_string();
    let out = cli(&["--registry", &registry, "--timeout", "1", "mkdir", "/x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    ck.expect(
        !out.status.success() && err.matches("waiting for 2 of 3 servers").count() >= 2,
        format!("mkdir waits (says so), then fails with the same words:\n{}", show(&out)),
    );
    let secret = cluster.registry().join("secret").display().to_string();
    let out = cli(&["--servers", &cluster.spec(), "--secret-file", &secret, "--timeout", "2", "mkdir", "/x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    ck.expect(
        !out.status.success() && err.contains("expects 3 servers"),
        format!("a list of two is refused by servers that expect three:\n{}", show(&out)),
    );
    let mut cfg = cluster.config();
    cfg.secret = Some(benchfs::auth::Secret::load(&cluster.registry().join("secret")).expect("the secret"));
    let rings = runtime().block_on(async { Client::new_lazy(cfg).server_rings().await });
    ck.expect(rings.iter().all(|r| matches!(r, Ok(None))), format!("no server formed a ring: {rings:?}"));
    ck.finish("fewer than expected");
}
