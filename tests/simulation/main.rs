//! Seeded simulation: random operation sequences from several clients against a whole
//! cluster of 1-5 servers in this process ([`benchfs::testkit::InProcessCluster`]),
//! compared at every step with an in-memory model. The runtime is current-thread with a
//! paused clock, so a seed replays exactly: background work (batched directory touches,
//! dropping unlinked files' chunks, metadata commits) runs only when the clock moves:
//! at the sequence's `Tick`s and inside injected delays and retries.
//!
//! Half the seeds inject faults ([`faults`]): on any link, client to server or server to
//! server, replies late, requests dropped, replies lost, `Retry` answers; between
//! operations, servers stopped and restarted from their data directories, servers and
//! single links cut off and healed. An operation that fails with a connection error or
//! a relayed `Io` while a fault was on may or may not have happened, so the model is a
//! set of candidate states ([`candidates`]) that later answers narrow; one step in
//! eight (with two clients or more) runs two clients' operations at once, and either
//! order is a candidate. A divergence is an answer that no candidate explains.
//!
//! `BENCHFS_SIM_SEEDS=N` runs N seeds (default 128); `BENCHFS_SIM_SEED=S` replays seed S;
//! `BENCHFS_SIM_FIRST=S` starts the seeds at S; `BENCHFS_SIM_FAULTS=0` injects no faults,
//! `=1` only those that change no outcome (delays, `Retry`); `BENCHFS_SIM_TRACE=1` prints
//! every step. A divergence prints the seed, the command that replays it and the
//! operations up to it, then a shrunk sequence (operations removed while it still
//! diverges) with its own report.

mod candidates;
mod faults;
mod model;
mod ops;
mod unreached;

use std::time::Instant;

use benchfs_testkit::in_process::InProcessCluster;
use candidates::{Answer, Candidates};
use faults::{Event, Level, Schedule};
use ops::Op;

/// Small chunks: writes cross chunk (and so server) boundaries.
const CHUNK: u32 = 4096;

/// splitmix64: a generator whose sequence depends on the seed only.
pub struct Rng(pub u64);

