//! Interactive queries, as Kafka Streams has them: a user's live daily aggregate, read
//! from the state store of the partition that owns the user. Only the owning instance can
//! answer; any other one says which partition the user is in and who owns it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use lakestream_topology::owner;
use serde_json::json;

use super::AppState;
use crate::pipeline::daily::Daily;
use crate::pipeline::DailyStats;

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

/// `GET /state/users/{user_id}/daily/{date}`.
pub async fn daily(
    State(state): State<AppState>,
    Path((user_id, date)): Path<(String, String)>,
) -> Response {
    let Ok(day) = NaiveDate::parse_from_str(&date, "%Y-%m-%d") else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": format!("date `{date}` is not YYYY-MM-DD") }),
        );
    };
    let day_ms = day
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis();
    let Some(partitions) = state.live.partition_count() else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "this instance has not joined the group yet; retry shortly" }),
        );
    };
    let partition = owner::partition_for_key(user_id.as_bytes(), partitions);
    // The owner of the key's partition first; then the other local stores, in case the
    // producers used another partitioner than librdkafka's default.
    let mut candidates = vec![partition];
    candidates.extend(state.live.owned().into_iter().filter(|p| *p != partition));
    for p in candidates {
        let Some(db) = state.live.get(p) else {
            continue;
        };
        match Daily::lookup(&db, day_ms, &user_id) {
            Ok(Some(stats)) => return answer(StatusCode::OK, found(&user_id, day, p, &stats)),
            Ok(None) => {}
            Err(error) => {
                return answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": format!("state store of partition {p}: {error:#}") }),
                )
            }
        }
    }
    if state.live.get(partition).is_some() {
        return answer(
            StatusCode::NOT_FOUND,
            json!({
                "error": "no events of this user on this day; days past the allowed lateness leave the store (read aggregated/daily_user_stats)",
                "partition": partition,
            }),
        );
    }
    let owner = owner::lookup(state.store.as_ref(), partition).await;
    let url = owner
        .as_ref()
        .and_then(|o| o.http_url.as_ref())
        .map(|base| format!("{base}/state/users/{user_id}/daily/{date}"));
    answer(
        StatusCode::MISDIRECTED_REQUEST,
        json!({
            "error": format!("partition {partition} is not owned by this instance; ask its owner"),
            "partition": partition,
            "owner": owner,
            "url": url,
        }),
    )
}

fn found(user_id: &str, day: NaiveDate, partition: i32, s: &DailyStats) -> serde_json::Value {
    json!({
        "user_id": user_id,
        "date": day.to_string(),
        "partition": partition,
        "total_attempts": s.total_attempts,
        "correct_attempts": s.correct_attempts,
        "accuracy": s.accuracy(),
        "avg_response_time_ms": s.avg_response_time_ms(),
        "unique_items_attempted": s.items.len(),
        "total_sessions": s.total_sessions,
        "total_study_time_minutes": s.study_time_minutes(),
        "source": "live state store",
    })
}
