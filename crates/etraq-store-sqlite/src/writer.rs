//! The single writer thread and its group commit.
//!
//! All writes go through one connection on one thread. The thread takes every job waiting in its
//! queue, runs them in one transaction, commits once (one fsync), and only then answers the
//! callers. A job that fails or conflicts does not disturb the others: the group then runs
//! again with each job in its own savepoint, the failed one rolled back (the first pass runs
//! without savepoints, which cost a page copy per page changed). With many concurrent writers (gateway sessions) a commit carries many
//! mails, so fsync does not cap throughput; a lone writer still gets its commit immediately.
//!
//! WAL checkpoints (copying committed pages into the database file) run on a separate
//! checkpointer thread with its own connection, so a commit never waits for one: the writer
//! turns SQLite's auto-checkpoint off and nudges the checkpointer after each commit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use etraq_core::model::{Alert, AlertMail, CycleRecord, Dr};
use etraq_core::store::{ChangeSet, CycleWrite, DrWrite, PendingDelivery};
use etraq_core::{Error, User};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::error::{Ctx, SqliteError, from_json, to_json};
use crate::group::{self, Gathered, Group, InFlight, Journal};

/// A write the writer thread performs.
pub(crate) enum WriteOp {
    Reserve(u64),
    /// Change sets with their search documents (made by the caller, off the writer thread).
    Apply(Vec<ChangeSet>, Vec<etraq_core::archive::IndexDoc>),
    SaveDr(Box<DrWrite>),
    PutUser(Box<User>),
    PutPending(Box<PendingDelivery>),
    DropPending(u64),
    ApplyCycle(Box<CycleWrite>),
    UpdateAlertMail(u64, Box<AlertMail>),
    KvPut(String, Option<String>),
    Campaign(Box<crate::campaign::Op>),
    Outbox(Box<crate::outbox::Op>),
    Support(Box<crate::support::Op>),
    /// A write made elsewhere (an `etraq migrate` page, see `copy`), run in the writer's
    /// transaction like the others; `bytes` counts towards the group's size.
    Run {
        bytes: usize,
        f: Deferred,
    },
}

/// A write [`WriteOp::Run`] carries: run on the writer's connection, inside its transaction.
pub(crate) type Deferred = Box<dyn Fn(&Connection) -> Result<WriteOut, Error> + Send>;

/// What a write returns.
pub(crate) enum WriteOut {
    First(u64),
    Seqs(Vec<u64>),
    Unit,
    Cycle(Box<CycleRecord>),
    Campaign(crate::campaign::Out),
    Article(Option<Box<etraq_core::support::Article>>),
}

/// A write and where its answer goes.
pub(crate) struct Job {
    pub op: WriteOp,
    pub reply: oneshot::Sender<Result<WriteOut, Error>>,
}

impl WriteOp {
    fn bytes(&self) -> usize {
        match self {
            WriteOp::Apply(v, _) => v.iter().map(|c| c.raw.len()).sum(),
            WriteOp::Run { bytes, .. } => *bytes,
            _ => 0,
        }
    }

    /// Whether the caller relies on this write surviving a power loss once it is answered.
    /// The delivery journal does not: an entry only ever names a delivery whose client has no
    /// answer yet, and it is read back only to be logged after a crash. It must survive the
    /// process dying (it does: the WAL is written before the answer), not the machine losing
    /// power, so journal writes commit without an fsync; the next durable commit syncs the
    /// WAL, journal frames included.
    fn durable(&self) -> bool {
        !matches!(self, WriteOp::PutPending(_) | WriteOp::DropPending(_))
    }

    /// Its part in the delivery journal: a journal put, a drop, or a gateway mail's change set
    /// that records the delivery and clears its entry.
    fn journal(&self) -> Journal {
        match self {
            WriteOp::PutPending(_) => Journal {
                puts: 1,
                ..Journal::default()
            },
            WriteOp::DropPending(_) => Journal {
                drops: 1,
                ..Journal::default()
            },
            WriteOp::Apply(sets, _) => {
                let recorded = sets.iter().filter(|c| c.pending.is_some()).count();
                Journal {
                    puts: 0,
                    drops: recorded,
                    recorded,
                }
            }
            _ => Journal::default(),
        }
    }
}

