//! Every manifest in `examples/jobs/` parses, and is what `kanade job create` would upload.

use std::path::PathBuf;

use kanade_protocol::manifest::Manifest;

#[test]
fn every_example_job_parses() {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/jobs");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let manifest =
            Manifest::parse(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let prepared = kanade_cli::commands::job::prepare(&path).unwrap();
        assert_eq!(prepared.manifest.id, manifest.id);
        assert!(
            prepared.manifest.script().is_some(),
            "{}: no script after inlining",
            path.display()
        );
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            manifest.id,
            stem,
            "{}: id should match the file name",
            path.display()
        );
        seen.push(stem);
    }
    seen.sort();
    assert!(
        seen.contains(&"hello".to_owned()) && seen.contains(&"disk-usage".to_owned()),
        "{seen:?}"
    );
}
