//! Full-text search on the sled store: a tantivy index in the store's `search/` directory.
//!
//! sled and tantivy cannot share a transaction, so the index is kept exact the way a derived
//! view is: each mail's transaction also writes its seq to the `search_pending` tree, the
//! mail is added to the index after that transaction, and a pending entry is removed only once
//! a tantivy commit holds the mail. On open, whatever is still pending (a crash between the two
//! commits) is indexed again, replacing any copy; an archive recorded before the index existed
//! (or an index that is missing or unreadable) is rebuilt from the mails, with progress.
//!
//! Commits are batched (every [`COMMIT_AFTER`], or [`COMMIT_EVERY`] mails), and a search first
//! commits what it cannot see yet, so a search always finds every mail recorded before it.
//!
//! Text is folded like the SQLite store's `unicode61 remove_diacritics 2` (accents dropped,
//! `ß` kept, case ignored) so both stores answer a query the same way.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use etraq_core::archive::fold;
use etraq_core::archive::{IndexDoc, SearchQuery, Term as QueryTerm, index_doc};
use etraq_core::{Error, MailRecord, Result};
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, Occur, PhraseQuery, Query,
    RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, SegmentReader,
    TantivyDocument, Term,
};

use crate::error::{Ctx, from_json};
use crate::keys::{be, trailing_number};
use crate::schema::{Inner, T};

/// Mails added before a commit is due. A tantivy commit writes and syncs a segment, so under a
/// bulk ingest commits come from the time bound; this only caps the memory of a burst.
const COMMIT_EVERY: usize = 10_000;

/// Time after which added mails are committed at the next write.
const COMMIT_AFTER: Duration = Duration::from_secs(1);

/// Mails per commit while rebuilding the index from the archive.
const REBUILD_BATCH: usize = 5_000;

/// The tantivy writer's memory budget (one indexing thread; the machine is small).
const WRITER_MEMORY: usize = 32 * 1024 * 1024;

/// The commit payload of an index that holds the whole archive.
const COMPLETE: &str = "etraq-search-1 complete";

/// The tokenizer's name in the index.
const TOKENIZER: &str = "etraq";

/// The text fields with their ranking weights (as in the SQLite store): subject, sender,
/// recipients, body, attachment names.
const WEIGHTS: [(&str, f32); 5] = [
    ("subject", 8.0),
    ("sender", 3.0),
    ("recipients", 2.0),
    ("body", 1.0),
    ("attachments", 2.0),
];

/// The fields of the schema.
#[derive(Clone, Copy)]
struct Fields {
    seq: Field,
    at: Field,
    dr: Field,
    attach: Field,
    text: [Field; 5],
}

impl Fields {
    fn named(&self, name: &str) -> Option<Field> {
        WEIGHTS
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| self.text[i])
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let seq = b.add_u64_field("seq", INDEXED | FAST);
    let at = b.add_i64_field("at", INDEXED | FAST);
    let dr = b.add_u64_field("dr", INDEXED);
    let attach = b.add_u64_field("attach", INDEXED);
    let opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let text = WEIGHTS.map(|(name, _)| b.add_text_field(name, opts.clone()));
    (
        b.build(),
        Fields {
            seq,
            at,
            dr,
            attach,
            text,
        },
    )
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(100))
        .filter(LowerCaser)
        .build()
}

fn err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: "sled",
        message: format!("search index: {what}: {e}"),
        source: None,
    }
}

/// A mail to index: its seq, its text, when it was received, its DR's number (0: none).
pub(crate) struct Entry {
    seq: u64,
    doc: IndexDoc,
    at: i64,
    dr: u64,
}

impl Entry {
    /// The same entry for mail `seq` (entries are made before the write gives the seq).
    pub(crate) fn with_seq(self, seq: u64) -> Entry {
        Entry { seq, ..self }
    }

    /// The entry of mail `seq`.
    pub(crate) fn new(seq: u64, mail: &MailRecord, raw: &[u8]) -> Entry {
        Entry {
            seq,
            doc: index_doc(mail, raw),
            at: mail.received_at.as_second(),
            dr: mail.dr.as_ref().map_or(0, |d| d.number()),
        }
    }
}

struct Writer {
    writer: IndexWriter,
    /// Seqs added since the last commit (their pending entries go once it is made).
    uncommitted: Vec<u64>,
    last_commit: Instant,
}

