//! Helpers shared by the integration tests: a real server on an ephemeral
//! port with its own data directory, and WebSocket clients.
#![allow(dead_code)]

use chat::{App, Config};
use futures::{SinkExt, StreamExt};
use leptos::prelude::LeptosOptions;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    /// The operations listener (`/healthz`, `/metrics`).
    pub ops_addr: SocketAddr,
    /// The data directory.
    pub data_dir: std::path::PathBuf,
    /// The server's routes, to call without a socket (`oneshot`).
    pub router: axum::Router,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    /// With `CHAT_TEST_BACKEND=postgres`: the cluster the server stores in
    /// (kept under the data directory, so a restart finds it again).
    /// Declared before `_data`: fields drop in order, and the cluster must
    /// stop before its directory goes.
    _pg: Option<pg::PgCluster>,
    /// The data directory, removed when the server is dropped.
    _data: Option<tempfile::TempDir>,
}

/// True when the tests run against PostgreSQL (`CHAT_TEST_BACKEND=postgres`,
/// `make test`'s second pass) instead of SQLite.
pub fn on_postgres() -> bool {
    std::env::var("CHAT_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// Asks `addr` with `ask` until the answer starts with `status`, for at
/// most 10 s (a health result is reused for a second; this waits that out).
pub async fn http_until(addr: SocketAddr, ask: &str, status: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer = raw_http(addr, ask).await;
        if answer.starts_with(status) {
            return answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {status}: {answer}"
        );
        tokio::task::yield_now().await;
    }
}

impl TestServer {
    /// A server with a fresh temporary data directory.
    pub async fn start(config: Config) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let mut server = TestServer::start_in(config, data.path()).await;
        server._data = Some(data);
        server
    }

    /// A server over the data directory `dir` (which outlives it).
    pub async fn start_in(mut config: Config, dir: &std::path::Path) -> TestServer {
        config.store.data_dir = dir.to_owned();
        config.store.sync = chat::SyncMode::Normal;
        let pg = on_postgres().then(|| pg::PgCluster::in_dir(&dir.join("pg")));
        if let Some(cluster) = &pg {
            config.store.database_url = Some(cluster.url.clone());
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ops = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ops_addr = ops.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let options = LeptosOptions::builder().output_name("chat").build();
        let app = App::new(config, options).expect("the store opens");
        let router = app.router();
        let task = tokio::spawn(app.serve(listener, Some(ops), async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            ops_addr,
            data_dir: dir.to_owned(),
            router,
            stop: Some(stop),
            task,
            _data: None,
            _pg: pg,
        }
    }

    /// The PostgreSQL database the server stores in (`CHAT_TEST_BACKEND=postgres`).
    pub fn database_url(&self) -> Option<&str> {
        self._pg.as_ref().map(|pg| pg.url.as_str())
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// A client that said hello as `name`; returns it and its `welcome`.
    pub async fn user(&self, name: &str) -> (Client, Value) {
        let mut c = self.client().await;
        c.send(json!({"type": "hello", "name": name})).await;
        let welcome = c.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        (c, welcome)
    }

    /// A client that said hello and joined `room`.
    pub async fn member(&self, name: &str, room: &str) -> Client {
        let (mut c, _) = self.user(name).await;
        c.join(room).await;
        c
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("server stops in time")
            .unwrap()
            .unwrap();
    }
}

pub fn fast() -> Config {
    Config {
        rate_per_sec: 100_000.0,
        rate_burst: 100_000.0,
        identity_burst: 100_000.0,
        request_rate_per_sec: 100_000.0,
        request_burst: 100_000.0,
        search_rate_per_sec: 100_000.0,
        search_burst: 100_000.0,
        new_rooms_per_min: 100_000.0,
        upload_burst: 100_000.0,
        upload_addr_burst: 100_000.0,
        ..Config::default()
    }
}

/// True when the suites' clients speak the fallback transport
/// (`CHAT_TEST_TRANSPORT=live`, `make test`'s third pass) instead of the
/// WebSocket: the same protocol cases, over Server-Sent Events and POSTs.
pub fn on_live() -> bool {
    std::env::var("CHAT_TEST_TRANSPORT").as_deref() == Ok("live")
}

/// A client of the protocol, over either transport.
pub struct Client {
    conn: Conn,
}

impl Drop for Client {
    /// A fallback client that goes away says so, as a page does (a
    /// WebSocket's socket closing says it by itself).
    fn drop(&mut self) {
        if let Conn::Live(c) = &self.conn {
            let (addr, path) = (
                c.addr,
                format!("/live?session={}&seq={}&end=1", c.session, c.seq),
            );
            let origin = format!("http://{addr}");
            tokio::spawn(async move {
                live::request(addr, "POST", &path, &[("Origin", &origin)], b"").await;
            });
        }
    }
}

/// How a [`Client`] reaches the server.
#[allow(clippy::large_enum_variant)] // one per client, never moved in bulk
pub enum Conn {
    Ws(WebSocketStream<MaybeTlsStream<TcpStream>>),
    Live(Box<live::LiveClient>),
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        if on_live() {
            return Client::live(live::LiveClient::open(addr).await);
        }
        Client::ws_only(addr).await
    }

    /// A WebSocket client, whichever transport the suite runs on.
    pub async fn ws_only(addr: SocketAddr) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("upgrade");
        Client { conn: Conn::Ws(ws) }
    }

    /// A client over a fallback session already open.
    pub fn live(c: live::LiveClient) -> Client {
        Client {
            conn: Conn::Live(Box::new(c)),
        }
    }

    /// The WebSocket (tests of the WebSocket itself).
    pub fn ws(&mut self) -> &mut WebSocketStream<MaybeTlsStream<TcpStream>> {
        match &mut self.conn {
            Conn::Ws(ws) => ws,
            Conn::Live(_) => panic!("a WebSocket-only test runs on the fallback"),
        }
    }

    /// The fallback session (tests of the fallback itself).
    pub fn fallback(&mut self) -> &mut live::LiveClient {
        match &mut self.conn {
            Conn::Live(c) => c,
            Conn::Ws(_) => panic!("not a fallback client"),
        }
    }

    /// Connects with extra request headers (a `Cookie`, say); returns the
    /// client and the `Set-Cookie` values of the 101 response.
    pub async fn connect_with(addr: SocketAddr, headers: &[(&str, &str)]) -> (Client, Vec<String>) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        if on_live() {
            let c = live::LiveClient::open_with(addr, headers)
                .await
                .expect("a session");
            let cookies = c.cookies.clone();
            return (Client::live(c), cookies);
        }
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        for (name, value) in headers {
            let name = axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            request.headers_mut().append(name, value.parse().unwrap());
        }
        let (ws, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("upgrade");
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        (Client { conn: Conn::Ws(ws) }, cookies)
    }

    pub async fn send(&mut self, frame: Value) {
        if let Conn::Live(c) = &mut self.conn {
            c.post(&[frame]).await;
            return;
        }
        self.ws()
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
    }

    /// Sends a message as it is (on the fallback: a text message is one
    /// POST of that text).
    pub async fn send_raw(&mut self, message: Message) {
        if let Conn::Live(c) = &mut self.conn {
            let Message::Text(text) = message else {
                panic!("the fallback carries text frames only: {message:?}");
            };
            let (status, _) = c.post_raw(c.seq, text.as_bytes(), &[]).await;
            c.seq += 1;
            assert!(matches!(status, 204 | 413), "{status}");
            return;
        }
        self.ws().send(message).await.unwrap();
    }

    /// The next JSON frame (pings and pongs skipped).
    pub async fn recv(&mut self) -> Value {
        if let Conn::Live(c) = &mut self.conn {
            return match c.next().await {
                Some(live::Event::Frame(v)) => v,
                other => panic!("expected a frame, got {other:?}"),
            };
        }
        loop {
            let next = tokio::time::timeout(WAIT, self.ws().next())
                .await
                .expect("a frame in time")
                .expect("stream open")
                .expect("no error");
            match next {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The next frame of type `ty`, skipping others (presence, typing…).
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        loop {
            let v = self.recv().await;
            if v["type"] == ty {
                return v;
            }
        }
    }

    /// Asserts nothing arrives for a little while.
    /// Nothing arrives for 200 ms; a connection that closed or broke is
    /// not silence.
    pub async fn quiet(&mut self) {
        if let Conn::Live(c) = &mut self.conn {
            match c.next_within(Duration::from_millis(200)).await {
                None => return,
                Some(other) => panic!("expected silence, got {other:?}"),
            }
        }
        match tokio::time::timeout(Duration::from_millis(200), self.ws().next()).await {
            Err(_) => {}
            Ok(Some(Ok(m))) => panic!("expected silence, got {m:?}"),
            Ok(Some(Err(e))) => panic!("expected silence, the connection failed: {e}"),
            Ok(None) => panic!("expected silence, the connection closed"),
        }
    }

    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room})).await;
        let v = self.recv_type("joined").await;
        assert_eq!(v["room"], room);
        v
    }

    pub async fn error(&mut self, frame: Value) -> Value {
        self.send(frame).await;
        let v = self.recv_type("error").await;
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        v
    }

    pub async fn expect_error(&mut self, frame: Value, code: &str) {
        let v = self.error(frame.clone()).await;
        assert_eq!(v["code"], code, "{frame} → {v}");
    }

    /// Reads until the server's close frame; returns its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        if let Conn::Live(c) = &mut self.conn {
            loop {
                match c.next().await {
                    Some(live::Event::Close(code, reason)) => return (code, reason),
                    Some(live::Event::Frame(_)) => {}
                    None => panic!("the stream ended without a close event"),
                }
            }
        }
        loop {
            let next = tokio::time::timeout(WAIT, self.ws().next())
                .await
                .expect("close in time");
            match next {
                Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                    return (u16::from(code), reason.to_string())
                }
                Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("error before close: {e}"),
            }
        }
    }

    /// Posts `m1` … `m{n}` to `room` and waits for the n echoes.
    pub async fn post_numbered(&mut self, room: &str, n: usize) {
        for i in 1..=n {
            self.send(json!({"type": "send", "room": room, "text": format!("m{i}")}))
                .await;
        }
        for _ in 1..=n {
            self.recv_type("message").await;
        }
    }

    /// Pages back through `room` with `history` (100 a page) from the newest
    /// message to the first; returns the pages, newest page first.
    pub async fn history_pages(&mut self, room: &str) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut before: Option<u64> = None;
        loop {
            let mut req = json!({"type": "history", "room": room, "limit": 100});
            if let Some(b) = before {
                req["before"] = json!(b);
            }
            self.send(req).await;
            let page = self.recv_type("history").await["messages"]
                .as_array()
                .unwrap()
                .clone();
            if page.is_empty() {
                return pages;
            }
            // A server that ignored `before` would send this page forever.
            if let Some(b) = before {
                assert!(
                    page.iter().all(|m| m["id"].as_u64().unwrap() < b),
                    "history before {b} returned {page:?}"
                );
            }
            before = page[0]["id"].as_u64();
            pages.push(page);
        }
    }

    /// Sends a ping and waits for the pong: the connection is alive and in order.
    /// A client of the server at `addr` (a process of its own) that said
    /// hello as `name` and joined `room`.
    pub async fn member_at(addr: SocketAddr, name: &str, room: &str) -> Client {
        let mut c = Client::connect(addr).await;
        c.send(json!({"type": "hello", "name": name})).await;
        c.recv_type("welcome").await;
        c.join(room).await;
        c
    }

    /// Waits until this member is told `name` left `room` (its connection
    /// is gone, and the server has let it go), skipping other frames.
    pub async fn sees_leave(&mut self, room: &str, name: &str) {
        let left = json!({"type": "presence", "room": room, "user": name, "state": "left"});
        loop {
            if self.recv_type("presence").await == left {
                return;
            }
        }
    }

    pub async fn alive(&mut self) {
        self.send(json!({"type": "ping"})).await;
        self.recv_type("pong").await;
    }
}

