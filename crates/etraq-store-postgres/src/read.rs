//! The tracking and escalation reads. Listings are keyset pages on indexes (`number < cursor
//! ORDER BY number DESC`), so page 10,000 costs what page 1 does; a viewer's scope is an
//! `EXISTS` on the `dr_users` / `mail_parties` indexes, which PostgreSQL's planner turns into
//! the cheaper of a walk and a join by itself.

use deadpool_postgres::GenericClient;
use etraq_core::model::{Alert, CycleRecord};
use etraq_core::store::{
    AlertQuery, DrCounts, DrQuery, DrSort, FactsQuery, MailQuery, Page, PendingDelivery,
    ResponseQuery, StoreStats, VolumeBucket, page_size,
};
use etraq_core::tracking::{MailRef, ThreadFacts};
use etraq_core::{
    Direction, Dr, DrId, EmailAddress, MailRecord, Party, ResponseTime, Result, User,
};
use jiff::Timestamp;
use tokio_postgres::types::ToSql;

use crate::error::db_error;
use crate::rows::{big, dec, docs, limit as lim, query, query_one, query_opt, unsigned};

/// Bound parameters of a query built piece by piece.
#[derive(Default)]
struct Args(Vec<Box<dyn ToSql + Sync + Send>>);

impl Args {
    /// Adds a parameter; answers its placeholder.
    fn add<T: ToSql + Sync + Send + 'static>(&mut self, v: T) -> String {
        self.0.push(Box::new(v));
        format!("${}", self.0.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// Runs a query built at run time (not cached: its text varies with the filters).
async fn run<C: GenericClient>(
    c: &C,
    sql: &str,
    args: &Args,
    context: &'static str,
) -> Result<Vec<tokio_postgres::Row>> {
    c.query(sql, &args.refs())
        .await
        .map_err(|e| db_error(context, &e))
}

fn mail_of(row: &tokio_postgres::Row) -> Result<MailRecord> {
    let mut m: MailRecord = dec("mails", row.get::<_, &str>(1))?;
    m.seq = unsigned(row.get(0));
    Ok(m)
}

fn addresses(users: &[EmailAddress]) -> Vec<String> {
    users.iter().map(|u| u.as_str().to_string()).collect()
}

/// The facts classification needs about one mail.
pub(crate) async fn thread_facts<C: GenericClient>(c: &C, q: &FactsQuery) -> Result<ThreadFacts> {
    let mut facts = ThreadFacts {
        duplicate: query_opt(
            c,
            "SELECT 1 FROM message_ids WHERE message_id = $1 AND direction = $2",
            &[&q.message_id.as_str(), &q.direction.as_str()],
            "checking for a duplicate",
        )
        .await?
        .is_some(),
        ..ThreadFacts::default()
    };
    if !q.candidates.is_empty() {
        let ids: Vec<&str> = q.candidates.iter().map(|m| m.as_str()).collect();
        let rows = query(
            c,
            "SELECT i.message_id, i.direction, m.dr_id, m.sender,
                    (NOT m.tracked AND m.data::jsonb ->> 'reason' = 'Campaign Mail')
             FROM unnest($1::text[]) WITH ORDINALITY AS w(id, k)
             JOIN message_ids i ON i.message_id = w.id JOIN mails m ON m.seq = i.seq
             ORDER BY w.k, i.direction",
            &[&ids],
            "looking up referenced Message-IDs",
        )
        .await?;
        for r in rows {
            let id: &str = r.get(0);
            let Some(message_id) = q.candidates.iter().find(|m| m.as_str() == id) else {
                continue;
            };
            facts.referenced.push(MailRef {
                message_id: message_id.clone(),
                direction: Direction::parse(r.get(1)).unwrap_or_default(),
                dr: r
                    .get::<_, Option<&str>>(2)
                    .and_then(|d| DrId::parse(d).ok()),
                sender: r
                    .get::<_, Option<&str>>(3)
                    .and_then(|s| EmailAddress::parse(s).ok()),
                campaign_mail: r.get::<_, Option<bool>>(4).unwrap_or(false),
            });
        }
    }
    for id in q.drs_to_read(&facts.referenced) {
        if let Some(dr) = get_dr(c, &id).await? {
            facts.drs.push(dr);
        }
    }
    for u in q.users_to_read(&facts.referenced) {
        if let Some(user) = get_user(c, &u).await? {
            facts.users.push(user);
        }
    }
    Ok(facts)
}

/// A DR by id (the whole id must match).
pub(crate) async fn get_dr<C: GenericClient>(c: &C, id: &DrId) -> Result<Option<Dr>> {
    let Ok(number) = i64::try_from(id.number()) else {
        return Ok(None);
    };
    let row = query_opt(
        c,
        "SELECT data FROM drs WHERE number = $1",
        &[&number],
        "reading a DR",
    )
    .await?;
    match row {
        Some(r) => {
            let dr: Dr = dec("drs", r.get::<_, &str>(0))?;
            Ok((dr.id == *id).then_some(dr))
        }
        None => Ok(None),
    }
}

/// The comparison with a keyset cursor and the SQL order.
fn direction(ascending: bool) -> (&'static str, &'static str) {
    if ascending {
        (">", "ASC")
    } else {
        ("<", "DESC")
    }
}

/// The filters of a DR listing on `d` (the drs table).
fn dr_filter(q: &DrQuery, args: &mut Args) -> String {
    let mut f = String::new();
    if let Some(s) = q.status {
        f.push_str(&format!(
            " AND d.status = {}",
            args.add(s.as_str().to_string())
        ));
    }
    if let Some(o) = &q.owner {
        f.push_str(&format!(
            " AND d.owner = {}",
            args.add(o.as_str().to_string())
        ));
    }
    match &q.customer {
        Some(Party::Address(a)) => f.push_str(&format!(
            " AND d.customer = {}",
            args.add(a.as_str().to_string())
        )),
        Some(Party::Domain(d)) => {
            f.push_str(&format!(" AND d.customer_domain = {}", args.add(d.clone())))
        }
        None => {}
    }
    if let Some(before) = q.awaiting_before {
        f.push_str(&format!(
            " AND d.status = 'open' AND d.awaiting_since < {}",
            args.add(before.as_second())
        ));
    }
    if let Some(users) = &q.involving {
        f.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM dr_users x WHERE x.\"user\" = ANY({}) AND x.number = d.number)",
            args.add(addresses(users))
        ));
    }
    f
}

