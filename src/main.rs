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
    // Commands that need no configuration: they must work before one exists.
    match &cli.command {
        Some(Command::Config {
            action: ConfigCommand::Default,
        }) => {
            print!("{}", boltgate::config::DEFAULT_CONF);
            return ExitCode::SUCCESS;
        }
        Some(Command::Generate { what }) => {
            let mut out = std::io::stdout().lock();
            match what {
                GenerateCommand::Man => {
                    if let Err(e) = boltgate::cli::write_man(&mut out) {
                        eprintln!("boltgate: cannot write the man page: {e}");
                        return ExitCode::FAILURE;
                    }
                }
                GenerateCommand::Completions { shell } => {
                    boltgate::cli::write_completions(*shell, &mut out)
                }
            }
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let args = &cli.config;
    let config = match Config::load(args.config.as_deref(), &args.overrides, args.load_options()) {
        Ok(config) => config,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}", e.report());
            }
            let n = errors.len();
            eprintln!(
                "boltgate: {n} configuration problem{}; nothing was started",
                if n == 1 { "" } else { "s" }
            );
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    // Serve and check-config run the same start-up checks, so what check-config passes serve
    // starts, and what serve refuses check-config reports (all of it, exit 64).
    let preflight = matches!(cli.command, None | Some(Command::CheckConfig))
        .then(|| boltgate::reload::preflight::check(&config));
    if let Some(report) = preflight.as_ref().filter(|r| !r.problems.is_empty()) {
        for p in &report.problems {
            eprintln!("{p}");
        }
        let n = report.problems.len();
        eprintln!(
            "boltgate: {n} configuration problem{}; nothing was started",
            if n == 1 { "" } else { "s" }
        );
        return ExitCode::from(EXIT_CONFIG as u8);
    }
    match cli.command {
        Some(Command::CheckConfig) => {
            for w in preflight.iter().flat_map(|r| &r.warnings) {
                println!("warning: {w}");
            }
            for ignored in &config.ignored {
                println!("ignored (a Neo4j setting boltgate does not use): {ignored}");
            }
            println!("configuration OK: {}", config.source);
            println!("upstream: {} ({})", config.upstream.uri, tls_words(&config));
            println!(
                "listener: {} (tls_level {})",
                config.bolt.listen_address, config.bolt.tls_level
            );
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
        None => match boltgate::serve(
            config,
            boltgate::reload::ConfigSource {
                path: args.config.clone(),
                overrides: args.overrides.clone(),
                opts: args.load_options(),
            },
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                boltgate::telemetry::eprint_line(format_args!("boltgate: {e}"));
                ExitCode::FAILURE
            }
        },
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
