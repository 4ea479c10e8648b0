//! The knowledge base on PostgreSQL: `kb_articles` with a weighted `tsvector` (title A, tags B,
//! body D; English stemming, so "refunds" finds "refund") under a GIN index, written in the
//! article's transaction, and `kb_history` with every version.
//!
//! Ranking is bm25-like, as the other stores rank: each query word weighs its inverse document
//! frequency (counted through the GIN index), times `ts_rank` of the article for that word with
//! the field weights 4 : 3 : 1. The words asked about are chosen as every store chooses them
//! ([`rarest_terms`]).

use async_trait::async_trait;
use etraq_core::support::kb::rarest_terms;
use etraq_core::support::{Article, KbHit, SupportStore};
use etraq_core::{Error, Result};
use tokio_postgres::types::ToSql;

use crate::PgStore;
use crate::rows::{begin, big, commit, docs, enc, execute, query, query_one, query_opt, unsigned};

/// `ts_rank`'s weights of the labels D, C, B, A: body 1, tags 3, title 4 (scaled to 1).
const WEIGHTS: &str = "'{0.25, 0, 0.75, 1.0}'";

fn not_found(id: u64) -> Error {
    Error::NotFound {
        what: "article",
        key: id.to_string(),
    }
}

#[async_trait]
impl SupportStore for PgStore {
    async fn kb_put(&self, article: Article) -> Result<Article> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let mut a = article;
        if a.id == 0 {
            let id: i64 = query_one(
                &tx,
                "INSERT INTO kb_articles(title, public, tsv, data) VALUES ($1, $2, '', '{}')
                 RETURNING id",
                &[&a.title, &a.public],
                "adding an article",
            )
            .await?
            .get(0);
            a.id = unsigned(id);
        } else if query_opt(
            &tx,
            "SELECT 1 FROM kb_articles WHERE id = $1 FOR UPDATE",
            &[&big(a.id)?],
            "reading an article",
        )
        .await?
        .is_none()
        {
            return Err(not_found(a.id));
        }
        let id = big(a.id)?;
        let data = enc("kb_articles", &a)?;
        execute(
            &tx,
            "UPDATE kb_articles SET title = $1, public = $2, data = $3,
                 tsv = setweight(to_tsvector('english', $1), 'A')
                    || setweight(to_tsvector('english', $5), 'B')
                    || setweight(to_tsvector('english', $6), 'D')
             WHERE id = $4",
            &[&a.title, &a.public, &data, &id, &a.tags.join(" "), &a.body],
            "writing an article",
        )
        .await?;
        execute(
            &tx,
            "INSERT INTO kb_history(article, version, data) VALUES ($1, $2, $3)
             ON CONFLICT (article, version) DO UPDATE SET data = excluded.data",
            &[&id, &i64::from(a.version), &data],
            "writing an article's history",
        )
        .await?;
        commit(tx).await?;
        Ok(a)
    }

    async fn kb_get(&self, id: u64) -> Result<Option<Article>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT data FROM kb_articles WHERE id = $1",
            &[&big(id)?],
            "reading an article",
        )
        .await?;
        Ok(docs("kb_articles", &rows)?.pop())
    }

    async fn kb_list(&self) -> Result<Vec<Article>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT data FROM kb_articles ORDER BY id",
            &[],
            "listing articles",
        )
        .await?;
        docs("kb_articles", &rows)
    }

    async fn kb_history(&self, id: u64) -> Result<Vec<Article>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT data FROM kb_history WHERE article = $1 ORDER BY version",
            &[&big(id)?],
            "reading an article's history",
        )
        .await?;
        docs("kb_history", &rows)
    }

    async fn kb_delete(&self, id: u64) -> Result<()> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let n = execute(
            &tx,
            "DELETE FROM kb_articles WHERE id = $1",
            &[&big(id)?],
            "deleting an article",
        )
        .await?;
        if n == 0 {
            return Err(not_found(id));
        }
        execute(
            &tx,
            "DELETE FROM kb_history WHERE article = $1",
            &[&big(id)?],
            "deleting an article's history",
        )
        .await?;
        commit(tx).await
    }

    async fn kb_search(
        &self,
        terms: &[String],
        public_only: bool,
        limit: usize,
    ) -> Result<Vec<KbHit>> {
        if limit == 0 || terms.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let total: i64 = query_one(
            &c,
            "SELECT count(*) FROM kb_articles",
            &[],
            "counting articles",
        )
        .await?
        .get(0);
        // Each word's document frequency, through the GIN index; PostgreSQL stems the word
        // (two words with one stem are counted once).
        let mut counted: Vec<(u64, (u64, String))> = Vec::new();
        let mut stems: Vec<String> = Vec::new();
        for t in terms.iter().filter(|t| !t.is_empty()) {
            let row = query_one(
                &c,
                "SELECT plainto_tsquery('english', $1)::text,
                        (SELECT count(*) FROM kb_articles WHERE tsv @@ plainto_tsquery('english', $1))",
                &[t],
                "counting a word's articles",
            )
            .await?;
            let stem: String = row.get(0);
            let df: i64 = row.get(1);
            if stem.is_empty() || stems.contains(&stem) {
                continue;
            }
            stems.push(stem);
            if df > 0 {
                counted.push((df as u64, (df as u64, t.clone())));
            }
        }
        let chosen = rarest_terms(counted, total.max(0) as u64);
        if chosen.is_empty() {
            return Ok(Vec::new());
        }
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mut any = Vec::new();
        let mut score = Vec::new();
        for (df, word) in &chosen {
            let n = total as f64;
            let df = *df as f64;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            params.push(Box::new(word.clone()));
            let q = format!("plainto_tsquery('english', ${})", params.len());
            score.push(format!("{idf} * ts_rank({WEIGHTS}, tsv, {q})"));
            any.push(q);
        }
        let sql = format!(
            "SELECT id, title, ({})::float8 AS score FROM kb_articles
             WHERE tsv @@ ({}){} ORDER BY score DESC, id LIMIT {}",
            score.join(" + "),
            any.join(" || "),
            if public_only { " AND public" } else { "" },
            crate::rows::limit(limit.min(1000)),
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = c
            .query(&sql, &refs)
            .await
            .map_err(|e| crate::error::db_error("searching the knowledge base", &e))?;
        Ok(rows
            .iter()
            .map(|r| KbHit {
                id: unsigned(r.get(0)),
                title: r.get(1),
                score: r.get(2),
            })
            .collect())
    }
}
