//! The `swctl` binary: parse, run, print the result or the whole error
//! chain, and exit with the command's status. `ns exec` is handled here,
//! before any thread exists, because it setns()es and execs this process.

use clap::Parser;
use swctl::cli::{Cli, CliError, Cmd, NsCmd, report_error, run};

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("SWCTL_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Cmd::Ns(NsCmd::Exec { name, cmd }) = &cli.cmd {
        let e: CliError = match name.parse::<swctl::model::names::NsName>() {
            Err(e) => e.into(),
            Ok(_) if !swctl::cli::is_root() => CliError::NotRoot,
            Ok(n) => swctl::effect::kernel::netns::exec(&n, cmd).into(),
        };
        report_error(&e, cli.json);
        // 127/126 like a shell when the command cannot be run
        std::process::exit(match &e {
            CliError::Ns(swctl::effect::kernel::netns::NsError::Exec(_, _, io))
                if io.kind() == std::io::ErrorKind::NotFound =>
            {
                127
            }
            CliError::Ns(swctl::effect::kernel::netns::NsError::Exec(..)) => 126,
            other => other.exit_code(),
        });
    }
    match run(&cli) {
        Ok(out) => {
            if cli.json {
                println!("{}", out.json);
            } else if !out.text.is_empty() {
                println!("{}", out.text);
            }
            if out.code != 0 {
                std::process::exit(out.code);
            }
        }
        Err(e) => {
            report_error(&e, cli.json);
            std::process::exit(e.exit_code());
        }
    }
}