impl Rng {
    pub fn draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.draw() % n.max(1)
    }

    pub fn pick(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

/// What one seed did.
#[derive(Default)]
struct Seed {
    /// Fault rules injected on links.
    rules: usize,
    /// Fault events (stops, restarts, cuts, heals) and answers a fault left ambiguous.
    events: usize,
    ambiguous: usize,
    /// The operations run (up to a divergence), events among them.
    ops: Vec<Op>,
    divergence: Option<String>,
}

/// One seed: a cluster of 1-5 servers, 1-3 clients, 20-100 operations (and the fault
/// events among them); with `script`, those operations instead of the generated ones (a
/// handle operation whose handle is not open is skipped), for shrinking.
fn simulate(seed: u64, script: Option<&[Op]>) -> Seed {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    let base =
        tempfile::tempdir_in(if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" }).unwrap();
    let mut rng = Rng(seed);
    let nodes = 1 + rng.pick(5);
    let nclients = 1 + rng.pick(3);
    let steps = 20 + rng.pick(81);
    benchfs::testkit::seed_file_ids(seed);
    rt.block_on(async {
        let mut cluster = InProcessCluster::start(base.path(), nodes).await.unwrap();
        let mut frng = Rng(seed ^ 0x5eed_fa17_0000_0000);
        let level = match env("BENCHFS_SIM_FAULTS") {
            _ if frng.below(2) != 0 => Level::None,
            Some(0) => Level::None,
            Some(1) => Level::Harmless,
            _ => Level::All,
        };
        let mut out = Seed::default();
        let (mut clients, mut links) = (Vec::new(), Vec::new());
        for _ in 0..nclients {
            let (client, link) = cluster
                .client_with(|c| {
                    c.chunk_size = CHUNK;
                    // No cached directories: another client's change shows at once.
                    c.dir_cache_ttl = std::time::Duration::ZERO;
                })
                .unwrap();
            if level != Level::None {
                out.rules += faults::inject_rules(&mut frng, &link, true, steps, level);
            }
            clients.push(client);
            links.push(link);
        }
        for i in (0..nodes).filter(|_| level != Level::None) {
            if let Some(link) = cluster.peer_link(i) {
                out.rules += faults::inject_rules(&mut frng, &link, false, steps, level);
            }
        }
        let mut schedule = Schedule::default();
        let mut model = Candidates::default();
        let mut handles = Vec::new();
        let trace = std::env::var_os("BENCHFS_SIM_TRACE").is_some();
        let mut script = script.map(|s| s.iter());
        for step in 0.. {
            let mut now = Vec::new();
            match script.as_mut() {
                Some(s) => match s.next() {
                    Some(op) if model.any().runnable(op) => now.push(op.clone()),
                    Some(_) => continue,
                    None => break,
                },
                None if step == steps => break,
                None => {
                    if level == Level::All {
                        now.extend(schedule.next(&mut frng, step, nodes, nclients).map(Op::Fault));
                    }
                    now.push(ops::gen(model.any(), &mut rng, nclients));
                }
            }
            for op in now {
                let was_on = schedule.active();
                let fired = faults::fired(&cluster, &links);
                let ran: Vec<(Op, benchfs::Result<String>)> = match &op {
                    Op::Fault(e) => {
                        out.events += 1;
                        if let Err(e) = faults::apply(&mut cluster, &links, e).await {
                            out.divergence = Some(format!("seed {seed}: step {} {op:?} failed: {e}", out.ops.len()));
                            break;
                        }
                        schedule.ran(e);
                        if matches!(e, Event::Stop(_) | Event::Restart(_)) {
                            model.each(model::Model::servers_restarted);
                        }
                        Vec::new()
                    }
                    Op::Both(a, b) => {
                        let (x, y) = tokio::join!(ops::run_shared(&clients, a), ops::run_shared(&clients, b));
                        vec![(*a.clone(), x), (*b.clone(), y)]
                    }
                    _ => vec![(op.clone(), ops::run(&clients, &mut handles, &op).await)],
                };
                let on = was_on || schedule.active() || faults::fired(&cluster, &links) != fired;
                if let (Op::HWrite(h, ..), [(_, Err(e))]) = (&op, ran.as_slice()) {
                    if on && faults::lost_in_transit(e) {
                        // Its size is yet to be published, and its close would publish
                        // it later, past other clients' changes: closed now, within the
                        // operation the model does not know the outcome of.
                        let _ = handles.remove(*h).close().await;
                    }
                }
                let answers: Vec<Answer> = ran
                    .into_iter()
                    .map(|(op, r)| Answer {
                        ambiguous: on && r.as_ref().is_err_and(faults::lost_in_transit),
                        faulty: on,
                        got: r.map_err(|e| e.errno()),
                        op,
                    })
                    .collect();
                out.ambiguous += answers.iter().filter(|a| a.ambiguous).count();
                out.ops.push(op.clone());
                let checked = match answers.as_slice() {
                    [x, y] => model.observe_orders(&[vec![x.clone(), y.clone()], vec![y.clone(), x.clone()]]),
                    a => model.observe(a),
                };
                if trace {
                    eprintln!("{:3} {op:?}: {answers:?} ({} candidate states)", out.ops.len() - 1, model.count());
                }
                if let Err(wanted) = checked {
                    let list: Vec<String> = out.ops.iter().enumerate().map(|(i, o)| format!("  {i:3} {o:?}")).collect();
                    let got: Vec<_> = answers.iter().map(|a| (&a.got, a.ambiguous)).collect();
                    out.divergence = Some(format!(
                        "seed {seed} ({nodes} servers, {nclients} clients, {} fault rules): step {} {op:?}: got \
                         {got:?}, the model allows {wanted:?} ({} candidate states{})\nreplay: \
                         BENCHFS_SIM_SEED={seed} cargo test --test simulation -- --nocapture\noperations:\n{}",
                        out.rules,
                        out.ops.len() - 1,
                        model.count(),
                        if model.cut { ", the set was cut" } else { "" },
                        list.join("\n")
                    ));
                    break;
                }
            }
            if out.divergence.is_some() {
                break;
            }
        }
        for f in handles {
            let _ = f.close().await;
        }
        drop(clients);
        cluster.heal();
        cluster.stop().await.unwrap();
        out
    })
}

/// The shortest sequence found that still diverges, by removing runs of operations (from
/// half the sequence down to single ones) while it does: its divergence report.
fn shrink(seed: u64, mut ops: Vec<Op>) -> String {
    let mut report = String::from("(no shorter sequence diverges)");
    let mut tries = 0;
    let mut size = ops.len() / 2;
    while size >= 1 && tries < 400 {
        let mut i = 0;
        while i + size <= ops.len() && tries < 400 {
            let mut fewer = ops.clone();
            fewer.drain(i..i + size);
            tries += 1;
            match simulate(seed, Some(&fewer)) {
                Seed { divergence: Some(d), ops: ran, .. } => {
                    ops = ran;
                    report = d;
                }
                _ => i += size,
            }
        }
        size /= 2;
    }
    report
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[test]
fn seeded_operation_sequences_match_the_model() {
    let started = Instant::now();
    let seeds: Vec<u64> = match env("BENCHFS_SIM_SEED") {
        Some(s) => vec![s],
        None => {
            let first = env("BENCHFS_SIM_FIRST").unwrap_or(0);
            (first..first + env("BENCHFS_SIM_SEEDS").unwrap_or(128)).collect()
        }
    };
    let (mut ops, mut total, mut divergences) = (0usize, Seed::default(), Vec::new());
    for &seed in &seeds {
        let s = simulate(seed, None);
        ops += s.ops.len();
        total.rules += s.rules;
        total.events += s.events;
        total.ambiguous += s.ambiguous;
        if let Some(d) = s.divergence {
            eprintln!("{d}\n");
            eprintln!("shrunk: {}\n", shrink(seed, s.ops));
            divergences.push(seed);
        }
    }
    println!("simulation: {} seeds, {ops} operations, {} divergences", seeds.len(), divergences.len());
    println!(
        "faults: {} rules on links, {} events, {} ambiguous answers; {:.1} s",
        total.rules,
        total.events,
        total.ambiguous,
        started.elapsed().as_secs_f64()
    );
    assert!(divergences.is_empty(), "diverging seeds: {divergences:?}");
}
