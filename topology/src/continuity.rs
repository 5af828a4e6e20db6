//! Offset continuity of one topic-partition within a task: each record should carry the
//! next offset. Two departures matter to exactly-once:
//!
//! - an offset below the next one is a record this task already holds (in a window or in
//!   the lake); it is dropped, or it would land twice;
//! - an offset above the next one skips records the lake will never see. Kafka does this
//!   legitimately (transaction markers, compacted topics, retention), and a broker with a
//!   fetch bug does it silently; either way it is counted and logged, never hidden.
//!
//! Seen on tansu 0.6.0: a fetch from an offset inside a record batch returns the batches
//! after it (sometimes one of them twice), so a consumer resuming mid-batch loses the rest
//! of the batch (README, "Known issues").

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// The expected offset, or the first record with nothing to compare it with.
    Next,
    /// Already consumed by this task; `first` for the first of a run of them.
    Redelivered { first: bool },
    /// Offsets `from..to` never arrived.
    Gap { from: i64, to: i64 },
}

/// Tracks the next expected offset of one topic-partition.
#[derive(Debug, Default, Clone)]
pub struct OffsetContinuity {
    /// After the first record of this task.
    next: Option<i64>,
    /// Before it: the manifest's safe offset, where the committed offset points.
    resume_at: Option<i64>,
    redelivering: bool,
}

impl OffsetContinuity {
    /// Where consumption should resume. A first record below it is no redelivery: the
    /// group's commit may trail the manifest (a crash between the two), and the replay
    /// filter skips such records against the manifest.
    pub fn resume_at(&mut self, offset: i64) {
        self.resume_at = Some(offset);
    }

    pub fn observe(&mut self, offset: i64) -> Continuity {
        let verdict = match (self.next, self.resume_at) {
            (Some(next), _) if offset < next => {
                let first = !self.redelivering;
                self.redelivering = true;
                return Continuity::Redelivered { first };
            }
            (Some(from), _) | (None, Some(from)) if offset > from => {
                Continuity::Gap { from, to: offset }
            }
            _ => Continuity::Next,
        };
        self.next = Some(offset + 1);
        self.redelivering = false;
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_offsets_are_next_and_the_first_record_sets_the_baseline() {
        let mut c = OffsetContinuity::default();
        assert_eq!(c.observe(40), Continuity::Next);
        assert_eq!(c.observe(41), Continuity::Next);
    }

    #[test]
    fn an_offset_below_the_next_is_a_redelivery_and_does_not_move_the_position() {
        let mut c = OffsetContinuity::default();
        c.resume_at(10);
        assert_eq!(c.observe(10), Continuity::Next);
        assert_eq!(c.observe(11), Continuity::Next);
        assert_eq!(c.observe(10), Continuity::Redelivered { first: true });
        assert_eq!(c.observe(3), Continuity::Redelivered { first: false });
        assert_eq!(c.observe(12), Continuity::Next);
        assert_eq!(c.observe(12), Continuity::Redelivered { first: true });
    }

    #[test]
    fn a_jump_is_a_gap_naming_the_missing_offsets() {
        let mut c = OffsetContinuity::default();
        c.resume_at(31);
        assert_eq!(c.observe(816), Continuity::Gap { from: 31, to: 816 });
        assert_eq!(c.observe(817), Continuity::Next);
        assert_eq!(c.observe(900), Continuity::Gap { from: 818, to: 900 });
    }

    #[test]
    fn a_first_record_below_the_resume_point_is_left_to_the_replay_filter() {
        let mut c = OffsetContinuity::default();
        c.resume_at(50);
        assert_eq!(c.observe(45), Continuity::Next);
        assert_eq!(c.observe(46), Continuity::Next);
        assert_eq!(c.observe(45), Continuity::Redelivered { first: true });
    }
}
