//! The tracking and escalation writes, each inside the caller's transaction.
//!
//! Conditional writes hold under concurrency the way PostgreSQL holds them: a DR about to be
//! replaced is read `FOR UPDATE` (a second writer waits for the first to commit, then sees the
//! new version and conflicts); a new DR number or a Message-ID already indexed by another node
//! meanwhile fails its unique key, which [`crate::error::db_error`] reports as a conflict. Either
//! way the whole transaction rolls back and the tracker decides again from a fresh read.

use deadpool_postgres::GenericClient;
use etraq_core::archive::IndexDoc;
use etraq_core::model::{Alert, AlertMail, CycleRecord, Dr};
use etraq_core::store::{ChangeSet, CycleWrite, DrWrite};
use etraq_core::{Error, Result};

use tokio_postgres::types::ToSql;

use crate::error::Db;
use crate::rows::{big, dec, enc, execute, query_one, query_opt};

/// A DR's owner and CC users as stored in `drs.users` (one per line, sorted).
pub(crate) fn users_column(dr: &Dr) -> String {
    dr.users()
        .iter()
        .map(|u| u.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The stored version, id and users of the DR `w` writes, locked until the transaction ends.
async fn lock_dr<C: GenericClient>(c: &C, w: &DrWrite) -> Result<Option<(i64, String, String)>> {
    let number = big(w.dr.id.number())?;
    Ok(query_opt(
        c,
        "SELECT version, id, users FROM drs WHERE number = $1 FOR UPDATE",
        &[&number],
        "reading a DR's version",
    )
    .await?
    .map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// Whether `w` may replace `current` (see [`DrWrite::check`]).
fn check_dr(w: &DrWrite, current: Option<&(i64, String, String)>) -> Result<()> {
    w.check(current.map(|(v, id, _)| (id.as_str(), u64::try_from(*v).unwrap_or(0))))
}

/// Checks `w` against the stored DR (locked until the transaction ends) and writes it.
pub(crate) async fn check_and_write_dr<C: GenericClient>(c: &C, w: &DrWrite) -> Result<()> {
    let current = lock_dr(c, w).await?;
    check_dr(w, current.as_ref())?;
    write_dr(c, w, current.map(|(_, _, users)| users)).await
}

/// Writes a checked DR: inserted when `old_users` is `None` (it did not exist), else updated.
async fn write_dr<C: GenericClient>(c: &C, w: &DrWrite, old_users: Option<String>) -> Result<()> {
    let number = big(w.dr.id.number())?;
    let dr = &w.dr;
    let data = enc("drs", dr)?;
    let due = dr.due_at.map(|t| t.as_microsecond());
    let since = dr.awaiting_since.map(|t| t.as_second());
    let users = users_column(dr);
    let version = big(dr.version)?;
    match old_users {
        None => {
            // The DR and its user index in one round trip.
            let id = dr.id.to_string();
            let params: [&(dyn ToSql + Sync); 11] = [
                &number,
                &id,
                &dr.status.as_str(),
                &dr.owner.as_str(),
                &dr.customer.as_str(),
                &dr.customer.domain(),
                &version,
                &due,
                &since,
                &users,
                &data,
            ];
            let (a, b) = tokio::join!(
                execute(
                    c,
                    "INSERT INTO drs(number, id, status, owner, customer, customer_domain, version,
                                     due_at, awaiting_since, users, data)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    &params,
                    "writing a DR",
                ),
                index_users(c, number, None, &users)
            );
            a?;
            b
        }
        Some(old_users) => {
            execute(
                c,
                "UPDATE drs SET version = $1, data = $2, status = $3, owner = $4, customer = $5,
                        customer_domain = $6, due_at = $7, awaiting_since = $8, users = $9
                 WHERE number = $10",
                &[
                    &version,
                    &data,
                    &dr.status.as_str(),
                    &dr.owner.as_str(),
                    &dr.customer.as_str(),
                    &dr.customer.domain(),
                    &due,
                    &since,
                    &users,
                    &number,
                ],
                "updating a DR",
            )
            .await?;
            if old_users != users {
                index_users(c, number, Some(&old_users), &users).await?;
            }
            Ok(())
        }
    }
}

/// Replaces a DR's rows in the `dr_users` index.
async fn index_users<C: GenericClient>(
    c: &C,
    number: i64,
    old: Option<&str>,
    new: &str,
) -> Result<()> {
    if old.is_some() {
        execute(
            c,
            "DELETE FROM dr_users WHERE number = $1",
            &[&number],
            "updating the DR user index",
        )
        .await?;
    }
    let users: Vec<&str> = new.split('\n').filter(|u| !u.is_empty()).collect();
    execute(
        c,
        "INSERT INTO dr_users(\"user\", number) SELECT u, $2 FROM unnest($1::text[]) AS u
         ON CONFLICT DO NOTHING",
        &[&users, &number],
        "updating the DR user index",
    )
    .await?;
    Ok(())
}

/// Removes a journal entry.
pub(crate) async fn drop_pending<C: GenericClient>(c: &C, id: u64) -> Result<()> {
    execute(
        c,
        "DELETE FROM pending WHERE id = $1",
        &[&big(id)?],
        "clearing a journal entry",
    )
    .await?;
    Ok(())
}

/// Adds `by` to a counter.
async fn bump_counter<C: GenericClient>(c: &C, name: &str, by: u64) -> Result<()> {
    if by == 0 {
        return Ok(());
    }
    execute(
        c,
        "INSERT INTO counters(name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
        &[&name, &big(by)?],
        "updating a counter",
    )
    .await?;
    Ok(())
}

/// The outbox columns of an alert: pending, and when its mail is next due.
pub(crate) fn alert_row(a: &Alert) -> (bool, Option<i64>) {
    match &a.mail {
        AlertMail::Pending {
            next_attempt_at, ..
        } => (true, Some(next_attempt_at.as_microsecond())),
        _ => (false, None),
    }
}

/// Applies an escalation cycle: its DR changes (each conditional), its record, its alerts and
/// the counters.
pub(crate) async fn apply_cycle<C: GenericClient>(c: &C, w: &CycleWrite) -> Result<CycleRecord> {
    for d in &w.drs {
        check_and_write_dr(c, d).await?;
    }
    let mut record = w.record.clone();
    let id: i64 = query_one(
        c,
        "INSERT INTO cycles(at, data) VALUES ($1, $2) RETURNING id",
        &[&record.at.as_second(), &enc("cycles", &record)?],
        "recording a cycle",
    )
    .await?
    .get(0);
    record.id = crate::rows::unsigned(id);
    for a in &w.alerts {
        let mut a = a.clone();
        a.cycle = record.id;
        let (pending, next) = alert_row(&a);
        execute(
            c,
            "INSERT INTO alerts(dr_number, \"user\", pending, next_attempt_at, data)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &big(a.source_dr.number())?,
                &a.user.as_str(),
                &pending,
                &next,
                &enc("alerts", &a)?,
            ],
            "recording an alert",
        )
        .await?;
    }
    bump_counter(c, "warned", record.warned).await?;
    bump_counter(c, "escalated", record.escalated).await?;
    Ok(record)
}

/// Records what happened to an alert's mail.
pub(crate) async fn update_alert_mail<C: GenericClient>(
    c: &C,
    id: u64,
    mail: &AlertMail,
) -> Result<()> {
    let id = big(id)?;
    let row = query_opt(
        c,
        "SELECT data FROM alerts WHERE id = $1 FOR UPDATE",
        &[&id],
        "reading an alert",
    )
    .await?;
    let Some(row) = row else {
        return Err(Error::NotFound {
            what: "alert",
            key: id.to_string(),
        });
    };
    let mut a: Alert = dec("alerts", row.get::<_, &str>(0))?;
    a.mail = mail.clone();
    let (pending, next) = alert_row(&a);
    execute(
        c,
        "UPDATE alerts SET pending = $1, next_attempt_at = $2, data = $3 WHERE id = $4",
        &[&pending, &next, &enc("alerts", &a)?, &id],
        "updating an alert",
    )
    .await?;
    Ok(())
}

/// Claims the due alerts: `FOR UPDATE SKIP LOCKED`, so two notifiers (two nodes) never take the
/// same alert and neither waits for the other; each becomes `Sending` in this transaction.
pub(crate) async fn claim_alerts<C: GenericClient>(
    c: &C,
    now: jiff::Timestamp,
    limit: usize,
) -> Result<Vec<Alert>> {
    let rows = crate::rows::query(
        c,
        "SELECT id, data FROM alerts WHERE pending AND next_attempt_at <= $1
         ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
        &[&now.as_microsecond(), &crate::rows::limit(limit)],
        "claiming alerts",
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut a: Alert = dec("alerts", r.get::<_, &str>(1))?;
        a.id = crate::rows::unsigned(r.get(0));
        let AlertMail::Pending { attempts, .. } = a.mail else {
            continue;
        };
        a.mail = AlertMail::Sending {
            attempts: attempts + 1,
            since: now,
        };
        execute(
            c,
            "UPDATE alerts SET pending = FALSE, next_attempt_at = NULL, data = $1 WHERE id = $2",
            &[&enc("alerts", &a)?, &r.get::<_, i64>(0)],
            "claiming an alert",
        )
        .await?;
        out.push(a);
    }
    Ok(out)
}

/// One statement of a pipelined batch, sent without waiting for the ones before it.
type Step<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64>> + Send + 'a>>;

/// The statements a pipelined batch runs (prepared once per connection before the batch, so
/// every statement goes out on its future's first poll, in order).
/// Mails' search vectors (literals made by `search::vectors`), by seq, in one statement.
pub(crate) const SEARCH_INSERT: &str =
    "INSERT INTO mail_search(seq, everything, subject, sender, recipients, attachments)
     SELECT s, e::tsvector, su::tsvector, se::tsvector, r::tsvector, a::tsvector
     FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
          AS t(s, e, su, se, r, a)";

const BATCH_SQL: [&str; 11] = [
    // 0: a new DR.
    "INSERT INTO drs(number, id, status, owner, customer, customer_domain, version, due_at,
                     awaiting_since, users, data)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    // 1: a DR replaced (checked against its row, locked since the batch's first round).
    "UPDATE drs SET version = $1, data = $2, status = $3, owner = $4, customer = $5,
            customer_domain = $6, due_at = $7, awaiting_since = $8, users = $9
     WHERE number = $10",
    // 2: a DR's users: the ones no longer on it leave the index …
    "DELETE FROM dr_users WHERE number = $2 AND NOT (\"user\" = ANY($1::text[]))",
    // 3: … and the new ones join it.
    "INSERT INTO dr_users(\"user\", number) SELECT u, $2 FROM unnest($1::text[]) AS u
     ON CONFLICT DO NOTHING",
    // 4: the batch's mail records under their pre-allocated seqs, in one statement.
    "INSERT INTO mails(seq, message_id, direction, tracked, dr_number, dr_id, sender,
                       received_at, has_attachment, data)
     SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::bool[], $5::int8[],
                          $6::text[], $7::text[], $8::int8[], $9::bool[], $10::text[])",
    // 5: their Message-IDs (a key taken by another writer is a conflict).
    "INSERT INTO message_ids(message_id, direction, seq)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[])",
    // 6: the addresses on them.
    "INSERT INTO mail_parties(address, domain, seq)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[]) ON CONFLICT DO NOTHING",
    // 7: their raw messages.
    "INSERT INTO raw_messages(seq, raw) SELECT * FROM unnest($1::int8[], $2::bytea[])",
    // 8: a response time.
    "INSERT INTO responses(dr_number, \"user\", responded_at, data) VALUES ($1, $2, $3, $4)",
    // 9: their search vectors (literals made by `search::vectors`).
    SEARCH_INSERT,
    // 10: an earlier mail (an employee's first mail) joins the DR its answer opened, if it is
    // in no DR yet; its record's `dr` changes with its columns.
    "UPDATE mails m SET dr_number = $3, dr_id = $4,
            data = jsonb_set(m.data::jsonb, '{dr}', to_jsonb($4::text))::text
     FROM message_ids i
     WHERE i.message_id = $1 AND i.direction = $2 AND m.seq = i.seq AND m.dr_number IS NULL",
];

