//! Why the store could not do what was asked: opening it, or an operation after.
//!
//! Two types because the two fail differently. Opening meets the ways a backend's
//! storage can be unfit (a directory that cannot be made, a file in use or cut
//! short, a schema from another version), each worth its own message to an
//! operator. Every operation after that fails in the same few ways, whatever it
//! was, and its caller acts on those alone: retry later (unavailable), give up
//! (closed), or report (corrupt, or the backend's own error, kept as the source).

use std::path::PathBuf;
use std::sync::Arc;

/// The backend's own error, kept whole as the source of ours.
pub type Source = Arc<dyn std::error::Error + Send + Sync>;

/// Why the store could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}: {message}")]
    CreateDir { path: PathBuf, message: String },
    #[error("the data file {path} is open in another process")]
    InUse { path: PathBuf },
    #[error(
        "the data file {path} is empty (0 bytes): whatever it held is lost, so the router \
         will not start on it. Restore it from a backup, or remove it to start with an empty store"
    )]
    EmptyFile { path: PathBuf },
    #[error("the data was written by schema version {found}; this build reads version {expected}")]
    Schema { found: u64, expected: u64 },
    #[error("cannot start the store's threads: {0}")]
    Thread(String),
    #[error("cannot open the store: {0}")]
    Backend(#[source] Source),
}

impl From<StoreError> for OpenError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Backend(source) => Self::Backend(source),
            other => Self::Backend(Arc::new(other)),
        }
    }
}

/// Why an operation on an open store failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Writes cannot be taken for now (after an I/O error, a full disk say, the
    /// backend is recovering by itself): retry shortly.
    #[error(
        "the store cannot take writes right now (recovering from an I/O error: is the disk full?); retry shortly"
    )]
    Unavailable,
    #[error("a stored record cannot be read: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
    #[error("storage error: {0}")]
    Backend(#[source] Source),
}
