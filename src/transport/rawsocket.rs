//! WAMP over RawSocket (spec "RawSocket Transport"): a 4-byte handshake (magic `0x7F`, the
//! client's maximum message length and serializer; our answer, or the spec's error code),
//! then frames of a 4-byte header (type: message, PING or PONG; 24-bit length) and the
//! serialized message. The session is the same `WampSession` a WebSocket has; its messages
//! travel as WebSocket `Message`s through the same bounded `Outbox`, and a writer task turns
//! them into frames.

use crate::config::WebSocketOptions;
use crate::runtime::lifecycle::{ConnInfo, Lifecycle};
use crate::wamp::peer::{Inbox, Outbox, Session};
use crate::wamp::serializer::Serializer;
use crate::wamp::session::WampSession;
use crate::wamp::Realms;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{Bytes, Message};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first byte of every RawSocket handshake.
const MAGIC: u8 = 0x7F;

/// Frame types (the low 3 bits of a frame header's first byte).
const MESSAGE: u8 = 0;
const PING: u8 = 1;
const PONG: u8 = 2;

/// Bytes of a connection's read and write buffers (a larger frame grows the read buffer).
const IO_BUFFER: usize = 8 * 1024;

/// The spec's handshake error codes.
const SERIALIZER_UNSUPPORTED: u8 = 1;
const LENGTH_UNACCEPTABLE: u8 = 2;
const RESERVED_BITS_USED: u8 = 3;
const CONNECTION_COUNT_REACHED: u8 = 4;

/// What a RawSocket transport's connections are served with.
pub struct RawSocketService {
    /// The realms of its router worker.
    pub realms: Arc<Realms>,
    /// Its options (serializers, sizes, timeouts, limits, auth).
    pub options: Arc<WebSocketOptions>,
    /// Shutdown.
    pub lifecycle: Lifecycle,
}

/// The serializer a handshake's low nibble names.
fn serializer_of(code: u8) -> Option<Serializer> {
    match code {
        1 => Some(Serializer::Json),
        2 => Some(Serializer::MsgPack),
        3 => Some(Serializer::Cbor),
        _ => None,
    }
}

/// The largest length exponent (2^(9+n) bytes) not over `max`, for our answer.
fn length_exponent(max: usize) -> u8 {
    (0u8..=15)
        .rev()
        .find(|n| (1usize << (9 + n)) <= max)
        .unwrap_or(0)
}

/// What a client's handshake asks for, or the error code to answer it with; `None` when the
/// first byte is not RawSocket's at all.
pub fn read_handshake(
    bytes: [u8; 4],
    serializers: &[String],
) -> Option<Result<(Serializer, usize), u8>> {
    if bytes[0] != MAGIC {
        return None;
    }
    if bytes[2] != 0 || bytes[3] != 0 {
        return Some(Err(RESERVED_BITS_USED));
    }
    let client_max = 1usize << (9 + (bytes[1] >> 4));
    let Some(serializer) = serializer_of(bytes[1] & 0x0F) else {
        return Some(Err(SERIALIZER_UNSUPPORTED));
    };
    if !serializers.iter().any(|s| s == serializer.name()) {
        return Some(Err(SERIALIZER_UNSUPPORTED));
    }
    // The smallest a client may ask for (512 bytes) is below any WAMP session's needs.
    if client_max < 512 {
        return Some(Err(LENGTH_UNACCEPTABLE));
    }
    Some(Ok((serializer, client_max)))
}

/// The code of a serializer in our answer.
fn code_of(serializer: Serializer) -> u8 {
    match serializer {
        Serializer::Json => 1,
        Serializer::MsgPack => 2,
        Serializer::Cbor => 3,
    }
}

/// Answers a connection over the transport's `max_connections` with the spec's error 4
/// once its handshake has come (so the answer is not lost to a reset), waiting at most
/// `wait` for it.
pub async fn refuse_over_cap<S>(mut stream: S, wait: Duration)
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    let mut hello = [0u8; 4];
    let read = async_std::future::timeout(wait, stream.read_exact(&mut hello)).await;
    if matches!(read, Ok(Ok(()))) && hello[0] == MAGIC {
        let _ = stream
            .write_all(&[MAGIC, CONNECTION_COUNT_REACHED << 4, 0, 0])
            .await;
        let _ = stream.flush().await;
    }
}

