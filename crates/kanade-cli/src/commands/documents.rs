//! The GitOps side of `job` and `schedule`: the YAML documents behind a list of files and
//! folders (folders searched recursively for `.yaml`/`.yml`, a file may hold several
//! documents separated by `---`), the one-line-per-document report of `validate`, and the
//! files `export` writes (never over an existing one without `--force`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::BadInput;
use crate::commands::Io;

/// One YAML document of a file: `path#number` (numbered from 1 among the file's non-empty
/// documents) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub path: PathBuf,
    pub number: usize,
    pub text: String,
}

impl Document {
    pub fn label(&self) -> String {
        format!("{}#{}", self.path.display(), self.number)
    }
}

/// A document checked: what goes up (its id and the text), or why it cannot.
#[derive(Debug)]
pub struct Checked<T> {
    pub label: String,
    pub outcome: Result<T, String>,
    /// Set-level warnings (a schedule's job nowhere to be found); they do not fail the set.
    pub warning: Option<String>,
}

/// The files behind `paths`: a file as named (whatever its extension), a folder's `.yaml` and
/// `.yml` files at any depth, sorted by path. A path that does not exist is bad input.
pub fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|err| BadInput::err(format!("cannot read {}: {err}", path.display())))?;
        if !meta.is_dir() {
            out.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        walk(path, &mut found)?;
        found.sort();
        if found.is_empty() {
            return Err(BadInput::err(format!(
                "{}: no .yaml or .yml files in this folder",
                path.display()
            )));
        }
        out.extend(found);
    }
    Ok(out)
}

fn walk(folder: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(folder)
        .map_err(|err| BadInput::err(format!("cannot read {}: {err}", folder.display())))?;
    for entry in entries {
        let entry = entry
            .map_err(|err| BadInput::err(format!("cannot read {}: {err}", folder.display())))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|err| BadInput::err(format!("cannot read {}: {err}", path.display())))?;
        if kind.is_dir() {
            walk(&path, found)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Splits a file's text into its YAML documents at `---` lines (the marker may be followed by
/// a comment or by the start of the document) and `...` lines. Documents holding nothing but
/// blank lines and comments are dropped. A file with one document is returned whole, exactly
/// as written (a leading `---` and all), so what the server stores is the file.
pub fn split(text: &str) -> Vec<String> {
    let mut documents = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let start = bare
            .strip_prefix("---")
            .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t']));
        let end = bare.trim_end() == "...";
        if start.is_none() && !end {
            current.push_str(line);
            continue;
        }
        documents.push(std::mem::take(&mut current));
        if let Some(rest) = start.map(str::trim_start)
            && !rest.is_empty()
            && !rest.starts_with('#')
        {
            current.push_str(rest);
            current.push('\n');
        }
    }
    documents.push(current);
    let documents: Vec<String> = documents.into_iter().filter(|d| !is_blank(d)).collect();
    match documents.len() {
        1 => vec![text.to_owned()],
        _ => documents,
    }
}

fn is_blank(document: &str) -> bool {
    document.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    })
}

/// Every document of every file behind `paths`. An unreadable file is one failed entry
/// (`path#1`), so the report still names it.
pub fn read(paths: &[PathBuf]) -> anyhow::Result<Vec<Result<Document, (String, String)>>> {
    let mut out = Vec::new();
    for path in files(paths)? {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                out.push(Err((
                    format!("{}#1", path.display()),
                    format!("cannot read the file: {err}"),
                )));
                continue;
            }
        };
        let documents = split(&text);
        if documents.is_empty() {
            out.push(Err((
                format!("{}#1", path.display()),
                "the file holds no document".to_owned(),
            )));
        }
        for (index, text) in documents.into_iter().enumerate() {
            out.push(Ok(Document {
                path: path.clone(),
                number: index + 1,
                text,
            }));
        }
    }
    Ok(out)
}

