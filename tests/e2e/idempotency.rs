//! Exactly once per delivery ID: redeliveries, concurrent duplicates and retries after partial
//! success end with one object per trigger and resource, every answer 2xx; distinct deliveries
//! (with or without IDs) never overwrite each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use eventlistener::resources::{
    ANNOTATION_DELIVERY_ID, BoxFuture, Created, Creator, DirCreator, Error, Resource,
};
use futures::StreamExt as _;
use serde_json::Value;

use crate::support::{
    DEV_SECRET, Running, TIMEOUT, deliver_as, fixture, repo_path, spawn_serve, start,
    start_default, start_with,
};

/// Two triggers without interceptors, each creating one PipelineRun from `generateName`, the
/// second also a ConfigMap; `$(uid)` is a label of every object.
const TWO_TRIGGERS: &str = r#"
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: twins
  namespace: ci
spec:
  triggers:
    - name: first
      template:
        spec:
          resourcetemplates:
            - apiVersion: tekton.dev/v1
              kind: PipelineRun
              metadata:
                generateName: first-
                labels:
                  uid: $(uid)
              spec:
                pipelineRef:
                  name: one
    - name: second
      template:
        spec:
          resourcetemplates:
            - apiVersion: tekton.dev/v1
              kind: PipelineRun
              metadata:
                generateName: second-
                labels:
                  uid: $(uid)
              spec:
                pipelineRef:
                  name: two
            - apiVersion: v1
              kind: ConfigMap
              metadata:
                generateName: second-
                labels:
                  uid: $(uid)
"#;

fn two_triggers_config() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("el.yaml"), TWO_TRIGGERS).expect("write config");
    dir
}

