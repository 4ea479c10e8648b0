//! The one error type of `etraq-core`.
//!
//! Every variant names the input that failed (a config key, an address, a DR id, a store path), so
//! a frontend can print it as one line and a user knows what to fix.

use std::path::PathBuf;

/// Errors from the etraq core and from the [`Store`](crate::store::Store) trait.
///
/// Store backends map their own failures into [`Error::Backend`] (with the backend's error as the
/// source) or into one of the store variants that callers act on: [`Error::Conflict`] is retried by
/// the tracker, [`Error::NotFound`] becomes a user-facing "no such DR", and the open-time variants
/// explain why a store cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file is not valid TOML or a key has a bad value; `key` is the dotted path
    /// (`smtp.max_recipients`), empty when the problem is the file's syntax.
    #[error("{path}: {}{message}", if key.is_empty() { String::new() } else { format!("key `{key}`: ") })]
    Config {
        /// The file that was read.
        path: PathBuf,
        /// The dotted key that failed, or empty for a syntax error.
        key: String,
        /// What is wrong with it.
        message: String,
    },

    /// A file could not be read or written. (The cause is the error's `source`, so one-line
    /// reports read "cannot access PATH: cause".)
    #[error("cannot access {}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An email address or domain could not be parsed.
    #[error("invalid address {input:?}: {reason}")]
    InvalidAddress {
        /// The input as given (truncated when very long).
        input: String,
        /// Why it was refused.
        reason: String,
    },

    /// A DR id is not of the form `PREFIX-MMDDYYYY.N`.
    #[error("invalid DR id {input:?}: expected PREFIX-MMDDYYYY.N, e.g. SUPP-11102003.2512")]
    InvalidDrId {
        /// The input as given.
        input: String,
    },

    /// A duration such as `2d 3h` could not be parsed.
    #[error("invalid duration {input:?}: {reason} (examples: 90m, 4h, 2d 3h)")]
    InvalidDuration {
        /// The input as given.
        input: String,
        /// Why it was refused.
        reason: String,
    },

    /// A time zone name is unknown.
    #[error("unknown time zone {name:?}: {reason}")]
    InvalidTimeZone {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: String,
    },

    /// A store URL is not `sqlite:PATH` or `sled:PATH`.
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidStoreUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },

    /// Some other argument is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),

    /// A field of a use case's input is refused: `field` names it as the frontends do (a form
    /// field, a JSON key, a flag without its dashes).
    #[error("{field}: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// The person acting may not do this (an agent opening the users, say).
    #[error("{0}")]
    Forbidden(String),

    /// The thing asked for does not exist (a DR id, a user).
    #[error("{what} not found: {key}")]
    NotFound {
        /// What kind of thing ("DR", "user").
        what: &'static str,
        /// Its key as given.
        key: String,
    },

    /// A conditional write lost a race: another writer changed a DR or recorded the same
    /// Message-ID first. Nothing was written; the caller re-reads and decides again.
    #[error("write conflict: {0}")]
    Conflict(String),

    /// The store at `path` was written by a newer etraq whose schema this build does not know.
    #[error(
        "{}: this store was written by a newer etraq (schema version {found}; this build knows up to {supported}); upgrade etraq or point --store elsewhere",
        path.display()
    )]
    SchemaTooNew {
        /// The store's location.
        path: PathBuf,
        /// The schema version found in the store.
        found: i64,
        /// The newest schema this build knows.
        supported: i64,
    },

    /// The file or directory at `path` exists but is not an etraq store.
    #[error("{}: not an etraq store ({reason})", path.display())]
    ForeignStore {
        /// The path given.
        path: PathBuf,
        /// What was found there instead.
        reason: String,
    },

    /// A peer etraq depends on (a campaign's relay) cannot be reached now; nothing was lost
    /// and the work goes on when it is back.
    #[error("{what} is unavailable: {reason}")]
    Unavailable {
        /// What (the relay and its address).
        what: String,
        /// Why, in words (its last answer).
        reason: String,
    },

    /// The store has been closed; no further calls are accepted.
    #[error("the store is closed")]
    Closed,

    /// A bug or an impossible state inside etraq itself, in words.
    #[error("internal error: {0}")]
    Internal(String),

    /// Any other failure inside a store backend.
    #[error("{backend} store: {message}")]
    Backend {
        /// `sqlite` or `sled`.
        backend: &'static str,
        /// What failed, in words.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// Shorthand for a [`Error::Backend`] error with a source.
    pub fn backend(
        backend: &'static str,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Backend {
            backend,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// True for [`Error::Conflict`], which the tracker retries.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict(_))
    }
}

/// `Result` with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
