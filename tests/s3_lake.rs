//! The lake on a real S3-compatible server (moto, on loopback), written by the real binary
//! with only the standard AWS environment variables for credentials and endpoint:
//! - the contract events land row by row, every object encrypted at rest as configured
//!   (`lake.options`), and `lakestream lake validate` finds the S3 lake sound;
//! - with a store that fails a share of requests (refused before or lost after the store
//!   did the work), every record still lands exactly once and every `*.parquet` object is
//!   a whole Parquet file.
//!
//! The broker is tansu, so these are end-to-end runs over real protocols only.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::evidence::Evidence;
use common::fault_proxy::FaultProxy;
use common::process::Lakestream;
use common::s3::S3Server;
use common::tansu::Tansu;
use common::Topics;

const BUCKET: &str = "analytics";

/// An instance's environment for a lake at `s3://analytics/<prefix>` reached via `endpoint`.
fn s3_env(
    broker: &Tansu,
    topics: &Topics,
    endpoint: &str,
    prefix: &str,
    state: &std::path::Path,
) -> HashMap<String, String> {
    let mut env = common::env(&broker.bootstrap, topics, state, &common::unique("g"));
    env.extend(S3Server::env(endpoint, BUCKET, prefix));
    env
}

/// Runs the binary to the end of the topics and checks it exited cleanly.
fn run_to_end(name: &str, env: &HashMap<String, String>) {
    let mut instance = Lakestream::spawn(name, env, &["--exit-at-end"], None);
    let status = instance.wait(Duration::from_secs(240));
    assert!(status.success(), "{name} exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_events_land_encrypted_on_an_s3_compatible_store() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET).await;
    let broker = Tansu::start();
    let topics = Topics::new("s3");
    broker.create_topics(&topics.names, 2).await;
    let cases = common::events::cases();
    common::produce(&broker.bootstrap, &topics, &common::events::records(&cases));
    let state = Evidence::new();
    let mut env = s3_env(
        &broker,
        &topics,
        &s3.endpoint,
        "learning/lake",
        state.path(),
    );
    env.insert(
        "LAKESTREAM_LAKE__OPTIONS__AWS_SERVER_SIDE_ENCRYPTION".into(),
        "AES256".into(),
    );
    run_to_end("s3", &env);

    let mirror = Evidence::new();
    let keys = s3.mirror(BUCKET, "learning/lake", mirror.path()).await;
    common::checks::assert_contract_lake(mirror.path(), &topics, &cases);
    let data: Vec<_> = keys.iter().filter(|k| k.ends_with(".parquet")).collect();
    assert!(data.len() >= 6, "data files: {data:?}");
    for key in &data {
        assert_eq!(
            s3.encryption_of(BUCKET, &format!("learning/lake/{key}"))
                .await
                .as_deref(),
            Some("AES256"),
            "{key} is not encrypted at rest"
        );
    }

    // The lake manager reads the same S3 lake through the same environment.
    let s3_vars = S3Server::env(&s3.endpoint, BUCKET, "learning/lake");
    let vars: Vec<(&str, &str)> = s3_vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let dataset = "processed/user_attempts";
    let report = common::lake_cmd::stdout(&common::lake_cmd::run_with(
        mirror.path(),
        &["validate", dataset],
        &vars,
    ));
    let files = common::lake::files(mirror.path(), dataset).len();
    assert!(
        report.trim().starts_with(&format!("ok: {files} files,")),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failing_a_share_of_requests_loses_and_doubles_nothing() {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET).await;
    let proxy = FaultProxy::start(&s3.endpoint, 0.2, 7).await;
    let broker = Tansu::start();
    let topics = Topics::new("s3faults");
    broker.create_topics(&topics.names, 3).await;
    let produced = common::generate(23, 12, 2, 3000);
    common::produce(&broker.bootstrap, &topics, &common::records_of(&produced));
    let state = Evidence::new();
    let env = s3_env(&broker, &topics, &proxy.endpoint, "lake", state.path());
    run_to_end("s3-faults", &env);

    assert!(
        proxy.failures() >= 20,
        "the proxy failed only {} requests; the test proves nothing",
        proxy.failures()
    );
    let mirror = Evidence::new();
    s3.mirror(BUCKET, "lake", mirror.path()).await;
    // Reading every data file also proves none is partial: a cut file has no footer.
    common::checks::assert_exactly_once(mirror.path(), &produced);
    common::aggregates::assert_daily_stats(mirror.path(), &produced);
}
