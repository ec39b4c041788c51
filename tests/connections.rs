//! Connections that take without giving (issue 11, item 4): slow or idle
//! HTTP clients, sockets that never say hello, too many sockets, a form
//! body that trickles in, and the client address behind a proxy.

mod common;

use common::{answer_to, fast, status_of, upgrade_request, TestServer, WAIT};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes `tcp`; returns how long that took.
async fn closed_within(tcp: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut sink = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, tcp.read(&mut sink)).await {
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept the socket open"),
        }
    }
}

fn short_http_timeouts() -> chat::Config {
    chat::Config {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..fast()
    }
}

#[tokio::test]
async fn headers_that_never_end_and_idle_keep_alive_sockets_are_closed() {
    let server = TestServer::start(short_http_timeouts()).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut slow).await < Duration::from_secs(3));
    // A finished request on a keep-alive socket, then nothing.
    let (status, mut idle) = answer_to(
        server.addr,
        "GET /favicon.svg HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 "), "{status}");
    assert!(closed_within(&mut idle).await < Duration::from_secs(3));
    server.stop().await;
}

#[tokio::test]
async fn a_form_body_that_trickles_in_is_cut_off_and_shutdown_does_not_wait_for_it() {
    let server = TestServer::start(short_http_timeouts()).await;
    let (status, _tcp) = answer_to(
        server.addr,
        "POST / HTTP/1.1\r\nHost: localhost\r\nSec-Fetch-Site: same-origin\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 100\r\n\r\nname=ada&te",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 408 Request Timeout");
    // Another trickles while the server stops: the stop is bounded.
    let mut trickle = TcpStream::connect(server.addr).await.unwrap();
    trickle
        .write_all(b"POST / HTTP/1.1\r\nHost: localhost\r\nSec-Fetch-Site: same-origin\r\nContent-Length: 100\r\n\r\nna")
        .await
        .unwrap();
    let start = Instant::now();
    server.stop().await;
    assert!(start.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn a_socket_that_never_says_hello_is_closed_with_4003() {
    let server = TestServer::start(chat::Config {
        hello_timeout: Duration::from_millis(200),
        ..fast()
    })
    .await;
    let mut silent = common::RawClient::connect(server.addr).await;
    let mut refused = server.client().await;
    refused
        .expect_error(json!({"type": "hello", "name": " "}), "bad_name")
        .await;
    let (mut welcomed, _) = server.user("ada").await;
    let start = Instant::now();
    assert_eq!(silent.closed().await.0, 4003);
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(refused.closed().await.0, 4003);
    welcomed.alive().await;
    server.stop().await;
}

#[tokio::test]
async fn websockets_are_capped_in_all_and_per_address_with_a_reason() {
    let server = TestServer::start(chat::Config {
        max_connections: 3,
        max_connections_per_addr: 2,
        client_ip_header: Some("x-forwarded-for".parse().unwrap()),
        ..fast()
    })
    .await;
    let host = "localhost";
    let from = |ip: &str| format!("X-Forwarded-For: 198.51.100.9, {ip}\r\n");
    let (first, _a) = answer_to(server.addr, &upgrade_request(host, &from("192.0.2.1"))).await;
    let (second, _b) = answer_to(server.addr, &upgrade_request(host, &from("192.0.2.1"))).await;
    assert_eq!(first, "HTTP/1.1 101 Switching Protocols");
    assert_eq!(second, "HTTP/1.1 101 Switching Protocols");
    let third = status_of(server.addr, &upgrade_request(host, &from("192.0.2.1"))).await;
    assert_eq!(third, "HTTP/1.1 429 Too Many Requests");
    let (other, c) = answer_to(server.addr, &upgrade_request(host, &from("192.0.2.2"))).await;
    assert_eq!(other, "HTTP/1.1 101 Switching Protocols");
    let full = status_of(server.addr, &upgrade_request(host, &from("192.0.2.3"))).await;
    assert_eq!(full, "HTTP/1.1 503 Service Unavailable");
    // A place is given back when its socket closes.
    drop(c);
    let deadline = Instant::now() + WAIT;
    loop {
        let again = status_of(server.addr, &upgrade_request(host, &from("192.0.2.3"))).await;
        if again == "HTTP/1.1 101 Switching Protocols" {
            break;
        }
        assert!(Instant::now() < deadline, "the place came back: {again}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn the_client_address_header_is_ignored_unless_configured() {
    let server = TestServer::start(chat::Config {
        max_connections_per_addr: 1,
        ..fast()
    })
    .await;
    let spoof = |ip: &str| upgrade_request("localhost", &format!("X-Forwarded-For: {ip}\r\n"));
    let (first, _held) = answer_to(server.addr, &spoof("192.0.2.1")).await;
    assert_eq!(first, "HTTP/1.1 101 Switching Protocols");
    // Another claimed address, but the same peer: still one address.
    let second = status_of(server.addr, &spoof("192.0.2.2")).await;
    assert_eq!(second, "HTTP/1.1 429 Too Many Requests");
    server.stop().await;
}
