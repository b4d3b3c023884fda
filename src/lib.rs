//! wssnode's modules, one per concern. The binary (`main.rs`) is the command line; the
//! library exists so that fuzz targets and benchmarks can reach the pure parts (config,
//! cipher strings, WAMP messages, static path resolution).

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

pub mod ciphers;
pub mod config;
pub mod error;
pub mod http_head;
pub mod http_io;
pub mod lifecycle;
pub mod limits;
pub mod listener;
pub mod logging;
pub mod node;
pub mod selfsigned;
pub mod static_files;
pub mod time;
pub mod tls;
pub mod wamp;
pub mod web;
pub mod ws;
