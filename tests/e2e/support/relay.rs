//! A TCP relay in front of a test server (the test API server, or a listener) whose link can be
//! cut, as if the server had stopped: while cut, every relayed connection is closed and every new
//! one is closed as soon as it is accepted; restored, it relays again. TLS passes through
//! untouched (the serving certificate names 127.0.0.1, so clients verify it through the relay
//! too). It counts the connections it accepts, so a test can tell whether a client kept one
//! alive.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running relay; stops with the test's runtime.
pub(crate) struct Relay {
    /// `https://127.0.0.1:PORT`, to use instead of the API server's URL.
    pub(crate) url: String,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    cut: watch::Sender<bool>,
    accepted: Arc<AtomicUsize>,
}

impl Relay {
    /// Relays 127.0.0.1:0 to `target`.
    pub(crate) async fn start(target: SocketAddr) -> Relay {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = tcp.local_addr().expect("relay address");
        let url = format!("https://{addr}");
        let (cut, _) = watch::channel(false);
        let links = cut.subscribe();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((client, _)) = tcp.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                if *links.borrow() {
                    drop(client);
                    continue;
                }
                tokio::spawn(relay(client, target, links.clone()));
            }
        });
        Relay {
            url,
            addr,
            cut,
            accepted,
        }
    }

    /// How many connections it has accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Closes every relayed connection and refuses new ones, until [`Relay::restore`].
    pub(crate) fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Relays again.
    pub(crate) fn restore(&self) {
        self.cut.send_replace(false);
    }
}

async fn relay(mut client: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
