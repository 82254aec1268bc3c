//! A double of GitHub as a webhook sender, for catch-up, on 127.0.0.1 port 0. It delivers
//! events to a target URL as GitHub does (`X-GitHub-Delivery`, `X-GitHub-Event`,
//! `X-GitHub-Hook-ID`, `X-Hub-Signature-256` computed here with `hmac` + `sha2`) and logs every
//! attempt as GitHub's delivery log does; it serves that log and GitHub's redelivery endpoint:
//!
//! - `GET {hook}/deliveries?per_page=N[&cursor=C]`: the hook's attempts newest first, pages of
//!   `min(N, page size)` with `Link: <…&cursor=C>; rel="next"` while more follow;
//! - `POST {hook}/deliveries/{id}/attempts`: recorded, the attempt's payload delivered again
//!   with the same guid and logged as a redelivery, then 202 — or, while
//!   [`GitHubHooks::rate_limit_next_posts`] lasts, 403 with `Retry-After: 1`.
//!
//! Hooks: `repos/octo/app/hooks/1` and `orgs/octo/hooks/2` need `Authorization: Bearer <token>`;
//! `app/hook` needs a JWT signed RS256 with the test App key (`tests/fixtures`), `iss` = the App
//! id, checked with the public key. Anything else answers 401 or 404.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hmac::{KeyInit as _, Mac as _};
use serde_json::json;

/// The repository hook's path.
pub(crate) const REPO_HOOK: &str = "repos/octo/app/hooks/1";
/// The organisation hook's path.
pub(crate) const ORG_HOOK: &str = "orgs/octo/hooks/2";
/// The App hook's path.
pub(crate) const APP_HOOK: &str = "app/hook";
/// The App id the double accepts in JWTs.
pub(crate) const APP_ID: &str = "4242";

/// One attempt of the log.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) id: u64,
    pub(crate) guid: String,
    pub(crate) hook: String,
    pub(crate) redelivery: bool,
    /// 0 when nothing answered.
    pub(crate) status_code: u16,
    delivered_at: DateTime<Utc>,
    event: String,
    body: Vec<u8>,
}

struct Inner {
    target: String,
    secret: String,
    token: String,
    page_size: usize,
    rate_limited_posts: usize,
    next_id: u64,
    log: Vec<Attempt>,
    /// Attempt ids POSTed to `…/attempts` (and answered 202), in order.
    redelivered: Vec<u64>,
    /// Every request: method and path with query.
    requests: Vec<String>,
}

/// The running double; stops when dropped.
pub(crate) struct GitHubHooks {
    /// `http://127.0.0.1:PORT` (the `--github-api-url`).
    pub(crate) url: String,
    inner: Arc<Mutex<Inner>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl GitHubHooks {
    /// Delivers to `target`, signing with `secret`; lists and redelivers for `token`.
    pub(crate) async fn start(target: &str, secret: &str, token: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            target: target.to_owned(),
            secret: secret.to_owned(),
            token: token.to_owned(),
            page_size: 100,
            rate_limited_posts: 0,
            next_id: 1000,
            log: Vec::new(),
            redelivered: Vec::new(),
            requests: Vec::new(),
        }));
        let (url, stop) = super::serve_router(|base| {
            let inner = Arc::clone(&inner);
            let base = base.to_owned();
            axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
                let inner = Arc::clone(&inner);
                let base = base.clone();
                async move { answer(&inner, &base, &method, &uri, &headers).await }
            })
        })
        .await;
        Self {
            url,
            inner,
            _stop: stop,
        }
    }

    /// Where deliveries go from now on.
    pub(crate) fn set_target(&self, target: &str) {
        self.lock().target = target.to_owned();
    }

    /// Deliveries are signed with this secret from now on.
    pub(crate) fn set_secret(&self, secret: &str) {
        self.lock().secret = secret.to_owned();
    }

    /// Lists at most `n` attempts per page.
    pub(crate) fn set_page_size(&self, n: usize) {
        self.lock().page_size = n;
    }

    /// The next `n` redelivery requests are answered 403 with `Retry-After: 1`.
    pub(crate) fn rate_limit_next_posts(&self, n: usize) {
        self.lock().rate_limited_posts = n;
    }

    /// Delivers a new event of `hook` (a new guid); the attempt as logged.
    pub(crate) async fn deliver(&self, hook: &str, event: &str, body: &[u8]) -> Attempt {
        let guid = uuid::Uuid::new_v4().to_string();
        send(&self.inner, hook, &guid, event, body, false).await
    }

    /// The attempt ids redelivered on request, in order.
    pub(crate) fn redelivered(&self) -> Vec<u64> {
        self.lock().redelivered.clone()
    }

    /// Every request so far: `METHOD /path?query`.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("lock")
    }
}

