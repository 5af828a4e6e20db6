//! Learner data (issue 7, point 4, and part of point 5): with a pseudonymization key, the
//! processed, aggregated and quality tiers carry HMAC-SHA-256 pseudonyms of `user_id`
//! (recomputed here with the key), one per learner across datasets, while raw keeps the
//! records as they came; a `user_id` shaped like a path reaches no object path; each start
//! audits the settings that changed, secrets redacted.

mod common;

use std::collections::BTreeSet;

use common::lake;
use hmac::{Hmac, Mac};
use lakestream::demo::generator::Kind;
use sha2::Sha256;

fn hmac_hex(key: &[u8], user: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(user.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn user_ids(root: &std::path::Path, dataset: &str) -> BTreeSet<String> {
    lake::rows(root, dataset)
        .iter()
        .map(|r| r.values["user_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_ids_are_pseudonymized_beyond_raw_and_paths_stay_inside_the_lake() {
    let (kafka, topics) = common::mock_with_topics("privacy", 2);
    let mut produced = common::generate(31, 5, 2, 800);
    // A valid attempt whose learner id looks like a path out of the lake.
    let escape = "../../../outside/evil";
    let (role, _, value, _) = produced
        .iter()
        .find(|p| p.0 == "user.attempts" && p.3 == Kind::Valid)
        .cloned()
        .unwrap();
    let mut event: serde_json::Value = serde_json::from_slice(&value).unwrap();
    event["user_id"] = escape.into();
    event["event_id"] = "escape-attempt".into();
    produced.push((
        role,
        escape.into(),
        serde_json::to_vec(&event).unwrap(),
        Kind::Valid,
    ));
    common::produce(
        kafka.bootstrap_servers(),
        &topics,
        &common::records_of(&produced),
    );

    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("lake");
    let key: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let key_file = scratch.path().join("pseudonym.key");
    std::fs::write(&key_file, &key).unwrap();
    let mut settings = common::fresh_settings(kafka.bootstrap_servers(), &topics, &root);
    settings.privacy.pseudonymize_key_file = Some(key_file);
    common::run_to_end(settings).await;

    let valid_users: BTreeSet<String> = produced
        .iter()
        .filter(|p| p.3 == Kind::Valid && p.0 == "user.attempts")
        .map(|p| p.1.clone())
        .collect();
    let expected: BTreeSet<String> = valid_users.iter().map(|u| hmac_hex(&key, u)).collect();
    assert_eq!(user_ids(&root, "processed/user_attempts"), expected);
    let daily = user_ids(&root, "aggregated/daily_user_stats");
    assert!(
        !daily.is_empty() && daily.iter().all(|u| u.len() == 64),
        "{daily:?}"
    );
    let all_pseudonyms: BTreeSet<String> = produced.iter().map(|p| hmac_hex(&key, &p.1)).collect();
    assert!(
        daily.is_subset(&all_pseudonyms),
        "one pseudonym per learner across datasets"
    );
    for dataset in ["processed/user_sessions", "processed/ml_training"] {
        let ids = user_ids(&root, dataset);
        assert!(ids.is_subset(&all_pseudonyms), "{dataset}: {ids:?}");
    }
    // Raw keeps the records as they came, the path-like id included.
    let raw_values: Vec<String> = lake::rows(&root, "raw/user.attempts")
        .iter()
        .map(|r| r.values["value"].as_str().unwrap().to_string())
        .collect();
    assert!(raw_values.iter().any(|v| v.contains(escape)));
    // Nothing was written beside the lake: the scratch folder holds the lake, the key
    // and the state directory the settings put inside the lake.
    let beside: BTreeSet<String> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        beside,
        BTreeSet::from(["lake".to_string(), "pseudonym.key".to_string()])
    );
    for file in lake::walk(&root, |_| true) {
        assert!(
            file.canonicalize()
                .unwrap()
                .starts_with(root.canonicalize().unwrap()),
            "{} is outside the lake",
            file.display()
        );
        assert!(
            !file.to_string_lossy().contains("outside"),
            "{}",
            file.display()
        );
    }
}

#[test]
fn each_start_audits_the_settings_that_changed_and_never_a_secret() {
    let (kafka, topics) = common::mock_with_topics("cfgaudit", 1);
    let lake_dir = tempfile::tempdir().unwrap();
    let mut env = common::env(
        kafka.bootstrap_servers(),
        &topics,
        lake_dir.path(),
        &common::unique("audit"),
    );
    env.insert("KAFKA_SASL_PASSWORD".into(), "hunter2-secret".into());
    env.insert(
        "RUST_LOG".into(),
        format!("{},lakestream::audit=info", common::process::LOG),
    );
    let run = |env: &std::collections::HashMap<String, String>, name: &str| {
        let mut child = common::process::Lakestream::spawn(name, env, &["--exit-at-end"], None);
        assert!(child.wait(std::time::Duration::from_secs(60)).success());
        child
    };
    let first = run(&env, "first");
    assert_eq!(first.lines(&["config_recorded"]).len(), 1);
    assert!(first.lines(&["config_change"]).is_empty());

    env.insert("LAKESTREAM_WINDOWS__GRACE".into(), "20m".into());
    env.insert("KAFKA_SASL_PASSWORD".into(), "another-secret".into());
    let second = run(&env, "second");
    let changes = second.lines(&["config_change"]);
    assert_eq!(
        changes.len(),
        1,
        "only the grace changed visibly: {changes:?}"
    );
    assert!(
        changes[0].contains("windows.grace")
            && changes[0].contains("10m")
            && changes[0].contains("20m"),
        "{}",
        changes[0]
    );
    // Secrets appear neither in the log nor in the lake.
    for line in first.lines(&[""]).iter().chain(second.lines(&[""]).iter()) {
        assert!(
            !line.contains("secret") || line.contains("<redacted>"),
            "{line}"
        );
        assert!(!line.contains("hunter2"), "{line}");
    }
    let recorded = lake::walk(lake_dir.path(), |p| {
        p.to_string_lossy().contains("_lakestream/config")
    });
    assert_eq!(
        recorded.len(),
        1,
        "the group's settings are kept in the lake"
    );
    for file in recorded {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("another-secret"),
            "{text}"
        );
        assert!(text.contains("<redacted>"));
    }
}
