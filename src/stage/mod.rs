//! Data staging: `benchfs stage-in SRC DEST` copies a local tree (the site's parallel file
//! system) into BenchFS, `benchfs stage-out SRC DEST` copies a BenchFS tree out, through
//! the async client. Many files and chunk-aligned ranges of large files are in flight at
//! once with bounded memory; mode, times, symbolic links and empty directories are kept;
//! a rerun skips what is already identical (size and mtime); every failure is named and
//! the rest is still copied.
//!
//! Started as several processes (srun, mpirun), each takes a deterministic share of the
//! units ([`rank`], [`plan::owners`]); rank 0 collects the others' reports ([`summary`]).
//!
//! # Layout
//! - [`tree`]: the trait for one side of a copy; [`local`] and [`remote`] implement it.
//! - [`plan`]: walking the source, cutting it into units, each rank's share.
//! - [`rank`]: this process's rank from the launcher's variables.
//! - [`copy`]: running a share: directories, then units with bounded buffers; attributes last.
//! - [`progress`]: the bar and the summary line.
//! - [`summary`]: per-rank reports and rank 0's total.

pub mod copy;
pub mod local;
pub mod plan;
pub mod progress;
pub mod rank;
pub mod remote;
pub mod summary;
pub mod tree;

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use copy::Copier;
use local::Local;
use progress::{Progress, Totals};
use rank::Rank;
use remote::Remote;
use summary::{Report, Reports};
use tree::{Kind, Tree};

use crate::Client;

/// Why one entry (or the whole run) could not be copied. Each names the path.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{path}: {source}")]
    Local {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Remote {
        path: String,
        #[source]
        source: crate::Error,
    },
    #[error("{path}: {what}")]
    Copy { path: String, what: String },
    /// Bad arguments or environment: nothing was copied.
    #[error("{0}")]
    Setup(String),
}

/// Which way a run copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Local file system to BenchFS.
    In,
    /// BenchFS to the local file system.
    Out,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::In => "stage-in",
            Direction::Out => "stage-out",
        }
    }
}

/// Options of `benchfs stage-in` and `stage-out`.
#[derive(clap::Args, Debug, Clone)]
pub struct StageArgs {
    /// What to copy: a directory (its contents, and its own mode and times, go to DEST), a
    /// file, or with --files-from the directory the listed paths are relative to.
    pub src: String,
    /// The directory to copy into (created with its parents). When SRC is a file, DEST is
    /// its new name unless DEST is an existing directory or ends in '/'.
    pub dest: String,
    /// Copy only the paths listed in this file (one per line, relative to SRC; a listed
    /// directory is copied whole), each to the same path below DEST.
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// Units (files or 16 MiB ranges) in flight; memory stays below JOBS x 4 MiB.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: u16,
    /// After copying, read each range back from the destination and compare its xxh3 with the source's.
    #[arg(long)]
    pub verify: bool,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub quiet: bool,
    /// With several ranks: the BenchFS directory where ranks leave their reports for rank 0.
    #[arg(long, default_value = "/.benchfs-stage", value_name = "DIR")]
    pub summary_dir: String,
    /// With several ranks: names this run (default: from the launcher, e.g. SLURM_JOB_ID.SLURM_STEP_ID).
    #[arg(long)]
    pub run_id: Option<String>,
    /// With several ranks: how long rank 0, once its own share is done, waits for the others' reports.
    #[arg(long, default_value = "600", value_name = "SECS",
          value_parser = |s: &str| crate::config::parse_seconds("--rank-timeout", s))]
    pub rank_timeout: Duration,
}

/// Runs `benchfs stage-in` (`Direction::In`) or `stage-out` as this process's rank.
/// Prints a summary line on stdout and each failure on stderr. Returns whether
/// everything was copied (for rank 0 of several: by every rank).
///
/// # Errors
/// Only for a run that could not start (bad arguments, environment, or source root).
pub async fn stage(client: Client, direction: Direction, args: &StageArgs) -> Result<bool, StageError> {
    let rank = Rank::detect(|v| std::env::var(v).ok(), args.run_id.clone()).map_err(StageError::Setup)?;
    let run = Run { client: client.clone(), direction, args, rank };
    let remote = |root: &str| {
        Remote::new(client.clone(), root).map_err(|source| StageError::Remote { path: root.into(), source })
    };
    match direction {
        Direction::In => run.go(Local::new(&args.src), remote(&args.dest)?).await,
        Direction::Out => run.go(remote(&args.src)?, Local::new(&args.dest)).await,
    }
}

