//! Each step of the event path alone, on the 25 KB `pull_request` fixture: signature
//! verification, JSON parse, the body converted for CEL, CEL compile and evaluate, binding
//! resolution, template render, and creation into the null creator. `BENCHMARKS.md` has the
//! numbers; `cargo bench --bench components`.

#[allow(dead_code)] // each bench binary uses part of it
mod support;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventlistener::binding::EventDocument;
use eventlistener::cel::{EventData, Program, Vars};
use eventlistener::event::Extensions;
use eventlistener::event::{check_body, parse_body};
use eventlistener::interceptors::SharedEvent;
use eventlistener::interceptors::signature::verify;
use eventlistener::resources::{CreateContext, Creator, NullCreator, Resource};

fn components(c: &mut Criterion) {
    let delivery = support::delivery();
    let signature = delivery
        .headers
        .iter()
        .find(|(k, _)| k == "X-Hub-Signature-256")
        .map(|(_, v)| v.clone())
        .expect("signed");
    let body_len = delivery.body.len() as u64;

    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Bytes(body_len));
    group.bench_function("hmac_sha256_verify", |b| {
        b.iter(|| {
            verify(
                support::SECRET.as_bytes(),
                black_box(&delivery.body),
                &signature,
            )
        })
    });
    group.bench_function("json_parse", |b| {
        b.iter(|| parse_body(black_box(&delivery.body)))
    });
    // What the sink does before any signature check: one validating scan, no tree.
    group.bench_function("json_check", |b| {
        b.iter(|| check_body(black_box(&delivery.body)))
    });
    group.bench_function("hmac_and_json_parse", |b| {
        b.iter(|| {
            verify(
                support::SECRET.as_bytes(),
                black_box(&delivery.body),
                &signature,
            )
            .expect("valid");
            parse_body(black_box(&delivery.body))
        })
    });
    group.finish();

    let generated = support::generate(1);
    let trigger = Arc::clone(&generated.listener.triggers[0]);
    let spec = &generated.specs[0];
    let event = Arc::new(support::receive(&delivery));
    let data = EventData::new(&event);
    let filter = Program::compile(&spec.filter).expect("compiles");
    let no_extensions = Extensions::new();
    let vars = Vars {
        event: &data,
        extensions: &no_extensions,
        secrets: None,
    };
    assert!(filter.evaluate_filter(&vars).expect("evaluates"));

    let mut group = c.benchmark_group("event");
    group.bench_function("receive", |b| {
        b.iter(|| support::receive(black_box(&delivery)))
    });
    // The sink's one scan before any signature check (against `floor/json_check`): validating,
    // and noting where the parts the listener reads lie.
    let body_paths = Arc::clone(&generated.listener.body_paths);
    group.bench_function("locate", |b| {
        b.iter(|| body_paths.locate(black_box(&delivery.body)))
    });
    group.finish();

    let mut group = c.benchmark_group("cel");
    group.bench_function("event_data_whole_body", |b| {
        b.iter(|| EventData::new(black_box(&event)))
    });
    let reads = &generated.listener.cel_reads;
    group.bench_function("event_data_paths_read", |b| {
        b.iter(|| EventData::for_reads(black_box(&event), event.body(), reads))
    });
    group.bench_function("compile_filter", |b| {
        b.iter(|| Program::compile(black_box(&spec.filter)))
    });
    group.bench_function("evaluate_filter", |b| {
        b.iter(|| filter.evaluate_filter(black_box(&vars)))
    });
    group.finish();

    let shared = SharedEvent::new(Arc::clone(&event));
    let document = EventDocument {
        body: event.body(),
        header: shared.event().headers(),
        extensions: &no_extensions,
        event_id: event.event_id(),
    };
    let mut group = c.benchmark_group("binding");
    group.bench_function("resolve_3_bindings_5_params", |b| {
        b.iter(|| {
            trigger
                .params
                .iter()
                .map(|(name, param)| {
                    let value = param
                        .render(black_box(&document), trigger.template.default_of(name))
                        .expect("resolves");
                    (name.clone(), value)
                })
                .collect::<Vec<_>>()
        })
    });
    group.finish();

    let values: Vec<(String, String)> = trigger
        .params
        .iter()
        .map(|(name, param)| {
            let value = param
                .render(&document, trigger.template.default_of(name))
                .expect("resolves");
            (name.clone(), value)
        })
        .collect();
    let uid = eventlistener::event::new_event_id();
    let mut group = c.benchmark_group("template");
    group.bench_function("render_pipelinerun", |b| {
        b.iter(|| trigger.template.render(black_box(&values), &uid))
    });
    group.finish();

    let object = trigger.template.render(&values, &uid)[0].clone();
    let ctx = CreateContext {
        event_listener: "bench-el",
        event_id: event.event_id(),
        trigger: &trigger.name,
        namespace: "default",
        service_account: None,
        idempotency: None,
        index: 0,
    };
    let rt = support::runtime();
    let creator = NullCreator;
    let mut group = c.benchmark_group("resources");
    group.bench_function("prepare_and_null_create", |b| {
        b.iter(|| {
            let resource = Resource::prepare(black_box(object.clone()), &ctx).expect("valid");
            rt.block_on(creator.create(resource)).expect("created")
        })
    });
    group.finish();
}

criterion_group!(benches, components);
criterion_main!(benches);
