//! Read queries, run on pooled read-only connections off the async runtime.
//!
//! WAL lets readers run beside the writer, each on a consistent snapshot. Listings use keyset
//! pagination (`seq < cursor ORDER BY seq DESC`) on indexes, so a page costs the same on page 1
//! and page 10,000.

use std::path::PathBuf;
use std::sync::Mutex;

use etraq_core::model::{Alert, CycleRecord};
use etraq_core::store::{
    AlertQuery, DrCounts, DrQuery, DrSort, FactsQuery, MailQuery, Page, PendingDelivery,
    ResponseQuery, StoreStats, VolumeBucket, page_size,
};
use etraq_core::tracking::{MailRef, ThreadFacts};
use etraq_core::{Direction, Dr, DrId, EmailAddress, Error, MailRecord, Party, ResponseTime, User};
use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::error::{Ctx, SqliteError, from_json};
use crate::schema;

/// Most read connections open (and reads running) at once. Every one stays open once made:
/// opening a connection reads the schema afresh, so a pool that dropped its spare connections
/// under load (it once kept 8 of however many bursts opened) paid for an open, dozens of
/// `pread`s and a close on a large share of reads. Reads beyond this wait for a connection,
/// which also keeps a burst from filling the blocking thread pool with SQLite work.
const MAX_READERS: usize = 16;

/// A pool of read-only connections.
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: tokio::sync::Semaphore,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Self {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(MAX_READERS),
        }
    }

    /// Runs `f` on a read connection in a blocking task.
    pub(crate) async fn run<T, F>(self: &std::sync::Arc<Self>, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SqliteError::Internal("the read pool is closed".into()))?;
        let this = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let conn = match this.idle.lock().ok().and_then(|mut v| v.pop()) {
                Some(c) => c,
                None => schema::open_reader(&this.path)?,
            };
            let r = f(&conn);
            // (A read whose caller went away may outlive its permit, so the pool can briefly
            // hold one more; it keeps at most MAX_READERS.)
            if let Ok(mut idle) = this.idle.lock()
                && idle.len() < MAX_READERS
            {
                idle.push(conn);
            }
            r
        })
        .await
        .map_err(|e| SqliteError::Internal(e.to_string()))?;
        drop(permit);
        r
    }

    /// Runs `f` on an idle read connection right here, on the calling thread, for a lookup of
    /// a few index probes (the gateway's one read per mail: the thread facts of one message).
    /// Handing it to the blocking pool and back cost two thread wake-ups, more than the read
    /// itself (tens of microseconds on the mapped file). Readers never wait for the writer in
    /// WAL mode, so this does not stall the runtime. Without an idle connection (opening one
    /// reads the schema) or a free permit, it goes to the blocking pool as [`Readers::run`].
    pub(crate) async fn run_small<T, F>(self: &std::sync::Arc<Self>, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let idle = match self.permits.try_acquire() {
            Ok(permit) => self
                .idle
                .lock()
                .ok()
                .and_then(|mut v| v.pop())
                .map(|conn| (permit, conn)),
            Err(_) => None,
        };
        let Some((permit, conn)) = idle else {
            return self.run(f).await;
        };
        let r = f(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_READERS
        {
            idle.push(conn);
        }
        drop(permit);
        r
    }

    /// Drops the idle connections (at close).
    pub(crate) fn clear(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

fn u64_to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn dr_from_row(data: &str) -> Result<Dr, Error> {
    from_json("drs", data)
}

fn mail_from_row(seq: i64, data: &str) -> Result<MailRecord, Error> {
    let mut m: MailRecord = from_json("mails", data)?;
    m.seq = seq as u64;
    Ok(m)
}

pub(crate) fn thread_facts(conn: &Connection, q: &FactsQuery) -> Result<ThreadFacts, Error> {
    let mut facts = ThreadFacts {
        duplicate: conn
            .prepare_cached("SELECT 1 FROM message_ids WHERE message_id = ?1 AND direction = ?2")
            .and_then(|mut s| {
                s.query_row(params![q.message_id.as_str(), q.direction.as_str()], |_| {
                    Ok(())
                })
                .optional()
            })
            .ctx("checking for a duplicate")?
            .is_some(),
        ..ThreadFacts::default()
    };
    {
        let mut s = conn
            .prepare_cached(
                "SELECT i.direction, m.dr_id, m.sender,
                        m.tracked = 0 AND json_extract(m.data, '$.reason') = 'Campaign Mail'
                 FROM message_ids i JOIN mails m ON m.seq = i.seq
                 WHERE i.message_id = ?1",
            )
            .ctx("preparing the thread lookup")?;
        for id in &q.candidates {
            let rows = s
                .query_map(params![id.as_str()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<bool>>(3)?.unwrap_or(false),
                    ))
                })
                .ctx("looking up a referenced Message-ID")?;
            for row in rows {
                let (dir, dr, sender, campaign_mail) = row.ctx("reading a referenced mail")?;
                facts.referenced.push(MailRef {
                    message_id: id.clone(),
                    campaign_mail,
                    direction: Direction::parse(&dir).unwrap_or_default(),
                    dr: dr.and_then(|d| DrId::parse(&d).ok()),
                    sender: sender.and_then(|s| EmailAddress::parse(&s).ok()),
                });
            }
        }
    }
    for id in q.drs_to_read(&facts.referenced) {
        if let Some(dr) = get_dr(conn, &id)? {
            facts.drs.push(dr);
        }
    }
    for u in q.users_to_read(&facts.referenced) {
        if let Some(user) = get_user(conn, &u)? {
            facts.users.push(user);
        }
    }
    Ok(facts)
}

