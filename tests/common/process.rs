//! lakestream as a separate process: the real binary, started with a test's environment,
//! its log forwarded to the test's output and kept for assertions. Crash tests kill it;
//! takeover tests run several against one broker.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Log targets the assertions read, on top of warnings (a test's `RUST_LOG` replaces it).
pub const LOG: &str = "warn,lakestream_topology::group=info,lakestream_topology::task=info,lakestream_topology::state=info,lakestream_topology::flush=info,lakestream::app=info";

pub struct Lakestream {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    name: String,
}

/// Drops ANSI colour codes, so log lines can be matched as plain text.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Lakestream {
    /// `lakestream run [args]` with `env`; `name` prefixes its forwarded log lines.
    pub fn spawn(
        name: &str,
        env: &HashMap<String, String>,
        args: &[&str],
        failpoint: Option<&str>,
    ) -> Lakestream {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lakestream"));
        cmd.arg("run")
            .args(args)
            .envs(env)
            .env("RUST_LOG", env.get("RUST_LOG").map_or(LOG, String::as_str))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(fp) = failpoint {
            cmd.env("LAKESTREAM_FAILPOINT", fp);
        }
        let mut child = cmd.spawn().expect("spawn lakestream");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (sink, prefix) = (log.clone(), name.to_string());
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let line = plain(&line);
                eprintln!("[{prefix}] {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Lakestream {
            child,
            log,
            name: name.to_string(),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Log lines that contain every one of `needles`.
    pub fn lines(&self, needles: &[&str]) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .cloned()
            .collect()
    }

    /// Waits for a log line containing every one of `needles` and returns it.
    pub fn wait_for(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.lines(needles).into_iter().next() {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "[{}] no log line with {needles:?} within {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Returns once it owns partitions, so a kill lands while it works rather than while
    /// it waits for the group.
    pub fn wait_until_assigned(&self) {
        self.wait_for(&["partition tasks running"], Duration::from_secs(60));
    }

    /// The address its HTTP server listens on, from its startup log (text or JSON).
    pub fn http_addr(&self) -> String {
        let line = self.wait_for(&["serving /metrics"], Duration::from_secs(30));
        let (at, marker) = ["addr=", "\"addr\":\""]
            .iter()
            .find_map(|m| line.find(m).map(|at| (at, *m)))
            .expect("addr field");
        line[at + marker.len()..]
            .split([' ', '"'])
            .next()
            .expect("address")
            .to_string()
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("[{}] did not finish within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no flush, no commit, no leaving the group.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.signal(), Some(9));
    }

    /// SIGTERM: the graceful path.
    pub fn terminate(&mut self) {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
    }
}

impl Drop for Lakestream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
