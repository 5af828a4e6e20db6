//! One memory budget for every open window of the process. Tasks report what they buffer.
//! Past half the limit, tasks write the hours that are closed but waiting for their flush
//! interval (no extra files: those hours are complete). Past the limit, tasks move their
//! window rows to disk (`spill.rs`); only if that fails does the task holding the largest
//! window write it early as a part file (choosing the largest frees the most memory per
//! extra file).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    /// Per partition: (bytes buffered, bytes of its largest window).
    usage: Mutex<HashMap<i32, (usize, usize)>>,
    /// The largest total reported so far.
    peak: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Self {
        MemoryBudget {
            limit,
            usage: Mutex::new(HashMap::new()),
            peak: AtomicUsize::new(0),
        }
    }

    pub fn report(&self, partition: i32, bytes: usize, largest_window: usize) {
        let mut usage = self.usage.lock().unwrap();
        usage.insert(partition, (bytes, largest_window));
        let total = usage.values().map(|(b, _)| b).sum();
        self.peak.fetch_max(total, Ordering::Relaxed);
    }

    /// The most the open windows held at once, as far as tasks reported it.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn forget(&self, partition: i32) {
        self.usage.lock().unwrap().remove(&partition);
    }

    pub fn used(&self) -> usize {
        self.usage.lock().unwrap().values().map(|(b, _)| b).sum()
    }

    /// True past half the limit: closed hours should not wait for their flush interval.
    pub fn closed_should_go(&self) -> bool {
        self.used() > self.limit / 2
    }

    /// True past the limit: tasks spill their windows and wait (see
    /// `PartitionTask::hold_while_over_budget`).
    pub fn over_limit(&self) -> bool {
        self.used() > self.limit
    }

    /// True when the budget is exceeded and `partition` owns the largest window: the one
    /// to write early when spilling fails.
    pub fn should_write_early(&self, partition: i32) -> bool {
        let usage = self.usage.lock().unwrap();
        let total: usize = usage.values().map(|(b, _)| b).sum();
        if total <= self.limit {
            return false;
        }
        let largest = usage
            .iter()
            .max_by_key(|(p, (_, w))| (*w, std::cmp::Reverse(**p)));
        largest.is_some_and(|(p, (_, w))| *p == partition && *w > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_of_the_largest_window_spills() {
        let budget = MemoryBudget::new(100);
        budget.report(0, 40, 30);
        budget.report(1, 50, 45);
        assert!(
            !budget.should_write_early(1),
            "90 bytes is within the budget"
        );
        budget.report(0, 60, 30);
        assert!(budget.should_write_early(1));
        assert!(!budget.should_write_early(0));
        budget.forget(1);
        assert!(
            !budget.should_write_early(0),
            "60 bytes is within the budget again"
        );
        assert_eq!(budget.used(), 60);
    }

    #[test]
    fn closed_hours_go_past_half_the_limit() {
        let budget = MemoryBudget::new(100);
        budget.report(0, 50, 10);
        assert!(!budget.closed_should_go());
        budget.report(1, 1, 1);
        assert!(budget.closed_should_go());
        assert!(
            !budget.should_write_early(0),
            "51 bytes is within the limit"
        );
        assert!(!budget.over_limit());
        budget.report(1, 60, 1);
        assert!(budget.over_limit());
        budget.report(1, 0, 0);
        assert!(!budget.over_limit());
        assert_eq!(budget.peak(), 110, "the peak stays after the windows go");
    }
}