/// [`thread_facts`] for a batch, in one read transaction: one snapshot and one lock for all the
/// lookups instead of one per statement.
pub(crate) fn thread_facts_batch(
    conn: &Connection,
    qs: &[FactsQuery],
) -> Result<Vec<ThreadFacts>, Error> {
    conn.execute_batch("BEGIN")
        .ctx("starting a read transaction")?;
    let out: Result<Vec<ThreadFacts>, Error> = qs.iter().map(|q| thread_facts(conn, q)).collect();
    // A read transaction has nothing to keep; ending it can only fail if it already ended.
    let _ = conn.execute_batch("COMMIT");
    out
}

pub(crate) fn get_dr(conn: &Connection, id: &DrId) -> Result<Option<Dr>, Error> {
    let Ok(number) = i64::try_from(id.number()) else {
        return Ok(None);
    };
    let row: Option<String> = conn
        .prepare_cached("SELECT data FROM drs WHERE number = ?1")
        .and_then(|mut s| s.query_row(params![number], |r| r.get(0)).optional())
        .ctx("reading a DR")?;
    match row {
        Some(data) => {
            let dr = dr_from_row(&data)?;
            Ok((dr.id == *id).then_some(dr))
        }
        None => Ok(None),
    }
}

/// Keyset direction of a listing: the comparison with the cursor and the SQL order.
fn direction(ascending: bool) -> (&'static str, &'static str) {
    if ascending {
        (">", "ASC")
    } else {
        ("<", "DESC")
    }
}

/// Runs `sql` (which selects one integer key) once per user of `involving`, binding the user
/// as the first argument before `args`, and merges the answers in listing order: the first
/// `take` distinct keys. Each per-user query is an index range with its own LIMIT, so a scope of
/// a few users over a million rows costs a few short range scans.
fn merge_per_user(
    conn: &Connection,
    sql: &str,
    involving: &[EmailAddress],
    args: &[Value],
    ascending: bool,
    take: usize,
) -> Result<Vec<i64>, Error> {
    let mut stmt = conn.prepare_cached(sql).ctx("preparing a scoped listing")?;
    let mut keys: Vec<i64> = Vec::new();
    for user in involving {
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(Value::Text(user.as_str().to_string()));
        all.extend(args.iter().cloned());
        let rows = stmt
            .query_map(params_from_iter(all), |r| r.get::<_, i64>(0))
            .ctx("running a scoped listing")?;
        for r in rows {
            keys.push(r.ctx("reading a scoped listing")?);
        }
    }
    keys.sort_unstable();
    keys.dedup();
    if !ascending {
        keys.reverse();
    }
    keys.truncate(take);
    Ok(keys)
}