/// The first `error` or `ty` frame `c` gets after sending `frame` (others
/// skipped).
pub async fn answer(c: &mut Client, frame: Value, ty: &str) -> Value {
    c.send(frame).await;
    loop {
        let v = c.recv().await;
        if v["type"] == "error" || v["type"] == ty {
            return v;
        }
    }
}

pub fn ids(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

/// A wire-level WebSocket client that never answers pings: a dead peer.
/// (tokio-tungstenite answers pings whenever it reads, so it cannot play one.)
pub struct RawClient {
    pub tcp: TcpStream,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        assert!(head.starts_with(b"HTTP/1.1 101"));
        RawClient { tcp }
    }

    /// Sends one masked text frame.
    pub async fn send(&mut self, frame: Value) {
        use tokio::io::AsyncWriteExt;
        let bytes = chat::wsframe::masked_text(frame.to_string().as_bytes());
        self.tcp.write_all(&bytes).await.unwrap();
    }

    /// Reads frames until the close frame; returns its code and the pings seen.
    pub async fn closed(&mut self) -> (u16, usize) {
        let mut pings = 0;
        loop {
            let (first, payload) = server_frame(&mut self.tcp).await;
            match first & 0x0f {
                0x8 => return (u16::from_be_bytes([payload[0], payload[1]]), pings),
                0x9 => pings += 1,
                _ => {}
            }
        }
    }
}

