//! Settings of the process's allocator (mimalloc, see `main.rs`).

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay` of mimalloc 3's `mimalloc.h`; libmimalloc-sys names no
/// constant for it. The test below checks that it is the option whose default is 1000.
const PURGE_DELAY: mi_option_t = 15;
const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// How long freed pages stay with the process before they go back to the system.
/// Windows are dropped hours at a time and the Parquet writers' buffers come and go with
/// every file: mimalloc's default (1 s) held 96 MiB more at the benchmark's peak than
/// returning them at once (788 -> 692 MiB, BENCHMARKS.md round 7). At once, though, cost
/// a `madvise` per freed page run, 3.9% of the CPU; 50 ms batches those (1.2%) and
/// measured the same peak (BENCHMARKS.md round 9).
const PURGE_DELAY_MS: std::ffi::c_long = 50;

/// Returns freed pages to the system soon (see [`PURGE_DELAY_MS`]), unless
/// `MIMALLOC_PURGE_DELAY` says otherwise.
pub fn return_freed_memory_soon() {
    if std::env::var_os(PURGE_DELAY_ENV).is_none() {
        // SAFETY: sets one integer option; mimalloc reads it on its next purge.
        unsafe { mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

/// The purge delay in force, in milliseconds.
pub fn purge_delay_ms() -> std::ffi::c_long {
    // SAFETY: reads one integer option.
    unsafe { mi_option_get(PURGE_DELAY) }
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
        return_freed_memory_soon();
        assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
    }
}