impl Gathered for Job {
    fn bytes(&self) -> usize {
        self.op.bytes()
    }

    fn durable(&self) -> bool {
        self.op.durable()
    }

    fn journal(&self) -> Journal {
        self.op.journal()
    }
}

/// Runs the writer loop until every sender is dropped. After each commit it nudges the
/// checkpointer (without waiting for it).
///
/// Group commit: the writer takes every job already queued, so under load one fsync carries
/// the jobs of every session that wrote meanwhile; a lone writer is never kept waiting. When
/// other deliveries are in flight (journaled, not yet recorded: their sessions are relaying
/// and will be back within a round trip to the upstream), a group that records a delivery
/// waits a little for them (see [`group::gather`]): once commits got cheap (see
/// [`crate::vfs`]) groups shrank to two mails per fsync, and each commit's fixed cost (locks,
/// the WAL index, the fsync and ext4's journal commit behind it) was paid again and again.
/// Journal writes commit first, in a transaction without an fsync (see [`WriteOp::durable`]),
/// and are never held back, not even while a group waits: a session about to relay waits for
/// no other session's fsync; the durable jobs follow in one fsynced transaction.
pub(crate) fn run(
    mut conn: Connection,
    rx: mpsc::Receiver<Job>,
    checkpoint: mpsc::SyncSender<()>,
    truncate: Arc<AtomicBool>,
) {
    let mut sync = Sync::Full;
    let mut in_flight = InFlight::default();
    while let Ok(first) = rx.recv() {
        let Group { jobs, .. } = group::gather(first, &rx, &mut in_flight, |quick| {
            // Journal writes go first, in a transaction of their own without an fsync, and are
            // answered at once: a session waiting to relay must not wait for other sessions'
            // fsync. (A put and the drop of the same entry keep their order.)
            set_sync(&conn, &mut sync, Sync::Normal);
            commit_group(&mut conn, quick);
        });
        if jobs.is_empty() {
            // Only journal writes: already committed.
        } else if set_sync(&conn, &mut sync, Sync::Full) {
            commit_group(&mut conn, jobs);
        } else {
            refuse(jobs);
        }
        let _ = checkpoint.try_send(());
        if truncate.swap(false, Ordering::Relaxed) {
            restart_wal(&conn);
        }
    }
    drop(checkpoint);
    // Checkpoint so the WAL does not outlive the store; failure here loses nothing.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::debug!(error = %e, "checkpoint at close failed");
    }
}

/// Puts `want` into effect on the writer's connection; false when FULL was wanted and could not
/// be set (the group must then not commit). A failed switch to NORMAL leaves FULL in force:
/// safe, only slower.
fn set_sync(conn: &Connection, sync: &mut Sync, want: Sync) -> bool {
    if *sync != want {
        match conn.pragma_update(None, "synchronous", want.pragma()) {
            Ok(()) => *sync = want,
            Err(e) => tracing::warn!(error = %e, "cannot change synchronous"),
        }
    }
    want == Sync::Normal || *sync == Sync::Full
}

/// How long the writer waits for readers to leave the WAL before it puts a restart off.
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// Starts a WAL that grew under load over from its beginning, on the writer's own connection
/// between two commits.
///
/// Under a steady load of commits and reads the WAL never starts over by itself (some reader is
/// always in it), so it grows until the writer restarts it once the checkpointer has copied it
/// all. Two ways were measured and dropped under tracking load: a TRUNCATE on the
/// checkpointer's connection held the write lock while the writer, refused, backed off in
/// SQLite's busy-handler sleeps (1, 2, 5, 10, 15, 20 ms), stalling every commit ~55 ms; a
/// TRUNCATE here took ~32 ms (shrinking a 64 MB file). A RESTART here takes 3–7 ms. A reader
/// that stays in the WAL longer than [`RESTART_WAIT`] (a large report) only puts it off to the
/// next time. `journal_size_limit` (set at open) keeps the file from staying large.
fn restart_wal(conn: &Connection) {
    let started = std::time::Instant::now();
    let _ = conn.busy_timeout(RESTART_WAIT);
    let busy = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
    let _ = conn.busy_timeout(crate::schema::BUSY_TIMEOUT);
    tracing::debug!(
        ?busy,
        micros = started.elapsed().as_micros() as u64,
        "WAL restart"
    );
}

