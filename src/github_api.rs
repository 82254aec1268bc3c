//! A small client of the GitHub REST API, as upstream's github interceptor uses it through
//! go-github v31 (reference §4.1, upstream `pkg/interceptors/github/github.go`): pull request
//! files, an organisation's public members, a repository's collaborators, file contents. Built on
//! [`crate::http_client`]; meant to be reused for other GitHub calls (hook deliveries).
//!
//! - **Base URL**: `https://api.github.com/` by default; `X-Github-Enterprise-Host: HOST` makes it
//!   `https://HOST/api/v3/` (go-github's `NewEnterpriseClient`); an [`Endpoint`] built with
//!   [`Endpoint::with_base_url`] (`serve --github-api-url`) replaces both, as upstream's test URL
//!   does, so a listener can also be pinned to one GitHub Enterprise server.
//! - **Token**: optional, sent as `Authorization: Bearer <token>` (go-github through oauth2).
//! - **Pagination**: [`Client::get_pages`] follows the `Link` header's `rel="next"` URL, which must
//!   stay on the base URL's scheme, host and port (the token is never sent elsewhere), up to
//!   [`MAX_PAGES`] pages. go-github rebuilds the next URL from its `page` parameter instead; for
//!   GitHub's own links the requests are the same.
//! - **Errors** ([`Error`]) print as go-github's: `GET <url>: 404 Not Found []`, and for a spent
//!   rate limit `GET <url>: 403 API rate limit exceeded for … [rate reset in 4m10s]`.
//! - **Deadlines**: every request is bounded by the client's timeout ([`DEFAULT_TIMEOUT`]), and
//!   all of a client's requests by [`Client::with_deadline`] when set (an interceptor's calls for
//!   one event, as upstream's 3 s context).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::http_client::{Answer, HttpClient};
use crate::secrets::SecretValue;

/// GitHub.com's API root (go-github's `defaultBaseURL`).
pub const DEFAULT_BASE_URL: &str = "https://api.github.com/";

/// Deadline of one request, and what upstream's interceptor server gives each interceptor
/// request as a whole (a 3 s context, `pkg/interceptors/server/server.go`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Pages [`Client::get_pages`] reads at most: GitHub lists at most 3,000 files of a pull
/// request, 30 pages of 100; upstream has no bound.
pub const MAX_PAGES: usize = 100;

/// go-github v31's `Accept` (`mediaTypeV3`).
const ACCEPT: &str = "application/vnd.github.v3+json";

/// GitHub refuses requests without a `User-Agent`.
const USER_AGENT: &str = concat!("eventlistener/", env!("CARGO_PKG_VERSION"));

