//! The store's logical tables for `etraq migrate` ([`etraq_core::copy`]). Export is a keyset
//! query per page; import writes a page in one transaction with binary `COPY … FROM STDIN`
//! (one round trip per table instead of one per row): the records, with the derived columns
//! and index rows (DR users, Message-IDs, parties, members) made from their documents as the
//! normal write path makes them. The search vectors go through the same `unnest` insert the
//! batch writer uses. Afterwards every serial sequence, and the DR number sequence, is moved
//! past the ids copied.

use std::collections::BTreeSet;

use etraq_core::campaign::{Campaign, Recipient, Subscriber};
use etraq_core::copy::{self, Key, Row, Table};
use etraq_core::model::Alert;
use etraq_core::outbox::QueuedMail;
use etraq_core::support::Article;
use etraq_core::{Dr, Error, MailRecord, ResponseTime, Result};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use crate::PgStore;
use crate::error::Db;
use crate::rows::{begin, big, commit, execute, limit as lim, query, unsigned};

/// One owned cell of a row bound for `COPY`.
type Cell = Box<dyn ToSql + Sync + Send>;

fn param(n: usize) -> String {
    format!("${n}")
}

/// The tables with a serial column, and that column: moved past the copied ids at the end.
const SERIALS: [(&str, &str); 11] = [
    ("mails", "seq"),
    ("responses", "id"),
    ("alerts", "id"),
    ("cycles", "id"),
    ("pending", "id"),
    ("outbox", "id"),
    ("subscribers", "id"),
    ("campaigns", "id"),
    ("events", "n"),
    ("hits", "n"),
    ("kb_articles", "id"),
];

/// One `COPY` into `table(columns)` of `rows`, cells typed `types`.
struct CopyIn {
    sql: String,
    types: Vec<Type>,
    rows: Vec<Vec<Cell>>,
}

impl CopyIn {
    fn new(table: &str, columns: &[(&str, Type)]) -> CopyIn {
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        CopyIn {
            sql: format!(
                "COPY {table} ({}) FROM STDIN (FORMAT binary)",
                names.join(", ")
            ),
            types: columns.iter().map(|(_, t)| t.clone()).collect(),
            rows: Vec::new(),
        }
    }

    fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    async fn run(self, tx: &deadpool_postgres::Transaction<'_>) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let sink = tx.copy_in(&self.sql).await.db("starting a COPY")?;
        let writer = BinaryCopyInWriter::new(sink, &self.types);
        let mut writer = std::pin::pin!(writer);
        for row in &self.rows {
            let refs: Vec<&(dyn ToSql + Sync)> = row
                .iter()
                .map(|c| c.as_ref() as &(dyn ToSql + Sync))
                .collect();
            writer.as_mut().write(&refs).await.db("copying rows")?;
        }
        writer.finish().await.db("finishing a COPY")?;
        Ok(())
    }
}

fn i(n: u64) -> Result<Cell> {
    Ok(Box::new(big(n)?))
}

fn t(s: impl Into<String>) -> Cell {
    Box::new(s.into())
}

