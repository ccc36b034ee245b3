//! Reading a whole file back through the client, as the tests that check contents do.

use benchfs::{Client, OpenOptions};

/// The file's bytes: open, then read up to the size open saw (short at an early end).
pub async fn whole(c: &Client, path: &str) -> benchfs::Result<Vec<u8>> {
    let f = c.open(path, &OpenOptions::default()).await?;
    let mut buf = vec![0u8; f.size() as usize];
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], n as u64).await? {
            0 => break,
            k => n += k,
        }
    }
    buf.truncate(n);
    Ok(buf)
}