/// Characters escaped in a path segment: all but RFC 3986's unreserved ones.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a GitHub API call gave no usable answer. Texts follow go-github's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The base URL is not an absolute `http` or `https` URL.
    #[error("GitHub API URL {url:?}: {reason}")]
    BaseUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built (no usable TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The token cannot be sent in a header (a control character, such as a trailing newline).
    #[error("the personal access token is not a valid HTTP header value")]
    Token,
    /// No answer: refused, reset, a TLS failure, or past the deadline.
    #[error("{method} {url}: {message}")]
    Transport {
        /// `GET` or `POST`.
        method: &'static str,
        /// The URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// A non-2xx answer (go-github's `ErrorResponse`).
    #[error("{method} {url}: {status} {message} {errors}")]
    Status {
        /// `GET` or `POST`.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The body's `message`.
        message: String,
        /// The body's `errors`, `[]` when none.
        errors: String,
    },
    /// 403 with `X-RateLimit-Remaining: 0` (go-github's `RateLimitError`).
    #[error("{method} {url}: {status} {message} {reset}")]
    RateLimited {
        /// `GET` or `POST`.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status code (403).
        status: u16,
        /// The body's `message`.
        message: String,
        /// `[rate reset in 4m10s]`, from `X-RateLimit-Reset`.
        reset: String,
        /// How long until the limit resets (zero when already past).
        retry_after: Duration,
    },
    /// 403 or 429 with `Retry-After`: GitHub's secondary rate limit (go-github's
    /// `AbuseRateLimitError`, whose text is that of any error answer).
    #[error("{method} {url}: {status} {message} []")]
    SecondaryRateLimited {
        /// `GET` or `POST`.
        method: &'static str,
        /// The URL.
        url: String,
        /// 403 or 429.
        status: u16,
        /// The body's `message`.
        message: String,
        /// `Retry-After`, in seconds.
        retry_after: Duration,
    },
    /// A 2xx answer whose body is not the JSON expected.
    #[error("{url}: {message}")]
    Decode {
        /// The URL.
        url: String,
        /// The parser's message.
        message: String,
    },
    /// The `Link` header's next page is on another origin than the base URL.
    #[error("{url}: the next page {next:?} is not under the GitHub API URL")]
    ForeignLink {
        /// The page whose header it was.
        url: String,
        /// The next URL given.
        next: String,
    },
    /// More than [`MAX_PAGES`] pages.
    #[error("{url}: more than {max} pages")]
    TooManyPages {
        /// The first page's URL.
        url: String,
        /// The bound.
        max: usize,
    },
    /// The calls for one event took longer than their deadline (Go's context text).
    #[error("context deadline exceeded (after {0:?})")]
    Deadline(Duration),
    /// File contents that cannot be read (go-github's `GetContent`), or what they say cannot
    /// be used.
    #[error("{0}")]
    Content(String),
}

impl Error {
    /// How long GitHub asks to wait before the next request, for a rate-limit answer.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. }
            | Error::SecondaryRateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The HTTP status of an answer that was an error, if that is what this is.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. }
            | Error::RateLimited { status, .. }
            | Error::SecondaryRateLimited { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An API root: absolute, ending in `/`, with its `scheme://authority` for origin checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    url: String,
    origin: String,
}

impl BaseUrl {
    /// Parses `url` (an absolute `http`/`https` URL; a `/` is added to its path if missing).
    ///
    /// # Errors
    /// [`Error::BaseUrl`] for anything else, or a URL with a query or fragment.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::BaseUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: hyper::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        let scheme = uri.scheme_str().ok_or_else(|| invalid("not absolute"))?;
        if scheme != "http" && scheme != "https" {
            return Err(invalid("the scheme must be http or https"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("user info is not allowed"));
        }
        if uri.query().is_some() || url.contains('#') {
            return Err(invalid("a query or fragment is not allowed"));
        }
        let origin = format!("{scheme}://{authority}");
        let mut path = uri.path().to_owned();
        if !path.ends_with('/') {
            path.push('/');
        }
        Ok(Self {
            url: format!("{origin}{path}"),
            origin,
        })
    }

    /// `https://HOST/api/v3/` for the `X-Github-Enterprise-Host` value `host`, as go-github's
    /// `NewEnterpriseClient` builds it (`api/v3/` is not added twice).
    ///
    /// # Errors
    /// [`Error::BaseUrl`] when `https://HOST` is not a URL.
    pub fn enterprise(host: &str) -> Result<Self, Error> {
        let base = Self::parse(&format!("https://{host}"))?;
        if base.url.ends_with("/api/v3/") {
            return Ok(base);
        }
        Ok(Self {
            url: format!("{}api/v3/", base.url),
            origin: base.origin,
        })
    }

    /// The URL, ending in `/`.
    pub fn as_str(&self) -> &str {
        &self.url
    }
}

/// Where the API is and the shared HTTP client: built once (in `serve`, `triggerrun`), cloned
/// into every interceptor that calls GitHub.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// `--github-api-url`: replaces the default and the enterprise header.
    fixed: Option<BaseUrl>,
    /// Built on first use (reading the system's roots), then shared.
    http: Arc<OnceLock<Result<HttpClient, String>>>,
}

impl Endpoint {
    /// Every call goes to `url` (tests, or one GitHub Enterprise server), whatever the
    /// `X-Github-Enterprise-Host` header says.
    ///
    /// # Errors
    /// [`Error::BaseUrl`] as [`BaseUrl::parse`].
    pub fn with_base_url(url: &str) -> Result<Self, Error> {
        Ok(Self {
            fixed: Some(BaseUrl::parse(url)?),
            ..Self::default()
        })
    }

    /// The fixed base URL, if one was given.
    pub fn fixed_base(&self) -> Option<&BaseUrl> {
        self.fixed.as_ref()
    }

