//! The command line: `boltgate` serves, `boltgate check-config` validates and exits, `boltgate certs
//! check` inspects the SSL policies' certificates and keys, `boltgate config default` prints the
//! embedded configuration, `boltgate generate man|completions` the man page and completions. All take the same configuration flags, which may come before or after the subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{LoadOptions, Scope};

/// The exit code for a configuration or usage error (sysexits EX_USAGE), before any port is bound.
pub const EXIT_CONFIG: i32 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "boltgate",
    version,
    about = "A Bolt protocol proxy for Neo4j clients and servers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration, print the effective upstream and listener, and exit
    /// (0 when valid; 64 with every problem otherwise).
    CheckConfig,
    /// Read the admin endpoint the configuration enables (server.https.* or server.http.*) and print
    /// a one-screen summary; exit 0 when ready, 1 when not ready, 2 when unreachable.
    Status {
        /// Client certificate (PEM chain) for an HTTPS endpoint whose policy has client_auth=REQUIRE.
        #[arg(long, value_name = "FILE", requires = "client_key")]
        client_cert: Option<PathBuf>,
        /// The client certificate's private key (PEM, unencrypted).
        #[arg(long, value_name = "FILE", requires = "client_cert")]
        client_key: Option<PathBuf>,
    },
    /// TLS certificates and keys of the SSL policies (dbms.ssl.policy.*).
    Certs {
        #[command(subcommand)]
        action: CertsCommand,
    },
    /// The configuration file itself.
    Config {
        #[command(subcommand)]
        action: ConfigCommand,
    },
    /// Generate the man page or shell completions from this command line's definition (the
    /// Debian package ships both).
    Generate {
        #[command(subcommand)]
        what: GenerateCommand,
    },
}

/// `boltgate config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the embedded default configuration (conf/boltgate.conf: every setting with its
    /// meaning and default), a starting point for your own file.
    Default,
}

/// `boltgate generate …`.
#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// The man page, boltgate.1 (roff), on standard output.
    Man,
    /// Completions for a shell, on standard output.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `boltgate certs …`.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Load each enabled SSL policy as boltgate would and show its certificates (subject, SANs,
    /// issuer, validity, usages), key, trusted and revoked certificates, and whether the chain
    /// verifies; exit 0 when all are fine, 1 when one is not, 64 for a configuration error.
    Check {
        /// Check only this scope (bolt, cluster or https), even if it is not enabled.
        #[arg(long, value_name = "SCOPE", value_parser = parse_scope)]
        scope: Option<Scope>,
    },
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::from_name(s).ok_or_else(|| {
        format!(
            "unknown SSL policy scope `{s}` (known scopes: {})",
            Scope::known_names()
        )
    })
}

/// Where the configuration comes from.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Configuration file in neo4j.conf syntax; without it, the built-in conf/boltgate.conf.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Override one setting, e.g. --set server.bolt.tls_level=REQUIRED; repeatable, applied after the file.
    #[arg(long = "set", value_name = "key=value", global = true)]
    pub overrides: Vec<String>,

    /// Run `$(command)` values through `sh -c` and use their output, as Neo4j's --expand-commands.
    #[arg(long, global = true)]
    pub expand_commands: bool,

    /// Refuse Neo4j settings boltgate does not use (by default they are accepted and listed as
    /// ignored at start-up), as Neo4j's server.config.strict_validation.enabled does.
    #[arg(long, global = true)]
    pub strict: bool,
}

impl ConfigArgs {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            expand_commands: self.expand_commands,
            strict: self.strict,
        }
    }
}

/// `boltgate generate man`: the man page, from the clap definition.
pub fn write_man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// `boltgate generate completions <shell>`.
pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "boltgate", out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_before_or_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "boltgate",
            "check-config",
            "--config",
            "a.conf",
            "--set",
            "k=v",
            "--set",
            "x=y",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::CheckConfig)));
        assert_eq!(cli.config.config, Some(PathBuf::from("a.conf")));
        assert_eq!(cli.config.overrides, ["k=v", "x=y"]);
        let cli =
            Cli::try_parse_from(["boltgate", "--expand-commands", "--config", "b.conf"]).unwrap();
        assert!(cli.command.is_none());
        assert!(cli.config.load_options().expand_commands);
    }

    #[test]
    fn certs_check_takes_a_scope() {
        let cli =
            Cli::try_parse_from(["boltgate", "certs", "check", "--scope", "cluster"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Certs {
                action: CertsCommand::Check {
                    scope: Some(Scope::Cluster)
                }
            })
        ));
        let err = Cli::try_parse_from(["boltgate", "certs", "check", "--scope", "backup"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("known scopes: bolt, cluster, https"), "{err}");
    }
}

#[cfg(test)]
mod generate_tests {
    use super::*;

    #[test]
    fn man_page_and_completions_come_from_the_definition() {
        let mut man = Vec::new();
        write_man(&mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        assert!(man.starts_with(".ie"), "{}", &man[..80.min(man.len())]);
        assert!(man.contains("check\\-config"), "{man}");
        let mut bash = Vec::new();
        write_completions(clap_complete::Shell::Bash, &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        assert!(
            bash.contains("check-config") && bash.contains("--client-cert"),
            "{bash}"
        );
    }
}
