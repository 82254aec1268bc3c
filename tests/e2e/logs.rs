//! The log (issue 13, item 2): every line of an event names its eventID, delivery ID and event
//! type, each trigger's line its name and outcome, one `answered` line per request; JSON with
//! `--log-format json`; and no secret or signature in any line, even at trace level.

use serde_json::Value;

use eventlistener::interceptors::signature::sign_sha256;

use crate::support::{DEV_SECRET, SERVE_CONFIG, deliver, deliver_as, fixture, spawn_serve};

/// The fields of a JSON log line and of its spans, merged (the innermost span last).
fn fields(line: &Value) -> serde_json::Map<String, Value> {
    let mut merged = serde_json::Map::new();
    for span in line["spans"].as_array().into_iter().flatten() {
        if let Some(span) = span.as_object() {
            merged.extend(span.clone());
        }
    }
    if let Some(own) = line.as_object() {
        merged.extend(own.clone());
    }
    merged
}

#[tokio::test]
async fn json_lines_name_the_event_the_delivery_and_each_triggers_outcome() {
    let mut server = spawn_serve(
        &[&SERVE_CONFIG[..], &["--log-format", "json"]].concat(),
        // Filtered triggers say so at debug (a line per trigger per event is too many at info).
        &[("RUST_LOG", "info,eventlistener=debug")],
    )
    .await;
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let reply = deliver_as(
        &server.url(),
        "pull_request",
        &fixture("pull_request.opened"),
        Some(DEV_SECRET),
        Some(delivery),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let event_id = reply.body["eventID"].as_str().expect("eventID").to_owned();
    server.sigterm();
    let log = server.rest_of_log().await;
    let lines: Vec<serde_json::Map<String, Value>> = log
        .lines()
        .map(|l| fields(&serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))))
        .collect();
    let of_event: Vec<&serde_json::Map<String, Value>> = lines
        .iter()
        .filter(|f| f.get("event_id").and_then(Value::as_str) == Some(event_id.as_str()))
        .collect();
    assert!(of_event.len() >= 3, "{log}");
    for f in &of_event {
        assert_eq!(f["delivery_id"], delivery, "{f:?}");
        assert_eq!(f["event_type"], "pull_request", "{f:?}");
    }
    let outcome = |trigger: &str| {
        of_event
            .iter()
            .find(|f| {
                f.get("trigger").and_then(Value::as_str) == Some(trigger)
                    && f.contains_key("outcome")
            })
            .map(|f| (f["outcome"].clone(), f["level"].clone()))
    };
    assert_eq!(
        outcome("pr-trigger"),
        Some((Value::from("created"), Value::from("INFO"))),
        "{log}"
    );
    assert_eq!(
        outcome("push-main-trigger"),
        Some((Value::from("stopped"), Value::from("DEBUG"))),
        "{log}"
    );
    let answered: Vec<_> = of_event
        .iter()
        .filter(|f| f["message"] == "answered")
        .collect();
    assert_eq!(answered.len(), 1, "{log}");
    assert_eq!(answered[0]["status"], 202);
    assert!(
        answered[0]["duration_ms"].as_f64().is_some(),
        "{:?}",
        answered[0]
    );
}

#[tokio::test]
async fn no_line_carries_the_secret_or_a_signature_even_at_trace_level() {
    let mut server = spawn_serve(&SERVE_CONFIG, &[("RUST_LOG", "trace")]).await;
    let body = fixture("pull_request.opened");
    let good = deliver(&server.url(), "pull_request", &body, Some(DEV_SECRET)).await;
    assert_eq!(good.status, 202, "{}", good.body);
    let forged = deliver(
        &server.url(),
        "pull_request",
        &body,
        Some("forged-secret-value"),
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    server.sigterm();
    // Everything it logged, the loading of the Secret manifest included.
    let rest = server.rest_of_log().await;
    let log = format!("{}{rest}", server.head);
    // The verbose levels are on (the request's own debug lines are there), and both events were
    // logged.
    assert!(
        log.contains(" DEBUG ") && log.matches(" answered ").count() == 2,
        "{log}"
    );
    let signature = sign_sha256(DEV_SECRET.as_bytes(), &body);
    let hex = signature.trim_start_matches("sha256=");
    let forged_hex = sign_sha256(b"forged-secret-value", &body);
    for secret in [DEV_SECRET, hex, forged_hex.trim_start_matches("sha256=")] {
        assert!(!log.contains(secret), "{secret:?} is in the log");
    }
}
