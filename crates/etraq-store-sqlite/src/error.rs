//! The error type of the SQLite backend, converted into `etraq_core::Error` at the trait boundary.

/// Failures inside the SQLite store.
#[derive(Debug, thiserror::Error)]
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
    /// A stored JSON document could not be read back.
    #[error("corrupt record in table {table}: {source}")]
    Corrupt {
        /// The table holding it.
        table: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The writer thread stopped (the store was closed or the thread failed).
    #[error("the writer thread is not running")]
    WriterGone,
    /// A blocking task could not be run.
    #[error("a blocking task failed: {0}")]
    Task(String),
}

impl From<SqliteError> for etraq_core::Error {
    fn from(e: SqliteError) -> Self {
        etraq_core::Error::Backend {
            backend: "sqlite",
            message: e.to_string(),
            source: None,
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

/// Decodes a JSON column, naming the table on failure.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    table: &'static str,
    text: &str,
) -> Result<T, etraq_core::Error> {
    serde_json::from_str(text).map_err(|source| SqliteError::Corrupt { table, source }.into())
}

/// Encodes a value for a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(
    table: &'static str,
    value: &T,
) -> Result<String, etraq_core::Error> {
    serde_json::to_string(value).map_err(|source| SqliteError::Corrupt { table, source }.into())
}
