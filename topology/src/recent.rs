//! The last flushes of this instance, newest first, for the status page: metrics say how
//! many and how long, this says which partition wrote what a minute ago.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Enough to fill a screen; older flushes are in the logs and the manifests.
const KEPT: usize = 20;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FlushRecord {
    /// Unix seconds when the flush finished.
    pub at: i64,
    pub partition: i32,
    pub reason: String,
    pub files: usize,
    pub rows: usize,
    pub bytes: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default)]
pub struct RecentFlushes(Arc<Mutex<VecDeque<FlushRecord>>>);

impl RecentFlushes {
    pub fn push(&self, record: FlushRecord) {
        let mut kept = self.0.lock().expect("recent flushes lock");
        kept.push_front(record);
        kept.truncate(KEPT);
    }

    pub fn newest_first(&self) -> Vec<FlushRecord> {
        self.0
            .lock()
            .expect("recent flushes lock")
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest() {
        let recent = RecentFlushes::default();
        for at in 0..(KEPT as i64 + 5) {
            recent.push(FlushRecord {
                at,
                partition: 0,
                reason: "window".into(),
                files: 1,
                rows: 1,
                bytes: 1,
                seconds: 0.1,
            });
        }
        let kept = recent.newest_first();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].at, KEPT as i64 + 4);
        assert_eq!(kept[KEPT - 1].at, 5);
    }
}