/// Answers every job of a group that could not be committed durably.
fn refuse(jobs: Vec<Job>) {
    for job in jobs {
        let _ = job.reply.send(Err(Error::Backend {
            backend: "sqlite",
            message: "cannot make the commit durable (synchronous=FULL)".into(),
            source: None,
        }));
    }
}

/// The `synchronous` setting of the writer's connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// Every commit is fsynced (the default, for every durable write).
    Full,
    /// The WAL is not fsynced at commit (only for groups of journal writes).
    Normal,
}

impl Sync {
    fn pragma(self) -> &'static str {
        match self {
            Sync::Full => "FULL",
            Sync::Normal => "NORMAL",
        }
    }
}

/// Runs a group without savepoints and commits it when every job succeeds: the common case,
/// and a cheaper one (a savepoint copies every page its job changes into SQLite's statement
/// journal first, a 4 KiB copy and an allocation per page per job). When a job of several
/// fails, nothing is kept and `None` tells the caller to run the group again job by job in
/// savepoints, so the others still commit. A group of one needs no second pass: its failure
/// is its answer.
fn optimistic(
    conn: &mut Connection,
    jobs: &[Job],
) -> Result<Option<Vec<Result<WriteOut, Error>>>, Error> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .ctx("starting a write transaction")?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        match execute(&tx, &job.op) {
            Ok(out) => results.push(Ok(out)),
            Err(e) if jobs.len() == 1 => {
                tx.rollback().ctx("rolling back a write transaction")?;
                return Ok(Some(vec![Err(e)]));
            }
            Err(_) => {
                tx.rollback().ctx("rolling back a write transaction")?;
                return Ok(None);
            }
        }
    }
    tx.commit().ctx("committing")?;
    Ok(Some(results))
}

fn commit_group(conn: &mut Connection, jobs: Vec<Job>) {
    let started = std::time::Instant::now();
    let mut results: Vec<Result<WriteOut, Error>> = Vec::with_capacity(jobs.len());
    let outcome = (|| -> Result<(), Error> {
        if let Some(all) = optimistic(conn, &jobs)? {
            results = all;
            return Ok(());
        }
        let mut tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("starting a write transaction")?;
        for job in &jobs {
            let mut sp = tx.savepoint().ctx("creating a savepoint")?;
            let r = execute(&sp, &job.op);
            if r.is_ok() {
                sp.commit().ctx("releasing a savepoint")?;
            } else {
                sp.rollback().ctx("rolling back a savepoint")?;
            }
            results.push(r);
        }
        tx.commit().ctx("committing")?;
        Ok(())
    })();
    if let Err(e) = outcome {
        // Nothing of this group is durable: every caller gets the error, with SQLite's reason
        // (a shared error cannot carry the source itself).
        let msg = match &e {
            Error::Backend {
                message,
                source: Some(s),
                ..
            } => format!("{message}: {s}"),
            Error::Backend { message, .. } => message.clone(),
            other => other.to_string(),
        };
        results = jobs
            .iter()
            .map(|_| {
                Err(Error::Backend {
                    backend: "sqlite",
                    message: msg.clone(),
                    source: None,
                })
            })
            .collect();
    }
    tracing::debug!(
        jobs = jobs.len(),
        micros = started.elapsed().as_micros() as u64,
        "group committed"
    );
    for (job, r) in jobs.into_iter().zip(results) {
        // A caller that gave up waiting is no reason to fail the others.
        let _ = job.reply.send(r);
    }
}

