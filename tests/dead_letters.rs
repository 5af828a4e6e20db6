//! Dead-letter topics (issue 4): every quarantined record is also produced to
//! `<topic>.dlq`, value untouched, with headers giving the reason, the check and the
//! source topic, partition and offset, exactly once per record, also when the process
//! dies between producing the letters and recording them.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::process::Lakestream;
use common::Topics;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// A letter as read back: source (topic, partition, offset), value, headers.
type Letter = ((String, i32, i64), Vec<u8>, HashMap<String, String>);

fn read_letters(bootstrap: &str, topic: &str, partitions: i32) -> Vec<Letter> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", common::unique("dlq-reader"))
        .create()
        .unwrap();
    let mut out = Vec::new();
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap();
        if high <= low {
            continue;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(low))
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let mut next = low;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while next < high {
            assert!(
                std::time::Instant::now() < deadline,
                "{topic}/{p}: stuck at {next} of {high}"
            );
            let Some(message) = consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            let message = message.unwrap();
            if message.partition() != p {
                continue;
            }
            next = message.offset() + 1;
            let headers: HashMap<String, String> = message
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let source = (
                headers["lakestream.source.topic"].clone(),
                headers["lakestream.source.partition"].parse().unwrap(),
                headers["lakestream.source.offset"].parse().unwrap(),
            );
            out.push((
                source,
                message.payload().unwrap_or_default().to_vec(),
                headers,
            ));
        }
    }
    out
}

fn dlq_env(bootstrap: &str, topics: &Topics, lake: &std::path::Path) -> HashMap<String, String> {
    let mut env = common::env(bootstrap, topics, lake, &common::unique("g"));
    env.insert("LAKESTREAM_DEAD_LETTERS__ENABLED".into(), "true".into());
    // One flush per closed hour, so the crash test's fail point has several flushes to hit.
    env.insert("LAKESTREAM_WINDOWS__FLUSH_INTERVAL".into(), "0s".into());
    env
}

fn with_dead_letter_topics(prefix: &str) -> (lakestream_topology::mock::MockKafka, Topics) {
    let (kafka, topics) = common::mock_with_topics(prefix, 2);
    for name in &topics.names {
        kafka.create_topic(&format!("{name}.dlq"), 2).unwrap();
    }
    (kafka, topics)
}

/// Every quarantine row has exactly one letter, and every letter a quarantine row; the
/// letter carries the record's value as it came and the quarantine row's reason.
fn assert_letters_match_quarantine(bootstrap: &str, topics: &Topics, lake: &std::path::Path) {
    let mut letters = Vec::new();
    for name in &topics.names {
        letters.extend(read_letters(bootstrap, &format!("{name}.dlq"), 2));
    }
    let sources: Vec<_> = letters.iter().map(|l| l.0.clone()).collect();
    let unique: HashSet<_> = sources.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        sources.len(),
        "a record was dead-lettered twice"
    );
    let quarantine: HashMap<(String, i32, i64), common::lake::Row> =
        ["user.attempts", "user.sessions", "ml.training"]
            .iter()
            .flat_map(|role| common::lake::rows(lake, &format!("quarantine/{role}")))
            .map(|r| {
                (
                    (
                        r.str("topic").to_string(),
                        r.i64("partition") as i32,
                        r.i64("offset"),
                    ),
                    r,
                )
            })
            .collect();
    assert!(!quarantine.is_empty());
    assert_eq!(
        unique,
        quarantine.keys().cloned().collect::<HashSet<_>>(),
        "letters and quarantine rows name the same records"
    );
    for (source, value, headers) in &letters {
        let row = &quarantine[source];
        assert_eq!(String::from_utf8_lossy(value), row.str("value"));
        assert_eq!(headers["lakestream.reason"], row.str("reason"));
        assert_eq!(headers["lakestream.check"], row.str("check"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_quarantined_record_is_dead_lettered_once_with_its_reason() {
    let (kafka, topics) = with_dead_letter_topics("dlq");
    let cases = common::events::cases();
    common::produce(
        kafka.bootstrap_servers(),
        &topics,
        &common::events::records(&cases),
    );
    let lake = tempfile::tempdir().unwrap();
    let env = dlq_env(kafka.bootstrap_servers(), &topics, lake.path());
    common::run_to_end(common::settings(&env)).await;
    assert_letters_match_quarantine(kafka.bootstrap_servers(), &topics, lake.path());
}

#[test]
fn a_crash_after_the_letters_before_the_manifest_sends_none_twice() {
    let (kafka, topics) = with_dead_letter_topics("dlqcrash");
    let produced = common::generate(9, 20, 2, 3000);
    common::produce(
        kafka.bootstrap_servers(),
        &topics,
        &common::records_of(&produced),
    );
    let lake = tempfile::tempdir().unwrap();
    let env = dlq_env(kafka.bootstrap_servers(), &topics, lake.path());
    let mut crashed = Lakestream::spawn(
        "crash",
        &env,
        &["--exit-at-end"],
        Some("after-dead-letters:3"),
    );
    let status = crashed.wait(Duration::from_secs(120));
    assert_eq!(
        status.signal(),
        Some(6),
        "the fail point was not reached: {status:?}"
    );
    let mut clean = Lakestream::spawn("clean", &env, &["--exit-at-end"], None);
    assert!(clean.wait(Duration::from_secs(120)).success());
    common::checks::assert_exactly_once(lake.path(), &produced);
    assert_letters_match_quarantine(kafka.bootstrap_servers(), &topics, lake.path());
    assert!(
        !clean
            .lines(&["dead letters of an unfinished flush found"])
            .is_empty(),
        "the restart found the crashed flush's letters"
    );
}

/// Rejected records whose window rows went to disk past the memory budget are
/// dead-lettered from the rows read back, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_spilled_windows_are_dead_lettered_once() {
    let (kafka, topics) = with_dead_letter_topics("dlqspill");
    let produced = common::generate(5, 20, 2, 3000);
    common::produce(
        kafka.bootstrap_servers(),
        &topics,
        &common::records_of(&produced),
    );
    let lake = tempfile::tempdir().unwrap();
    let mut env = dlq_env(kafka.bootstrap_servers(), &topics, lake.path());
    env.insert("LAKESTREAM_WINDOWS__MEMORY_BUDGET_MIB".into(), "1".into());
    env.insert("LAKESTREAM_WINDOWS__GRACE".into(), "24h".into());
    let metrics = common::run_to_end_metrics(common::settings(&env)).await;
    let spilled: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lakestream_spilled_bytes_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(spilled > 0.0, "nothing spilled under a 1 MiB budget");
    common::checks::assert_exactly_once(lake.path(), &produced);
    assert_letters_match_quarantine(kafka.bootstrap_servers(), &topics, lake.path());
}
