//! Assertions on a lake, computed from what the test produced (never from lakestream's
//! own code).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use lakestream::demo::generator::Kind;

use super::events::{self, Case, Expect};
use super::lake::{rows, ymd, Row};
use super::Topics;

/// The contract cases of [`events::cases`] landed row by row: raw completeness, processed
/// rows with their derived fields and partition paths, quarantine reasons, metadata.
pub fn assert_contract_lake(lake: &Path, topics: &Topics, cases: &[Case]) {
    // Raw: every produced value exactly once, under its topic's role.
    let raw: Vec<_> = ["user.attempts", "user.sessions", "ml.training"]
        .iter()
        .flat_map(|role| {
            rows(lake, &format!("raw/{role}"))
                .into_iter()
                .map(move |r| (*role, r))
        })
        .collect();
    assert_eq!(
        raw.len(),
        cases.len(),
        "raw holds each consumed record once"
    );
    let mut seen = HashSet::new();
    for (role, row) in &raw {
        assert!(seen.insert((
            row.str("topic").to_string(),
            row.i64("partition"),
            row.i64("offset")
        )));
        assert_eq!(row.str("topic"), topics.for_role(role));
    }
    let produced: HashSet<(String, String)> = cases
        .iter()
        .map(|c| {
            (
                c.role.to_string(),
                String::from_utf8(c.value.clone()).unwrap(),
            )
        })
        .collect();
    let landed: HashSet<(String, String)> = raw
        .iter()
        .map(|(role, r)| (role.to_string(), r.str("value").to_string()))
        .collect();
    assert_eq!(produced, landed);

    // Processed: each valid event once, in the hive partition of its own event time.
    let mut processed = HashMap::new();
    for dataset in ["user_attempts", "user_sessions", "ml_training"] {
        for row in rows(lake, &format!("processed/{dataset}")) {
            assert!(
                processed
                    .insert(row.str("event_id").to_string(), row)
                    .is_none(),
                "event landed twice"
            );
        }
    }
    for case in cases {
        if let Expect::Processed { event_id, event_ms } = &case.expect {
            let row = processed
                .get(event_id)
                .unwrap_or_else(|| panic!("{event_id} missing"));
            assert_eq!(
                (row.year, row.month, row.day),
                ymd(*event_ms),
                "{event_id} in the wrong day"
            );
        }
    }
    assert_eq!(
        processed.len(),
        cases
            .iter()
            .filter(|c| matches!(c.expect, Expect::Processed { .. }))
            .count()
    );
    check_derived_fields(&processed);

    // Quarantine: each invalid record once, with a reason that names what was wrong.
    let mut quarantined: Vec<_> = ["user.attempts", "user.sessions", "ml.training"]
        .iter()
        .flat_map(|role| rows(lake, &format!("quarantine/{role}")))
        .collect();
    for case in cases {
        if let Expect::Quarantined { mentions } = &case.expect {
            let value = String::from_utf8(case.value.clone()).unwrap();
            let i = quarantined
                .iter()
                .position(|r| r.str("value") == value)
                .unwrap_or_else(|| panic!("{value} not quarantined"));
            let row = quarantined.remove(i);
            assert!(
                row.str("reason").contains(mentions),
                "reason `{}` should mention `{mentions}`",
                row.str("reason")
            );
        }
    }
    assert!(
        quarantined.is_empty(),
        "unexpected quarantine rows: {quarantined:?}"
    );

    // Metadata sits beside each data file, outside the `*.parquet` glob.
    let data_files = super::lake::files(lake, "processed/user_attempts");
    for file in &data_files {
        let stem = file.file_stem().unwrap().to_str().unwrap();
        let meta = file.with_file_name(format!("_{stem}.meta.json"));
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        assert_eq!(meta["dataset"], "processed/user_attempts");
        assert!(meta["rows"].as_u64().unwrap() > 0);
        assert!(meta["schema"].as_array().unwrap().len() >= 15);
    }
}

fn check_derived_fields(processed: &HashMap<String, Row>) {
    let a1 = &processed["a1"];
    assert_eq!(
        a1.i64("timestamp"),
        events::FRI_1015,
        "offset +02:00 normalized to UTC"
    );
    assert!(a1.bool("correct"), "string \"true\" is a bool");
    assert_eq!(a1.f64("response_time_seconds"), Some(1.5));
    assert_eq!(a1.str("response_time_category"), "very_fast");
    assert_eq!(
        a1.i64("quality"),
        5,
        "correct and very fast derives quality 5"
    );
    assert_eq!(
        (
            a1.i64("hour_of_day"),
            a1.i64("day_of_week"),
            a1.bool("is_weekend")
        ),
        (10, 4, false)
    );
    assert_eq!(a1.f64("sm2_easiness_factor_before"), Some(2.5));
    assert_eq!(a1.i64("sm2_interval_before"), 6);
    assert_eq!(a1.f64("bkt_prob_knowledge_before"), Some(0.42));
    assert!(a1.str("irt_ability_before").contains("algebra"));
    let a2 = &processed["a2"];
    assert!(!a2.bool("correct"), "0 is false");
    assert_eq!(a2.str("response_time_category"), "slow");
    assert_eq!(a2.i64("quality"), 2, "a given quality is kept");
    assert!(a2.is_null("sm2_easiness_factor_before") && a2.is_null("bkt_prob_knowledge_before"));
    assert_eq!((a2.i64("hour_of_day"), a2.i64("day_of_week")), (23, 2));
    let a3 = &processed["a3"];
    assert_eq!(
        (a3.str("response_time_category"), a3.i64("quality")),
        ("very_fast", 0)
    );
    let a4 = &processed["a4"];
    assert_eq!(
        (a4.str("response_time_category"), a4.i64("quality")),
        ("normal", 4)
    );
    assert_eq!((a4.i64("day_of_week"), a4.bool("is_weekend")), (5, true));

    let s1 = &processed["s1"];
    assert_eq!(s1.f64("duration_minutes"), Some(30.0));
    assert_eq!(s1.f64("accuracy"), Some(0.7));
    assert!((s1.f64("items_per_minute").unwrap() - 10.0 / 30.0).abs() < 1e-12);
    assert_eq!((s1.i64("topics_count"), s1.i64("start_hour")), (2, 9));
    assert_eq!(s1.str("session_type"), "practice");
    let s2 = &processed["s2"];
    assert_eq!(
        s2.f64("accuracy"),
        Some(0.5),
        "accuracy is recomputed from the counts"
    );
    assert_eq!(s2.f64("reported_accuracy_mismatch"), Some(0.9));
    let s3 = &processed["s3"];
    assert!(s3.is_null("accuracy") && s3.is_null("items_per_minute"));

    let t1 = &processed["t1"];
    assert_eq!(t1.str("algorithm"), "sm2");
    assert_eq!(
        (t1.i64("sm2_interval_before"), t1.i64("sm2_interval_after")),
        (6, 15)
    );
    let t2 = &processed["t2"];
    assert_eq!(
        (t2.f64("irt_ability_before"), t2.f64("irt_ability_after")),
        (Some(0.1), Some(0.05))
    );
    assert_eq!(t2.str("irt_topic"), "algebra");
}