/// DRs, newest first (or as `q` sorts them).
pub(crate) async fn list_drs<C: GenericClient>(c: &C, q: &DrQuery) -> Result<Page<Dr>> {
    let limit = page_size(q.limit);
    let mut args = Args::default();
    let filter = dr_filter(q, &mut args);
    if q.longest_waiting_first {
        let sql = format!(
            "SELECT d.data FROM drs d WHERE d.status = 'open'{filter}
             ORDER BY d.awaiting_since NULLS LAST, d.number LIMIT {}",
            lim(limit)
        );
        let rows = run(c, &sql, &args, "listing waiting DRs").await?;
        return Ok(Page {
            items: docs("drs", &rows)?,
            next: None,
        });
    }
    let (cmp, order) = direction(q.ascending);
    let col = match DrSort::effective(q) {
        DrSort::Number => None,
        DrSort::Owner => Some("d.owner"),
        DrSort::Customer => Some("d.customer"),
        DrSort::Status => Some("d.status"),
    };
    let mut sql = format!("SELECT d.data FROM drs d WHERE TRUE{filter}");
    if let Some(after) = q.after {
        let n = args.add(big(after)?);
        match col {
            None => sql.push_str(&format!(" AND d.number {cmp} {n}")),
            Some(col) => {
                let k = args.add(q.after_key.clone().unwrap_or_default());
                sql.push_str(&format!(
                    " AND ({col} COLLATE \"C\", d.number) {cmp} ({k}, {n})"
                ));
            }
        }
    }
    match col {
        None => sql.push_str(&format!(" ORDER BY d.number {order}")),
        Some(col) => sql.push_str(&format!(
            " ORDER BY {col} COLLATE \"C\" {order}, d.number {order}"
        )),
    }
    sql.push_str(&format!(" LIMIT {}", lim(limit + 1)));
    let rows = run(c, &sql, &args, "listing DRs").await?;
    Ok(Page::from_overfetch(
        docs("drs", &rows)?,
        limit,
        |d: &Dr| d.id.number(),
    ))
}