/// The search index of one sled store.
pub(crate) struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    writer: Mutex<Option<Writer>>,
}

impl SearchIndex {
    /// Opens the index in `dir` (creating or rebuilding it as needed) and brings it up to date
    /// with the store.
    pub(crate) fn open(dir: &Path, inner: &Inner) -> Result<SearchIndex> {
        let opened = Self::open_dir(dir);
        let this = match opened {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "the search index cannot be opened; rebuilding it");
                std::fs::remove_dir_all(dir).map_err(|source| Error::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
                Self::open_dir(dir)?
            }
        };
        let payload = this
            .index
            .load_metas()
            .map_err(|e| err("reading", e))?
            .payload;
        if payload.as_deref() != Some(COMPLETE) {
            this.rebuild(inner)?;
        }
        this.recover(inner)?;
        Ok(this)
    }

    fn open_dir(dir: &Path) -> Result<SearchIndex> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let (schema, fields) = schema();
        let mmap = MmapDirectory::open(dir).map_err(|e| err("opening its directory", e))?;
        let index = Index::open_or_create(mmap, schema).map_err(|e| err("opening", e))?;
        index.tokenizers().register(TOKENIZER, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| err("opening a reader", e))?;
        let writer = index
            .writer_with_num_threads(1, WRITER_MEMORY)
            .map_err(|e| err("opening the writer", e))?;
        Ok(SearchIndex {
            index,
            reader,
            fields,
            writer: Mutex::new(Some(Writer {
                writer,
                uncommitted: Vec::new(),
                last_commit: Instant::now(),
            })),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Option<Writer>>> {
        self.writer
            .lock()
            .map_err(|_| err("writing", "a writer panicked"))
    }

    fn document(&self, e: &Entry) -> TantivyDocument {
        let f = &self.fields;
        let mut d = TantivyDocument::default();
        d.add_u64(f.seq, e.seq);
        d.add_i64(f.at, e.at);
        d.add_u64(f.dr, e.dr);
        d.add_u64(f.attach, u64::from(e.doc.has_attachment));
        let texts = [
            &e.doc.subject,
            &e.doc.sender,
            &e.doc.recipients,
            &e.doc.body,
            &e.doc.attachments,
        ];
        for (field, text) in f.text.iter().zip(texts) {
            d.add_text(*field, fold(text));
        }
        d
    }

    /// Indexes the entries of mail just recorded (whose pending entries are in the store).
    /// `replace`: drop any earlier copy first (recovery).
    fn add_locked(&self, w: &mut Writer, entries: &[Entry], replace: bool) -> Result<()> {
        for e in entries {
            if replace {
                w.writer
                    .delete_term(Term::from_field_u64(self.fields.seq, e.seq));
            }
            w.writer
                .add_document(self.document(e))
                .map_err(|x| err("adding a mail", x))?;
            w.uncommitted.push(e.seq);
        }
        Ok(())
    }

    /// Indexes mail just recorded; commits when one is due.
    pub(crate) fn add(&self, inner: &Inner, entries: &[Entry]) -> Result<()> {
        let mut g = self.lock()?;
        let w = g.as_mut().ok_or(Error::Closed)?;
        self.add_locked(w, entries, false)?;
        if w.uncommitted.len() >= COMMIT_EVERY || w.last_commit.elapsed() >= COMMIT_AFTER {
            self.commit_locked(inner, w, None)?;
        }
        Ok(())
    }

    /// Indexes every mail still pending that this process has not added (mail recorded by a
    /// path that did not hand its entries over, or before a crash).
    pub(crate) fn sync_pending(&self, inner: &Inner) -> Result<()> {
        let mut g = self.lock()?;
        let w = g.as_mut().ok_or(Error::Closed)?;
        let mut entries = Vec::new();
        for k in inner.tree(T::SearchPending).iter().keys() {
            let k = k.ctx("reading the search queue")?;
            let Some(seq) = trailing_number(&k) else {
                continue;
            };
            if w.uncommitted.contains(&seq) {
                continue;
            }
            if let Some(e) = entry(inner, seq)? {
                entries.push(e);
            }
        }
        self.add_locked(w, &entries, true)?;
        Ok(())
    }

    /// Commits what was added: the mails become searchable and leave the pending queue.
    fn commit_locked(&self, inner: &Inner, w: &mut Writer, payload: Option<&str>) -> Result<()> {
        let mut prepared = w
            .writer
            .prepare_commit()
            .map_err(|e| err("committing", e))?;
        if let Some(p) = payload {
            prepared.set_payload(p);
        } else {
            prepared.set_payload(COMPLETE);
        }
        prepared.commit().map_err(|e| err("committing", e))?;
        self.reader.reload().map_err(|e| err("reloading", e))?;
        let pending = inner.tree(T::SearchPending);
        let mut batch = sled::Batch::default();
        for seq in w.uncommitted.drain(..) {
            batch.remove(&be(seq));
        }
        pending
            .apply_batch(batch)
            .ctx("clearing the search queue")?;
        w.last_commit = Instant::now();
        Ok(())
    }

    /// Commits if anything added is not yet searchable.
    pub(crate) fn commit(&self, inner: &Inner) -> Result<()> {
        let mut g = self.lock()?;
        let Some(w) = g.as_mut() else {
            return Ok(());
        };
        if !w.uncommitted.is_empty() {
            self.commit_locked(inner, w, None)?;
        }
        Ok(())
    }

    /// Indexes the pending queue left by an earlier run.
    fn recover(&self, inner: &Inner) -> Result<()> {
        let n = inner.tree(T::SearchPending).len();
        if n > 0 {
            tracing::info!(mails = n, "indexing mail recorded before the last stop");
            self.sync_pending(inner)?;
            self.commit(inner)?;
        }
        Ok(())
    }

    /// Rebuilds the index from every recorded mail, committing every [`REBUILD_BATCH`] and
    /// logging progress; an interrupted rebuild starts over (it replaces what it finds).
    fn rebuild(&self, inner: &Inner) -> Result<()> {
        let total = inner.tree(T::Mails).len();
        let mut g = self.lock()?;
        let w = g.as_mut().ok_or(Error::Closed)?;
        w.writer
            .delete_all_documents()
            .map_err(|e| err("clearing", e))?;
        if total == 0 {
            return self.commit_locked(inner, w, Some(COMPLETE));
        }
        tracing::info!(mails = total, "indexing the archive for search");
        let started = Instant::now();
        let mut done = 0usize;
        let mut batch = Vec::with_capacity(REBUILD_BATCH);
        for k in inner.tree(T::Mails).iter().keys() {
            let k = k.ctx("reading mail to index")?;
            if let Some(seq) = trailing_number(&k)
                && let Some(e) = entry(inner, seq)?
            {
                batch.push(e);
            }
            if batch.len() == REBUILD_BATCH {
                self.add_locked(w, &batch, false)?;
                self.commit_locked(inner, w, Some("etraq-search-1 rebuilding"))?;
                done += batch.len();
                batch.clear();
                tracing::info!(done, of = total, "indexing the archive for search");
            }
        }
        self.add_locked(w, &batch, false)?;
        self.commit_locked(inner, w, Some(COMPLETE))?;
        tracing::info!(
            mails = done + batch.len(),
            seconds = started.elapsed().as_secs_f64(),
            "the archive is indexed for search"
        );
        Ok(())
    }

    /// Commits and lets go of the writer (and its lock on the directory).
    pub(crate) fn close(&self, inner: &Inner) -> Result<()> {
        self.commit(inner)?;
        let taken = self.lock()?.take();
        if let Some(w) = taken {
            w.writer
                .wait_merging_threads()
                .map_err(|e| err("finishing merges", e))?;
        }
        Ok(())
    }

    /// The words of `text` as the index holds them.
    fn tokens(&self, text: &str) -> Vec<String> {
        let mut a = analyzer();
        let folded = fold(text);
        let mut stream = a.token_stream(&folded);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        out
    }

    /// The query on one field for a term: a word, or a phrase of its words.
    fn field_query(&self, field: Field, words: &[String]) -> Box<dyn Query> {
        let mut terms: Vec<Term> = words
            .iter()
            .map(|w| Term::from_field_text(field, w))
            .collect();
        if terms.len() > 1 {
            Box::new(PhraseQuery::new(terms))
        } else if let Some(t) = terms.pop() {
            Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs))
        } else {
            Box::new(EmptyQuery)
        }
    }

    /// The query of one term of the language: on its field, or on every text field with the
    /// fields' weights. `None` for a term without a word (only punctuation).
    fn term_query(&self, t: &QueryTerm) -> Option<Box<dyn Query>> {
        let words = self.tokens(&t.text);
        if words.is_empty() {
            return None;
        }
        if let Some(f) = t.field.and_then(|name| self.fields.named(name)) {
            return Some(self.field_query(f, &words));
        }
        let any: Vec<(Occur, Box<dyn Query>)> = WEIGHTS
            .iter()
            .zip(self.fields.text)
            .map(|((_, w), f)| {
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(self.field_query(f, &words), *w)) as Box<dyn Query>,
                )
            })
            .collect();
        Some(Box::new(BooleanQuery::new(any)))
    }

    /// The mails matching `q`, best first (relevance, then the newest), as `(seq, score)`.
    pub(crate) fn search(
        &self,
        inner: &Inner,
        q: &SearchQuery,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(u64, f64)>> {
        self.commit(inner)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut positive = false;
        for t in &q.terms {
            match (self.term_query(t), t.negated) {
                (Some(tq), false) => {
                    positive = true;
                    clauses.push((Occur::Must, tq));
                }
                (Some(tq), true) => clauses.push((Occur::MustNot, tq)),
                // A positive term with no word in it matches nothing, as in FTS5.
                (None, false) => return Ok(Vec::new()),
                (None, true) => {}
            }
        }
        let filter = |q: Box<dyn Query>| {
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(q, 0.0)) as Box<dyn Query>,
            )
        };
        if let Some(n) = q.dr {
            clauses.push(filter(Box::new(TermQuery::new(
                Term::from_field_u64(f.dr, n),
                IndexRecordOption::Basic,
            ))));
        }
        if q.has_attachment {
            clauses.push(filter(Box::new(TermQuery::new(
                Term::from_field_u64(f.attach, 1),
                IndexRecordOption::Basic,
            ))));
        }
        if q.before.is_some() || q.after.is_some() {
            let lower = q.after.map_or(Bound::Unbounded, |t| {
                Bound::Included(Term::from_field_i64(f.at, t.as_second()))
            });
            let upper = q.before.map_or(Bound::Unbounded, |t| {
                Bound::Excluded(Term::from_field_i64(f.at, t.as_second()))
            });
            clauses.push(filter(Box::new(RangeQuery::new(lower, upper))));
        }
        if !positive {
            clauses.push(filter(Box::new(AllQuery)));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(limit).and_offset(offset);
        let hits: Vec<(f32, DocAddress)> = if positive {
            let ranked: Vec<((f32, u64), DocAddress)> = searcher
                .search(
                    &query,
                    &top.tweak_score(|seg: &SegmentReader| {
                        let col = seg.fast_fields().u64("seq").ok();
                        move |doc, score| {
                            (score, col.as_ref().and_then(|c| c.first(doc)).unwrap_or(0))
                        }
                    }),
                )
                .map_err(|e| err("searching", e))?;
            ranked.into_iter().map(|((s, _), a)| (s, a)).collect()
        } else {
            let newest: Vec<(Option<u64>, DocAddress)> = searcher
                .search(&query, &top.order_by_fast_field::<u64>("seq", Order::Desc))
                .map_err(|e| err("searching", e))?;
            newest.into_iter().map(|(_, a)| (0.0, a)).collect()
        };
        let mut out = Vec::with_capacity(hits.len());
        for (score, addr) in hits {
            let seg = searcher.segment_reader(addr.segment_ord);
            let seq = seg
                .fast_fields()
                .u64("seq")
                .map_err(|e| err("reading a result", e))?
                .first(addr.doc_id);
            if let Some(seq) = seq {
                out.push((seq, f64::from(score)));
            }
        }
        Ok(out)
    }
}

/// The entry of a recorded mail, read back from the store (`None`: gone).
fn entry(inner: &Inner, seq: u64) -> Result<Option<Entry>> {
    let Some(v) = inner
        .tree(T::Mails)
        .get(be(seq))
        .ctx("reading mail to index")?
    else {
        return Ok(None);
    };
    let mail: MailRecord = from_json("mails", &v)?;
    let raw = inner
        .tree(T::Raw)
        .get(be(seq))
        .ctx("reading a raw message")?
        .unwrap_or_default();
    Ok(Some(Entry::new(seq, &mail, &raw)))
}

/// Where the index of the store in `store_dir` lives.
pub(crate) fn dir_of(store_dir: &Path) -> PathBuf {
    store_dir.join("search")
}
