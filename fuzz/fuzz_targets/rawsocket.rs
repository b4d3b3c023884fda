//! Fuzz target: any bytes on a RawSocket connection, arriving in pieces of any size: the
//! handshake is answered or refused, then the frame reader (with its buffer) yields each
//! frame or ends the connection, and each message frame's payload decodes in the serializer
//! asked for, or is a protocol violation.
#![no_main]
use futures_lite::AsyncRead;
use libfuzzer_sys::fuzz_target;
use std::pin::Pin;
use std::task::{Context, Poll};
use wssnode::transport::rawsocket::{read_handshake, FrameReader};

/// Hands out `bytes` in pieces whose sizes come from `sizes`, going round.
struct Pieces<'a> {
    bytes: &'a [u8],
    sizes: &'a [u8],
    turn: usize,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        let size = self.sizes.get(self.turn % self.sizes.len().max(1)).copied().unwrap_or(255);
        self.turn += 1;
        let n = (usize::from(size) + 1).min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Poll::Ready(Ok(n))
    }
}

fuzz_target!(|data: &[u8]| {
    let all = ["json".to_string(), "msgpack".to_string(), "cbor".to_string()];
    let Some((&split, data)) = data.split_first() else { return };
    let (sizes, data) = data.split_at(usize::from(split % 16).min(data.len()));
    let Some(hello) = data.get(..4) else { return };
    let Some(Ok((serializer, _))) = read_handshake([hello[0], hello[1], hello[2], hello[3]], &all)
    else {
        return;
    };
    let pieces = Pieces { bytes: &data[4..], sizes, turn: 0 };
    let mut frames = FrameReader::new(pieces, 1 << 16);
    futures_lite::future::block_on(async {
        while let Ok((kind, payload)) = frames.next().await {
            if kind == 0 {
                if let Ok(value) = serializer.decode_binary(&payload) {
                    let _ = wssnode::wamp::message::decode_value(value);
                }
            }
        }
    });
});