/// A mail record by seq.
pub(crate) async fn get_mail<C: GenericClient>(c: &C, seq: u64) -> Result<Option<MailRecord>> {
    let Ok(seq) = i64::try_from(seq) else {
        return Ok(None);
    };
    query_opt(
        c,
        "SELECT seq, data FROM mails WHERE seq = $1",
        &[&seq],
        "reading a mail record",
    )
    .await?
    .map(|r| mail_of(&r))
    .transpose()
}

/// The mail records with a Message-ID, in recording order.
pub(crate) async fn mails_by_message_id<C: GenericClient>(
    c: &C,
    id: &str,
) -> Result<Vec<MailRecord>> {
    query(
        c,
        "SELECT seq, data FROM mails WHERE message_id = $1 ORDER BY seq",
        &[&id],
        "looking up a Message-ID",
    )
    .await?
    .iter()
    .map(mail_of)
    .collect()
}

/// Mail records, newest first unless `oldest_first`.
pub(crate) async fn list_mails<C: GenericClient>(c: &C, q: &MailQuery) -> Result<Page<MailRecord>> {
    let limit = page_size(q.limit);
    let (cmp, order) = direction(q.oldest_first);
    let mut args = Args::default();
    let mut sql = String::from("SELECT m.seq, m.data FROM mails m WHERE TRUE");
    if let Some(t) = q.tracked {
        sql.push_str(&format!(" AND m.tracked = {}", args.add(t)));
    }
    if let Some(dr) = &q.dr {
        let n = args.add(big(dr.number())?);
        let id = args.add(dr.to_string());
        sql.push_str(&format!(" AND m.dr_number = {n} AND m.dr_id = {id}"));
    }
    match &q.party {
        Some(Party::Address(a)) => sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM mail_parties p WHERE p.address = {} AND p.seq = m.seq)",
            args.add(a.as_str().to_string())
        )),
        Some(Party::Domain(d)) => sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM mail_parties p WHERE p.domain = {} AND p.seq = m.seq)",
            args.add(d.clone())
        )),
        None => {}
    }
    if let Some(users) = &q.involving {
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM mail_parties u WHERE u.address = ANY({}) AND u.seq = m.seq)",
            args.add(addresses(users))
        ));
    }
    if let Some(after) = q.after {
        sql.push_str(&format!(" AND m.seq {cmp} {}", args.add(big(after)?)));
    }
    sql.push_str(&format!(" ORDER BY m.seq {order} LIMIT {}", lim(limit + 1)));
    let rows = run(c, &sql, &args, "listing mail").await?;
    let items = rows.iter().map(mail_of).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |m: &MailRecord| m.seq))
}

/// A mail's archived raw message.
pub(crate) async fn raw_message<C: GenericClient>(c: &C, seq: u64) -> Result<Option<Vec<u8>>> {
    let Ok(seq) = i64::try_from(seq) else {
        return Ok(None);
    };
    Ok(query_opt(
        c,
        "SELECT raw FROM raw_messages WHERE seq = $1",
        &[&seq],
        "reading a raw message",
    )
    .await?
    .map(|r| r.get(0)))
}

/// A user by address.
pub(crate) async fn get_user<C: GenericClient>(
    c: &C,
    email: &EmailAddress,
) -> Result<Option<User>> {
    query_opt(
        c,
        "SELECT data FROM users WHERE email = $1",
        &[&email.as_str()],
        "reading a user",
    )
    .await?
    .map(|r| dec("users", r.get::<_, &str>(0)))
    .transpose()
}

/// Every user, by address (bytewise, as the other stores order them).
pub(crate) async fn list_users<C: GenericClient>(c: &C) -> Result<Vec<User>> {
    let rows = query(
        c,
        "SELECT data FROM users ORDER BY email COLLATE \"C\"",
        &[],
        "listing users",
    )
    .await?;
    docs("users", &rows)
}

