//! Raw HTTP request files, the format upstream's local tools read (`cmd/*/cmd/root.go`
//! readHTTP, reference §9): a request line (`POST /foo HTTP/1.1`), header lines, a blank line,
//! then the body.
//!
//! Like upstream, the file's `Content-Length` is not trusted: with a body, it is replaced by the
//! body's length (the body is what follows the blank line), so a missing or wrong length is
//! tolerated and `header['Content-Length']` reads as upstream's tools read it; with no body the
//! file's header is kept as written. Unlike upstream, which splits at the first
//! `\n\n` even when the head uses `\r\n`, the head ends at whichever of `\n\n` and `\r\n\r\n`
//! comes first, so a CRLF file whose body holds a blank line still parses.

use crate::event::{Event, Headers, new_event_id};

/// Errors reading a request file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The file has no blank line ending the head.
    #[error("no blank line between the request head and the body")]
    NoBody,
    /// The first line is not `METHOD TARGET [VERSION]`.
    #[error("invalid request line {0:?}: want METHOD TARGET HTTP/1.1")]
    RequestLine(String),
    /// A header line has no `:`.
    #[error("invalid header line {0:?}: want Name: value")]
    Header(String),
    /// The head is not UTF-8.
    #[error("the request head is not UTF-8")]
    NotUtf8,
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    Body(String),
}

/// A parsed request file.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRequest {
    /// Request method.
    pub method: String,
    /// Request target (path and query), the event's `requestURL`.
    pub target: String,
    /// Headers; `Content-Length` is the body's length when there is a body.
    pub headers: Headers,
    /// The body bytes, exactly as in the file.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// Parses the file's bytes.
    ///
    /// # Errors
    /// [`Error`] for a missing blank line, a bad request line or header line, or a head that is
    /// not UTF-8.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let lf = find(bytes, b"\n\n").map(|i| (i, 2));
        let crlf = find(bytes, b"\r\n\r\n").map(|i| (i, 4));
        let (end, separator) = match (lf, crlf) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return Err(Error::NoBody),
        };
        let head = std::str::from_utf8(&bytes[..end]).map_err(|_| Error::NotUtf8)?;
        let body = bytes[end + separator..].to_vec();
        let mut lines = head.lines().map(|l| l.trim_end_matches('\r'));
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return Err(Error::RequestLine(request_line.to_owned()));
        };
        let mut headers = Headers::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| Error::Header(line.to_owned()))?;
            let name = name.trim();
            let recomputed = name.eq_ignore_ascii_case("content-length") && !body.is_empty();
            if recomputed || name.eq_ignore_ascii_case("host") {
                continue;
            }
            headers.append(name, value.trim());
        }
        if !body.is_empty() {
            headers.append("Content-Length", body.len().to_string());
        }
        Ok(Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body,
        })
    }

    /// The request as an event with a new eventID. An empty (or blank) body is `null`, as in the
    /// sink.
    ///
    /// # Errors
    /// [`Error::Body`] when the body is not JSON.
    pub fn into_event(self) -> Result<Event, Error> {
        let body = if self.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&self.body).map_err(|e| Error::Body(e.to_string()))?
        };
        Ok(Event::new(
            new_event_id(),
            self.target,
            self.headers,
            self.body,
            body,
        ))
    }
}

impl RawRequest {
    /// The request as an event with a new eventID, its body taken as it is: for an
    /// EventListener annotated `tekton.dev/payload-validation: "false"`, as the sink takes it
    /// ([`Event::from_unvalidated_body`]).
    pub fn into_unvalidated_event(self) -> Event {
        Event::from_unvalidated_body(new_event_id(), self.target, self.headers, self.body.into())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_body_the_files_content_length_is_kept_and_without_either_there_is_none() {
        let r = RawRequest::parse(b"POST / HTTP/1.1\nContent-Length: 0\n\n").unwrap();
        assert_eq!(r.headers.get("content-length"), Some("0"));
        let r = RawRequest::parse(b"POST / HTTP/1.1\nX-A: b\n\n").unwrap();
        assert_eq!(r.headers.get("content-length"), None);
    }

    #[test]
    fn head_and_body_split_at_the_blank_line() {
        let r = RawRequest::parse(
            b"POST /foo?x=1 HTTP/1.1\nContent-Type: application/json\nX-GitHub-Event: push\nContent-Length: 999\n\n{\"a\":\n\n1}",
        )
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/foo?x=1");
        assert_eq!(r.headers.get("x-github-event"), Some("push"));
        assert_eq!(
            r.headers.get("content-length"),
            Some("9"),
            "the body's length, not the file's 999"
        );
        assert_eq!(r.body, b"{\"a\":\n\n1}");
        let event = r.into_event().unwrap();
        assert_eq!(event.body()["a"], 1);
        assert_eq!(event.request_url(), "/foo?x=1");
    }

    #[test]
    fn without_validation_a_form_body_is_taken_as_sent() {
        let file = b"POST /slack HTTP/1.1\nContent-Type: application/x-www-form-urlencoded\n\ntext=94070&command=%2Fweather";
        let r = RawRequest::parse(file).unwrap();
        assert!(matches!(r.clone().into_event(), Err(Error::Body(_))));
        let event = r.into_unvalidated_event();
        assert_eq!(event.raw_body(), b"text=94070&command=%2Fweather");
        assert!(event.json_error().is_some());
        assert_eq!(event.request_url(), "/slack");
    }

    #[test]
    fn crlf_head_with_a_blank_line_in_the_body() {
        let r = RawRequest::parse(b"POST / HTTP/1.1\r\nX-A: b\r\n\r\n{\"t\":\"x\\n\"}\n\nmore")
            .unwrap();
        assert_eq!(r.headers.get("X-A"), Some("b"));
        assert_eq!(r.body, b"{\"t\":\"x\\n\"}\n\nmore");
    }

    #[test]
    fn empty_body_is_null_and_bad_files_say_why() {
        let event = RawRequest::parse(b"GET / HTTP/1.1\n\n")
            .unwrap()
            .into_event()
            .unwrap();
        assert!(event.body().is_null());
        assert_eq!(RawRequest::parse(b"POST / HTTP/1.1\n"), Err(Error::NoBody));
        assert!(matches!(
            RawRequest::parse(b"POST\n\n{}"),
            Err(Error::RequestLine(_))
        ));
        assert!(matches!(
            RawRequest::parse(b"POST / HTTP/1.1\nnocolon\n\n{}"),
            Err(Error::Header(_))
        ));
        assert!(matches!(
            RawRequest::parse(b"POST / HTTP/1.1\n\n{bad")
                .unwrap()
                .into_event(),
            Err(Error::Body(_))
        ));
    }

    #[test]
    fn fixture_files_parse_and_keep_the_signed_bytes() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/http/pull_request.opened.http"
        );
        let r = RawRequest::parse(&std::fs::read(path).unwrap()).unwrap();
        let signature = r.headers.get("X-Hub-Signature-256").unwrap().to_owned();
        assert_eq!(
            crate::interceptors::signature::verify(
                b"chespirito-dev-webhook-secret",
                &r.body,
                &signature
            ),
            Ok(())
        );
    }
}