    /// The API root for an event: the fixed one, else `https://HOST/api/v3/` for a non-empty
    /// `X-Github-Enterprise-Host`, else [`DEFAULT_BASE_URL`].
    ///
    /// # Errors
    /// [`Error::BaseUrl`] when the header does not make a URL.
    pub fn base_for(&self, enterprise_host: Option<&str>) -> Result<BaseUrl, Error> {
        match (&self.fixed, enterprise_host.filter(|h| !h.is_empty())) {
            (Some(fixed), _) => Ok(fixed.clone()),
            (None, Some(host)) => BaseUrl::enterprise(host),
            (None, None) => BaseUrl::parse(DEFAULT_BASE_URL),
        }
    }

    /// A client of `base`, sending `token` (none when `None` or empty).
    ///
    /// # Errors
    /// [`Error::Client`] when no HTTP client can be built, [`Error::Token`] for a token that
    /// cannot be a header.
    pub fn client(&self, base: BaseUrl, token: Option<&SecretValue>) -> Result<Client, Error> {
        let http = self
            .http
            .get_or_init(|| HttpClient::with_system_roots().map_err(|e| e.to_string()))
            .clone()
            .map_err(Error::Client)?;
        let authorization = match token.map(SecretValue::expose) {
            None | Some([]) => None,
            Some(token) => {
                let token = std::str::from_utf8(token).map_err(|_| Error::Token)?;
                let value = format!("Bearer {token}");
                hyper::header::HeaderValue::from_str(&value).map_err(|_| Error::Token)?;
                Some(SecretValue::new(value))
            }
        };
        Ok(Client {
            http,
            base,
            authorization,
            timeout: DEFAULT_TIMEOUT,
            deadline: None,
        })
    }
}

/// A client of one API root, with or without a token.
#[derive(Debug, Clone)]
pub struct Client {
    http: HttpClient,
    base: BaseUrl,
    /// `Bearer <token>`.
    authorization: Option<SecretValue>,
    timeout: Duration,
    /// When every request must be done by, and the total it was set from.
    deadline: Option<(Instant, Duration)>,
}

/// One page of a list ([`Client::get_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The page's items.
    pub items: Vec<T>,
    /// The next page's absolute URL, when there is one.
    pub next: Option<String>,
}

/// A `{"login": …}` user of a list.
#[derive(Deserialize)]
struct User {
    login: String,
}

/// A `{"filename": …}` entry of a pull request's files.
#[derive(Deserialize)]
struct PullRequestFile {
    filename: String,
}

/// GitHub's error body (go-github's `ErrorResponse`).
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// What a contents path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// A file, decoded.
    File(String),
    /// A directory.
    Directory,
}

impl Client {
    /// The same client, whose requests from now on must all be answered within `total`
    /// (past it: [`Error::Deadline`]).
    #[must_use]
    pub fn with_deadline(mut self, total: Duration) -> Self {
        self.deadline = Some((Instant::now() + total, total));
        self
    }

