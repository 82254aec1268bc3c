//! `/metrics` (issue 13, item 1): a known sequence of events, then a scrape whose counters must
//! be exactly what the sequence implies; and the binary serving it on `--metrics-address`.

use eventlistener::sink::{AppState, metrics_router};

use crate::support::{
    DEV_SECRET, Running, SERVE_CONFIG, TIMEOUT, deliver, deliver_as, fixture, repo_path, sample,
    scrape, spawn_serve, start_configured,
};

/// `config/` served in-process with a dir sink and a 64 KiB body limit, and its metrics: (the
/// listener, its metrics URL).
async fn start_with_metrics() -> (Running, String) {
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", metrics.local_addr().unwrap());
    let listener = start_configured(&[repo_path("config")], None, move |state| {
        let state = AppState {
            max_body_bytes: 64 * 1024,
            ..state
        };
        tokio::spawn(axum::serve(metrics, metrics_router(state.clone())).into_future());
        state
    })
    .await;
    (listener, metrics_url)
}

#[tokio::test]
async fn a_request_head_too_large_for_the_server_is_counted() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (listener, metrics_url) = start_with_metrics().await;
    let addr = listener.addr;
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let filler = "a".repeat(512 * 1024);
    let head = format!("POST / HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n");
    // The server may answer and close before it has read everything: a failed write is fine.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // Counted as the connection ends, which may be just after the client saw it close.
    let series = "eventlistener_requests_rejected_total{reason=\"headers_too_large\"}";
    let deadline = std::time::Instant::now() + TIMEOUT;
    let text = loop {
        let text = scrape(&metrics_url).await;
        if sample(&text, series).is_some() || std::time::Instant::now() >= deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(sample(&text, series).as_deref(), Some("1"), "{text}");
    // hyper answered it: no event ran.
    assert_eq!(
        sample(&text, "eventlistener_http_duration_seconds_count").as_deref(),
        Some("0")
    );
}

#[tokio::test]
async fn a_known_sequence_of_events_is_counted_exactly() {
    let (listener, metrics_url) = start_with_metrics().await;
    let url = listener.url.clone();

    // config/: pr-trigger runs for opened PRs, push-main-trigger for merged ones.
    let opened = fixture("pull_request.opened");
    let delivery = uuid::Uuid::new_v4().to_string();
    // The delivery, then its redelivery.
    for _ in 0..2 {
        let reply = deliver_as(
            &url,
            "pull_request",
            &opened,
            Some(DEV_SECRET),
            Some(&delivery),
        )
        .await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    let forged = deliver(&url, "pull_request", &opened, Some("not-the-secret")).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let huge = vec![b' '; 64 * 1024 + 1];
    let too_large = deliver(&url, "pull_request", &huge, Some(DEV_SECRET)).await;
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    let not_json = deliver(&url, "pull_request", b"{not json", Some(DEV_SECRET)).await;
    assert_eq!(not_json.status, 400, "{}", not_json.body);

    let text = scrape(&metrics_url).await;
    for (series, value) in [
        (
            "eventlistener_event_received_total{status=\"succeeded\"}",
            "2",
        ),
        ("eventlistener_event_received_total{status=\"failed\"}", "3"),
        (
            "eventlistener_triggered_resources_total{kind=\"PipelineRun\"}",
            "1",
        ),
        ("eventlistener_http_duration_seconds_count", "5"),
        (
            "eventlistener_http_duration_seconds_bucket{le=\"+Inf\"}",
            "5",
        ),
        (
            "eventlistener_trigger_outcomes_total{trigger=\"pr-trigger\",outcome=\"created\"}",
            "1",
        ),
        (
            "eventlistener_trigger_outcomes_total{trigger=\"pr-trigger\",outcome=\"duplicate\"}",
            "1",
        ),
        (
            "eventlistener_trigger_outcomes_total{trigger=\"pr-trigger\",outcome=\"filtered\"}",
            "1",
        ),
        (
            "eventlistener_trigger_outcomes_total{trigger=\"push-main-trigger\",outcome=\"filtered\"}",
            "3",
        ),
        (
            "eventlistener_requests_rejected_total{reason=\"signature\"}",
            "1",
        ),
        (
            "eventlistener_requests_rejected_total{reason=\"body_too_large\"}",
            "1",
        ),
        (
            "eventlistener_requests_rejected_total{reason=\"invalid_body\"}",
            "1",
        ),
        // github decided for both triggers of the three events that reached them; cel only
        // when github let them through (the forged one stopped at github).
        (
            "eventlistener_interceptor_duration_seconds_count{interceptor=\"github\"}",
            "6",
        ),
        (
            "eventlistener_interceptor_duration_seconds_count{interceptor=\"cel\"}",
            "4",
        ),
        // The create, and the redelivery's create that found it made.
        (
            "eventlistener_resource_create_duration_seconds_count{kind=\"PipelineRun\"}",
            "2",
        ),
        ("eventlistener_events_in_flight", "0"),
        ("eventlistener_config_generation", "1"),
        ("eventlistener_triggers{state=\"ready\"}", "2"),
        ("eventlistener_triggers{state=\"broken\"}", "0"),
    ] {
        assert_eq!(
            sample(&text, series).as_deref(),
            Some(value),
            "{series} in\n{text}"
        );
    }
    // Nothing else was counted: no other outcome, rejection or kind.
    let counted = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(
        counted("eventlistener_trigger_outcomes_total{"),
        4,
        "{text}"
    );
    assert_eq!(
        counted("eventlistener_requests_rejected_total{"),
        3,
        "{text}"
    );
    assert_eq!(
        counted("eventlistener_triggered_resources_total{"),
        1,
        "{text}"
    );
    // Labels carry no payload value.
    assert!(
        !text.contains("Hello-World") && !text.contains("Codertocat"),
        "{text}"
    );
}

#[tokio::test]
async fn serve_exports_metrics_on_its_metrics_address() {
    let mut server = spawn_serve(&SERVE_CONFIG, &[]).await;
    let reply = deliver(
        &server.url(),
        "pull_request",
        &fixture("pull_request.opened"),
        Some(DEV_SECRET),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let text = scrape(&format!("http://{}/metrics", server.metrics_addr)).await;
    assert_eq!(
        sample(
            &text,
            "eventlistener_event_received_total{status=\"succeeded\"}"
        )
        .as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        sample(&text, "eventlistener_config_generation").as_deref(),
        Some("1")
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    server.sigterm();
    let _ = server.rest_of_log().await;
}