fn execute(tx: &Connection, op: &WriteOp) -> Result<WriteOut, Error> {
    match op {
        WriteOp::Reserve(count) => reserve(tx, *count).map(WriteOut::First),
        WriteOp::Campaign(op) => crate::campaign::execute(tx, op).map(WriteOut::Campaign),
        WriteOp::Outbox(op) => crate::outbox::execute(tx, op).map(WriteOut::Seqs),
        WriteOp::Support(op) => {
            crate::support::execute(tx, op).map(|a| WriteOut::Article(a.map(Box::new)))
        }
        WriteOp::Apply(batch, docs) => {
            let mut seqs = Vec::with_capacity(batch.len());
            for (i, cs) in batch.iter().enumerate() {
                seqs.push(apply_one(tx, cs, docs.get(i))?);
            }
            Ok(WriteOut::Seqs(seqs))
        }
        WriteOp::Run { f, .. } => f(tx),
        WriteOp::SaveDr(w) => {
            check_and_write_dr(tx, w)?;
            Ok(WriteOut::Unit)
        }
        WriteOp::PutPending(p) => {
            let data = to_json("pending", p)?;
            let id: i64 = tx
                .prepare_cached("INSERT INTO pending(data) VALUES (?1) RETURNING id")
                .and_then(|mut s| s.query_row(params![data], |r| r.get(0)))
                .ctx("journaling a delivery")?;
            Ok(WriteOut::First(id as u64))
        }
        WriteOp::DropPending(id) => {
            drop_pending(tx, *id)?;
            Ok(WriteOut::Unit)
        }
        WriteOp::ApplyCycle(w) => apply_cycle(tx, w).map(|r| WriteOut::Cycle(Box::new(r))),
        WriteOp::UpdateAlertMail(id, mail) => {
            update_alert_mail(tx, *id, mail)?;
            Ok(WriteOut::Unit)
        }
        WriteOp::KvPut(key, value) => {
            match value {
                Some(v) => tx
                    .prepare_cached(
                        "INSERT INTO kv(key, value) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    )
                    .and_then(|mut s| s.execute(params![key, v])),
                None => tx
                    .prepare_cached("DELETE FROM kv WHERE key = ?1")
                    .and_then(|mut s| s.execute(params![key])),
            }
            .ctx("writing a key-value entry")?;
            Ok(WriteOut::Unit)
        }
        WriteOp::PutUser(u) => {
            let data = to_json("users", u)?;
            tx.prepare_cached(
                "INSERT INTO users(email, data) VALUES (?1, ?2)
                 ON CONFLICT(email) DO UPDATE SET data = excluded.data",
            )
            .and_then(|mut s| s.execute(params![u.email.as_str(), data]))
            .ctx("writing a user")?;
            Ok(WriteOut::Unit)
        }
    }
}

fn reserve(tx: &Connection, count: u64) -> Result<u64, Error> {
    let count = i64::try_from(count.max(1))
        .map_err(|_| Error::Invalid("too many DR numbers requested".into()))?;
    let last: i64 = tx
        .query_row(
            "INSERT INTO counters(name, value) VALUES ('dr', ?1)
             ON CONFLICT(name) DO UPDATE SET value = value + ?1
             RETURNING value",
            params![count],
            |r| r.get(0),
        )
        .ctx("reserving DR numbers")?;
    Ok((last - count + 1) as u64)
}

pub(crate) fn i64_of(n: u64) -> Result<i64, Error> {
    i64::try_from(n).map_err(|_| Error::Invalid(format!("number {n} is out of range")))
}

/// The indexed columns of a stored DR, to update only what changed.
struct DrColumns {
    version: i64,
    id: String,
    status: String,
    owner: String,
    customer: String,
    due_at: Option<i64>,
    awaiting_since: Option<i64>,
    users: String,
}

/// A DR's owner and CC users as stored in `drs.users` (one per line, sorted).
fn users_column(dr: &Dr) -> String {
    dr.users()
        .iter()
        .map(|u| u.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replaces a DR's rows in the `dr_users` index.
fn index_users(tx: &Connection, number: i64, old: Option<&str>, new: &str) -> Result<(), Error> {
    if let Some(old) = old {
        let mut s = tx
            .prepare_cached("DELETE FROM dr_users WHERE user = ?1 AND number = ?2")
            .ctx("preparing the DR user index")?;
        for u in old.split('\n').filter(|u| !u.is_empty()) {
            s.execute(params![u, number])
                .ctx("updating the DR user index")?;
        }
    }
    let mut s = tx
        .prepare_cached("INSERT OR IGNORE INTO dr_users(user, number) VALUES (?1, ?2)")
        .ctx("preparing the DR user index")?;
    for u in new.split('\n').filter(|u| !u.is_empty()) {
        s.execute(params![u, number])
            .ctx("updating the DR user index")?;
    }
    Ok(())
}

fn check_and_write_dr(tx: &Connection, w: &DrWrite) -> Result<(), Error> {
    let number = i64_of(w.dr.id.number())?;
    let current: Option<DrColumns> = tx
        .prepare_cached(
            "SELECT version, id, status, owner, customer, due_at, awaiting_since, users FROM drs WHERE number = ?1",
        )
        .and_then(|mut s| {
            s.query_row(params![number], |r| {
                Ok(DrColumns {
                    version: r.get(0)?,
                    id: r.get(1)?,
                    status: r.get(2)?,
                    owner: r.get(3)?,
                    customer: r.get(4)?,
                    due_at: r.get(5)?,
                    awaiting_since: r.get(6)?,
                    users: r.get(7)?,
                })
            })
            .optional()
        })
        .ctx("reading a DR version")?;
    w.check(
        current
            .as_ref()
            .map(|c| (c.id.as_str(), u64::try_from(c.version).unwrap_or(0))),
    )?;
    match current {
        None => write_dr(tx, &w.dr),
        Some(c) => update_dr(tx, &w.dr, &c),
    }
}

/// Inserts a new DR.
fn write_dr(tx: &Connection, dr: &Dr) -> Result<(), Error> {
    insert_dr(tx, dr, &to_json("drs", dr)?)
}

/// Inserts a DR whose stored document is `data`, with its user index rows.
pub(crate) fn insert_dr(tx: &Connection, dr: &Dr, data: &str) -> Result<(), Error> {
    let number = i64_of(dr.id.number())?;
    let due = dr.due_at.map(|t| t.as_microsecond());
    let since = dr.awaiting_since.map(|t| t.as_second());
    let users = users_column(dr);
    tx.prepare_cached(
        "INSERT INTO drs(number, id, status, owner, customer, customer_domain, version, due_at, awaiting_since, users, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut s| {
        s.execute(params![
            number,
            dr.id.to_string(),
            dr.status.as_str(),
            dr.owner.as_str(),
            dr.customer.as_str(),
            dr.customer.domain(),
            dr.version as i64,
            due,
            since,
            users,
            data,
        ])
    })
    .ctx("writing a DR")?;
    index_users(tx, number, None, &users)
}

/// Updates an existing DR, touching only the indexed columns whose values change, so its
/// unchanged index entries are not rewritten (an escalation cycle changes a DR's due time and
/// document, not its owner or customer).
fn update_dr(tx: &Connection, dr: &Dr, old: &DrColumns) -> Result<(), Error> {
    let number = i64_of(dr.id.number())?;
    let data = to_json("drs", dr)?;
    let due = dr.due_at.map(|t| t.as_microsecond());
    let since = dr.awaiting_since.map(|t| t.as_second());
    let mut sql = String::from("UPDATE drs SET version = ?, data = ?");
    let mut args: Vec<rusqlite::types::Value> = vec![(dr.version as i64).into(), data.into()];
    let mut set = |col: &str, v: rusqlite::types::Value| {
        sql.push_str(&format!(", {col} = ?"));
        args.push(v);
    };
    if old.status != dr.status.as_str() {
        set("status", dr.status.as_str().to_string().into());
    }
    if old.owner != dr.owner.as_str() {
        set("owner", dr.owner.as_str().to_string().into());
    }
    if old.customer != dr.customer.as_str() {
        set("customer", dr.customer.as_str().to_string().into());
        set("customer_domain", dr.customer.domain().to_string().into());
    }
    if old.due_at != due {
        set("due_at", due.into());
    }
    if old.awaiting_since != since {
        set("awaiting_since", since.into());
    }
    let users = users_column(dr);
    let users_changed = old.users != users;
    if users_changed {
        set("users", users.clone().into());
    }
    sql.push_str(" WHERE number = ?");
    args.push(number.into());
    tx.prepare_cached(&sql)
        .and_then(|mut s| s.execute(rusqlite::params_from_iter(args)))
        .ctx("updating a DR")?;
    if users_changed {
        index_users(tx, number, Some(&old.users), &users)?;
    }
    Ok(())
}

/// Records one change set; `doc` is its search document (made here when not given).
pub(crate) fn apply_one(
    tx: &Connection,
    cs: &ChangeSet,
    doc: Option<&etraq_core::archive::IndexDoc>,
) -> Result<u64, Error> {
    let m = &cs.mail;
    if cs.index_message_id {
        let exists: Option<i64> = tx
            .prepare_cached("SELECT seq FROM message_ids WHERE message_id = ?1 AND direction = ?2")
            .and_then(|mut s| {
                s.query_row(params![m.message_id.as_str(), m.direction.as_str()], |r| {
                    r.get(0)
                })
                .optional()
            })
            .ctx("checking the Message-ID index")?;
        if exists.is_some() {
            return Err(Error::Conflict(format!(
                "Message-ID {} is already recorded ({})",
                m.message_id, m.direction
            )));
        }
    }
    if let Some(w) = &cs.dr {
        check_and_write_dr(tx, w)?;
    }
    let data = to_json("mails", m)?;
    let made;
    let doc = match doc {
        Some(d) => d,
        None => {
            made = etraq_core::archive::index_doc(m, &cs.raw);
            &made
        }
    };
    let seq = insert_mail(tx, None, m, &data, &cs.raw, doc)?;
    if cs.index_message_id {
        index_message_id(tx, m.message_id.as_str(), m.direction, seq)?;
    }
    if let Some(dr) = &m.dr {
        for (mid, dir) in &cs.link {
            link_mail(tx, mid.as_str(), *dir, dr)?;
        }
    }
    if let Some(id) = cs.pending {
        drop_pending(tx, id)?;
    }
    if !cs.queue.is_empty() {
        crate::outbox::execute(tx, &crate::outbox::Op::Queue(cs.queue.clone()))?;
    }
    if let Some(r) = &cs.response {
        let data = to_json("responses", r)?;
        tx.prepare_cached(
            "INSERT INTO responses(dr_number, user, responded_at, data) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| {
            s.execute(params![
                r.dr.number() as i64,
                r.user.as_str(),
                r.responded_at.as_second(),
                data,
            ])
        })
        .ctx("recording a response time")?;
    }
    Ok(seq as u64)
}

/// Inserts a mail record stored as `data` under `seq` (the next one when `None`), with its
/// party index rows, raw message and search entry; answers its seq.
pub(crate) fn insert_mail(
    tx: &Connection,
    seq: Option<i64>,
    m: &etraq_core::MailRecord,
    data: &str,
    raw: &[u8],
    doc: &etraq_core::archive::IndexDoc,
) -> Result<i64, Error> {
    let dr_number = m.dr.as_ref().map(|d| i64_of(d.number())).transpose()?;
    let seq: i64 = tx
        .prepare_cached(
            "INSERT INTO mails(seq, message_id, direction, tracked, dr_number, dr_id, sender, received_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING seq",
        )
        .and_then(|mut s| {
            s.query_row(
                params![
                    seq,
                    m.message_id.as_str(),
                    m.direction.as_str(),
                    m.decision.is_tracked(),
                    dr_number,
                    m.dr.as_ref().map(|d| d.to_string()),
                    m.sender.as_ref().map(|s| s.as_str()),
                    m.received_at.as_second(),
                    data,
                ],
                |r| r.get(0),
            )
        })
        .ctx("inserting a mail record")?;
    {
        let mut s = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO mail_parties(address, domain, seq) VALUES (?1, ?2, ?3)",
            )
            .ctx("preparing the party index")?;
        for p in m.addresses() {
            s.execute(params![p.as_str(), p.domain(), seq])
                .ctx("indexing an address")?;
        }
    }
    tx.prepare_cached("INSERT INTO raw_messages(seq, raw) VALUES (?1, ?2)")
        .and_then(|mut s| s.execute(params![seq, raw]))
        .ctx("archiving the raw message")?;
    crate::search::index(tx, seq, doc)?;
    Ok(seq)
}

