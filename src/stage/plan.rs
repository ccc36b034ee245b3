//! What to copy: the source walked into entries (sorted, so every rank that walks the
//! same tree gets the same list), cut into units (a whole small file, or a chunk-aligned
//! range of a large one), and each rank's share of the units.

use std::collections::{BTreeMap, HashMap};

use futures::stream::{self, StreamExt};

use super::tree::{Kind, Meta, Tree};
use super::StageError;

/// Bytes of one unit of a large file: big enough to keep every server busy with a few
/// units in flight, small enough that a large file spreads over many tasks and ranks.
pub const RANGE: u64 = 16 << 20;

/// What a unit costs besides its bytes when shares are balanced: the round trips of
/// creating a file or link, counted as this many bytes.
const PER_ENTRY_COST: u64 = 64 << 10;

/// One thing to copy: `src` below the source root becomes `dst` below the destination root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub src: String,
    pub dst: String,
    pub meta: Meta,
}

/// A piece of work: all of a directory, link or small file, or `len` bytes at `off` of a
/// large file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    pub entry: usize,
    pub off: u64,
    pub len: u64,
}

/// Walks each root (`(src, dst)`, relative to the trees' roots) and everything below the
/// directories among them, `jobs` listings at a time. Returns the entries sorted by
/// destination (one per destination) and what could not be read.
pub async fn walk<S: Tree>(src: &S, roots: Vec<(String, String)>, jobs: usize) -> (Vec<Entry>, Vec<StageError>) {
    let mut found: BTreeMap<String, Entry> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut dirs = Vec::new();
    for (s, d) in roots {
        match src.stat(&s).await {
            Ok(Some(meta)) => {
                if meta.kind == Kind::Dir {
                    dirs.push((s.clone(), d.clone()));
                }
                found.insert(d.clone(), Entry { src: s, dst: d, meta });
            }
            Ok(None) => errors.push(StageError::Copy { path: src.name(&s), what: "no such file or directory".into() }),
            Err(e) => errors.push(e),
        }
    }
    // Breadth first, one level at a time, many directories listed at once.
    while !dirs.is_empty() {
        let listed: Vec<_> = stream::iter(dirs.drain(..))
            .map(|(s, d)| async move { (src.list(&s).await, s, d) })
            .buffer_unordered(jobs.max(1))
            .collect()
            .await;
        for (r, s, d) in listed {
            let (entries, partial) = match r {
                Ok(r) => r,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            errors.extend(partial);
            for (name, meta) in entries {
                let (cs, cd) = (child(&s, &name), child(&d, &name));
                if meta.kind == Kind::Dir {
                    dirs.push((cs.clone(), cd.clone()));
                }
                found.insert(cd.clone(), Entry { src: cs, dst: cd, meta });
            }
        }
    }
    (found.into_values().collect(), errors)
}

fn child(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Hard links: each further name of a file with several (by [`Meta::link_id`]) and the
/// entry of its first name, in destination order. Only the first name is copied; the
/// others are linked to its copy in the last step of the run.
pub fn hard_links(entries: &[Entry]) -> HashMap<usize, usize> {
    let mut first: HashMap<u128, usize> = HashMap::new();
    let mut links = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let Some(id) = e.meta.link_id.filter(|_| e.meta.kind == Kind::File) {
            let l = *first.entry(id).or_insert(i);
            if l != i {
                links.insert(i, l);
            }
        }
    }
    links
}

/// The units of `entries`: files larger than a range are cut into ranges of [`RANGE`]
/// rounded up to a multiple of `align` (and of the file's own chunk size), so that no
/// chunk is written by two units. Further names of a file ([`hard_links`]) have none.
pub fn units(entries: &[Entry], align: u64) -> Vec<Unit> {
    let links = hard_links(entries);
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate().filter(|(i, _)| !links.contains_key(i)) {
        let a = align.max(e.meta.chunk).max(1);
        let range = RANGE.div_ceil(a) * a;
        if e.meta.kind != Kind::File || e.meta.size <= range {
            out.push(Unit { entry: i, off: 0, len: e.meta.size });
            continue;
        }
        let mut off = 0;
        while off < e.meta.size {
            let len = range.min(e.meta.size - off);
            out.push(Unit { entry: i, off, len });
            off += len;
        }
    }
    out
}

/// The rank (of `ranks`) that copies each unit: units in order, cut into `ranks`
/// contiguous runs of about equal cost (bytes plus [`PER_ENTRY_COST`] per unit), so
/// neighbours (files of one directory, ranges of one file) mostly stay together.
pub fn owners(units: &[Unit], ranks: usize) -> Vec<usize> {
    let ranks = ranks.max(1) as u128;
    let cost = |u: &Unit| u128::from(u.len) + u128::from(PER_ENTRY_COST);
    let total: u128 = units.iter().map(cost).sum::<u128>().max(1);
    let mut before = 0u128;
    units
        .iter()
        .map(|u| {
            // The rank whose run holds this unit's midpoint.
            let mid = before + cost(u) / 2;
            before += cost(u);
            usize::try_from(mid * ranks / total).unwrap_or(0)
        })
        .collect()
}

/// A digest of the entries, compared across ranks: ranks that walked different trees (the
/// source changed meanwhile) would split the work wrongly, and rank 0 says so.
pub fn digest(entries: &[Entry]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for e in entries {
        h.update(e.dst.as_bytes());
        h.update(&[0]);
        h.update(&e.meta.size.to_le_bytes());
        h.update(&e.meta.mtime.0.to_le_bytes());
        h.update(&e.meta.mtime.1.to_le_bytes());
    }
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> Entry {
        let meta = Meta {
            kind: Kind::File,
            size,
            mode: 0o644,
            atime: (0, 0),
            mtime: (0, 0),
            target: None,
            chunk: 0,
            link_id: None,
        };
        Entry { src: String::new(), dst: String::new(), meta }
    }

    #[test]
    fn large_files_split_into_chunk_aligned_ranges() {
        let us = units(&[file(5), file(RANGE * 2 + 1)], 3 << 20);
        let range = RANGE.div_ceil(3 << 20) * (3 << 20);
        assert_eq!(us[0], Unit { entry: 0, off: 0, len: 5 });
        assert_eq!(us[1], Unit { entry: 1, off: 0, len: range });
        assert_eq!(us[2], Unit { entry: 1, off: range, len: RANGE * 2 + 1 - range });
        assert_eq!(us.len(), 3);
        assert!(us.iter().all(|u| u.off % (3 << 20) == 0));
    }

    #[test]
    fn shares_are_contiguous_balanced_and_cover_every_unit() {
        let entries: Vec<Entry> = (0..100).map(|i| file(if i == 7 { 400 << 20 } else { 1 << 20 })).collect();
        let us = units(&entries, 1 << 20);
        for ranks in [1, 2, 3, 16] {
            let o = owners(&us, ranks);
            assert!(o.windows(2).all(|w| w[0] <= w[1]), "runs are contiguous");
            assert!(o.iter().all(|&r| r < ranks));
            let mut bytes = vec![0u64; ranks];
            us.iter().zip(&o).for_each(|(u, &r)| bytes[r] += u.len);
            let (min, max) = (bytes.iter().min().unwrap(), bytes.iter().max().unwrap());
            assert!(max - min <= 2 * RANGE + 4 * PER_ENTRY_COST, "{ranks} ranks: {bytes:?}");
        }
        assert!(owners(&[], 4).is_empty());
    }
}
