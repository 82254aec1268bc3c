//! The whole in-process event path per event, on the 25 KB `pull_request` fixture: github + cel
//! interceptors, three bindings, a PipelineRun template, the null creator.
//!
//! - `event_path/ours` and `event_path/upstream_like`: one trigger, ours against the same path
//!   compiled per request with the body re-serialised per interceptor (`support::upstream_like`).
//! - `triggers/{ours,upstream_like}/N`: one EventListener of N triggers, each with its own
//!   filter, one matching.
//! - `http_router/log_{info,warn}/N`: the same through the axum router and the real handler
//!   (triggers spawned as tasks), logging at `info` (the default) or `warn` into a sink,
//!   in-process with no socket.
//!
//! Every path runs on one core (a current-thread runtime). `cargo bench --bench event_path`.

#[allow(dead_code)] // each bench binary uses part of it
mod support;

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use eventlistener::event_listener::ListenerHandle;
use eventlistener::resources::{Creator, NullCreator};
use eventlistener::sink::{AppState, router};
use support::upstream_like;
use tower::ServiceExt as _;

const TRIGGER_COUNTS: [usize; 4] = [1, 10, 100, 1000];

fn event_path(c: &mut Criterion) {
    let delivery = support::delivery();
    let rt = support::runtime();
    let creator: Arc<dyn Creator> = Arc::new(NullCreator);
    let one = support::generate(1);
    assert_eq!(
        support::created(&rt.block_on(support::run_event(&one.listener, &creator, &delivery))),
        1
    );

    let mut group = c.benchmark_group("event_path");
    group.bench_function("ours", |b| {
        b.iter(|| {
            rt.block_on(support::run_event(
                &one.listener,
                &creator,
                black_box(&delivery),
            ))
        })
    });
    group.bench_function("upstream_like", |b| {
        b.iter(|| {
            rt.block_on(upstream_like::run_event(
                &one.specs,
                creator.as_ref(),
                black_box(&delivery),
            ))
        })
    });
    group.finish();
}

fn triggers(c: &mut Criterion) {
    let delivery = support::delivery();
    let rt = support::runtime();
    let creator: Arc<dyn Creator> = Arc::new(NullCreator);
    let mut group = c.benchmark_group("triggers");
    group.sample_size(20);
    for n in TRIGGER_COUNTS {
        let generated = support::generate(n);
        let outcomes = rt.block_on(support::run_event(&generated.listener, &creator, &delivery));
        assert_eq!(support::created(&outcomes), 1, "{n} triggers: one matches");
        let upstream = rt.block_on(upstream_like::run_event(
            &generated.specs,
            creator.as_ref(),
            &delivery,
        ));
        assert_eq!(
            upstream
                .iter()
                .filter(|o| matches!(o, upstream_like::Outcome::Created(1)))
                .count(),
            1
        );
        group.bench_with_input(BenchmarkId::new("ours", n), &generated, |b, g| {
            b.iter(|| {
                rt.block_on(support::run_event(
                    &g.listener,
                    &creator,
                    black_box(&delivery),
                ))
            })
        });
        // At 1,000 triggers one upstream-like event takes long enough that a few samples say it.
        if n == 1000 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("upstream_like", n), &generated, |b, g| {
            b.iter(|| {
                rt.block_on(upstream_like::run_event(
                    &g.specs,
                    creator.as_ref(),
                    black_box(&delivery),
                ))
            })
        });
    }
    group.finish();
}

fn http_router(c: &mut Criterion) {
    let delivery = support::delivery();
    let rt = support::runtime();
    let mut group = c.benchmark_group("http_router");
    group.sample_size(20);
    // `info` as the server logs by default (one line per trigger per event), `warn` to show what
    // those lines cost; written nowhere, so only the formatting is measured.
    for (level, n) in [("info", 1), ("info", 1000), ("warn", 1), ("warn", 1000)] {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(level))
            .with_writer(std::io::sink)
            .finish();
        let _logging = tracing::subscriber::set_default(subscriber);
        let generated = support::generate(n);
        let state = AppState::new(
            ListenerHandle::fixed(generated.listener),
            Arc::new(NullCreator) as Arc<dyn Creator>,
        );
        let app = router(state);
        let request = || {
            let mut builder = Request::post("/");
            for (k, v) in &delivery.headers {
                builder = builder.header(k, v);
            }
            builder
                .body(Body::from(delivery.body.clone()))
                .expect("request")
        };
        let status = rt
            .block_on(app.clone().oneshot(request()))
            .expect("infallible");
        assert_eq!(status.status(), 202);
        group.bench_function(BenchmarkId::new(format!("log_{level}"), n), |b| {
            b.iter(|| rt.block_on(app.clone().oneshot(black_box(request()))))
        });
    }
    group.finish();
}

criterion_group!(benches, event_path, triggers, http_router);
criterion_main!(benches);
