//! Cluster mode through an API server outage (issue 12, recovery): the listener follows its
//! configuration through a relay (support/relay.rs) that is cut for a minute, as if the API server
//! had stopped. During the outage the last configuration serves, signatures are still checked
//! against the cached Secret, and `/ready` says the configuration is not in sync; after the
//! relay is restored, an edit is served within 10 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventlistener::event_listener::ListenerHandle;
use eventlistener::resources::CollectCreator;
use eventlistener::sink::{AppState, serve};

use crate::kube_cluster::{kube_config, spawn_follower};
use crate::support::api_server::{api_server, skipped};
use crate::support::relay::Relay;
use crate::support::{DEV_SECRET, TIMEOUT, deliver, fixture, probe, repo_path};

/// How long the relay stays cut: the minute of the issue, long enough that a backoff grown like
/// client-go's (0.8 s doubling to 30 s, with jitter) is at its cap when the API server returns,
/// and would then leave the configuration stale for up to another 30-60 s. (The test's nextest
/// deadline is raised for it in .config/nextest.toml.)
const OUTAGE: Duration = Duration::from_secs(60);
/// The promise: an edit made once the API server is back is served within this.
const RECOVERY: Duration = Duration::from_secs(10);

/// The `revision` param of the PipelineRun `created` holds.
fn revision(created: &serde_json::Map<String, serde_json::Value>) -> String {
    created["spec"]["params"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "revision"))
        .and_then(|p| p["value"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn through_an_api_outage_the_last_configuration_serves_and_an_edit_after_it_is_served_quickly()
 {
    let Some(server) = api_server() else {
        return skipped(
            "through_an_api_outage_the_last_configuration_serves_and_an_edit_after_it_is_served_quickly",
        );
    };
    let namespace = server.new_namespace("outage");
    server.kubectl_ok(&[
        "apply",
        "-n",
        &namespace,
        "-f",
        &repo_path("config").to_string_lossy(),
    ]);
    let target = server
        .url
        .strip_prefix("https://")
        .and_then(|a| a.parse().ok())
        .expect("the API server's URL is https://IP:PORT");
    let relay = Relay::start(target).await;
    let mut config = kube_config(server).await;
    config.cluster_url = relay.url.parse().expect("relay URL");
    let client = kube::Client::try_from(config).expect("client");

    // The configuration and the Secrets come through the relay; created objects are kept here.
    let (publish, handle) = ListenerHandle::channel("chespirito-github-el", &namespace);
    spawn_follower(client, publish, "chespirito-github-el", &namespace, false);
    let created = Arc::new(CollectCreator::new());
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", tcp.local_addr().expect("addr"));
    let state = AppState {
        max_body_bytes: 1024 * 1024,
        event_timeout: TIMEOUT,
        ..AppState::new(handle.clone(), created.clone())
    };
    tokio::spawn(serve(tcp, state, std::future::pending()));
    let mut served = handle.watch();
    let loaded = tokio::time::timeout(TIMEOUT, served.wait_for(|l| l.is_some()))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(loaded, "the first sync never came");
    let (status, body) = probe(&url, "ready").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with(", in sync with the cluster"), "{body}");

    let opened = fixture("pull_request.opened");
    let reply = deliver(&url, "pull_request", &opened, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let before = created.take();
    assert_eq!(before.len(), 1, "{before:?}");
    let sha = revision(&before[0]);
    assert!(!sha.is_empty(), "{before:?}");

    // The API server is gone: the watches fail, the listener says so and goes on serving.
    relay.cut();
    let cut_at = Instant::now();
    let mut freshness = handle.freshness();
    let lost = tokio::time::timeout(TIMEOUT, freshness.wait_for(|f| f.stale_since.is_some()))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(lost, "the outage was never noticed");
    let (status, body) = probe(&url, "ready").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("not in sync with the cluster for "), "{body}");
    // Past the Secret cache's TTL, so the signature is checked against the stale copy.
    tokio::time::sleep(eventlistener::secrets::SECRET_CACHE_TTL).await;
    let forged = deliver(&url, "pull_request", &opened, Some("not-the-secret")).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let reply = deliver(&url, "pull_request", &opened, Some(DEV_SECRET)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(created.take().len(), 1, "the last configuration serves");
    tokio::time::sleep(OUTAGE.saturating_sub(cut_at.elapsed())).await;

    // Back: an edit made now is served within RECOVERY.
    relay.restore();
    let restored_at = Instant::now();
    let staging = std::fs::read_to_string(repo_path("config/staging.yaml")).unwrap();
    let edited = staging.replace(
        "value: $(body.pull_request.head.sha)",
        "value: edited-$(body.pull_request.head.sha)",
    );
    assert_ne!(
        edited, staging,
        "config/staging.yaml binds revision to the head SHA"
    );
    server.kubectl_stdin_ok(&["apply", "-n", &namespace, "-f", "-"], &edited);
    // Served = an event creates a PipelineRun with the edited value; asked every 200 ms.
    let deadline = restored_at + RECOVERY;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        let reply = deliver(&url, "pull_request", &opened, Some(DEV_SECRET)).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        last = created.take();
        if last
            .iter()
            .any(|run| revision(run) == format!("edited-{sha}"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        last.iter()
            .any(|run| revision(run) == format!("edited-{sha}")),
        "the edit was not served within {RECOVERY:?} of the API server's return: {last:?}"
    );
    let recovered = tokio::time::timeout(TIMEOUT, freshness.wait_for(|f| f.stale_since.is_none()))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(recovered, "never back in sync");
    let (status, body) = probe(&url, "ready").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with(", in sync with the cluster"), "{body}");
}
