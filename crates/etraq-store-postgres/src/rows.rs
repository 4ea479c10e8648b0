//! What every module shares to turn records into rows and back: JSON documents as text,
//! numbers as `BIGINT`, and the transaction every write runs in.

use deadpool_postgres::{GenericClient, Object, Transaction};
use etraq_core::store::record;
use etraq_core::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Db;

/// The backend's name in messages.
pub(crate) const BACKEND: &str = "postgres";

/// A record as the text of its `data` column.
pub(crate) fn enc<T: Serialize>(place: &'static str, value: &T) -> Result<String> {
    String::from_utf8(record::encode(BACKEND, place, value)?)
        .map_err(|e| Error::Internal(format!("a record for {place} is not UTF-8: {e}")))
}

/// A record from the text of its `data` column.
pub(crate) fn dec<T: DeserializeOwned>(place: &'static str, data: &str) -> Result<T> {
    record::decode(BACKEND, place, data.as_bytes())
}

/// A number for a `BIGINT` column; an out-of-range one is refused, never wrapped.
pub(crate) fn big(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::Invalid(format!("number {n} is out of range")))
}

/// A `BIGINT` read back as the unsigned number it was written from.
pub(crate) fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A count or page size for `LIMIT`.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The first column of every row, decoded as a record.
pub(crate) fn docs<T: DeserializeOwned>(
    place: &'static str,
    rows: &[tokio_postgres::Row],
) -> Result<Vec<T>> {
    rows.iter()
        .map(|r| dec(place, r.get::<_, &str>(0)))
        .collect()
}

/// Runs `sql` (prepared once per connection) and answers its rows.
pub(crate) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    context: &'static str,
) -> Result<Vec<tokio_postgres::Row>> {
    let stmt = c.prepare_cached(sql).await.db(context)?;
    c.query(&stmt, params).await.db(context)
}

/// Runs `sql` (prepared once per connection) and answers its row, if any.
pub(crate) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    context: &'static str,
) -> Result<Option<tokio_postgres::Row>> {
    let stmt = c.prepare_cached(sql).await.db(context)?;
    c.query_opt(&stmt, params).await.db(context)
}

/// Runs `sql` (prepared once per connection) and answers its one row.
pub(crate) async fn query_one<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    context: &'static str,
) -> Result<tokio_postgres::Row> {
    let stmt = c.prepare_cached(sql).await.db(context)?;
    c.query_one(&stmt, params).await.db(context)
}

/// Runs `sql` (prepared once per connection); answers how many rows it changed.
pub(crate) async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    context: &'static str,
) -> Result<u64> {
    let stmt = c.prepare_cached(sql).await.db(context)?;
    c.execute(&stmt, params).await.db(context)
}

/// Starts a transaction on a pooled connection.
pub(crate) async fn begin(c: &mut Object) -> Result<Transaction<'_>> {
    c.transaction().await.db("starting a transaction")
}

/// Commits; a commit that fails leaves nothing written.
pub(crate) async fn commit(tx: Transaction<'_>) -> Result<()> {
    tx.commit().await.db("committing")
}
