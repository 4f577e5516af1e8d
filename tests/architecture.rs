//! The layering of ARCHITECTURE.md, checked on the source: a module of the library never
//! uses (`crate::…`) a module of a layer above it, and no CLI command module imports
//! another command module.

use std::path::{Path, PathBuf};

/// Layers, lowest first (ARCHITECTURE.md).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "formats core",
        &["error", "time", "mmap", "fsutil", "filter", "rdb", "aof"],
    ),
    ("engines", &["keyspace", "export"]),
    ("applications", &["stats", "diff", "backup"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

fn rs_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            rs_files(&e.unwrap().path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// Code lines (comments dropped) of a file.
fn code(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    let mut checked = 0;
    for (_, modules) in LAYERS {
        for m in *modules {
            let dir = src.join(m);
            let mut files = Vec::new();
            if dir.is_dir() {
                rs_files(&dir, &mut files);
            } else {
                files.push(src.join(format!("{m}.rs")));
            }
            let own = layer_of(m).unwrap();
            for f in &files {
                for (n, line) in code(f).iter().enumerate() {
                    let mut rest = line.as_str();
                    while let Some(i) = rest.find("crate::") {
                        rest = &rest[i + 7..];
                        let used: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        checked += 1;
                        match layer_of(&used) {
                            Some(l) if l > own => violations.push(format!(
                                "{}:{}: {m} ({}) uses {used} ({})",
                                f.display(),
                                n + 1,
                                LAYERS[own].0,
                                LAYERS[l].0
                            )),
                            // Crate-root re-exports (`crate::Error`, `crate::Result`).
                            None if used.starts_with(|c: char| c.is_ascii_uppercase()) => {}
                            None if used != *m && !used.is_empty() => violations.push(format!(
                                "{}:{}: {m} uses {used}, which is in no layer",
                                f.display(),
                                n + 1
                            )),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} uses found: is the source where expected?"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn no_cli_command_module_imports_another() {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
    // Shared helpers every command may use; everything else is a command.
    let shared = ["output", "args", "s3args", "timetravel", "transform"];
    let mut files = Vec::new();
    rs_files(&cli, &mut files);
    let commands: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "mod" && !shared.contains(&n.as_str()))
        .collect();
    let mut violations = Vec::new();
    for f in &files {
        let me = f.file_stem().unwrap().to_string_lossy().into_owned();
        for (n, line) in code(f).iter().enumerate() {
            for c in &commands {
                // `filter_aof` is the AOF half of the `filter` command.
                if *c == me || (me == "filter" && c == "filter_aof") {
                    continue;
                }
                if line.contains(&format!("super::{c}::")) || line.contains(&format!("super::{c};"))
                {
                    violations.push(format!("{}:{}: {me} uses {c}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(commands.len() > 10, "{commands:?}");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// Library messages describe the situation and name the way out as a `Remedy`; only the
/// CLI names its flags. No string literal outside `src/cli/` (and the binary) holds
/// `--flag`, outside `#[cfg(test)]` modules.
#[test]
fn library_messages_name_no_cli_flag() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&root, &mut files);
    let mut found = Vec::new();
    for f in files {
        if f.starts_with(root.join("cli")) || f.ends_with("main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        // Whether the current line starts inside a string literal (one continued with `\`).
        let mut inside = false;
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let t = line.trim_start();
            if !inside && t.starts_with("//") {
                continue;
            }
            // The contents of the string literals on the line ('"' is a char, not a quote).
            let line = line.replace("'\"'", "");
            let mut lit = String::new();
            let mut escaped = false;
            for c in line.chars() {
                if inside && escaped {
                    escaped = false;
                    lit.push(c);
                } else if inside && c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    inside = !inside;
                    lit.push('\u{0}');
                } else if inside {
                    lit.push(c);
                }
            }
            let b = lit.as_bytes();
            if (0..b.len().saturating_sub(2))
                .any(|i| b[i] == b'-' && b[i + 1] == b'-' && b[i + 2].is_ascii_lowercase())
            {
                found.push(format!("{}:{}: {}", f.display(), n + 1, t));
            }
        }
    }
    assert!(
        found.is_empty(),
        "library messages naming CLI flags:\n{}",
        found.join("\n")
    );
}
