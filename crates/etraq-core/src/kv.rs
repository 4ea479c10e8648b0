//! [`KeyValueStore`]: a small key-value space of the store for what has no table of its own —
//! the console's password hashes, session and API-token digests, settings.

use async_trait::async_trait;

use crate::error::Result;

/// The key-value part of the [`Store`](crate::store::Store). Object-safe.
#[async_trait]
pub trait KeyValueStore: Send + Sync {
    /// A value of the console's small key-value space (password hashes, session and API-token
    /// digests, settings). Keys are short ASCII strings such as `password:ann@example.com`.
    async fn kv_get(&self, key: &str) -> Result<Option<String>>;

    /// Sets (`Some`) or deletes (`None`) a key-value entry, durably.
    async fn kv_put(&self, key: &str, value: Option<&str>) -> Result<()>;

    /// The key-value entries whose key starts with `prefix`, ordered by key.
    async fn kv_scan(&self, prefix: &str) -> Result<Vec<(String, String)>>;
}