pub(crate) fn list_drs(conn: &Connection, q: &DrQuery) -> Result<Page<Dr>, Error> {
    let limit = page_size(q.limit);
    // Filters on `d` (the drs table), shared by both query shapes.
    let mut filter = String::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(s) = q.status {
        filter.push_str(" AND d.status = ?");
        args.push(Value::Text(s.as_str().into()));
    }
    if let Some(o) = &q.owner {
        filter.push_str(" AND d.owner = ?");
        args.push(Value::Text(o.as_str().into()));
    }
    match &q.customer {
        Some(Party::Address(a)) => {
            filter.push_str(" AND d.customer = ?");
            args.push(Value::Text(a.as_str().into()));
        }
        Some(Party::Domain(d)) => {
            filter.push_str(" AND d.customer_domain = ?");
            args.push(Value::Text(d.clone()));
        }
        None => {}
    }
    if let Some(before) = q.awaiting_before {
        filter.push_str(" AND d.status = 'open' AND d.awaiting_since < ?");
        args.push(Value::Integer(before.as_second()));
    }
    if q.longest_waiting_first {
        return longest_waiting(conn, q, &filter, args, limit);
    }
    let take = limit + 1;
    let sort = DrSort::effective(q);
    if sort == DrSort::Number && q.involving.is_none() {
        // The default listing: one range of the primary key, documents included.
        let (cmp, order) = direction(q.ascending);
        let mut sql = format!("SELECT d.data FROM drs d WHERE 1=1{filter}");
        if let Some(after) = q.after {
            sql.push_str(&format!(" AND d.number {cmp} ?"));
            args.push(Value::Integer(u64_to_i64(after)));
        }
        sql.push_str(&format!(" ORDER BY d.number {order} LIMIT {take}"));
        let mut stmt = conn.prepare_cached(&sql).ctx("preparing the DR listing")?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| r.get::<_, String>(0))
            .ctx("listing DRs")?;
        let mut items = Vec::new();
        for row in rows {
            items.push(dr_from_row(&row.ctx("reading a DR row")?)?);
        }
        return Ok(page_of(items, limit));
    }
    let numbers: Vec<i64> = match (sort, &q.involving) {
        (DrSort::Number, Some(users)) => number_order(conn, q, users, &filter, args, take)?,
        (keyed, _) => key_order(conn, q, keyed, &filter, args, take)?,
    };
    let mut get = conn
        .prepare_cached("SELECT data FROM drs WHERE number = ?1")
        .ctx("preparing a DR lookup")?;
    let mut rows = Vec::with_capacity(numbers.len());
    for n in numbers {
        let data: String = get
            .query_row(params![n], |r| r.get(0))
            .ctx("reading a DR")?;
        rows.push((n, data));
    }
    let mut items = Vec::with_capacity(rows.len());
    for (_, data) in &rows {
        items.push(dr_from_row(data)?);
    }
    Ok(page_of(items, limit))
}

/// A page from up to `limit + 1` DRs: the extra one only says there is a next page.
fn page_of(items: Vec<Dr>, limit: usize) -> Page<Dr> {
    Page::from_overfetch(items, limit, |d| d.id.number())
}

/// DR numbers of a scope in number order, at most `take`: one range of `dr_users` per user,
/// merged.
fn number_order(
    conn: &Connection,
    q: &DrQuery,
    users: &[EmailAddress],
    filter: &str,
    mut args: Vec<Value>,
    take: usize,
) -> Result<Vec<i64>, Error> {
    let (cmp, order) = direction(q.ascending);
    let mut sql = format!(
        "SELECT u.number FROM dr_users u JOIN drs d ON d.number = u.number WHERE u.user = ?{filter}"
    );
    if let Some(after) = q.after {
        sql.push_str(&format!(" AND u.number {cmp} ?"));
        args.push(Value::Integer(u64_to_i64(after)));
    }
    sql.push_str(&format!(" ORDER BY u.number {order} LIMIT {take}"));
    merge_per_user(conn, &sql, users, &args, q.ascending, take)
}

/// Below this many DRs, a scoped sorted listing reads the scope and sorts it.
const SMALL_SCOPE: usize = 10_000;

/// How many `dr_users` rows the users have, counting no further than `cap`.
fn scope_size(conn: &Connection, users: &[EmailAddress], cap: usize) -> Result<usize, Error> {
    let mut stmt = conn
        .prepare_cached("SELECT COUNT(*) FROM (SELECT 1 FROM dr_users WHERE user = ?1 LIMIT ?2)")
        .ctx("preparing a scope count")?;
    let mut total = 0usize;
    for u in users {
        let n: i64 = stmt
            .query_row(params![u.as_str(), cap as i64], |r| r.get(0))
            .ctx("counting a scope")?;
        total += n.max(0) as usize;
        if total >= cap {
            break;
        }
    }
    Ok(total)
}

