//! HTTPS and `wss://` served directly (`CHAT_TLS_CERT`, `CHAT_TLS_KEY`), with
//! a certificate made for the test (rcgen).

mod common;

use common::{fast, TestServer, WAIT};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore};
use tokio_rustls::{client::TlsStream, TlsConnector};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A server over TLS with a fresh self-signed certificate for `localhost`,
/// and a connector that trusts it.
async fn tls_server(dir: &std::path::Path) -> (TestServer, TlsConnector) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let server = TestServer::start(chat::Config {
        tls: Some(chat::server::config::TlsFiles { cert, key }),
        ..fast()
    })
    .await;
    let mut roots = RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (server, TlsConnector::from(Arc::new(client)))
}

async fn tls_connect(server: &TestServer, tls: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    tls.connect(name, tcp).await.expect("a TLS handshake")
}

/// A `wss://` client with `Origin: origin`; the status when refused.
async fn wss(
    server: &TestServer,
    tls: &TlsConnector,
    origin: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let port = server.addr.port();
    let mut request = format!("wss://localhost:{port}/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    let stream = tls_connect(server, tls).await;
    tokio_tungstenite::client_async(request, stream)
        .await
        .map(|(ws, _)| ws)
}

async fn next_of_type(
    ws: &mut tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>>,
    ty: &str,
) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
        if let Some(Ok(Message::Text(t))) = frame {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == ty {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn a_chat_runs_over_tls_with_secure_cookies_and_an_https_origin() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tls) = tls_server(dir.path()).await;
    let port = server.addr.port();
    let origin = format!("https://localhost:{port}");

    let mut ada = wss(&server, &tls, &origin).await.expect("wss upgrade");
    let mut bob = wss(&server, &tls, &origin).await.expect("wss upgrade");
    for (ws, name) in [(&mut ada, "ada"), (&mut bob, "bob")] {
        let hello = json!({"type": "hello", "name": name}).to_string();
        ws.send(Message::text(hello)).await.unwrap();
        next_of_type(ws, "welcome").await;
        let join = json!({"type": "join", "room": "general"}).to_string();
        ws.send(Message::text(join)).await.unwrap();
        next_of_type(ws, "joined").await;
    }
    let send = json!({"type": "send", "room": "general", "text": "over tls"});
    ada.send(Message::text(send.to_string())).await.unwrap();
    assert_eq!(next_of_type(&mut bob, "message").await["text"], "over tls");

    // The plain-HTTP origin of the same host is another origin now.
    let plain = wss(&server, &tls, &format!("http://localhost:{port}")).await;
    assert!(plain.is_err(), "an http:// origin is refused under TLS");

    // The page over HTTPS sets its identity cookie Secure.
    let mut page = tls_connect(&server, &tls).await;
    let ask = format!("GET / HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
    page.write_all(ask.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = page.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    let cookie = answer
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: __host-chat_id=")
        })
        .expect("an identity cookie, __Host- under HTTPS");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let hsts = answer.lines().find(|l| {
        l.to_ascii_lowercase()
            .starts_with("strict-transport-security:")
    });
    assert_eq!(hsts, Some("strict-transport-security: max-age=31536000"));

    // Plain HTTP on the TLS port gets no page.
    let plain = common::raw_http(
        server.addr,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(!plain.contains("<html"), "{plain}");
    server.stop().await;
}

#[tokio::test]
async fn a_missing_or_unreadable_certificate_stops_the_server_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = fast();
    config.store.data_dir = dir.path().join("data");
    config.tls = Some(chat::server::config::TlsFiles {
        cert: dir.path().join("missing.pem"),
        key: dir.path().join("missing-key.pem"),
    });
    let options = leptos::prelude::LeptosOptions::builder()
        .output_name("chat")
        .build();
    let err = chat::serve(listener, config, options, std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CHAT_TLS_CERT"), "{err}");
    assert!(err.to_string().contains("missing.pem"), "{err}");
}
