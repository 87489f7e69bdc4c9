//! Test harness for end-to-end tests and benchmarks: fresh databases (a SQLite temp file or a
//! fresh PostgreSQL database), the real server in-process on an ephemeral port or as a separate
//! process, a byte-counting TCP proxy, raw protocol calls and seeded documents. Everything
//! listens on 127.0.0.1 only.

pub mod app;
pub mod bench;
pub mod browser;
pub mod check;
pub mod client;
pub mod craft;
pub mod db;
pub mod disk;
pub mod fixtures;
pub mod org;
pub mod proxy;
pub mod requests;
pub mod server;
pub mod team;
pub mod tokens;
pub mod wire;

pub use client::Device;
pub use db::{Backend, TestDb, pg_admin_url};
pub use org::{Org, PASSWORD};
pub use proxy::CountingProxy;
pub use requests::RequestLog;
pub use server::{ServerProcess, TestServer};
pub use team::Team;
pub use wire::RawDevice;
