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

use crate::writer::{Job, MAX_GROUP, MAX_GROUP_BYTES, WriteOp};

/// Gathers a group starting with `first`: every job already queued, then, when it records a
/// delivery and others are in flight, those that come within [`GROUP_WAIT`] (see [`company`]).
/// Journal writes that come during the wait go to `commit_quick` at once. `in_flight` counts
/// everything gathered (the group is committed next).
pub(crate) fn gather(
    first: Job,
    rx: &mpsc::Receiver<Job>,
    in_flight: &mut InFlight,
    commit_quick: impl FnMut(Vec<Job>),
) -> Group {
    let mut group = Group::default();
    group.push(first);
    while group.has_room() {
        match rx.try_recv() {
            Ok(j) => group.push(j),
            Err(_) => break,
        }
    }
    keep_company(&mut group, rx, in_flight, commit_quick);
    in_flight.count(&group.jobs);
    group
}

/// The waiting part of [`gather`]: takes the durable jobs that come within [`GROUP_WAIT`] until
/// the group holds as many deliveries as [`company`] says, and hands journal writes to
/// `commit_quick` as they come.
fn keep_company(
    group: &mut Group,
    rx: &mpsc::Receiver<Job>,
    in_flight: &mut InFlight,
    mut commit_quick: impl FnMut(Vec<Job>),
) {
    let want = company(group.recorded, in_flight.beyond(group));
    let deadline = Instant::now() + GROUP_WAIT;
    while group.recorded < want && group.has_room() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(j) if j.op.durable() => group.push(j),
            Ok(j) => {
                let mut quick = vec![j];
                while let Ok(j) = rx.try_recv() {
                    if j.op.durable() {
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
#[derive(Default)]
pub(crate) struct Group {
    pub jobs: Vec<Job>,
    bytes: usize,
    /// Jobs whose caller needs them fsynced.
    pub durable: usize,
    /// Deliveries it records (mail change sets that clear their journal entry).
    pub recorded: usize,
}

impl Group {
    fn push(&mut self, job: Job) {
        self.bytes += job.op.bytes();
        self.durable += usize::from(job.op.durable());
        if let WriteOp::Apply(sets, _) = &job.op {
            self.recorded += sets.iter().filter(|c| c.pending.is_some()).count();
        }
        self.jobs.push(job);
    }

    fn has_room(&self) -> bool {
        self.jobs.len() < MAX_GROUP && self.bytes < MAX_GROUP_BYTES
    }
}

/// Deliveries journaled and not yet recorded or dropped, as the writer has seen their jobs go
/// by: each is a session between its journal entry and its recording, so a job of its own is
/// on the way. An estimate (a failed job still counts), used only to decide whether waiting
/// for company is worth it; it never goes below zero.
#[derive(Default)]
pub(crate) struct InFlight(usize);

impl InFlight {
    /// Puts and drops of the delivery journal in `jobs`.
    fn journal(jobs: &[Job]) -> (usize, usize) {
        jobs.iter().fold((0, 0), |(puts, drops), j| match &j.op {
            WriteOp::PutPending(_) => (puts + 1, drops),
            WriteOp::DropPending(_) => (puts, drops + 1),
            WriteOp::Apply(sets, _) => (
                puts,
                drops + sets.iter().filter(|c| c.pending.is_some()).count(),
            ),
            _ => (puts, drops),
        })
    }

    /// Updates the count with the jobs about to be committed.
    pub fn count(&mut self, jobs: &[Job]) {
        let (puts, drops) = Self::journal(jobs);
        self.0 = (self.0 + puts).saturating_sub(drops);
    }

    /// Deliveries in flight whose jobs are not in `group`.
    pub fn beyond(&self, group: &Group) -> usize {
        self.0.saturating_sub(Self::journal(&group.jobs).1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use etraq_core::store::PendingDelivery;
    use tokio::sync::oneshot;

    fn job(op: WriteOp) -> Job {
        let (reply, _) = oneshot::channel();
        Job { op, reply }
    }

    fn put() -> Job {
        job(WriteOp::PutPending(Box::new(PendingDelivery {
            id: 0,
            message_id: etraq_core::MessageId::parse("<a@x.test>").unwrap(),
            mail_from: None,
            rcpt_to: Vec::new(),
            size: 1,
            client: "127.0.0.1:1".into(),
            started_at: jiff::Timestamp::UNIX_EPOCH,
        })))
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
        let mut f = InFlight::default();
        f.count(&[put(), put(), put()]);
        assert_eq!(f.0, 3);
        // A group carrying the drop of one: two others are still coming.
        let mut g = Group::default();
        g.push(job(WriteOp::DropPending(1)));
        g.push(job(WriteOp::KvPut("k".into(), None)));
        assert_eq!(g.durable, 1, "a KV write is durable, a journal drop is not");
        assert_eq!(g.recorded, 0, "neither records a delivery");
        assert_eq!(f.beyond(&g), 2);
        f.count(&g.jobs);
        assert_eq!(f.0, 2);
        // Drops of entries written before a restart never take the count below zero.
        f.count(&[
            job(WriteOp::DropPending(2)),
            job(WriteOp::DropPending(3)),
            job(WriteOp::DropPending(4)),
        ]);
        assert_eq!(f.0, 0);
    }

    /// A gateway delivery's recording: a mail change set that clears journal entry `pending`.
    fn recording(pending: u64) -> Job {
        let mut cs = etraq_store_tests::fixtures::new_dr_change(
            pending,
            &format!("m{pending}@customer.test"),
            "agent@example.com",
            "someone@customer.test",
        );
        cs.pending = Some(pending);
        job(WriteOp::Apply(vec![cs], Vec::new()))
    }

    #[test]
    fn a_lone_delivery_is_gathered_with_what_is_queued_and_nothing_is_held_back() {
        let (tx, rx) = mpsc::channel();
        tx.send(recording(2)).unwrap();
        tx.send(put()).unwrap();
        let mut in_flight = InFlight::default();
        in_flight.count(&[put()]);
        let mut quick = Vec::new();
        let g = gather(recording(1), &rx, &mut in_flight, |q| quick.push(q.len()));
        assert_eq!(g.jobs.len(), 3, "everything already queued joins the group");
        assert_eq!((g.durable, g.recorded), (2, 2));
        assert!(
            quick.is_empty(),
            "no wait, so nothing was committed on the side"
        );
        // One put in flight before, one in the group; two recordings dropped: none left.
        assert_eq!(in_flight.0, 0);
    }

    #[test]
    fn a_group_waiting_for_deliveries_in_flight_takes_them_and_commits_journal_writes_meanwhile() {
        // Three deliveries journaled; the group records one, so two are coming. What comes
        // meanwhile (here already queued, so nothing depends on timing): a journal write, then
        // the two recordings.
        let mut in_flight = InFlight::default();
        in_flight.count(&[put(), put(), put()]);
        let mut group = Group::default();
        group.push(recording(1));
        let (tx, rx) = mpsc::channel();
        tx.send(put()).unwrap();
        tx.send(recording(2)).unwrap();
        tx.send(recording(3)).unwrap();
        tx.send(recording(4)).unwrap();
        let mut quick = Vec::new();
        keep_company(&mut group, &rx, &mut in_flight, |q| quick.push(q));
        assert_eq!(
            quick.len(),
            1,
            "the journal write was committed on the side, at once"
        );
        assert!(quick[0].iter().all(|j| !j.op.durable()));
        assert_eq!(in_flight.0, 4, "and counted in flight");
        // Everything that was there when the journal write came joined the group with it.
        assert_eq!(group.recorded, 4);
        assert!(
            group.jobs.iter().all(|j| j.op.durable()),
            "no journal write waits in a group"
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_group_stops_waiting_once_the_deliveries_in_flight_have_joined() {
        let mut in_flight = InFlight::default();
        in_flight.count(&[put(), put()]);
        let mut group = Group::default();
        group.push(recording(1));
        let (tx, rx) = mpsc::channel();
        tx.send(recording(2)).unwrap();
        tx.send(recording(3)).unwrap();
        keep_company(&mut group, &rx, &mut in_flight, |_| {
            panic!("nothing to commit aside")
        });
        assert_eq!(group.recorded, 2, "the one other delivery in flight joined");
        assert!(
            rx.try_recv().is_ok(),
            "the next one is left for the next group"
        );
    }
}
