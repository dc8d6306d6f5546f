//! Test and benchmark support for boltgate: its tests, examples and fuzz targets use it (as a
//! dev-dependency). Not published, and free to change with them; the boltgate binary never
//! compiles it. What it needs of boltgate's internals (`net::Stream::Memory`,
//! `session::run_over`, `Upstream::with_memory_dialer`, ...) is public but hidden from the docs.
//!
//! - [`synthetic`]: a small, fast Bolt server built on `boltgate-proto`. It answers every request
//!   of Bolt 4.4–5.8, serves results chosen by the query text (`RETURN 1`, `ROWS n`, `FAIL code`)
//!   from pre-encoded rows, and can record what it received. The load tool measures against it
//!   (FalkorDB falls over under heavy parallel load), and tests use it as a scripted server.
//! - [`client`]: a minimal Bolt client (handshake, HELLO/LOGON, RUN+PULL pipelined, RESET,
//!   GOODBYE) that counts records and bytes without decoding rows.
//! - [`cpu`]: a process's time on CPU, its threads and children included, from /proc.
//! - [`pki`]: a throwaway CA and certificates made at test time, and Neo4j's policy layout.
//! - [`proxy`]: boltgate itself, started in-process on a free loopback port.
//! - [`memory`]: one boltgate session over in-memory pipes (the session fuzzer's entry point).
//! - [`session_case`]: one session fuzz case (input layout, invariants), for the fuzz target
//!   and its regression replays.

pub mod client;
pub mod cpu;
pub mod memory;
pub mod pki;
pub mod proxy;
pub mod session_case;
pub mod synthetic;
pub mod translate_case;
