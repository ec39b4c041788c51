//! A server frame encoded once, for every member and every transport
//! ([`Payload`]): its JSON, which the fallback stream and an uncompressed
//! WebSocket write as it is, and *1.2* its `permessage-deflate` form, made
//! by the first connection that writes it compressed and shared by the
//! others (a broadcast is compressed once, not once per member).

use super::deflate;
use crate::protocol::ServerFrame;
use bytes::Bytes;
use std::sync::{Arc, OnceLock};

/// One encoded server frame, shared: cloning it is a reference count.
#[derive(Debug, Clone)]
pub(crate) struct Payload(Arc<Encoded>);

/// What a [`Payload`] shares.
#[derive(Debug)]
struct Encoded {
    /// The frame's JSON.
    json: Bytes,
    /// Its compressed form once a connection asked for it (`None` inside:
    /// compressing it saves nothing).
    deflated: OnceLock<Option<Bytes>>,
}

impl Payload {
    /// The JSON.
    pub(crate) fn json(&self) -> &Bytes {
        &self.0.json
    }

    /// Bytes of JSON: what the outbound bound counts.
    pub(crate) fn len(&self) -> usize {
        self.0.json.len()
    }

    /// The compressed form (one message, no context: RFC 7692), compressed
    /// now if no connection asked before; `None` when it is not smaller.
    pub(crate) fn deflated(&self) -> Option<&Bytes> {
        self.0
            .deflated
            .get_or_init(|| deflate::compress(&self.0.json))
            .as_ref()
    }
}

impl PartialEq for Payload {
    /// The same JSON.
    fn eq(&self, other: &Payload) -> bool {
        self.0.json == other.0.json
    }
}

impl From<Bytes> for Payload {
    fn from(json: Bytes) -> Payload {
        Payload(Arc::new(Encoded {
            json,
            deflated: OnceLock::new(),
        }))
    }
}

impl From<&'static str> for Payload {
    fn from(json: &'static str) -> Payload {
        Bytes::from_static(json.as_bytes()).into()
    }
}

/// A server frame serialized once into what every transport writes: the
/// JSON alone (the WebSocket writes a header in front of it, the fallback
/// stream an event's fields around it; neither copies it).
pub(crate) fn encode_json(frame: &ServerFrame) -> Payload {
    Bytes::from(serde_json::to_vec(frame).expect("server frames always serialize")).into()
}
