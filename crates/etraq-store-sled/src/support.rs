//! The knowledge base on the sled store: articles in `kb` (id → article), every version in
//! `kb_history` (id, version → article), and a tantivy index over title, tags and body with
//! the English stemmer, held in memory ([`KbIndex`]). The trees are the truth; the index is
//! built from them on the first search after opening (a knowledge base is thousands of short
//! articles, built in well under a second) and kept in step with each write afterwards, so
//! there is nothing to recover after a crash.

use std::sync::Mutex;

use etraq_core::support::{Article, KbHit};
use etraq_core::{Error, Result};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::error::{Ctx, from_json};
use crate::keys::{be, with_number};
use crate::schema::{Inner, T, Tx, TxResult};
use crate::write::{abort, tx_from_json, tx_json};

/// bm25 weights of title, tags and body, as on the SQLite store.
const WEIGHTS: [f32; 3] = [4.0, 3.0, 1.0];

const TOKENIZER: &str = "kb";

fn err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: "sled",
        message: format!("knowledge-base index: {what}: {e}"),
        source: None,
    }
}

fn not_found(id: u64) -> Error {
    Error::NotFound {
        what: "article",
        key: id.to_string(),
    }
}

/// Writes an article and its version in one transaction.
pub(crate) fn tx_put(t: &Tx<'_>, article: &Article) -> TxResult<Article> {
    let mut a = article.clone();
    if a.id == 0 {
        a.id = t[T::Kb].generate_id()? + 1;
    } else if t[T::Kb].get(be(a.id))?.is_none() {
        return abort(not_found(a.id));
    }
    let data = tx_json("kb", &a)?;
    t[T::Kb].insert(&be(a.id), data.clone())?;
    t[T::KbHistory].insert(with_number(&be(a.id), u64::from(a.version)), data)?;
    Ok(a)
}

/// Deletes an article and its history.
pub(crate) fn tx_delete(t: &Tx<'_>, id: u64, versions: &[u32]) -> TxResult<()> {
    let Some(v) = t[T::Kb].remove(&be(id))? else {
        return abort(not_found(id));
    };
    let a: Article = tx_from_json("kb", &v)?;
    for n in versions.iter().copied().chain([a.version]) {
        t[T::KbHistory].remove(with_number(&be(id), u64::from(n)))?;
    }
    Ok(())
}

/// One article.
pub(crate) fn get(inner: &Inner, id: u64) -> Result<Option<Article>> {
    inner
        .tree(T::Kb)
        .get(be(id))
        .ctx("reading an article")?
        .map(|v| from_json("kb", &v))
        .transpose()
}

/// Every article, by id.
pub(crate) fn list(inner: &Inner) -> Result<Vec<Article>> {
    let mut out = Vec::new();
    for kv in inner.tree(T::Kb).iter() {
        let (_, v) = kv.ctx("reading articles")?;
        out.push(from_json("kb", &v)?);
    }
    Ok(out)
}

/// Every version of an article, oldest first.
pub(crate) fn history(inner: &Inner, id: u64) -> Result<Vec<Article>> {
    let mut out = Vec::new();
    for kv in inner.tree(T::KbHistory).scan_prefix(be(id)) {
        let (_, v) = kv.ctx("reading an article's history")?;
        out.push(from_json("kb_history", &v)?);
    }
    Ok(out)
}

/// The in-memory search index, built on first use.
#[derive(Default)]
pub(crate) struct KbIndex {
    state: Mutex<Option<Built>>,
}

struct Built {
    index: Index,
    reader: IndexReader,
    writer: IndexWriter,
    id: Field,
    public: Field,
    text: [Field; 3],
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

impl Built {
    fn new(inner: &Inner) -> Result<Built> {
        let mut b = Schema::builder();
        let id = b.add_u64_field("id", INDEXED | FAST | STORED);
        let public = b.add_u64_field("public", INDEXED);
        let opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let text = ["title", "tags", "body"].map(|n| b.add_text_field(n, opts.clone()));
        let index = Index::create_in_ram(b.build());
        index.tokenizers().register(TOKENIZER, analyzer());
        let writer = index
            .writer_with_num_threads(1, 15_000_000)
            .map_err(|e| err("opening the writer", e))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| err("opening a reader", e))?;
        let mut built = Built {
            index,
            reader,
            writer,
            id,
            public,
            text,
        };
        for a in list(inner)? {
            built.add(&a)?;
        }
        built.commit()?;
        Ok(built)
    }

