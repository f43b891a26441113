//! The backend embeds the dashboard from `web/dist` (see src/web.rs). The Rust build must never
//! need Node, so an absent folder is created empty here: the backend then serves a page saying
//! how to build the front end. Watching the folder makes a release build pick up a new front
//! end (rust-embed reads the files at compile time there).

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = manifest_dir.join("../../web/dist");
    if let Err(err) = std::fs::create_dir_all(&dist) {
        // A read-only source tree: rust-embed's `allow_missing` still lets the crate build.
        println!(
            "cargo::warning=could not create {}: {err}; the dashboard will not be embedded",
            dist.display()
        );
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed={}", dist.display());
}
