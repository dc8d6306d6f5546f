//! The Neo4j status codes boltgate sends or acts on, in one table: drivers decide from the code
//! whether to retry, refresh their routing table or give up, so each is used only where its
//! meaning is true (see `session::failure` for the rule). A leaf module: anything may use it.

/// Transient: nothing was forwarded (or the member is down); drivers retry.
pub const DATABASE_UNAVAILABLE: &str = "Neo.TransientError.General.DatabaseUnavailable";
/// The client sent something boltgate will not forward (too large, too deep, not a structure).
pub const REQUEST_INVALID: &str = "Neo.ClientError.Request.Invalid";
/// The database named does not exist (a routing table lookup said so).
pub const DATABASE_NOT_FOUND: &str = "Neo.ClientError.Database.DatabaseNotFound";
/// A procedure boltgate answers itself failed (as Neo4j reports a procedure that threw).
pub const PROCEDURE_CALL_FAILED: &str = "Neo.ClientError.Procedure.ProcedureCallFailed";
/// The user may not run that procedure.
pub const FORBIDDEN: &str = "Neo.ClientError.Security.Forbidden";
/// The member refused a write: drivers refresh their table and retry on the new writer.
pub const NOT_A_LEADER: &str = "Neo.ClientError.Cluster.NotALeader";
/// A read-only database refused a write: handled as NotALeader.
pub const FORBIDDEN_ON_READ_ONLY: &str = "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase";
/// Authentication refusals a member may give boltgate's replayed HELLO/LOGON; passed on as is.
pub const UNAUTHORIZED: &str = "Neo.ClientError.Security.Unauthorized";
pub const AUTHENTICATION_RATE_LIMIT: &str = "Neo.ClientError.Security.AuthenticationRateLimit";
pub const CREDENTIALS_EXPIRED: &str = "Neo.ClientError.Security.CredentialsExpired";
pub const TOKEN_EXPIRED: &str = "Neo.ClientError.Security.TokenExpired";

/// A member's code as one of the known `'static` codes when it is one (boltgate's own FAILUREs
/// carry `&'static str`); anything else is reported as unavailable.
pub fn known(code: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        UNAUTHORIZED,
        AUTHENTICATION_RATE_LIMIT,
        CREDENTIALS_EXPIRED,
        FORBIDDEN,
        TOKEN_EXPIRED,
        REQUEST_INVALID,
        DATABASE_NOT_FOUND,
    ];
    KNOWN
        .iter()
        .find(|k| **k == code)
        .copied()
        .unwrap_or(DATABASE_UNAVAILABLE)
}
