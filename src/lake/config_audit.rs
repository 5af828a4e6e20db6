//! The audit trail of configuration: at startup each instance compares its effective
//! settings with the ones its group last started with (kept in the lake, secrets
//! redacted) and logs one audit line per setting that changed, so "who turned the
//! retention down" has an answer. The lake keeps the latest settings per group.

use std::collections::BTreeMap;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::Value;

use crate::config::Settings;

/// Property names whose values never leave the process.
/// Parts of librdkafka property names whose values may be secret. `oauthbearer` covers
/// `sasl.oauthbearer.config`, which can hold a client secret under an innocent name.
const SECRET_MARKERS: &[&str] = &["password", "secret", "token", "jaas", "key", "oauthbearer"];

fn location(group: &str) -> Path {
    Path::from(format!("_lakestream/config/group={group}.json"))
}

/// Settings as `dotted.path -> value`, secrets replaced.
pub fn flatten(settings: &Settings) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    walk("", &serde_json::to_value(settings)?, &mut out);
    for (path, value) in out.iter_mut() {
        let Some(property) = path.strip_prefix("kafka.properties.") else {
            continue;
        };
        let property = property.to_ascii_lowercase();
        if SECRET_MARKERS.iter().any(|m| property.contains(m)) {
            *value = Value::String("<redacted>".into());
        }
    }
    Ok(out)
}

fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                walk(&path, value, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// Logs what changed since the group's last start and records the current settings.
pub async fn record(store: &dyn ObjectStore, settings: &Settings) -> anyhow::Result<usize> {
    let current = flatten(settings)?;
    let path = location(&settings.kafka.group_id);
    let previous: Option<BTreeMap<String, Value>> = match store.get(&path).await {
        Ok(found) => serde_json::from_slice(&found.bytes().await?).ok(),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let mut changed = 0;
    match &previous {
        None => tracing::info!(
            target: "lakestream::audit",
            action = "config_recorded",
            settings = current.len(),
            "first start of this group: configuration recorded"
        ),
        Some(previous) => {
            let keys: std::collections::BTreeSet<&String> =
                previous.keys().chain(current.keys()).collect();
            for key in keys {
                let null = Value::Null;
                let (old, new) = (previous.get(key), current.get(key));
                if old != new {
                    let (old, new) = (old.unwrap_or(&null), new.unwrap_or(&null));
                    changed += 1;
                    tracing::info!(
                        target: "lakestream::audit",
                        action = "config_change",
                        setting = key.as_str(),
                        old = %old,
                        new = %new,
                        "setting changed since the group's last start"
                    );
                }
            }
        }
    }
    if previous.as_ref() != Some(&current) {
        let body = serde_json::to_vec_pretty(&current)?;
        store.put(&path, PutPayload::from(body)).await?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn secrets_are_redacted_and_paths_are_dotted() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("client-secret");
        std::fs::write(&secret, "s3cr3t-from-file\n").unwrap();
        let secret = secret.display().to_string();
        let env: HashMap<String, String> = [
            ("KAFKA_SASL_PASSWORD", "hunter2"),
            ("KAFKA_SASL_USERNAME", "svc"),
            (
                "KAFKA_SASL_OAUTHBEARER_CONFIG",
                "clientSecret=oauth-hunter3",
            ),
            ("LAKESTREAM_KAFKA__SECRET_FILES__SSL_KEY_PASSWORD", &secret),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let settings = Settings::load(None, &env).unwrap();
        let flat = flatten(&settings).unwrap();
        assert_eq!(flat["kafka.properties.sasl.password"], "<redacted>");
        assert_eq!(flat["kafka.properties.sasl.username"], "svc");
        assert_eq!(flat["windows.grace"], "10m");
        assert_eq!(
            flat["kafka.properties.sasl.oauthbearer.config"],
            "<redacted>"
        );
        // A secret read from a file is not in the settings at all, only its path.
        assert_eq!(flat["kafka.secret_files.ssl_key_password"], secret.as_str());
        let text = serde_json::to_string(&flat).unwrap();
        for leaked in ["hunter2", "hunter3", "s3cr3t-from-file"] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
        assert!(!format!("{settings:?}").contains("s3cr3t-from-file"));
        let config = settings.kafka_client_config();
        assert_eq!(config.get("ssl.key.password"), Some("s3cr3t-from-file"));
    }
}
