//! The `swctl` binary: parse, run, print the result or the whole error
//! chain, and exit with the command's status. `ns exec` is handled here,
//! before any thread exists, because it setns()es and execs this process.

use clap::Parser;

use swctl::cli::{Cli, CliError, Cmd, NsCmd, report_error, run};

/// A usage error (clap's): JSON when `--json` was given, else clap's own
/// text; exit code 2 either way. Help and version print as usual.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let json = std::env::args()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    let shown = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !json || shown {
        e.exit();
    }
    // clap's text: "error: WHAT\n  DETAIL...\n\nUsage: ...\n\nFor more ..."
    let text = e.render().to_string();
    let text = text.replace("For more information, try '--help'.", "");
    let (what, usage) = text.split_once("Usage:").unwrap_or((&text, ""));
    let error = what
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string();
    let mut v = serde_json::json!({"error": error, "causes": [], "exit_code": 2});
    if let Some(u) = usage
        .lines()
        .next()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        v["usage"] = serde_json::json!(format!("Usage: {u}"));
    }
    println!("{v}");
    std::process::exit(2);
}

fn main() {
    // Like `ip`: a closed pipe (`swctl plan big.toml | head`) ends the
    // process quietly by SIGPIPE; Rust's default (ignore it, then panic in
    // println!) printed a backtrace and exited 101.
    // SAFETY: called before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // a process's supervisor (`effect::procs`): before anything else, as
    // it forks
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(swctl::effect::procs::SUPERVISE) {
        swctl::effect::procs::supervise(&args[2..]);
    }
    // One netlink socket per namespace stays open while a command runs: a
    // lab of thousands of namespaces needs more than the usual soft limit
    // of open files; take what the hard limit allows.
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    // SWCTL_LOG (a tracing filter) wins over -v
    let filter = match std::env::var("SWCTL_LOG") {
        Ok(f) => tracing_subscriber::EnvFilter::new(f),
        Err(_) => tracing_subscriber::EnvFilter::new(match cli.verbose {
            0 => "warn",
            1 => "warn,swctl=info",
            2 => "warn,swctl=debug",
            _ => "trace",
        }),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(cli.verbose >= 2)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Cmd::Ns(NsCmd::Exec { name, cmd }) = &cli.cmd {
        let e: CliError = match name.parse::<swctl::model::names::NsName>() {
            Err(e) => e.into(),
            Ok(_) if !swctl::cli::is_root() => CliError::NotRoot,
            Ok(n) => swctl::effect::kernel::netns::exec(&n, cmd).into(),
        };
        report_error(&e, cli.json);
        // 127/126 like a shell when the command cannot be run; 255 like
        // `ip netns exec` when the namespace cannot be entered
        std::process::exit(match &e {
            CliError::Ns(
                swctl::effect::kernel::netns::NsError::NotFound(_)
                | swctl::effect::kernel::netns::NsError::Enter(..),
            ) => 255,
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
            // pcap on standard output: nothing else may go there
            let pcap_out = matches!(&cli.cmd, swctl::cli::Cmd::Capture(r) if r.write.is_none());
            if cli.json && !pcap_out {
                println!("{}", out.json);
            } else if !out.text.is_empty() && !cli.quiet {
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
