//! `swctl completions SHELL` (clap_complete: the script on stdout) and
//! `swctl man --dir DIR` (clap_mangen: swctl.1 and one page per
//! subcommand, swctl-ns-add.1 ...): made from the grammar in `args`, so
//! they never go stale. Neither needs root.

use std::path::Path;

use clap::CommandFactory;
use serde_json::json;

use super::args::{Cli, Cmd};
use super::{CliError, Output};

/// The documentation commands' output, or None for any other command.
pub(super) fn run(cli: &Cli) -> Option<Result<Output, CliError>> {
    match &cli.cmd {
        Cmd::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "swctl", &mut buf);
            let text = String::from_utf8_lossy(&buf).trim_end().to_string();
            Some(Ok(Output {
                json: json!({"shell": shell.to_string(), "script": text}),
                text,
                code: 0,
            }))
        }
        Cmd::Man { dir } => Some(man(Path::new(dir))),
        _ => None,
    }
}

fn man(dir: &Path) -> Result<Output, CliError> {
    let fail = |e: std::io::Error| {
        CliError::Failed(format!(
            "cannot write manual pages in {}: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(fail)?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .map_err(fail)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("swctl") && n.ends_with(".1"))
        .collect();
    pages.sort();
    Ok(Output {
        text: format!(
            "{} manual pages in {} (man -l {}/swctl.1)",
            pages.len(),
            dir.display(),
            dir.display()
        ),
        json: json!({"dir": dir.display().to_string(), "pages": pages}),
        code: 0,
    })
}
