//! The knowledge base: `kb_articles` (id → article, with its title and public flag as columns
//! for the search's answer), `kb_history` (every version) and `kb_fts`, an FTS5 table over
//! title, tags and body with the Porter stemmer (so "refunds" finds "refund"), rowid = the
//! article's id, written in the same transaction as the article. Writes run on the writer
//! thread ([`Op`]); reads on a reader connection.

use etraq_core::Error;
use etraq_core::support::{Article, KbHit};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Ctx, from_json, to_json};

/// bm25 weights of title, tags and body: a word in the title says more than one in the body.
const WEIGHTS: &str = "4.0, 3.0, 1.0";

/// A knowledge-base write.
pub(crate) enum Op {
    Put(Box<Article>),
    Delete(u64),
}

/// Runs a knowledge-base write inside the writer's transaction.
pub(crate) fn execute(tx: &Connection, op: &Op) -> Result<Option<Article>, Error> {
    match op {
        Op::Put(article) => put(tx, article).map(Some),
        Op::Delete(id) => {
            let n = tx
                .prepare_cached("DELETE FROM kb_articles WHERE id = ?1")
                .and_then(|mut s| s.execute(params![*id as i64]))
                .ctx("deleting an article")?;
            if n == 0 {
                return Err(not_found(*id));
            }
            tx.prepare_cached("DELETE FROM kb_history WHERE article = ?1")
                .and_then(|mut s| s.execute(params![*id as i64]))
                .ctx("deleting an article's history")?;
            tx.prepare_cached("DELETE FROM kb_fts WHERE rowid = ?1")
                .and_then(|mut s| s.execute(params![*id as i64]))
                .ctx("deleting an article from the index")?;
            Ok(None)
        }
    }
}

fn not_found(id: u64) -> Error {
    Error::NotFound {
        what: "article",
        key: id.to_string(),
    }
}

fn put(tx: &Connection, article: &Article) -> Result<Article, Error> {
    let mut a = article.clone();
    if a.id == 0 {
        let id: i64 = tx
            .prepare_cached(
                "INSERT INTO kb_articles(title, public, data) VALUES (?1, ?2, '{}') RETURNING id",
            )
            .and_then(|mut s| s.query_row(params![a.title, a.public], |r| r.get(0)))
            .ctx("adding an article")?;
        a.id = id as u64;
    } else {
        let exists: Option<i64> = tx
            .prepare_cached("SELECT id FROM kb_articles WHERE id = ?1")
            .and_then(|mut s| s.query_row(params![a.id as i64], |r| r.get(0)).optional())
            .ctx("reading an article")?;
        if exists.is_none() {
            return Err(not_found(a.id));
        }
        tx.prepare_cached("DELETE FROM kb_fts WHERE rowid = ?1")
            .and_then(|mut s| s.execute(params![a.id as i64]))
            .ctx("taking an article out of the index")?;
    }
    let data = to_json("kb_articles", &a)?;
    tx.prepare_cached("UPDATE kb_articles SET title = ?1, public = ?2, data = ?3 WHERE id = ?4")
        .and_then(|mut s| s.execute(params![a.title, a.public, data, a.id as i64]))
        .ctx("writing an article")?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO kb_history(article, version, data) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut s| s.execute(params![a.id as i64, a.version, data]))
    .ctx("writing an article's history")?;
    tx.prepare_cached("INSERT INTO kb_fts(rowid, title, tags, body) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut s| s.execute(params![a.id as i64, a.title, a.tags.join(" "), a.body]))
        .ctx("indexing an article")?;
    Ok(a)
}

fn articles(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Article>, Error> {
    let mut s = conn.prepare_cached(sql).ctx("preparing an article query")?;
    let rows = s
        .query_map(args, |r| r.get::<_, String>(0))
        .ctx("reading articles")?;
    let mut out = Vec::new();
    for row in rows {
        out.push(from_json("kb_articles", &row.ctx("reading an article")?)?);
    }
    Ok(out)
}

/// One article.
pub(crate) fn get(conn: &Connection, id: u64) -> Result<Option<Article>, Error> {
    Ok(articles(
        conn,
        "SELECT data FROM kb_articles WHERE id = ?1",
        &[&(id as i64)],
    )?
    .pop())
}

/// Every article, by id.
pub(crate) fn list(conn: &Connection) -> Result<Vec<Article>, Error> {
    articles(conn, "SELECT data FROM kb_articles ORDER BY id", &[])
}

/// Every version of an article, oldest first.
pub(crate) fn history(conn: &Connection, id: u64) -> Result<Vec<Article>, Error> {
    articles(
        conn,
        "SELECT data FROM kb_history WHERE article = ?1 ORDER BY version",
        &[&(id as i64)],
    )
}

/// bm25-ranked articles matching any of `terms`.
pub(crate) fn search(
    conn: &Connection,
    terms: &[String],
    public_only: bool,
    limit: usize,
) -> Result<Vec<KbHit>, Error> {
    // Each word quoted (FTS5 syntax in a word is text), any of them matching.
    let expr: Vec<String> = terms
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    if expr.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT a.id, a.title, -bm25(kb_fts, {WEIGHTS}) FROM kb_fts
         JOIN kb_articles a ON a.id = kb_fts.rowid
         WHERE kb_fts MATCH ?1 AND (?2 = 0 OR a.public = 1)
         ORDER BY bm25(kb_fts, {WEIGHTS}), a.id LIMIT ?3"
    );
    let mut s = conn
        .prepare_cached(&sql)
        .ctx("preparing a knowledge-base search")?;
    let rows = s
        .query_map(
            params![expr.join(" OR "), public_only, limit.min(1000) as i64],
            |r| {
                Ok(KbHit {
                    id: r.get::<_, i64>(0)? as u64,
                    title: r.get(1)?,
                    score: r.get(2)?,
                })
            },
        )
        .ctx("searching the knowledge base")?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r.ctx("reading a knowledge-base hit")?);
    }
    Ok(out)
}
