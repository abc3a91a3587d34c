//! The server's rules of structure (ARCHITECTURE.md, kern-server), checked on its source:
//! the server talks to the engine, never to the store; its modules form no cycle; and its
//! entry points (`routes`, `ws`, `ui`) never import each other: what they share lives in
//! modules below them (`access`, `create_run`, `extract`, `respond`, `form`, `wire`, …).
//! Comments and doc comments are left out; a failure names the file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A source file: its top-level module (`routes/runs.rs` → `routes`; `lib.rs` → `lib`), its
/// path, and its code lines (number, text), comments left out.
type Source = (String, PathBuf, Vec<(usize, String)>);

/// Every Rust file under `src/`.
fn modules() -> Vec<Source> {
    let mut out = Vec::new();
    let mut dirs = vec![src()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src()).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            let code = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim_start().starts_with("//"))
                .map(|(n, l)| (n + 1, l.split("//").next().unwrap_or_default().to_owned()))
                .collect();
            out.push((module, path, code));
        }
    }
    out
}

/// The crate modules a file's code names: `crate::name` and `crate::{a, b::c, …}` (a group
/// may span lines).
fn named_modules(code: &[(usize, String)], known: &BTreeSet<String>) -> BTreeSet<String> {
    let text: String = code
        .iter()
        .map(|(_, l)| l.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let items = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or_default(),
            None => rest,
        };
        let items: Vec<&str> = if rest.starts_with('{') {
            items.split(',').collect()
        } else {
            vec![items]
        };
        for item in items {
            let name: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if known.contains(&name) {
                names.insert(name);
            }
        }
    }
    names
}

#[test]
fn the_server_never_reads_the_store() {
    let mut found = Vec::new();
    for (_, path, code) in modules() {
        for (n, line) in &code {
            if line.contains(".store()") || line.contains("kern_store") {
                found.push(format!("{}:{n}: {}", path.display(), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "kern-server reaches into the store; ask the engine instead:\n{}",
        found.join("\n")
    );
}

#[test]
fn modules_form_no_cycle_and_entry_points_stay_apart() {
    let files = modules();
    let known: BTreeSet<String> = files.iter().map(|(m, _, _)| m.clone()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, _, code) in &files {
        let targets = named_modules(code, &known);
        let entry = edges.entry(module.clone()).or_default();
        entry.extend(targets.into_iter().filter(|t| t != module && t != "lib"));
    }
    // The crate root composes the modules; everything else is checked.
    edges.remove("lib");

    let entry_points = ["routes", "ws", "ui"];
    let mut crossings = Vec::new();
    for from in entry_points {
        for to in edges.get(from).into_iter().flatten() {
            if entry_points.contains(&to.as_str()) {
                crossings.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        crossings.is_empty(),
        "entry points import each other (share through a module below them): {crossings:?}"
    );

    // Depth-first search for a back edge; the cycle is reported as a path.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if !done.insert(m.to_owned()) {
            return None;
        }
        path.push(m.to_owned());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        if let Some(cycle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            panic!("a module cycle: {}", cycle.join(" -> "));
        }
    }
}
