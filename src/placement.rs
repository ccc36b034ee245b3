//! Consistent-hash ring with virtual nodes: who owns a path's metadata and who
//! owns chunk `k` of file `F`.
//!
//! Every client builds the same ring from the same (sorted) server list, so no
//! lookup service is needed. Servers are identified by their address string.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::meta::FileId;

/// Virtual nodes per server. 256 keeps the most loaded of 8 servers within
/// ~1.2x its fair share of 10^4 chunks (see the test below).
pub const VNODES: u32 = 256;

/// The hash of chunk `index` of file `fid`: xxh3 of the file id (16 bytes LE) then the
/// index (8 bytes LE). Servers reuse it to spread chunks over their lock stripes.
pub fn chunk_hash(fid: FileId, index: u64) -> u64 {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&fid.to_le_bytes());
    key[16..].copy_from_slice(&index.to_le_bytes());
    xxh3_64(&key)
}

/// The identity of a member list: xxh3 of the addresses in ring order, one per line.
/// Clients and servers compare it at connect time (see [`crate::transport::tcp`]).
pub fn members_hash<S: AsRef<str>>(servers: &[S]) -> u64 {
    let mut all = Vec::new();
    for s in servers {
        all.extend_from_slice(s.as_ref().as_bytes());
        all.push(b'\n');
    }
    xxh3_64(&all)
}

#[derive(Debug, Clone)]
pub struct Ring {
    /// (point, server index), sorted by point.
    points: Vec<(u64, usize)>,
    servers: usize,
}

impl Ring {
    /// Builds the ring; `servers` must be non-empty and in the cluster's agreed order.
    pub fn new<S: AsRef<str>>(servers: &[S]) -> Ring {
        let mut points = Vec::with_capacity(servers.len() * VNODES as usize);
        for (i, s) in servers.iter().enumerate() {
            for v in 0..VNODES {
                points.push((xxh3_64_with_seed(s.as_ref().as_bytes(), u64::from(v)), i));
            }
        }
        points.sort_unstable();
        Ring { points, servers: servers.len() }
    }

    pub fn len(&self) -> usize {
        self.servers
    }

    pub fn is_empty(&self) -> bool {
        self.servers == 0
    }

    fn owner_of_hash(&self, h: u64) -> usize {
        if self.servers == 1 {
            return 0;
        }
        let i = self.points.partition_point(|&(p, _)| p < h);
        self.points.get(i).or(self.points.first()).map_or(0, |&(_, s)| s)
    }

    /// Server holding the metadata record of a canonical path.
    pub fn meta_owner(&self, path: &str) -> usize {
        self.owner_of_hash(xxh3_64(path.as_bytes()))
    }

    /// Server holding the inode record of a hard-linked file (see [`crate::meta::Attr::linked`]):
    /// placed like a chunk that no file has (index `u64::MAX` is past any file size).
    pub fn inode_owner(&self, fid: FileId) -> usize {
        self.chunk_owner(fid, u64::MAX)
    }

    /// Server holding chunk `index` of file `fid`.
    pub fn chunk_owner(&self, fid: FileId, index: u64) -> usize {
        self.owner_of_hash(chunk_hash(fid, index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{}:7070", i + 1)).collect()
    }

    #[test]
    fn chunks_spread_evenly_over_8_servers() {
        let ring = Ring::new(&servers(8));
        let mut counts = [0usize; 8];
        for f in 0..100u128 {
            let fid = f.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            for k in 0..100 {
                counts[ring.chunk_owner(fid, k)] += 1;
            }
        }
        let fair = 10_000 / 8;
        let max = *counts.iter().max().unwrap();
        let min = *counts.iter().min().unwrap();
        assert!(max * 2 <= fair * 3, "most loaded server has {max} chunks, fair share {fair}: {counts:?}");
        assert!(min * 2 >= fair, "least loaded server has {min} chunks: {counts:?}");
    }

    #[test]
    fn one_large_file_touches_every_server() {
        let ring = Ring::new(&servers(4));
        let mut seen = [false; 4];
        for k in 0..256 {
            seen[ring.chunk_owner(42, k)] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn adding_a_server_moves_few_keys() {
        let a = Ring::new(&servers(4));
        let b = Ring::new(&servers(5));
        let moved = (0..10_000).filter(|i| a.meta_owner(&format!("/f{i}")) != b.meta_owner(&format!("/f{i}"))).count();
        // Ideal is 1/5 of the keys; a modulo hash would move 4/5.
        assert!(moved < 3_000, "{moved} of 10000 keys moved");
    }

    #[test]
    fn single_server_owns_everything() {
        let ring = Ring::new(&servers(1));
        assert_eq!(ring.meta_owner("/x"), 0);
        assert_eq!(ring.chunk_owner(7, 9), 0);
    }
}