/// DR numbers ordered by a column, then by number, at most `take`. The cursor is the pair
/// (`after_key`, `after`); the column's index `(column, number)` serves every page. A scope reads
/// each user's DRs in that order and merges them.
fn key_order(
    conn: &Connection,
    q: &DrQuery,
    sort: DrSort,
    filter: &str,
    mut args: Vec<Value>,
    take: usize,
) -> Result<Vec<i64>, Error> {
    let col = match sort {
        DrSort::Owner => "d.owner",
        DrSort::Customer => "d.customer",
        DrSort::Status => "d.status",
        DrSort::Number => "d.number",
    };
    let (cmp, order) = direction(q.ascending);
    let base_args = args.clone();
    let mut cursor = String::new();
    if let Some(after) = q.after {
        let key = q.after_key.clone().unwrap_or_default();
        cursor = format!(" AND ({col}, d.number) {cmp} (?, ?)");
        args.push(Value::Text(key));
        args.push(Value::Integer(u64_to_i64(after)));
    }
    let mut pairs: Vec<(String, i64)> = Vec::new();
    let run = |sql: &str, args: Vec<Value>| -> Result<Vec<(String, i64)>, Error> {
        let mut stmt = conn.prepare_cached(sql).ctx("preparing a sorted listing")?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .ctx("running a sorted listing")?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r.ctx("reading a sorted listing")?);
        }
        Ok(out)
    };
    // A scope of few DRs is read user by user and sorted; a large one walks the column's
    // index and keeps the DRs in scope (sorting a department's 250,000 DRs per page would not
    // do; walking the index for an agent's 20 DRs among a million would not either).
    let mut scope_clause = String::new();
    let mut scope_args: Vec<Value> = Vec::new();
    if let Some(users) = &q.involving {
        if scope_size(conn, users, SMALL_SCOPE)? < SMALL_SCOPE {
            let sql = format!(
                "SELECT {col}, d.number FROM dr_users u JOIN drs d ON d.number = u.number \
                 WHERE u.user = ?{filter}{cursor} ORDER BY {col} {order}, d.number {order} LIMIT {take}"
            );
            for user in users {
                let mut all = Vec::with_capacity(args.len() + 1);
                all.push(Value::Text(user.as_str().to_string()));
                all.extend(args.iter().cloned());
                pairs.extend(run(&sql, all)?);
            }
            pairs.sort_unstable();
            pairs.dedup();
            if !q.ascending {
                pairs.reverse();
            }
            pairs.truncate(take);
            return Ok(pairs.into_iter().map(|(_, n)| n).collect());
        }
        let marks = vec!["?"; users.len()].join(", ");
        scope_clause = format!(
            " AND EXISTS (SELECT 1 FROM dr_users x WHERE x.user IN ({marks}) AND x.number = d.number)"
        );
        scope_args = users
            .iter()
            .map(|u| Value::Text(u.as_str().to_string()))
            .collect();
    }
    let filter = format!("{filter}{scope_clause}");
    let mut base_args = base_args;
    base_args.extend(scope_args);
    match q.after {
        // Without a cursor: one range of the (column, number) index.
        None => {
            let sql = format!(
                "SELECT {col}, d.number FROM drs d WHERE 1=1{filter} \
                 ORDER BY {col} {order}, d.number {order} LIMIT {take}"
            );
            pairs.extend(run(&sql, base_args)?);
        }
        // With one: the rest of the cursor's key, then the keys after it — two ranges.
        // (SQLite turns a row-value comparison into a range on the column alone and would
        // skip half a million rows of one status to reach the cursor.)
        Some(after) => {
            let key = q.after_key.clone().unwrap_or_default();
            let same = format!(
                "SELECT {col}, d.number FROM drs d WHERE {col} = ? AND d.number {cmp} ?{filter} \
                 ORDER BY d.number {order} LIMIT {take}"
            );
            let mut a = vec![Value::Text(key.clone()), Value::Integer(u64_to_i64(after))];
            a.extend(base_args.iter().cloned());
            pairs.extend(run(&same, a)?);
            if pairs.len() < take {
                let rest = format!(
                    "SELECT {col}, d.number FROM drs d WHERE {col} {cmp} ?{filter} \
                     ORDER BY {col} {order}, d.number {order} LIMIT {}",
                    take - pairs.len()
                );
                let mut a = vec![Value::Text(key)];
                a.extend(base_args.iter().cloned());
                pairs.extend(run(&rest, a)?);
            }
        }
    }
    Ok(pairs.into_iter().map(|(_, n)| n).collect())
}

