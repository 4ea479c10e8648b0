//! Gathering the jobs of one group commit.
//!
//! The writer takes every job already queued, so under load one fsync carries the jobs of every
//! session that wrote meanwhile, and a lone writer is never kept waiting. Once commits got cheap
//! (see [`crate::vfs`]) that alone left two mails per fsync at 20 sessions, and each commit's
//! fixed cost (locks, the WAL index, the fsync and ext4's journal commit behind it) was paid
//! again and again. So a group that records a delivery also waits a little (at most
//! [`GROUP_WAIT`]) for the other deliveries in flight — journaled, not yet recorded: their
//! sessions are relaying and will be back within a round trip to the upstream. Journal writes
//! are never held back: one that comes while a group waits is committed at once.
//!
//! Measured (`benches/smtp-ab.sh` against a build without the wait; fsyncs counted with
//! `strace -f -e trace=fsync`, 2,000 mails): mails per fsync at 20 sessions 2.0 → 4.2–4.3 with
//! a 4 ms bound (3.7–4.0 with 3 ms, 4.6 with 5 ms); throughput within the machine's noise at 5
//! and 20 sessions (B/A 0.99–1.12 at 5). A 5 ms bound cost 4–13% at 5 sessions, and waiting
//! only when four or more deliveries were in flight (as PostgreSQL's `commit_siblings` does)
//! gave up most of the grouping.

use std::sync::mpsc;
use std::time::Instant;

/// Most jobs grouped into one commit.
pub(crate) const MAX_GROUP: usize = 256;

/// Most raw-message bytes grouped into one commit (beyond one job).
pub(crate) const MAX_GROUP_BYTES: usize = 64 * 1024 * 1024;

/// What gathering needs to know of a job (the writer's `Job` says it; the gathering knows
/// nothing else of writes).
pub(crate) trait Gathered {
    /// Raw-message bytes it carries.
    fn bytes(&self) -> usize;
    /// Whether its caller relies on it surviving a power loss once answered (it then waits for
    /// the group's fsync).
    fn durable(&self) -> bool;
    /// What it does to the delivery journal.
    fn journal(&self) -> Journal;
}

/// A job's part in the delivery journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Journal {
    /// Entries it writes (a delivery about to be relayed).
    pub puts: usize,
    /// Entries it clears, recorded or not.
    pub drops: usize,
    /// Deliveries it records (clearing their entries in the same transaction).
    pub recorded: usize,
}

/// Gathers a group starting with `first`: every job already queued, then, when it records a
/// delivery and others are in flight, those that come within [`GROUP_WAIT`] (see [`company`]).
/// Journal writes go to `commit_quick` at once — those already queued before any wait, the
/// others as they come — so the group holds only durable jobs and a session about to relay
/// never waits for a group's company or its fsync. `in_flight` counts everything gathered (the
/// group is committed next).
pub(crate) fn gather<J: Gathered>(
    first: J,
    rx: &mpsc::Receiver<J>,
    in_flight: &mut InFlight,
    mut commit_quick: impl FnMut(Vec<J>),
) -> Group<J> {
    let mut group = Group::new();
    group.push(first);
    while group.has_room() {
        match rx.try_recv() {
            Ok(j) => group.push(j),
            Err(_) => break,
        }
    }
    let quick = group.take_journal_writes();
    if !quick.is_empty() {
        in_flight.count(&quick);
        commit_quick(quick);
    }
    keep_company(&mut group, rx, in_flight, commit_quick);
    in_flight.count(&group.jobs);
    group
}

/// The waiting part of [`gather`]: takes the durable jobs that come within [`GROUP_WAIT`] until
/// the group holds as many deliveries as [`company`] says, and hands journal writes to
/// `commit_quick` as they come.
fn keep_company<J: Gathered>(
    group: &mut Group<J>,
    rx: &mpsc::Receiver<J>,
    in_flight: &mut InFlight,
    mut commit_quick: impl FnMut(Vec<J>),
) {
    let want = company(group.recorded, in_flight.beyond(group));
    let deadline = Instant::now() + GROUP_WAIT;
    while group.recorded < want && group.has_room() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(j) if j.durable() => group.push(j),
            Ok(j) => {
                let mut quick = vec![j];
                while let Ok(j) = rx.try_recv() {
                    if j.durable() {
                        group.push(j);
                    } else {
                        quick.push(j);
                    }
                }
                in_flight.count(&quick);
                commit_quick(quick);
            }
            Err(_) => break,
        }
    }
}

