//! What operators look at (issue 5), checked with the tools they use: the exposition
//! passes `promtool check metrics`, a real Prometheus server scrapes the instance, and the
//! status page, loaded in headless Chromium, shows the owned partitions, recent flushes
//! and quality of the run; JSON logs parse and name no learner.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::Lakestream;
use common::tools::{free_port, program};

/// An instance that has consumed every generated record and written files, with its
/// broker kept alive and its lake folder.
struct Running {
    _kafka: lakestream_topology::mock::MockKafka,
    topics: common::Topics,
    child: Lakestream,
    addr: String,
    produced: common::Produced,
    _lake: common::evidence::Evidence,
}

fn running(prefix: &str, extra_env: &[(&str, &str)]) -> Running {
    let (kafka, topics) = common::mock_with_topics(prefix, 2);
    let produced = common::generate(23, 6, 2, 900);
    common::produce(
        kafka.bootstrap_servers(),
        &topics,
        &common::records_of(&produced),
    );
    let lake = common::evidence::Evidence::new();
    let mut env = common::env(
        kafka.bootstrap_servers(),
        &topics,
        lake.path(),
        &common::unique("ops"),
    );
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let child = Lakestream::spawn(prefix, &env, &[], None);
    let addr = child.http_addr();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let consumed = common::http::metric_sum(&addr, "lakestream_records_consumed_total");
        let files = common::http::metric_sum(&addr, "lakestream_files_written_total");
        if consumed == produced.len() as u64 && files > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "consumed {consumed} of {}, {files} files",
            produced.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Running {
        _kafka: kafka,
        topics,
        child,
        addr,
        produced,
        _lake: lake,
    }
}

