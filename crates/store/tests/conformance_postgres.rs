//! The whole conformance suite on PostgreSQL: each case on a fresh database
//! of one cluster shared by the test process. Skipped (with a note) when
//! PostgreSQL is not installed, unless `NATTER_REQUIRE_CLUSTER_TESTS=1`.

use std::ops::Deref;

use natter_store::PgStore;
use natter_store::pg_harness::TestPostgres;

/// A PostgreSQL store on a fresh database, or `None` to skip.
fn fresh() -> Option<PgStore> {
    let pg = TestPostgres::shared()?;
    Some(PgStore::connect(&pg.url_for_new_db()).expect("connect to the test database"))
}

/// Derefs to a fresh store; a case run without PostgreSQL uses a memory
/// store instead (the note saying why was printed).
enum Fresh {
    Pg(PgStore),
    Skipped(Box<natter_store::MemoryStore>),
}

impl Fresh {
    fn new() -> Self {
        match fresh() {
            Some(store) => Self::Pg(store),
            None => Self::Skipped(Box::default()),
        }
    }
}

impl Deref for Fresh {
    type Target = dyn natter_store::Store;
    fn deref(&self) -> &Self::Target {
        match self {
            Self::Pg(store) => store,
            Self::Skipped(store) => &**store,
        }
    }
}

mod postgres {
    natter_store::conformance_tests!(super::Fresh::new());
}
