//! Counting what a rank did: a bar with bytes, files and rate on a terminal (stderr),
//! and one summary line at the end in any case.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{BinaryBytes, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

/// What happened to the entries of one rank (or, summed, of all ranks).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Files, links and directories copied (directories: created or given their attributes).
    pub copied: u64,
    /// Already identical at the destination (size and mtime): left alone.
    pub skipped: u64,
    pub failed: u64,
    /// Bytes written to the destination.
    pub bytes: u64,
    pub secs: f64,
}

impl Totals {
    pub fn add(&mut self, o: &Totals) {
        self.copied += o.copied;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.bytes += o.bytes;
        self.secs = self.secs.max(o.secs);
    }

    /// "10100 entries: 100 copied, 10000 up to date, 0 failed; 2.0 GiB in 3.2 s (640 MiB/s, 3125 files/s)"
    pub fn line(&self) -> String {
        let n = self.copied + self.skipped + self.failed;
        let secs = self.secs.max(1e-9);
        format!(
            "{n} entries: {} copied, {} up to date, {} failed; {} in {:.2} s ({}/s, {:.0} entries/s)",
            self.copied,
            self.skipped,
            self.failed,
            BinaryBytes(self.bytes),
            self.secs,
            BinaryBytes((self.bytes as f64 / secs) as u64),
            n as f64 / secs
        )
    }
}

/// Live counters of one rank.
pub struct Progress {
    start: Instant,
    copied: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    entries: u64,
    bar: ProgressBar,
}

impl Progress {
    /// `bytes` and `entries`: this rank's share. The bar shows only on a terminal.
    pub fn new(bytes: u64, entries: u64, show: bool) -> Progress {
        let bar = if show { ProgressBar::new(bytes) } else { ProgressBar::hidden() };
        if let Ok(style) = ProgressStyle::with_template(
            "{binary_bytes}/{binary_total_bytes} {wide_bar} {binary_bytes_per_sec} {msg} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            start: Instant::now(),
            copied: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            entries,
            bar,
        }
    }

    /// `n` bytes written.
    pub fn wrote(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.bar.inc(n);
    }

    /// `n` bytes of the share that need no copy (up to date, or failed): the bar moves on.
    pub fn passed(&self, n: u64) {
        self.bar.inc(n);
    }

    pub fn copied(&self) {
        self.done(&self.copied);
    }

    pub fn skipped(&self) {
        self.done(&self.skipped);
    }

    pub fn failed(&self) {
        self.done(&self.failed);
    }

    fn done(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        let n = [&self.copied, &self.skipped, &self.failed].iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>();
        self.bar.set_message(format!("{n}/{} entries", self.entries));
    }

    /// Prints a line above the bar (or on stderr when there is none).
    pub fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Removes the bar; the counts so far.
    pub fn finish(&self) -> Totals {
        self.bar.finish_and_clear();
        Totals {
            copied: self.copied.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            secs: self.start.elapsed().as_secs_f64(),
        }
    }
}
