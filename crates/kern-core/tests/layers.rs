//! The layers inside kern-core (see the crate docs and ARCHITECTURE.md): the data modules
//! name neither the engine nor workflows, and the engine never names the workflow module, so
//! that the modules form no cycle and a new kind of component needs nothing from workflows.
//! A source check in the manner of rust-analyzer's tidy tests: it reads the code (comments
//! and doc examples left out) and fails naming the file and line that crosses a layer.

use std::path::{Path, PathBuf};

/// The Rust files under `src/<rel>` (a file or a directory).
fn files(rel: &str) -> Vec<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(rel);
    if path.is_file() {
        return vec![path];
    }
    let mut out = Vec::new();
    let mut dirs = vec![path];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    assert!(!out.is_empty(), "no Rust files under src/{rel}");
    out
}

/// The places in `modules` whose code (not comments) names one of `forbidden`.
fn crossings(modules: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in modules.iter().flat_map(|m| files(m)) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let code = code.split("//").next().unwrap_or_default();
            for f in forbidden {
                if code.contains(f) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    found
}

const DATA: &[&str] = &[
    "event.rs",
    "transcript.rs",
    "session_state.rs",
    "step_output.rs",
    "error.rs",
];

#[test]
fn the_engine_never_names_the_workflow_module() {
    let found = crossings(&["engine"], &["crate::workflow", "super::workflow"]);
    assert!(
        found.is_empty(),
        "the engine imports workflows:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_data_modules_name_neither_the_engine_nor_workflows() {
    let found = crossings(DATA, &["crate::engine", "crate::workflow"]);
    assert!(
        found.is_empty(),
        "a data module imports a layer above it:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_a_crossing() {
    // The check itself can fail: the workflow module does name the engine (its layer below).
    assert!(!crossings(&["workflow"], &["crate::engine"]).is_empty());
}