fn outcomes(reply_body: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = reply_body["triggers"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    (
                        t["name"].as_str().unwrap_or_default().to_owned(),
                        t["outcome"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[tokio::test]
async fn fifty_concurrent_copies_of_one_delivery_create_one_pipeline_run() {
    let listener = start_default().await;
    assert_fifty_copies_make_one(std::slice::from_ref(&listener.url), || listener.created()).await;
}

/// Two listener processes writing into one directory, as two replicas sharing a volume.
#[tokio::test]
async fn fifty_copies_over_two_listener_processes_sharing_one_dir_sink_make_one() {
    let out = tempfile::tempdir().expect("tempdir");
    let sink = format!("dir:{}", out.path().display());
    let (a, b) = (
        spawn_serve(&["-f", "config/", "--sink", &sink], &[]).await,
        spawn_serve(&["-f", "config/", "--sink", &sink], &[]).await,
    );
    let created = || {
        std::fs::read_dir(out.path())
            .expect("out")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| serde_json::from_slice(&std::fs::read(e.path()).expect("read")).expect("json"))
            .collect()
    };
    assert_fifty_copies_make_one(&[a.url(), b.url()], created).await;
}

/// Sends one delivery 50 times at once, spread over `urls`: every answer 202, one object, one
/// `created` and 49 `duplicate` outcomes.
async fn assert_fifty_copies_make_one(urls: &[String], created: impl Fn() -> Vec<Value>) {
    let body = fixture("pull_request.opened");
    let delivery = uuid::Uuid::new_v4().to_string();
    let replies: Vec<_> = futures::stream::iter(0..50)
        .map(|i| {
            deliver_as(
                &urls[i % urls.len()],
                "pull_request",
                &body,
                Some(DEV_SECRET),
                Some(&delivery),
            )
        })
        .buffer_unordered(50)
        .collect()
        .await;
    assert!(replies.iter().all(|r| r.status == 202));
    let created = created();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(
        created[0]["metadata"]["annotations"][ANNOTATION_DELIVERY_ID],
        delivery.as_str()
    );
    let words: Vec<String> = replies
        .iter()
        .flat_map(|r| outcomes(&r.body))
        .filter(|(name, _)| name == "pr-trigger")
        .map(|(_, outcome)| outcome)
        .collect();
    assert_eq!(words.len(), 50);
    assert_eq!(words.iter().filter(|w| *w == "created").count(), 1);
    assert_eq!(words.iter().filter(|w| *w == "duplicate").count(), 49);
}

/// Objects per file name: `(name, uid label)` for each created object, sorted.
fn names_and_uids(listener: &Running) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = listener
        .created()
        .iter()
        .map(|o| {
            (
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                o["metadata"]["labels"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn names_and_uid_are_a_function_of_the_delivery_id() {
    let config = two_triggers_config();
    let paths = [config.path().to_owned()];
    // Two listeners with their own sinks, as two replicas would see one delivery.
    let (a, b, c) = (
        start(&paths).await,
        start(&paths).await,
        start(&paths).await,
    );
    let body = br#"{"action":"opened"}"#;
    for listener in [&a, &b] {
        let reply = deliver_as(&listener.url, "push", body, None, Some("delivery-1")).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    let reply = deliver_as(&c.url, "push", body, None, Some("delivery-2")).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let (in_a, in_b, in_c) = (names_and_uids(&a), names_and_uids(&b), names_and_uids(&c));
    assert_eq!(in_a.len(), 3);
    assert_eq!(in_a, in_b, "one delivery ID, same names and $(uid)");
    for ((name_a, uid_a), (name_c, uid_c)) in in_a.iter().zip(&in_c) {
        assert_ne!(name_a, name_c);
        assert_ne!(uid_a, uid_c);
    }
    // $(uid) is one per trigger: the second trigger's two objects share theirs.
    let second: Vec<&(String, String)> = in_a
        .iter()
        .filter(|(n, _)| n.starts_with("second-"))
        .collect();
    assert_eq!(second.len(), 2);
    assert_eq!(second[0].1, second[1].1);
    let first = in_a
        .iter()
        .find(|(n, _)| n.starts_with("first-"))
        .expect("first");
    assert_ne!(first.1, second[0].1);
}

async fn deliver_many(listener: &Running, count: usize, with_ids: bool) {
    let body = br#"{"action":"opened"}"#;
    let statuses: Vec<u16> = futures::stream::iter(0..count)
        .map(|i| {
            let id = with_ids.then(|| format!("delivery-{i}"));
            async move {
                deliver_as(&listener.url, "push", body, None, id.as_deref())
                    .await
                    .status
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
}

#[tokio::test]
async fn two_thousand_distinct_deliveries_make_two_thousand_objects_each() {
    for with_ids in [true, false] {
        let config = two_triggers_config();
        let listener = start(&[config.path().to_owned()]).await;
        deliver_many(&listener, 2000, with_ids).await;
        let created = listener.created();
        // Three objects per delivery, each in its own file: nothing overwritten.
        assert_eq!(created.len(), 6000, "with delivery IDs: {with_ids}");
        let mut names: Vec<&str> = created
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap_or_default())
            .collect();
        names.sort_unstable();
        names.dedup();
        // PipelineRuns and ConfigMaps of the second trigger share a prefix but not a kind.
        assert!(names.len() >= 4000, "with delivery IDs: {with_ids}");
        let annotated = created
            .iter()
            .filter(|o| o["metadata"]["annotations"][ANNOTATION_DELIVERY_ID].is_string())
            .count();
        assert_eq!(annotated, if with_ids { 6000 } else { 0 });
    }
}

/// A dir sink whose creates of `kind` fail once with a retryable error.
#[derive(Debug)]
struct FailsOnce {
    inner: DirCreator,
    kind: &'static str,
    failures_left: AtomicUsize,
}

impl Creator for FailsOnce {
    fn create(&self, resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        let fail = resource.kind() == self.kind
            && self
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if fail {
            return Box::pin(async move {
                Err(Error::Kube {
                    message: "injected: connection reset".into(),
                    retryable: true,
                })
            });
        }
        self.inner.create(resource)
    }
}

#[tokio::test]
async fn a_retry_after_partial_success_creates_only_what_is_missing() {
    let config = two_triggers_config();
    let out = tempfile::tempdir().expect("tempdir");
    let creator = Arc::new(FailsOnce {
        inner: DirCreator::new(out.path()).expect("dir"),
        kind: "ConfigMap",
        failures_left: AtomicUsize::new(1),
    });
    let listener = start_with(&[config.path().to_owned()], Some(creator), TIMEOUT).await;
    let body = br#"{"action":"opened"}"#;
    let first = deliver_as(&listener.url, "push", body, None, Some("partial-1")).await;
    assert_eq!(first.status, 503, "{}", first.body);
    let second = deliver_as(&listener.url, "push", body, None, Some("partial-1")).await;
    assert_eq!(second.status, 202, "{}", second.body);
    // No trigger here authenticates the sender, so the answer lists none.
    assert!(second.body.get("triggers").is_none(), "{}", second.body);
    let mut objects: Vec<(String, String)> = std::fs::read_dir(out.path())
        .expect("out")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let object: Value =
                serde_json::from_slice(&std::fs::read(e.path()).expect("read")).expect("json");
            let labels = &object["metadata"]["labels"];
            (
                format!(
                    "{}/{}",
                    object["kind"].as_str().unwrap_or_default(),
                    labels["triggers.tekton.dev/trigger"]
                        .as_str()
                        .unwrap_or_default()
                ),
                labels["triggers.tekton.dev/triggers-eventid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    objects.sort();
    let (first_id, second_id) = (&first.body["eventID"], &second.body["eventID"]);
    // One object per trigger and resource: what the first attempt created is kept, only the
    // ConfigMap that failed is made by the retry.
    assert_eq!(
        objects,
        vec![
            (
                "ConfigMap/second".to_owned(),
                second_id.as_str().unwrap_or_default().to_owned()
            ),
            (
                "PipelineRun/first".to_owned(),
                first_id.as_str().unwrap_or_default().to_owned()
            ),
            (
                "PipelineRun/second".to_owned(),
                first_id.as_str().unwrap_or_default().to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn triggers_are_listed_only_to_authenticated_senders() {
    let listener = start(&[repo_path("config")]).await;
    let body = fixture("pull_request.opened");
    let signed = deliver_as(
        &listener.url,
        "pull_request",
        &body,
        Some(DEV_SECRET),
        Some("a"),
    )
    .await;
    assert_eq!(signed.status, 202);
    assert_eq!(
        outcomes(&signed.body),
        vec![
            ("pr-trigger".to_owned(), "created".to_owned()),
            ("push-main-trigger".to_owned(), "filtered".to_owned()),
        ]
    );
    let created = signed.body["triggers"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == "pr-trigger"))
        .map(|t| t["created"].clone())
        .expect("pr-trigger listed");
    assert!(
        created[0]
            .as_str()
            .is_some_and(|c| c.starts_with("PipelineRun/default/chespirito-staging-pipeline-")),
        "{created}"
    );
    let unsigned = deliver_as(
        &listener.url,
        "pull_request",
        &body,
        Some("wrong"),
        Some("b"),
    )
    .await;
    assert_eq!(unsigned.status, 403);
    assert!(unsigned.body.get("triggers").is_none(), "{}", unsigned.body);
}

#[tokio::test]
async fn response_detail_off_leaves_upstream_fields_only() {
    let listener = crate::support::start_configured(&[repo_path("config")], None, |state| {
        eventlistener::sink::AppState {
            response_detail: false,
            ..state
        }
    })
    .await;
    let body = fixture("pull_request.opened");
    let reply = deliver_as(
        &listener.url,
        "pull_request",
        &body,
        Some(DEV_SECRET),
        Some("quiet"),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let mut fields: Vec<&str> = reply
        .body
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["eventID", "eventListener", "eventListenerUID", "namespace"]
    );
    assert_eq!(listener.created().len(), 1);
}
