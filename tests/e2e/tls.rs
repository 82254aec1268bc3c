//! HTTPS on the sink (issue 13, item 4): `--tls-cert`/`--tls-key` (upstream's TLS_CERT/TLS_KEY)
//! serve HTTPS with a generated certificate; replacing the files puts the new certificate in
//! service without a restart; one flag without the other refuses to start.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{SERVE_CONFIG, TIMEOUT, run_binary, spawn_serve};

/// A self-signed certificate for 127.0.0.1: (certificate DER, certificate PEM, key PEM).
fn certificate() -> (CertificateDer<'static>, String, String) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    (
        generated.cert.der().clone(),
        generated.cert.pem(),
        generated.signing_key.serialize_pem(),
    )
}

/// Writes `pem` to `path` as the kubelet updates a mounted Secret: a new file moved over it.
fn replace(path: &Path, pem: &str) {
    let new = path.with_extension("new");
    std::fs::write(&new, pem).unwrap();
    std::fs::rename(&new, path).unwrap();
}

/// `GET /live` over HTTPS trusting `roots`: the status line and the certificate served.
async fn get_live(
    addr: std::net::SocketAddr,
    roots: &[CertificateDer<'static>],
) -> (String, CertificateDer<'static>) {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::IpAddress(addr.ip().into());
    let mut tls = tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake");
    let served = tls.get_ref().1.peer_certificates().expect("a certificate")[0].clone();
    tls.write_all(b"GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, tls.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    (answer.lines().next().unwrap_or_default().to_owned(), served)
}

#[tokio::test]
async fn serves_https_and_a_replaced_certificate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let (first, first_pem, first_key) = certificate();
    std::fs::write(&cert_path, &first_pem).unwrap();
    std::fs::write(&key_path, &first_key).unwrap();
    let (cert, key) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let mut server = spawn_serve(
        &[&SERVE_CONFIG[..], &["--tls-cert", cert, "--tls-key", key]].concat(),
        &[],
    )
    .await;
    let (status, served) = get_live(server.addr, std::slice::from_ref(&first)).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(served, first);

    // Rotated in place, key first as a rotation may be seen half-done: the new one is served.
    let (second, second_pem, second_key) = certificate();
    replace(&key_path, &second_key);
    replace(&cert_path, &second_pem);
    let roots = [first.clone(), second.clone()];
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (status, served) = get_live(server.addr, &roots).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        if served == second {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.sigterm();
    let log = server.rest_of_log().await;
    assert!(log.contains("TLS certificate reloaded"), "{log}");
}

#[tokio::test]
async fn a_certificate_without_its_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.crt");
    let (_, pem, _) = certificate();
    std::fs::write(&cert, pem).unwrap();
    let output = run_binary(&[
        "serve",
        "-f",
        "config/",
        "--address",
        "127.0.0.1:0",
        "--metrics-address",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
    ])
    .await;
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains("--tls-cert and --tls-key (TLS_CERT, TLS_KEY) go together"),
        "{}",
        output.stderr
    );
}