    /// The API root.
    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// `GET {base}{path}` (`path` relative, with its query), the answer decoded as JSON.
    ///
    /// # Errors
    /// [`Error::Transport`], [`Error::Status`], [`Error::RateLimited`], [`Error::Decode`].
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let url = format!("{}{path}", self.base.url);
        let answer = self.get(&url).await?;
        decode(&url, &answer)
    }

    /// Every page of the list at `{base}{path}`, following `Link: <…>; rel="next"`.
    ///
    /// # Errors
    /// As [`Self::get_json`], and [`Error::ForeignLink`], [`Error::TooManyPages`].
    pub async fn get_pages<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, Error> {
        let first = self.url(path);
        let mut url = first.clone();
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.get_page(&url).await?;
            all.extend(page.items);
            let Some(next) = page.next else {
                return Ok(all);
            };
            url = next;
        }
        Err(Error::TooManyPages {
            url: first,
            max: MAX_PAGES,
        })
    }

    /// The absolute URL of `path` (relative, with its query) under the API root.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.url)
    }

    /// One page of a list at `url` (from [`Self::url`], or the `next` of the page before),
    /// with the URL of the next page from `Link: <…>; rel="next"` (GitHub's page and cursor
    /// pagination alike).
    ///
    /// # Errors
    /// As [`Self::get_json`], and [`Error::ForeignLink`] for a next page that is not under
    /// the API root's origin (the token is never sent elsewhere).
    pub async fn get_page<T: DeserializeOwned>(&self, url: &str) -> Result<Page<T>, Error> {
        let answer = self.get(url).await?;
        let items: Vec<T> = decode(url, &answer)?;
        let links: Vec<&str> = answer
            .headers
            .get_all(hyper::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let joined = links.join(",");
        let Some(next) = next_link(&joined) else {
            return Ok(Page { items, next: None });
        };
        let next = if next.starts_with('/') {
            format!("{}{next}", self.base.origin)
        } else {
            next.to_owned()
        };
        if !next.starts_with(&format!("{}/", self.base.origin)) {
            return Err(Error::ForeignLink {
                url: url.to_owned(),
                next,
            });
        }
        Ok(Page {
            items,
            next: Some(next),
        })
    }

    /// `POST {base}{path}` with no body; the (2xx) status of the answer.
    ///
    /// # Errors
    /// [`Error::Transport`], [`Error::Status`], [`Error::RateLimited`],
    /// [`Error::SecondaryRateLimited`].
    pub async fn post(&self, path: &str) -> Result<u16, Error> {
        let answer = self.send("POST", &self.url(path)).await?;
        Ok(answer.status.as_u16())
    }

    /// The file names of pull request `number` of `owner/repo`, every page of 100
    /// (`GET repos/{owner}/{repo}/pulls/{number}/files?per_page=100`).
    ///
    /// # Errors
    /// As [`Self::get_pages`].
    pub async fn pull_request_files(
        &self,
        owner: &str,
        repo: &str,
        number: i64,
    ) -> Result<Vec<String>, Error> {
        let path = format!(
            "repos/{}/{}/pulls/{number}/files?per_page=100",
            segment(owner),
            segment(repo)
        );
        let files: Vec<PullRequestFile> = self.get_pages(&path).await?;
        Ok(files.into_iter().map(|f| f.filename).collect())
    }

    /// The logins on the first page of `org`'s public members (`GET orgs/{org}/public_members`,
    /// as upstream reads them).
    ///
    /// # Errors
    /// As [`Self::get_json`].
    pub async fn org_public_members(&self, org: &str) -> Result<Vec<String>, Error> {
        let users: Vec<User> = self
            .get_json(&format!("orgs/{}/public_members", segment(org)))
            .await?;
        Ok(users.into_iter().map(|u| u.login).collect())
    }

    /// The logins on the first page of `owner/repo`'s collaborators
    /// (`GET repos/{owner}/{repo}/collaborators`, as upstream reads them).
    ///
    /// # Errors
    /// As [`Self::get_json`].
    pub async fn repo_collaborators(&self, owner: &str, repo: &str) -> Result<Vec<String>, Error> {
        let users: Vec<User> = self
            .get_json(&format!(
                "repos/{}/{}/collaborators",
                segment(owner),
                segment(repo)
            ))
            .await?;
        Ok(users.into_iter().map(|u| u.login).collect())
    }

    /// What `path` (one segment, e.g. `OWNERS`) of `owner/repo`'s default branch holds
    /// (`GET repos/{owner}/{repo}/contents/{path}`), the file decoded as go-github's
    /// `GetContent` does (`base64`, line breaks ignored, or no encoding).
    ///
    /// # Errors
    /// As [`Self::get_json`]; [`Error::Content`] for another encoding or bad base64.
    pub async fn contents(&self, owner: &str, repo: &str, path: &str) -> Result<Contents, Error> {
        let value: serde_json::Value = self
            .get_json(&format!(
                "repos/{}/{}/contents/{}",
                segment(owner),
                segment(repo),
                segment(path)
            ))
            .await?;
        if value.is_array() {
            return Ok(Contents::Directory);
        }
        let content = value["content"].as_str().unwrap_or_default();
        match value["encoding"].as_str() {
            None | Some("") => Ok(Contents::File(content.to_owned())),
            Some("base64") => {
                use base64::Engine as _;
                let compact: String = content
                    .chars()
                    .filter(|c| !matches!(c, '\r' | '\n'))
                    .collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map_err(|e| Error::Content(e.to_string()))?;
                Ok(Contents::File(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Some(other) => Err(Error::Content(format!(
                "unsupported content encoding: {other}"
            ))),
        }
    }

    /// `GET url`: a 2xx answer, else the error go-github makes of it.
    async fn get(&self, url: &str) -> Result<Answer, Error> {
        self.send("GET", url).await
    }

    /// `method url` (`GET`, or `POST` with no body): a 2xx answer, else the error go-github
    /// makes of it.
    async fn send(&self, method: &'static str, url: &str) -> Result<Answer, Error> {
        let authorization = self
            .authorization
            .as_ref()
            .map(|a| std::str::from_utf8(a.expose()).map_err(|_| Error::Token))
            .transpose()?;
        let mut headers = vec![("Accept", ACCEPT), ("User-Agent", USER_AGENT)];
        if let Some(authorization) = authorization {
            headers.push(("Authorization", authorization));
        }
        // The request's own timeout, or what is left of the deadline when that is shorter.
        let (limit, deadline) = match self.deadline {
            Some((at, total)) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Deadline(total));
                }
                (
                    left.min(self.timeout),
                    (left <= self.timeout).then_some(total),
                )
            }
            None => (self.timeout, None),
        };
        let sent = if method == "POST" {
            self.http
                .post(url, &headers, bytes::Bytes::new(), limit)
                .await
        } else {
            self.http.get(url, &headers, limit).await
        };
        let answer = match sent {
            Ok(answer) => answer,
            Err(crate::http_client::Error::Timeout(_)) if deadline.is_some() => {
                return Err(Error::Deadline(deadline.unwrap_or(limit)));
            }
            Err(e) => {
                return Err(Error::Transport {
                    method,
                    url: url.to_owned(),
                    message: e.to_string(),
                });
            }
        };
        if answer.status.is_success() {
            return Ok(answer);
        }
        let body: ErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        let status = answer.status.as_u16();
        if status == 403
            && header("X-RateLimit-Remaining") == "0"
            && body.message.starts_with("API rate limit exceeded for ")
        {
            let reset = header("X-RateLimit-Reset").parse::<i64>().unwrap_or(0);
            let left = reset - unix_now();
            return Err(Error::RateLimited {
                method,
                url: url.to_owned(),
                status,
                message: body.message,
                reset: format_rate_reset(left),
                retry_after: Duration::from_secs(u64::try_from(left).unwrap_or(0)),
            });
        }
        if let (403 | 429, Ok(seconds)) = (status, header("Retry-After").parse::<u64>()) {
            return Err(Error::SecondaryRateLimited {
                method,
                url: url.to_owned(),
                status,
                message: body.message,
                retry_after: Duration::from_secs(seconds),
            });
        }
        Err(Error::Status {
            method,
            url: url.to_owned(),
            status,
            message: body.message,
            errors: if body.errors.is_empty() {
                "[]".to_owned()
            } else {
                serde_json::Value::Array(body.errors).to_string()
            },
        })
    }
}

