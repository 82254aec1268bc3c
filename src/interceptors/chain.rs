//! Running a trigger's interceptors in order (reference §3.2, upstream `ExecuteInterceptors`):
//! extensions accumulate (top-level keys overwrite, later interceptors win), the first `Stop`
//! ends the chain and its extensions are dropped. A legacy webhook's answer replaces the body
//! and headers that later interceptors and the bindings read ([`Decision::Replace`]); without
//! one the event is read as received, with nothing copied.

use std::sync::Arc;

use super::{Decision, Error, Interceptor, InterceptorRequest, SharedEvent, StopReason};
use crate::event::Extensions;

/// How a chain ended.
#[derive(Debug, Clone)]
pub enum ChainOutcome {
    /// Every interceptor said continue.
    Continue {
        /// The merged extensions.
        extensions: Extensions,
        /// The event as the last legacy webhook answered it (body and headers replaced);
        /// `None`: as received.
        replaced: Option<Arc<SharedEvent>>,
    },
    /// An interceptor stopped the trigger.
    Stopped {
        /// Position of the interceptor in the chain.
        index: usize,
        /// Its name.
        interceptor: String,
        /// Why.
        reason: StopReason,
        /// Its message.
        message: String,
    },
}

/// Runs `chain` for `event`, starting from `extensions`.
///
/// # Errors
/// The first interceptor [`Error`], with the interceptor's position and name.
pub async fn run_chain(
    chain: &[Arc<dyn Interceptor>],
    event: &SharedEvent,
    extensions: Extensions,
) -> Result<ChainOutcome, (usize, String, Error)> {
    run_chain_observed(chain, event, extensions, |_, _| {}).await
}

