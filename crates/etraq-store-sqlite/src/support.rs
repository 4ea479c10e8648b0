//! The knowledge base: `kb_articles` (id → article, with its title and public flag as columns
//! for the search's answer), `kb_history` (every version) and `kb_fts`, an FTS5 table over
//! title, tags and body with the Porter stemmer (so "refunds" finds "refund"), rowid = the
//! article's id, written in the same transaction as the article. Writes run on the writer
//! thread ([`Op`]); reads on a reader connection.

use etraq_core::Error;
use etraq_core::support::kb::rarest_terms;
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
    index(tx, a.id as i64, &a)?;
    Ok(a)
}

/// Puts article `id` in the full-text index.
pub(crate) fn index(tx: &Connection, id: i64, a: &Article) -> Result<(), Error> {
    tx.prepare_cached("INSERT INTO kb_fts(rowid, title, tags, body) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut s| s.execute(params![id, a.title, a.tags.join(" "), a.body]))
        .ctx("indexing an article")?;
    Ok(())
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
///
/// The words are chosen first, from how many articles each appears in (one cheap FTS5 count per
/// word, tokenised and stemmed by FTS5 itself), by [`rarest_terms`]: words in no article are
/// dropped, and in a large knowledge base so are words in more than half of it, whose bm25
/// weight FTS5 sets to nearly nothing while they cost the most to walk.
pub(crate) fn search(
    conn: &Connection,
    terms: &[String],
    public_only: bool,
    limit: usize,
) -> Result<Vec<KbHit>, Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
    let total: i64 = conn
        .prepare_cached("SELECT count(*) FROM kb_articles")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("counting articles")?;
    let mut counted: Vec<(u64, String)> = Vec::new();
    for t in terms.iter().filter(|t| !t.is_empty()) {
        let q = quote(t);
        if counted.iter().any(|(_, x)| *x == q) {
            continue;
        }
        let df: i64 = conn
            .prepare_cached("SELECT count(*) FROM kb_fts WHERE kb_fts MATCH ?1")
            .and_then(|mut s| s.query_row(params![q], |r| r.get(0)))
            .ctx("counting a word's articles")?;
        if df > 0 {
            counted.push((df as u64, q));
        }
    }
    let expr = rarest_terms(counted, total.max(0) as u64);
    if expr.is_empty() {
        return Ok(Vec::new());
    }
    // The best matches come from the index alone; only they are joined with their articles.
    // With `public_only`, more are taken and the private ones dropped; when too many of the
    // best are private, the query is run again over everything that matches.
    let want = limit.min(1000);
    let take = if public_only { want * 4 } else { want };
    let sql = format!(
        "SELECT a.id, a.title, a.public, -t.score FROM
           (SELECT rowid, bm25(kb_fts, {WEIGHTS}) AS score FROM kb_fts WHERE kb_fts MATCH ?1
            ORDER BY score LIMIT ?2) t
         JOIN kb_articles a ON a.id = t.rowid
         ORDER BY t.score, a.id"
    );
    let run = |take: usize| -> Result<Vec<(KbHit, bool)>, Error> {
        let mut s = conn
            .prepare_cached(&sql)
            .ctx("preparing a knowledge-base search")?;
        let rows = s
            .query_map(params![expr.join(" OR "), take as i64], |r| {
                Ok((
                    KbHit {
                        id: r.get::<_, i64>(0)? as u64,
                        title: r.get(1)?,
                        score: r.get(3)?,
                    },
                    r.get::<_, bool>(2)?,
                ))
            })
            .ctx("searching the knowledge base")?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r.ctx("reading a knowledge-base hit")?);
        }
        Ok(out)
    };
    let mut hits = run(take)?;
    if public_only && hits.len() == take && hits.iter().filter(|(_, p)| *p).count() < want {
        hits = run(usize::MAX >> 2)?;
    }
    Ok(hits
        .into_iter()
        .filter(|(_, public)| *public || !public_only)
        .map(|(h, _)| h)
        .take(want)
        .collect())
}
