//! The part of lakestream's `parse` stage a runtime counter cannot split: over the same
//! generated events, in this process, time JSON decoding alone, then the whole parse,
//! whose difference is schema normalization, validation and derived fields (one pass over
//! the fields in `domain`, not separable without timing every field). Decoding into
//! `serde_json::Value`, what `domain` did before round 9, is timed too as the baseline of
//! its own decoder (`domain::Json`).

use std::hint::black_box;
use std::time::Instant;

use crate::demo::generator::{Generator, GeneratorConfig};
use crate::domain::{self, ResponseTimeThresholds};

use super::BenchOptions;

/// Enough events for stable figures, few enough to take a second or two.
const SAMPLE: usize = 200_000;

/// CPU seconds per million events of each step of `parse`.
pub struct ParseSplit {
    pub decode: f64,
    pub normalize_validate_derive: f64,
    /// Decoding the same values into `serde_json::Value`.
    pub decode_to_value: f64,
}

pub fn parse_split(options: &BenchOptions) -> anyhow::Result<ParseSplit> {
    let events: Vec<_> = Generator::new(GeneratorConfig {
        seed: options.seed,
        users: options.users,
        days: options.days,
        ..GeneratorConfig::default()
    })
    .take(SAMPLE.min(options.events))
    .collect();
    let thresholds = ResponseTimeThresholds::default();
    let per_million =
        |started: Instant| started.elapsed().as_secs_f64() * 1e6 / events.len() as f64;

    let started = Instant::now();
    for e in &events {
        black_box(serde_json::from_slice::<serde_json::Value>(&e.value).ok());
    }
    let decode_to_value = per_million(started);
    let started = Instant::now();
    for e in &events {
        black_box(serde_json::from_slice::<domain::Json>(&e.value).ok());
    }
    let decode = per_million(started);
    let started = Instant::now();
    for e in &events {
        black_box(domain::parse(e.topic, &e.value, &thresholds).ok());
    }
    let whole = per_million(started);
    Ok(ParseSplit {
        decode,
        normalize_validate_derive: (whole - decode).max(0.0),
        decode_to_value,
    })
}
