//! A local double of the GitHub REST API on 127.0.0.1 port 0, for `serve --github-api-url`:
//! routes by exact path, each answered as its [`Reply`] says; every request is recorded (path
//! with query, `Authorization`); with [`GitHubApi::with_token`], a request without
//! `Authorization: Bearer <token>` is answered 401 as GitHub does. Lists paginate as GitHub's do:
//! `?page=N` picks the page, and every page but the last has a `Link` header with `rel="next"`
//! and `rel="last"`. Add routes with [`GitHubApi::route`] (more reply kinds as tests need them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How a route answers.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// 200 with this JSON.
    Json(Value),
    /// 200 with page `?page=N` (1 when absent) of these, each a JSON array, with `Link` headers.
    Pages(Vec<Value>),
    /// A file of the contents API (`encoding: base64`, lines of 60 as GitHub sends them).
    File(String),
    /// 404 `{"message": "Not Found"}`.
    NotFound,
    /// No answer, ever (the connection stays open): for deadlines.
    Never,
    /// 403 with `X-RateLimit-Remaining: 0` and GitHub's rate-limit message, resetting in
    /// 250 seconds.
    RateLimited,
}

/// One request the double got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// Path and query, as sent.
    pub(crate) target: String,
    /// The `Authorization` header, if any.
    pub(crate) authorization: Option<String>,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Reply>,
    token: Option<String>,
    recorded: Mutex<Vec<Recorded>>,
}

/// The double, before and after [`GitHubApi::start`].
#[derive(Default)]
pub(crate) struct GitHubApi {
    state: State,
}

/// A running double; stops when dropped.
pub(crate) struct RunningGitHubApi {
    /// `http://127.0.0.1:PORT` (no trailing slash): the `--github-api-url`.
    pub(crate) url: String,
    state: Arc<State>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl GitHubApi {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Requests must carry `Authorization: Bearer <token>`; others get 401 `Bad credentials`.
    pub(crate) fn with_token(mut self, token: &str) -> Self {
        self.state.token = Some(token.to_owned());
        self
    }

    /// Answers `path` (no query) with `reply`.
    pub(crate) fn route(mut self, path: &str, reply: Reply) -> Self {
        self.state.routes.insert(path.to_owned(), reply);
        self
    }

    pub(crate) async fn start(self) -> RunningGitHubApi {
        let state = Arc::new(self.state);
        let (url, stop) = super::serve_router(|base| {
            let state = Arc::clone(&state);
            let base = base.to_owned();
            axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
                let state = Arc::clone(&state);
                let base = base.clone();
                async move {
                    if matches!(state.routes.get(uri.path()), Some(Reply::Never)) {
                        record(&state, &uri, &headers);
                        std::future::pending::<()>().await;
                    }
                    answer(&state, &base, &uri, &headers)
                }
            })
        })
        .await;
        RunningGitHubApi {
            url,
            state,
            _stop: stop,
        }
    }
}

impl RunningGitHubApi {
    /// Every request so far, in arrival order.
    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().expect("lock").clone()
    }

    /// The paths with queries of [`Self::recorded`].
    pub(crate) fn targets(&self) -> Vec<String> {
        self.recorded().into_iter().map(|r| r.target).collect()
    }
}

/// Records the request; returns its `Authorization`.
fn record(state: &State, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    state.recorded.lock().expect("lock").push(Recorded {
        target,
        authorization: authorization.clone(),
    });
    authorization
}

fn answer(state: &State, base: &str, uri: &Uri, headers: &HeaderMap) -> Response {
    let authorization = record(state, uri, headers);
    if let Some(token) = &state.token
        && authorization.as_deref() != Some(&format!("Bearer {token}"))
    {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    match state.routes.get(uri.path()) {
        None | Some(Reply::NotFound | Reply::Never) => error(StatusCode::NOT_FOUND, "Not Found"),
        Some(Reply::Json(value)) => axum::Json(value.clone()).into_response(),
        Some(Reply::File(text)) => {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(text);
            let lines: Vec<&str> = encoded
                .as_bytes()
                .chunks(60)
                .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
                .collect();
            axum::Json(json!({
                "type": "file", "name": "OWNERS", "path": "OWNERS",
                "encoding": "base64", "content": lines.join("\n") + "\n"
            }))
            .into_response()
        }
        Some(Reply::Pages(pages)) => page(base, uri, pages),
        Some(Reply::RateLimited) => {
            let reset = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_secs()
                + 250;
            let mut response = (
                StatusCode::FORBIDDEN,
                axum::Json(json!({
                    "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
                    "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
                })),
            )
                .into_response();
            let headers = response.headers_mut();
            headers.insert("X-RateLimit-Limit", HeaderValue::from_static("60"));
            headers.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
            headers.insert("X-RateLimit-Reset", HeaderValue::from(reset));
            response
        }
    }
}

/// Page `?page=N` of `pages`, with GitHub's `Link` header when more follow.
fn page(base: &str, uri: &Uri, pages: &[Value]) -> Response {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let number: usize = query
        .iter()
        .find(|(k, _)| k == "page")
        .map_or(1, |(_, v)| v.parse().expect("page is a number"));
    let Some(body) = pages.get(number - 1) else {
        return axum::Json(json!([])).into_response();
    };
    let mut response = axum::Json(body.clone()).into_response();
    if number < pages.len() {
        let link_to = |n: usize| {
            let mut query: Vec<(String, String)> =
                query.iter().filter(|(k, _)| k != "page").cloned().collect();
            query.push(("page".into(), n.to_string()));
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            format!("<{base}{}?{query}>", uri.path())
        };
        let link = format!(
            "{}; rel=\"next\", {}; rel=\"last\"",
            link_to(number + 1),
            link_to(pages.len())
        );
        response
            .headers_mut()
            .insert("Link", HeaderValue::from_str(&link).expect("header"));
    }
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest"
        })),
    )
        .into_response()
}