/// Response times, oldest first.
pub(crate) async fn list_responses<C: GenericClient>(
    c: &C,
    q: &ResponseQuery,
) -> Result<Vec<ResponseTime>> {
    let mut args = Args::default();
    let mut sql = String::from("SELECT data FROM responses WHERE TRUE");
    if let Some(since) = q.since {
        sql.push_str(&format!(
            " AND responded_at >= {}",
            args.add(since.as_second())
        ));
    }
    if let Some(u) = &q.user {
        sql.push_str(&format!(
            " AND \"user\" = {}",
            args.add(u.as_str().to_string())
        ));
    }
    sql.push_str(" ORDER BY responded_at, id");
    let rows = run(c, &sql, &args, "listing response times").await?;
    let all: Vec<ResponseTime> = docs("responses", &rows)?;
    // `responded_at` is stored to the second; keep sub-second precision honest.
    Ok(all
        .into_iter()
        .filter(|r| q.since.is_none_or(|s| r.responded_at >= s))
        .collect())
}

/// The delivery journal, oldest first.
pub(crate) async fn list_pending<C: GenericClient>(c: &C) -> Result<Vec<PendingDelivery>> {
    let rows = query(
        c,
        "SELECT id, data FROM pending ORDER BY id",
        &[],
        "listing the journal",
    )
    .await?;
    rows.iter()
        .map(|r| {
            let mut p: PendingDelivery = dec("pending", r.get::<_, &str>(1))?;
            p.id = unsigned(r.get(0));
            Ok(p)
        })
        .collect()
}

/// DRs due at or before `now`, earliest first.
pub(crate) async fn due_drs<C: GenericClient>(
    c: &C,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Dr>> {
    let rows = query(
        c,
        "SELECT data FROM drs WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at, number LIMIT $2",
        &[&now.as_microsecond(), &lim(limit)],
        "listing due DRs",
    )
    .await?;
    docs("drs", &rows)
}

/// Escalation cycles, newest first.
pub(crate) async fn list_cycles<C: GenericClient>(
    c: &C,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<CycleRecord>> {
    let limit = page_size(limit);
    let rows = query(
        c,
        "SELECT id, data FROM cycles WHERE id < $1 ORDER BY id DESC LIMIT $2",
        &[
            &after.map_or(i64::MAX, |a| big(a).unwrap_or(i64::MAX)),
            &lim(limit + 1),
        ],
        "listing cycles",
    )
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            let mut c: CycleRecord = dec("cycles", r.get::<_, &str>(1))?;
            c.id = unsigned(r.get(0));
            Ok(c)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |c: &CycleRecord| c.id))
}

fn alert_of(r: &tokio_postgres::Row) -> Result<Alert> {
    let mut a: Alert = dec("alerts", r.get::<_, &str>(1))?;
    a.id = unsigned(r.get(0));
    Ok(a)
}

/// Alerts, newest first.
pub(crate) async fn list_alerts<C: GenericClient>(c: &C, q: &AlertQuery) -> Result<Page<Alert>> {
    let limit = page_size(q.limit);
    let mut args = Args::default();
    let mut sql = format!(
        "SELECT id, data FROM alerts WHERE id < {}",
        args.add(q.after.map_or(i64::MAX, |a| big(a).unwrap_or(i64::MAX)))
    );
    if let Some(u) = &q.user {
        sql.push_str(&format!(
            " AND \"user\" = {}",
            args.add(u.as_str().to_string())
        ));
    }
    if let Some(d) = &q.dr {
        sql.push_str(&format!(" AND dr_number = {}", args.add(big(d.number())?)));
    }
    if let Some(users) = &q.involving {
        sql.push_str(&format!(
            " AND \"user\" = ANY({})",
            args.add(addresses(users))
        ));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", lim(limit + 1)));
    let rows = run(c, &sql, &args, "listing alerts").await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let a = alert_of(r)?;
        if q.dr.as_ref().is_none_or(|d| *d == a.source_dr) {
            items.push(a);
        }
    }
    Ok(Page::from_overfetch(items, limit, |a: &Alert| a.id))
}

