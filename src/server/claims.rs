//! Per-path claims: a multi-step change of one record (a rename: copy to the new owner,
//! then remove here) excludes every other change of that record while it runs. A claim
//! lives on the record's owner, the only server that changes it, so a local set is enough.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Default)]
pub struct Claims {
    /// Paths claimed now. A std mutex: never held across an `.await`.
    held: Mutex<HashSet<String>>,
    released: Notify,
}

/// Releases its path when dropped (borrowing it: one allocation per claim, the set's).
pub struct Claim<'a> {
    claims: &'a Claims,
    path: &'a str,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.claims.held.lock().unwrap_or_else(|p| p.into_inner()).remove(self.path);
        self.claims.released.notify_waiters();
    }
}

impl Claims {
    /// Waits until no one else holds `path`, then holds it.
    pub async fn claim<'a>(&'a self, path: &'a str) -> Claim<'a> {
        loop {
            // Registered before the check, so a release in between still wakes us.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.held.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_string()) {
                return Claim { claims: self, path };
            }
            released.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn second_claim_waits_for_the_first() {
        let c = Arc::new(Claims::default());
        let first = c.claim("/a").await;
        let other = c.claim("/b").await; // another path is independent
        let c2 = c.clone();
        let waiter = tokio::spawn(async move {
            let _g = c2.claim("/a").await;
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(first);
        waiter.await.unwrap();
        drop(other);
    }
}
