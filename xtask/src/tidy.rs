//! `cargo xtask tidy`: the repository rules, also run as the `#[test] fn tidy` below so that a
//! plain `cargo test` enforces them (rust-analyzer's "all code invariants are tested" rule).
//!
//! - every `.rs` file under a crate's `src/` starts with a `//!` line saying what it owns;
//! - `executor-core/src` takes its synchronisation from `sync.rs`, the loom shim: no `std::sync`
//!   elsewhere, except the files in [`STD_SYNC_ALLOWED`], each with its reason;
//! - every `unsafe` block and `unsafe impl` has a `// SAFETY:` comment on its line, within the
//!   3 lines above it, or in the comment block right above it;
//! - no `#[ignore]` without a reason (`#[ignore = "why"]`);
//! - no `dbg!`, `todo!` or `unimplemented!` under `src/`.
//!
//! The checks read code lines only: comment lines (doc examples included) are skipped.

use std::fs;
use std::path::{Path, PathBuf};

use crate::flags;
use crate::util::{self, Result};

/// Files of `executor-core/src` that may use `std::sync` directly, and why.
const STD_SYNC_ALLOWED: &[(&str, &str)] = &[
    (
        "sync.rs",
        "the shim itself: it chooses between std and loom",
    ),
    (
        "error.rs",
        "Arc and Mutex as plain data inside error values (a panic payload, an error source); \
         no protocol loom explores runs through them",
    ),
    (
        "callback.rs",
        "the process-wide callback panic hook is a static RwLock, and loom types cannot be statics",
    ),
    (
        "panic.rs",
        "a static Once installs the panic hook once per process, and loom types cannot be statics",
    ),
];

// Built with `concat!` so this file does not trip its own checks.
const UNSAFE_BLOCK: &str = concat!("unsafe", " {");
const UNSAFE_IMPL: &str = concat!("unsafe", " impl");
const SAFETY: &str = concat!("// SAFETY", ":");
const BARE_IGNORE: &str = concat!("#[ignore", "]");
const LEFTOVERS: &[&str] = &[
    concat!("dbg", "!("),
    concat!("todo", "!("),
    concat!("unimplemented", "!("),
];

impl flags::Tidy {
    /// Prints every rule broken, and fails if there is any.
    pub(crate) fn run(&self) -> Result<()> {
        let problems = check(&util::project_root())?;
        if problems.is_empty() {
            println!("tidy: ok");
            return Ok(());
        }
        for problem in &problems {
            println!("{problem}");
        }
        Err(format!("tidy: {} problems", problems.len()).into())
    }
}

/// Every rule broken under `root`, as `path:line: what`.
fn check(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    collect_rust_files(root, &mut files)?;
    for path in files {
        let text = fs::read_to_string(&path)?;
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let in_src = is_crate_source(root, relative);
        problems.extend(check_file(relative, &text, in_src));
    }
    problems.extend(check_std_sync(root)?);
    Ok(problems)
}

/// The rules that look at one file.
fn check_file(path: &Path, text: &str, in_src: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let path = path.display();
    if in_src && !text.starts_with("//!") {
        problems.push(format!(
            "{path}:1: starts without a `//!` line saying what the file owns"
        ));
    }
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        let code = code_part(line);
        if (code.contains(UNSAFE_BLOCK) || code.contains(UNSAFE_IMPL))
            && !has_safety_comment(&lines, index)
        {
            problems.push(format!(
                "{path}:{number}: `unsafe` without a `{SAFETY}` comment just above it"
            ));
        }
        if code.contains(BARE_IGNORE) {
            problems.push(format!(
                "{path}:{number}: `{BARE_IGNORE}` without a reason; write `#[ignore = \"why\"]`"
            ));
        }
        if in_src {
            for leftover in LEFTOVERS {
                if code.contains(leftover) {
                    let name = leftover.trim_end_matches('(');
                    problems.push(format!("{path}:{number}: `{name}` left in source"));
                }
            }
        }
    }
    problems
}

/// `SAFETY:` on the line itself, in the 3 lines above it, or anywhere in the run of comment
/// lines right above it (a long justification is fine).
fn has_safety_comment(lines: &[&str], index: usize) -> bool {
    let window = &lines[index.saturating_sub(3)..=index];
    if window.iter().any(|line| line.contains(SAFETY)) {
        return true;
    }
    lines[..index]
        .iter()
        .rev()
        .take_while(|line| line.trim_start().starts_with("//"))
        .any(|line| line.contains(SAFETY))
}

/// `executor-core/src` may use `std::sync` only in the allowlisted files; an allowlist entry
/// that no longer needs it is a problem too, so the list stays true.
fn check_std_sync(root: &Path) -> Result<Vec<String>> {
    let dir = Path::new("executor-core/src");
    let mut files = Vec::new();
    collect_rust_files(&root.join(dir), &mut files)?;
    let mut problems = Vec::new();
    for path in files {
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let file_name = relative.strip_prefix(dir).unwrap_or(relative);
        let allowed = STD_SYNC_ALLOWED
            .iter()
            .any(|(allowed, _)| Path::new(allowed) == file_name);
        let uses = std_sync_lines(&fs::read_to_string(&path)?);
        match (allowed, uses.first()) {
            (false, Some(number)) => problems.push(format!(
                "{}:{number}: `std::sync` outside the loom shim; use `crate::sync` (or add the \
                 file to STD_SYNC_ALLOWED in xtask/src/tidy.rs with a reason)",
                relative.display()
            )),
            (true, None) => problems.push(format!(
                "{}: is in STD_SYNC_ALLOWED but no longer uses `std::sync`; remove the entry",
                relative.display()
            )),
            _ => {}
        }
    }
    Ok(problems)
}

