//! The Bolt listener's other doors (issue #9): Bolt over WebSocket for browsers (ws:// and
//! wss://, on the same port as raw Bolt) and the PROXY protocol from load balancers, seen the
//! way clients see them: a WebSocket client, raw frames and raw headers on a socket, and a real
//! headless Chromium running the JavaScript driver, all through boltgate to FalkorDB.

mod browser;
#[path = "../common/mod.rs"]
mod common;
mod harness;
mod proxy_protocol;
mod raw_ws;
mod upgrade;