/// Serves one RawSocket connection until it ends.
pub async fn serve<S>(mut stream: S, info: ConnInfo, service: Arc<RawSocketService>)
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Send + Unpin + 'static,
{
    let options = service.options.clone();
    let peer = info.peer.clone();
    let open_timeout = Duration::from_millis(options.open_handshake_timeout_ms.max(1));
    let opened = Instant::now();
    let mut hello = [0u8; 4];
    let read = async_std::future::timeout(open_timeout, stream.read_exact(&mut hello)).await;
    let (serializer, client_max) = match read {
        Ok(Ok(())) => match read_handshake(hello, &options.serializers) {
            None => {
                log::debug!("rawsocket {peer}: not a RawSocket handshake; closed");
                return;
            }
            Some(Err(code)) => {
                log::info!("rawsocket {peer}: handshake refused with error {code}");
                let _ = stream.write_all(&[MAGIC, code << 4, 0, 0]).await;
                let _ = stream.flush().await;
                return;
            }
            Some(Ok(asked)) => asked,
        },
        Ok(Err(_)) => return,
        Err(_) => {
            log::debug!("rawsocket {peer}: no handshake within {open_timeout:?}; closed");
            return;
        }
    };
    let our_max = options.max_message_size.min(1 << 24);
    let answer = [
        MAGIC,
        (length_exponent(our_max) << 4) | code_of(serializer),
        0,
        0,
    ];
    if stream.write_all(&answer).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    log::info!("rawsocket open {peer} {}", serializer.subprotocol());

    let (reader, writer) = futures_lite::io::split(stream);
    // The writer is buffered: a frame is a header and a payload, each a system call of its
    // own without it.
    let writer = futures_lite::io::BufWriter::with_capacity(IO_BUFFER, writer);
    let mut frames = FrameReader::new(reader, our_max);
    let (outbox, inbox) = Outbox::local(options.max_queued_bytes);
    let slow = inbox.watch();
    let slow_timeout = Duration::from_millis(options.slow_client_timeout_ms.max(1));
    let mut writing = async_std::task::spawn(write_frames(writer, inbox, client_max));
    let mut session = WampSession::new(
        service.realms.clone(),
        options.clone(),
        serializer.subprotocol(),
        info,
        outbox.clone(),
        None,
        serde_json::Value::Null,
    );
    let shutdown = service.lifecycle.shutdown_signal();
    // Set once the writer task has ended: a finished task must not be awaited again.
    let mut writer_ended = false;
    let why = feed(&mut session, &mut frames, serializer, &outbox, (opened, open_timeout))
        .or(async {
            let end = (&mut writing).await;
            writer_ended = true;
            match end {
                WriterEnd::Closed if outbox.dropped_as_slow() => {
                    let bound = options.max_queued_bytes;
                    log::warn!("rawsocket closed {peer}: client too slow, its outgoing queue reached twice max_queued_bytes ({bound} bytes)");
                    crate::runtime::metrics::metrics().slow_client();
                    "client too slow".to_string()
                }
                WriterEnd::Closed => "the session closed the connection".to_string(),
                WriterEnd::WriteFailed => "the connection stopped taking messages".to_string(),
                WriterEnd::TooLarge(len) => format!(
                    "a message of {len} bytes is more than the client takes ({client_max})"
                ),
            }
        })
        .or(async {
            let why = slow.too_slow(slow_timeout).await;
            log::warn!("rawsocket closed {peer}: client too slow, {why} for {slow_timeout:?}");
            crate::runtime::metrics::metrics().slow_client();
            format!("client too slow, {why}")
        })
        .or(async {
            let _ = shutdown.recv().await;
            "the node is shutting down".to_string()
        })
        .await;
    session.on_close();
    outbox.close(CloseCode::Normal, "");
    if !writer_ended
        && async_std::future::timeout(Duration::from_millis(500), &mut writing)
            .await
            .is_err()
    {
        writing.cancel().await;
    }
    log::info!("rawsocket close {peer}: {why}");
}

/// Reads a connection's frames through its own buffer, so a read given up half way (the
/// session loop waits on other things too) loses nothing.
pub struct FrameReader<R> {
    reader: R,
    buf: Vec<u8>,
    /// `buf[start..end]` is read and not yet taken.
    start: usize,
    end: usize,
    max: usize,
}

impl<R: futures_lite::AsyncRead + Unpin> FrameReader<R> {
    /// Frames of at most `max` bytes from `reader`.
    pub fn new(reader: R, max: usize) -> Self {
        FrameReader {
            reader,
            buf: vec![0; IO_BUFFER],
            start: 0,
            end: 0,
            max,
        }
    }