/// Open DRs, longest wait first, at most `limit` (the partial index `drs_waiting` serves the
/// unscoped case; a scope reads each user's open DRs and merges them).
fn longest_waiting(
    conn: &Connection,
    q: &DrQuery,
    filter: &str,
    args: Vec<Value>,
    limit: usize,
) -> Result<Page<Dr>, Error> {
    let mut keys: Vec<(i64, i64)> = Vec::new();
    // The literal `status = 'open'` makes the partial index usable; INDEXED BY makes SQLite use
    // it (without statistics it prefers the status index and sorts every open DR: 300 ms
    // instead of 1 ms over a million).
    match &q.involving {
        None => {
            let sql = format!(
                "SELECT d.awaiting_since, d.number FROM drs d INDEXED BY drs_waiting \
                 WHERE d.status = 'open'{filter} \
                 ORDER BY d.awaiting_since, d.number LIMIT {limit}"
            );
            let mut stmt = conn
                .prepare_cached(&sql)
                .ctx("preparing the waiting list")?;
            let rows = stmt
                .query_map(params_from_iter(args), |r| {
                    Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(i64::MAX), r.get(1)?))
                })
                .ctx("listing waiting DRs")?;
            for r in rows {
                keys.push(r.ctx("reading the waiting list")?);
            }
        }
        Some(users) => {
            let sql = format!(
                "SELECT d.awaiting_since, u.number FROM dr_users u JOIN drs d ON d.number = u.number \
                 WHERE u.user = ? AND d.status = 'open'{filter} \
                 ORDER BY d.awaiting_since, u.number LIMIT {limit}"
            );
            let mut stmt = conn
                .prepare_cached(&sql)
                .ctx("preparing the waiting list")?;
            for user in users {
                let mut all = Vec::with_capacity(args.len() + 1);
                all.push(Value::Text(user.as_str().to_string()));
                all.extend(args.iter().cloned());
                let rows = stmt
                    .query_map(params_from_iter(all), |r| {
                        Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(i64::MAX), r.get(1)?))
                    })
                    .ctx("listing waiting DRs")?;
                for r in rows {
                    keys.push(r.ctx("reading the waiting list")?);
                }
            }
            keys.sort_unstable();
            keys.dedup();
            keys.truncate(limit);
        }
    }
    let mut get = conn
        .prepare_cached("SELECT data FROM drs WHERE number = ?1")
        .ctx("preparing a DR lookup")?;
    let mut items = Vec::with_capacity(keys.len());
    for (_, n) in keys {
        let data: String = get
            .query_row(params![n], |r| r.get(0))
            .ctx("reading a DR")?;
        items.push(dr_from_row(&data)?);
    }
    Ok(Page { items, next: None })
}

pub(crate) fn get_mail(conn: &Connection, seq: u64) -> Result<Option<MailRecord>, Error> {
    let row: Option<String> = conn
        .prepare_cached("SELECT data FROM mails WHERE seq = ?1")
        .and_then(|mut s| {
            s.query_row(params![u64_to_i64(seq)], |r| r.get(0))
                .optional()
        })
        .ctx("reading a mail record")?;
    row.map(|d| mail_from_row(u64_to_i64(seq), &d)).transpose()
}

pub(crate) fn mails_by_message_id(conn: &Connection, id: &str) -> Result<Vec<MailRecord>, Error> {
    let mut s = conn
        .prepare_cached("SELECT seq, data FROM mails WHERE message_id = ?1 ORDER BY seq")
        .ctx("preparing the Message-ID lookup")?;
    let rows = s
        .query_map(params![id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .ctx("looking up a Message-ID")?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, data) = row.ctx("reading a mail row")?;
        out.push(mail_from_row(seq, &data)?);
    }
    Ok(out)
}

pub(crate) fn list_mails(conn: &Connection, q: &MailQuery) -> Result<Page<MailRecord>, Error> {
    let limit = page_size(q.limit);
    let take = limit + 1;
    let (cmp, order) = direction(q.oldest_first);
    // Filters on `m` (the mails table) and, for `party`, an address on the mail.
    let mut filter = String::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(t) = q.tracked {
        filter.push_str(" AND m.tracked = ?");
        args.push(Value::Integer(t as i64));
    }
    if let Some(dr) = &q.dr {
        filter.push_str(" AND m.dr_number = ? AND m.dr_id = ?");
        args.push(Value::Integer(u64_to_i64(dr.number())));
        args.push(Value::Text(dr.to_string()));
    }
    let party = q.party.as_ref().map(|p| match p {
        Party::Address(a) => ("address", a.as_str().to_string()),
        Party::Domain(d) => ("domain", d.clone()),
    });
    let seqs: Vec<i64> = match (&q.involving, &party) {
        (Some(users), _) => {
            if let Some((col, val)) = &party {
                filter.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM mail_parties q WHERE q.{col} = ? AND q.seq = p.seq)"
                ));
                args.push(Value::Text(val.clone()));
            }
            let mut sql = format!(
                "SELECT p.seq FROM mail_parties p JOIN mails m ON m.seq = p.seq WHERE p.address = ?{filter}"
            );
            if let Some(after) = q.after {
                sql.push_str(&format!(" AND p.seq {cmp} ?"));
                args.push(Value::Integer(u64_to_i64(after)));
            }
            sql.push_str(&format!(" ORDER BY p.seq {order} LIMIT {take}"));
            merge_per_user(conn, &sql, users, &args, q.oldest_first, take)?
        }
        (None, Some((col, val))) => {
            // A mail with two addresses at one domain appears once.
            let mut sql = format!(
                "SELECT DISTINCT p.seq FROM mail_parties p JOIN mails m ON m.seq = p.seq WHERE p.{col} = ?{filter}"
            );
            let mut all = vec![Value::Text(val.clone())];
            all.append(&mut args);
            if let Some(after) = q.after {
                sql.push_str(&format!(" AND p.seq {cmp} ?"));
                all.push(Value::Integer(u64_to_i64(after)));
            }
            sql.push_str(&format!(" ORDER BY p.seq {order} LIMIT {take}"));
            query_keys(conn, &sql, all)?
        }
        (None, None) => {
            let mut sql = format!("SELECT m.seq FROM mails m WHERE 1=1{filter}");
            if let Some(after) = q.after {
                sql.push_str(&format!(" AND m.seq {cmp} ?"));
                args.push(Value::Integer(u64_to_i64(after)));
            }
            sql.push_str(&format!(" ORDER BY m.seq {order} LIMIT {take}"));
            query_keys(conn, &sql, args)?
        }
    };
    let mut get = conn
        .prepare_cached("SELECT data FROM mails WHERE seq = ?1")
        .ctx("preparing a mail lookup")?;
    let mut items = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let data: String = get
            .query_row(params![seq], |r| r.get(0))
            .ctx("reading a mail record")?;
        items.push(mail_from_row(seq, &data)?);
    }
    Ok(Page::from_overfetch(items, limit, |m| m.seq))
}