/// Longest a group waits for the deliveries in flight to join it.
pub(crate) const GROUP_WAIT: std::time::Duration = std::time::Duration::from_millis(4);

/// Deliveries a group gathers (waiting at most [`GROUP_WAIT`]) while others are in flight.
const GROUP_TARGET: usize = 8;

/// How many recorded deliveries a group holding `recorded` should gather (waiting at most
/// [`GROUP_WAIT`]) when `coming` other deliveries are in flight: all of them, up to
/// [`GROUP_TARGET`]. Only a group that records a delivery waits: any other write (a block of
/// DR numbers, a setting) may come from a session whose own delivery is the one in flight, and
/// would wait for itself. A lone delivery waits for nobody. No wait: `recorded` back.
fn company(recorded: usize, coming: usize) -> usize {
    if recorded == 0 || coming == 0 {
        return recorded;
    }
    GROUP_TARGET.min(recorded + coming).max(recorded)
}

/// The jobs of one commit being gathered.
pub(crate) struct Group<J> {
    pub jobs: Vec<J>,
    bytes: usize,
    /// Jobs whose caller needs them fsynced.
    pub durable: usize,
    /// Deliveries it records.
    pub recorded: usize,
    /// Journal entries its jobs clear.
    drops: usize,
}

impl<J: Gathered> Group<J> {
    fn new() -> Self {
        Group {
            jobs: Vec::new(),
            bytes: 0,
            durable: 0,
            recorded: 0,
            drops: 0,
        }
    }

    fn push(&mut self, job: J) {
        let journal = job.journal();
        self.bytes += job.bytes();
        self.durable += usize::from(job.durable());
        self.recorded += journal.recorded;
        self.drops += journal.drops;
        self.jobs.push(job);
    }

    fn has_room(&self) -> bool {
        self.jobs.len() < MAX_GROUP && self.bytes < MAX_GROUP_BYTES
    }

    /// Takes the jobs that need no fsync out of the group, in their order.
    fn take_journal_writes(&mut self) -> Vec<J> {
        let all = std::mem::replace(self, Group::new());
        let mut quick = Vec::new();
        for j in all.jobs {
            if j.durable() {
                self.push(j);
            } else {
                quick.push(j);
            }
        }
        quick
    }
}

/// Deliveries journaled and not yet recorded or dropped, as the writer has seen their jobs go
/// by: each is a session between its journal entry and its recording, so a job of its own is
/// on the way. An estimate (a failed job still counts), used only to decide whether waiting
/// for company is worth it; it never goes below zero.
#[derive(Default)]
pub(crate) struct InFlight(usize);

impl InFlight {
    /// Updates the count with the jobs about to be committed.
    pub fn count<J: Gathered>(&mut self, jobs: &[J]) {
        // Summed first: a group's order is not the order its deliveries' journal entries came.
        let (puts, drops) = jobs.iter().fold((0, 0), |(p, d), j| {
            let Journal { puts, drops, .. } = j.journal();
            (p + puts, d + drops)
        });
        self.0 = (self.0 + puts).saturating_sub(drops);
    }

