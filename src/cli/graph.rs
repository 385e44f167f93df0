//! `swctl graph FILE | --name LAB [--format dot|svg|mermaid]`: the lab as
//! a picture (`lab::graph`), from its file or from the file an applied lab
//! was applied from. Needs no root: it reads files only.

use clap::ValueEnum;
use serde_json::json;

use super::{CliError, Output};
use crate::lab::graph::Graph;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz (`| dot -Tpng > lab.png`)
    Dot,
    /// an SVG picture drawn by swctl
    Svg,
    /// Mermaid (`graph LR`), for Markdown
    Mermaid,
}

pub(super) fn run(
    file: Option<&str>,
    name: Option<&str>,
    format: GraphFormat,
) -> Result<Output, CliError> {
    let path = match (file, name) {
        (Some(f), None) => f.to_string(),
        (None, Some(n)) => super::export::applied_file(n)?,
        _ => {
            return Err(CliError::Usage(
                "graph needs a topology FILE or --name LAB".into(),
            ));
        }
    };
    let t = crate::lab::topology::load(std::path::Path::new(&path))?;
    let g = Graph::of(&t.desired);
    let text = match format {
        GraphFormat::Dot => g.dot(),
        GraphFormat::Svg => crate::lab::graph_svg::svg(&g),
        GraphFormat::Mermaid => g.mermaid(),
    };
    Ok(Output {
        text: text.trim_end().to_string(),
        json: json!({"command": "graph", "graph": g, "text": text}),
        code: 0,
    })
}
