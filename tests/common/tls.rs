//! A TLS listener for Kafka: stunnel (Debian package `stunnel4`) terminating mutual TLS in
//! front of a plaintext tansu, with a throwaway certificate authority made by the
//! `openssl` command. tansu 0.6.0 has `--cert`/`--key` flags that cannot be combined (its
//! argument parser rejects them together), so TLS is terminated in front of it instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tansu::Tansu;
use super::tools::{free_port, program};

/// A CA, a server certificate for 127.0.0.1, and a client certificate whose key is
/// encrypted with `key_password`.
pub struct Certificates {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub key_password: String,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new(program(&["openssl"], "openssl"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Certificates {
    pub fn create(dir: &Path, key_password: &str) -> Certificates {
        let pass = format!("pass:{key_password}");
        std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        #[rustfmt::skip]
        let steps: [&[&str]; 5] = [
            &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
              "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=lakestream test CA"],
            &["req", "-newkey", "rsa:2048", "-nodes",
              "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
            &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem"],
            // The client key is encrypted: librdkafka needs `ssl.key.password` to use it.
            &["req", "-newkey", "rsa:2048", "-passout", &pass,
              "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=lakestream"],
            &["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-CAcreateserial", "-days", "2", "-out", "client.pem"],
        ];
        for step in steps {
            openssl(dir, step);
        }
        Certificates {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            key_password: key_password.to_string(),
        }
    }

    /// librdkafka properties of a client with this CA and client certificate; the key
    /// password is left to the caller (a property, or a secret file).
    pub fn client_properties(&self) -> Vec<(String, String)> {
        [
            ("security.protocol", "ssl".to_string()),
            ("ssl.ca.location", self.ca.display().to_string()),
            (
                "ssl.certificate.location",
                self.client_cert.display().to_string(),
            ),
            ("ssl.key.location", self.client_key.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// tansu behind stunnel: clients reach it only over mutual TLS.
pub struct TlsKafka {
    stunnel: Child,
    pub broker: Tansu,
}

impl TlsKafka {
    pub fn start(dir: &Path, certs: &Certificates) -> TlsKafka {
        let (plain, tls) = (free_port(), free_port());
        let config = dir.join("stunnel.conf");
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\ndebug = crit\n\n[kafka]\naccept = 127.0.0.1:{tls}\nconnect = 127.0.0.1:{plain}\ncert = {}\nkey = {}\nCAfile = {}\nverifyChain = yes\n",
                certs.server_cert.display(),
                certs.server_key.display(),
                certs.ca.display()
            ),
        )
        .unwrap();
        let stunnel = Command::new(program(&["stunnel4", "stunnel"], "stunnel4"))
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start stunnel");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", tls)).is_err() {
            assert!(Instant::now() < deadline, "stunnel did not listen in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut client = certs.client_properties();
        client.push(("ssl.key.password".into(), certs.key_password.clone()));
        let broker = Tansu::start_behind(plain, tls, client);
        TlsKafka { stunnel, broker }
    }
}

impl Drop for TlsKafka {
    fn drop(&mut self) {
        let _ = self.stunnel.kill();
        let _ = self.stunnel.wait();
    }
}
