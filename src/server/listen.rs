//! The accept loop: HTTP/1.1 by hyper with its own timer, so that a client
//! that sends its headers too slowly, or keeps an idle keep-alive socket,
//! is cut off ([`Config::header_timeout`]); `axum::serve` runs hyper without
//! a timer and has neither. A form body that trickles in is cut by the
//! router's body timeout, and shutdown waits for requests a bounded time.
//!
//! Under TLS ([`super::tls`]) each connection's handshake comes first,
//! bounded by the same header timeout.
//!
//! HTTP connections are bounded too: at most [`HTTP_PLACES`] at once (page
//! loads, form posts, keep-alive sockets, upgrades in progress; a WebSocket
//! leaves this count once upgraded, and a fallback event stream once it
//! starts ([`HttpPlace::release`]): both are bounded by [`super::admission`]).
//! Past that the loop stops accepting until one closes, and new clients wait
//! in the kernel's backlog instead of taking the descriptors the server
//! needs.

use super::config::Config;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Most HTTP connections open at once (WebSockets not counted).
pub(crate) const HTTP_PLACES: usize = 4096;

/// The HTTP place of the connection a request came on (a request
/// extension): a route whose response lives as long as a connection (the
/// fallback's event stream) gives it back, since admission bounds those.
#[derive(Clone, Debug)]
pub(crate) struct HttpPlace(Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>>);

impl HttpPlace {
    /// Gives the place back now (the connection goes on without one; the
    /// response that does this closes the connection when it ends).
    pub(crate) fn release(&self) {
        self.0.lock().expect("place lock").take();
    }
}

/// Accepts and serves connections on `listener` until `stop` resolves;
/// then tells each open HTTP connection to finish its request and close,
/// and waits up to `grace` for them. Upgraded WebSockets are no longer
/// hyper's: the hub closes them.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    config: &Config,
    tls: Option<TlsAcceptor>,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let handshake_limit = config.header_timeout;
    let places = Arc::new(Semaphore::new(HTTP_PLACES));
    let (stopping, stopped) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        // Small frames go out at once (no Nagle) and are not held back
        // waiting for more to flush.
        .writev(true);
    let http = Arc::new(http);
    tokio::pin!(stop);
    loop {
        let place = tokio::select! {
            place = places.clone().acquire_owned() => place.expect("never closed"),
            () = &mut stop => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or memory: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Nagle's algorithm would hold small chat frames back by tens of ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
        let app = app.clone();
        let place = HttpPlace(Arc::new(std::sync::Mutex::new(Some(place))));
        let held = place.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(held.clone());
            app.clone().oneshot(request)
        });
        let (http, stopped, tls) = (http.clone(), stopped.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_one(tcp, &http, service, stopped).await,
                // The handshake is bounded like the headers that follow it.
                Some(tls) => match tokio::time::timeout(handshake_limit, tls.accept(tcp)).await {
                    Ok(Ok(stream)) => serve_one(stream, &http, service, stopped).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                },
            }
            drop(place);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    if tokio::time::timeout(grace, places.acquire_many(HTTP_PLACES as u32))
        .await
        .is_err()
    {
        tracing::warn!("some HTTP requests did not finish in time");
    }
}

/// Serves HTTP/1.1 (and its upgrades) on one connection until it closes;
/// once `stopped` turns true, the request in progress is finished (bounded
/// by the body timeout) and the connection closed.
async fn serve_one<I, S>(
    io: I,
    http: &hyper::server::conn::http1::Builder,
    service: S,
    mut stopped: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = async { drop(stopped.wait_for(|stop| *stop).await) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.as_mut().await;
        }
    }
}