    /// The next frame's type and payload, or why the connection ends.
    pub async fn next(&mut self) -> Result<(u8, Vec<u8>), String> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(u8, Vec<u8>), String>> {
        use std::task::Poll;
        loop {
            let mut wanted = 4;
            if self.end - self.start >= 4 {
                let header = [0, 1, 2, 3].map(|i| self.buf[self.start + i]);
                let (kind, len) = frame_header(header, self.max)?;
                wanted = 4 + len;
                if self.end - self.start >= wanted {
                    let payload = self.buf[self.start + 4..self.start + wanted].to_vec();
                    self.start += wanted;
                    return Poll::Ready(Ok((kind, payload)));
                }
            }
            // Room for more of this frame: move what is held to the front, and grow the
            // buffer as the frame's bytes arrive (doubling, up to the frame), never ahead of
            // them: a header alone must not make the node hold its announced length.
            if self.start == self.end {
                (self.start, self.end) = (0, 0);
                // Back to the usual size after a large frame.
                if self.buf.len() > IO_BUFFER {
                    self.buf = vec![0; IO_BUFFER];
                }
            } else if self.start + wanted > self.buf.len() && self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                let grown = (self.buf.len() * 2).min(wanted.max(self.buf.len() + 1));
                self.buf.resize(grown, 0);
            }
            let end = self.end;
            match std::pin::Pin::new(&mut self.reader).poll_read(cx, &mut self.buf[end..]) {
                Poll::Ready(Ok(0)) if self.start == self.end => {
                    return Poll::Ready(Err("the client closed the connection".into()))
                }
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(
                        "the client closed the connection within a frame".into()
                    ))
                }
                Poll::Ready(Ok(n)) => self.end += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(format!("reading failed: {e}"))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// What woke a connection's session loop.
enum Event {
    Frame(Result<(u8, Vec<u8>), String>),
    Ready(Result<(), async_tungstenite::tungstenite::protocol::CloseFrame>),
    OpenTimeout,
}

/// Reads frames and hands their messages to the session, drives what it waits on, answers
/// PINGs (also while the session waits: then one message is held back and no more read, so
/// the client's messages stay in order), and holds the client to the open-handshake
/// timeout; returns why the connection ended. Everything a read brought is handled in one
/// turn, so a burst of publishes fans out before the writers flush.
async fn feed<R: futures_lite::AsyncRead + Unpin>(
    session: &mut WampSession,
    frames: &mut FrameReader<R>,
    serializer: Serializer,
    outbox: &Outbox,
    (opened, open_timeout): (Instant, Duration),
) -> String {
    let mut held: Option<Message> = None;
    // Made once: a timer made anew per message would wake the reactor thread each time.
    let mut open_timer = async_io::Timer::at(opened + open_timeout);
    let mut turn = 0u32;
    loop {
        // A client that keeps the socket full does not keep its thread from other tasks.
        turn = turn.wrapping_add(1);
        if turn % 64 == 0 {
            futures_lite::future::yield_now().await;
        }
        if !session.waiting() {
            if let Some(message) = held.take() {
                if let Err(frame) = session.on_message(message) {
                    return format!("the session ended: {}", frame.reason);
                }
                continue;
            }
        }
        let waits = session.waiting();
        let established = session.established();
        let reads = held.is_none();
        let event = async {
            if waits {
                Event::Ready(std::future::poll_fn(|cx| session.poll_ready(cx)).await)
            } else {
                futures_lite::future::pending().await
            }
        }
        .or(async {
            if reads {
                Event::Frame(frames.next().await)
            } else {
                futures_lite::future::pending().await
            }
        })
        .or(async {
            if established {
                futures_lite::future::pending::<()>().await;
            }
            (&mut open_timer).await;
            Event::OpenTimeout
        })
        .await;
        match event {
            Event::Ready(Ok(())) => {}
            Event::Ready(Err(frame)) => return format!("the session ended: {}", frame.reason),
            Event::Frame(Err(why)) => return why,
            Event::Frame(Ok((kind, payload))) => match kind {
                MESSAGE => {
                    let message = match serializer {
                        Serializer::Json => match String::from_utf8(payload) {
                            Ok(text) => Message::Text(text.into()),
                            Err(_) => return "a JSON message that is not UTF-8".into(),
                        },
                        _ => Message::Binary(Bytes::from(payload)),
                    };
                    held = Some(message);
                }
                // Answered with the same payload, as the spec asks (Crossbar closes instead).
                PING => outbox.send_control(Message::Pong(Bytes::from(payload))),
                PONG => {}
                other => return format!("a frame of unknown type {other}"),
            },
            Event::OpenTimeout => return format!("no session opened within {open_timeout:?}"),
        }
    }
}

/// A frame header's type and length, or why the connection must close.
pub fn frame_header(header: [u8; 4], max: usize) -> Result<(u8, usize), String> {
    if header[0] & 0xF8 != 0 {
        return Err("a frame header used reserved bits".into());
    }
    let len = usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
    if len > max {
        return Err(format!(
            "a frame of {len} bytes, over max_message_size ({max})"
        ));
    }
    Ok((header[0] & 0x07, len))
}

/// Why a connection's writer stopped.
enum WriterEnd {
    /// It sent what was queued before a close (the session's, or a slow client's).
    Closed,
    /// The client stopped taking bytes.
    WriteFailed,
    /// A message of this many bytes is more than the client said it takes.
    TooLarge(usize),
}

/// Writes the session's messages as frames, until a close, a write error, or a message
/// larger than the client said it takes.
async fn write_frames<W>(mut writer: W, inbox: Inbox, client_max: usize) -> WriterEnd
where
    W: futures_lite::AsyncWrite + Unpin,
{
    while let Some(message) = inbox.recv().await {
        let (kind, payload): (u8, &[u8]) = match &message {
            Message::Text(text) => (MESSAGE, text.as_bytes()),
            Message::Binary(bytes) => (MESSAGE, bytes),
            Message::Ping(bytes) => (PING, bytes),
            Message::Pong(bytes) => (PONG, bytes),
            Message::Close(_) | Message::Frame(_) => break,
        };
        if payload.len() > client_max || payload.len() >= 1 << 24 {
            let _ = writer.flush().await;
            return WriterEnd::TooLarge(payload.len());
        }
        let len = payload.len();
        let header = [kind, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        if writer.write_all(&header).await.is_err() {
            return WriterEnd::WriteFailed;
        }
        // In pieces, so the slow-client watch sees a large message being read.
        for piece in payload.chunks(64 * 1024) {
            if writer.write_all(piece).await.is_err() {
                return WriterEnd::WriteFailed;
            }
            inbox.wrote(piece.len());
        }
        if inbox.is_empty() && writer.flush().await.is_err() {
            return WriterEnd::WriteFailed;
        }
    }
    let _ = writer.flush().await;
    let _ = writer.close().await;
    WriterEnd::Closed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<String> {
        vec!["json".into(), "msgpack".into(), "cbor".into()]
    }

    #[test]
    fn the_handshake_is_read_as_the_spec_says() {
        assert_eq!(
            read_handshake([0x7F, 0xF1, 0, 0], &all()),
            Some(Ok((Serializer::Json, 1 << 24)))
        );
        assert_eq!(
            read_handshake([0x7F, 0x03, 0, 0], &all()),
            Some(Ok((Serializer::Cbor, 512)))
        );
        assert_eq!(read_handshake([0x7F, 0xF4, 0, 0], &all()), Some(Err(1)));
        assert_eq!(read_handshake([0x7F, 0xF2, 0, 1], &all()), Some(Err(3)));
        assert_eq!(
            read_handshake([0x7F, 0xF2, 0, 0], &["json".to_string()]),
            Some(Err(1)),
            "a serializer the transport does not list"
        );
        assert_eq!(read_handshake([b'G', b'E', b'T', b' '], &all()), None);
    }

    /// Hands out `bytes`, then waits for ever (a client that stopped sending).
    struct ThenSilence(Vec<u8>);

    impl futures_lite::AsyncRead for ThenSilence {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            if self.0.is_empty() {
                return std::task::Poll::Pending;
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            std::task::Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn a_frame_header_alone_does_not_make_the_reader_hold_its_length() {
        // A header announcing 16 MiB - 1, then 20 KiB of it, then nothing.
        let mut bytes = vec![0, 0xFF, 0xFF, 0xFF];
        bytes.extend(vec![b' '; 20 * 1024]);
        let mut frames = FrameReader::new(ThenSilence(bytes), 1 << 24);
        let waiting =
            futures_lite::future::block_on(futures_lite::future::poll_once(frames.next()));
        assert!(waiting.is_none(), "the frame is not complete");
        assert!(
            frames.buf.len() <= 64 * 1024,
            "held {} bytes",
            frames.buf.len()
        );
        // A whole frame after a large one: the buffer is back to its usual size.
        let mut bytes = vec![0, 0, 0x50, 0];
        bytes.extend(vec![b'x'; 0x5000]);
        bytes.extend([0, 0, 0, 2, b'h', b'i']);
        let mut frames = FrameReader::new(ThenSilence(bytes), 1 << 24);
        let read = |f: &mut FrameReader<ThenSilence>| futures_lite::future::block_on(f.next());
        assert_eq!(read(&mut frames).map(|(_, p)| p.len()), Ok(0x5000));
        assert_eq!(read(&mut frames), Ok((0, b"hi".to_vec())));
        assert!(frames.buf.len() <= IO_BUFFER * 4);
    }

    #[test]
    fn our_length_is_the_largest_power_of_two_within_max_message_size() {
        assert_eq!(length_exponent(1 << 20), 11);
        assert_eq!(length_exponent((1 << 20) + 5), 11);
        assert_eq!(length_exponent(1 << 24), 15);
        assert_eq!(length_exponent(100), 0);
    }
}
