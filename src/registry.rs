//! The registry directory: each server writes its address there; clients list it.
//!
//! One file per server, written to a temporary name and renamed so a reader never sees
//! half an entry (the directory may be on NFS). The address is in the file's *name*
//! (`server-` and the address with `%`, `/` and `:` escaped as `%XX`), so a client
//! reads the whole list with one directory listing: with 1,000 servers and every rank
//! of a job reading the registry, one open per entry would be millions of metadata
//! requests to the shared file system. The file also holds the address, for people and
//! for names written before the escaping (`server-HOST_PORT`), which are read as before.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

const PREFIX: &str = "server-";
/// The cluster's size, when its servers were told it (`benchfsd --expect N`).
const EXPECT_FILE: &str = "expect";
/// How often a client waiting for the rest of the servers lists the registry again.
const WAIT_POLL: Duration = Duration::from_millis(100);

fn file_name(addr: &str) -> String {
    let mut name = String::from(PREFIX);
    for c in addr.chars() {
        match c {
            '%' | '/' | ':' => name.push_str(&format!("%{:02X}", u32::from(c))),
            c => name.push(c),
        }
    }
    name
}

/// The address a file name carries, or `None` for a name without escapes (an older
/// server's entry: its file must be read).
fn addr_of(name: &str) -> Option<String> {
    let escaped = name.strip_prefix(PREFIX).filter(|n| n.contains('%'))?;
    let mut out = String::new();
    let mut rest = escaped;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())?;
        out.push(char::from(code));
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// Announces `addr` in `dir` (created if missing).
pub fn register(dir: &Path, addr: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = file_name(addr);
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, dir.join(name))
}

/// Writes the cluster's size `n` into `dir` (before the server registers, so a client
/// that sees its entry also sees the size). Every server of a job writes the same
/// number; one that finds another is refused, since their rings could never agree.
pub fn announce_expected(dir: &Path, n: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let f = dir.join(EXPECT_FILE);
    match std::fs::read_to_string(&f) {
        Ok(t) if t.trim().parse::<usize>().ok() == Some(n) => return Ok(()),
        Ok(t) => {
            return Err(std::io::Error::other(format!(
                "{} says the cluster has {} servers; --expect says {n}",
                f.display(),
                t.trim()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let tmp = dir.join(format!(".{EXPECT_FILE}.tmp.{}", std::process::id()));
    std::fs::write(&tmp, format!("{n}\n"))?;
    std::fs::rename(&tmp, f)
}

/// The cluster's size written by [`announce_expected`], if its servers were told one.
pub fn expected(dir: &Path) -> Result<Option<usize>> {
    let f = dir.join(EXPECT_FILE);
    match std::fs::read_to_string(&f) {
        Ok(t) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::Config(format!("{}: {:?} is not a number of servers", f.display(), t.trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Config(format!("{}: {e}", f.display()))),
    }
}

/// [`read`], but when the servers announced the cluster's size, only once that many
/// registered: a ring formed from fewer would leave the rest out for good. Meanwhile it
/// says on stderr "waiting for K of N servers" (each time K changes) and gives up after
/// `timeout` with the same words.
pub fn read_all_expected(dir: &Path, timeout: Duration) -> Result<Vec<String>> {
    let Some(n) = expected(dir)? else { return read(dir) };
    let deadline = Instant::now() + timeout;
    let mut said = None;
    loop {
        let found = match read(dir) {
            Ok(list) if list.len() >= n => return Ok(list),
            Ok(list) => list.len(),
            Err(_) if dir.is_dir() => 0,
            Err(e) => return Err(e),
        };
        let waiting = format!("waiting for {found} of {n} servers (registered in {})", dir.display());
        if Instant::now() >= deadline {
            return Err(Error::Membership(format!("{waiting}: gave up after {timeout:?}")));
        }
        if said != Some(found) {
            eprintln!("benchfs: {waiting}");
            said = Some(found);
        }
        std::thread::sleep(WAIT_POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Removes `addr` from `dir` (clean shutdown).
pub fn unregister(dir: &Path, addr: &str) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(file_name(addr))) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Lists the addresses registered in `dir`, sorted and without duplicates.
pub fn read(dir: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::Config(format!("registry {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::Config(format!("registry {}: {e}", dir.display())))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if !name.starts_with(PREFIX) {
            continue;
        }
        if let Some(addr) = addr_of(&name) {
            out.push(addr);
            continue;
        }
        let text = std::fs::read_to_string(ent.path())
            .map_err(|e| Error::Config(format!("registry {}: {e}", ent.path().display())))?;
        let addr = text.trim();
        if !addr.is_empty() {
            out.push(addr.to_string());
        }
    }
    if out.is_empty() {
        return Err(Error::Config(format!("registry {} lists no servers", dir.display())));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_address() {
        for a in ["127.0.0.1:7070", "[::1]:7070", "node-1.cluster:70", "odd%host/x:1"] {
            assert_eq!(addr_of(&file_name(a)).as_deref(), Some(a));
        }
        assert_eq!(addr_of("server-127.0.0.1_7070"), None);
        assert_eq!(addr_of("server-bad%4"), None);
    }

    #[test]
    fn a_thousand_entries_and_older_ones_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let addrs: Vec<String> = (0..1000).map(|i| format!("10.0.{}.{}:7070", i / 256, i % 256)).collect();
        for a in &addrs {
            register(dir.path(), a).unwrap();
        }
        // An entry as servers wrote them before names carried the address.
        std::fs::write(dir.path().join("server-10.9.9.9_7070"), "10.9.9.9:7070\n").unwrap();
        std::fs::write(dir.path().join("secret"), "not an entry").unwrap();
        let mut want = addrs.clone();
        want.push("10.9.9.9:7070".into());
        want.sort();
        assert_eq!(read(dir.path()).unwrap(), want);
        unregister(dir.path(), &addrs[0]).unwrap();
        assert_eq!(read(dir.path()).unwrap().len(), 1000);
    }

    #[test]
    fn an_expected_size_is_waited_for_and_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        register(dir.path(), "h:1").unwrap();
        // Without a size, whatever registered is the list.
        assert_eq!(read_all_expected(dir.path(), Duration::ZERO).unwrap(), ["h:1"]);
        announce_expected(dir.path(), 2).unwrap();
        announce_expected(dir.path(), 2).unwrap();
        assert!(announce_expected(dir.path(), 3).is_err(), "a second size was accepted");
        let e = read_all_expected(dir.path(), Duration::from_millis(50)).unwrap_err();
        assert!(e.to_string().contains("waiting for 1 of 2 servers"), "{e}");
        register(dir.path(), "h:2").unwrap();
        assert_eq!(read_all_expected(dir.path(), Duration::ZERO).unwrap(), ["h:1", "h:2"]);
    }
}
