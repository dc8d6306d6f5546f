//! What the plain and the routed relay count alike, so both report the same numbers.

use boltgate_proto::message::{AccessMode, RawMessage, RequestKind};

use crate::metrics::SessionMetrics;

/// Queries (RUN) and transactions (BEGIN) by access mode: BEGIN's mode holds for the RUNs of its
/// transaction until COMMIT, ROLLBACK or RESET; an auto-commit RUN carries its own.
pub fn count_work(
    raw: &RawMessage,
    kind: RequestKind,
    tx_mode: &mut Option<AccessMode>,
    metrics: &SessionMetrics,
) {
    match kind {
        RequestKind::Begin => {
            let mode = raw.tx_view().map(|v| v.mode).unwrap_or_default();
            *tx_mode = Some(mode);
            metrics.transaction(mode);
        }
        RequestKind::Run => {
            let mode = match *tx_mode {
                Some(mode) => mode,
                None => raw.tx_view().map(|v| v.mode).unwrap_or_default(),
            };
            metrics.query(mode);
        }
        RequestKind::Commit | RequestKind::Rollback | RequestKind::Reset => *tx_mode = None,
        _ => {}
    }
}