/// [`run_chain`], calling `observe(interceptor name, decision)` after each interceptor decides
/// (for `triggerrun --explain`).
///
/// # Errors
/// As [`run_chain`].
pub async fn run_chain_observed(
    chain: &[Arc<dyn Interceptor>],
    event: &SharedEvent,
    mut extensions: Extensions,
    mut observe: impl FnMut(&str, &Decision) + Send,
) -> Result<ChainOutcome, (usize, String, Error)> {
    let mut replaced: Option<Arc<SharedEvent>> = None;
    for (index, interceptor) in chain.iter().enumerate() {
        let current = replaced.as_deref().unwrap_or(event);
        let request = InterceptorRequest {
            event: current,
            extensions: &extensions,
        };
        let decision = interceptor.process(request).await;
        if !std::ptr::eq(current, event) && current.authenticated() {
            // A signature checked on a replaced body counts for the event's answer.
            event.mark_authenticated();
        }
        if let Ok(decision) = &decision {
            observe(interceptor.name(), decision);
        }
        match decision {
            Ok(Decision::Continue { extensions: added }) => extensions.extend(added),
            Ok(Decision::Replace { body, headers }) => {
                let next = current.replaced(headers, body);
                replaced = Some(Arc::new(next));
            }
            Ok(Decision::Stop { reason, message }) => {
                return Ok(ChainOutcome::Stopped {
                    index,
                    interceptor: interceptor.name().to_owned(),
                    reason,
                    message,
                });
            }
            Err(e) => return Err((index, interceptor.name().to_owned(), e)),
        }
    }
    Ok(ChainOutcome::Continue {
        extensions,
        replaced,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event::{Event, Headers};
    use crate::interceptors::BoxFuture;

    #[derive(Debug)]
    struct Fixed(Decision);

    impl Interceptor for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn process<'a>(
            &'a self,
            request: InterceptorRequest<'a>,
        ) -> BoxFuture<'a, Result<Decision, Error>> {
            // Echo what was seen, so the test can check accumulation order.
            let mut d = self.0.clone();
            if let Decision::Continue { extensions } = &mut d {
                extensions.insert("seen".into(), json!(request.extensions.len()));
            }
            Box::pin(async move { Ok(d) })
        }
    }

    fn shared() -> SharedEvent {
        SharedEvent::new(Arc::new(Event::new(
            "id",
            "/",
            Headers::new(),
            b"{}",
            json!({}),
        )))
    }

    fn cont(key: &str, v: serde_json::Value) -> Arc<dyn Interceptor> {
        let mut e = Extensions::new();
        e.insert(key.into(), v);
        Arc::new(Fixed(Decision::Continue { extensions: e }))
    }

    #[tokio::test]
    async fn extensions_accumulate_and_later_interceptors_win() {
        let chain = vec![
            cont("a", json!(1)),
            cont("a", json!(2)),
            cont("b", json!(3)),
        ];
        let out = run_chain(&chain, &shared(), Extensions::new())
            .await
            .unwrap();
        let ChainOutcome::Continue {
            extensions: ext, ..
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(ext["a"], 2);
        assert_eq!(ext["b"], 3);
        assert_eq!(ext["seen"], 2, "third interceptor saw a and seen");
    }

    #[test]
    fn the_cel_form_of_an_event_is_built_once_and_shared() {
        let event = shared();
        let first: *const crate::cel::EventData = event.cel();
        assert!(std::ptr::eq(first, event.cel()));
        let headers = event.event().headers();
        assert!(std::ptr::eq(headers.binding_json(), headers.binding_json()));
    }

    /// Answers as a legacy webhook does: this body and an `X-New` header.
    #[derive(Debug)]
    struct Replacing;

    impl Interceptor for Replacing {
        fn name(&self) -> &str {
            "replacing"
        }
        fn process<'a>(
            &'a self,
            _request: InterceptorRequest<'a>,
        ) -> BoxFuture<'a, Result<Decision, Error>> {
            let headers: Headers = [("x-new", "yes")].into_iter().collect();
            Box::pin(async move {
                Ok(Decision::Replace {
                    body: bytes::Bytes::from_static(b"{\"new\": true}"),
                    headers,
                })
            })
        }
    }

    /// Records the body and `X-New` header it sees, and accepts the event as authentic.
    #[derive(Debug)]
    struct Reading;

    impl Interceptor for Reading {
        fn name(&self) -> &str {
            "reading"
        }
        fn process<'a>(
            &'a self,
            request: InterceptorRequest<'a>,
        ) -> BoxFuture<'a, Result<Decision, Error>> {
            let event = request.event;
            event.mark_authenticated();
            let mut extensions = Extensions::new();
            extensions.insert(
                "body".into(),
                json!(String::from_utf8_lossy(event.event().raw_body())),
            );
            extensions.insert("x_new".into(), json!(event.event().headers().get("X-New")));
            Box::pin(async move { Ok(Decision::Continue { extensions }) })
        }
    }

    #[tokio::test]
    async fn a_replaced_body_and_headers_are_what_later_interceptors_and_the_caller_read() {
        let original = shared();
        let untouched = run_chain(
            &[Arc::new(Reading) as Arc<dyn Interceptor>],
            &original,
            Extensions::new(),
        )
        .await
        .unwrap();
        assert!(
            matches!(&untouched, ChainOutcome::Continue { replaced: None, .. }),
            "no webhook, no copy: {untouched:?}"
        );

        let event = shared();
        let chain: Vec<Arc<dyn Interceptor>> = vec![Arc::new(Replacing), Arc::new(Reading)];
        let out = run_chain(&chain, &event, Extensions::new()).await.unwrap();
        let ChainOutcome::Continue {
            extensions,
            replaced: Some(replaced),
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(extensions["body"], "{\"new\": true}");
        assert_eq!(extensions["x_new"], "yes");
        assert_eq!(replaced.binding_body(true), Ok(&json!({"new": true})));
        assert_eq!(replaced.event().event_id(), "id", "same event");
        assert_eq!(
            event.event().raw_body(),
            b"{}",
            "the received event is unchanged"
        );
        assert!(
            event.authenticated(),
            "a check passed on the replaced event counts for the event"
        );
    }

    #[tokio::test]
    async fn first_stop_ends_the_chain() {
        let chain = vec![
            cont("a", json!(1)),
            Arc::new(Fixed(Decision::stop(StopReason::Filtered, "no"))) as Arc<dyn Interceptor>,
            cont("never", json!(1)),
        ];
        let out = run_chain(&chain, &shared(), Extensions::new())
            .await
            .unwrap();
        assert!(
            matches!(
                &out,
                ChainOutcome::Stopped { index: 1, interceptor, reason: StopReason::Filtered, message }
                    if interceptor == "fixed" && message == "no"
            ),
            "{out:?}"
        );
    }
}
