//! The deployment files (issue 7, started): the Prometheus configuration and alert rules
//! pass `promtool check`, each alert fires on the series it is meant for and stays quiet
//! on healthy ones (`promtool test rules`), and every metric the alerts and the Grafana
//! dashboard use is one lakestream exports.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tools::program;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn promtool(args: &[&str], file: &Path) {
    let output = Command::new(program(&["promtool"], "prometheus"))
        .args(args)
        .arg(file)
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "promtool {args:?} {}: {}{}",
        file.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn prometheus_configuration_and_alert_rules_pass_promtool() {
    promtool(&["check", "rules"], &deploy("prometheus/alerts.yml"));
    promtool(&["check", "config"], &deploy("prometheus/prometheus.yml"));
    promtool(&["test", "rules"], &deploy("prometheus/alerts_test.yml"));
}

/// `lakestream_*` names in `text`, histogram series suffixes removed.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("lakestream_"))
        .map(|w| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| w.strip_suffix(s))
                .unwrap_or(w)
                .to_string()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Every string literal of the crates' sources, where metrics are registered.
fn sources() -> String {
    let mut text = String::new();
    for dir in ["src", "topology/src", "state/src"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for file in common::lake::walk(&root, |p| p.extension().is_some_and(|e| e == "rs")) {
            text.push_str(&std::fs::read_to_string(file).unwrap());
        }
    }
    text
}

#[test]
fn the_alerts_and_the_dashboard_use_only_metrics_lakestream_exports() {
    let sources = sources();
    let alerts = std::fs::read_to_string(deploy("prometheus/alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(deploy("grafana/dashboards/lakestream.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let titles: Vec<&str> = json["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "lag",
        "Throughput",
        "Flush latency",
        "Quality",
        "Quarantine",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no `{wanted}` panel in {titles:?}"
        );
    }
    let used = metric_names(&format!("{alerts}{dashboard}"));
    assert!(used.len() >= 8, "{used:?}");
    for name in used {
        assert!(
            sources.contains(&format!("\"{name}\"")),
            "{name} is used by deploy/ but lakestream does not export it"
        );
    }
}

/// `docker compose config` (the Compose v2 plugin) or `docker-compose config` (Debian's
/// `docker-compose` package, what scripts/test.sh installs: this machine has no plugin)
/// on `file`; the validator needs no Docker daemon.
fn compose_config(file: &Path, args: &[&str]) -> std::process::Output {
    let plugin = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut command = if plugin {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    } else {
        Command::new(program(&["docker-compose"], "docker-compose"))
    };
    command
        .arg("-f")
        .arg(file)
        .arg("config")
        .args(args)
        .output()
        .expect("run compose config")
}

#[test]
fn the_compose_file_passes_compose_config_and_names_every_service() {
    let file = deploy("docker-compose.yml");
    let output = compose_config(&file, &["--services"]);
    assert!(
        output.status.success(),
        "compose config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let services = String::from_utf8(output.stdout).unwrap();
    for wanted in [
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "minio",
        "lakestream-1",
        "lakestream-2",
        "prometheus",
        "grafana",
    ] {
        assert!(
            services.lines().any(|s| s == wanted),
            "no service {wanted} in {services}"
        );
    }
    // The validator rejects what it should: a service depending on one that is missing.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("docker-compose.yml");
    let text = std::fs::read_to_string(&file).unwrap();
    let bad = text.replace("kafka-1: { condition", "kafka-9: { condition");
    assert_ne!(bad, text);
    std::fs::write(&broken, bad).unwrap();
    assert!(!compose_config(&broken, &["-q"]).status.success());
}
