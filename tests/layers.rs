//! The shape of the source tree, checked: every layer uses only the layers
//! below it (so there is no import cycle between them), no two modules
//! inside a layer use each other in a loop, nor do two files anywhere
//! (`effect::kernel::dump` -> `vxlan` -> `links` -> `dump` was one), every
//! file says what it owns
//! (`//!`), and no file is longer than 600 lines. Reads src/ as text; runs
//! anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first; a layer may use only the ones before it.
const LAYERS: &[&str] = &[
    "hook", "openflow", "model", "ovsdb", "plan", "effect", "lab", "bench", "cli",
];

const MAX_LINES: usize = 600;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file: src/plan/ovs.rs -> [plan, ovs];
/// src/effect/kernel/mod.rs -> [effect, kernel].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and string literals (roughly: line
/// comments and the insides of "..." are dropped), so a path named in a
/// doc comment or a message is not a use.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut in_str = false;
        let mut prev = ' ';
        for ch in line.chars() {
            if ch == '"' && prev != '\\' {
                in_str = !in_str;
                out.push('"');
            } else if !in_str {
                out.push(ch);
            }
            prev = ch;
        }
        out.push('\n');
    }
    out
}

/// The modules a file refers to, as absolute paths (`crate::a::b`,
/// `super::x` resolved, cut to the longest prefix that is a module of
/// `known`), then to `depth` components.
fn uses(
    module: &[String],
    known: &BTreeSet<Vec<String>>,
    text: &str,
    depth: usize,
) -> BTreeSet<Vec<String>> {
    let cut = |p: Vec<String>| -> Vec<String> {
        let n = (1..=p.len())
            .rev()
            .find(|&n| known.contains(&p[..n].to_vec()))
            .unwrap_or(p.len().min(1));
        p.into_iter().take(n.min(depth)).collect()
    };
    let text = code(text);
    let mut out = BTreeSet::new();
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.contains("::"))
        .collect();
    for w in words {
        let segs: Vec<&str> = w.split("::").filter(|s| !s.is_empty()).collect();
        let mut path: Vec<String> = match segs.first() {
            Some(&"crate") => vec![],
            Some(&"super") => {
                // a mod.rs file is its directory's module: `super` is its parent
                let mut base = module.to_vec();
                let mut s = &segs[..];
                while s.first() == Some(&"super") {
                    base.pop();
                    s = &s[1..];
                }
                let mut p = base;
                p.extend(s.iter().map(|x| x.to_string()));
                if !p.is_empty() {
                    out.insert(cut(p));
                }
                continue;
            }
            _ => continue,
        };
        path.extend(segs[1..].iter().map(|x| x.to_string()));
        if !path.is_empty() {
            out.insert(cut(path));
        }
    }
    out
}

fn sources() -> (PathBuf, Vec<PathBuf>, BTreeSet<Vec<String>>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut v = Vec::new();
    files(&src, &mut v);
    v.sort();
    let known = v.iter().map(|f| module_of(&src, f)).collect();
    (src, v, known)
}

#[test]
fn every_layer_uses_only_the_layers_below_it() {
    let (src, all, known) = sources();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut bad = Vec::new();
    for f in &all {
        let m = module_of(&src, f);
        let Some(top) = m.first() else { continue };
        if top == "main" {
            continue;
        }
        let Some(mine) = rank(top) else {
            bad.push(format!("{}: module {top} is in no layer", f.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for u in uses(&m, &known, &text, 1) {
            let Some(theirs) = rank(&u[0]) else { continue };
            if theirs > mine {
                bad.push(format!(
                    "{} ({top}) uses {} (a higher layer)",
                    f.strip_prefix(&src).unwrap().display(),
                    u[0]
                ));
            }
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn no_import_cycle_between_modules() {
    let (src, all, known) = sources();
    // module -> modules it uses, at two levels (effect::kernel, plan::ovs);
    // a parent and its own children are one unit (the parent declares them)
    let mut g: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for f in &all {
        let m: Vec<String> = module_of(&src, f).into_iter().take(2).collect();
        if m.is_empty() || m[0] == "main" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let edges = g.entry(m.clone()).or_default();
        for u in uses(&module_of(&src, f), &known, &text, 2) {
            let related = u.starts_with(&m[..1]) && (u.len() == 1 || m.len() == 1);
            if u != m && !related {
                edges.insert(u);
            }
        }
    }
    // depth-first search for a cycle
    fn visit(
        n: &Vec<String>,
        g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(i) = stack.iter().position(|x| x == n) {
            return Some(stack[i..].to_vec());
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.clone());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.clone());
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(c) = visit(n, &g, &mut vec![], &mut done) {
            let names: Vec<String> = c.iter().map(|p| p.join("::")).collect();
            panic!("import cycle: {} -> {}", names.join(" -> "), names[0]);
        }
    }
    assert!(g.len() > 20, "the graph was built ({} modules)", g.len());
}

#[test]
fn every_file_says_what_it_owns_and_is_short() {
    let (src, all, _) = sources();
    let mut bad = Vec::new();
    for f in &all {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.strip_prefix(&src).unwrap().display().to_string();
        if !text.trim_start().starts_with("//!") {
            bad.push(format!("{name}: no `//!` saying what it owns"));
        }
        let n = text.lines().count();
        if n > MAX_LINES {
            bad.push(format!("{name}: {n} lines (at most {MAX_LINES})"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn no_import_cycle_between_files() {
    // every module at its full path (a file each), a parent and the
    // children it declares being one unit only through `mod` lines, which
    // are not uses
    let (src, all, known) = sources();
    let mut g: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for f in &all {
        let m = module_of(&src, f);
        if m.is_empty() || m[0] == "main" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let edges = g.entry(m.clone()).or_default();
        for u in uses(&m, &known, &text, usize::MAX) {
            // a use of an ancestor's item (`super::X`, `crate::lab::X`) is
            // a use of the ancestor's own file; a use of its own children
            // is what a parent is for
            let own_child = u.starts_with(&m);
            let ancestor = m.starts_with(&u);
            if !own_child && !ancestor && known.contains(&u) {
                edges.insert(u);
            }
        }
    }
    let mut cycles = Vec::new();
    for a in g.keys() {
        for b in g.get(a).into_iter().flatten() {
            // a path back from b to a
            let mut seen = BTreeSet::new();
            let mut todo = vec![(b.clone(), vec![a.clone(), b.clone()])];
            while let Some((n, path)) = todo.pop() {
                if &n == a {
                    let names: Vec<String> = path.iter().map(|p| p.join("::")).collect();
                    cycles.push(names.join(" -> "));
                    break;
                }
                if !seen.insert(n.clone()) {
                    continue;
                }
                for m in g.get(&n).into_iter().flatten() {
                    let mut p = path.clone();
                    p.push(m.clone());
                    todo.push((m.clone(), p));
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    assert!(
        cycles.is_empty(),
        "import cycles between files:\n{}",
        cycles.join("\n")
    );
}