    fn add(&mut self, a: &Article) -> Result<()> {
        let mut doc = TantivyDocument::default();
        doc.add_u64(self.id, a.id);
        doc.add_u64(self.public, u64::from(a.public));
        doc.add_text(self.text[0], &a.title);
        doc.add_text(self.text[1], a.tags.join(" "));
        doc.add_text(self.text[2], &a.body);
        self.writer
            .add_document(doc)
            .map(|_| ())
            .map_err(|e| err("adding an article", e))
    }

    fn remove(&mut self, id: u64) {
        self.writer.delete_term(Term::from_field_u64(self.id, id));
    }

    fn commit(&mut self) -> Result<()> {
        self.writer.commit().map_err(|e| err("committing", e))?;
        self.reader.reload().map_err(|e| err("reloading", e))
    }

    fn search(&self, terms: &[String], public_only: bool, limit: usize) -> Result<Vec<(u64, f64)>> {
        let mut analyzer = self
            .index
            .tokenizers()
            .get(TOKENIZER)
            .ok_or_else(|| err("tokenizer", "missing"))?;
        let mut words: Vec<Box<dyn Query>> = Vec::new();
        for t in terms {
            let mut tokens = Vec::new();
            analyzer
                .token_stream(t)
                .process(&mut |tok| tokens.push(tok.text.clone()));
            for tok in tokens {
                for (field, weight) in self.text.iter().zip(WEIGHTS) {
                    let q = TermQuery::new(
                        Term::from_field_text(*field, &tok),
                        IndexRecordOption::WithFreqs,
                    );
                    words.push(Box::new(BoostQuery::new(Box::new(q), weight)));
                }
            }
        }
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let any: Box<dyn Query> = Box::new(BooleanQuery::new(
            words.into_iter().map(|q| (Occur::Should, q)).collect(),
        ));
        let query: Box<dyn Query> = if public_only {
            let public = TermQuery::new(
                Term::from_field_u64(self.public, 1),
                IndexRecordOption::Basic,
            );
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, any),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(Box::new(public), 0.0)),
                ),
            ]))
        } else {
            any
        };
        let searcher = self.reader.searcher();
        let top: Vec<(f32, tantivy::DocAddress)> = searcher
            .search(
                &query,
                &TopDocs::with_limit(limit.min(1000)).order_by_score(),
            )
            .map_err(|e| err("searching", e))?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let id = searcher
                .segment_reader(addr.segment_ord)
                .fast_fields()
                .u64("id")
                .map_err(|e| err("reading a result", e))?
                .first(addr.doc_id);
            if let Some(id) = id {
                out.push((id, f64::from(score)));
            }
        }
        // Equal scores: the older article first, as on SQLite.
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(out)
    }
}

impl KbIndex {
    fn with<V>(&self, inner: &Inner, f: impl FnOnce(&mut Built) -> Result<V>) -> Result<V> {
        let mut g = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.is_none() {
            *g = Some(Built::new(inner)?);
        }
        match g.as_mut() {
            Some(b) => {
                let out = f(b);
                if out.is_err() {
                    // Whatever state a failure left, the trees are the truth: build again.
                    *g = None;
                }
                out
            }
            None => Err(err("building", "no index")),
        }
    }

    /// Brings one article's entry in line with the tree after a write (put or delete). The
    /// article is read back under the index's lock, so two writes racing each other leave the
    /// newest version indexed. Before the first search nothing is built, and the build reads
    /// the tree.
    pub(crate) fn refresh(&self, inner: &Inner, id: u64) {
        let mut g = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = g.as_mut() {
            b.remove(id);
            let done = match get(inner, id) {
                Ok(Some(a)) => b.add(&a),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            }
            .and_then(|()| b.commit());
            if let Err(e) = done {
                tracing::warn!(error = %e, "the knowledge-base index is rebuilt at the next search");
                *g = None;
            }
        }
    }

    /// bm25-ranked articles matching any of `terms`, with their titles.
    pub(crate) fn search(
        &self,
        inner: &Inner,
        terms: &[String],
        public_only: bool,
        limit: usize,
    ) -> Result<Vec<KbHit>> {
        let ranked = self.with(inner, |b| b.search(terms, public_only, limit))?;
        let mut out = Vec::with_capacity(ranked.len());
        for (id, score) in ranked {
            if let Some(a) = get(inner, id)? {
                out.push(KbHit {
                    id,
                    title: a.title,
                    score,
                });
            }
        }
        Ok(out)
    }
}