fn decode<T: DeserializeOwned>(url: &str, answer: &Answer) -> Result<T, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
        url: url.to_owned(),
        message: e.to_string(),
    })
}

/// `value` escaped as one path segment.
fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// go-github's `formatRateReset`: `[rate reset in 4m10s]`, `[rate reset in 9s]`, or
/// `[rate limit was reset 3s ago]` for a reset time already past.
pub fn format_rate_reset(seconds: i64) -> String {
    let total = seconds.unsigned_abs();
    let (minutes, seconds_left) = (total / 60, total % 60);
    let time = if minutes > 0 {
        format!("{minutes}m{seconds_left:02}s")
    } else {
        format!("{seconds_left}s")
    };
    if seconds < 0 {
        format!("[rate limit was reset {time} ago]")
    } else {
        format!("[rate reset in {time}]")
    }
}

/// The target of the `rel="next"` link of a `Link` header value (RFC 8288: comma-separated
/// `<URI>; param=value` entries; `rel` may list several space-separated types, matched without
/// regard to case).
pub fn next_link(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        // Params run to the next entry's `<` (a `<` cannot appear in a param).
        let params_end = after.find('<').unwrap_or(after.len());
        // …less the comma that separates it from the next entry.
        let params = after[..params_end].trim_end_matches(|c: char| c == ',' || c.is_whitespace());
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target);
        }
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_finds_the_next_page_among_others() {
        let header = r#"<https://api.github.com/repositories/1/pulls/2/files?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/pulls/2/files?per_page=100&page=3>; rel="last""#;
        assert_eq!(
            next_link(header),
            Some("https://api.github.com/repositories/1/pulls/2/files?per_page=100&page=2")
        );
        let last_page = r#"<https://x/a?page=1>; rel="prev", <https://x/a?page=1>; rel="first""#;
        assert_eq!(next_link(last_page), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage, <unclosed"), None);
    }

    #[test]
    fn next_link_reads_rel_in_any_position_case_and_list() {
        assert_eq!(
            next_link("<https://x/b>; title=\"n\"; REL=next"),
            Some("https://x/b")
        );
        assert_eq!(
            next_link(
                r#"<https://x/a>; rel="prev first", <https://x/c?cursor=v1,2>; rel="last next""#
            ),
            Some("https://x/c?cursor=v1,2")
        );
        assert_eq!(next_link(r#"<https://x/a>; rel="nextpage""#), None);
    }

    #[test]
    fn base_urls_are_normalised_as_go_github_does() {
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            BaseUrl::enterprise("ghe.example.com").unwrap().as_str(),
            "https://ghe.example.com/api/v3/"
        );
        assert_eq!(
            BaseUrl::enterprise("ghe.example.com/api/v3")
                .unwrap()
                .as_str(),
            "https://ghe.example.com/api/v3/"
        );
        for bad in [
            "ftp://x/",
            "/relative",
            "http://u:p@x/",
            "http://x/?a=1",
            "not a url",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_fixed_base_wins_over_the_enterprise_header_and_the_default() {
        let default = Endpoint::default();
        assert_eq!(default.base_for(None).unwrap().as_str(), DEFAULT_BASE_URL);
        assert_eq!(
            default.base_for(Some("")).unwrap().as_str(),
            DEFAULT_BASE_URL
        );
        assert_eq!(
            default.base_for(Some("ghe.local")).unwrap().as_str(),
            "https://ghe.local/api/v3/"
        );
        let fixed = Endpoint::with_base_url("http://127.0.0.1:9/api").unwrap();
        assert_eq!(
            fixed.base_for(Some("ghe.local")).unwrap().as_str(),
            "http://127.0.0.1:9/api/"
        );
    }

    #[test]
    fn rate_reset_prints_as_go_github() {
        assert_eq!(format_rate_reset(250), "[rate reset in 4m10s]");
        assert_eq!(format_rate_reset(9), "[rate reset in 9s]");
        assert_eq!(format_rate_reset(-3), "[rate limit was reset 3s ago]");
    }

    /// A server on 127.0.0.1 answering every request with a one-item page and `link`.
    async fn serve_page(link: &'static str) -> String {
        let app = axum::Router::new().fallback(move || async move {
            (
                [(hyper::header::LINK, link)],
                axum::Json(serde_json::json!([{"login": "a"}])),
            )
        });
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", tcp.local_addr().unwrap());
        tokio::spawn(axum::serve(tcp, app).into_future());
        url
    }

    #[tokio::test]
    async fn a_next_page_on_another_host_is_refused_and_pages_are_bounded() {
        let url = serve_page("<http://other.invalid/users?page=2>; rel=\"next\"").await;
        let endpoint = Endpoint::with_base_url(&url).unwrap();
        let token = SecretValue::new("t0ken");
        let client = endpoint
            .client(endpoint.base_for(None).unwrap(), Some(&token))
            .unwrap();
        let err = client
            .get_pages::<serde_json::Value>("users")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::ForeignLink { next, .. } if next == "http://other.invalid/users?page=2"),
            "{err}"
        );
        // A server whose next page is always itself: stopped after MAX_PAGES.
        let url = serve_page("</users?page=2>; rel=\"next\"").await;
        let endpoint = Endpoint::with_base_url(&url).unwrap();
        let client = endpoint
            .client(endpoint.base_for(None).unwrap(), None)
            .unwrap();
        let err = client
            .get_pages::<serde_json::Value>("users")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::TooManyPages {
                url: format!("{url}users"),
                max: MAX_PAGES
            }
        );
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("Hello-World.v2_~"), "Hello-World.v2_~");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
    }
}