/// Alerts whose mail is due, oldest first.
pub(crate) async fn alert_outbox<C: GenericClient>(
    c: &C,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Alert>> {
    query(
        c,
        "SELECT id, data FROM alerts WHERE pending AND next_attempt_at <= $1
         ORDER BY next_attempt_at, id LIMIT $2",
        &[&now.as_microsecond(), &lim(limit)],
        "reading the alert outbox",
    )
    .await?
    .iter()
    .map(alert_of)
    .collect()
}

/// Mail counts per bucket, direction and decision.
pub(crate) async fn volume<C: GenericClient>(
    c: &C,
    since: Timestamp,
    until: Timestamp,
    bucket: i64,
    involving: Option<&[EmailAddress]>,
) -> Result<Vec<VolumeBucket>> {
    let bucket = bucket.max(1);
    if involving.is_some_and(|u| u.is_empty()) {
        return Ok(Vec::new());
    }
    let mut args = Args::default();
    let b = args.add(bucket);
    let s = args.add(since.as_second());
    let u = args.add(until.as_second());
    let scope = match involving {
        Some(users) => format!(
            " AND EXISTS (SELECT 1 FROM mail_parties p WHERE p.seq = m.seq AND p.address = ANY({}))",
            args.add(addresses(users))
        ),
        None => String::new(),
    };
    let sql = format!(
        "SELECT (m.received_at - ((m.received_at % {b}) + {b}) % {b}) AS b, m.direction, m.tracked,
                COUNT(*)
         FROM mails m WHERE m.received_at >= {s} AND m.received_at < {u}{scope}
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    );
    let rows = run(c, &sql, &args, "counting mail volume").await?;
    Ok(rows
        .iter()
        .map(|r| VolumeBucket {
            start: r.get(0),
            direction: Direction::parse(r.get(1)).unwrap_or_default(),
            tracked: r.get(2),
            count: unsigned(r.get(3)),
        })
        .collect())
}

fn add_count(counts: &mut DrCounts, status: &str, n: i64) {
    let n = unsigned(n);
    match status {
        "open" => counts.open = n,
        "replied" => counts.replied = n,
        "closed" => counts.closed = n,
        _ => {}
    }
}

/// DRs by status.
pub(crate) async fn dr_counts<C: GenericClient>(
    c: &C,
    involving: Option<&[EmailAddress]>,
) -> Result<DrCounts> {
    let mut counts = DrCounts::default();
    let rows = match involving {
        Some([]) => return Ok(counts),
        Some(users) => {
            query(
                c,
                "SELECT d.status, COUNT(*) FROM drs d WHERE d.number IN
                   (SELECT number FROM dr_users WHERE \"user\" = ANY($1)) GROUP BY d.status",
                &[&addresses(users)],
                "counting DRs",
            )
            .await?
        }
        None => {
            query(
                c,
                "SELECT status, COUNT(*) FROM drs GROUP BY status",
                &[],
                "counting DRs",
            )
            .await?
        }
    };
    for r in rows {
        add_count(&mut counts, r.get(0), r.get(1));
    }
    Ok(counts)
}

/// Counts for `etraq status`.
pub(crate) async fn stats<C: GenericClient>(c: &C) -> Result<StoreStats> {
    let r = query_one(
        c,
        "SELECT (SELECT COUNT(*) FROM mails WHERE tracked),
                (SELECT COUNT(*) FROM mails WHERE NOT tracked),
                (SELECT COUNT(*) FROM users),
                (SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'warned'),
                (SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'escalated'),
                (SELECT COUNT(*) FROM alerts WHERE pending)",
        &[],
        "counting",
    )
    .await?;
    let counts = dr_counts(c, None).await?;
    Ok(StoreStats {
        tracked: unsigned(r.get(0)),
        untracked: unsigned(r.get(1)),
        users: unsigned(r.get(2)),
        warned: unsigned(r.get(3)),
        escalated: unsigned(r.get(4)),
        outbox: unsigned(r.get(5)),
        open: counts.open,
        replied: counts.replied,
        closed: counts.closed,
    })
}
