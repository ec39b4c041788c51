//! *1.2*: the browser's way to the hub where WebSocket is blocked: server
//! frames over an `EventSource` on `/live`, client frames over `fetch`
//! POSTs (the server's wire: `server::live`). The driver
//! ([`super::socket`]) chooses it; this file only moves frames.
//!
//! A connection here is one task, as a WebSocket's is: it takes the page's
//! frames from the same queue and hands the server's back through
//! `received`. The stream that drops is resumed once, after the last event
//! received (`last=`), so nothing is lost or doubled; a POST that fails is
//! sent again with the same number, which the server applies once. When
//! the session cannot go on, the task ends and the driver reconnects as
//! after a closed WebSocket (`join` with `after` fills the gap).

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::future::{select, Either, LocalBoxFuture};
use futures::{FutureExt, StreamExt};
use js_sys::futures::JsFuture;
use leptos::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, MessageEvent};

/// How long a POST that failed waits before it goes again (ms).
const POST_RETRY_MS: u64 = 1_000;

/// Frames in one POST at most: three of the largest fit the server's
/// 64 KiB bound.
const MAX_PER_POST: usize = 3;

/// What woke a connection's task.
enum Step {
    /// The page queued a frame (`None`: it replaced this connection).
    Queued(Option<String>),
    /// The event source said something.
    Said(Option<Said>),
    /// The POST on its way was answered (`None`: it did not arrive).
    Answered(Option<u16>),
}

/// What the event source said.
enum Said {
    /// The stream is open (the answer was 200).
    Open,
    /// The session's id (a new session's first event).
    Session(String),
    /// A server frame and its event id.
    Frame(String, u64),
    /// The server closed the session, with a WebSocket close code.
    Close(u16),
    /// The stream failed or ended.
    Failed,
}

/// How one kind of event becomes what the task is told (`None`: nothing).
type Reads = dyn Fn(&EventSource, MessageEvent) -> Option<Said>;

/// An open `EventSource` and its listeners; closed when dropped.
struct Source {
    /// The browser's object.
    source: EventSource,
    /// The listeners, kept alive as long as it is.
    _listeners: Vec<Closure<dyn FnMut(MessageEvent)>>,
}

impl Source {
    /// Opens `url`, telling `said` what happens. The browser's own
    /// reconnection is never used: it would open a new session.
    fn open(url: &str, said: UnboundedSender<Said>) -> Option<Source> {
        let source = EventSource::new(url).ok()?;
        let mut listeners = Vec::new();
        let mut on = |event: &str, f: Box<Reads>| {
            let (tx, es) = (said.clone(), source.clone());
            let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                if let Some(s) = f(&es, e) {
                    let _ = tx.unbounded_send(s);
                }
            });
            let _ =
                source.add_event_listener_with_callback(event, listener.as_ref().unchecked_ref());
            listeners.push(listener);
        };
        on("open", Box::new(|_, _| Some(Said::Open)));
        on(
            "session",
            Box::new(|_, e| {
                let v: serde_json::Value = serde_json::from_str(&e.data().as_string()?).ok()?;
                Some(Said::Session(v["session"].as_str()?.to_owned()))
            }),
        );
        on(
            "message",
            Box::new(|_, e| {
                let id = e.last_event_id().parse().unwrap_or(0);
                Some(Said::Frame(e.data().as_string()?, id))
            }),
        );
        on(
            "close",
            Box::new(|es, e| {
                es.close();
                let v: serde_json::Value = serde_json::from_str(&e.data().as_string()?).ok()?;
                Some(Said::Close(v["code"].as_u64().unwrap_or(1006) as u16))
            }),
        );
        on(
            "error",
            Box::new(|es, _| {
                es.close();
                Some(Said::Failed)
            }),
        );
        Some(Source {
            source,
            _listeners: listeners,
        })
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.source.close();
    }
}

/// Where the session stands, shared with the page-hide listener.
#[derive(Default)]
struct Place {
    /// The session, once the server named it.
    session: Option<String>,
    /// The next POST's number.
    seq: u64,
}

impl Place {
    /// The URL of POST `seq` of this session.
    fn post_url(&self, end: bool) -> Option<String> {
        let session = self.session.as_ref()?;
        let end = if end { "&end=1" } else { "" };
        Some(format!("/live?session={session}&seq={}{end}", self.seq))
    }
}

/// A future that resolves after `ms`.
pub(super) fn sleep(ms: u64) -> LocalBoxFuture<'static, ()> {
    let (tx, rx) = futures::channel::oneshot::channel();
    set_timeout(
        move || {
            let _ = tx.send(());
        },
        Duration::from_millis(ms),
    );
    rx.map(|_| ()).boxed_local()
}

