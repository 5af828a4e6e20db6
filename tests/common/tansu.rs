//! A real Kafka-compatible broker for the end-to-end tests: tansu (crates.io), started on a
//! free loopback port with in-memory storage and stopped when the handle drops.
//!
//! The binary is found at `$TANSU_BIN`, else on `PATH`, else where `.ci/run` installs it
//! (`/var/tmp/lakestream/tools/bin/tansu`). A missing broker fails the test with the
//! command that installs it: these tests are never skipped silently.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::tools::free_port;

pub struct Tansu {
    child: Child,
    pub bootstrap: String,
    /// librdkafka properties a client needs to reach the advertised listener.
    client: Vec<(String, String)>,
}

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("TANSU_BIN") {
        return PathBuf::from(path);
    }
    if let Ok(out) = Command::new("sh").args(["-c", "command -v tansu"]).output() {
        let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !found.is_empty() {
            return PathBuf::from(found);
        }
    }
    let cached = PathBuf::from("/var/tmp/lakestream/tools/bin/tansu");
    assert!(
        cached.exists(),
        "tansu not found: run `cargo install tansu --locked --features dynostore --root /var/tmp/lakestream/tools` (what .ci/run does) or set TANSU_BIN"
    );
    cached
}

impl Tansu {
    pub fn start() -> Tansu {
        let port = free_port();
        Self::start_behind(port, port, Vec::new())
    }

    /// A broker listening on `port` that tells clients to connect to `advertised`, e.g. a
    /// TLS terminator in front of it; `client` holds the properties that reach it there.
    pub fn start_behind(port: u16, advertised: u16, client: Vec<(String, String)>) -> Tansu {
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = format!("tcp://127.0.0.1:{advertised}");
        let child = Command::new(binary())
            .args([
                "broker",
                "--kafka-listener-url",
                &url,
                "--kafka-advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tansu");
        let tansu = Tansu {
            child,
            bootstrap: advertised.trim_start_matches("tcp://").to_string(),
            client,
        };
        tansu.wait_ready();
        tansu
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let consumer: BaseConsumer = self.client_config().set("log_level", "0").create().unwrap();
        while consumer
            .fetch_metadata(None, Duration::from_millis(500))
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "tansu did not answer metadata within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub async fn create_topics(&self, names: &[String], partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create().unwrap();
        let topics: Vec<NewTopic> = names
            .iter()
            .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
            .collect();
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
        for result in admin
            .create_topics(&topics, &options)
            .await
            .expect("create topics")
        {
            result.expect("topic created");
        }
    }
}

impl Tansu {
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (key, value) in &self.client {
            config.set(key, value);
        }
        config
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
