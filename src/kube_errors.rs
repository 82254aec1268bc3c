//! How to read a failed Kubernetes API call: shared by everything that talks to the API (the
//! kube sink's retries, the Secret store's outage fallback).

/// True for failures that say the API server is away or overloaded, not that the request is
/// wrong: 429, 5xx, timeouts and connection-level failures. A later attempt may succeed.
pub fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::HttpError(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttling_server_errors_and_transport_failures_are_transient() {
        let status = |code: u16| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..kube::core::Status::default()
            }))
        };
        assert!(is_transient(&status(429)));
        assert!(is_transient(&status(503)));
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!is_transient(&status(code)), "{code}");
        }
        assert!(is_transient(&kube::Error::Service("timeout".into())));
    }
}