fn text_cols(names: &[&'static str]) -> Vec<(&'static str, Type)> {
    names.iter().map(|n| (*n, Type::TEXT)).collect()
}

impl PgStore {
    /// Up to `limit` rows of `table` after `after`, in key order (text bytewise).
    pub(crate) async fn export_rows(
        &self,
        table: Table,
        after: Option<Key>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        let c = self.client().await?;
        let n = lim(limit);
        if table == Table::Counters {
            // The DR number lives in a sequence here; the other counters in `counters`.
            let rows = query(
                &c,
                "SELECT name, value::text FROM counters WHERE name IN ('warned', 'escalated')
                 UNION ALL SELECT 'dr', last_value::text FROM dr_numbers WHERE is_called",
                &[],
                "exporting counters",
            )
            .await?;
            let mut out: Vec<Row> = rows
                .iter()
                .map(|r| Row::new(Key::Text(r.get(0)), r.get::<_, String>(1)))
                .filter(|r| after.as_ref().is_none_or(|a| &r.key > a))
                .collect();
            out.sort_by(|a, b| a.key.cmp(&b.key));
            out.truncate(limit);
            return Ok(out);
        }
        if let Some(l) = table.sql_layout() {
            let sql = l.export_sql(after.is_none(), param, "COLLATE \"C\"");
            let (a, b, b4, s);
            let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
            match &after {
                None => {}
                Some(Key::Num(x)) => {
                    a = big(*x)?;
                    args.push(&a);
                }
                // A link's number is an INTEGER column: its cursor binds as one.
                Some(Key::Pair(x, y)) if table == Table::Links => {
                    a = big(*x)?;
                    b4 = i32::try_from(*y)
                        .map_err(|_| Error::Invalid(format!("link number {y} is out of range")))?;
                    args.push(&a);
                    args.push(&b4);
                }
                Some(Key::Pair(x, y)) => {
                    a = big(*x)?;
                    b = big(*y)?;
                    args.push(&a);
                    args.push(&b);
                }
                Some(Key::Text(x)) => {
                    s = x.clone();
                    args.push(&s);
                }
            }
            args.push(&n);
            let rows = query(&c, &sql, &args, "exporting rows").await?;
            return Ok(rows
                .iter()
                .map(|r| {
                    let key = if l.text_key {
                        Key::Text(r.get(0))
                    } else if l.key.len() == 2 {
                        Key::Pair(key_part(r, 0), key_part(r, 1))
                    } else {
                        Key::Num(key_part(r, 0))
                    };
                    Row::new(key, r.get::<_, String>(l.key.len()))
                })
                .collect());
        }
        match table {
            Table::Mails => {
                let after = big(after.map(|k| k.num(table)).transpose()?.unwrap_or(0))?;
                let rows = query(
                    &c,
                    "SELECT m.seq, m.data, r.raw FROM mails m JOIN raw_messages r ON r.seq = m.seq
                     WHERE m.seq > $1 ORDER BY m.seq LIMIT $2",
                    &[&after, &n],
                    "exporting mail",
                )
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| Row {
                        key: Key::Num(unsigned(r.get(0))),
                        doc: r.get(1),
                        raw: Some(r.get(2)),
                    })
                    .collect())
            }
            Table::MessageIds => {
                let (mid, dir) = copy::message_id_cursor(after.as_ref())?;
                let rows = query(
                    &c,
                    "SELECT message_id, direction, seq FROM message_ids
                     WHERE (message_id COLLATE \"C\", direction COLLATE \"C\") > ($1, $2)
                     ORDER BY message_id COLLATE \"C\", direction COLLATE \"C\" LIMIT $3",
                    &[&mid, &dir, &n],
                    "exporting the Message-ID index",
                )
                .await?;
                rows.iter()
                    .map(|r| {
                        let d: String = r.get(1);
                        let d = etraq_core::Direction::parse(&d).ok_or_else(|| {
                            Error::Invalid(format!("direction {d:?} in message_ids"))
                        })?;
                        Ok(Row::new(
                            Key::Text(copy::message_id_key(r.get(0), d)),
                            r.get::<_, i64>(2).to_string(),
                        ))
                    })
                    .collect()
            }
            Table::Responses => {
                let (at, id) = copy::response_cursor(after.as_ref())?;
                let rows = query(
                    &c,
                    "SELECT responded_at, id, data FROM responses
                     WHERE (responded_at, id) > ($1, $2) ORDER BY responded_at, id LIMIT $3",
                    &[&at, &id, &n],
                    "exporting response times",
                )
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        Row::new(
                            Key::Pair(copy::time_key(r.get(0)), unsigned(r.get(1))),
                            r.get::<_, String>(2),
                        )
                    })
                    .collect())
            }
            _ => Err(Error::Internal(format!(
                "no export for table {}",
                table.name()
            ))),
        }
    }

    /// Writes one page of `table` in one transaction.
    pub(crate) async fn import_rows(&self, table: Table, rows: Vec<Row>) -> Result<()> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let mut copies: Vec<CopyIn> = Vec::new();
        match table {
            Table::Counters => {
                for r in &rows {
                    let key = r.key.text(table)?;
                    let v = big(r.doc_number(table)?)?;
                    if key == "dr" {
                        if v > 0 {
                            execute(
                                &tx,
                                "SELECT setval('dr_numbers', $1, true)",
                                &[&v],
                                "setting the DR number",
                            )
                            .await?;
                        }
                    } else {
                        execute(
                            &tx,
                            "INSERT INTO counters(name, value) VALUES ($1, $2)",
                            &[&key, &v],
                            "importing counters",
                        )
                        .await?;
                    }
                }
            }
            Table::Kv | Table::Users | Table::Lists | Table::Blocklist => {
                let (tbl, col, val) = match table {
                    Table::Kv => ("kv", "key", "value"),
                    Table::Users => ("users", "email", "data"),
                    Table::Lists => ("lists", "key", "data"),
                    _ => ("blocklist", "address", "data"),
                };
                let mut cp = CopyIn::new(tbl, &text_cols(&[col, val]));
                for r in &rows {
                    cp.push(vec![t(r.key.text(table)?), t(r.doc.clone())]);
                }
                copies.push(cp);
            }
            Table::Drs => {
                let mut drs = CopyIn::new(
                    "drs",
                    &[
                        ("number", Type::INT8),
                        ("id", Type::TEXT),
                        ("status", Type::TEXT),
                        ("owner", Type::TEXT),
                        ("customer", Type::TEXT),
                        ("customer_domain", Type::TEXT),
                        ("version", Type::INT8),
                        ("due_at", Type::INT8),
                        ("awaiting_since", Type::INT8),
                        ("users", Type::TEXT),
                        ("data", Type::TEXT),
                    ],
                );
                let mut users = CopyIn::new(
                    "dr_users",
                    &[("\"user\"", Type::TEXT), ("number", Type::INT8)],
                );
                for r in &rows {
                    let dr: Dr = copy::decode(table, r)?;
                    let number = r.key.num(table)?;
                    if dr.id.number() != number {
                        return Err(Error::Invalid(format!(
                            "DR row {number} holds DR {}",
                            dr.id
                        )));
                    }
                    let set: BTreeSet<String> =
                        dr.users().iter().map(|u| u.as_str().to_string()).collect();
                    for u in &set {
                        users.push(vec![t(u.clone()), i(number)?]);
                    }
                    drs.push(vec![
                        i(number)?,
                        t(dr.id.to_string()),
                        t(dr.status.as_str()),
                        t(dr.owner.as_str()),
                        t(dr.customer.as_str()),
                        t(dr.customer.domain()),
                        i(dr.version)?,
                        Box::new(dr.due_at.map(|x| x.as_microsecond())),
                        Box::new(dr.awaiting_since.map(|x| x.as_second())),
                        t(crate::write::users_column(&dr)),
                        t(r.doc.clone()),
                    ]);
                }
                copies.push(drs);
                copies.push(users);
            }
            Table::Mails => {
                let mut mails = CopyIn::new(
                    "mails",
                    &[
                        ("seq", Type::INT8),
                        ("message_id", Type::TEXT),
                        ("direction", Type::TEXT),
                        ("tracked", Type::BOOL),
                        ("dr_number", Type::INT8),
                        ("dr_id", Type::TEXT),
                        ("sender", Type::TEXT),
                        ("received_at", Type::INT8),
                        ("has_attachment", Type::BOOL),
                        ("data", Type::TEXT),
                    ],
                );
                let mut parties = CopyIn::new(
                    "mail_parties",
                    &[
                        ("address", Type::TEXT),
                        ("domain", Type::TEXT),
                        ("seq", Type::INT8),
                    ],
                );
                let mut raws =
                    CopyIn::new("raw_messages", &[("seq", Type::INT8), ("raw", Type::BYTEA)]);
                let mut seqs = Vec::with_capacity(rows.len());
                let mut vectors: [Vec<String>; 5] = Default::default();
                for r in &rows {
                    let m: MailRecord = copy::decode(table, r)?;
                    let seq = r.key.num(table)?;
                    let raw = r.raw.clone().unwrap_or_default();
                    let doc = etraq_core::archive::index_doc(&m, &raw);
                    for (all, v) in vectors.iter_mut().zip(crate::search::vectors(&doc)) {
                        all.push(v);
                    }
                    seqs.push(big(seq)?);
                    let set: BTreeSet<(String, String)> = m
                        .addresses()
                        .iter()
                        .map(|p| (p.as_str().to_string(), p.domain().to_string()))
                        .collect();
                    for (a, d) in set {
                        parties.push(vec![t(a), t(d), i(seq)?]);
                    }
                    mails.push(vec![
                        i(seq)?,
                        t(m.message_id.as_str()),
                        t(m.direction.as_str()),
                        Box::new(m.decision.is_tracked()),
                        Box::new(m.dr.as_ref().map(|d| big(d.number())).transpose()?),
                        Box::new(m.dr.as_ref().map(|d| d.to_string())),
                        Box::new(m.sender.as_ref().map(|s| s.as_str().to_string())),
                        Box::new(m.received_at.as_second()),
                        Box::new(doc.has_attachment),
                        t(r.doc.clone()),
                    ]);
                    raws.push(vec![i(seq)?, Box::new(raw)]);
                }
                copies.push(mails);
                copies.push(parties);
                copies.push(raws);
                let [e, su, se, re, at] = &vectors;
                execute(
                    &tx,
                    crate::write::SEARCH_INSERT,
                    &[&seqs, e, su, se, re, at],
                    "indexing imported mail",
                )
                .await?;
            }
            Table::MessageIds => {
                let mut cp = CopyIn::new(
                    "message_ids",
                    &[
                        ("message_id", Type::TEXT),
                        ("direction", Type::TEXT),
                        ("seq", Type::INT8),
                    ],
                );
                for r in &rows {
                    let (mid, dir) = copy::split_message_id_key(r.key.text(table)?)?;
                    cp.push(vec![t(mid), t(dir.as_str()), i(r.doc_number(table)?)?]);
                }
                copies.push(cp);
            }
            Table::Responses => {
                let mut cp = CopyIn::new(
                    "responses",
                    &[
                        ("id", Type::INT8),
                        ("dr_number", Type::INT8),
                        ("\"user\"", Type::TEXT),
                        ("responded_at", Type::INT8),
                        ("data", Type::TEXT),
                    ],
                );
                for r in &rows {
                    let x: ResponseTime = copy::decode(table, r)?;
                    cp.push(vec![
                        i(r.key.pair(table)?.1)?,
                        i(x.dr.number())?,
                        t(x.user.as_str()),
                        Box::new(x.responded_at.as_second()),
                        t(r.doc.clone()),
                    ]);
                }
                copies.push(cp);
            }
            Table::Cycles => {
                let mut cp = CopyIn::new(
                    "cycles",
                    &[("id", Type::INT8), ("at", Type::INT8), ("data", Type::TEXT)],
                );
                for r in &rows {
                    let x: etraq_core::model::CycleRecord = copy::decode(table, r)?;
                    cp.push(vec![
                        i(r.key.num(table)?)?,
                        Box::new(x.at.as_second()),
                        t(r.doc.clone()),
                    ]);
                }
                copies.push(cp);
            }
            Table::Alerts | Table::Outbox => {
                let mut cp = if table == Table::Alerts {
                    CopyIn::new(
                        "alerts",
                        &[
                            ("id", Type::INT8),
                            ("dr_number", Type::INT8),
                            ("\"user\"", Type::TEXT),
                            ("pending", Type::BOOL),
                            ("next_attempt_at", Type::INT8),
                            ("data", Type::TEXT),
                        ],
                    )
                } else {
                    CopyIn::new(
                        "outbox",
                        &[
                            ("id", Type::INT8),
                            ("kind", Type::TEXT),
                            ("pending", Type::BOOL),
                            ("next_attempt_at", Type::INT8),
                            ("data", Type::TEXT),
                        ],
                    )
                };
                for r in &rows {
                    let id = i(r.key.num(table)?)?;
                    if table == Table::Alerts {
                        let a: Alert = copy::decode(table, r)?;
                        let (pending, next) = crate::write::alert_row(&a);
                        cp.push(vec![
                            id,
                            i(a.source_dr.number())?,
                            t(a.user.as_str()),
                            Box::new(pending),
                            Box::new(next),
                            t(r.doc.clone()),
                        ]);
                    } else {
                        let m: QueuedMail = copy::decode(table, r)?;
                        let next = m.delivery.due_at().map(|x| x.as_microsecond());
                        cp.push(vec![
                            id,
                            t(m.kind),
                            Box::new(next.is_some()),
                            Box::new(next),
                            t(r.doc.clone()),
                        ]);
                    }
                }
                copies.push(cp);
            }
            Table::Pending | Table::Events | Table::KbHistory | Table::Links => {
                let (tbl, cols): (&str, Vec<(&str, Type)>) = match table {
                    Table::Pending => ("pending", vec![("id", Type::INT8)]),
                    Table::Events => (
                        "events",
                        vec![("subscriber", Type::INT8), ("n", Type::INT8)],
                    ),
                    Table::KbHistory => (
                        "kb_history",
                        vec![("article", Type::INT8), ("version", Type::INT8)],
                    ),
                    _ => (
                        "campaign_links",
                        vec![("campaign", Type::INT8), ("n", Type::INT4)],
                    ),
                };
                let doc_col = if table == Table::Links { "url" } else { "data" };
                let mut all = cols.clone();
                all.push((doc_col, Type::TEXT));
                let mut cp = CopyIn::new(tbl, &all);
                for r in &rows {
                    let mut cells: Vec<Cell> = match (&r.key, table) {
                        (Key::Pair(a, b), Table::Links) => vec![
                            i(*a)?,
                            Box::new(i32::try_from(*b).map_err(|_| {
                                Error::Invalid(format!("link number {b} is out of range"))
                            })?),
                        ],
                        (Key::Pair(a, b), _) => vec![i(*a)?, i(*b)?],
                        (k, _) => vec![i(k.num(table)?)?],
                    };
                    cells.push(t(r.doc.clone()));
                    cp.push(cells);
                }
                copies.push(cp);
            }
            Table::Subscribers => {
                let mut subs = CopyIn::new(
                    "subscribers",
                    &[
                        ("id", Type::INT8),
                        ("email", Type::TEXT),
                        ("data", Type::TEXT),
                    ],
                );
                let mut members = CopyIn::new(
                    "members",
                    &[
                        ("list", Type::TEXT),
                        ("subscriber", Type::INT8),
                        ("status", Type::TEXT),
                    ],
                );
                for r in &rows {
                    let s: Subscriber = copy::decode(table, r)?;
                    let id = r.key.num(table)?;
                    for (list, m) in &s.lists {
                        members.push(vec![t(list.clone()), i(id)?, t(m.status.as_str())]);
                    }
                    subs.push(vec![i(id)?, t(s.email.as_str()), t(r.doc.clone())]);
                }
                copies.push(subs);
                copies.push(members);
            }
            Table::Campaigns => {
                let mut cp = CopyIn::new(
                    "campaigns",
                    &[
                        ("id", Type::INT8),
                        ("key", Type::TEXT),
                        ("data", Type::TEXT),
                    ],
                );
                for r in &rows {
                    let x: Campaign = copy::decode(table, r)?;
                    cp.push(vec![
                        i(r.key.num(table)?)?,
                        t(etraq_core::campaign::campaign_key(&x.name)),
                        t(r.doc.clone()),
                    ]);
                }
                copies.push(cp);
            }
            Table::Recipients => {
                let mut cp = CopyIn::new(
                    "recipients",
                    &[
                        ("campaign", Type::INT8),
                        ("id", Type::INT8),
                        ("state", Type::INT4),
                        ("data", Type::TEXT),
                    ],
                );
                for r in &rows {
                    let x: Recipient = copy::decode(table, r)?;
                    let (c, id) = r.key.pair(table)?;
                    cp.push(vec![
                        i(c)?,
                        i(id)?,
                        Box::new(i32::from(x.state.code())),
                        t(r.doc.clone()),
                    ]);
                }
                copies.push(cp);
            }
            Table::Hits => {
                let mut cp = CopyIn::new(
                    "hits",
                    &[
                        ("campaign", Type::INT8),
                        ("n", Type::INT8),
                        ("recipient", Type::INT8),
                        ("order_id", Type::TEXT),
                        ("data", Type::TEXT),
                    ],
                );
                for r in &rows {
                    let h: etraq_core::campaign::Hit = copy::decode(table, r)?;
                    let (c, n) = r.key.pair(table)?;
                    cp.push(vec![
                        i(c)?,
                        i(n)?,
                        i(h.recipient)?,
                        Box::new(h.order_id),
                        t(r.doc.clone()),
                    ]);
                }
                copies.push(cp);
            }
            Table::Engagement => {
                let mut cp = CopyIn::new(
                    "engagement",
                    &[
                        ("subscriber", Type::INT8),
                        ("millis", Type::INT8),
                        ("at", Type::INT8),
                    ],
                );
                for r in &rows {
                    let (m, at) = copy::parse_engagement_doc(&r.doc)?;
                    cp.push(vec![i(r.key.num(table)?)?, i(m)?, Box::new(at)]);
                }
                copies.push(cp);
            }
            Table::KbArticles => {
                for r in &rows {
                    let a: Article = copy::decode(table, r)?;
                    let id = big(r.key.num(table)?)?;
                    execute(
                        &tx,
                        "INSERT INTO kb_articles(id, title, public, data, tsv)
                         VALUES ($1, $2, $3, $4, setweight(to_tsvector('english', $2), 'A')
                            || setweight(to_tsvector('english', $5), 'B')
                            || setweight(to_tsvector('english', $6), 'D'))",
                        &[&id, &a.title, &a.public, &r.doc, &a.tags.join(" "), &a.body],
                        "importing articles",
                    )
                    .await?;
                }
            }
        }
        for cp in copies {
            cp.run(&tx).await?;
        }
        commit(tx).await
    }

    /// Moves every serial sequence past the ids copied, and the DR number sequence past the
    /// highest DR.
    pub(crate) async fn finish_rows(&self) -> Result<()> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        for (table, col) in SERIALS {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{col}'),
                               COALESCE(MAX({col}), 0) + 1, false) FROM {table}"
            );
            query(&tx, &sql, &[], "moving a sequence past the copied ids").await?;
        }
        query(
            &tx,
            "SELECT setval('dr_numbers', m, true) FROM (SELECT MAX(number) AS m FROM drs) d
             WHERE m > (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM dr_numbers)",
            &[],
            "moving the DR numbers past the copied DRs",
        )
        .await?;
        commit(tx).await
    }
}

fn key_part(r: &tokio_postgres::Row, i: usize) -> u64 {
    match r.try_get::<_, i64>(i) {
        Ok(v) => unsigned(v),
        Err(_) => r
            .try_get::<_, i32>(i)
            .map(|v| unsigned(v.into()))
            .unwrap_or(0),
    }
}

#[async_trait::async_trait]
impl etraq_core::copy::CopyStore for PgStore {
    async fn export(&self, table: Table, after: Option<Key>, limit: usize) -> Result<Vec<Row>> {
        self.export_rows(table, after, limit).await
    }

    async fn import(&self, table: Table, rows: Vec<Row>) -> Result<()> {
        self.import_rows(table, rows).await
    }

    async fn finish_import(&self) -> Result<()> {
        self.finish_rows().await
    }
}
