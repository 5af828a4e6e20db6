//! The flush-then-commit protocol of a partition task (see DESIGN.md):
//!
//! 1. write-ahead: the manifest lists the files about to be written (`pending`);
//! 2. the data files and their sidecars are written;
//! 3. the flushed hours' state changes are written to the local database in one batch,
//!    derived files of the days they touch are rewritten, and the batch is uploaded as a
//!    changelog entry (every `snapshot_every` flushes, a snapshot of the database instead);
//! 4. the manifest records the flushed hours as durable, the new safe offsets and the
//!    snapshot, and clears `pending`;
//! 5. the offsets are committed to Kafka.
//!
//! A crash before 4 leaves files that the next owner deletes and state it does not load
//! (their records are replayed); a crash after 4 leaves a Kafka offset behind the manifest,
//! and replay skips what the manifest says is durable. Either way each record lands once
//! and counts once in state.

use std::time::{Duration, Instant};

use tracing::{debug, error, info, warn};

use crate::error::{Result, RuntimeError};
use crate::failpoint::{self, points};
use crate::manifest::Manifest;
use crate::metrics::time_since;
use crate::owner;
use crate::processor::{DeadLetter, Processor};
use crate::recent::FlushRecord;
use crate::sink::{self, FileKey, FileMeta};
use crate::spill::Spill;
use crate::state::TaskState;
use crate::task::PartitionTask;
use crate::window::HOUR_MS;

const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Hours written by one flush when all windows go (see `flush_all_until_done`).
const STOP_FLUSH_HOURS: usize = 6;