/// Runs a query selecting one integer key.
fn query_keys(conn: &Connection, sql: &str, args: Vec<Value>) -> Result<Vec<i64>, Error> {
    let mut stmt = conn.prepare_cached(sql).ctx("preparing a listing")?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| r.get::<_, i64>(0))
        .ctx("running a listing")?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r.ctx("reading a listing")?);
    }
    Ok(out)
}

pub(crate) fn raw_message(conn: &Connection, seq: u64) -> Result<Option<Vec<u8>>, Error> {
    conn.prepare_cached("SELECT raw FROM raw_messages WHERE seq = ?1")
        .and_then(|mut s| {
            s.query_row(params![u64_to_i64(seq)], |r| r.get(0))
                .optional()
        })
        .ctx("reading a raw message")
}

pub(crate) fn get_user(conn: &Connection, email: &EmailAddress) -> Result<Option<User>, Error> {
    let row: Option<String> = conn
        .prepare_cached("SELECT data FROM users WHERE email = ?1")
        .and_then(|mut s| {
            s.query_row(params![email.as_str()], |r| r.get(0))
                .optional()
        })
        .ctx("reading a user")?;
    row.map(|d| from_json("users", &d)).transpose()
}

pub(crate) fn list_users(conn: &Connection) -> Result<Vec<User>, Error> {
    let mut s = conn
        .prepare_cached("SELECT data FROM users ORDER BY email")
        .ctx("preparing the user listing")?;
    let rows = s
        .query_map([], |r| r.get::<_, String>(0))
        .ctx("listing users")?;
    let mut out = Vec::new();
    for row in rows {
        out.push(from_json("users", &row.ctx("reading a user row")?)?);
    }
    Ok(out)
}

pub(crate) fn list_responses(
    conn: &Connection,
    q: &ResponseQuery,
) -> Result<Vec<ResponseTime>, Error> {
    let mut sql = String::from("SELECT data FROM responses WHERE 1=1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(since) = q.since {
        sql.push_str(" AND responded_at >= ?");
        args.push(Value::Integer(since.as_second()));
    }
    if let Some(u) = &q.user {
        sql.push_str(" AND user = ?");
        args.push(Value::Text(u.as_str().into()));
    }
    sql.push_str(" ORDER BY responded_at, id");
    let mut s = conn
        .prepare_cached(&sql)
        .ctx("preparing the response listing")?;
    let rows = s
        .query_map(params_from_iter(args), |r| r.get::<_, String>(0))
        .ctx("listing responses")?;
    let mut out = Vec::new();
    for row in rows {
        let r: ResponseTime = from_json("responses", &row.ctx("reading a response row")?)?;
        // `responded_at` is stored to the second; keep sub-second precision honest.
        if q.since.is_none_or(|s| r.responded_at >= s) {
            out.push(r);
        }
    }
    Ok(out)
}

pub(crate) fn list_pending(conn: &Connection) -> Result<Vec<PendingDelivery>, Error> {
    let mut s = conn
        .prepare_cached("SELECT id, data FROM pending ORDER BY id")
        .ctx("preparing the journal listing")?;
    let rows = s
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .ctx("listing the journal")?;
    let mut out = Vec::new();
    for row in rows {
        let (id, data) = row.ctx("reading a journal row")?;
        let mut p: PendingDelivery = from_json("pending", &data)?;
        p.id = id as u64;
        out.push(p);
    }
    Ok(out)
}

