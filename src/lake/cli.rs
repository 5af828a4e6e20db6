//! `lakestream lake ...`: the data-lake manager, run against the lake the settings name.

use std::sync::Arc;

use clap::Subcommand;

use super::{retention, store, summary};
use crate::config::Settings;

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
}

pub async fn run(settings: &Settings, command: LakeCommand) -> anyhow::Result<()> {
    let location = settings.lake_location()?;
    let store: Arc<dyn object_store::ObjectStore> =
        store::open(&location, settings.lake.region.as_deref())?;
    match command {
        LakeCommand::Summary => {
            let progress = |files: usize| {
                if files % 1000 == 0 {
                    eprintln!("read {files} file footers ...");
                }
            };
            let summary = summary::summarize(store, &progress).await?;
            print!("{}", summary::render(&summary));
        }
        LakeCommand::Cleanup { dry_run } => {
            let today = chrono::Utc::now().date_naive();
            let expired = retention::expired(store.as_ref(), &settings.retention(), today).await?;
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
                let deleted = retention::delete(store.as_ref(), &expired).await?;
                println!(
                    "{} day partitions past retention; {deleted} objects deleted",
                    expired.len()
                );
            }
        }
    }
    Ok(())
}
