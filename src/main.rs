//! The boltgate binary: parse the command line, load and validate the configuration (every problem is
//! printed and the exit code is 64 before any port is bound), then check-config exits, certs check reports
//! on the SSL policies, or the proxy serves.

use std::process::ExitCode;

use boltgate::cli::{CertsCommand, Cli, Command, ConfigCommand, GenerateCommand, EXIT_CONFIG};
use boltgate::config::Config;
use clap::Parser;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and succeed.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_CONFIG as u8)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if let Some(code) = run_without_config(&cli.command) {
        return code;
    }
    let args = &cli.config;
    let config = match Config::load(args.config.as_deref(), &args.overrides, args.load_options()) {
        Ok(config) => config,
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(|e| e.report()).collect();
            return config_problems(&lines);
        }
    };
    // Serve and check-config run the same start-up checks, so what check-config passes serve
    // starts, and what serve refuses check-config reports (all of it, exit 64).
    let preflight = matches!(cli.command, None | Some(Command::CheckConfig))
        .then(|| boltgate::reload::preflight::check(&config));
    if let Some(report) = preflight.as_ref().filter(|r| !r.problems.is_empty()) {
        return config_problems(&report.problems);
    }
    match cli.command {
        Some(Command::CheckConfig) => {
            let warnings = preflight.iter().flat_map(|r| &r.warnings);
            check_config_report(&config, warnings);
            ExitCode::SUCCESS
        }
        Some(Command::Status {
            client_cert,
            client_key,
        }) => {
            let client = client_cert.as_deref().zip(client_key.as_deref());
            ExitCode::from(boltgate::admin::status::run(&config, client))
        }
        Some(Command::Certs {
            action: CertsCommand::Check { scope },
        }) => {
            let mut report = String::new();
            let ok = boltgate::tls::inspect::check(&config, scope, &mut report);
            print!("{report}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Some(Command::Config { .. } | Command::Generate { .. }) => ExitCode::SUCCESS,
        None => serve(config, args),
    }
}

/// The commands that need no configuration, run before one is loaded: they must work before
/// one exists. `None` for every other command.
fn run_without_config(command: &Option<Command>) -> Option<ExitCode> {
    match command {
        Some(Command::Config {
            action: ConfigCommand::Default,
        }) => {
            print!("{}", boltgate::config::DEFAULT_CONF);
            Some(ExitCode::SUCCESS)
        }
        Some(Command::Generate { what }) => {
            let mut out = std::io::stdout().lock();
            match what {
                GenerateCommand::Man => {
                    if let Err(e) = boltgate::cli::write_man(&mut out) {
                        eprintln!("boltgate: cannot write the man page: {e}");
                        return Some(ExitCode::FAILURE);
                    }
                }
                GenerateCommand::Completions { shell } => {
                    boltgate::cli::write_completions(*shell, &mut out)
                }
            }
            Some(ExitCode::SUCCESS)
        }
        _ => None,
    }
}

/// Every problem found (loading or start-up checks), one count, and exit 64: nothing started.
fn config_problems(problems: &[String]) -> ExitCode {
    for p in problems {
        eprintln!("{p}");
    }
    let n = problems.len();
    eprintln!(
        "boltgate: {n} configuration problem{}; nothing was started",
        if n == 1 { "" } else { "s" }
    );
    ExitCode::from(EXIT_CONFIG as u8)
}

/// `check-config` on a configuration that passed: what an operator should still look at
/// (warnings, Neo4j settings ignored), then what boltgate would do.
fn check_config_report<'a>(config: &Config, warnings: impl Iterator<Item = &'a String>) {
    for w in warnings {
        println!("warning: {w}");
    }
    for ignored in &config.ignored {
        println!("ignored (a Neo4j setting boltgate does not use): {ignored}");
    }
    println!("configuration OK: {}", config.source);
    println!("upstream: {} ({})", config.upstream.uri, tls_words(config));
    println!(
        "listener: {} (tls_level {})",
        config.bolt.listen_address, config.bolt.tls_level
    );
}

/// The proxy, until it is stopped; a reload reads the same file and `--set` overrides again.
fn serve(config: Config, args: &boltgate::cli::ConfigArgs) -> ExitCode {
    let source = boltgate::reload::ConfigSource {
        path: args.config.clone(),
        overrides: args.overrides.clone(),
        opts: args.load_options(),
    };
    match boltgate::serve(config, source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            boltgate::telemetry::eprint_line(format_args!("boltgate: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// How the upstream connection is secured, in words.
fn tls_words(config: &Config) -> &'static str {
    use boltgate::config::uri::TlsMode;
    if config.ssl.cluster.enabled {
        return "TLS with dbms.ssl.policy.cluster: mutual TLS, verified against its trusted_dir";
    }
    match config.upstream.uri.tls {
        TlsMode::Plain => "plaintext",
        TlsMode::Verified => "TLS, certificate verified",
        TlsMode::SelfSigned => "TLS, any certificate accepted",
    }
}
