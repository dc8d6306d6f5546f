//! From entries to a [`Config`]: key resolution, command expansion, typed parsing and the rules
//! between settings, collecting every problem on the way.
//!
//! A value that failed once (unknown, failed expansion, bad syntax) is remembered, so a rule that
//! depends on it stays silent instead of adding a second, misleading error.
//!
//! The parts: `access` reads one value (its origin, its default, remembering failures), `sections`
//! builds each part of the [`Config`] and checks the rules between settings, `parse` holds the
//! value parsers particular to one setting. This file reads the entries in, handles keys that are
//! unknown or Neo4j's own, and orders the errors for the report.

use std::collections::{HashMap, HashSet};

use super::error::{ConfigError, ConfigErrors, Origin};
use super::file::{self, Entry};
use super::neo4j;
use super::settings::{self, Unknown};
use super::value;
use super::{Config, IgnoredSetting, LoadOptions};

mod access;
mod parse;
mod sections;
#[cfg(test)]
mod tests;

const TLS_LEVEL: &str = "server.bolt.tls_level";
const UPSTREAM_URI: &str = "boltgate.upstream.uri";
const MEMBERS: &str = "boltgate.routing.members";
const WATCH: &str = "boltgate.tls_reload.watch_interval";

/// The entries being turned into a Config, and the problems found so far.
struct Builder {
    values: HashMap<String, Entry>,
    /// Keys whose value already produced an error.
    failed: HashSet<String>,
    /// Keys the build asked for; a test checks it is every key in the table.
    read: HashSet<String>,
    errors: Vec<ConfigError>,
    ignored: Vec<IgnoredSetting>,
}

pub(super) fn build(
    text: &str,
    label: &str,
    file_writable_by_others: bool,
    overrides: &[String],
    opts: &LoadOptions,
) -> Result<Config, ConfigErrors> {
    let mut b = Builder::new(text, label, file_writable_by_others, overrides, opts);
    let config = b.config(label);
    let mut errors = b.errors;
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            errors.sort_by_key(origin_order);
            Err(ConfigErrors(errors))
        }
    }
}

impl Builder {
    /// Reads the text and overrides, resolves keys and expands commands; values are parsed later.
    fn new(
        text: &str,
        label: &str,
        file_writable_by_others: bool,
        overrides: &[String],
        opts: &LoadOptions,
    ) -> Builder {
        let (file_entries, mut errors) = file::parse(text, label);
        let (set_entries, set_errors) = file::parse_overrides(overrides);
        errors.extend(set_errors);

        if opts.expand_commands
            && file_writable_by_others
            && file_entries
                .iter()
                .any(|e| file::command_of(&e.value).is_some())
        {
            errors.push(ConfigError::UnsafeFile {
                path: label.to_string(),
            });
        }

        let mut b = Builder {
            values: HashMap::new(),
            failed: HashSet::new(),
            read: HashSet::new(),
            errors,
            ignored: Vec::new(),
        };
        for mut entry in file::merge(file_entries, set_entries) {
            if let Err(unknown) = settings::lookup(&entry.key) {
                if neo4j::is_neo4j_setting(&entry.key) {
                    b.neo4j_setting(entry, opts.strict);
                } else {
                    b.errors.push(unknown_error(entry, unknown));
                }
                continue;
            }
            if let Err(e) = file::expand(&mut entry, opts.expand_commands) {
                b.failed.insert(entry.key.clone());
                b.errors.push(e);
            }
            b.values.insert(entry.key.clone(), entry);
        }

        b
    }
}

impl Builder {
    /// A Neo4j setting boltgate does not use: ignored (listed at start-up), or an error with
    /// `--strict`. `server.bolt.enabled=false` asks for something boltgate cannot do.
    fn neo4j_setting(&mut self, entry: Entry, strict: bool) {
        let Entry { key, value, at } = entry;
        if matches!(
            key.as_str(),
            "server.bolt.enabled" | "dbms.connector.bolt.enabled"
        ) && value::parse_bool(&value) == Ok(false)
        {
            self.errors.push(ConfigError::Invalid {
                at,
                key,
                problem: "boltgate is a Bolt proxy and cannot run with its Bolt connector off"
                    .to_string(),
                hint: Some(
                    "remove the line; to keep clients out, stop boltgate or point \
                     server.bolt.listen_address at 127.0.0.1"
                        .to_string(),
                ),
            });
            return;
        }
        let equivalent = neo4j::equivalent(&key, &value);
        if strict {
            self.errors.push(ConfigError::Invalid {
                at,
                key,
                problem: "a Neo4j setting boltgate does not use (refused with --strict)".into(),
                hint: Some(match equivalent {
                    Some(e) => format!("remove it; boltgate: {e}"),
                    None => "remove it".to_string(),
                }),
            });
            return;
        }
        self.ignored.push(IgnoredSetting {
            key,
            at,
            equivalent,
        });
    }
}

fn unknown_error(entry: Entry, unknown: Unknown) -> ConfigError {
    let Entry { key, at, .. } = entry;
    match unknown {
        Unknown::Scope(scope) => ConfigError::UnknownScope { at, key, scope },
        Unknown::Renamed(new) => ConfigError::Renamed { at, key, new },
        Unknown::Key { suggestion } => {
            // A typo of a Neo4j name is told its Neo4j name, not a far-off boltgate one.
            let suggestion = neo4j::suggest(&key).map(str::to_string).or(suggestion);
            ConfigError::UnknownSetting {
                at,
                key,
                suggestion,
            }
        }
    }
}

/// File lines first (in order), then `--set` (in order), then defaults; a stable sort keeps the
/// order of problems on the same line.
fn origin_order(e: &ConfigError) -> (u8, usize) {
    let at = match e {
        ConfigError::Read { .. } | ConfigError::UnsafeFile { .. } => return (0, 0),
        ConfigError::Syntax { at, .. }
        | ConfigError::BadOverride { at, .. }
        | ConfigError::Duplicate { at, .. }
        | ConfigError::UnknownSetting { at, .. }
        | ConfigError::Renamed { at, .. }
        | ConfigError::UnknownScope { at, .. }
        | ConfigError::Invalid { at, .. }
        | ConfigError::Uri { at, .. }
        | ConfigError::ExpansionDisabled { at, .. }
        | ConfigError::CommandFailed { at, .. }
        | ConfigError::Conflict { at, .. } => at,
    };
    match at {
        Origin::File { line, .. } => (1, *line),
        Origin::Set { index } => (2, *index),
        Origin::Default => (3, 0),
    }
}