pub(crate) fn due_drs(conn: &Connection, now: Timestamp, limit: usize) -> Result<Vec<Dr>, Error> {
    let mut s = conn
        .prepare_cached("SELECT data FROM drs WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2")
        .ctx("preparing the due DRs")?;
    let rows = s
        .query_map(
            params![now.as_microsecond(), limit.min(i64::MAX as usize) as i64],
            |r| r.get::<_, String>(0),
        )
        .ctx("listing due DRs")?;
    let mut out = Vec::new();
    for row in rows {
        out.push(dr_from_row(&row.ctx("reading a due DR")?)?);
    }
    Ok(out)
}

pub(crate) fn list_cycles(
    conn: &Connection,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<CycleRecord>, Error> {
    let limit = page_size(limit);
    let mut s = conn
        .prepare_cached("SELECT id, data FROM cycles WHERE id < ?1 ORDER BY id DESC LIMIT ?2")
        .ctx("preparing the cycle listing")?;
    let rows = s
        .query_map(
            params![after.map_or(i64::MAX, u64_to_i64), limit as i64 + 1],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .ctx("listing cycles")?;
    let mut items = Vec::new();
    for row in rows {
        let (id, data) = row.ctx("reading a cycle")?;
        let mut c: CycleRecord = from_json("cycles", &data)?;
        c.id = id as u64;
        items.push(c);
    }
    Ok(Page::from_overfetch(items, limit, |c| c.id))
}

fn alert_from_row(id: i64, data: &str) -> Result<Alert, Error> {
    let mut a: Alert = from_json("alerts", data)?;
    a.id = id as u64;
    Ok(a)
}

pub(crate) fn list_alerts(conn: &Connection, q: &AlertQuery) -> Result<Page<Alert>, Error> {
    let limit = page_size(q.limit);
    let mut sql = String::from("SELECT id, data FROM alerts WHERE id < ?");
    let mut args = vec![Value::Integer(q.after.map_or(i64::MAX, u64_to_i64))];
    if let Some(u) = &q.user {
        sql.push_str(" AND user = ?");
        args.push(Value::Text(u.as_str().into()));
    }
    if let Some(d) = &q.dr {
        sql.push_str(" AND dr_number = ?");
        args.push(Value::Integer(u64_to_i64(d.number())));
    }
    if let Some(users) = &q.involving {
        // Alerts are few next to mail; a plain IN list on the user index is enough.
        let marks = vec!["?"; users.len()].join(", ");
        sql.push_str(&format!(" AND user IN ({marks})"));
        args.extend(users.iter().map(|u| Value::Text(u.as_str().to_string())));
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    args.push(Value::Integer(limit as i64 + 1));
    let mut s = conn
        .prepare_cached(&sql)
        .ctx("preparing the alert listing")?;
    let rows = s
        .query_map(params_from_iter(args), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .ctx("listing alerts")?;
    let mut items = Vec::new();
    for row in rows {
        let (id, data) = row.ctx("reading an alert")?;
        let a = alert_from_row(id, &data)?;
        if q.dr.as_ref().is_none_or(|d| *d == a.source_dr) {
            items.push(a);
        }
    }
    Ok(Page::from_overfetch(items, limit, |a| a.id))
}

pub(crate) fn kv_get(conn: &Connection, key: &str) -> Result<Option<String>, Error> {
    conn.prepare_cached("SELECT value FROM kv WHERE key = ?1")
        .and_then(|mut s| s.query_row(params![key], |r| r.get(0)).optional())
        .ctx("reading a key-value entry")
}

pub(crate) fn kv_scan(conn: &Connection, prefix: &str) -> Result<Vec<(String, String)>, Error> {
    // Keys are compared as text; the range [prefix, prefix + U+10FFFF) holds exactly the keys
    // that start with `prefix`, and uses the primary key.
    let end = format!("{prefix}\u{10FFFF}");
    let mut s = conn
        .prepare_cached("SELECT key, value FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key")
        .ctx("preparing a key-value scan")?;
    let rows = s
        .query_map(params![prefix, end], |r| Ok((r.get(0)?, r.get(1)?)))
        .ctx("scanning key-value entries")?;
    let mut out = Vec::new();
    for r in rows {
        let (k, v): (String, String) = r.ctx("reading a key-value entry")?;
        if k.starts_with(prefix) {
            out.push((k, v));
        }
    }
    Ok(out)
}

pub(crate) fn outbox(conn: &Connection, now: Timestamp, limit: usize) -> Result<Vec<Alert>, Error> {
    let mut s = conn
        .prepare_cached(
            "SELECT id, data FROM alerts WHERE pending = 1 AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
        )
        .ctx("preparing the outbox")?;
    let rows = s
        .query_map(
            params![now.as_microsecond(), limit.min(i64::MAX as usize) as i64],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .ctx("reading the outbox")?;
    let mut out = Vec::new();
    for row in rows {
        let (id, data) = row.ctx("reading an alert")?;
        out.push(alert_from_row(id, &data)?);
    }
    Ok(out)
}

/// `?, ?, …` for `n` parameters (n ≥ 1).
fn placeholders(n: usize) -> String {
    vec!["?"; n.max(1)].join(", ")
}

pub(crate) fn volume(
    conn: &Connection,
    since: Timestamp,
    until: Timestamp,
    bucket: i64,
    involving: Option<&[EmailAddress]>,
) -> Result<Vec<VolumeBucket>, Error> {
    let bucket = bucket.max(1);
    if involving.is_some_and(|u| u.is_empty()) {
        return Ok(Vec::new());
    }
    // Scoped: only mail with one of the scope's addresses on it (the party index).
    let scope = match involving {
        Some(users) => format!(
            " AND EXISTS (SELECT 1 FROM mail_parties p WHERE p.seq = m.seq AND p.address IN ({}))",
            placeholders(users.len())
        ),
        None => String::new(),
    };
    let sql = format!(
        "SELECT (m.received_at - ((m.received_at % ?) + ?) % ?) AS b, m.direction, m.tracked, COUNT(*)
         FROM mails m WHERE m.received_at >= ? AND m.received_at < ?{scope}
         GROUP BY b, m.direction, m.tracked ORDER BY b"
    );
    let mut args = vec![
        Value::Integer(bucket),
        Value::Integer(bucket),
        Value::Integer(bucket),
        Value::Integer(since.as_second()),
        Value::Integer(until.as_second()),
    ];
    args.extend(
        involving
            .unwrap_or_default()
            .iter()
            .map(|u| Value::Text(u.as_str().to_string())),
    );
    let mut s = conn.prepare(&sql).ctx("preparing the volume query")?;
    let rows = s
        .query_map(params_from_iter(args), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .ctx("counting mail volume")?;
    let mut out = Vec::new();
    for row in rows {
        let (start, dir, tracked, count) = row.ctx("reading a volume row")?;
        out.push(VolumeBucket {
            start,
            direction: Direction::parse(&dir).unwrap_or_default(),
            tracked,
            count: count as u64,
        });
    }
    Ok(out)
}

pub(crate) fn dr_counts(
    conn: &Connection,
    involving: Option<&[EmailAddress]>,
) -> Result<DrCounts, Error> {
    let mut counts = DrCounts::default();
    let (sql, args) = match involving {
        Some([]) => return Ok(counts),
        Some(users) => (
            format!(
                "SELECT d.status, COUNT(*) FROM drs d WHERE d.number IN \
                 (SELECT number FROM dr_users WHERE user IN ({})) GROUP BY d.status",
                placeholders(users.len())
            ),
            users
                .iter()
                .map(|u| Value::Text(u.as_str().to_string()))
                .collect::<Vec<_>>(),
        ),
        None => (
            "SELECT status, COUNT(*) FROM drs GROUP BY status".to_string(),
            Vec::new(),
        ),
    };
    let mut stmt = conn.prepare(&sql).ctx("preparing DR counts")?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .ctx("counting DRs")?;
    for row in rows {
        let (status, n) = row.ctx("reading a count")?;
        let n = u64::try_from(n).unwrap_or(0);
        match status.as_str() {
            "open" => counts.open = n,
            "replied" => counts.replied = n,
            "closed" => counts.closed = n,
            _ => {}
        }
    }
    Ok(counts)
}

pub(crate) fn stats(conn: &Connection) -> Result<StoreStats, Error> {
    let count = |sql: &str| -> Result<u64, Error> {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .ctx("counting")
    };
    let mut s = StoreStats {
        tracked: count("SELECT COUNT(*) FROM mails WHERE tracked = 1")?,
        untracked: count("SELECT COUNT(*) FROM mails WHERE tracked = 0")?,
        users: count("SELECT COUNT(*) FROM users")?,
        warned: count("SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'warned'")?,
        escalated: count("SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'escalated'")?,
        outbox: count("SELECT COUNT(*) FROM alerts WHERE pending = 1")?,
        ..StoreStats::default()
    };
    let mut stmt = conn
        .prepare_cached("SELECT status, COUNT(*) FROM drs GROUP BY status")
        .ctx("preparing DR counts")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .ctx("counting DRs")?;
    for row in rows {
        let (status, n) = row.ctx("reading a count")?;
        match status.as_str() {
            "open" => s.open = n as u64,
            "replied" => s.replied = n as u64,
            "closed" => s.closed = n as u64,
            _ => {}
        }
    }
    Ok(s)
}
