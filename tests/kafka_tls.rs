//! Kafka security (issue 7, point 3): lakestream reads a broker reachable only over mutual
//! TLS, configured with librdkafka properties from the environment and its client key's
//! password from a secret file, and that password appears in no log line (at debug level)
//! and nowhere in the lake.

mod common;

use std::time::Duration;

use common::evidence::Evidence;
use common::process::Lakestream;
use common::tls::{Certificates, TlsKafka};
use common::Topics;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

const KEY_PASSWORD: &str = "tls-key-password-7f3a91";

/// Whether a client with `properties` gets metadata from `bootstrap` within a few seconds.
fn metadata_reachable(bootstrap: &str, properties: &[(String, String)]) -> bool {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "0");
    for (key, value) in properties {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create().expect("client");
    consumer
        .fetch_metadata(None, Duration::from_secs(4))
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_over_mutual_tls_with_the_key_password_from_a_file_and_never_logs_it() {
    let dir = Evidence::new();
    let certs = Certificates::create(dir.path(), KEY_PASSWORD);
    let kafka = TlsKafka::start(dir.path(), &certs);
    let bootstrap = kafka.broker.bootstrap.clone();

    // The listener speaks TLS only and wants the client certificate.
    assert!(
        !metadata_reachable(&bootstrap, &[]),
        "plaintext got through"
    );
    let mut no_client_cert = certs.client_properties();
    no_client_cert.retain(|(k, _)| k == "security.protocol" || k == "ssl.ca.location");
    assert!(
        !metadata_reachable(&bootstrap, &no_client_cert),
        "TLS without a client certificate got through"
    );

    let topics = Topics::new("tls");
    kafka.broker.create_topics(&topics.names, 2).await;
    let produced = common::generate(31, 8, 2, 1500);
    let mut producer = certs.client_properties();
    producer.push(("ssl.key.password".into(), KEY_PASSWORD.into()));
    let producer: Vec<(&str, &str)> = producer
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    common::produce_with(
        &bootstrap,
        &topics,
        &common::records_of(&produced),
        &producer,
    );

    let secret = dir.path().join("kafka-key-password");
    std::fs::write(&secret, format!("{KEY_PASSWORD}\n")).unwrap();
    let lake = Evidence::new();
    let mut env = common::env(&bootstrap, &topics, lake.path(), &common::unique("g"));
    for (key, value) in certs.client_properties() {
        env.insert(
            format!("KAFKA_{}", key.to_ascii_uppercase().replace('.', "_")),
            value,
        );
    }
    env.insert(
        "LAKESTREAM_KAFKA__SECRET_FILES__SSL_KEY_PASSWORD".into(),
        secret.display().to_string(),
    );
    env.insert("RUST_LOG".into(), "debug".into());
    // One flush (and its debug line) per closed hour: enough lines to search for the secret.
    env.insert("LAKESTREAM_WINDOWS__FLUSH_INTERVAL".into(), "0s".into());
    let mut instance = Lakestream::spawn("tls", &env, &["--exit-at-end"], None);
    let status = instance.wait(Duration::from_secs(240));
    assert!(status.success(), "exited with {status}");
    // The last line: everything before it has been read when it is there.
    instance.wait_for(&["runtime: stopped"], Duration::from_secs(10));

    common::checks::assert_exactly_once(lake.path(), &produced);
    assert!(
        instance.lines(&["DEBUG"]).len() > 10,
        "the run logged at debug level"
    );
    assert_eq!(
        instance.lines(&[KEY_PASSWORD]),
        Vec::<String>::new(),
        "the key password was logged"
    );
    for file in common::lake::walk(lake.path(), |_| true) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes
                .windows(KEY_PASSWORD.len())
                .any(|w| w == KEY_PASSWORD.as_bytes()),
            "the key password is in {}",
            file.display()
        );
    }
}
