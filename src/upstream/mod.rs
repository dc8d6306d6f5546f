//! The upstream side: where boltgate forwards to. For now only the URI; dialing, routing tables and
//! balancing arrive in their own modules.

pub mod uri;
