//! Deterministic test data, so a failure can be reproduced from its seed.

/// `len` pseudo-random bytes from `seed` (xorshift), fast enough for hundreds of MiB.
/// Seeds are mixed first, so neighbouring seeds give unrelated data.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}
