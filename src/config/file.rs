//! The neo4j.conf syntax: `key=value` lines, `#` comments, blank lines, surrounding whitespace
//! ignored. A key set twice is an error naming both lines (Neo4j warns and keeps the last; a proxy's
//! TLS settings are too important to leave to line order). Values are kept verbatim: a `#` inside a
//! value is part of it, as in Neo4j.
//!
//! Also `--set key=value` overrides and `$(command)` expansion, which share the same entries.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::error::{ConfigError, Origin};

/// One `key=value` with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub at: Origin,
}

/// Splits `key=value` at the first `=`, trimming both; None without `=` or with an empty key.
fn split_assignment(text: &str) -> Option<(&str, &str)> {
    let (key, value) = text.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()).then_some((key, value.trim()))
}

/// Reads a configuration text. Returns the good entries and every problem; `path` labels the lines.
pub fn parse(text: &str, path: &str) -> (Vec<Entry>, Vec<ConfigError>) {
    let path: Arc<str> = Arc::from(path);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries: Vec<Entry> = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, Origin> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let at = Origin::File {
            path: path.clone(),
            line: i + 1,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = split_assignment(line) else {
            errors.push(ConfigError::Syntax {
                at,
                text: line.to_string(),
            });
            continue;
        };
        // Neo4j's server.jvm.additional adds one JVM argument per line; each is kept.
        let repeatable = super::neo4j::REPEATABLE.contains(&key);
        if let Some(first) = seen.get(key).filter(|_| !repeatable) {
            errors.push(ConfigError::Duplicate {
                at,
                key: key.to_string(),
                first: first.clone(),
            });
            continue;
        }
        seen.insert(key.to_string(), at.clone());
        entries.push(Entry {
            key: key.to_string(),
            value: value.to_string(),
            at,
        });
    }
    (entries, errors)
}

/// Reads `--set key=value` arguments, numbered from 1. The same key twice is an error too.
pub fn parse_overrides(args: &[String]) -> (Vec<Entry>, Vec<ConfigError>) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut errors = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let at = Origin::Set { index: i + 1 };
        let Some((key, value)) = split_assignment(arg) else {
            errors.push(ConfigError::BadOverride {
                at,
                arg: arg.clone(),
            });
            continue;
        };
        if let Some(first) = entries.iter().find(|e| e.key == key) {
            errors.push(ConfigError::Duplicate {
                at,
                key: key.to_string(),
                first: first.at.clone(),
            });
            continue;
        }
        entries.push(Entry {
            key: key.to_string(),
            value: value.to_string(),
            at,
        });
    }
    (entries, errors)
}

/// Applies overrides on top of the file: an override replaces the file's entry for the same key.
pub fn merge(file: Vec<Entry>, overrides: Vec<Entry>) -> Vec<Entry> {
    let mut merged: Vec<Entry> = file
        .into_iter()
        .filter(|e| !overrides.iter().any(|o| o.key == e.key))
        .collect();
    merged.extend(overrides);
    merged
}

/// The command of a `$(command)` value (the whole value, as Neo4j requires), if it is one.
pub fn command_of(value: &str) -> Option<&str> {
    value.strip_prefix("$(")?.strip_suffix(')')
}

/// Replaces a `$(command)` value by the command's trimmed standard output, when `enabled` (Neo4j's
/// `--expand-commands`); runs through `sh -c`. Without the flag, such a value is an error.
pub fn expand(entry: &mut Entry, enabled: bool) -> Result<(), ConfigError> {
    let Some(command) = command_of(&entry.value) else {
        return Ok(());
    };
    if !enabled {
        return Err(ConfigError::ExpansionDisabled {
            at: entry.at.clone(),
            key: entry.key.clone(),
        });
    }
    let failed = |problem: String, source: Option<std::io::Error>| ConfigError::CommandFailed {
        at: entry.at.clone(),
        key: entry.key.clone(),
        command: command.to_string(),
        problem,
        source,
    };
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| failed("could not be started".to_string(), Some(e)))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first_line = stderr.lines().next().unwrap_or("").trim();
        let mut problem = format!("failed ({})", output.status);
        if !first_line.is_empty() {
            problem.push_str(&format!(": {first_line}"));
        }
        return Err(failed(problem, None));
    }
    let stdout = String::from_utf8(output.stdout)
        .map_err(|_| failed("printed something that is not UTF-8".to_string(), None))?;
    entry.value = stdout.trim().to_string();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_values(entries: &[Entry]) -> Vec<(&str, &str)> {
        entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect()
    }

    #[test]
    fn reads_assignments_comments_and_blank_lines() {
        let text =
            "# comment\n\n  a.b = 1  \r\nc=x=y\n   # indented comment\nd=\ne=has # not a comment\n";
        let (entries, errors) = parse(text, "t.conf");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            keys_values(&entries),
            [
                ("a.b", "1"),
                ("c", "x=y"),
                ("d", ""),
                ("e", "has # not a comment")
            ]
        );
        assert_eq!(
            entries[0].at,
            Origin::File {
                path: "t.conf".into(),
                line: 3
            }
        );
    }

    #[test]
    fn reports_every_bad_line_and_duplicates_with_both_lines() {
        let (entries, errors) = parse("a=1\nno equals sign\n=5\na=2\n", "t.conf");
        assert_eq!(keys_values(&entries), [("a", "1")]);
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("t.conf:2: `no equals sign`: not a setting"));
        assert!(messages[1].starts_with("t.conf:3: `=5`"));
        assert_eq!(
            messages[2],
            "t.conf:4: a: set twice, first at t.conf:1 (keep one of them)"
        );
    }

    #[test]
    fn overrides_replace_file_entries_and_are_numbered() {
        let (file, _) = parse("a=1\nb=2\n", "f");
        let (set, errors) =
            parse_overrides(&["b=3".into(), "oops".into(), "c = 4".into(), "b=5".into()]);
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "--set:2: `oops`: --set expects key=value",
                "--set:4: b: set twice, first at --set:1 (keep one of them)"
            ]
        );
        let merged = merge(file, set);
        assert_eq!(keys_values(&merged), [("a", "1"), ("b", "3"), ("c", "4")]);
        assert_eq!(merged[1].at, Origin::Set { index: 1 });
    }

    fn entry(value: &str) -> Entry {
        Entry {
            key: "k".into(),
            value: value.into(),
            at: Origin::Set { index: 1 },
        }
    }

    #[test]
    fn command_expansion() {
        let mut e = entry("$(echo '  secret  ')");
        let err = expand(&mut e, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--set:1: k: command expansion is disabled; start boltgate with --expand-commands"
        );
        expand(&mut e, true).unwrap();
        assert_eq!(e.value, "secret");

        let mut e = entry("$(echo oops >&2; exit 3)");
        let err = expand(&mut e, true).unwrap_err().to_string();
        assert!(
            err.starts_with("--set:1: k: command `echo oops >&2; exit 3` failed ("),
            "{err}"
        );
        assert!(err.ends_with(": oops"), "{err}");

        // Only a whole `$(...)` value is a command.
        let mut e = entry("pa$(ss)word");
        expand(&mut e, false).unwrap();
        assert_eq!(e.value, "pa$(ss)word");
    }
}
