//! The states the cluster may be in, as far as its answers so far tell: one model state
//! while every operation answered clearly, more after an operation whose request or
//! reply a fault lost (it may or may not have happened) or two operations that ran at
//! once (either may have gone first). Every later answer keeps only the states that
//! explain it; none left is a divergence.

use crate::model::{allowed, Model, Outcome, Want};
use crate::ops::Op;

/// More states than this are cut (the oldest kept): a bound on the work per step. A
/// divergence found with a cut set is still one the full set might explain, so the
/// report says when the set was cut.
pub const MAX_CANDIDATES: usize = 16;

/// An operation's answer: what it returned, and whether a fault may have lost its
/// request or reply (an error of the transport's kind while faults were active).
#[derive(Debug, Clone)]
pub struct Answer {
    pub op: Op,
    pub got: Outcome,
    pub ambiguous: bool,
    /// A fault was on while it ran (whatever it answered).
    pub faulty: bool,
}

#[derive(Debug, Clone)]
pub struct Candidates {
    states: Vec<Model>,
    /// Whether the bound ever cut the set.
    pub cut: bool,
}

/// The start: one state, the empty file system.
impl Default for Candidates {
    fn default() -> Candidates {
        Candidates { states: vec![Model::default()], cut: false }
    }
}

impl Candidates {
    /// One state, for generating operations that fit: the first (all agree on the names
    /// most of the time; an operation that fits none still runs and is checked).
    pub fn any(&self) -> &Model {
        &self.states[0]
    }

    /// Keeps the states that explain `answers`, applied in this order; on a divergence
    /// leaves the set as it was and returns what the states allowed instead.
    pub fn observe(&mut self, answers: &[Answer]) -> Result<(), Vec<Want>> {
        self.observe_orders(&[answers.to_vec()])
    }

    /// Keeps the states that explain the answers in any one of `orders` (each order the
    /// same answers serialised differently): two operations that ran at once.
    pub fn observe_orders(&mut self, orders: &[Vec<Answer>]) -> Result<(), Vec<Want>> {
        let mut next = Vec::new();
        let mut wanted = Vec::new();
        for order in orders {
            let mut states = self.states.clone();
            for a in order {
                states = states.into_iter().flat_map(|s| explain(s, a, &mut wanted)).collect();
            }
            next.extend(states);
        }
        dedup(&mut next);
        if next.is_empty() {
            dedup(&mut wanted);
            return Err(wanted);
        }
        self.cut |= next.len() > MAX_CANDIDATES;
        next.truncate(MAX_CANDIDATES);
        self.states = next;
        Ok(())
    }

    /// Applies `f` to every state (an event that changes what the model allows).
    pub fn each(&mut self, f: impl Fn(&mut Model)) {
        self.states.iter_mut().for_each(f);
    }

    pub fn count(&self) -> usize {
        self.states.len()
    }
}

/// The states after `a` that start from `s`: `s` with the operation applied when that
/// gives its answer; with an ambiguous answer also `s` with it lost before or after it
/// took effect. What `s` wanted instead goes to `wanted`.
fn explain(mut s: Model, a: &Answer, wanted: &mut Vec<Want>) -> Vec<Model> {
    if a.faulty {
        s.faulted(&a.op);
    }
    let mut out = Vec::new();
    let mut applied = s.clone();
    let want = applied.apply(&a.op);
    if allowed(&want, &a.got, &a.op) {
        out.push(applied);
    } else {
        wanted.push(want);
    }
    if a.ambiguous {
        for done in [false, true] {
            let mut lost = s.clone();
            lost.lost(&a.op, done);
            out.push(lost);
        }
    }
    out
}

fn dedup<T: PartialEq>(v: &mut Vec<T>) {
    let mut kept: Vec<T> = Vec::with_capacity(v.len());
    for x in v.drain(..) {
        if !kept.contains(&x) {
            kept.push(x);
        }
    }
    *v = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(op: Op, got: Outcome, ambiguous: bool) -> Answer {
        Answer { op, got, ambiguous, faulty: ambiguous }
    }

    const OK: Outcome = Ok(String::new());

    /// The model must still fail: a clear answer that no state explains diverges, and an
    /// ambiguous one keeps both states only until an answer picks one.
    #[test]
    fn wrong_answers_diverge() {
        let mut c = Candidates::default();
        c.observe(&[answer(Op::Create(0, 0), OK, false)]).unwrap();
        // The file exists: a clear ENOENT from a stat is a divergence.
        assert!(c.observe(&[answer(Op::Stat(0, 0), Err(libc::ENOENT), false)]).is_err());
        // A create lost to a fault may or may not have happened...
        c.observe(&[answer(Op::Create(0, 1), Err(libc::EIO), true)]).unwrap();
        assert_eq!(c.count(), 2);
        // ...a stat says it did not; then a create that finds it there diverges.
        c.observe(&[answer(Op::Stat(0, 1), Err(libc::ENOENT), false)]).unwrap();
        assert_eq!(c.count(), 1);
        assert!(c.observe(&[answer(Op::Create(0, 1), Err(libc::EEXIST), false)]).is_err());
        // The same error, not marked ambiguous (no fault was active), diverges at once.
        assert!(c.observe(&[answer(Op::Unlink(0, 0), Err(libc::EIO), false)]).is_err());
    }

    /// Two operations at once: either order explains, a result of neither diverges.
    #[test]
    fn either_order_of_a_pair() {
        let both = |a: Outcome, b: Outcome| {
            let (x, y) = (answer(Op::Mkdir(0, 2), a, false), answer(Op::Create(1, 3), b, false));
            vec![vec![x.clone(), y.clone()], vec![y, x]]
        };
        let mut c = Candidates::default();
        // mkdir /d and create /d/a at once: create first finds no /d (ENOENT).
        c.observe_orders(&both(OK, Err(libc::ENOENT))).unwrap();
        let mut c2 = Candidates::default();
        c2.observe_orders(&both(OK, OK)).unwrap();
        // Neither order lets the mkdir fail with EEXIST.
        let mut c3 = Candidates::default();
        assert!(c3.observe_orders(&both(Err(libc::EEXIST), OK)).is_err());
    }
}