/// What one change set binds, owned so the pipelined statements can borrow it.
struct Bound {
    dr: Option<DrBound>,
    seq: i64,
    mid: String,
    dir: &'static str,
    tracked: bool,
    dr_number: Option<i64>,
    dr_id: Option<String>,
    sender: Option<String>,
    received: i64,
    has_attachment: bool,
    data: String,
    addresses: Vec<String>,
    domains: Vec<String>,
    response: Option<(i64, String, i64, String)>,
    links: Vec<(String, &'static str)>,
}

/// A DR write of the batch, checked: inserted, or updated over the users it had.
struct DrBound {
    /// `None`: a new DR; else the users it had before this write.
    old_users: Option<String>,
    number: i64,
    id: String,
    status: &'static str,
    owner: String,
    customer: String,
    domain: String,
    version: i64,
    due: Option<i64>,
    since: Option<i64>,
    users: String,
    user_list: Vec<String>,
    data: String,
}

/// The stored id, version and users of each DR a batch writes, as its earlier change sets
/// leave them.
type DrState = std::collections::HashMap<i64, (String, i64, String)>;

/// Checks a change set's DR write against `state` with the rule every store applies
/// ([`DrWrite::check`]), and moves `state` on to what it writes.
fn bind_dr(w: &DrWrite, state: &mut DrState) -> Result<DrBound> {
    let number = big(w.dr.id.number())?;
    let stored = state.get(&number);
    w.check(stored.map(|(id, v, _)| (id.as_str(), u64::try_from(*v).unwrap_or(0))))?;
    let old_users = stored.map(|(_, _, users)| users.clone());
    let users = users_column(&w.dr);
    let version = big(w.dr.version)?;
    state.insert(number, (w.dr.id.to_string(), version, users.clone()));
    Ok(DrBound {
        old_users,
        number,
        id: w.dr.id.to_string(),
        status: w.dr.status.as_str(),
        owner: w.dr.owner.as_str().to_string(),
        customer: w.dr.customer.as_str().to_string(),
        domain: w.dr.customer.domain().to_string(),
        version,
        due: w.dr.due_at.map(|t| t.as_microsecond()),
        since: w.dr.awaiting_since.map(|t| t.as_second()),
        user_list: users
            .split('\n')
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect(),
        users,
        data: enc("drs", &w.dr)?,
    })
}

fn bind(cs: &ChangeSet, seq: i64, doc: &IndexDoc, state: &mut DrState) -> Result<Bound> {
    let m = &cs.mail;
    let dr = cs.dr.as_ref().map(|w| bind_dr(w, state)).transpose()?;
    let linked = m.dr.is_some();
    Ok(Bound {
        dr,
        seq,
        mid: m.message_id.as_str().to_string(),
        dir: m.direction.as_str(),
        tracked: m.decision.is_tracked(),
        dr_number: m.dr.as_ref().map(|d| big(d.number())).transpose()?,
        dr_id: m.dr.as_ref().map(|d| d.to_string()),
        sender: m.sender.as_ref().map(|s| s.as_str().to_string()),
        received: m.received_at.as_second(),
        has_attachment: doc.has_attachment,
        data: enc("mails", m)?,
        addresses: m
            .addresses()
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        domains: m
            .addresses()
            .iter()
            .map(|a| a.domain().to_string())
            .collect(),
        response: match &cs.response {
            Some(r) => Some((
                big(r.dr.number())?,
                r.user.as_str().to_string(),
                r.responded_at.as_second(),
                enc("responses", r)?,
            )),
            None => None,
        },
        // Links join the mail's DR: a mail without one links nothing (as in every store).
        links: if linked {
            cs.link
                .iter()
                .map(|(mid, dir)| (mid.as_str().to_string(), dir.as_str()))
                .collect()
        } else {
            Vec::new()
        },
    })
}

/// Applies a batch of change sets (one, from the gateway; hundreds, from an ingest) in the
/// caller's transaction, every statement pipelined. The first round, all at once: the
/// statements prepared, the batch's seqs taken, and the rows of the DRs it writes read and
/// locked (`FOR UPDATE`, in number order). Each DR write is then checked in Rust against those
/// rows, as the batch's earlier change sets leave them, by [`DrWrite::check`] — the rule every
/// store applies. The second round sends every statement at once, in order: the DR writes,
/// then a multi-row statement per table for the mail rows, then response times, journal
/// entries, queued messages and links (after the mail rows, so a link finds a mail recorded
/// earlier in the same batch). A new DR number or a Message-ID indexed meanwhile fails its key:
/// a conflict, found before the caller commits.
pub(crate) async fn apply_batch<C: GenericClient>(
    c: &C,
    batch: &[ChangeSet],
    docs: &[IndexDoc],
) -> Result<Vec<u64>> {
    let n = i64::try_from(batch.len()).unwrap_or(i64::MAX);
    let mut numbers: Vec<i64> = batch
        .iter()
        .filter_map(|cs| cs.dr.as_ref())
        .map(|w| big(w.dr.id.number()))
        .collect::<Result<_>>()?;
    numbers.sort_unstable();
    numbers.dedup();
    let prepare =
        futures_util::future::try_join_all(BATCH_SQL.iter().map(|sql| c.prepare_cached(sql)));
    let count: [&(dyn ToSql + Sync); 1] = [&n];
    let wanted: [&(dyn ToSql + Sync); 1] = [&numbers];
    let (stmts, seqs, stored) = tokio::try_join!(
        async { prepare.await.db("preparing a batch") },
        crate::rows::query(
            c,
            "SELECT nextval(pg_get_serial_sequence('mails', 'seq')) FROM generate_series(1, $1::int8)",
            &count,
            "numbering mail records",
        ),
        async {
            if numbers.is_empty() {
                return Ok(Vec::new());
            }
            crate::rows::query(
                c,
                "SELECT number, id, version, users FROM drs WHERE number = ANY($1::int8[])
                 ORDER BY number FOR UPDATE",
                &wanted,
                "reading the DRs' versions",
            )
            .await
        }
    )?;
    let mut state: DrState = stored
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let bound: Vec<Bound> = batch
        .iter()
        .zip(&seqs)
        .zip(docs)
        .map(|((cs, r), doc)| bind(cs, r.get(0), doc, &mut state))
        .collect::<Result<_>>()?;
    let words: Vec<[String; 5]> = docs.iter().map(crate::search::vectors).collect();
    // The per-mail rows, a statement per table for the whole batch.
    let seqs: Vec<i64> = bound.iter().map(|b| b.seq).collect();
    let mids: Vec<&str> = bound.iter().map(|b| b.mid.as_str()).collect();
    let dirs: Vec<&str> = bound.iter().map(|b| b.dir).collect();
    let tracked: Vec<bool> = bound.iter().map(|b| b.tracked).collect();
    let dr_numbers: Vec<Option<i64>> = bound.iter().map(|b| b.dr_number).collect();
    let dr_ids: Vec<Option<&str>> = bound.iter().map(|b| b.dr_id.as_deref()).collect();
    let senders: Vec<Option<&str>> = bound.iter().map(|b| b.sender.as_deref()).collect();
    let received: Vec<i64> = bound.iter().map(|b| b.received).collect();
    let attached: Vec<bool> = bound.iter().map(|b| b.has_attachment).collect();
    let data: Vec<&str> = bound.iter().map(|b| b.data.as_str()).collect();
    let indexed: Vec<&Bound> = bound
        .iter()
        .zip(batch)
        .filter(|(_, cs)| cs.index_message_id)
        .map(|(b, _)| b)
        .collect();
    let id_mids: Vec<&str> = indexed.iter().map(|b| b.mid.as_str()).collect();
    let id_dirs: Vec<&str> = indexed.iter().map(|b| b.dir).collect();
    let id_seqs: Vec<i64> = indexed.iter().map(|b| b.seq).collect();
    let mut p_addr: Vec<&str> = Vec::new();
    let mut p_dom: Vec<&str> = Vec::new();
    let mut p_seq: Vec<i64> = Vec::new();
    for b in &bound {
        for (a, d) in b.addresses.iter().zip(&b.domains) {
            p_addr.push(a);
            p_dom.push(d);
            p_seq.push(b.seq);
        }
    }
    let raws: Vec<&[u8]> = batch.iter().map(|cs| cs.raw.as_slice()).collect();
    let vector = |k: usize| -> Vec<&str> { words.iter().map(|w| w[k].as_str()).collect() };
    let (v0, v1, v2, v3, v4) = (vector(0), vector(1), vector(2), vector(3), vector(4));
    let mail_params: [&(dyn ToSql + Sync); 10] = [
        &seqs,
        &mids,
        &dirs,
        &tracked,
        &dr_numbers,
        &dr_ids,
        &senders,
        &received,
        &attached,
        &data,
    ];
    let id_params: [&(dyn ToSql + Sync); 3] = [&id_mids, &id_dirs, &id_seqs];
    let party_params: [&(dyn ToSql + Sync); 3] = [&p_addr, &p_dom, &p_seq];
    let raw_params: [&(dyn ToSql + Sync); 2] = [&seqs, &raws];
    let search_params: [&(dyn ToSql + Sync); 6] = [&seqs, &v0, &v1, &v2, &v3, &v4];
    let bulk: [(usize, &[&(dyn ToSql + Sync)], &'static str); 5] = [
        (4, &mail_params, "inserting mail records"),
        (5, &id_params, "indexing Message-IDs"),
        (6, &party_params, "indexing the mails' addresses"),
        (7, &raw_params, "archiving raw messages"),
        (9, &search_params, "indexing mail for search"),
    ];
    let s = &stmts;
    let mut steps: Vec<Step<'_>> = Vec::new();
    for d in bound.iter().filter_map(|b| b.dr.as_ref()) {
        match &d.old_users {
            None => steps.push(Box::pin(async move {
                c.execute(
                    &s[0],
                    &[
                        &d.number,
                        &d.id,
                        &d.status,
                        &d.owner,
                        &d.customer,
                        &d.domain,
                        &d.version,
                        &d.due,
                        &d.since,
                        &d.users,
                        &d.data,
                    ],
                )
                .await
                .db("writing a DR")
            })),
            Some(_) => steps.push(Box::pin(async move {
                c.execute(
                    &s[1],
                    &[
                        &d.version,
                        &d.data,
                        &d.status,
                        &d.owner,
                        &d.customer,
                        &d.domain,
                        &d.due,
                        &d.since,
                        &d.users,
                        &d.number,
                    ],
                )
                .await
                .db("updating a DR")
            })),
        }
        if d.old_users.as_deref() == Some(d.users.as_str()) {
            continue;
        }
        if d.old_users.is_some() {
            steps.push(Box::pin(async move {
                c.execute(&s[2], &[&d.user_list, &d.number])
                    .await
                    .db("updating the DR user index")
            }));
        }
        steps.push(Box::pin(async move {
            c.execute(&s[3], &[&d.user_list, &d.number])
                .await
                .db("updating the DR user index")
        }));
    }
    for (k, params, what) in bulk {
        steps.push(Box::pin(
            async move { c.execute(&s[k], params).await.db(what) },
        ));
    }
    for (b, cs) in bound.iter().zip(batch) {
        if let Some((dr, user, at, data)) = &b.response {
            steps.push(Box::pin(async move {
                c.execute(&s[8], &[dr, user, at, data])
                    .await
                    .db("recording a response time")
            }));
        }
        if let Some(id) = cs.pending {
            steps.push(Box::pin(
                async move { drop_pending(c, id).await.map(|()| 0) },
            ));
        }
        if !cs.queue.is_empty() {
            steps.push(Box::pin(async move {
                crate::outbox::queue(c, &cs.queue)
                    .await
                    .map(|ids| ids.len() as u64)
            }));
        }
        for (mid, dir) in &b.links {
            steps.push(Box::pin(async move {
                c.execute(&s[10], &[mid, dir, &b.dr_number, &b.dr_id])
                    .await
                    .db("linking a mail to its DR")
            }));
        }
    }
    // Every statement is sent on its first poll, in this order; the first failure in order is
    // the cause (the ones after it fail because the transaction is aborted).
    let results = futures_util::future::join_all(steps).await;
    if let Some(e) = results.into_iter().find_map(|r| r.err()) {
        return Err(e);
    }
    Ok(bound.iter().map(|b| crate::rows::unsigned(b.seq)).collect())
}