/// One server frame off `tcp`: its first byte (FIN, RSV, opcode) and its
/// payload (server frames are unmasked).
pub async fn server_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).await.expect("a frame before EOF");
    assert_eq!(head[1] & 0x80, 0, "server frames are unmasked");
    let len = match head[1] & 0x7f {
        126 => tcp.read_u16().await.unwrap() as usize,
        127 => tcp.read_u64().await.unwrap() as usize,
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).await.unwrap();
    (head[0], payload)
}

/// A loopback address with a port free right now.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The real server binary, run as a child process on a free port.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `chat --data-dir dir` and waits until it accepts connections.
    pub async fn spawn(dir: &std::path::Path, env: &[(&str, &str)]) -> ServerProcess {
        let addr = free_addr();
        let mut child = ServerProcess::command(dir, addr)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the server binary starts");
        let deadline = tokio::time::Instant::now() + WAIT;
        // Until it listens (it binds before it opens its store: a test that
        // needs the store open waits for a WebSocket answer too); a child
        // that exits first fails the test here.
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the server exited before it listened: {status}");
            }
            if TcpStream::connect(addr).await.is_ok() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server listens in time"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ServerProcess { child, addr }
    }

    /// The command that starts `chat --data-dir dir` on `addr`.
    pub fn command(dir: &std::path::Path, addr: SocketAddr) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_chat"));
        command
            .arg("--data-dir")
            .arg(dir)
            .env("LEPTOS_SITE_ADDR", addr.to_string())
            .env("LEPTOS_OUTPUT_NAME", "chat")
            // Tests run side by side: an operations port of its own.
            .env("CHAT_OPS_ADDR", "127.0.0.1:0");
        command
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a raw HTTP/1.1 request (it should say `Connection: close`) and
/// returns the whole response as text.
pub async fn raw_http(addr: SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut response))
        .await
        .expect("a response in time")
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// A WebSocket upgrade request as a browser on a page of `host` sends it
/// (`Origin: http://{host}`), with `extra` header lines ("Name: value\r\n").
pub fn upgrade_request(host: &str, extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// Sends `request` on a new connection and returns the status line of the
/// answer and the connection (still open, the rest of the answer unread).
pub async fn answer_to(addr: SocketAddr, request: &str) -> (String, TcpStream) {
    use tokio::io::AsyncWriteExt;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut tcp, &mut byte))
            .await
            .expect("an answer in time")
            .unwrap();
        assert_eq!(n, 1, "the connection closed before a status line");
        line.push(byte[0]);
    }
    (String::from_utf8_lossy(&line).trim_end().to_owned(), tcp)
}