/// Delivers `body` to the target and logs the attempt.
async fn send(
    inner: &Mutex<Inner>,
    hook: &str,
    guid: &str,
    event: &str,
    body: &[u8],
    redelivery: bool,
) -> Attempt {
    let (target, secret) = {
        let inner = inner.lock().expect("lock");
        (inner.target.clone(), inner.secret.clone())
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let hook_id = hook.rsplit('/').next().unwrap_or("0").replace("hook", "0");
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
        .post(&target)
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitHub-Hookshot/double")
        .header("X-GitHub-Delivery", guid)
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Hook-ID", hook_id)
        .header("X-Hub-Signature-256", signature)
        .body(body.to_vec())
        .send()
        .await;
    let status_code = answer.map_or(0, |a| a.status().as_u16());
    let mut inner = inner.lock().expect("lock");
    inner.next_id += 1;
    let attempt = Attempt {
        id: inner.next_id,
        guid: guid.to_owned(),
        hook: hook.to_owned(),
        redelivery,
        status_code,
        delivered_at: Utc::now(),
        event: event.to_owned(),
        body: body.to_vec(),
    };
    inner.log.push(attempt.clone());
    attempt
}

async fn answer(
    inner: &Arc<Mutex<Inner>>,
    base: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    inner
        .lock()
        .expect("lock")
        .requests
        .push(format!("{method} {target}"));
    let path = uri.path().trim_start_matches('/');
    let Some(hook) = [REPO_HOOK, ORG_HOOK, APP_HOOK]
        .into_iter()
        .find(|h| path.starts_with(&format!("{h}/deliveries")))
    else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let token = inner.lock().expect("lock").token.clone();
    let authorized = if hook == APP_HOOK {
        app_jwt_is_valid(authorization)
    } else {
        authorization == token
    };
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let rest = &path[hook.len() + "/deliveries".len()..];
    if rest.is_empty() && method == Method::GET {
        return list(inner, base, hook, uri);
    }
    let id = rest
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix("/attempts"))
        .and_then(|id| id.parse::<u64>().ok());
    match (id, method) {
        (Some(id), &Method::POST) => redeliver(inner, hook, id).await,
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn list(inner: &Mutex<Inner>, base: &str, hook: &str, uri: &Uri) -> Response {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let get = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let per_page: usize = get("per_page").map_or(30, |v| v.parse().expect("per_page"));
    let cursor: Option<u64> = get("cursor").map(|v| v.parse().expect("cursor"));
    let inner = inner.lock().expect("lock");
    let size = per_page.min(inner.page_size);
    let mut newest_first: Vec<&Attempt> = inner
        .log
        .iter()
        .filter(|a| a.hook == hook && cursor.is_none_or(|c| a.id < c))
        .collect();
    newest_first.sort_by_key(|a| std::cmp::Reverse(a.id));
    let page: Vec<serde_json::Value> = newest_first
        .iter()
        .take(size)
        .map(|a| {
            json!({
                "id": a.id, "guid": a.guid,
                "delivered_at": a.delivered_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "redelivery": a.redelivery, "duration": 0.1,
                "status": if a.status_code == 0 { "Failed to connect".to_owned() } else { a.status_code.to_string() },
                "status_code": a.status_code, "event": a.event, "action": "opened",
                "installation_id": null, "repository_id": 1
            })
        })
        .collect();
    let mut response = axum::Json(page).into_response();
    if newest_first.len() > size {
        let last = newest_first[size - 1].id;
        let link =
            format!("<{base}/{hook}/deliveries?per_page={per_page}&cursor={last}>; rel=\"next\"");
        response
            .headers_mut()
            .insert("Link", HeaderValue::from_str(&link).expect("header"));
    }
    response
}

async fn redeliver(inner: &Arc<Mutex<Inner>>, hook: &str, id: u64) -> Response {
    let found = {
        let mut locked = inner.lock().expect("lock");
        if locked.rate_limited_posts > 0 {
            locked.rate_limited_posts -= 1;
            let mut response = error(
                StatusCode::FORBIDDEN,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            response
                .headers_mut()
                .insert("Retry-After", HeaderValue::from_static("1"));
            return response;
        }
        let found = locked
            .log
            .iter()
            .find(|a| a.id == id && a.hook == hook)
            .cloned();
        if found.is_some() {
            locked.redelivered.push(id);
        }
        found
    };
    let Some(original) = found else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    send(
        inner,
        hook,
        &original.guid,
        &original.event,
        &original.body,
        true,
    )
    .await;
    (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
}

/// Whether `token` is a JWT the test App key signed for [`APP_ID`], valid now.
fn app_jwt_is_valid(token: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: String,
        iat: i64,
        exp: i64,
    }
    let public = std::fs::read(super::repo_path(
        "tests/fixtures/github-app-test-key.pub.pem",
    ))
    .expect("public key");
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&public).expect("public key parses");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[APP_ID]);
    validation.set_required_spec_claims(&["exp", "iss", "iat"]);
    jsonwebtoken::decode::<Claims>(token, &key, &validation).is_ok_and(|data| {
        let now = Utc::now().timestamp();
        data.claims.iss == APP_ID
            && data.claims.iat <= now
            && data.claims.exp - data.claims.iat <= 600
    })
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"message": message, "documentation_url": "https://docs.github.com/rest"}),
        ),
    )
        .into_response()
}