/// POSTs `body` to `url`: the status, or `None` when it did not arrive.
async fn post(url: String, body: String) -> Option<u16> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(&body));
    let response = JsFuture::from(window().fetch_with_str_and_init(&url, &init))
        .await
        .ok()?;
    Some(response.dyn_into::<web_sys::Response>().ok()?.status())
}

/// Serves one fallback connection until it ends: frames the page queues go
/// out on `outgoing`; each server frame goes to `received` (false: this
/// connection was replaced, stop). Returns the close code the server gave
/// (as a WebSocket's), if any, and whether the stream ever opened.
pub(super) async fn run(
    mut outgoing: UnboundedReceiver<String>,
    received: impl Fn(String) -> bool,
) -> (Option<u16>, bool) {
    let (said_tx, mut said) = unbounded();
    let Some(mut source) = Source::open("/live", said_tx.clone()) else {
        return (None, false);
    };
    let place = Rc::new(RefCell::new(Place::default()));
    // A page that goes away says so, so that its presence ends now.
    let leaving = place.clone();
    let hide = window_event_listener(leptos::ev::pagehide, move |_| {
        if let Some(url) = leaving.borrow().post_url(true) {
            let _ = window().navigator().send_beacon(&url);
        }
    });
    let (mut opened, mut last, mut resumed) = (false, 0u64, false);
    let mut waiting: Vec<String> = Vec::new();
    // The POST on its way: its body (kept to send again) and its answer.
    let mut sending: Option<(String, LocalBoxFuture<'static, Option<u16>>)> = None;
    let ended = loop {
        if sending.is_none() && !waiting.is_empty() {
            if let Some(url) = place.borrow().post_url(false) {
                let n = waiting.len().min(MAX_PER_POST);
                let body = waiting.drain(..n).collect::<Vec<_>>().join("\n");
                sending = Some((body.clone(), post(url, body).boxed_local()));
            }
        }
        let step = {
            let answer = async {
                match &mut sending {
                    Some((_, answer)) => answer.await,
                    None => std::future::pending().await,
                }
            };
            match select(select(outgoing.next(), said.next()), answer.boxed_local()).await {
                Either::Left((Either::Left((frame, _)), _)) => Step::Queued(frame),
                Either::Left((Either::Right((said, _)), _)) => Step::Said(said),
                Either::Right((status, _)) => Step::Answered(status),
            }
        };
        match step {
            Step::Queued(Some(frame)) => waiting.push(frame),
            // The page replaced this connection: say it leaves.
            Step::Queued(None) => {
                if let Some(url) = place.borrow().post_url(true) {
                    let _ = window().navigator().send_beacon(&url);
                }
                break (None, opened);
            }
            Step::Said(Some(Said::Open)) => opened = true,
            Step::Said(Some(Said::Session(id))) => place.borrow_mut().session = Some(id),
            Step::Said(Some(Said::Frame(text, id))) => {
                last = last.max(id);
                resumed = false;
                if !received(text) {
                    break (None, opened);
                }
            }
            Step::Said(Some(Said::Close(code))) => break (Some(code), opened),
            Step::Said(Some(Said::Failed) | None) => {
                // Once: resume after the last event. A second failure in a
                // row (the session is gone, or the server is) ends this
                // connection.
                let session = place.borrow().session.clone();
                let Some(session) = session.filter(|_| !resumed) else {
                    break (None, opened);
                };
                resumed = true;
                let url = format!("/live?session={session}&last={last}");
                match Source::open(&url, said_tx.clone()) {
                    Some(again) => source = again,
                    None => break (None, opened),
                }
            }
            Step::Answered(status) => {
                let (body, _) = sending.take().expect("an answer to a POST sent");
                match status {
                    // Applied (or refused as a WebSocket frame would be:
                    // the close follows on the stream).
                    Some(204 | 400 | 413) => place.borrow_mut().seq += 1,
                    // The session is gone: the stream says so too.
                    Some(404) => break (None, opened),
                    // Not there, or not yet: the same POST again, later
                    // (the server applies each number once).
                    _ => {
                        let url = place
                            .borrow()
                            .post_url(false)
                            .expect("posting has a session");
                        let again = body.clone();
                        let retry = async move {
                            sleep(POST_RETRY_MS).await;
                            post(url, again).await
                        };
                        sending = Some((body, retry.boxed_local()));
                    }
                }
            }
        }
    };
    drop(source);
    hide.remove();
    ended
}
