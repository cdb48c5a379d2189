//! The conformance suite against every backend.

use std::ops::Deref;

use natter_store::prelude::*;
use natter_store::{MemoryStore, SqliteStore};
use tempfile::TempDir;

mod memory {
    natter_store::conformance_tests!(Box::new(natter_store::MemoryStore::new()));
}

mod sqlite_in_memory {
    natter_store::conformance_tests!(Box::new(
        natter_store::SqliteStore::open_in_memory().expect("open in-memory sqlite")
    ));
}

mod sqlite_file {
    natter_store::conformance_tests!(super::FileStore::new());
}

/// A SQLite store in a temporary directory, removed on drop.
struct FileStore {
    store: SqliteStore,
    _dir: TempDir,
}

impl FileStore {
    fn new() -> Self {
        let dir = TempDir::new().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("natter.db")).expect("open sqlite file");
        Self { store, _dir: dir }
    }
}

impl Deref for FileStore {
    type Target = SqliteStore;
    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

#[test]
fn memory_store_is_a_store_object() {
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(MemoryStore::new());
    assert_eq!(store.lobby(), natter_store::ConvId(1));
}
