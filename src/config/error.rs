//! The config layer's errors: each names where the value came from (file:line, `--set:N` or the
//! default), the setting, what is wrong and how to fix it. [`ConfigErrors`] collects every problem so
//! that one run reports them all, before any port is bound.

use std::error::Error as _;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use crate::config::uri::UriError;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The setting's default from the table.
    Default,
    /// A line of the configuration file (1-based).
    File { path: Arc<str>, line: usize },
    /// The N-th `--set` on the command line (1-based).
    Set { index: usize },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "{path}:{line}"),
            Origin::Set { index } => write!(f, "--set:{index}"),
        }
    }
}

/// `" (hint)"` or nothing.
struct Hint<'a>(&'a Option<String>);

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(hint) => write!(f, " ({hint})"),
            None => Ok(()),
        }
    }
}

/// One configuration problem. Display prints one level; [`ConfigError::report`] adds the causes.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration file")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{at}: `{text}`: not a setting (each line is `key=value`, a `# comment` or blank)")]
    Syntax { at: Origin, text: String },

    #[error("{at}: `{arg}`: --set expects key=value")]
    BadOverride { at: Origin, arg: String },

    #[error("{at}: {key}: set twice, first at {first} (keep one of them)")]
    Duplicate {
        at: Origin,
        key: String,
        first: Origin,
    },

    #[error("{at}: {key}: unknown setting{}", match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    })]
    UnknownSetting {
        at: Origin,
        key: String,
        suggestion: Option<String>,
    },

    #[error("{at}: {key}: unknown setting; Neo4j 5 and boltgate call it `{new}`")]
    Renamed {
        at: Origin,
        key: String,
        new: &'static str,
    },

    #[error(
        "{at}: {key}: unknown SSL policy scope `{scope}` (known scopes: {})",
        super::Scope::known_names()
    )]
    UnknownScope {
        at: Origin,
        key: String,
        scope: String,
    },

    #[error("{at}: {key}: {problem}{}", Hint(hint))]
    Invalid {
        at: Origin,
        key: String,
        problem: String,
        hint: Option<String>,
    },

    #[error("{at}: {key}: invalid upstream URI `{uri}`")]
    Uri {
        at: Origin,
        key: String,
        uri: String,
        #[source]
        source: UriError,
    },

    #[error("{at}: {key}: command expansion is disabled; start boltgate with --expand-commands")]
    ExpansionDisabled { at: Origin, key: String },

    #[error("{at}: {key}: command `{command}` {problem}")]
    CommandFailed {
        at: Origin,
        key: String,
        command: String,
        problem: String,
        #[source]
        source: Option<std::io::Error>,
    },

    #[error("{path}: command expansion refused: the file is writable by group or others (chmod go-w {path})")]
    UnsafeFile { path: String },

    /// Two settings that cannot go together; `other` is the one to change.
    #[error("{at}: {key}: {problem} (set {other})")]
    Conflict {
        at: Origin,
        key: String,
        other: String,
        problem: String,
    },
}

impl ConfigError {
    /// The message with its causes, `: `-separated, as printed to operators.
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut source = self.source();
        while let Some(cause) = source {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            source = cause.source();
        }
        out
    }
}

/// Every problem found in one load, in the order of the file, then `--set`, then cross-field rules.
#[derive(Debug, Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    /// One problem per line, each with its causes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&e.report())?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
