//! A real S3-compatible server for the object-store tests: moto's server (PyPI), installed
//! by `scripts/lib.sh` in the test virtualenv, started on a free loopback port and stopped
//! when the handle drops. Moto checks no signatures, so the fault proxy
//! ([`super::fault_proxy`]) can sit between lakestream and it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use super::tools::free_port;

pub const REGION: &str = "us-east-1";

pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
}

fn moto_server() -> PathBuf {
    let venv_bin = std::env::var("LAKESTREAM_PYTHON")
        .map(|python| {
            Path::new(&python)
                .parent()
                .expect("python in a folder")
                .to_path_buf()
        })
        .unwrap_or_else(|_| PathBuf::from("/var/tmp/lakestream/venv/bin"));
    let server = venv_bin.join("moto_server");
    assert!(
        server.exists(),
        "{} not found: run scripts/test.sh, which installs moto[server] into its virtualenv",
        server.display()
    );
    server
}

impl S3Server {
    pub fn start() -> S3Server {
        let port = free_port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Creates `bucket` (moto accepts an unsigned request).
    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("create bucket");
        assert!(
            response.status().is_success(),
            "create bucket: {}",
            response.status()
        );
    }

    /// The environment a lakestream process needs to use `s3://<bucket>/<prefix>` through
    /// `endpoint` (this server, or a proxy in front of it): the standard AWS variables only.
    pub fn env(endpoint: &str, bucket: &str, prefix: &str) -> Vec<(String, String)> {
        [
            ("DATA_LAKE_URL", format!("s3://{bucket}/{prefix}")),
            ("AWS_ENDPOINT_URL", endpoint.to_string()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_DEFAULT_REGION", REGION.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A client of `bucket`, talking to the server directly.
    pub fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_bucket_name(bucket)
                .with_region(REGION)
                .with_access_key_id("testing")
                .with_secret_access_key("testing")
                .build()
                .expect("S3 client"),
        )
    }

    /// Copies every object under `prefix` to the same relative path under `dir`, so the
    /// local lake checks can read the S3 lake; returns the keys below `prefix`.
    pub async fn mirror(&self, bucket: &str, prefix: &str, dir: &Path) -> Vec<String> {
        let store = self.store(bucket);
        let root = ObjectPath::from(prefix);
        let objects: Vec<_> = store.list(Some(&root)).try_collect().await.unwrap();
        let mut keys = Vec::new();
        for meta in objects {
            let key = meta
                .location
                .prefix_match(&root)
                .expect("listed under the prefix")
                .map(|part| part.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/");
            let bytes = store
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let local = dir.join(&key);
            std::fs::create_dir_all(local.parent().unwrap()).unwrap();
            std::fs::write(&local, &bytes).unwrap();
            keys.push(key);
        }
        keys.sort();
        keys
    }

    /// The `x-amz-server-side-encryption` header the server returns for `key`.
    pub async fn encryption_of(&self, bucket: &str, key: &str) -> Option<String> {
        let response = reqwest::Client::new()
            .head(format!("{}/{bucket}/{key}", self.endpoint))
            // Moto refuses anonymous reads but checks no signature: any access key will do.
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
            )
            .send()
            .await
            .expect("HEAD object");
        assert!(
            response.status().is_success(),
            "HEAD {key}: {}",
            response.status()
        );
        response
            .headers()
            .get("x-amz-server-side-encryption")
            .map(|v| v.to_str().unwrap().to_string())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