struct Run<'a> {
    client: Client,
    direction: Direction,
    args: &'a StageArgs,
    rank: Rank,
}

impl Run<'_> {
    async fn go<S: Tree, D: Tree>(&self, src: S, dst: D) -> Result<bool, StageError> {
        let (src, dst, roots) = self.roots(src, dst).await?;
        let jobs = usize::from(self.args.jobs);
        let (mut entries, walk_errors) = plan::walk(&src, roots, jobs).await;
        if self.direction == Direction::Out {
            // The reports of a run in progress are not data.
            let reports = self.args.summary_dir.trim_end_matches('/');
            entries.retain(|e| !crate::path::is_within(&src.name(&e.src), reports));
        }
        let units = plan::units(&entries, src.chunk_size().max(dst.chunk_size()));
        let owners = plan::owners(&units, self.rank.size);
        // Files split among ranks, and whether this rank counts them (it has the first range).
        let mut first_owner: HashMap<usize, usize> = HashMap::new();
        let mut shared = HashMap::new();
        for (u, &o) in units.iter().zip(&owners) {
            let first = *first_owner.entry(u.entry).or_insert(o);
            if first != o {
                shared.insert(u.entry, first == self.rank.rank);
            }
        }
        let mine: Vec<plan::Unit> =
            units.iter().zip(&owners).filter(|(_, &o)| o == self.rank.rank).map(|(u, _)| *u).collect();
        let share_entries = mine.iter().map(|u| u.entry).collect::<HashSet<_>>().len() as u64;
        let show = !self.args.quiet && self.rank.rank == 0 && std::io::stderr().is_terminal();
        let progress = Progress::new(mine.iter().map(|u| u.len).sum(), share_entries, show);
        // The walk is the same in every rank: rank 0 alone reports what it could not read.
        if self.rank.rank == 0 {
            for e in &walk_errors {
                progress.println(&format!("benchfs: {e}"));
            }
        }
        let digest = plan::digest(&entries);
        let copier = Arc::new(Copier::new(src, dst, entries, shared, jobs, self.args.verify, progress));
        copier.run(mine).await;
        let mut own = copier.progress.finish();
        if self.rank.rank == 0 {
            own.failed += walk_errors.len() as u64;
        }
        let name = self.direction.name();
        let Some(run_id) = self.rank.run_id.clone().filter(|_| self.rank.size > 1) else {
            let mut own = own;
            own.add(&copier.finish_run(&HashSet::new()).await);
            println!("{name}: {}", own.line());
            return Ok(own.failed == 0);
        };
        println!("{name} rank {}/{}: {}", self.rank.rank, self.rank.size, own.line());
        let reports = Reports::new(self.client.clone(), &self.args.summary_dir, &run_id);
        let failed_shared = copier.failed_shared.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if self.rank.rank != 0 {
            let report = Report {
                rank: self.rank.rank as u64,
                run: self.identity(),
                digest,
                totals: own.clone(),
                failed_shared: failed_shared.iter().map(|&i| i as u64).collect(),
            };
            reports.post(&report).await?;
            return Ok(own.failed == 0);
        }
        self.total(&copier, &reports, own, digest, failed_shared).await
    }

    /// Rank 0 of several: waits for the others, finishes the run, prints the total.
    async fn total<S: Tree, D: Tree>(
        &self,
        copier: &Copier<S, D>,
        reports: &Reports,
        own: Totals,
        digest: u64,
        failed_shared: Vec<usize>,
    ) -> Result<bool, StageError> {
        let mine = self.identity();
        let (others, missing) = reports.collect(self.rank.size, self.args.rank_timeout, &mine).await;
        let mut total = own;
        let mut skip: HashSet<usize> = failed_shared.into_iter().collect();
        let mut ok = true;
        for r in others.iter().filter(|r| r.run != mine) {
            ok = false;
            eprintln!(
                "benchfs: rank {} was started as another run: {} ranks, {} -> {}; rank 0 has {} ranks, {} -> {}: \
                 the shares do not add up and files are missing or incomplete; start every rank with the same \
                 arguments",
                r.rank, r.run.ranks, r.run.src, r.run.dest, mine.ranks, mine.src, mine.dest
            );
        }
        for r in &others {
            total.add(&r.totals);
            skip.extend(r.failed_shared.iter().filter_map(|&i| usize::try_from(i).ok()));
            if r.digest != digest {
                ok = false;
                eprintln!(
                    "benchfs: rank {} saw a different source tree than rank 0 (it changed during the walk): rerun",
                    r.rank
                );
            }
        }
        if !ok {
            eprintln!("benchfs: the ranks disagree: the attributes of directories and split files were not set");
        } else if missing.is_empty() {
            total.add(&copier.finish_run(&skip).await);
        } else {
            eprintln!(
                "benchfs: ranks {missing:?} did not report within {:?}: their totals are missing and the attributes \
                 of directories and of files split among ranks were not set; rerun to finish",
                self.args.rank_timeout
            );
        }
        reports.remove(self.rank.size).await;
        println!("{} total ({} ranks): {}", self.direction.name(), self.rank.size, total.line());
        Ok(ok && missing.is_empty() && total.failed == 0)
    }

    /// What every rank of one run must agree on.
    fn identity(&self) -> summary::RunIdentity {
        summary::RunIdentity {
            ranks: self.rank.size as u64,
            src: self.args.src.clone(),
            dest: self.args.dest.clone(),
            files_from: self.args.files_from.as_ref().map(|f| f.display().to_string()),
        }
    }

    /// The trees rooted where the copy starts and the roots to walk (source, destination).
    async fn roots<S: Tree, D: Tree>(&self, src: S, dst: D) -> Result<(S, D, Vec<(String, String)>), StageError> {
        if let Some(list) = &self.args.files_from {
            let text = std::fs::read_to_string(list)
                .map_err(|source| StageError::Local { path: list.display().to_string(), source })?;
            let mut roots = Vec::new();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let rel = relative(line.trim()).ok_or_else(|| {
                    StageError::Setup(format!("{}:{}: {line:?} is not a path below SRC", list.display(), n + 1))
                })?;
                roots.push((rel.clone(), rel));
            }
            return Ok((src, dst, roots));
        }
        let what = src
            .stat("")
            .await?
            .ok_or_else(|| StageError::Setup(format!("{}: no such file or directory", src.name(""))))?;
        if what.kind == Kind::Dir {
            return Ok((src, dst, vec![(String::new(), String::new())]));
        }
        let (src_dir, src_name) = split(&self.args.src);
        let into = self.args.dest.ends_with('/') || dst.stat("").await?.is_some_and(|m| m.kind == Kind::Dir);
        let (dst, dst_name) = if into {
            (dst, src_name.to_string())
        } else {
            let (dir, name) = split(&self.args.dest);
            (dst.at(dir)?, name.to_string())
        };
        Ok((src.at(src_dir)?, dst, vec![(src_name.to_string(), dst_name)]))
    }
}

/// A listed path as a clean relative path: no "..", no empty result.
fn relative(p: &str) -> Option<String> {
    let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    (!parts.is_empty() && !parts.contains(&"..")).then(|| parts.join("/"))
}

/// A path's directory and last name ("f" is in ".", "/f" in "/").
fn split(p: &str) -> (&str, &str) {
    let p = p.trim_end_matches('/');
    match p.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => (".", p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_paths_stay_below_the_source() {
        assert_eq!(relative("/a//b/./c/").as_deref(), Some("a/b/c"));
        assert_eq!(relative("../x"), None);
        assert_eq!(relative("a/../../x"), None);
        assert_eq!(relative("."), None);
    }

    #[test]
    fn split_names_the_directory() {
        assert_eq!(split("/d/f"), ("/d", "f"));
        assert_eq!(split("/f"), ("/", "f"));
        assert_eq!(split("f"), (".", "f"));
        assert_eq!(split("d/f/"), ("d", "f"));
    }
}
