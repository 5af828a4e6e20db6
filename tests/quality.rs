//! Data quality (issue 4), end to end on librdkafka's mock cluster: each kind of bad
//! record lands in quarantine with the check it failed, and the window's quality report
//! (in the raw file's sidecar) scores a clean stream 1.0 in every dimension and a stream
//! with known shares of bad records lower by exactly those shares. Processed files carry a
//! column profile.

mod common;

use std::path::{Path, PathBuf};

use common::lake;
use serde_json::{json, Value};

/// Event time for a test's events: now, so that they reach Kafka in time and records
/// without a readable event time (filed under their Kafka timestamp) share their hour.
/// Close to the end of an hour, it waits for the next one.
fn base_ms() -> i64 {
    const HOUR: i64 = 3_600_000;
    let now = chrono::Utc::now().timestamp_millis();
    let left = HOUR - now.rem_euclid(HOUR);
    if left < 20_000 {
        std::thread::sleep(std::time::Duration::from_millis(left as u64 + 1000));
    }
    chrono::Utc::now().timestamp_millis()
}

fn attempt(id: &str, ts: i64, ms: i64) -> Value {
    json!({"event_id": id, "user_id": "u1", "item_id": format!("i-{id}"), "session_id": "s1",
           "correct": true, "time_taken_ms": ms, "timestamp": ts})
}

fn session(id: &str, ts: i64, items: i64, correct: i64, accuracy: Option<f64>) -> Value {
    let mut v = json!({"event_id": id, "session_id": id, "user_id": "u1",
        "session_type": "practice", "started_at": ts - 600_000, "ended_at": ts,
        "items_attempted": items, "correct_count": correct});
    if let Some(a) = accuracy {
        v["accuracy"] = json!(a);
    }
    v
}

fn records(role: &str, values: &[Value]) -> Vec<(String, String, Vec<u8>)> {
    values
        .iter()
        .map(|v| {
            (
                role.to_string(),
                "u1".to_string(),
                v.to_string().into_bytes(),
            )
        })
        .collect()
}

fn sidecars(root: &Path, dataset: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(dataset)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".meta.json") {
                out.push(path);
            }
        }
    }
    out
}

/// The one quality report of `dataset`'s window (one partition, one hour).
fn report(root: &Path, dataset: &str) -> Value {
    let files = sidecars(root, dataset);
    assert_eq!(
        files.len(),
        1,
        "{dataset}: one file for the window: {files:?}"
    );
    let meta: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    meta["quality"].clone()
}

async fn land(values: &[(&str, Vec<Value>)]) -> tempfile::TempDir {
    let (kafka, topics) = common::mock_with_topics("quality", 1);
    let produced: Vec<_> = values
        .iter()
        .flat_map(|(role, vs)| records(role, vs))
        .collect();
    common::produce(kafka.bootstrap_servers(), &topics, &produced);
    let lake = tempfile::tempdir().unwrap();
    common::run_to_end(common::fresh_settings(
        kafka.bootstrap_servers(),
        &topics,
        lake.path(),
    ))
    .await;
    lake
}

