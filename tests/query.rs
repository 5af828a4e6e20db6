//! Interactive queries (issue 3): `GET /state/users/{user_id}/daily/{date}` answers from
//! the live state store on the instance that owns the user's partition; any other
//! instance names the partition and points at its owner. Two real lakestream processes in
//! one group on librdkafka's mock cluster.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::aggregates::{self, Expected};
use common::http::{get_json, metric_sum};
use common::lake;
use common::process::Lakestream;

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        (None, None) => true,
        _ => false,
    }
}

fn assert_answer(body: &serde_json::Value, expected: &Expected, partition: i64) {
    assert_eq!(body["partition"], partition, "{body}");
    assert_eq!(body["total_attempts"], expected.total_attempts, "{body}");
    assert_eq!(
        body["correct_attempts"], expected.correct_attempts,
        "{body}"
    );
    assert_eq!(
        body["unique_items_attempted"], expected.unique_items_attempted,
        "{body}"
    );
    assert_eq!(body["total_sessions"], expected.total_sessions, "{body}");
    assert!(
        close(body["accuracy"].as_f64(), expected.accuracy),
        "{body}"
    );
    assert!(
        close(
            body["avg_response_time_ms"].as_f64(),
            expected.avg_response_time_ms
        ),
        "{body}"
    );
    assert!(
        close(
            body["total_study_time_minutes"].as_f64(),
            Some(expected.total_study_time_minutes)
        ),
        "{body}"
    );
}

#[test]
fn the_owner_answers_and_the_other_instance_points_to_it() {
    let (kafka, topics) = common::mock_with_topics("query", 2);
    let lake_dir = tempfile::tempdir().unwrap();
    let group = common::unique("g");
    let produced = common::generate(5, 12, 2, 1500);
    common::produce(
        kafka.bootstrap_servers(),
        &topics,
        &common::records_of(&produced),
    );
    let env = |dir: &std::path::Path| {
        common::with_state_dir(
            common::env(kafka.bootstrap_servers(), &topics, lake_dir.path(), &group),
            dir,
        )
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Lakestream::spawn("a", &env(dir_a.path()), &[], None);
    let b = Lakestream::spawn("b", &env(dir_b.path()), &[], None);
    let (addr_a, addr_b) = (a.http_addr(), b.http_addr());

    // Every valid event written, so the live state holds every day. (Raw can trail:
    // records without a readable event time sit in the current hour's window.)
    let valid = produced
        .iter()
        .filter(|p| matches!(p.3, lakestream::demo::generator::Kind::Valid))
        .count();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let processed: usize = ["user_attempts", "user_sessions", "ml_training"]
            .iter()
            .map(|d| lake::rows(lake_dir.path(), &format!("processed/{d}")).len())
            .sum();
        if processed == valid {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lake holds {processed} of {valid} valid events"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let raw: Vec<_> = ["user.attempts", "user.sessions", "ml.training"]
        .iter()
        .flat_map(|role| lake::rows(lake_dir.path(), &format!("raw/{role}")))
        .collect();
    // Where Kafka put each user (the producer's default partitioner).
    let partition_of: HashMap<String, i64> = raw
        .iter()
        .map(|r| (r.str("key").to_string(), r.i64("partition")))
        .collect();
    for (user, partition) in &partition_of {
        assert_eq!(
            i64::from(lakestream_topology::owner::partition_for_key(
                user.as_bytes(),
                2
            )),
            *partition,
            "lakestream's partitioner disagrees with the producer's for {user}"
        );
    }
    let expected = aggregates::expected_daily(&produced);
    // The lake can be complete while the group still rebalances (the instance that joined
    // second takes its partition then, and until its task has restored the state neither
    // instance answers for it): query once each instance owns one partition and a query
    // of each partition is answered by one of them.
    let answers = |path: &str| get_json(&addr_a, path).0 == 200 || get_json(&addr_b, path).0 == 200;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let owned =
            [&addr_a, &addr_b].map(|addr| metric_sum(addr, "lakestream_assigned_partitions"));
        let settled = owned == [1, 1]
            && [0, 1].iter().all(|p| {
                expected
                    .keys()
                    .find(|(user, _)| partition_of[user] == *p)
                    .is_some_and(|(user, day)| answers(&format!("/state/users/{user}/daily/{day}")))
            });
        if settled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group did not settle: partitions owned {owned:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut answered = [0, 0];
    let mut redirected = 0;
    for ((user, day), want) in expected.iter().step_by(3) {
        let partition = partition_of[user];
        let path = format!("/state/users/{user}/daily/{day}");
        let (status, body) = get_json(&addr_a, &path);
        match status {
            200 => {
                assert_answer(&body, want, partition);
                answered[0] += 1;
            }
            421 => {
                assert_eq!(body["partition"], partition, "{body}");
                let url = body["url"].as_str().expect("the owner's URL");
                assert!(url.contains(&addr_b), "{url} should point to b at {addr_b}");
                let (status, body) = get_json(&addr_b, &path);
                assert_eq!(status, 200, "{body}");
                assert_answer(&body, want, partition);
                answered[1] += 1;
                redirected += 1;
            }
            other => panic!("{path}: {other} {body}"),
        }
    }
    assert!(
        answered[0] > 0 && redirected > 0,
        "each instance owns users: {answered:?}"
    );

    let (status, body) = get_json(&addr_a, "/state/users/someone/daily/27-11-2026");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("YYYY-MM-DD"));
    let (status, body) = get_json(&addr_a, "/state/users/nobody-at-all/daily/2026-11-27");
    assert!(matches!(status, 404 | 421), "{status} {body}");
}