/// Indexes a mail's Message-ID in its direction.
pub(crate) fn index_message_id(
    tx: &Connection,
    message_id: &str,
    direction: etraq_core::Direction,
    seq: i64,
) -> Result<(), Error> {
    tx.prepare_cached("INSERT INTO message_ids(message_id, direction, seq) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![message_id, direction.as_str(), seq]))
        .ctx("indexing the Message-ID")?;
    Ok(())
}

fn bump_counter(tx: &Connection, name: &str, by: u64) -> Result<(), Error> {
    if by == 0 {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO counters(name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = value + ?2",
    )
    .and_then(|mut s| s.execute(params![name, by as i64]))
    .ctx("updating a counter")?;
    Ok(())
}

pub(crate) fn alert_row(a: &Alert) -> (bool, Option<i64>) {
    match &a.mail {
        AlertMail::Pending {
            next_attempt_at, ..
        } => (true, Some(next_attempt_at.as_microsecond())),
        _ => (false, None),
    }
}

fn apply_cycle(tx: &Connection, w: &CycleWrite) -> Result<CycleRecord, Error> {
    for d in &w.drs {
        check_and_write_dr(tx, d)?;
    }
    let mut record = w.record.clone();
    let data = to_json("cycles", &record)?;
    let id: i64 = tx
        .prepare_cached("INSERT INTO cycles(at, data) VALUES (?1, ?2) RETURNING id")
        .and_then(|mut s| s.query_row(params![record.at.as_second(), data], |r| r.get(0)))
        .ctx("recording a cycle")?;
    record.id = id as u64;
    for a in &w.alerts {
        let mut a = a.clone();
        a.cycle = record.id;
        let (pending, next) = alert_row(&a);
        let data = to_json("alerts", &a)?;
        let number = i64_of(a.source_dr.number())?;
        tx.prepare_cached(
            "INSERT INTO alerts(dr_number, user, pending, next_attempt_at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| s.execute(params![number, a.user.as_str(), pending, next, data]))
        .ctx("recording an alert")?;
    }
    bump_counter(tx, "warned", record.warned)?;
    bump_counter(tx, "escalated", record.escalated)?;
    Ok(record)
}

fn update_alert_mail(tx: &Connection, id: u64, mail: &AlertMail) -> Result<(), Error> {
    let id = i64_of(id)?;
    let data: Option<String> = tx
        .prepare_cached("SELECT data FROM alerts WHERE id = ?1")
        .and_then(|mut s| s.query_row(params![id], |r| r.get(0)).optional())
        .ctx("reading an alert")?;
    let Some(data) = data else {
        return Err(Error::NotFound {
            what: "alert",
            key: id.to_string(),
        });
    };
    let mut a: Alert = from_json("alerts", &data)?;
    a.mail = mail.clone();
    let (pending, next) = alert_row(&a);
    let data = to_json("alerts", &a)?;
    tx.prepare_cached(
        "UPDATE alerts SET pending = ?1, next_attempt_at = ?2, data = ?3 WHERE id = ?4",
    )
    .and_then(|mut s| s.execute(params![pending, next, data, id]))
    .ctx("updating an alert")?;
    Ok(())
}

fn drop_pending(tx: &Connection, id: u64) -> Result<(), Error> {
    let id = i64_of(id)?;
    tx.prepare_cached("DELETE FROM pending WHERE id = ?1")
        .and_then(|mut s| s.execute(params![id]))
        .ctx("clearing a journal entry")?;
    Ok(())
}

/// Attaches an earlier mail (an employee's first mail) to the DR its answer opened.
fn link_mail(
    tx: &Connection,
    message_id: &str,
    direction: etraq_core::Direction,
    dr: &etraq_core::DrId,
) -> Result<(), Error> {
    let row: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT m.seq, m.data FROM message_ids i JOIN mails m ON m.seq = i.seq
             WHERE i.message_id = ?1 AND i.direction = ?2 AND m.dr_number IS NULL",
        )
        .and_then(|mut s| {
            s.query_row(params![message_id, direction.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .ctx("finding a mail to link")?;
    let Some((seq, data)) = row else {
        return Ok(());
    };
    let mut rec: etraq_core::MailRecord = from_json("mails", &data)?;
    rec.dr = Some(dr.clone());
    let data = to_json("mails", &rec)?;
    tx.prepare_cached("UPDATE mails SET dr_number = ?1, dr_id = ?2, data = ?3 WHERE seq = ?4")
        .and_then(|mut s| s.execute(params![dr.number() as i64, dr.to_string(), data, seq]))
        .ctx("linking a mail to its DR")?;
    Ok(())
}

/// Sends a job to the writer and waits for its commit.
pub(crate) async fn submit(tx: &mpsc::Sender<Job>, op: WriteOp) -> Result<WriteOut, Error> {
    let (reply, rx) = oneshot::channel();
    tx.send(Job { op, reply })
        .map_err(|_| SqliteError::WriterGone)?;
    rx.await.map_err(|_| SqliteError::WriterGone)?
}

/// WAL size (in frames) above which the writer starts the WAL over (see `restart_wal`).
const RESTART_ABOVE_FRAMES: i64 = 16_384;

/// Least time between two checkpoints under load. A checkpoint copies every page changed since
/// the last one into the database file and fsyncs it; the hot pages (index leaves, the counters)
/// change with every mail, so checkpointing after every commit copied them again and again.
/// Coalesced, each is copied once per interval, and the WAL stays small (a few MB at full load).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs PASSIVE checkpoints after the writer has committed, at most one per
/// [`CHECKPOINT_EVERY`], until the writer stops. PASSIVE never blocks the writer or readers;
/// with `synchronous=FULL` the database file is fsynced before the WAL is reused, so a
/// checkpoint never risks committed data.
pub(crate) fn checkpointer(
    conn: Connection,
    nudges: mpsc::Receiver<()>,
    truncate: Arc<AtomicBool>,
) {
    let mut last = std::time::Instant::now()
        .checked_sub(CHECKPOINT_EVERY)
        .unwrap_or_else(std::time::Instant::now);
    while nudges.recv().is_ok() {
        // Let the commits of the next moments join this checkpoint.
        let wait = CHECKPOINT_EVERY.saturating_sub(last.elapsed());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        while nudges.try_recv().is_ok() {}
        last = std::time::Instant::now();
        let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        tracing::debug!(
            micros = last.elapsed().as_micros() as u64,
            frames = outcome.as_ref().map(|o| o.1).unwrap_or(-1),
            "checkpointed"
        );
        match outcome {
            Ok((_, log, done)) if log > RESTART_ABOVE_FRAMES && log == done => {
                // Everything was copied: the writer starts the WAL over between two commits
                // (see `restart_wal`).
                truncate.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; will retry after the next commit")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn recording(pending: Option<u64>) -> WriteOp {
        let mut cs = etraq_store_tests::fixtures::new_dr_change(
            1,
            "m1@customer.test",
            "agent@example.com",
            "someone@customer.test",
        );
        cs.pending = pending;
        WriteOp::Apply(vec![cs], Vec::new())
    }

    #[test]
    fn the_group_commit_sees_each_write_s_part_in_the_delivery_journal() {
        let put = WriteOp::PutPending(Box::new(PendingDelivery {
            id: 0,
            message_id: etraq_core::MessageId::parse("<a@x.test>").unwrap(),
            mail_from: None,
            rcpt_to: Vec::new(),
            size: 1,
            client: "127.0.0.1:1".into(),
            started_at: jiff::Timestamp::UNIX_EPOCH,
        }));
        let cases = [
            (put, false, (1, 0, 0)),
            (WriteOp::DropPending(7), false, (0, 1, 0)),
            // A gateway mail clears its journal entry as it is recorded.
            (recording(Some(7)), true, (0, 1, 1)),
            // Imported mail has no journal entry.
            (recording(None), true, (0, 0, 0)),
            (WriteOp::KvPut("k".into(), None), true, (0, 0, 0)),
            (WriteOp::Reserve(16), true, (0, 0, 0)),
        ];
        for (op, durable, (puts, drops, recorded)) in cases {
            assert_eq!(op.durable(), durable);
            assert_eq!(
                op.journal(),
                Journal {
                    puts,
                    drops,
                    recorded
                }
            );
        }
    }
}
