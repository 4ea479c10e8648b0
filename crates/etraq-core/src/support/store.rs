//! [`SupportStore`]: the knowledge base's part of the store.

use async_trait::async_trait;

use crate::error::Result;
use crate::support::kb::{Article, KbHit};

/// The knowledge base's part of the [`Store`](crate::store::Store). Object-safe. Every
/// backend searches with bm25 over title, tags and body (weights 4, 3 and 1), with English
/// stemming, and keeps every version of an article.
#[async_trait]
pub trait SupportStore: Send + Sync {
    /// Writes an article: a new one (id 0; the id is assigned) or a new version of an existing
    /// one (`NotFound` when its id is unknown). The version is also added to its history, in
    /// the same transaction, and the article is searchable when this returns.
    async fn kb_put(&self, article: Article) -> Result<Article>;

    /// One article.
    async fn kb_get(&self, id: u64) -> Result<Option<Article>>;

    /// Every article, by id.
    async fn kb_list(&self) -> Result<Vec<Article>>;

    /// Every version of an article, oldest first (empty when it does not exist).
    async fn kb_history(&self, id: u64) -> Result<Vec<Article>>;

    /// Deletes an article and its history. `NotFound` when its id is unknown.
    async fn kb_delete(&self, id: u64) -> Result<()>;

    /// The articles matching any of `terms` (words from [`terms`](crate::support::kb::terms)),
    /// best first, at most `limit`; with `public_only`, public articles only.
    async fn kb_search(
        &self,
        terms: &[String],
        public_only: bool,
        limit: usize,
    ) -> Result<Vec<KbHit>>;
}
