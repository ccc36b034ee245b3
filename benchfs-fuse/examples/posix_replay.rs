//! Runs one seed of the POSIX differential test's sequences (`tests/diff_ops`) on a
//! directory, in a process of its own, and prints a transcript: each operation's result,
//! the metadata of the paths it touched, then the final tree, with the directory spelled
//! `{ROOT}`. The interposer's test runs it on tmpfs and, under LD_PRELOAD, on the mount,
//! and compares the transcripts (`benchfs-fuse/tests/preload.rs`).
//!
//!   posix_replay DIR SEED

use std::path::Path;

use benchfs_testkit::posix_ops::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(seed)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok())) else {
        eprintln!("usage: posix_replay DIR SEED");
        std::process::exit(2);
    };
    // One level down, as the test does: a relative link target such as "../f2" stays
    // inside the tree.
    let root = Path::new(dir).join("t");
    if let Err(e) = std::fs::create_dir(&root) {
        eprintln!("posix_replay: mkdir {}: {e}", root.display());
        std::process::exit(1);
    }
    for d in DIRS.iter().filter(|d| !d.is_empty()) {
        println!("setup {d}: {:?}", run_op(&root, 0, &Op::Mkdir { path: d.to_string() }));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..OPS {
        let op = random_op(&mut rng);
        let got = run_op(&root, i, &op).map(|v| unroot(&root, &v));
        println!("#{i} {op:?} -> {got:?}");
        for path in touched(&op) {
            println!("  lstat {path}: {:?}", lstat(&root, path));
        }
    }
    for line in tree(&root) {
        println!("tree {}", unroot(&root, &line));
    }
}