/// Marks as errors every document whose id an earlier document of the set already has.
pub fn refuse_duplicates<T>(checked: &mut [Checked<T>], id: impl Fn(&T) -> &str, kind: &str) {
    let mut seen: HashMap<String, String> = HashMap::new();
    for entry in checked.iter_mut() {
        let Ok(value) = &entry.outcome else { continue };
        let id = id(value).to_owned();
        match seen.get(&id) {
            Some(first) => {
                entry.outcome = Err(format!("id: {kind} `{id}` is also defined at {first}"));
            }
            None => {
                seen.insert(id, entry.label.clone());
            }
        }
    }
}

/// Prints `ok path#n id`, `warning path#n id: …` or `error path#n: …` per document and a
/// count; returns whether every document is fine (warnings are fine).
pub fn report<T>(
    checked: &[Checked<T>],
    id: impl Fn(&T) -> &str,
    io: &mut Io<'_>,
) -> anyhow::Result<bool> {
    let mut bad = 0;
    for entry in checked {
        let line = match (&entry.outcome, &entry.warning) {
            (Ok(value), None) => format!("ok {} {}\n", entry.label, id(value)),
            (Ok(value), Some(warning)) => {
                format!("warning {} {}: {warning}\n", entry.label, id(value))
            }
            (Err(message), _) => {
                bad += 1;
                format!("error {}: {message}\n", entry.label)
            }
        };
        io.print(&line)?;
    }
    let total = checked.len();
    io.note(&format!(
        "{total} document{}: {} ok, {bad} with errors",
        if total == 1 { "" } else { "s" },
        total - bad
    ));
    Ok(bad == 0)
}

/// Refuses a set with bad documents before anything is sent: one `error path#n: …` line per
/// bad document on stderr, then exit 2.
pub fn refuse<T>(checked: &[Checked<T>], io: &mut Io<'_>) -> anyhow::Result<()> {
    let bad: Vec<&Checked<T>> = checked.iter().filter(|c| c.outcome.is_err()).collect();
    if bad.is_empty() {
        return Ok(());
    }
    for entry in &bad {
        if let Err(message) = &entry.outcome {
            io.note(&format!("error {}: {message}", entry.label));
        }
    }
    Err(BadInput::err(format!(
        "nothing was registered: {} of {} documents are bad",
        bad.len(),
        checked.len()
    )))
}

/// The label of `documents[i]` named in a server error, so a batch refusal points at the file.
pub fn locate(error: anyhow::Error, labels: &[String]) -> anyhow::Error {
    let message = format!("{error:#}");
    let Some(rest) = message.split("documents[").nth(1) else {
        return error;
    };
    let Some(index) = rest.split(']').next().and_then(|n| n.parse::<usize>().ok()) else {
        return error;
    };
    let Some(label) = labels.get(index) else {
        return error;
    };
    error.context(format!("{label} (documents[{index}]) was refused"))
}

/// Files `export` is about to write: refuses (nothing written) when any exists, unless `force`.
pub fn check_targets(targets: &[PathBuf], force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    let existing: Vec<String> = targets
        .iter()
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    Err(BadInput::err(format!(
        "{} already exist{}; nothing was written (--force overwrites)",
        existing.join(", "),
        if existing.len() == 1 { "s" } else { "" }
    )))
}

