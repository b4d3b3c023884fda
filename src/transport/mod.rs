//! The connections a WAMP session runs over, each feeding a `wamp::peer::Session` and
//! draining a `wamp::peer::Outbox`: WebSocket (RFC 6455, and the testee's echo), RawSocket
//! (the spec's, on its own port or a `universal` one), and long-poll (Crossbar's, over HTTP
//! requests).

pub mod longpoll;
pub mod rawsocket;
pub(crate) mod websocket;
