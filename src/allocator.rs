//! Settings of the process's allocator (mimalloc, see `main.rs`).

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay` of mimalloc 3's `mimalloc.h`; libmimalloc-sys names no
/// constant for it. The test below checks that it is the option whose default is 1000.
const PURGE_DELAY: mi_option_t = 15;
const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// Returns freed pages to the system at once instead of a second later, unless
/// `MIMALLOC_PURGE_DELAY` says otherwise. Windows are dropped hours at a time and the
/// Parquet writers' buffers come and go with every file, so a second of freed memory
/// was 96 MiB of the benchmark's peak RSS (788 -> 692 MiB, BENCHMARKS.md round 7).
pub fn return_freed_memory_at_once() {
    if std::env::var_os(PURGE_DELAY_ENV).is_none() {
        // SAFETY: sets one integer option; mimalloc reads it on its next purge.
        unsafe { mi_option_set(PURGE_DELAY, 0) };
    }
}

/// The purge delay in force, in milliseconds.
pub fn purge_delay_ms() -> i64 {
    // SAFETY: reads one integer option.
    unsafe { mi_option_get(PURGE_DELAY) as i64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        if std::env::var_os(PURGE_DELAY_ENV).is_some() {
            return;
        }
        assert_eq!(purge_delay_ms(), 1000, "mimalloc 3's default purge delay");
        return_freed_memory_at_once();
        assert_eq!(purge_delay_ms(), 0);
    }
}
