//! Crash injection for tests: `LAKESTREAM_FAILPOINT=<name>[:<n>]` aborts the process (no
//! unwinding, no flush, like kill -9) the n-th time (default 1st) the named point is
//! reached. Read once at startup; a disabled failpoint costs one relaxed load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The points in the flush protocol where a crash is most interesting.
pub mod points {
    /// A data file is written; the manifest does not list it as durable yet.
    pub const AFTER_FILE_WRITE: &str = "after-file-write";
    /// Between two data files of one flush.
    pub const BETWEEN_FILES: &str = "between-files";
    /// Dead letters are delivered; the manifest does not know yet.
    pub const AFTER_DEAD_LETTERS: &str = "after-dead-letters";
    /// State changes are in the local database and derived files are rewritten; no
    /// snapshot holds them yet.
    pub const BEFORE_SNAPSHOT: &str = "before-snapshot";
    /// The snapshot is uploaded (and is the newest); the manifest does not name it yet.
    pub const AFTER_SNAPSHOT: &str = "after-snapshot";
    /// The manifest says durable; the Kafka commit has not been sent.
    pub const BEFORE_COMMIT: &str = "before-commit";
    /// A task moved its window rows to disk past the memory budget (`spill.rs`).
    pub const AFTER_SPILL: &str = "after-spill";
    /// The Kafka commit request is in flight.
    pub const DURING_COMMIT: &str = "during-commit";
}

struct Armed {
    name: String,
    hit_on: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("LAKESTREAM_FAILPOINT").ok()?;
            let (name, n) = match spec.split_once(':') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            };
            Some(Armed {
                name,
                hit_on: n.max(1),
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// True when `name` is the armed failpoint.
pub fn armed_for(name: &str) -> bool {
    armed().is_some_and(|a| a.name == name)
}

/// Aborts the process if `name` is armed and this is its n-th hit.
pub fn hit(name: &str) {
    if let Some(armed) = armed() {
        if armed.name == name && armed.hits.fetch_add(1, Ordering::Relaxed) + 1 == armed.hit_on {
            eprintln!("lakestream: failpoint `{name}` reached, aborting");
            std::process::abort();
        }
    }
}
