//! Fuzz target: every wire decoder on arbitrary bytes must return, never
//! panic. Run with `cargo +nightly fuzz run decode_packet` from the
//! repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_proto::frame::{self, TransportParams};
use natter_proto::packet::{self, Packet};

fuzz_target!(|data: &[u8]| {
    let _ = packet::peek_dcid(data);
    if let Ok(Packet::Data { ciphertext, .. }) = packet::decode(data) {
        frame::iter(ciphertext).for_each(drop);
    }
    // The same bytes as a decrypted payload and as handshake parameters.
    frame::iter(data).for_each(drop);
    let _ = TransportParams::decode(data);
});
