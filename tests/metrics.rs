//! Operating signals (issue 5) of a running instance, scraped from `/metrics` while it
//! works: the three lag signals per topic and partition, reported for idle partitions
//! too, going to zero once the stream is drained and durable, with the offsets committed
//! to the group so that external lag exporters see the same; `/readyz` with and without a
//! broker.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::process::Lakestream;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::TopicPartitionList;

/// `(metric, topic, partition) -> value` of the lag gauges.
type Lags = BTreeMap<(String, String, i32), f64>;

fn lags(addr: &str) -> Lags {
    let (status, body) = common::http::get(addr, "/metrics");
    assert_eq!(status, 200);
    let mut out = Lags::new();
    for line in body.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((name, labels)) = series.split_once('{') else {
            continue;
        };
        if !name.ends_with("_lag_records") && !name.ends_with("_lag_seconds") {
            continue;
        }
        let label = |key: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{key}=\"")))
                .map(|v| v.trim_end_matches(['"', '}']).to_string())
                .unwrap()
        };
        out.insert(
            (
                name.to_string(),
                label("topic"),
                label("partition").parse().unwrap(),
            ),
            value.parse().unwrap(),
        );
    }
    out
}

fn consumed(addr: &str) -> u64 {
    common::http::metric_sum(addr, "lakestream_records_consumed_total")
}

fn sum(lags: &Lags, metric: &str) -> f64 {
    lags.iter()
        .filter(|((m, _, _), _)| m == metric)
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn lag_is_reported_for_every_partition_and_drains_to_zero_with_the_group_committed() {
    const PARTITIONS: i32 = 2;
    let (kafka, topics) = common::mock_with_topics("lag", PARTITIONS);
    // One user: every record in one partition, the other partition idle. No invalid
    // records: one without a readable event time is filed under its Kafka timestamp, the
    // current hour, which keeps durable lag above 0 until that hour has closed.
    let mut produced = common::generate(5, 1, 2, 600);
    produced.retain(|p| p.3 != lakestream::demo::generator::Kind::Invalid);
    common::produce(
        kafka.bootstrap_servers(),
        &topics,
        &common::records_of(&produced),
    );
    let lake = tempfile::tempdir().unwrap();
    let group = common::unique("g");
    let env = common::env(kafka.bootstrap_servers(), &topics, lake.path(), &group);
    let mut child = Lakestream::spawn("lakestream", &env, &[], None);
    child.wait_until_assigned();
    let addr = child.http_addr();

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut most_durable_lag = 0.0_f64;
    let mut most_buffered = 0;
    let last = loop {
        assert!(
            Instant::now() < deadline,
            "lag did not drain: consumed {} of {}, lags {:?}",
            consumed(&addr),
            produced.len(),
            lags(&addr)
        );
        let now = lags(&addr);
        most_durable_lag = most_durable_lag.max(sum(&now, "lakestream_durable_lag_records"));
        most_buffered = most_buffered.max(common::http::metric_sum(
            &addr,
            "lakestream_buffered_records",
        ));
        let complete = now.len() == 3 * topics.names.len() * PARTITIONS as usize;
        if complete
            && consumed(&addr) == produced.len() as u64
            && sum(&now, "lakestream_consumed_lag_records") == 0.0
            && sum(&now, "lakestream_durable_lag_records") == 0.0
        {
            break now;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Windows wait for the idle timeout before they are written: for a while records were
    // read but not durable, and the durable lag showed it.
    assert!(most_durable_lag > 0.0, "durable lag never rose above 0");
    assert!(most_buffered > 0, "records were held in open windows");
    let event_lags: Vec<f64> = last
        .iter()
        .filter(|((m, _, _), _)| m == "lakestream_event_time_lag_seconds")
        .map(|(_, v)| *v)
        .collect();
    // The generated events are days old: the busy partition trails the clock by days, the
    // idle one reports 0.
    assert!(
        event_lags.iter().any(|s| *s > 86_400.0),
        "event-time lag of the busy partition: {event_lags:?}"
    );
    assert!(event_lags.contains(&0.0), "idle partition: {event_lags:?}");

    // The group's committed offsets equal the end of every partition that holds records.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for name in &topics.names {
        for p in 0..PARTITIONS {
            tpl.add_partition(name, p);
        }
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    let mut busy = 0;
    for name in &topics.names {
        for p in 0..PARTITIONS {
            let (_, high) = consumer
                .fetch_watermarks(name, p, Duration::from_secs(10))
                .unwrap();
            if high == 0 {
                continue;
            }
            busy += 1;
            let offset = committed.find_partition(name, p).unwrap().offset();
            assert_eq!(offset.to_raw(), Some(high), "{name}[{p}]: committed offset");
        }
    }
    assert_eq!(busy, topics.names.len(), "one busy partition per topic");
    drop(consumer);

    // Ready: the broker answers and both partitions are restored. Without the broker,
    // not ready, and the body says why.
    let (status, body) = common::http::get_json(&addr, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["assigned"], serde_json::json!([0, 1]));
    drop(kafka);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = common::http::get_json(&addr, "/readyz");
        if status == 503 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "still ready without a broker: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(body["broker"], "unreachable");
    assert!(
        body["reasons"][0]
            .as_str()
            .unwrap()
            .contains("broker unreachable"),
        "{body}"
    );
    assert_eq!(
        common::http::get(&addr, "/healthz").0,
        200,
        "alive all the same"
    );
    child.kill_9();
}
