//! The open database, which the writer may swap for a fresh one.
//!
//! After an I/O error (a full disk, say) redb refuses every later operation with
//! "a previous I/O error occurred: close and reopen the database": what it holds
//! in memory may no longer match the file. So the store hands out this handle,
//! not the `Database`: a read takes the current database for its length; the
//! writer, on an I/O error, takes it away, reopens the file (redb repairs it to
//! its last durable commit) and puts the new one in place ([`super::writer`]).
//! Meanwhile reads and writes fail with [`Error::Unavailable`], which
//! ingest answers with a 503 and lanes retry.
//!
//! Nothing acknowledged is lost: every caller is answered only after the commit
//! that holds its write succeeded, and that commit is what the reopened file
//! holds. A write whose commit failed was answered with an error; if it reached
//! the disk all the same, the sender's retry is a duplicate, and a lane's
//! outcome recorded twice is stale the second time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use redb::Database;

use super::error::Error;

/// redb's page cache. Its default, 1 GiB, is what the process would grow to under
/// a sustained load or a large backlog; the hot part of the data (the newest
/// events, the head of each webhook's due queue) is far smaller, and the kernel's
/// page cache holds the rest. Measured with `switchyard bench`: peak RSS in
/// `deliver` fell from 1.1 GiB to under 100 MiB, and delivery got no slower.
const CACHE_BYTES: usize = 64 << 20;

/// How the database is opened, at start and again after an I/O error: the data
/// file, or in the store's tests a backend that fails on demand.
pub(super) type Opener = Box<dyn Fn() -> Result<Database, Error> + Send + Sync>;

/// The current database, if it is open; see the module docs.
pub(super) struct Handle {
    path: PathBuf,
    open: Opener,
    current: RwLock<Option<Arc<Database>>>,
    /// False from a failed commit until a reopened database has committed.
    writable: AtomicBool,
}

impl Handle {
    pub fn new(path: PathBuf, open: Opener, db: Database) -> Self {
        Self {
            path,
            open,
            current: RwLock::new(Some(Arc::new(db))),
            writable: AtomicBool::new(true),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the database again, as it was opened at first.
    pub fn reopen(&self) -> Result<Database, Error> {
        (self.open)()
    }

    /// The database, unless the writer is reopening it.
    pub fn get(&self) -> Result<Arc<Database>, Error> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.clone().ok_or(Error::Unavailable)
    }

    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::SeqCst)
    }

    /// A commit failed for an I/O error: not writable until [`Handle::put`].
    pub fn failed(&self) {
        self.writable.store(false, Ordering::SeqCst);
    }

    /// Takes the database away: reads fail until [`Handle::put`]. The file is
    /// let go once the reads under way finish.
    pub fn take(&self) {
        self.writable.store(false, Ordering::SeqCst);
        let taken = self
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(taken);
    }

    /// Puts a reopened database in place, known to take commits again.
    pub fn put(&self, db: Database) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(db));
        self.writable.store(true, Ordering::SeqCst);
    }
}

/// Opens (or creates) the data file, refusing one another process holds.
pub(super) fn open_file(path: &Path) -> Result<Database, Error> {
    let opened = redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path);
    opened.map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => Error::InUse(path.to_owned()),
        other => other.into(),
    })
}
