//! Tidy checks run by `cargo test`: every Rust file says what it is for, and the crate
//! boundaries written in ARCHITECTURE.md hold.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == "node_modules" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_doc_line() {
    let root = kanade_testkit::workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    assert!(
        files.len() > 20,
        "found only {} files; is the walk broken?",
        files.len()
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files must start with a `//!` line saying what they are for:\n{}",
        missing.join("\n")
    );
}

fn dependencies(krate: &str) -> Vec<String> {
    let path = kanade_testkit::workspace_root()
        .join("crates")
        .join(krate)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        let wanted = in_deps && !line.is_empty() && !line.starts_with('#');
        if let Some((name, _)) = line.split_once(['=', '.']).filter(|_| wanted) {
            deps.push(name.trim().to_owned());
        }
    }
    deps
}

#[test]
fn crate_boundaries_hold() {
    let protocol = dependencies("kanade-protocol");
    for banned in ["tokio", "axum", "sqlx", "rusqlite", "async-nats"] {
        assert!(
            !protocol.iter().any(|d| d == banned),
            "kanade-protocol must not depend on {banned}"
        );
    }
    protocol_schemas_stay_optional();
    for krate in [
        "kanade-agent",
        "kanade-cli",
        "kanade-bus",
        "kanade-protocol",
    ] {
        assert!(
            !dependencies(krate).iter().any(|d| d == "kanade-backend"),
            "{krate} must not depend on the backend"
        );
    }
    assert!(
        !dependencies("kanade-backend")
            .iter()
            .any(|d| d == "kanade-agent"),
        "the backend must not depend on the agent"
    );
    for krate in [
        "kanade-agent",
        "kanade-backend",
        "kanade-cli",
        "kanade-bus",
        "kanade-protocol",
    ] {
        assert!(
            !dependencies(krate).iter().any(|d| d == "kanade-testkit"),
            "{krate} must use the testkit only as a dev-dependency"
        );
    }
}

#[test]
fn api_handlers_write_no_sql() {
    let root = kanade_testkit::workspace_root().join("crates/kanade-backend/src/api");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for keyword in ["INSERT ", "UPDATE ", "DELETE FROM", "SELECT "] {
            assert!(
                !text.contains(keyword),
                "{} contains SQL ({keyword}); SQL lives in store/",
                file.display()
            );
        }
    }
}

/// kanade-protocol may derive OpenAPI schemas, but only behind its `openapi` feature: utoipa is
/// an optional dependency there, and only the backend turns the feature on.
fn protocol_schemas_stay_optional() {
    let root = kanade_testkit::workspace_root().join("crates");
    let manifest = std::fs::read_to_string(root.join("kanade-protocol/Cargo.toml")).unwrap();
    for line in manifest
        .lines()
        .filter(|l| l.trim_start().starts_with("utoipa"))
    {
        assert!(
            line.contains("optional = true"),
            "kanade-protocol must depend on utoipa only optionally (feature `openapi`): {line}"
        );
    }
    for krate in ["kanade-agent", "kanade-cli", "kanade-bus"] {
        let text = std::fs::read_to_string(root.join(krate).join("Cargo.toml")).unwrap();
        assert!(
            !text.contains("openapi") && !text.contains("utoipa"),
            "{krate} must not build the OpenAPI schemas"
        );
    }
}
