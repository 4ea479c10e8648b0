//! Full-text search on SQLite: a contentless FTS5 index (`mail_fts`, rowid = the mail's seq)
//! written in the mail's own transaction, the backfill of mail recorded before it existed, and
//! the query. User text never reaches `MATCH` unquoted: [`SearchQuery::fts5`] quotes every
//! term.

use etraq_core::Error;
use etraq_core::archive::{IndexDoc, SearchQuery, index_doc};
use etraq_core::model::MailRecord;
use rusqlite::{Connection, params};

use crate::error::{Ctx, from_json};

/// Mails indexed per backfill transaction.
const BACKFILL_BATCH: i64 = 500;

/// Indexes mail `seq` (inside the caller's transaction).
pub(crate) fn index(tx: &Connection, seq: i64, d: &IndexDoc) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO mail_fts(rowid, subject, sender, recipients, body, attachments)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            seq,
            d.subject,
            d.sender,
            d.recipients,
            d.body,
            d.attachments
        ])
    })
    .ctx("indexing a mail for search")?;
    if d.has_attachment {
        tx.prepare_cached("UPDATE mails SET has_attachment = 1 WHERE seq = ?1")
            .and_then(|mut s| s.execute(params![seq]))
            .ctx("marking a mail with attachments")?;
    }
    Ok(())
}