fn score(report: &Value, dimension: &str) -> f64 {
    report["scores"][dimension].as_f64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stream_scores_one_in_every_dimension() {
    let t = base_ms();
    let attempts: Vec<_> = (0..40)
        .map(|i| attempt(&format!("a{i}"), t + i, 1000 + i * 100))
        .collect();
    let sessions: Vec<_> = (0..5)
        .map(|i| session(&format!("s{i}"), t + i, 4, 3, Some(0.75)))
        .collect();
    let lake = land(&[("user.attempts", attempts), ("user.sessions", sessions)]).await;
    for dataset in ["raw/user.attempts", "raw/user.sessions"] {
        let r = report(lake.path(), dataset);
        for dimension in [
            "completeness",
            "accuracy",
            "consistency",
            "timeliness",
            "validity",
            "overall",
        ] {
            assert_eq!(score(&r, dimension), 1.0, "{dataset} {dimension}: {r}");
        }
        assert_eq!(
            r["levels"],
            json!({"critical": 0, "error": 0, "warning": 0})
        );
        assert_eq!(r["warnings"], json!([]));
    }
    // The processed file's column profile describes its rows.
    let files = sidecars(lake.path(), "processed/user_attempts");
    let meta: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let profile = meta["quality"]["profile"].as_array().unwrap();
    let column = |name: &str| profile.iter().find(|c| c["name"] == name).unwrap().clone();
    let taken = column("time_taken_ms");
    assert_eq!(
        (taken["min"].as_f64(), taken["max"].as_f64()),
        (Some(1000.0), Some(4900.0))
    );
    assert_eq!(taken["mean"].as_f64(), Some(2950.0));
    assert_eq!(taken["distinct"], 40);
    assert_eq!(column("topic")["null_share"], 1.0);
    let warned: Vec<_> = meta["quality"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["column"].as_str().unwrap().to_string())
        .collect();
    assert!(
        warned.contains(&"topic".to_string()),
        "an optional column that is always null is a warning: {warned:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_lower_exactly_their_dimension() {
    let t = base_ms();
    let mut attempts: Vec<_> = (0..80)
        .map(|i| attempt(&format!("a{i}"), t + i, 2000))
        .collect();
    // 10 without a user (completeness), 5 with a negative time (validity), 3 not JSON
    // objects (validity), 2 redeliveries (neither: counted as duplicates).
    for i in 0..10 {
        let mut v = attempt(&format!("m{i}"), t, 2000);
        v.as_object_mut().unwrap().remove("user_id");
        attempts.push(v);
    }
    for i in 0..5 {
        attempts.push(attempt(&format!("n{i}"), t, -1));
    }
    for i in 0..3 {
        attempts.push(json!(["not", "an", "object", i]));
    }
    attempts.push(attempts[0].clone());
    attempts.push(attempts[1].clone());
    // Sessions: 6 good, 2 whose reported accuracy is wrong (error level: processed,
    // flagged), 1 with more correct than attempted items, 1 ending before it starts.
    let mut sessions: Vec<_> = (0..6)
        .map(|i| session(&format!("s{i}"), t + i, 4, 2, None))
        .collect();
    sessions.push(session("wrong1", t, 4, 2, Some(0.9)));
    sessions.push(session("wrong2", t, 5, 5, Some(0.2)));
    sessions.push(session("toomany", t, 2, 3, None));
    let mut backwards = session("backwards", t, 2, 1, None);
    backwards["started_at"] = json!(t + 60_000);
    sessions.push(backwards);
    let lake = land(&[("user.attempts", attempts), ("user.sessions", sessions)]).await;

    let a = report(lake.path(), "raw/user.attempts");
    let n = 100.0;
    assert_eq!(a["counts"]["records"], 100);
    assert_eq!(a["counts"]["duplicates"], 2);
    assert_eq!(score(&a, "completeness"), 1.0 - 10.0 / n, "{a}");
    assert_eq!(score(&a, "validity"), 1.0 - 8.0 / n, "{a}");
    assert_eq!(score(&a, "consistency"), 1.0);
    assert_eq!(score(&a, "accuracy"), 1.0);
    assert_eq!(score(&a, "timeliness"), 1.0);
    let overall = (0.9 + 0.92 + 1.0 + 1.0 + 1.0) / 5.0;
    assert!((score(&a, "overall") - overall).abs() < 1e-12, "{a}");
    assert_eq!(a["levels"]["critical"], 18);

    let s = report(lake.path(), "raw/user.sessions");
    assert_eq!(score(&s, "accuracy"), 1.0 - 2.0 / 8.0, "{s}");
    assert_eq!(score(&s, "consistency"), 1.0 - 2.0 / 10.0, "{s}");
    assert_eq!(s["levels"]["error"], 2);

    // Each quarantined record says which kind of check it failed.
    let mut checks: Vec<_> = ["user.attempts", "user.sessions"]
        .iter()
        .flat_map(|role| lake::rows(lake.path(), &format!("quarantine/{role}")))
        .map(|r| r.str("check").to_string())
        .collect();
    checks.sort();
    let count = |k: &str| checks.iter().filter(|c| *c == k).count();
    assert_eq!(
        (
            count("missing"),
            count("invalid"),
            count("malformed"),
            count("inconsistent")
        ),
        (10, 5, 3, 2)
    );
}

/// Outliers: a normal generated workload flags nothing; answers that took hours and a
/// session that lasted most of a day are flagged, processed all the same, and counted in
/// their window's report; a user with hundreds of answers in one hour is reported as an
/// anomalous volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_outliers_are_flagged_and_a_normal_workload_is_not() {
    let (kafka, topics) = common::mock_with_topics("anomaly", 1);
    let produced = common::generate(31, 25, 2, 6000);
    let mut records = common::records_of(&produced);
    // Inside the generated window, after enough history: its last event time.
    let last_ms = produced
        .iter()
        .filter_map(|(_, _, v, _)| {
            let v: Value = serde_json::from_slice(v).ok()?;
            v.get("timestamp")
                .or_else(|| v.get("ended_at"))
                .and_then(|t| t.as_str())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis())
        })
        .max()
        .unwrap();
    let user = produced[0].1.clone();
    let mut injected = Vec::new();
    for (i, hours) in [(0, 10), (1, 30)] {
        let id = format!("outlier-attempt-{i}");
        let mut v = attempt(&id, last_ms - 60_000, hours * 3_600_000);
        v["user_id"] = json!(user);
        injected.push(id);
        records.push((
            "user.attempts".into(),
            user.clone(),
            v.to_string().into_bytes(),
        ));
    }
    let mut long = session("outlier-session", last_ms - 60_000, 12, 6, None);
    long["user_id"] = json!(user);
    long["started_at"] = json!(last_ms - 60_000 - 20 * 3_600_000);
    injected.push("outlier-session".into());
    records.push((
        "user.sessions".into(),
        user.clone(),
        long.to_string().into_bytes(),
    ));
    // One user answering 5000 items within minutes: an anomalous volume for one user
    // (robust z about 10.5 against this history, past the volume threshold of 1.5 x 6;
    // 2000 items scored 8.9 and was not flagged, rightly).
    let busy = produced
        .iter()
        .map(|p| p.1.clone())
        .find(|u| *u != user)
        .unwrap();
    for i in 0..5000 {
        let mut v = attempt(&format!("burst-{i}"), last_ms - 600_000 + i * 20, 5000);
        v["user_id"] = json!(busy);
        records.push((
            "user.attempts".into(),
            busy.clone(),
            v.to_string().into_bytes(),
        ));
    }
    common::produce(kafka.bootstrap_servers(), &topics, &records);

    let lake = tempfile::tempdir().unwrap();
    let mut env = common::env(
        kafka.bootstrap_servers(),
        &topics,
        lake.path(),
        &common::unique("g"),
    );
    // Enough for a short test stream: 25 users give few user-hours of history.
    env.insert(
        "LAKESTREAM_QUALITY__ANOMALY_MIN_SAMPLES".into(),
        "30".into(),
    );
    // The per-user volume history learns from each flushed hour; hours flushed together
    // (the flush interval, in a backlog) are judged against the history before them all.
    // One flush per hour here, so the burst's hour has the whole day behind it.
    env.insert("LAKESTREAM_WINDOWS__FLUSH_INTERVAL".into(), "0s".into());
    common::run_to_end(common::settings(&env)).await;

    let flagged: Vec<(String, String)> = ["user_attempts", "user_sessions"]
        .iter()
        .flat_map(|d| lake::rows(lake.path(), &format!("processed/{d}")))
        .filter(|r| !r.is_null("anomaly"))
        .map(|r| (r.str("event_id").to_string(), r.str("anomaly").to_string()))
        .collect();
    let mut ids: Vec<_> = flagged.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    injected.sort();
    assert_eq!(ids, injected, "flags: {flagged:?}");
    let note = |id: &str| flagged.iter().find(|(i, _)| i == id).unwrap().1.clone();
    assert!(note("outlier-attempt-1").contains("response_time_ms"));
    assert!(note("outlier-session").contains("session_duration_minutes"));

    let reported: u64 = ["raw/user.attempts", "raw/user.sessions"]
        .iter()
        .flat_map(|d| sidecars(lake.path(), d))
        .map(|f| {
            let meta: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            meta["quality"]["info"]["anomalies"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(
        reported, 3,
        "each outlier is counted in its window's report"
    );
    let busy_reported: Vec<Value> = sidecars(lake.path(), "raw/user.attempts")
        .iter()
        .flat_map(|f| {
            let meta: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            meta["quality"]["info"]["busy_users"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(busy_reported.len(), 1, "{busy_reported:?}");
    assert_eq!(busy_reported[0]["user_id"], json!(busy));
    assert!(busy_reported[0]["events"].as_u64().unwrap() >= 5000);
}

/// Event time of a generated valid event (attempts and training: `timestamp`; sessions:
/// `ended_at`).
fn event_ms(v: &Value) -> Option<i64> {
    let t = v.get("timestamp").or_else(|| v.get("ended_at"))?;
    // The contract allows epoch milliseconds or RFC 3339; the generator sends both.
    t.as_i64().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(t.as_str()?)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// The error-level session rule on a generated workload with three attempts whose session
/// is never sent: the injected attempts are flagged, no attempt whose session arrived is,
/// and none twice, in
/// `quality/attempts_without_session`; the counters on `/metrics` of the running instance
/// agree with the lake and with the produced kinds.
#[test]
fn attempts_without_a_session_are_flagged_and_every_counter_agrees() {
    use lakestream::demo::generator::Kind;
    let (kafka, topics) = common::mock_with_topics("orphans", 1);
    let produced = common::generate(41, 20, 2, 3000);
    let valid = |role: &'static str| {
        produced
            .iter()
            .filter(move |p| p.0 == role && p.3 == Kind::Valid)
            .map(|p| serde_json::from_slice::<Value>(&p.2).unwrap())
    };
    let sessions: std::collections::HashSet<String> = valid("user.sessions")
        .map(|v| v["session_id"].as_str().unwrap().to_string())
        .collect();
    // Injected six hours into the stream's first pass over its days (the generator then
    // replays the days), so the watermark passes the end of their wait.
    let first_ms = produced
        .iter()
        .find_map(|p| event_ms(&serde_json::from_slice(&p.2).ok()?))
        .unwrap();
    let at = produced
        .iter()
        .position(|p| {
            p.0 == "user.attempts"
                && p.3 == Kind::Valid
                && event_ms(&serde_json::from_slice(&p.2).unwrap()).unwrap()
                    > first_ms + 6 * 3_600_000
        })
        .unwrap();
    let next_to: Value = serde_json::from_slice(&produced[at].2).unwrap();
    let (user, mid_ms) = (produced[at].1.clone(), event_ms(&next_to).unwrap());
    let mut records = common::records_of(&produced);
    let mut injected = Vec::new();
    for i in 0..3 {
        let id = format!("orphan-{i}");
        let mut v = attempt(&id, mid_ms + i * 1000, 4000);
        v["user_id"] = json!(user);
        v["session_id"] = json!(format!("never-sent-{i}"));
        let record = (
            "user.attempts".into(),
            user.clone(),
            v.to_string().into_bytes(),
        );
        records.insert(at + 1, record);
        injected.push(id);
    }
    // Attempts whose session never arrives: the injected ones, and those whose session
    // record was invalid (quarantined). The latter may be flagged, if the stream's
    // watermark passes their wait; nothing else may be.
    let mut candidates: Vec<String> = valid("user.attempts")
        .filter(|v| !sessions.contains(v["session_id"].as_str().unwrap()))
        .map(|v| v["event_id"].as_str().unwrap().to_string())
        .collect();
    candidates.extend(injected.iter().cloned());
    common::produce(kafka.bootstrap_servers(), &topics, &records);

    let lake = tempfile::tempdir().unwrap();
    let env = common::env(
        kafka.bootstrap_servers(),
        &topics,
        lake.path(),
        &common::unique("g"),
    );
    let mut child = common::process::Lakestream::spawn("lakestream", &env, &[], None);
    child.wait_until_assigned();
    let addr = child.http_addr();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    // Consumed, then quiet: the idle flush has closed every window and judged every wait.
    let mut last = (u64::MAX, std::time::Instant::now());
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the stream did not settle"
        );
        let now = (
            common::http::metric_sum(&addr, "lakestream_records_consumed_total"),
            common::http::metric_sum(&addr, "lakestream_attempts_without_session_total"),
        );
        let key = now.0 * 1_000_000 + now.1;
        if key != last.0 {
            last = (key, std::time::Instant::now());
        } else if now.0 == records.len() as u64 && last.1.elapsed().as_secs() >= 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let counted = common::http::metric_sum(&addr, "lakestream_attempts_without_session_total");
    let kinds = |kind: Kind| produced.iter().filter(|p| p.3 == kind).count() as u64;
    assert_eq!(
        common::http::metric_sum(&addr, "lakestream_records_duplicate_total"),
        kinds(Kind::Duplicate)
    );
    assert_eq!(
        common::http::metric_sum(&addr, "lakestream_records_quarantined_total"),
        kinds(Kind::Invalid)
    );
    assert_eq!(
        common::http::metric_sum(&addr, "lakestream_records_processed_total"),
        kinds(Kind::Valid) + injected.len() as u64
    );
    child.terminate();
    assert!(child.wait(std::time::Duration::from_secs(60)).success());

    let flagged: Vec<String> = lake::rows(lake.path(), "quality/attempts_without_session")
        .iter()
        .map(|r| r.str("event_id").to_string())
        .collect();
    let unique: std::collections::HashSet<&String> = flagged.iter().collect();
    assert_eq!(
        unique.len(),
        flagged.len(),
        "an attempt flagged twice: {flagged:?}"
    );
    for id in &injected {
        assert!(
            unique.contains(id),
            "{id} has no session but was not flagged"
        );
    }
    for id in &flagged {
        assert!(
            candidates.contains(id),
            "{id} was flagged but its session arrived"
        );
    }
    assert_eq!(
        counted,
        flagged.len() as u64,
        "the counter agrees with the lake"
    );
}

/// A backlog start where one topic arrives long after another: the sessions' broker is
/// down while lakestream reads three days of attempts, then comes back. Every attempt has
/// its session, so none may be flagged: the attempts' event time must not make their
/// sessions "too late" before the sessions topic has delivered anything. Before round 9
/// the first session to arrive here was judged by the attempts' event time, three days
/// ahead, and its attempt flagged; in the benchmark on tansu, whose topics keep
/// delivering, 147,000 attempts were.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_read_long_after_their_attempts_still_match_them() {
    let kafka = lakestream_topology::mock::MockKafka::start(2).unwrap();
    let topics = common::Topics::new("late-sessions");
    for name in &topics.names {
        kafka.create_topic(name, 1).unwrap();
    }
    // Broker 1 serves the attempts, the training events and the group; broker 2 the
    // sessions.
    kafka.set_leader(&topics.names[1], 0, 2).unwrap();
    let t0 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
    const HOUR: i64 = 3_600_000;
    let (mut attempts, mut sessions) = (Vec::new(), Vec::new());
    for h in 0..72 {
        let id = format!("s{h}");
        let mut a = attempt(&format!("a{h}"), t0 + h * HOUR + 600_000, 4000);
        a["session_id"] = json!(id);
        attempts.push(a);
        sessions.push(session(&id, t0 + h * HOUR + 1_800_000, 1, 1, None));
    }
    let mut produced = records("user.attempts", &attempts);
    produced.extend(records("user.sessions", &sessions));
    common::produce(kafka.bootstrap_servers(), &topics, &produced);

    let lake = tempfile::tempdir().unwrap();
    let group = common::unique("g");
    kafka.set_group_coordinator(&group, 1).unwrap();
    let settings = common::settings(&common::env(
        kafka.bootstrap_servers(),
        &topics,
        lake.path(),
        &group,
    ));
    kafka.set_broker_up(2, false).unwrap();
    let (exit_tx, exit_at_end) = tokio::sync::watch::channel(false);
    let (_stop, handle) = common::start(settings, exit_at_end);
    // The attempts' windows close while the sessions cannot be read: two days and more
    // of event time pass.
    common::eventually(
        std::time::Duration::from_secs(60),
        "attempts of the third day written",
        || lake::files(lake.path(), "processed/user_attempts").len() >= 60,
    )
    .await;
    kafka.set_broker_up(2, true).unwrap();
    exit_tx.send_replace(true);
    common::finish([("lakestream", handle)]).await;

    let processed = |dataset: &str| lake::rows(lake.path(), dataset).len();
    assert_eq!(processed("processed/user_attempts"), 72);
    assert_eq!(processed("processed/user_sessions"), 72);
    let flagged: Vec<String> = lake::rows(lake.path(), "quality/attempts_without_session")
        .iter()
        .map(|r| r.str("event_id").to_string())
        .collect();
    assert!(
        flagged.is_empty(),
        "flagged with their session: {flagged:?}"
    );
}
