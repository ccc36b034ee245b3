//! Ranks' reports to rank 0. Without MPI a rank cannot hear from the others, so each rank
//! other than 0 leaves a small report in BenchFS (which every rank reaches, whichever the
//! direction) under `SUMMARY_DIR/RUN_ID/`; rank 0 waits for all of them (up to a
//! timeout), prints the total, sets the attributes that need every rank done, and removes
//! the reports.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::progress::Totals;
use super::remote::Remote;
use super::tree::Tree;
use super::StageError;
use crate::{Client, Error, OpenOptions};

/// How often rank 0 looks for reports that are not there yet.
const POLL: Duration = Duration::from_millis(100);

/// What the ranks of one run must agree on: a rank started with another count of ranks
/// (or other paths) takes a share of another plan, and files go missing or half-copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunIdentity {
    pub ranks: u64,
    pub src: String,
    pub dest: String,
    pub files_from: Option<String>,
}

/// What one rank did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub rank: u64,
    /// How this rank was started.
    pub run: RunIdentity,
    /// [`super::plan::digest`] of the entries this rank walked.
    pub digest: u64,
    pub totals: Totals,
    /// Shared files (entry numbers) whose ranges failed in this rank.
    pub failed_shared: Vec<u64>,
}

/// The reports of one run.
pub struct Reports {
    client: Client,
    dir: String,
}

impl Reports {
    pub fn new(client: Client, summary_dir: &str, run_id: &str) -> Reports {
        Reports { client, dir: format!("{}/{run_id}", summary_dir.trim_end_matches('/')) }
    }

    fn path(&self, rank: usize) -> String {
        format!("{}/rank-{rank}", self.dir)
    }

    /// Files `r` (written under a temporary name, then renamed: rank 0 never reads half).
    pub async fn post(&self, r: &Report) -> Result<(), StageError> {
        let remote = Remote::new(self.client.clone(), &self.dir).map_err(|e| self.err(e))?;
        remote.mkdir("").await?;
        let bytes = postcard::to_allocvec(r).map_err(|e| StageError::Setup(format!("encoding a report: {e}")))?;
        let (tmp, path) = (format!("{}.tmp", self.path(r.rank as usize)), self.path(r.rank as usize));
        let o = OpenOptions { write: true, create: true, truncate: true, mode: 0o600, ..OpenOptions::default() };
        let f = self.client.open(&tmp, &o).await.map_err(|e| self.err(e))?;
        f.write_at(&bytes, 0).await.map_err(|e| self.err(e))?;
        f.close().await.map_err(|e| self.err(e))?;
        self.client.rename(&tmp, &path).await.map_err(|e| self.err(e))
    }

    /// The reports of ranks `1..ranks`, waiting up to `timeout` for them, or only until a
    /// report of a run other than `mine` arrives (then no wait can make the run whole).
    /// Returns those found and the ranks that did not report.
    pub async fn collect(&self, ranks: usize, timeout: Duration, mine: &RunIdentity) -> (Vec<Report>, Vec<usize>) {
        let deadline = Instant::now() + timeout;
        let mut found = Vec::new();
        let mut missing: Vec<usize> = (1..ranks).collect();
        loop {
            let mut still = Vec::new();
            for r in missing {
                match self.read(r).await {
                    Some(rep) => found.push(rep),
                    None => still.push(r),
                }
            }
            missing = still;
            let other_run = found.iter().any(|r| r.run != *mine);
            if missing.is_empty() || other_run || Instant::now() >= deadline {
                found.extend(self.beyond(ranks).await);
                return (found, missing);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Reports of ranks `ranks` and above, filed so far: from ranks started with a larger
    /// count (one that reports after this look goes unseen; it disagrees all the same).
    async fn beyond(&self, ranks: usize) -> Vec<Report> {
        let Ok(entries) = self.client.readdir(&self.dir).await else { return Vec::new() };
        let extra = entries.iter().filter_map(|e| e.name.strip_prefix("rank-")?.parse::<usize>().ok());
        let mut out = Vec::new();
        for r in extra.filter(|&r| r >= ranks) {
            out.extend(self.read(r).await);
        }
        out
    }

    async fn read(&self, rank: usize) -> Option<Report> {
        let f = self.client.open(&self.path(rank), &OpenOptions::default()).await.ok()?;
        let mut buf = vec![0u8; usize::try_from(f.size()).ok()?];
        let n = f.read_at(&mut buf, 0).await.ok()?;
        postcard::from_bytes(&buf[..n]).ok()
    }

    /// Removes the reports and their directories (the summary directory only when empty).
    pub async fn remove(&self, ranks: usize) {
        for r in 1..ranks {
            let _ = self.client.unlink(&self.path(r)).await;
        }
        let _ = self.client.rmdir(&self.dir).await;
        if let Some((parent, _)) = self.dir.rsplit_once('/').filter(|(p, _)| !p.is_empty()) {
            let _ = self.client.rmdir(parent).await;
        }
    }

    fn err(&self, source: Error) -> StageError {
        StageError::Remote { path: self.dir.clone(), source }
    }
}
