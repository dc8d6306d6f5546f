//! The session's decisions, without I/O: what each upstream connection owes the client and
//! in what order ([`owed`]), what the client may pipeline behind a request that waits its
//! turn ([`held`]), where a routed session's requests go ([`units`]), and what taking a pooled
//! connection came to ([`taking`]). The relays around it read and write sockets and ask it what to
//! do; it is unit-tested with plain bytes.

pub mod held;
pub mod owed;
pub mod taking;
pub mod units;

pub use held::{Held, HeldTooMuch};
pub use owed::{Death, Expect, Inbound, MemberError, Owed, Step, Why};
pub use taking::{Next, Take, Taking};
pub use units::{Decision, Loss, Units};
