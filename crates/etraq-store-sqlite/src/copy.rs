//! The store's logical tables for `etraq migrate` ([`etraq_core::copy`]): export on a reader
//! connection, import on the writer, each page in one transaction. Imported rows keep their
//! keys and their documents byte for byte; the derived columns and the indexes (DR users,
//! Message-IDs, parties, members, the FTS5 indexes) are made from them as the normal write path
//! makes them. `AUTOINCREMENT` tables move their sequence past the ids inserted by themselves.

use etraq_core::campaign::{Campaign, MailingList, Recipient, Subscriber};
use etraq_core::copy::{self, Key, Row, Table};
use etraq_core::model::Alert;
use etraq_core::outbox::QueuedMail;
use etraq_core::support::Article;
use etraq_core::{Dr, Error, MailRecord, ResponseTime, User};
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};

use crate::error::Ctx;
use crate::writer::{i64_of, index_message_id, insert_dr, insert_mail};

fn param(n: usize) -> String {
    format!("?{n}")
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Up to `limit` rows of `table` after `after`, in key order.
pub(crate) fn export(
    c: &Connection,
    table: Table,
    after: Option<Key>,
    limit: usize,
) -> Result<Vec<Row>, Error> {
    let limit = limit_of(limit);
    if let Some(l) = table.sql_layout() {
        let sql = l.export_sql(after.is_none(), param, "");
        let mut args: Vec<Value> = match &after {
            None => Vec::new(),
            Some(Key::Num(n)) => vec![Value::Integer(i64_of(*n)?)],
            Some(Key::Pair(a, b)) => vec![Value::Integer(i64_of(*a)?), Value::Integer(i64_of(*b)?)],
            Some(Key::Text(t)) => vec![Value::Text(t.clone())],
        };
        args.push(Value::Integer(limit));
        let mut stmt = c.prepare_cached(&sql).ctx("preparing an export")?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                let key = if l.text_key {
                    Key::Text(r.get(0)?)
                } else if l.key.len() == 2 {
                    Key::Pair(r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)
                } else {
                    Key::Num(r.get::<_, i64>(0)? as u64)
                };
                Ok(Row::new(key, r.get::<_, String>(l.key.len())?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .ctx("exporting rows")?;
        return Ok(rows);
    }
    match table {
        Table::Mails => {
            let after = match after {
                Some(k) => i64_of(k.num(table)?)?,
                None => 0,
            };
            let mut stmt = c
                .prepare_cached(
                    "SELECT m.seq, m.data, r.raw FROM mails m JOIN raw_messages r ON r.seq = m.seq
                     WHERE m.seq > ?1 ORDER BY m.seq LIMIT ?2",
                )
                .ctx("preparing an export")?;
            stmt.query_map(params![after, limit], |r| {
                Ok(Row {
                    key: Key::Num(r.get::<_, i64>(0)? as u64),
                    doc: r.get(1)?,
                    raw: Some(r.get(2)?),
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .ctx("exporting mail")
        }
        Table::MessageIds => {
            let (mid, dir) = copy::message_id_cursor(after.as_ref())?;
            let mut stmt = c
                .prepare_cached(
                    "SELECT message_id, direction, seq FROM message_ids
                     WHERE (message_id, direction) > (?1, ?2)
                     ORDER BY message_id, direction LIMIT ?3",
                )
                .ctx("preparing an export")?;
            let raw: Vec<(String, String, i64)> = stmt
                .query_map(params![mid, dir, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .ctx("exporting the Message-ID index")?;
            raw.into_iter()
                .map(|(m, d, seq)| {
                    let d = etraq_core::Direction::parse(&d)
                        .ok_or_else(|| Error::Invalid(format!("direction {d:?} in message_ids")))?;
                    Ok(Row::new(
                        Key::Text(copy::message_id_key(&m, d)),
                        seq.to_string(),
                    ))
                })
                .collect()
        }
        Table::Responses => {
            let (at, id) = copy::response_cursor(after.as_ref())?;
            let mut stmt = c
                .prepare_cached(
                    "SELECT responded_at, id, data FROM responses
                     WHERE (responded_at, id) > (?1, ?2) ORDER BY responded_at, id LIMIT ?3",
                )
                .ctx("preparing an export")?;
            stmt.query_map(params![at, id, limit], |r| {
                Ok(Row::new(
                    Key::Pair(copy::time_key(r.get(0)?), r.get::<_, i64>(1)? as u64),
                    r.get::<_, String>(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .ctx("exporting response times")
        }
        _ => Err(Error::Internal(format!(
            "no export for table {}",
            table.name()
        ))),
    }
}

/// Runs one SQL statement per row.
fn each<F>(
    tx: &Connection,
    sql: &str,
    rows: &[Row],
    what: &'static str,
    mut f: F,
) -> Result<(), Error>
where
    F: FnMut(&Row) -> Result<Vec<Value>, Error>,
{
    let mut stmt = tx.prepare_cached(sql).ctx(what)?;
    for r in rows {
        stmt.execute(params_from_iter(f(r)?)).ctx(what)?;
    }
    Ok(())
}

fn int(n: u64) -> Result<Value, Error> {
    Ok(Value::Integer(i64_of(n)?))
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

/// Imports one page of `table` inside the writer's transaction.
pub(crate) fn import(tx: &Connection, table: Table, rows: &[Row]) -> Result<(), Error> {
    match table {
        Table::Counters => each(
            tx,
            "INSERT INTO counters(name, value) VALUES (?1, ?2)",
            rows,
            "importing counters",
            |r| Ok(vec![text(r.key.text(table)?), int(r.doc_number(table)?)?]),
        ),
        Table::Kv => each(
            tx,
            "INSERT INTO kv(key, value) VALUES (?1, ?2)",
            rows,
            "importing the key-value space",
            |r| Ok(vec![text(r.key.text(table)?), text(r.doc.clone())]),
        ),
        Table::Users => each(
            tx,
            "INSERT INTO users(email, data) VALUES (?1, ?2)",
            rows,
            "importing users",
            |r| {
                let _: User = copy::decode(table, r)?;
                Ok(vec![text(r.key.text(table)?), text(r.doc.clone())])
            },
        ),
        Table::Drs => {
            for r in rows {
                let dr: Dr = copy::decode(table, r)?;
                if dr.id.number() != r.key.num(table)? {
                    return Err(Error::Invalid(format!(
                        "DR row {:?} holds DR {}",
                        r.key, dr.id
                    )));
                }
                insert_dr(tx, &dr, &r.doc)?;
            }
            Ok(())
        }
        Table::Mails => {
            for r in rows {
                let m: MailRecord = copy::decode(table, r)?;
                let raw = r.raw.as_deref().unwrap_or_default();
                let doc = etraq_core::archive::index_doc(&m, raw);
                insert_mail(tx, Some(i64_of(r.key.num(table)?)?), &m, &r.doc, raw, &doc)?;
            }
            Ok(())
        }
        Table::MessageIds => {
            for r in rows {
                let (mid, dir) = copy::split_message_id_key(r.key.text(table)?)?;
                index_message_id(tx, mid, dir, i64_of(r.doc_number(table)?)?)?;
            }
            Ok(())
        }
        Table::Responses => each(
            tx,
            "INSERT INTO responses(id, dr_number, user, responded_at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            rows,
            "importing response times",
            |r| {
                let t: ResponseTime = copy::decode(table, r)?;
                Ok(vec![
                    int(r.key.pair(table)?.1)?,
                    int(t.dr.number())?,
                    text(t.user.as_str()),
                    Value::Integer(t.responded_at.as_second()),
                    text(r.doc.clone()),
                ])
            },
        ),
        Table::Cycles => each(
            tx,
            "INSERT INTO cycles(id, at, data) VALUES (?1, ?2, ?3)",
            rows,
            "importing escalation cycles",
            |r| {
                let c: etraq_core::model::CycleRecord = copy::decode(table, r)?;
                Ok(vec![
                    int(r.key.num(table)?)?,
                    Value::Integer(c.at.as_second()),
                    text(r.doc.clone()),
                ])
            },
        ),
        Table::Alerts => each(
            tx,
            "INSERT INTO alerts(id, dr_number, user, pending, next_attempt_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rows,
            "importing alerts",
            |r| {
                let a: Alert = copy::decode(table, r)?;
                let (pending, next) = crate::writer::alert_row(&a);
                Ok(vec![
                    int(r.key.num(table)?)?,
                    int(a.source_dr.number())?,
                    text(a.user.as_str()),
                    Value::Integer(pending.into()),
                    next.map_or(Value::Null, Value::Integer),
                    text(r.doc.clone()),
                ])
            },
        ),
        Table::Pending => each(
            tx,
            "INSERT INTO pending(id, data) VALUES (?1, ?2)",
            rows,
            "importing the delivery journal",
            |r| Ok(vec![int(r.key.num(table)?)?, text(r.doc.clone())]),
        ),
        Table::Outbox => each(
            tx,
            "INSERT INTO outbox(id, kind, pending, next_attempt_at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            rows,
            "importing the outbox",
            |r| {
                let m: QueuedMail = copy::decode(table, r)?;
                let (pending, next) = crate::outbox::due(&m.delivery);
                Ok(vec![
                    int(r.key.num(table)?)?,
                    text(m.kind),
                    Value::Integer(pending.into()),
                    next.map_or(Value::Null, Value::Integer),
                    text(r.doc.clone()),
                ])
            },
        ),
        Table::Lists => each(
            tx,
            "INSERT INTO lists(key, data) VALUES (?1, ?2)",
            rows,
            "importing lists",
            |r| {
                let _: MailingList = copy::decode(table, r)?;
                Ok(vec![text(r.key.text(table)?), text(r.doc.clone())])
            },
        ),
        Table::Subscribers => {
            let mut member = tx
                .prepare_cached("INSERT INTO members(list, subscriber, status) VALUES (?1, ?2, ?3)")
                .ctx("importing memberships")?;
            for r in rows {
                let s: Subscriber = copy::decode(table, r)?;
                let id = i64_of(r.key.num(table)?)?;
                tx.prepare_cached("INSERT INTO subscribers(id, email, data) VALUES (?1, ?2, ?3)")
                    .and_then(|mut st| st.execute(params![id, s.email.as_str(), r.doc]))
                    .ctx("importing subscribers")?;
                for (list, m) in &s.lists {
                    member
                        .execute(params![list, id, m.status.as_str()])
                        .ctx("importing memberships")?;
                }
            }
            Ok(())
        }
        Table::Blocklist => each(
            tx,
            "INSERT INTO blocklist(address, data) VALUES (?1, ?2)",
            rows,
            "importing the blocklist",
            |r| Ok(vec![text(r.key.text(table)?), text(r.doc.clone())]),
        ),
        Table::Campaigns => each(
            tx,
            "INSERT INTO campaigns(id, key, data) VALUES (?1, ?2, ?3)",
            rows,
            "importing campaigns",
            |r| {
                let c: Campaign = copy::decode(table, r)?;
                Ok(vec![
                    int(r.key.num(table)?)?,
                    text(etraq_core::campaign::campaign_key(&c.name)),
                    text(r.doc.clone()),
                ])
            },
        ),
        Table::Recipients => each(
            tx,
            "INSERT INTO recipients(campaign, id, state, data) VALUES (?1, ?2, ?3, ?4)",
            rows,
            "importing recipients",
            |r| {
                let rec: Recipient = copy::decode(table, r)?;
                let (c, id) = r.key.pair(table)?;
                Ok(vec![
                    int(c)?,
                    int(id)?,
                    Value::Integer(rec.state.code().into()),
                    text(r.doc.clone()),
                ])
            },
        ),
        Table::Events => each(
            tx,
            "INSERT INTO events(subscriber, n, data) VALUES (?1, ?2, ?3)",
            rows,
            "importing subscriber events",
            |r| {
                let (s, n) = r.key.pair(table)?;
                Ok(vec![int(s)?, int(n)?, text(r.doc.clone())])
            },
        ),
        Table::Links => each(
            tx,
            "INSERT INTO campaign_links(campaign, n, url) VALUES (?1, ?2, ?3)",
            rows,
            "importing link books",
            |r| {
                let (c, n) = r.key.pair(table)?;
                Ok(vec![int(c)?, int(n)?, text(r.doc.clone())])
            },
        ),
        Table::Hits => each(
            tx,
            "INSERT INTO hits(campaign, n, recipient, order_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            rows,
            "importing hits",
            |r| {
                let h: etraq_core::campaign::Hit = copy::decode(table, r)?;
                let (c, n) = r.key.pair(table)?;
                Ok(vec![
                    int(c)?,
                    int(n)?,
                    int(h.recipient)?,
                    h.order_id.map_or(Value::Null, Value::Text),
                    text(r.doc.clone()),
                ])
            },
        ),
        Table::Engagement => each(
            tx,
            "INSERT INTO engagement(subscriber, millis, at) VALUES (?1, ?2, ?3)",
            rows,
            "importing engagement",
            |r| {
                let (millis, at) = copy::parse_engagement_doc(&r.doc)?;
                Ok(vec![
                    int(r.key.num(table)?)?,
                    int(millis)?,
                    Value::Integer(at),
                ])
            },
        ),
        Table::KbArticles => {
            for r in rows {
                let a: Article = copy::decode(table, r)?;
                let id = i64_of(r.key.num(table)?)?;
                tx.prepare_cached(
                    "INSERT INTO kb_articles(id, title, public, data) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| s.execute(params![id, a.title, a.public, r.doc]))
                .ctx("importing articles")?;
                crate::support::index(tx, id, &a)?;
            }
            Ok(())
        }
        Table::KbHistory => each(
            tx,
            "INSERT INTO kb_history(article, version, data) VALUES (?1, ?2, ?3)",
            rows,
            "importing article history",
            |r| {
                let (a, v) = r.key.pair(table)?;
                Ok(vec![int(a)?, int(v)?, text(r.doc.clone())])
            },
        ),
    }
}
