//! The error type of the SQLite backend, converted into `etraq_core::Error` at the trait
//! boundary. Record encoding is shared with the other backends (`etraq_core::store::record`).

/// Failures inside the SQLite store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// An SQLite call failed; `context` says what the store was doing.
    #[error("{context}: {source}")]
    Sqlite {
        /// What the store was doing.
        context: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The writer thread stopped (the store was closed or the thread failed).
    #[error("the writer thread is not running")]
    WriterGone,
    /// A blocking task could not be run, or another failure inside the store.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<SqliteError> for etraq_core::Error {
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Sqlite { context, source } => {
                etraq_core::Error::backend("sqlite", context, source)
            }
            other => etraq_core::Error::Backend {
                backend: "sqlite",
                message: other.to_string(),
                source: None,
            },
        }
    }
}

/// Attaches a context to rusqlite results: `stmt.execute(..).ctx("inserting a mail")?`.
pub(crate) trait Ctx<T> {
    fn ctx(self, context: &'static str) -> Result<T, etraq_core::Error>;
}

impl<T> Ctx<T> for Result<T, rusqlite::Error> {
    fn ctx(self, context: &'static str) -> Result<T, etraq_core::Error> {
        self.map_err(|source| SqliteError::Sqlite { context, source }.into())
    }
}

/// Decodes a JSON column of `table`.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    table: &'static str,
    text: &str,
) -> Result<T, etraq_core::Error> {
    etraq_core::store::record::decode("sqlite", table, text.as_bytes())
}

/// Encodes a value for a JSON column of `table`.
pub(crate) fn to_json<T: serde::Serialize>(
    table: &'static str,
    value: &T,
) -> Result<String, etraq_core::Error> {
    let bytes = etraq_core::store::record::encode("sqlite", table, value)?;
    String::from_utf8(bytes).map_err(|e| SqliteError::Internal(e.to_string()).into())
}
