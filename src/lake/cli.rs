//! `lakestream lake ...`: the data-lake manager, run against the lake the settings name.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;

use super::scope::Days;
use super::{compact, report, retention, store, summary, validate};
use crate::config::Settings;

/// `--target-size` default: 256 MiB, a common sweet spot for Parquet readers.
const DEFAULT_TARGET_SIZE: u64 = 256 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Files, rows and bytes per tier, dataset and day; oldest and newest day per tier.
    Summary,
    /// Delete day partitions past their tier's retention (`[retention]`), listing them.
    Cleanup {
        /// List what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check a dataset's files: readable, contract schema, row counts, no row twice,
    /// rows in the day partition of their event time.
    Validate {
        /// `<tier>/<name>`, e.g. `processed/user_attempts` or `raw/user.attempts`.
        dataset: String,
        /// Only the last N days (today included); default every day.
        #[arg(long)]
        days: Option<u32>,
    },
    /// Merge the hourly files of closed days (raw, processed, quarantine) into few files.
    Compact {
        /// Only the last N days (today included); default every closed day.
        #[arg(long)]
        days: Option<u32>,
        /// Size in bytes the merged files grow to.
        #[arg(long, default_value_t = DEFAULT_TARGET_SIZE)]
        target_size: u64,
    },
    /// Records per day, storage growth, quality trend and top quarantine reasons.
    Report {
        /// Only the last N days (today included); default every day.
        #[arg(long)]
        days: Option<u32>,
        /// Also write the report as one self-contained HTML file.
        #[arg(long)]
        html: Option<PathBuf>,
    },
}

fn last_days(days: Option<u32>) -> Days {
    Days {
        last: days,
        today: chrono::Utc::now().date_naive(),
    }
}

pub async fn run(settings: &Settings, command: LakeCommand) -> anyhow::Result<()> {
    let location = settings.lake_location()?;
    let store: Arc<dyn object_store::ObjectStore> = store::open(&location, &settings.lake)?;
    let footers_read = |files: usize| {
        if files % 1000 == 0 {
            eprintln!("read {files} file footers ...");
        }
    };
    match command {
        LakeCommand::Summary => {
            let summary = summary::summarize(store, &footers_read).await?;
            print!("{}", summary::render(&summary));
        }
        LakeCommand::Cleanup { dry_run } => cleanup(settings, store.as_ref(), dry_run).await?,
        LakeCommand::Validate { dataset, days } => {
            let progress = |done: usize, of: usize| {
                if done % 100 == 0 {
                    eprintln!("validated {done} of {of} files ...");
                }
            };
            let found = validate::validate(store, &dataset, last_days(days), &progress).await?;
            if !found.problems.is_empty() {
                for problem in &found.problems {
                    println!("{problem}");
                }
                anyhow::bail!(
                    "{dataset}: {} problems in {} files ({} rows)",
                    found.problems.len(),
                    found.files,
                    found.rows
                );
            }
            println!("ok: {} files, {} rows", found.files, found.rows);
        }
        LakeCommand::Compact { days, target_size } => {
            let options = compact::Options {
                days: last_days(days),
                target_size,
                closed_after: settings.state.allowed_lateness + settings.windows.grace,
                now: chrono::Utc::now(),
                row_group_rows: settings.lake.row_group_rows,
            };
            let done = compact::compact(store, &options).await?;
            for line in &done.lines {
                println!("{line}");
            }
            println!(
                "{} merged files written, {} files replaced",
                done.merged_files, done.replaced_files
            );
        }
        LakeCommand::Report { days, html } => {
            let found = report::collect(store, last_days(days), &footers_read).await?;
            let tables = report::table::all(&found);
            print!("{}", report::text::render(&tables));
            if let Some(file) = html {
                let generated = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
                std::fs::write(&file, report::html::render(&found, &tables, &generated))
                    .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", file.display()))?;
                println!("wrote {}", file.display());
            }
        }
    }
    Ok(())
}

async fn cleanup(
    settings: &Settings,
    store: &dyn object_store::ObjectStore,
    dry_run: bool,
) -> anyhow::Result<()> {
    let today = chrono::Utc::now().date_naive();
    let expired = retention::expired(store, &settings.retention(), today).await?;
    for e in &expired {
        println!(
            "{} {} ({} objects)",
            if dry_run { "would delete" } else { "deleting" },
            e.partition.prefix(),
            e.objects.len()
        );
    }
    if dry_run {
        println!(
            "{} day partitions past retention; nothing deleted (--dry-run)",
            expired.len()
        );
    } else {
        let deleted = retention::delete(store, &expired).await?;
        println!(
            "{} day partitions past retention; {deleted} objects deleted",
            expired.len()
        );
    }
    Ok(())
}
