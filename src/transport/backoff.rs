//! Exponential backoff with jitter, for retries that many clients may make at once.
//!
//! When a whole job starts, thousands of processes connect to the same servers in the
//! same millisecond; a server at its connection limit or with a full accept queue turns
//! some away. Retrying after a fixed pause brings them back in the same millisecond
//! again; a random pause in [base/2, base) that doubles per try spreads them out.

use std::time::{Duration, Instant};

use rand::Rng;

#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    tries_left: u32,
    deadline: Instant,
}

impl Backoff {
    /// At most `tries` pauses, starting near `first` and doubling up to `max`, none
    /// ending after `deadline`.
    pub fn new(first: Duration, max: Duration, tries: u32, deadline: Instant) -> Backoff {
        Backoff { base: first, max, tries_left: tries, deadline }
    }

    /// The next pause, or `None` when the tries or the time are used up.
    pub fn next_pause(&mut self) -> Option<Duration> {
        if self.tries_left == 0 {
            return None;
        }
        let half = self.base / 2;
        let pause = half + rand::rng().random_range(Duration::ZERO..=half);
        if Instant::now() + pause >= self.deadline {
            return None;
        }
        self.tries_left -= 1;
        self.base = (self.base * 2).min(self.max);
        Some(pause)
    }

    /// Sleeps for the next pause; false (at once) when there is none.
    pub async fn wait(&mut self) -> bool {
        match self.next_pause() {
            Some(p) => {
                tokio::time::sleep(p).await;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_stay_jittered_and_stop() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(20), ms(100), 5, Instant::now() + Duration::from_secs(60));
        let pauses: Vec<_> = std::iter::from_fn(|| b.next_pause()).collect();
        assert_eq!(pauses.len(), 5);
        for (p, base) in pauses.iter().zip([20, 40, 80, 100, 100]) {
            assert!(*p >= ms(base / 2) && *p <= ms(base), "{p:?} outside [{}, {base}] ms", base / 2);
        }
        // Two clients retrying together do not keep colliding.
        let mut a = Backoff::new(ms(1000), ms(1000), 64, Instant::now() + Duration::from_secs(3600));
        let first: Vec<_> = (0..64).filter_map(|_| a.next_pause()).collect();
        assert!(first.windows(2).any(|w| w[0] != w[1]), "no jitter in {first:?}");
    }

    #[test]
    fn no_pause_past_the_deadline() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(2), 5, Instant::now());
        assert_eq!(b.next_pause(), None);
    }
}
