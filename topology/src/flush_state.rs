//! Step 3 of the flush (see `flush.rs` and DESIGN.md): the flushed hours' state changes go
//! to the partition's database in one marked batch, the derived files of the days they
//! touched are rewritten, and the batch is uploaded (a changelog entry, or now and then a
//! snapshot) for the manifest to name.

use crate::error::{Result, RuntimeError};
use crate::flush::schema_of;
use crate::manifest::StateRef;
use crate::processor::Processor;
use crate::sink::{self, DerivedMeta};
use crate::task::PartitionTask;

impl<P: Processor> PartitionTask<P> {
    /// Writes the pending state changes of `hours` to the local database, marked with the
    /// next batch number. A retried flush finds them already written (the processor forgot
    /// them) and writes nothing twice.
    pub(crate) fn stage_state(&mut self, hours: &[i64]) -> Result<()> {
        let partition = self.partition;
        let Some(state) = self.state.as_mut() else {
            return Ok(());
        };
        let db = state.db.clone();
        let mut batch = db.batch();
        let days = self
            .processor
            .stage(hours, self.windows.state_watermark_ms(), &mut batch)
            .map_err(|e| RuntimeError::State {
                partition,
                reason: format!("{e:#}"),
            })?;
        if !batch.is_empty() {
            let last = state
                .unpublished
                .last()
                .map(|(a, _)| *a)
                .or(self.manifest.state.as_ref().map(|s| s.applied()))
                .map_or(0, |a| a.seq);
            let applied = lakestream_state::Applied {
                seq: last + 1,
                token: rand::random(),
            };
            let state_err = |e: lakestream_state::StateError| RuntimeError::State {
                partition,
                reason: e.to_string(),
            };
            batch.set_applied(applied).map_err(state_err)?;
            let data = bytes::Bytes::copy_from_slice(batch.data());
            db.write(batch).map_err(state_err)?;
            state.unpublished.push((applied, data));
        }
        self.processor.forget(hours);
        state.dirty_days.extend(days);
        Ok(())
    }

    /// Rewrites the derived files (e.g. daily aggregates) of every day whose state changed.
    pub(crate) async fn write_derived(&mut self) -> Result<()> {
        let Some(state) = self.state.as_ref() else {
            return Ok(());
        };
        if state.dirty_days.is_empty() {
            return Ok(());
        }
        let seq = state
            .unpublished
            .last()
            .map(|(a, _)| *a)
            .or(self.manifest.state.as_ref().map(|s| s.applied()))
            .map_or(0, |a| a.seq);
        let days: Vec<i64> = state.dirty_days.iter().copied().collect();
        let files = self
            .processor
            .derived(&days)
            .map_err(|e| RuntimeError::State {
                partition: self.partition,
                reason: format!("{e:#}"),
            })?;
        for file in files {
            let dataset = &self.datasets[file.dataset];
            let paths = sink::derived_paths(dataset, file.day_ms, self.partition);
            let batch = self
                .processor
                .encode(file.dataset, &file.rows)
                .map_err(|e| RuntimeError::Encode {
                    path: paths.data.to_string(),
                    reason: format!("{e:#}"),
                })?;
            let props = sink::writer_properties(dataset, self.ctx.config.row_group_rows);
            let bytes =
                sink::write_parquet(self.ctx.store.clone(), &paths.data, &batch, props).await?;
            let day = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(file.day_ms)
                .expect("day in range");
            let meta = DerivedMeta {
                dataset: &dataset.path,
                partition: self.partition,
                day: day.date_naive().to_string(),
                rows: batch.num_rows(),
                bytes,
                schema: schema_of(&batch),
                writer: sink::WRITER_VERSION,
                state_seq: seq,
            };
            sink::write_meta(self.ctx.store.as_ref(), &paths.meta, &meta).await?;
            self.ctx
                .metrics
                .count_file(&dataset.path, batch.num_rows(), bytes);
        }
        Ok(())
    }

    /// Uploads a snapshot when the database holds a batch the manifest does not name yet.
    pub(crate) async fn publish_state(&mut self) -> Result<Option<StateRef>> {
        let Some(state) = self.state.as_mut() else {
            return Ok(None);
        };
        state
            .publish(
                self.ctx.store.as_ref(),
                self.partition,
                self.manifest.state.as_ref(),
                self.ctx.config.snapshot_every,
                &self.ctx.metrics,
            )
            .await
    }

    pub(crate) async fn cleanup_snapshots(&mut self) {
        let cfg = self.ctx.config.clone();
        if let Some(state) = self.state.as_mut() {
            if let Some(current) = self.manifest.state.as_ref() {
                if state.publishes_since_cleanup >= cfg.snapshot_cleanup_every {
                    state
                        .cleanup(self.ctx.store.as_ref(), cfg.snapshots_kept, current)
                        .await;
                }
            }
        }
    }
}
