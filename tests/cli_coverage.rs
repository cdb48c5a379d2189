//! The audit behind "every CLI subcommand has an end-to-end test": lists
//! every subcommand the real binary offers (`natter --help`, recursively)
//! and checks that some test under `tests/` runs it the way a user does,
//! i.e. passes its words as the first arguments of a `natter` command
//! (`&["group", "kick", …]`, `.args(["bench", …])`, `let args =
//! ["admin", "backup", …]`, `.arg("serve")`).
//! A new subcommand without such a test fails here, naming it.

mod common;

use std::path::Path;

use common::{natter, run};

/// The subcommands listed under `Commands:` in `natter WORDS… --help`.
fn subcommands(words: &[String]) -> Vec<String> {
    let out = run({
        let mut cmd = natter();
        cmd.args(words).arg("--help");
        cmd
    });
    assert_eq!(out.code, Some(0), "natter {words:?} --help: {out:?}");
    let mut list = Vec::new();
    let mut in_commands = false;
    for line in out.stdout.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
        } else if line.trim().is_empty() {
            in_commands = false;
        } else if in_commands
            && let Some(name) = line.split_whitespace().next()
            && name != "help"
        {
            list.push(name.to_owned());
        }
    }
    list
}

/// Every subcommand path, depth first (`["group"]`, `["group", "kick"]`, …).
fn every_path() -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        for name in subcommands(&path) {
            let mut child = path.clone();
            child.push(name);
            paths.push(child.clone());
            todo.push(child);
        }
    }
    paths.sort();
    paths
}

/// The text of every `.rs` file under `dir` except this one.
fn sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).expect("read tests dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "cli_coverage.rs")
        {
            out.push_str(&std::fs::read_to_string(&path).expect("read test source"));
        }
    }
}

/// Whether `text` runs `path` as a `natter` command line.
fn is_run(text: &str, path: &[String]) -> bool {
    let quoted: Vec<String> = path.iter().map(|w| format!("\"{w}\"")).collect();
    let words = quoted.join(", ");
    let starts = [
        format!("&[{words}"),
        format!("= [{words}"),
        format!("([{words}"),
    ];
    starts.iter().any(|s| text.contains(s.as_str()))
        || (path.len() == 1 && text.contains(&format!(".arg({})", quoted[0])))
}

#[test]
fn every_cli_subcommand_has_an_end_to_end_test() {
    let mut text = String::new();
    sources(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .as_path(),
        &mut text,
    );
    let paths = every_path();
    assert!(
        paths.iter().any(|p| p == &["group", "invite"]),
        "the listing works: {paths:?}"
    );
    let missing: Vec<String> = paths
        .iter()
        .filter(|p| !is_run(&text, p))
        .map(|p| p.join(" "))
        .collect();
    assert!(
        missing.is_empty(),
        "no test under tests/ runs these subcommands (add an end-to-end test): {missing:?}"
    );
}