    /// Deliveries in flight whose jobs are not in `group`.
    pub fn beyond<J>(&self, group: &Group<J>) -> usize {
        self.0.saturating_sub(group.drops)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A job as the gathering sees it.
    #[derive(Debug)]
    enum J {
        /// A journal entry written (not durable).
        Put,
        /// A journal entry cleared without a recording (not durable).
        Drop,
        /// A delivery recorded, clearing its entry.
        Record,
        /// Any other durable write (a block of DR numbers, a setting).
        Other,
    }

    impl Gathered for J {
        fn bytes(&self) -> usize {
            0
        }
        fn durable(&self) -> bool {
            matches!(self, J::Record | J::Other)
        }
        fn journal(&self) -> Journal {
            match self {
                J::Put => Journal {
                    puts: 1,
                    ..Journal::default()
                },
                J::Drop => Journal {
                    drops: 1,
                    ..Journal::default()
                },
                J::Record => Journal {
                    drops: 1,
                    recorded: 1,
                    ..Journal::default()
                },
                J::Other => Journal::default(),
            }
        }
    }

    fn in_flight(n: usize) -> InFlight {
        let mut f = InFlight::default();
        f.count(&(0..n).map(|_| J::Put).collect::<Vec<_>>());
        f
    }

    #[test]
    fn a_group_waits_only_for_deliveries_in_flight_and_only_when_it_records_one() {
        // Alone, nothing to wait for.
        assert_eq!(company(1, 0), 1);
        // Nothing recorded (journal writes, a block of DR numbers asked for by a session whose
        // own delivery is the one in flight): no wait.
        assert_eq!(company(0, 5), 0);
        // Others in flight: wait for them all, up to the target.
        assert_eq!(company(1, 2), 3);
        assert_eq!(company(2, 100), GROUP_TARGET);
        // Already larger than the target: no wait.
        assert_eq!(company(GROUP_TARGET + 3, 4), GROUP_TARGET + 3);
    }

    #[test]
    fn deliveries_in_flight_are_journal_puts_not_yet_dropped() {
        let mut f = in_flight(3);
        assert_eq!(f.0, 3);
        // A group carrying the drop of one: two others are still coming.
        let mut g = Group::new();
        g.push(J::Drop);
        g.push(J::Other);
        assert_eq!(g.durable, 1);
        assert_eq!(g.recorded, 0, "neither records a delivery");
        assert_eq!(f.beyond(&g), 2);
        f.count(&g.jobs);
        assert_eq!(f.0, 2);
        // Drops of entries written before a restart never take the count below zero.
        f.count(&[J::Drop, J::Drop, J::Drop]);
        assert_eq!(f.0, 0);
    }

    #[test]
    fn a_lone_delivery_is_gathered_with_what_is_queued_and_nothing_is_held_back() {
        let (tx, rx) = mpsc::channel();
        tx.send(J::Record).unwrap();
        tx.send(J::Put).unwrap();
        let mut f = in_flight(1);
        let mut quick = Vec::new();
        let g = gather(J::Record, &rx, &mut f, |q| quick.push(q.len()));
        assert_eq!(g.jobs.len(), 2, "the queued recording joins the group");
        assert_eq!((g.durable, g.recorded), (2, 2));
        assert_eq!(
            quick,
            vec![1],
            "the queued journal write is committed on its own, never in the group"
        );
        // One put in flight before, one in the group; two recordings dropped: none left.
        assert_eq!(f.0, 0);
    }

    #[test]
    fn a_group_waiting_for_deliveries_in_flight_takes_them_and_commits_journal_writes_meanwhile() {
        // Three deliveries journaled; the group records one, so two are coming. What comes
        // meanwhile (here already queued, so nothing depends on timing): a journal write, then
        // recordings.
        let mut f = in_flight(3);
        let mut group = Group::new();
        group.push(J::Record);
        let (tx, rx) = mpsc::channel();
        for j in [J::Put, J::Record, J::Record, J::Record] {
            tx.send(j).unwrap();
        }
        let mut quick = Vec::new();
        keep_company(&mut group, &rx, &mut f, |q| quick.push(q));
        assert_eq!(
            quick.len(),
            1,
            "the journal write was committed on the side, at once"
        );
        assert!(quick[0].iter().all(|j| !j.durable()));
        assert_eq!(f.0, 4, "and counted in flight");
        // Everything that was there when the journal write came joined the group with it.
        assert_eq!(group.recorded, 4);
        assert!(
            group.jobs.iter().all(|j| j.durable()),
            "no journal write waits in a group"
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_group_stops_waiting_once_the_deliveries_in_flight_have_joined() {
        let mut f = in_flight(2);
        let mut group = Group::new();
        group.push(J::Record);
        let (tx, rx) = mpsc::channel();
        tx.send(J::Record).unwrap();
        tx.send(J::Record).unwrap();
        keep_company(&mut group, &rx, &mut f, |_| {
            panic!("nothing to commit aside")
        });
        assert_eq!(group.recorded, 2, "the one other delivery in flight joined");
        assert!(
            rx.try_recv().is_ok(),
            "the next one is left for the next group"
        );
    }
}
