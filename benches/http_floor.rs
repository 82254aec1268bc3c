//! The transport floor for `benches/load.sh` (BENCHMARKS.md, issue 14): an HTTP/1 server on
//! the same stack as the listener's sink (tokio's multi-thread runtime, hyper's HTTP/1
//! connection per task, keep-alive) that does nothing but read each POST body to its end and
//! answer `202` with a JSON answer of the listener's size. What it costs per event over loopback
//! is what any listener over TCP pays before it looks at a single byte; the listener's server CPU
//! minus this is what is ours.
//!
//! ```text
//! http_floor serve [-f IGNORED] [--sink IGNORED] --address 127.0.0.1:PORT [--metrics-address IGNORED]
//! ```
//!
//! Takes the listener's `serve` arguments so that `SERVER=target/release/examples/http_floor
//! benches/load.sh` runs the same phases against it; `GET /ready` answers 200.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use eventlistener::event::check_body;
use eventlistener::interceptors::signature::verify;

/// With `HTTP_FLOOR_SECRET` set, each event also does the floor's work (the listener's own
/// HMAC-SHA256 check against `X-Hub-Signature-256` and validating scan): 403 when it fails.
fn floor_work() -> Option<&'static str> {
    static SECRET: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SECRET
        .get_or_init(|| std::env::var("HTTP_FLOOR_SECRET").ok())
        .as_deref()
}

const ANSWER: &str = r#"{"eventListener":"github-listener","namespace":"default","eventListenerUID":"","eventID":"4a0d1e55-7a51-4d2c-9a8e-7a2f2c2b8e11"}"#;

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = if request.method() == hyper::Method::GET {
        StatusCode::OK
    } else {
        let signature = request
            .headers()
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match request.into_body().collect().await {
            Ok(body) => {
                let body = body.to_bytes();
                match (floor_work(), signature) {
                    (Some(secret), Some(signature)) => {
                        let valid = verify(secret.as_bytes(), &body, &signature).is_ok()
                            && check_body(&body).is_ok();
                        if valid {
                            StatusCode::ACCEPTED
                        } else {
                            StatusCode::FORBIDDEN
                        }
                    }
                    _ => {
                        std::hint::black_box(body);
                        StatusCode::ACCEPTED
                    }
                }
            }
            Err(_) => StatusCode::BAD_REQUEST,
        }
    };
    let mut response = Response::new(Full::new(Bytes::from_static(ANSWER.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let address = args
        .windows(2)
        .find(|pair| pair[0] == "--address")
        .map(|pair| pair[1].clone())
        .ok_or_else(|| anyhow::anyhow!("usage: http_floor serve --address HOST:PORT"))?;
    let listener = tokio::net::TcpListener::bind(&address).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(answer);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