#[test]
fn promtool_accepts_the_exposition_and_a_real_prometheus_scrapes_it() {
    let mut run = running("prom", &[]);
    let (status, exposition) = common::http::get(&run.addr, "/metrics");
    assert_eq!(status, 200);

    let mut promtool = Command::new(program(&["promtool"], "prometheus"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        checked.status.success() && complaints.trim().is_empty(),
        "promtool check metrics: {complaints}"
    );

    // A Prometheus server on loopback scrapes the instance every second.
    let dir = common::evidence::Evidence::new();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: lakestream\n    static_configs:\n      - targets: ['{}']\n",
            run.addr
        ),
    )
    .unwrap();
    let web = format!("127.0.0.1:{}", free_port());
    let mut prometheus = Command::new(program(&["prometheus"], "prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let deadline = Instant::now() + Duration::from_secs(60);
    let series = loop {
        let answer = std::net::TcpStream::connect(&web)
            .ok()
            .map(|_| {
                common::http::get_json(&web, "/api/v1/query?query=lakestream_consumed_lag_records")
            })
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, body)| body["data"]["result"].as_array().cloned())
            .filter(|result| !result.is_empty());
        if let Some(series) = answer {
            break series;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never stored a scrape of {}",
            run.addr
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let (_, targets) = common::http::get_json(&web, "/api/v1/targets");
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{target}");
    // One series per topic and partition, as scraped by Prometheus itself.
    assert_eq!(series.len(), run.topics.names.len() * 2, "{series:?}");
    for s in &series {
        let topic = s["metric"]["topic"].as_str().unwrap();
        assert!(run.topics.names.iter().any(|t| t == topic), "{s}");
        assert_eq!(s["metric"]["job"], "lakestream");
    }
    run.child.kill_9();
}

#[test]
fn the_status_page_in_headless_chromium_shows_partitions_flushes_and_quality() {
    // Each hour flushed as it closes: the page must list flushes of several datasets while
    // the instance still runs.
    let mut run = running("page", &[("LAKESTREAM_WINDOWS__FLUSH_INTERVAL", "0s")]);
    // `running` returns after the first file; the attempts' quality scores come with the
    // first flush of an attempts hour, which can follow it by a moment, and the partitions
    // table with the first lag report after a fetch answer (the tick): the first flush
    // can come before it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready =
        |page: &str| page.contains("processed/user_attempts") && page.contains("id=\"partitions\"");
    while !ready(&common::http::get(&run.addr, "/").1) {
        assert!(
            Instant::now() < deadline,
            "no attempts window flushed and no lag reported within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let chromium = program(&["chromium", "chromium-headless-shell"], "chromium");
    let dir = common::evidence::Evidence::new();
    let url = format!("http://{}/", run.addr);
    let headless = |extra: &[String]| {
        let output = Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .args(extra)
            .arg(&url)
            .output()
            .expect("start chromium");
        assert!(output.status.success(), "chromium: {output:?}");
        output
    };
    let dom = String::from_utf8(headless(&["--dump-dom".into()]).stdout).unwrap();

    // Every owned (topic, partition) has a row in the partitions table.
    let partitions = section(&dom, "id=\"partitions\"");
    for topic in &run.topics.names {
        for p in 0..2 {
            assert!(
                partitions.contains(&format!("<td>{topic}</td><td>{p}</td>")),
                "{topic}[{p}] missing from {partitions}"
            );
        }
    }
    // The flushes the instance counted are listed, partition by partition.
    let flushes = section(&dom, "id=\"flushes\"");
    let listed = flushes.matches("<tr>").count() - 1;
    let counted = common::http::metric_sum(&run.addr, "lakestream_flushes_total");
    assert!(listed >= 1, "no flush listed: {flushes}");
    assert!(
        listed as u64 <= counted,
        "{listed} listed, {counted} counted"
    );
    // Quality scores of the processed datasets, with the overall dimension.
    let quality = section(&dom, "id=\"quality\"");
    assert!(quality.contains("processed/user_attempts"), "{quality}");
    assert!(quality.contains("overall"), "{quality}");
    // Records per topic agree with the scrape.
    let records = section(&dom, "id=\"records\"");
    assert!(records.contains(&run.topics.names[0]), "{records}");
    assert!(dom.contains("<svg"), "the charts are inline SVG");
    assert!(
        !dom.contains("src=\"http") && !dom.contains("href=\"http"),
        "no external assets"
    );

    // A screenshot renders (the README's picture is made this way:
    // LAKESTREAM_SCREENSHOT=docs/status-page.png).
    let png = dir.path().join("status.png");
    headless(&[
        format!("--screenshot={}", png.display()),
        "--window-size=1200,1100".into(),
    ]);
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000);
    if let Ok(to) = std::env::var("LAKESTREAM_SCREENSHOT") {
        std::fs::write(to, &bytes).unwrap();
    }
    run.child.kill_9();
}

/// The table that starts at `marker`, up to its end.
fn section<'a>(dom: &'a str, marker: &str) -> &'a str {
    let start = dom
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not on the page:\n{dom}"));
    let end = dom[start..]
        .find("</table>")
        .map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

#[test]
fn json_logs_are_one_object_per_line_and_name_no_learner_or_event() {
    let mut run = running(
        "logs",
        &[("LAKESTREAM_LOG_FORMAT", "json"), ("RUST_LOG", "info")],
    );
    run.child.terminate();
    run.child.wait(Duration::from_secs(30));
    let lines = run.child.lines(&[""]);
    assert!(lines.len() > 5, "{lines:?}");
    for line in &lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["target"].is_string(),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("partition recovered")),
        "info lines are there"
    );
    // Every user id and event id produced: none may appear at info level.
    for (_, user, value, _) in &run.produced {
        let event: serde_json::Value = serde_json::from_slice(value).unwrap_or_default();
        let event_id = event["event_id"].as_str().unwrap_or("<none>");
        for line in &lines {
            assert!(
                !line.contains(user.as_str()) && !line.contains(event_id),
                "a log line names {user} or {event_id}: {line}"
            );
        }
    }
}