/// [`assert_exactly_once_counted`], for callers that have no metric to compare with.
pub fn assert_exactly_once(root: &Path, produced: &[(String, String, Vec<u8>, Kind)]) {
    assert_exactly_once_counted(root, produced);
}

/// The contract's accounting (section 3) for `produced`, given as `(role, key, value,
/// kind)` with producer redeliveries among them as `Kind::Duplicate`: raw holds every
/// produced record once, redeliveries included; processed holds each valid `event_id` once;
/// quarantine holds exactly the invalid records. So raw = processed + quarantined +
/// duplicate deliveries. Returns that duplicate count, asserted equal to the produced
/// duplicates, for the caller to compare with the pipeline's metric.
pub fn assert_exactly_once_counted(
    root: &Path,
    produced: &[(String, String, Vec<u8>, Kind)],
) -> usize {
    let raw = tier_rows(root, "raw");
    let identities: HashSet<_> = raw
        .iter()
        .map(|(_, r)| (r.str("topic"), r.i64("partition"), r.i64("offset")))
        .collect();
    assert_eq!(identities.len(), raw.len(), "a raw record landed twice");
    assert_same_values("raw", &raw, produced.iter());

    let processed = processed_event_ids(root);
    let valid = event_ids(produced, Kind::Valid);
    assert_eq!(
        processed, valid,
        "processed event ids differ from the valid ones"
    );
    assert!(
        event_ids(produced, Kind::Duplicate).is_subset(&valid),
        "test input: a duplicate does not copy a valid record"
    );

    let quarantined = tier_rows(root, "quarantine");
    let invalid = produced.iter().filter(|p| p.3 == Kind::Invalid);
    assert_same_values("quarantine", &quarantined, invalid);

    let duplicates = raw.len() - processed.len() - quarantined.len();
    let produced_duplicates = produced.iter().filter(|p| p.3 == Kind::Duplicate).count();
    assert_eq!(
        duplicates, produced_duplicates,
        "raw records neither processed nor quarantined should be the redeliveries"
    );
    duplicates
}

/// Rows of every topic's dataset in `tier`, with the role whose folder they came from.
fn tier_rows(root: &Path, tier: &str) -> Vec<(&'static str, Row)> {
    ["user.attempts", "user.sessions", "ml.training"]
        .into_iter()
        .flat_map(|role| {
            rows(root, &format!("{tier}/{role}"))
                .into_iter()
                .map(move |r| (role, r))
        })
        .collect()
}

/// Event ids of the processed datasets, asserting none landed twice.
fn processed_event_ids(root: &Path) -> HashSet<String> {
    let mut ids = HashSet::new();
    for dataset in ["user_attempts", "user_sessions", "ml_training"] {
        for row in rows(root, &format!("processed/{dataset}")) {
            let id = row.str("event_id").to_string();
            assert!(ids.insert(id.clone()), "event {id} was processed twice");
        }
    }
    ids
}

fn event_ids(produced: &[(String, String, Vec<u8>, Kind)], kind: Kind) -> HashSet<String> {
    produced
        .iter()
        .filter(|p| p.3 == kind)
        .map(|p| {
            let event: serde_json::Value = serde_json::from_slice(&p.2).unwrap();
            event["event_id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// `landed` holds exactly the values of `records`, as many times each, under their roles.
/// Values compare as lossy UTF-8 because that is how the row reader shows binary columns.
fn assert_same_values<'a>(
    tier: &str,
    landed: &[(&str, Row)],
    records: impl Iterator<Item = &'a (String, String, Vec<u8>, Kind)>,
) {
    let mut balance: HashMap<(String, String), i64> = HashMap::new();
    for (role, _, value, _) in records {
        let value = String::from_utf8_lossy(value).into_owned();
        *balance.entry((role.clone(), value)).or_default() += 1;
    }
    for (role, row) in landed {
        let value = row
            .values
            .get("value")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        *balance.entry((role.to_string(), value)).or_default() -= 1;
    }
    balance.retain(|_, n| *n != 0);
    let sample: Vec<_> = balance.iter().take(5).collect();
    assert!(
        balance.is_empty(),
        "{tier}: {} (role, value) pairs land the wrong number of times \
         (count = produced - landed), e.g. {sample:?}",
        balance.len()
    );
}