/// Writes `text` to `path`; without `force` the file must not exist yet (also when another
/// process creates it in the meantime).
pub fn write(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    match force {
        true => options.create(true).truncate(true),
        false => options.create_new(true),
    };
    let mut file = options
        .open(path)
        .map_err(|err| BadInput::err(format!("cannot write {}: {err}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|err| anyhow::anyhow!("writing {}: {err}", path.display()))
}

/// Creates the export folder when it is missing.
pub fn ensure_folder(folder: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder)
        .map_err(|err| BadInput::err(format!("cannot create {}: {err}", folder.display())))
}

/// What `export` was asked for: one document (`<id> [--out FILE]`) or all (`--all DIR`).
pub struct Export {
    pub id: Option<String>,
    pub all: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub force: bool,
}

/// Exports documents of one `kind` ("job", "schedule"): `ids` lists them, `text_of` reads
/// one's text. With `--all`, everything is read before anything is written, so a failure
/// leaves no half export; no existing file is overwritten without `--force`.
pub async fn export(
    kind: &str,
    what: Export,
    ids: impl AsyncFnOnce() -> anyhow::Result<Vec<String>>,
    text_of: impl AsyncFn(&str) -> anyhow::Result<String>,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let Some(folder) = what.all else {
        let id = what
            .id
            .ok_or_else(|| anyhow::anyhow!("a {kind} id or --all"))?;
        let text = text_of(&id).await?;
        let Some(path) = what.out else {
            io.print(&text)?;
            return Ok(crate::EXIT_OK);
        };
        check_targets(std::slice::from_ref(&path), what.force)?;
        write(&path, &text, what.force)?;
        io.note(&format!("wrote {kind} {id} to {}", path.display()));
        return Ok(crate::EXIT_OK);
    };
    let ids = ids().await?;
    let targets: Vec<PathBuf> = ids
        .iter()
        .map(|id| folder.join(format!("{id}.yaml")))
        .collect();
    check_targets(&targets, what.force)?;
    let mut texts = Vec::with_capacity(ids.len());
    for id in &ids {
        texts.push(text_of(id).await?);
    }
    ensure_folder(&folder)?;
    for (path, text) in targets.iter().zip(&texts) {
        write(path, text, what.force)?;
    }
    io.print(&format!(
        "exported {} {kind}{} to {}\n",
        ids.len(),
        if ids.len() == 1 { "" } else { "s" },
        folder.display()
    ))?;
    Ok(crate::EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_at_markers_and_a_single_one_stays_whole() {
        let one = "# a job\n---\nid: a\n";
        assert_eq!(split(one), vec![one.to_owned()]);
        assert_eq!(split("id: a\n"), vec!["id: a\n".to_owned()]);
        let many = "# first\nid: a\n---\nid: b\n--- # third\nid: c\n...\n---\n# only a comment\n--- {id: d}\n";
        assert_eq!(
            split(many),
            vec![
                "# first\nid: a\n".to_owned(),
                "id: b\n".to_owned(),
                "id: c\n".to_owned(),
                "{id: d}\n".to_owned(),
            ]
        );
        // Block scalars are indented, so a `---` inside one is not a marker.
        let script = "id: a\nexecute:\n  script: |\n    ---\n    echo\n";
        assert_eq!(split(script), vec![script.to_owned()]);
        assert!(split("# nothing\n\n").is_empty());
        assert_eq!(split("---x: 1\n"), vec!["---x: 1\n".to_owned()]);
    }

    #[test]
    fn folders_are_searched_for_yaml_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.yaml", "a/c.yml", "a/notes.txt", "d.json"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "id: x\n").unwrap();
        }
        let found = files(&[dir.path().to_owned(), dir.path().join("d.json")]).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a/c.yml", "b.yaml", "d.json"]);
        let missing = files(&[dir.path().join("none")]).unwrap_err();
        assert!(missing.is::<BadInput>());
        let empty = tempfile::tempdir().unwrap();
        assert!(
            files(&[empty.path().to_owned()])
                .unwrap_err()
                .is::<BadInput>()
        );
    }

    #[test]
    fn a_refused_document_is_located_by_its_index() {
        let labels = vec!["a.yaml#1".to_owned(), "a.yaml#2".to_owned()];
        let err = anyhow::anyhow!("documents[1]: execute.timeout: is required");
        let located = locate(err, &labels);
        assert_eq!(
            format!("{located:#}"),
            "a.yaml#2 (documents[1]) was refused: documents[1]: execute.timeout: is required"
        );
    }
}