impl<P: Processor> PartitionTask<P> {
    /// Loads the manifest, removes what an interrupted flush left, and primes the replay
    /// filter. Retries store failures: the task must not consume before it knows what is
    /// durable.
    pub(crate) async fn recover(&mut self) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.try_recover().await {
                Ok(()) => return,
                Err(error) => {
                    error!(%error, "cannot recover partition state; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn try_recover(&mut self) -> Result<()> {
        let store = self.ctx.store.clone();
        let mut manifest = match Manifest::load(store.as_ref(), self.partition).await? {
            Some(m) => m,
            None => Manifest::new(self.partition),
        };
        if !manifest.pending.is_empty() {
            info!(
                files = manifest.pending.len(),
                "removing files of an interrupted flush"
            );
            for path in &manifest.pending {
                sink::delete_if_exists(store.as_ref(), &path.as_str().into()).await?;
            }
            manifest.pending.clear();
            manifest.save(store.as_ref()).await?;
        }
        for (t, name) in self.topic_names.iter().enumerate() {
            if let Some(name) = name {
                self.replay_horizon[t] = manifest.replay_horizon(name);
                if let Some(offset) = manifest.offsets.get(name) {
                    self.continuity[t].resume_at(*offset);
                }
            }
        }
        self.windows.restore_max_event(manifest.max_event_time_ms);
        if let Some(dead_letters) = self.ctx.dead_letters.clone() {
            let (partition, from) = (self.partition, manifest.dead_letter_offsets.clone());
            self.dead_letters_sent =
                tokio::task::spawn_blocking(move || dead_letters.already_sent(partition, &from))
                    .await
                    .expect("dead-letter scan thread")?;
            if !self.dead_letters_sent.is_empty() {
                info!(
                    letters = self.dead_letters_sent.len(),
                    "dead letters of an unfinished flush found; they are not sent again"
                );
            }
        }
        if self.state.is_none() {
            let cfg = &self.ctx.config;
            let (state, restored) = TaskState::open(
                store.as_ref(),
                &cfg.state_dir,
                self.partition,
                self.processor.stores(),
                manifest.state.clone(),
                &self.ctx.metrics,
            )
            .await?;
            self.ctx
                .metrics
                .state_restores
                .with_label_values(&[restored.as_str()])
                .inc();
            self.processor.attach(state.db.clone());
            self.ctx.live.insert(self.partition, state.db.clone());
            self.state = Some(state);
        }
        if self.spill.is_none() {
            let spill =
                Spill::open(&self.ctx.config.state_dir, self.partition).map_err(|source| {
                    RuntimeError::Spill {
                        partition: self.partition,
                        source,
                    }
                })?;
            self.spill = Some(spill);
        }
        owner::announce(store.as_ref(), self.partition, &self.ctx.config.instance).await?;
        info!(offsets = ?manifest.offsets, generation = manifest.generation, "partition recovered");
        self.manifest = manifest;
        Ok(())
    }

    /// Flushes `hours`, retrying with backoff until it succeeds: records stay buffered (and
    /// consumption pauses) while the store is failing, so nothing is lost.
    pub(crate) async fn flush_until_done(&mut self, hours: Vec<i64>, reason: &str) {
        self.flush_hours_until_done(&hours, reason).await
    }

    /// Flushes every open window; once this task has spilled, a few hours per flush: a
    /// flush brings its hours' spilled state changes back into memory and stages them in
    /// one batch, and with every hour of a long grace at once (all tasks stop together at
    /// the end of input) that was the process's peak (BENCHMARKS.md, round 10). Otherwise
    /// the flush stays whole, like flushes of closed hours: one flush for the hours of a
    /// flush interval saves a manifest, a state batch and a commit per hour in a backlog.
    pub(crate) async fn flush_all_until_done(&mut self, reason: &str) {
        let hours = self.windows.all_hours();
        if hours.is_empty() || !self.has_spilled {
            return self.flush_hours_until_done(&hours, reason).await;
        }
        for chunk in hours.chunks(STOP_FLUSH_HOURS) {
            self.flush_hours_until_done(chunk, reason).await;
        }
    }

    async fn flush_hours_until_done(&mut self, hours: &[i64], reason: &str) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.flush(hours, reason).await {
                Ok(()) => return,
                Err(error) => {
                    self.ctx.metrics.write_failures.inc();
                    error!(%error, reason, "flush failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn flush(&mut self, hours: &[i64], reason: &str) -> Result<()> {
        let started = Instant::now();
        let plans = self.plan(hours);
        if !plans.is_empty() {
            self.manifest.pending = plans
                .iter()
                .flat_map(|(_, p)| [p.data.to_string(), p.meta.to_string()])
                .collect();
            let saving = Instant::now();
            self.manifest.save(self.ctx.store.as_ref()).await?;
            time_since(&self.ctx.metrics.stages.manifest, saving);
        }
        let (mut rows, mut bytes, mut letters) = (0, 0, Vec::new());
        for (i, (key, paths)) in plans.iter().enumerate() {
            let (file_rows, file_bytes) = self.write_file(key, paths, reason, &mut letters).await?;
            rows += file_rows;
            bytes += file_bytes;
            failpoint::hit(points::AFTER_FILE_WRITE);
            if i + 1 < plans.len() {
                failpoint::hit(points::BETWEEN_FILES);
            }
        }
        if self.send_dead_letters(letters).await? {
            failpoint::hit(points::AFTER_DEAD_LETTERS);
        }
        let stating = Instant::now();
        self.stage_state(hours)?;
        self.write_derived().await?;
        failpoint::hit(points::BEFORE_SNAPSHOT);
        let state = self.publish_state().await?;
        failpoint::hit(points::AFTER_SNAPSHOT);
        time_since(&self.ctx.metrics.stages.state, stating);
        self.record_durable(hours);
        if let Some(state) = state {
            self.manifest.state = Some(state);
        }
        let saving = Instant::now();
        self.manifest.save(self.ctx.store.as_ref()).await?;
        time_since(&self.ctx.metrics.stages.manifest, saving);
        if let Some(state) = self.state.as_mut() {
            state.unpublished.clear();
            state.dirty_days.clear();
        }
        self.ctx
            .metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        self.ctx.metrics.flushes.with_label_values(&[reason]).inc();
        self.ctx
            .metrics
            .buffered_bytes
            .set(self.ctx.budget.used() as i64);
        self.ctx
            .metrics
            .buffered_bytes_peak
            .set(self.ctx.budget.peak() as i64);
        self.last_flush = Instant::now();
        if !plans.is_empty() {
            self.ctx.metrics.recent_flushes.push(FlushRecord {
                at: chrono::Utc::now().timestamp(),
                partition: self.partition,
                reason: reason.to_string(),
                files: plans.len(),
                rows,
                bytes,
                seconds: started.elapsed().as_secs_f64(),
            });
            debug!(
                files = plans.len(),
                reason,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "flushed"
            );
        }
        failpoint::hit(points::BEFORE_COMMIT);
        self.commit().await;
        self.cleanup_snapshots().await;
        Ok(())
    }

    /// Produces the dead letters collected from the written files, and records where they
    /// ended in the manifest (saved by the caller). Returns whether it sent any.
    async fn send_dead_letters(&mut self, letters: Vec<DeadLetter>) -> Result<bool> {
        let Some(dead_letters) = self.ctx.dead_letters.clone() else {
            return Ok(false);
        };
        if letters.is_empty() {
            return Ok(false);
        }
        let (ends, sent, error) = dead_letters.send(self.partition, &letters).await;
        for (topic, _) in &sent {
            if let Some(name) = self.topic_names[*topic].as_deref() {
                self.ctx
                    .metrics
                    .dead_letters
                    .with_label_values(&[name])
                    .inc();
            }
        }
        self.dead_letters_sent.extend(sent);
        for (topic, end) in ends {
            let known = self
                .manifest
                .dead_letter_offsets
                .entry(topic)
                .or_insert(end);
            *known = (*known).max(end);
        }
        error.map_or(Ok(true), Err)
    }

    fn plan(&self, hours: &[i64]) -> Vec<(FileKey, sink::FilePaths)> {
        let mut plans = Vec::new();
        for hour in hours {
            let Some(window) = self.windows.get(*hour) else {
                continue;
            };
            for (dataset, buffer) in window.buffers.iter().enumerate() {
                let Some(buffer) = buffer else { continue };
                let key = FileKey {
                    dataset,
                    hour_ms: *hour,
                    partition: self.partition,
                    first_offset: buffer.first_offset,
                    last_offset: buffer.last_offset,
                };
                let paths = sink::file_paths(&self.datasets[dataset], &key);
                plans.push((key, paths));
            }
        }
        plans
    }

    /// Writes one planned file and its sidecar; returns its rows and bytes, and adds the
    /// dead letters of its rows that are not out yet to `letters`.
    async fn write_file(
        &mut self,
        key: &FileKey,
        paths: &sink::FilePaths,
        reason: &str,
        letters: &mut Vec<DeadLetter>,
    ) -> Result<(usize, u64)> {
        let rows = self.take_rows(key)?;
        let written = self.write_rows(key, paths, reason, &rows).await;
        if written.is_ok() && self.ctx.dead_letters.is_some() {
            letters.extend(
                self.processor
                    .dead_letters(key.dataset, &rows)
                    .into_iter()
                    .filter(|l| {
                        !self
                            .dead_letters_sent
                            .contains(&(l.source_topic, l.source_offset))
                    }),
            );
        }
        self.put_back(key, rows);
        written
    }

    /// All rows of a planned file in arrival order: those spilled to disk, then those in
    /// memory. Only one file's spilled rows are in memory at a time.
    fn take_rows(&mut self, key: &FileKey) -> Result<Vec<P::Row>> {
        let partition = self.partition;
        let spilled = self
            .windows
            .buffer_mut(key.hour_ms, key.dataset)
            .expect("planned buffer")
            .spilled;
        let mut rows = Vec::new();
        if spilled > 0 {
            let spill = self.spill.as_ref().expect("spill folder opened by recover");
            rows = spill
                .read(key.hour_ms, key.dataset)
                .map_err(|source| RuntimeError::Spill { partition, source })?;
            if rows.len() != spilled {
                let found = rows.len();
                return Err(RuntimeError::Spill {
                    partition,
                    source: std::io::Error::other(format!(
                        "{found} rows read back, {spilled} spilled"
                    )),
                });
            }
        }
        let buffer = self
            .windows
            .buffer_mut(key.hour_ms, key.dataset)
            .expect("planned buffer");
        rows.append(&mut buffer.rows);
        Ok(rows)
    }

    /// Gives the in-memory rows back to their buffer (a failed flush is retried); the
    /// spilled ones stay on disk until the window is durable.
    fn put_back(&mut self, key: &FileKey, mut rows: Vec<P::Row>) {
        let buffer = self
            .windows
            .buffer_mut(key.hour_ms, key.dataset)
            .expect("planned buffer");
        buffer.rows = rows.split_off(buffer.spilled);
    }

    async fn write_rows(
        &self,
        key: &FileKey,
        paths: &sink::FilePaths,
        reason: &str,
        rows: &[P::Row],
    ) -> Result<(usize, u64)> {
        let dataset = &self.datasets[key.dataset];
        let topic = self
            .windows
            .get(key.hour_ms)
            .and_then(|w| w.buffers[key.dataset].as_ref())
            .expect("planned buffer")
            .topic;
        let encoding = Instant::now();
        let batch = self.processor.encode(key.dataset, rows).map_err(|e| {
            crate::error::RuntimeError::Encode {
                path: paths.data.to_string(),
                reason: format!("{e:#}"),
            }
        })?;
        time_since(&self.ctx.metrics.stages.encode, encoding);
        let props = sink::writer_properties(dataset, self.ctx.config.row_group_rows);
        // Parquet encoding happens inside the writer as it uploads: both count as `put`.
        let putting = Instant::now();
        let bytes = sink::write_parquet(self.ctx.store.clone(), &paths.data, &batch, props).await?;
        let schema = schema_of(&batch);
        let hour = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(key.hour_ms)
            .expect("hour in range");
        let meta = FileMeta {
            dataset: &dataset.path,
            topic: self.topic_names[topic].as_deref().unwrap_or_default(),
            partition: self.partition,
            first_offset: key.first_offset,
            last_offset: key.last_offset,
            event_hour: hour.to_rfc3339(),
            rows: batch.num_rows(),
            bytes,
            schema,
            writer: sink::WRITER_VERSION,
            flush_reason: reason,
            quality: self.processor.describe(key.dataset, rows, &batch),
        };
        sink::write_meta(self.ctx.store.as_ref(), &paths.meta, &meta).await?;
        time_since(&self.ctx.metrics.stages.put, putting);
        self.ctx
            .metrics
            .count_file(&dataset.path, batch.num_rows(), bytes);
        Ok((batch.num_rows(), bytes))
    }

    /// After the files are durable: drop the windows, mark their hours, move the safe offsets.
    fn record_durable(&mut self, hours: &[i64]) {
        for hour in hours {
            self.windows.remove(*hour);
            // A task that never spilled has no spill files to delete: no failing unlink
            // per dataset and hour.
            let spill = self.spill.as_ref().filter(|_| self.has_spilled);
            if let Some(spill) = spill {
                // Scratch only: a file left behind is deleted when the next task starts.
                if let Err(error) = spill.remove(*hour, self.datasets.len()) {
                    warn!(%error, hour, "cannot delete spilled rows of a durable window");
                }
            }
        }
        for (t, name) in self.topic_names.iter().enumerate() {
            let (Some(name), Some(next)) = (name, self.next_offset[t]) else {
                continue;
            };
            for hour in hours {
                self.manifest.mark(name, *hour, next);
            }
            let safe = self.windows.min_offset(t).map_or(next, |m| m.min(next));
            self.manifest.set_offset(name, safe);
        }
        self.manifest.max_event_time_ms = self.windows.max_event_ms();
        // Letters of records below the safe offsets are never replayed: forget them.
        let safe: Vec<i64> = self
            .topic_names
            .iter()
            .map(|name| {
                name.as_ref()
                    .and_then(|n| self.manifest.offsets.get(n).copied())
                    .unwrap_or(0)
            })
            .collect();
        self.dead_letters_sent
            .retain(|(topic, offset)| *offset >= safe[*topic]);
        self.manifest.pending.clear();
        self.manifest.prune();
        debug_assert!(hours.iter().all(|h| h % HOUR_MS == 0));
    }

    /// True when the manifest's safe offsets trail what has been consumed.
    pub(crate) fn offsets_advanced(&self) -> bool {
        self.topic_names
            .iter()
            .enumerate()
            .any(|(t, name)| match (name, self.next_offset[t]) {
                (Some(name), Some(next)) => {
                    self.manifest.offsets.get(name).is_none_or(|o| *o < next)
                }
                _ => false,
            })
    }

    /// Commits the manifest's safe offsets. A failure is logged and counted, not fatal:
    /// the manifest already holds the truth and the next flush commits again.
    async fn commit(&mut self) {
        let mut offsets = Vec::new();
        for (t, name) in self.topic_names.iter().enumerate() {
            let Some(name) = name else { continue };
            let Some(offset) = self.manifest.offsets.get(name).copied() else {
                continue;
            };
            if self.committed[t] != Some(offset) {
                offsets.push((name.clone(), self.partition, offset));
            }
        }
        if offsets.is_empty() {
            return;
        }
        let started = Instant::now();
        let result = self.ctx.committer.commit(offsets.clone()).await;
        time_since(&self.ctx.metrics.stages.commit, started);
        match result {
            Ok(()) => {
                for (name, _, offset) in offsets {
                    if let Some(t) = self
                        .topic_names
                        .iter()
                        .position(|n| n.as_deref() == Some(&name))
                    {
                        self.committed[t] = Some(offset);
                    }
                }
                self.ctx
                    .metrics
                    .commit_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
            Err(error) => {
                self.ctx.metrics.commit_failures.inc();
                warn!(%error, "offset commit failed; the manifest keeps the progress and the next flush retries");
            }
        }
    }
}

pub(crate) fn schema_of(batch: &arrow::record_batch::RecordBatch) -> Vec<(String, String)> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect()
}