/// The status line of the answer to `request` on a new connection.
pub async fn status_of(addr: SocketAddr, request: &str) -> String {
    answer_to(addr, request).await.0
}
pub mod accounts;
pub mod files;
pub mod http;
pub mod live;
pub mod pg;

/// A socket signed in with `cookie` on `server`, once welcomed: the node
/// may hear of an account made on another a moment after the sign-in
/// (`unavailable` until then), so this asks again until it is welcomed.
pub async fn signed_socket(server: &TestServer, cookie: &str) -> (Client, Value) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (mut c, _) = Client::connect_with(server.addr, &[("Cookie", cookie)]).await;
        c.send(json!({"type": "hello"})).await;
        let answer = c.recv().await;
        if answer["type"] == "welcome" {
            return (c, answer);
        }
        assert_eq!(answer["code"], "unavailable", "{answer}");
        assert!(tokio::time::Instant::now() < deadline, "never welcomed");
        tokio::task::yield_now().await;
    }
}

/// *1.2*: `chat admin ARGS` against `server`, `stdin` given; (status, stdout, stderr).
pub async fn admin_cli(server: &TestServer, args: &[&str], stdin: &str) -> (i32, String, String) {
    let (dir, ops) = (server.data_dir.clone(), server.ops_addr.to_string());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.to_owned();
    // The command blocks (a plain TcpStream): off the test's runtime.
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat"))
            .arg("admin")
            .arg("--data-dir")
            .arg(&dir)
            .arg("--ops-addr")
            .arg(&ops)
            .args(&args)
            .env_remove("CHAT_DATA_DIR")
            .env_remove("CHAT_OPS_ADDR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}
