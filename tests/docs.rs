//! The documentation a newcomer finds their way in, checked: the README
//! stays short (at most 250 lines) and maps every page of docs/; every
//! relative link of the README and of docs/ leads to a file that exists;
//! the tree of src/ in docs/design.md is the real one (every file once,
//! nothing that is not there). Reads files only; runs anywhere.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The relative targets of `[text](target)` links (no scheme, no anchor).
fn links(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let Some(j) = rest.find(')') else { break };
        let t = rest[..j].split('#').next().unwrap_or("");
        if !t.is_empty() && !t.contains("://") && !t.starts_with("mailto:") {
            out.push(t.to_string());
        }
    }
    out
}

fn pages() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    v.sort();
    v
}

#[test]
fn the_readme_is_short_and_maps_every_page() {
    let readme = read(&root().join("README.md"));
    let n = readme.lines().count();
    assert!(n <= 250, "README.md has {n} lines (at most 250)");
    let linked: BTreeSet<String> = links(&readme).into_iter().collect();
    for p in pages() {
        let rel = format!("docs/{}", p.file_name().unwrap().to_string_lossy());
        assert!(linked.contains(&rel), "README.md does not link {rel}");
    }
}

#[test]
fn every_relative_link_leads_somewhere() {
    let mut files = vec![root().join("README.md")];
    files.extend(pages());
    let mut bad = vec![];
    for f in &files {
        let dir = f.parent().unwrap();
        for l in links(&read(f)) {
            if !dir.join(&l).exists() {
                bad.push(format!("{}: {l}", f.display()));
            }
        }
    }
    assert!(bad.is_empty(), "links to nothing:\n{}", bad.join("\n"));
}

/// The files the tree in docs/design.md names: a line's first word, at an
/// indentation of two spaces per level, a name ending in `/` a directory.
fn tree_in_design() -> BTreeSet<String> {
    let text = read(&root().join("docs/design.md"));
    let start = text
        .find("## The tree of src/")
        .expect("docs/design.md has the tree of src/");
    let block = &text[start..];
    let block = &block[block.find("```text\n").expect("a text block") + 8..];
    let block = &block[..block.find("```").expect("the block ends")];
    let mut stack: Vec<String> = vec![];
    let mut out = BTreeSet::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let indent = line.len() - line.trim_start().len();
        assert_eq!(indent % 2, 0, "odd indentation: {line:?}");
        let name = line.split_whitespace().next().unwrap();
        stack.truncate(indent / 2);
        if let Some(dir) = name.strip_suffix('/') {
            stack.push(dir.to_string());
        } else {
            let mut p = stack.clone();
            p.push(name.to_string());
            out.insert(p.join("/"));
        }
    }
    out
}

fn real_tree(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            real_tree(&p, base, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            out.insert(format!("src/{rel}"));
        }
    }
}

#[test]
fn the_design_pages_tree_is_the_real_one() {
    let said = tree_in_design();
    let mut real = BTreeSet::new();
    real_tree(&root().join("src"), &root().join("src"), &mut real);
    let missing: Vec<_> = real.difference(&said).collect();
    let extra: Vec<_> = said.difference(&real).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/design.md's tree of src/ is not the real one:\n  not in it: {missing:?}\n  not in src/: {extra:?}"
    );
    assert!(real.len() > 50, "{} files", real.len());
}
