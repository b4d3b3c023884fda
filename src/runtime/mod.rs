//! What every layer shares while the node runs: shutdown and who is on a connection
//! (`lifecycle`), the connection cap and per-client shares (`limits`), the node's counters
//! (`metrics`), and the clock's text forms (`time`). It imports nothing of the layers above.

pub mod lifecycle;
pub(crate) mod limits;
pub mod metrics;
pub(crate) mod time;
