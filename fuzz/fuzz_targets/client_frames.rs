//! Bytes a client could send on an upgraded socket: the WebSocket frame
//! reader and the client-frame parser must neither panic nor disagree with
//! themselves when the bytes arrive in pieces.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    chat::fuzzing::fuzz_client_bytes(data);
});
