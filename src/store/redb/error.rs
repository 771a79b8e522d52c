//! What goes wrong inside the redb backend. redb's own error stays concrete here,
//! where the writer must tell an I/O error (reopen the file) from the rest, and
//! becomes the opaque source of a [`StoreError`] at the backend's edge, so that
//! no redb type reaches the rest of the router.

use std::path::PathBuf;
use std::sync::Arc;

use crate::store::{OpenError, StoreError};

#[derive(Debug, Clone, thiserror::Error)]
pub(super) enum Error {
    #[error("storage error: {0}")]
    Redb(Arc<redb::Error>),
    #[error("a stored record cannot be read: {0}")]
    Corrupt(String),
    #[error("the data file is being reopened after an I/O error")]
    Unavailable,
    #[error("the data file {0} is open in another process")]
    InUse(PathBuf),
    #[error("the data file was written by schema version {found}")]
    Schema { found: u64 },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Self::Redb(Arc::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::CompactionError
);

impl Error {
    /// Whether the database must be closed and opened again: an I/O error, now
    /// or before.
    pub fn needs_reopen(&self) -> bool {
        matches!(self, Self::Redb(e) if matches!(**e, redb::Error::Io(_) | redb::Error::PreviousIo))
    }

    /// Whether the transaction it happened in is unusable: a storage error can
    /// stop an operation half-way, where a corrupt record fails before it writes.
    pub fn aborts_batch(&self) -> bool {
        matches!(self, Self::Redb(_))
    }

    pub fn into_open(self) -> OpenError {
        match self {
            Self::InUse(path) => OpenError::InUse { path },
            Self::Schema { found } => OpenError::Schema {
                found,
                expected: super::schema::SCHEMA_VERSION,
            },
            Self::Redb(e) => OpenError::Backend(e),
            other => OpenError::Backend(Arc::new(StoreError::from(other))),
        }
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Redb(e) => Self::Backend(e),
            Error::Corrupt(message) => Self::Corrupt(message),
            Error::Unavailable => Self::Unavailable,
            other @ (Error::InUse(_) | Error::Schema { .. }) => Self::Backend(Arc::new(other)),
        }
    }
}
