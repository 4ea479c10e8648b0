//! The error type of the sled backend, converted into `etraq_core::Error` at the trait
//! boundary. Record encoding is shared with the other backends (`etraq_core::store::record`).

/// Failures inside the sled store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// An index entry has a malformed key.
    #[error("corrupt key in tree {0}")]
    BadKey(&'static str),
    /// A blocking task could not be run, or another failure inside the store.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<SledError> for etraq_core::Error {
    fn from(e: SledError) -> Self {
        match e {
            SledError::Sled { context, source } => {
                etraq_core::Error::backend("sled", context, source)
            }
            other => etraq_core::Error::Backend {
                backend: "sled",
                message: other.to_string(),
                source: None,
            },
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

/// Decodes a JSON record of `tree`.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, etraq_core::Error> {
    etraq_core::store::record::decode("sled", tree, bytes)
}

/// Encodes a record for `tree`.
pub(crate) fn to_json<T: serde::Serialize>(
    tree: &'static str,
    value: &T,
) -> Result<Vec<u8>, etraq_core::Error> {
    etraq_core::store::record::encode("sled", tree, value)
}
