//! Event-time hourly windows of one partition task and the watermark that closes them.
//!
//! A record's rows go to the window of its event hour. Each topic's event time is the
//! largest it has delivered; the task's event time is the smallest of them among the topics
//! still delivering (a topic at its end does not hold the others back), and the watermark
//! is that minus the grace period. A window is *due* once the watermark passes its end.
//!
//! Why the smallest: one topic of a partition is often read far ahead of another (a small
//! topic's fetch answer spans days; a starved input is given up on after
//! `windows.max_task_idle`). With the largest, the leading topic's event time made nearly
//! every record of the others late: 1.7 of 2 million records in the benchmark, each late
//! hour a window of its own and an extra file (BENCHMARKS.md, round 7).
//! A window opened for an hour that is already due holds late records: it is still written
//! (as a new file of its day), riding along with the next flush instead of forcing one;
//! past half the memory budget they are written on their own, at most once per flush
//! interval (`task.rs`, `enforce_budget`).

use std::collections::BTreeMap;

pub const HOUR_MS: i64 = 3_600_000;

/// Start of the UTC hour containing `ts_ms`.
pub fn hour_start(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// Rows of one dataset buffered in one window, with the source offsets they came from.
#[derive(Debug)]
pub struct Buffer<R> {
    /// The rows in memory; the `spilled` rows before them are on disk (`spill.rs`).
    pub rows: Vec<R>,
    pub spilled: usize,
    /// Estimated footprint of `rows`.
    pub bytes: usize,
    pub topic: usize,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// One open event-time hour.
#[derive(Debug)]
pub struct Window<R> {
    pub hour_ms: i64,
    /// Indexed by dataset; `None` until the first row of that dataset arrives.
    pub buffers: Vec<Option<Buffer<R>>>,
    pub bytes: usize,
    pub rows: usize,
    /// Lowest buffered offset per topic: the commit may not pass it.
    pub min_offset: Vec<Option<i64>>,
    /// Opened after its hour was already due.
    pub late: bool,
}

impl<R> Window<R> {
    fn new(hour_ms: i64, datasets: usize, topics: usize, late: bool) -> Self {
        Window {
            hour_ms,
            buffers: (0..datasets).map(|_| None).collect(),
            bytes: 0,
            rows: 0,
            min_offset: vec![None; topics],
            late,
        }
    }

    pub fn end_ms(&self) -> i64 {
        self.hour_ms + HOUR_MS
    }
}

/// All open windows of one task, ordered by hour.
#[derive(Debug)]
pub struct Windows<R> {
    open: BTreeMap<i64, Window<R>>,
    /// Largest event time delivered, per topic.
    topic_max_ms: Vec<Option<i64>>,
    /// Per topic: at its end, so it does not hold the task's event time back.
    idle: Vec<bool>,
    /// The task's event time at its last durable flush: the event time never starts below.
    restored_ms: Option<i64>,
    grace_ms: i64,
    datasets: usize,
    topics: usize,
    bytes: usize,
}

impl<R> Windows<R> {
    pub fn new(grace_ms: i64, datasets: usize, topics: usize) -> Self {
        Windows {
            open: BTreeMap::new(),
            topic_max_ms: vec![None; topics],
            idle: vec![false; topics],
            restored_ms: None,
            grace_ms,
            datasets,
            topics,
            bytes: 0,
        }
    }

    /// Restores the event-time high mark recorded at the last durable flush, so a restarted
    /// task closes windows where its predecessor would have.
    pub fn restore_max_event(&mut self, max_event_ms: Option<i64>) {
        self.restored_ms = self.restored_ms.max(max_event_ms);
    }

    /// The task's event time: the smallest of the delivering topics' largest event times
    /// (the largest of all when every topic is at its end), never below the restored one.
    pub fn max_event_ms(&self) -> Option<i64> {
        let seen = || self.topic_max_ms.iter().flatten().copied();
        let delivering = self
            .topic_max_ms
            .iter()
            .zip(&self.idle)
            .filter_map(|(max, idle)| max.filter(|_| !idle))
            .min();
        delivering.or_else(|| seen().max()).max(self.restored_ms)
    }

    pub fn observe(&mut self, topic: usize, event_time_ms: i64) {
        let max = &mut self.topic_max_ms[topic];
        *max = Some(max.map_or(event_time_ms, |m| m.max(event_time_ms)));
    }

    /// Marks `topic` at its end (it stops holding the event time back) or delivering again.
    pub fn set_idle(&mut self, topic: usize, idle: bool) {
        self.idle[topic] = idle;
    }

    pub fn watermark_ms(&self) -> Option<i64> {
        self.max_event_ms().map(|m| m - self.grace_ms)
    }

    /// The watermark that state is judged by (what is too late for the daily aggregates,
    /// what expires): the windows' watermark, except that a topic that has delivered
    /// nothing yet and is not at its end holds it where the last durable flush left it.
    /// At a backlog start one topic's records can arrive long before another's; the
    /// windows must not wait for the silent topic (its records may be hours of reading
    /// away, and the open windows would fill the memory budget), but the other topic's
    /// records, once they come, must still count in their days: judged by the windows'
    /// watermark, a benchmark run counted 147,000 of its attempts as without session
    /// (their sessions arrived "late") and left those sessions out of the daily
    /// aggregates (BENCHMARKS.md, round 9).
    pub fn state_watermark_ms(&self) -> Option<i64> {
        let silent = self
            .topic_max_ms
            .iter()
            .zip(&self.idle)
            .any(|(max, idle)| max.is_none() && !idle);
        let event_ms = if silent {
            self.restored_ms
        } else {
            self.max_event_ms()
        };
        event_ms.map(|m| m - self.grace_ms)
    }

    fn is_due(&self, hour_ms: i64) -> bool {
        self.watermark_ms().is_some_and(|w| hour_ms + HOUR_MS <= w)
    }

    /// Buffers one row. `bytes` is the row's estimated footprint.
    pub fn add(
        &mut self,
        hour_ms: i64,
        topic: usize,
        offset: i64,
        dataset: usize,
        row: R,
        bytes: usize,
    ) {
        let late = self.is_due(hour_ms);
        let (datasets, topics) = (self.datasets, self.topics);
        let window = self
            .open
            .entry(hour_ms)
            .or_insert_with(|| Window::new(hour_ms, datasets, topics, late));
        let buffer = window.buffers[dataset].get_or_insert_with(|| Buffer {
            rows: Vec::new(),
            spilled: 0,
            bytes: 0,
            topic,
            first_offset: offset,
            last_offset: offset,
        });
        buffer.rows.push(row);
        buffer.bytes += bytes;
        buffer.first_offset = buffer.first_offset.min(offset);
        buffer.last_offset = buffer.last_offset.max(offset);
        let min = &mut window.min_offset[topic];
        *min = Some(min.map_or(offset, |m| m.min(offset)));
        window.bytes += bytes;
        window.rows += 1;
        self.bytes += bytes;
    }

    /// True when a window that was opened on time has become due: the signal to flush.
    pub fn regular_close_due(&self) -> bool {
        self.open
            .values()
            .any(|w| !w.late && self.is_due(w.hour_ms))
    }

    /// Hours whose windows are due (on-time and late ones).
    pub fn due_hours(&self) -> Vec<i64> {
        self.open
            .keys()
            .copied()
            .filter(|h| self.is_due(*h))
            .collect()
    }

    /// Hours a quiet partition may close by wall clock: window end + grace + idle timeout
    /// has passed.
    pub fn idle_hours(&self, wall_now_ms: i64, idle_ms: i64) -> Vec<i64> {
        self.open
            .keys()
            .copied()
            .filter(|h| h + HOUR_MS + self.grace_ms + idle_ms <= wall_now_ms)
            .collect()
    }

    pub fn all_hours(&self) -> Vec<i64> {
        self.open.keys().copied().collect()
    }

    pub fn get(&self, hour_ms: i64) -> Option<&Window<R>> {
        self.open.get(&hour_ms)
    }

    pub fn remove(&mut self, hour_ms: i64) -> Option<Window<R>> {
        let window = self.open.remove(&hour_ms)?;
        self.bytes -= window.bytes;
        Some(window)
    }

    /// Buffers with rows in memory, largest first: what to move to disk.
    pub fn in_memory(&self) -> Vec<(i64, usize)> {
        let mut found: Vec<(usize, i64, usize)> = self
            .open
            .values()
            .flat_map(|w| {
                w.buffers.iter().enumerate().filter_map(|(dataset, b)| {
                    let b = b.as_ref().filter(|b| !b.rows.is_empty())?;
                    Some((b.bytes, w.hour_ms, dataset))
                })
            })
            .collect();
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.into_iter().map(|(_, h, d)| (h, d)).collect()
    }

    /// The in-memory rows of one buffer, to be written to its spill file.
    pub fn rows_of(&self, hour_ms: i64, dataset: usize) -> &[R] {
        self.open
            .get(&hour_ms)
            .and_then(|w| w.buffers[dataset].as_ref())
            .map_or(&[], |b| &b.rows)
    }

    /// The buffer's in-memory rows are on disk now: drop them and their bytes.
    pub fn mark_spilled(&mut self, hour_ms: i64, dataset: usize) {
        let Some(window) = self.open.get_mut(&hour_ms) else {
            return;
        };
        let Some(buffer) = window.buffers[dataset].as_mut() else {
            return;
        };
        buffer.spilled += buffer.rows.len();
        window.bytes -= buffer.bytes;
        self.bytes -= buffer.bytes;
        buffer.bytes = 0;
        buffer.rows = Vec::new();
    }

    pub fn buffer_mut(&mut self, hour_ms: i64, dataset: usize) -> Option<&mut Buffer<R>> {
        self.open.get_mut(&hour_ms)?.buffers[dataset].as_mut()
    }

    /// The window holding the most bytes, the one written early under memory pressure.
    pub fn largest(&self) -> Option<(i64, usize)> {
        self.open
            .values()
            .map(|w| (w.hour_ms, w.bytes))
            .max_by_key(|(_, b)| *b)
    }

    pub fn min_offset(&self, topic: usize) -> Option<i64> {
        self.open.values().filter_map(|w| w.min_offset[topic]).min()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Records buffered in all open windows.
    pub fn rows(&self) -> usize {
        self.open.values().map(|w| w.rows).sum()
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: i64 = 10 * 60_000;

    fn at(hour: i64, minute: i64) -> i64 {
        hour * HOUR_MS + minute * 60_000
    }

    #[test]
    fn hour_start_handles_pre_epoch_times() {
        assert_eq!(hour_start(at(5, 59)), at(5, 0));
        assert_eq!(hour_start(-1), -HOUR_MS);
    }

    #[test]
    fn window_is_due_only_after_end_plus_grace() {
        let mut w: Windows<u32> = Windows::new(GRACE, 1, 1);
        w.observe(0, at(10, 5));
        w.add(at(10, 0), 0, 1, 0, 1, 10);
        w.observe(0, at(11, 9));
        assert!(
            !w.regular_close_due(),
            "11:09 - 10 min grace is before 11:00"
        );
        w.observe(0, at(11, 10));
        assert!(w.regular_close_due());
        assert_eq!(w.due_hours(), vec![at(10, 0)]);
    }

    #[test]
    fn the_topic_furthest_behind_sets_the_watermark_until_it_is_at_its_end() {
        let mut w: Windows<u32> = Windows::new(GRACE, 1, 3);
        w.observe(0, at(10, 30));
        w.observe(1, at(40, 0));
        w.add(at(10, 0), 0, 1, 0, 1, 10);
        w.observe(0, at(11, 0));
        assert_eq!(w.max_event_ms(), Some(at(11, 0)), "topic 1 ran ahead");
        assert!(!w.regular_close_due());
        let w10 = w.get(at(10, 0)).unwrap();
        assert!(!w10.late, "a record of the topic behind is not late");
        w.observe(0, at(11, 10));
        assert!(w.regular_close_due(), "topic 0 passed 11:00 plus grace");
        w.set_idle(0, true);
        assert_eq!(w.max_event_ms(), Some(at(40, 0)), "topic 0 is at its end");
        w.set_idle(1, true);
        assert_eq!(
            w.max_event_ms(),
            Some(at(40, 0)),
            "all at their end: the largest"
        );
        let mut restarted: Windows<u32> = Windows::new(GRACE, 1, 3);
        restarted.restore_max_event(Some(at(12, 0)));
        restarted.observe(0, at(11, 0));
        assert_eq!(
            restarted.max_event_ms(),
            Some(at(12, 0)),
            "never below the restored time"
        );
    }

    #[test]
    fn state_waits_for_every_topic_that_has_not_delivered_yet() {
        let mut w: Windows<u32> = Windows::new(GRACE, 1, 3);
        w.set_idle(2, true); // an empty topic does not hold anything back
        w.observe(0, at(70, 0));
        assert_eq!(w.watermark_ms(), Some(at(70, 0) - GRACE), "windows close");
        assert_eq!(w.state_watermark_ms(), None, "topic 1 has sent nothing");
        w.observe(1, at(2, 0));
        assert_eq!(w.state_watermark_ms(), Some(at(2, 0) - GRACE));
        assert_eq!(w.state_watermark_ms(), w.watermark_ms());

        let mut restarted: Windows<u32> = Windows::new(GRACE, 1, 2);
        restarted.restore_max_event(Some(at(12, 0)));
        restarted.observe(0, at(30, 0));
        assert_eq!(
            restarted.state_watermark_ms(),
            Some(at(12, 0) - GRACE),
            "held where the last durable flush left it"
        );
        restarted.set_idle(1, true);
        assert_eq!(restarted.state_watermark_ms(), Some(at(30, 0) - GRACE));
    }

    #[test]
    fn late_rows_open_a_late_window_that_does_not_force_a_flush() {
        let mut w: Windows<u32> = Windows::new(GRACE, 1, 1);
        w.observe(0, at(12, 30));
        w.add(at(9, 0), 0, 7, 0, 1, 10);
        assert!(w.get(at(9, 0)).unwrap().late);
        assert!(!w.regular_close_due());
        assert_eq!(w.due_hours(), vec![at(9, 0)]);
    }

    #[test]
    fn tracks_offsets_bytes_and_largest() {
        let mut w: Windows<u32> = Windows::new(GRACE, 2, 2);
        w.add(at(1, 0), 0, 5, 0, 1, 100);
        w.add(at(1, 0), 0, 3, 1, 1, 100);
        w.add(at(2, 0), 1, 9, 0, 1, 50);
        assert_eq!(w.min_offset(0), Some(3));
        assert_eq!(w.min_offset(1), Some(9));
        assert_eq!(w.largest(), Some((at(1, 0), 200)));
        let b = w.get(at(1, 0)).unwrap().buffers[0].as_ref().unwrap();
        assert_eq!((b.first_offset, b.last_offset), (5, 5));
        w.remove(at(1, 0));
        assert_eq!(w.bytes(), 50);
        assert_eq!(w.min_offset(0), None);
    }

    #[test]
    fn spilled_rows_leave_the_byte_count_but_not_the_window() {
        let mut w: Windows<u32> = Windows::new(GRACE, 2, 1);
        w.add(at(1, 0), 0, 5, 0, 1, 100);
        w.add(at(1, 0), 0, 6, 1, 2, 300);
        w.add(at(2, 0), 0, 7, 0, 3, 50);
        assert_eq!(
            w.in_memory(),
            vec![(at(1, 0), 1), (at(1, 0), 0), (at(2, 0), 0)],
            "largest first"
        );
        assert_eq!(w.rows_of(at(1, 0), 1), &[2]);
        w.mark_spilled(at(1, 0), 1);
        assert_eq!(w.bytes(), 150);
        assert_eq!(w.largest(), Some((at(1, 0), 100)));
        let b = w.get(at(1, 0)).unwrap().buffers[1].as_ref().unwrap();
        assert_eq!((b.spilled, b.rows.len(), b.bytes), (1, 0, 0));
        assert_eq!(w.rows(), 3, "spilled rows are still buffered");
        assert_eq!(
            w.min_offset(0),
            Some(5),
            "their offsets still hold the commit"
        );
        w.add(at(1, 0), 0, 8, 1, 4, 30);
        let b = w.get(at(1, 0)).unwrap().buffers[1].as_ref().unwrap();
        assert_eq!((b.spilled, b.rows.len(), b.bytes), (1, 1, 30));
        w.remove(at(1, 0));
        assert_eq!(w.bytes(), 50);
    }

    #[test]
    fn idle_close_waits_for_grace_and_idle_timeout() {
        let mut w: Windows<u32> = Windows::new(GRACE, 1, 1);
        w.add(at(3, 0), 0, 1, 0, 1, 1);
        let idle = 60_000;
        assert!(w.idle_hours(at(4, 10) + idle - 1, idle).is_empty());
        assert_eq!(w.idle_hours(at(4, 10) + idle, idle), vec![at(3, 0)]);
    }
}
