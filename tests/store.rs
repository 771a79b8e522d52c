//! The store's conformance suite (src/store/conformance.rs), run against the redb
//! backend on real data files in temporary directories.

use std::sync::Arc;

use switchyard::metrics::Metrics;
use switchyard::model::Clock;
use switchyard::store::Store;
use switchyard::store::redb::RedbStore;

async fn redb(clock: Clock) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = RedbStore::open(dir.path(), Arc::new(Metrics::new()), clock).expect("redb opens");
    (Store::new(store), dir)
}

switchyard::store_conformance!(redb);