/// Line numbers of code lines naming `std::sync`, including `use std::{sync::...}`.
fn std_sync_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = code_part(line);
            code.contains("std::sync")
                || code
                    .split_once("std::{")
                    .is_some_and(|(_, rest)| rest.contains("sync"))
        })
        .map(|(index, _)| index + 1)
        .collect()
}

/// The code on a line: nothing for a comment line, and the part before a trailing `//` comment.
fn code_part(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return "";
    }
    match trimmed.find(" //") {
        Some(end) => &trimmed[..end],
        None => trimmed,
    }
}

/// `src/...` of the root package, or `<crate>/src/...` of a member.
fn is_crate_source(root: &Path, relative: &Path) -> bool {
    let mut parts = relative.components();
    let first = parts.next().map(|part| part.as_os_str());
    let second = parts.next().map(|part| part.as_os_str());
    match (first, second) {
        (Some(first), _) if first == "src" => true,
        (Some(first), Some(second)) if second == "src" => {
            root.join(first).join("Cargo.toml").is_file()
        }
        _ => false,
    }
}

/// Every `.rs` file under `dir`, sorted, skipping build output and hidden directories.
fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|error| format!("cannot read {}: {error}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            let skipped = name.starts_with('.') || name == "target" || name.starts_with("target-");
            if !skipped {
                collect_rust_files(&path, files)?;
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository itself obeys every rule.
    #[test]
    fn tidy() {
        let problems = check(&util::project_root()).unwrap();
        assert!(
            problems.is_empty(),
            "tidy found {} problems (`cargo xtask tidy` lists them too):\n{}",
            problems.len(),
            problems.join("\n")
        );
    }

    /// Fixtures spell the forbidden words with an `@` inside, so this file stays clean itself.
    fn problems(text: &str, in_src: bool) -> Vec<String> {
        check_file(Path::new("f.rs"), &text.replace('@', ""), in_src)
    }

    #[test]
    fn file_doc_is_required_in_src_only() {
        assert_eq!(problems("fn main() {}\n", false), Vec::<String>::new());
        assert_eq!(
            problems("fn main() {}\n", true),
            ["f.rs:1: starts without a `//!` line saying what the file owns"]
        );
        assert!(problems("//! Owns nothing.\n", true).is_empty());
    }

    #[test]
    fn unsafe_needs_a_nearby_safety_comment() {
        let bare = "//! x\nfn f() {\n    let x = un@safe { g() };\n}\n";
        assert_eq!(
            problems(bare, true),
            ["f.rs:3: `unsafe` without a `// SAFETY:` comment just above it"]
        );
        let justified = "//! x\n// SAF@ETY: g has no preconditions.\nun@safe impl Send for X {}\n";
        assert!(problems(justified, true).is_empty());
        let three_above = "// SAF@ETY: ok\nlet a = 1;\nlet b = 2;\nlet c = un@safe { g() };\n";
        assert!(problems(three_above, false).is_empty());
        let four_above = "// SAF@ETY: ok\nlet a = 1;\nlet b = 2;\nlet c = 3;\nun@safe { g() };\n";
        assert_eq!(problems(four_above, false).len(), 1);
        let long_comment = "// SAF@ETY: one\n// two\n// three\n// four\nun@safe { g() };\n";
        assert!(problems(long_comment, false).is_empty());
        let someone_elses = "// SAF@ETY: one\n// two\nfn f() {\n    let a = 1;\n    let b = 2;\n    un@safe { g() };\n";
        assert_eq!(problems(someone_elses, false).len(), 1);
        let in_a_doc_example = "/// un@safe { g() }\n// un@safe impl X {}\n";
        assert!(problems(in_a_doc_example, false).is_empty());
    }

    #[test]
    fn ignore_needs_a_reason_everywhere() {
        assert_eq!(problems("#[ig@nore]\n#[test]\nfn t() {}\n", false).len(), 1);
        assert!(problems("#[ignore = \"needs MPI\"]\n#[test]\nfn t() {}\n", false).is_empty());
    }

    #[test]
    fn leftovers_are_forbidden_in_src() {
        let text = "//! x\nfn f() { db@g!(1); to@do!(); unimpl@emented!() }\n";
        assert_eq!(
            problems(text, true),
            [
                "f.rs:2: `dbg!` left in source",
                "f.rs:2: `todo!` left in source",
                "f.rs:2: `unimplemented!` left in source"
            ]
        );
        assert!(problems(text, false).is_empty());
        assert!(problems("//! x\n// to@do!() later\n", true).is_empty());
    }

    #[test]
    fn std_sync_is_found_in_code_not_in_comments() {
        let text = "use std::{fmt, sync::Arc};\n/// use std::sync::mpsc;\nuse std::sync::Mutex;\nlet s = \"std\"; // std::sync\n";
        assert_eq!(std_sync_lines(text), [1, 3]);
    }

    #[test]
    fn crate_sources_are_src_of_the_root_or_of_a_member() {
        let root = util::project_root();
        assert!(is_crate_source(&root, Path::new("src/lib.rs")));
        assert!(is_crate_source(&root, Path::new("xtask/src/main.rs")));
        assert!(!is_crate_source(&root, Path::new("xtask/tests/x.rs")));
        assert!(!is_crate_source(&root, Path::new("no-such-crate/src/x.rs")));
    }
}
