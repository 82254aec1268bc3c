//! A TCP relay in front of the test API server whose link can be cut, as if the API server had
//! stopped: while cut, every relayed connection is closed and every new one is closed as soon as
//! it is accepted; restored, it relays again. TLS passes through untouched (the serving
//! certificate names 127.0.0.1, so clients verify it through the relay too).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running relay; stops with the test's runtime.
pub(crate) struct Relay {
    /// `https://127.0.0.1:PORT`, to use instead of the API server's URL.
    pub(crate) url: String,
    cut: watch::Sender<bool>,
}

impl Relay {
    /// Relays 127.0.0.1:0 to `target`.
    pub(crate) async fn start(target: SocketAddr) -> Relay {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let url = format!("https://{}", tcp.local_addr().expect("relay address"));
        let (cut, _) = watch::channel(false);
        let links = cut.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = tcp.accept().await {
                if *links.borrow() {
                    drop(client);
                    continue;
                }
                tokio::spawn(relay(client, target, links.clone()));
            }
        });
        Relay { url, cut }
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
