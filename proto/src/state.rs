//! Server state machine (stub; being written).