/// Indexes the mail recorded before the search index existed, [`BACKFILL_BATCH`] per
/// transaction, resuming where an interrupted run stopped; logs its progress.
pub(crate) fn backfill(conn: &mut Connection) -> Result<(), Error> {
    let (target, mut upto): (i64, i64) = conn
        .query_row("SELECT target, upto FROM search_backfill", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .ctx("reading the search backfill state")?;
    if upto >= target {
        return Ok(());
    }
    tracing::info!(mails = target - upto, "indexing the archive for search");
    let started = std::time::Instant::now();
    while upto < target {
        let tx = conn.transaction().ctx("starting a backfill batch")?;
        let rows: Vec<(i64, String, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT m.seq, m.data, r.raw FROM mails m JOIN raw_messages r ON r.seq = m.seq
                 WHERE m.seq > ?1 AND m.seq <= ?2 ORDER BY m.seq LIMIT ?3",
            )
            .and_then(|mut s| {
                s.query_map(params![upto, target, BACKFILL_BATCH], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()
            })
            .ctx("reading mail to index")?;
        let last = rows.last().map_or(target, |r| r.0);
        for (seq, data, raw) in &rows {
            let m: MailRecord = from_json("mails", data)?;
            index(&tx, *seq, &index_doc(&m, raw))?;
        }
        tx.execute("UPDATE search_backfill SET upto = ?1", params![last])
            .ctx("saving the backfill's progress")?;
        tx.commit().ctx("committing a backfill batch")?;
        upto = last;
        tracing::info!(done = upto, of = target, "indexing the archive for search");
    }
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "the archive is indexed for search"
    );
    Ok(())
}

/// How many of the newest matches a query without filters ranks (at least; a deeper page
/// widens it to cover itself).
pub(crate) const RANK_WINDOW: i64 = 2_000;

fn window(offset: i64, limit: i64) -> i64 {
    RANK_WINDOW.max(offset.saturating_add(limit))
}

/// Column weights of the window's ranking: a word in the subject counts most, then the sender,
/// then recipients and attachment names; the body counts 1 (every candidate matched somewhere).
const FIELD_WEIGHTS: [(&str, f64); 4] = [
    ("subject", 8.0),
    ("sender", 3.0),
    ("recipients", 2.0),
    ("attachments", 2.0),
];

/// Scores `candidates` (rowids, newest first) by where the query's positive unfielded words
/// hit: for each word and weighted column, one FTS5 lookup bounded by the candidates' rowid
/// range (cheap for the window of newest matches, dense in rowids: no document frequencies
/// are computed). A `rowid = ?` lookup per candidate was tried for a DR's few, spread-out
/// mails and was slower: FTS5 reads a common word's doclist for each.
fn field_scores(
    c: &Connection,
    q: &SearchQuery,
    candidates: &[i64],
) -> Result<Vec<(i64, f64)>, Error> {
    let (Some(&low), Some(&high)) = (candidates.iter().min(), candidates.iter().max()) else {
        return Ok(Vec::new());
    };
    let mut score: std::collections::HashMap<i64, f64> =
        candidates.iter().map(|r| (*r, 1.0)).collect();
    for t in q.terms.iter().filter(|t| !t.negated && t.field.is_none()) {
        let phrase = format!("\"{}\"", t.text.replace('"', "\"\""));
        for (col, w) in FIELD_WEIGHTS {
            let expr = format!("{col} : {phrase}");
            let hits: Vec<i64> = c
                .prepare_cached(
                    "SELECT rowid FROM mail_fts WHERE mail_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3",
                )
                .and_then(|mut s| {
                    s.query_map(params![expr, low, high], |r| r.get(0))?
                        .collect::<Result<_, _>>()
                })
                .ctx("ranking")?;
            for h in hits {
                if let Some(v) = score.get_mut(&h) {
                    *v += w;
                }
            }
        }
    }
    Ok(candidates
        .iter()
        .map(|r| (*r, score.get(r).copied().unwrap_or(1.0)))
        .collect())
}

/// The mails matching `q`, best first, as `(seq, score)`.
pub(crate) fn search(
    c: &Connection,
    q: &SearchQuery,
    offset: usize,
    limit: usize,
) -> Result<Vec<(u64, f64)>, Error> {
    let dr = q.dr.and_then(|n| i64::try_from(n).ok());
    let before = q.before.map(|t| t.as_second());
    let after = q.after.map(|t| t.as_second());
    let filters = "(?2 IS NULL OR m.dr_number = ?2) AND (?3 = 0 OR m.has_attachment = 1)
         AND (?4 IS NULL OR m.received_at < ?4) AND (?5 IS NULL OR m.received_at >= ?5)";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let filtered = q.dr.is_some() || q.has_attachment || q.before.is_some() || q.after.is_some();
    let rows: Vec<(i64, f64)> = match q.fts5() {
        // The newest [`RANK_WINDOW`] matches that pass the filters (or as many as the page
        // needs), found by walking the index backwards, ranked by [`field_scores`]. FTS5's bm25
        // was dropped here: it reads every term's whole doclist on each query for its document
        // frequency (14 ms for 709 rows at 300,000 mails, growing with the archive), and with
        // filters it ranked every match (25 ms at 20,000 mails for a date every mail passes).
        Some(expr) => {
            let candidates: Vec<i64> = if q.dr.is_some() {
                // One DR's mail is a few rows of the `mails_dr` index: each is checked against
                // the words with a rowid-bounded lookup instead of walking every match.
                c.prepare_cached(&format!(
                    "SELECT m.seq FROM mails m
                     WHERE m.dr_number = ?2 AND {filters}
                       AND EXISTS (SELECT 1 FROM mail_fts WHERE mail_fts MATCH ?1 AND rowid = m.seq)
                     ORDER BY m.seq DESC LIMIT ?6"
                ))
                .and_then(|mut s| {
                    s.query_map(
                        params![expr, dr, q.has_attachment, before, after, window(offset, limit)],
                        |r| r.get(0),
                    )?
                    .collect::<Result<_, _>>()
                })
            } else if filtered {
                c.prepare_cached(&format!(
                    "SELECT mail_fts.rowid FROM mail_fts JOIN mails m ON m.seq = mail_fts.rowid
                     WHERE mail_fts MATCH ?1 AND {filters}
                     ORDER BY mail_fts.rowid DESC LIMIT ?6"
                ))
                .and_then(|mut s| {
                    s.query_map(
                        params![expr, dr, q.has_attachment, before, after, window(offset, limit)],
                        |r| r.get(0),
                    )?
                    .collect::<Result<_, _>>()
                })
            } else {
                c.prepare_cached(
                    "SELECT rowid FROM mail_fts WHERE mail_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2",
                )
                .and_then(|mut s| {
                    s.query_map(params![expr, window(offset, limit)], |r| r.get(0))?
                        .collect::<Result<_, _>>()
                })
            }
            .ctx("searching")?;
            let mut scored = field_scores(c, q, &candidates)?;
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
            Ok(scored
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .collect())
        }
        // Filters alone (and any `-word`s): the newest first.
        None => c
            .prepare_cached(&format!(
                "SELECT m.seq, 0.0 FROM mails m WHERE (?1 IS NULL OR m.seq NOT IN
                   (SELECT rowid FROM mail_fts WHERE mail_fts MATCH ?1)) AND {filters}
                 ORDER BY m.seq DESC LIMIT ?6 OFFSET ?7"
            ))
            .and_then(|mut s| {
                s.query_map(
                    params![
                        q.fts5_excluded(),
                        dr,
                        q.has_attachment,
                        before,
                        after,
                        limit,
                        offset
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<Result<_, _>>()
            }),
    }
    .ctx("searching")?;
    Ok(rows
        .into_iter()
        .map(|(seq, score)| (seq as u64, score))
        .collect())
}
