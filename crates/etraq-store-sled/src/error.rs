//! The error type of the sled backend, converted into `etraq_core::Error` at the trait boundary.

/// Failures inside the sled store.
#[derive(Debug, thiserror::Error)]
pub enum SledError {
    /// A sled call failed; `context` says what the store was doing.
    #[error("{context}: {source}")]
    Sled {
        /// What the store was doing.
        context: &'static str,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// A stored JSON document could not be read back.
    #[error("corrupt record in tree {tree}: {source}")]
    Corrupt {
        /// The tree holding it.
        tree: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// An index entry has a malformed key.
    #[error("corrupt key in tree {0}")]
    BadKey(&'static str),
    /// A blocking task could not be run.
    #[error("a blocking task failed: {0}")]
    Task(String),
}

impl From<SledError> for etraq_core::Error {
    fn from(e: SledError) -> Self {
        etraq_core::Error::Backend {
            backend: "sled",
            message: e.to_string(),
            source: None,
        }
    }
}

/// Attaches a context to sled results.
pub(crate) trait Ctx<T> {
    fn ctx(self, context: &'static str) -> Result<T, etraq_core::Error>;
}

impl<T> Ctx<T> for Result<T, sled::Error> {
    fn ctx(self, context: &'static str) -> Result<T, etraq_core::Error> {
        self.map_err(|source| SledError::Sled { context, source }.into())
    }
}

/// Decodes a JSON value, naming the tree on failure.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, etraq_core::Error> {
    serde_json::from_slice(bytes).map_err(|source| SledError::Corrupt { tree, source }.into())
}

/// Encodes a value as JSON.
pub(crate) fn to_json<T: serde::Serialize>(
    tree: &'static str,
    value: &T,
) -> Result<Vec<u8>, etraq_core::Error> {
    serde_json::to_vec(value).map_err(|source| SledError::Corrupt { tree, source }.into())
}
