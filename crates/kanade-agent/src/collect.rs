//! A job's `collect` hint on this machine: read the file list from the run's stdout, refuse
//! what the hint does not allow (`.`/`..` segments, paths outside `allow`, symbolic links,
//! anything but a regular file, more than `max_size`), zip the rest into a spill file and
//! upload it to object store `collections` as `<pc_id>/<job_id>/<rfc3339>.zip`. Nothing is
//! uploaded when one path is refused; the object store writes an object's metadata only after
//! its last chunk, so an interrupted upload lists nothing and the result says why.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use async_nats::jetstream;
use chrono::Utc;
use kanade_protocol::collect::{self, BundleOutcome, CollectHint, CollectOutcome};
use kanade_protocol::hints::{self, HintKind};
use kanade_protocol::names;

/// How long one upload may take before it counts as failed.
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// The most stdout read back from a spill file to find the file list.
const MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;

/// What one collection did: the outcome a finalize step reads, and the bundle key when one
/// was uploaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    pub outcome: CollectOutcome,
    pub key: Option<String>,
}

impl Collected {
    fn failed(why: String) -> Collected {
        Collected {
            outcome: CollectOutcome {
                ok: false,
                bundles: Vec::new(),
                error: Some(why),
            },
            key: None,
        }
    }

    /// The line the result's stderr gets.
    pub fn note(&self) -> String {
        match (&self.key, &self.outcome.error) {
            (_, Some(why)) => format!("kanade: collect failed, nothing uploaded: {why}"),
            (Some(key), None) => {
                let files = self.outcome.bundles.first().map_or(0, |b| b.files.len());
                format!("kanade: collected {files} file(s) into {key}")
            }
            (None, None) => "kanade: collect: the run listed no files; nothing uploaded".to_owned(),
        }
    }
}

/// Runs the whole collection for one clean run. `stdout` is the inline text; `spill` the file
/// holding all of it when it was spilled. `cwd` is the run's working folder (relative paths
/// are read from there). `work` is where the zip waits for upload.
pub async fn run(
    client: &async_nats::Client,
    hint: &CollectHint,
    key: String,
    stdout: &str,
    spill: Option<&Path>,
    cwd: Option<PathBuf>,
    work: PathBuf,
) -> Collected {
    let text = match spill {
        Some(path) => match read_capped(path) {
            Ok(text) => text,
            Err(err) => return Collected::failed(format!("cannot read the spilled stdout: {err}")),
        },
        None => stdout.to_owned(),
    };
    let files = match listed_files(&text, hint) {
        Ok(files) => files,
        Err(why) => return Collected::failed(why),
    };
    if files.is_empty() {
        return Collected {
            outcome: CollectOutcome {
                ok: true,
                bundles: Vec::new(),
                error: None,
            },
            key: None,
        };
    }
    let (allow, max) = (hint.allow.clone(), hint.max_bytes());
    let (zip_path, listed) = (work.clone(), files.clone());
    let built = tokio::task::spawn_blocking(move || {
        let checked = check_paths(&listed, &allow, cwd.as_deref(), max)?;
        write_zip(&checked, &zip_path, max)
    })
    .await
    .unwrap_or_else(|err| Err(format!("the zip task failed: {err}")));
    if let Err(why) = built {
        let _ = std::fs::remove_file(&work);
        return Collected::failed(why);
    }
    let uploaded = tokio::time::timeout(UPLOAD_TIMEOUT, upload(client, &key, &work))
        .await
        .unwrap_or_else(|_| Err(format!("the upload took longer than {UPLOAD_TIMEOUT:?}")));
    let _ = std::fs::remove_file(&work);
    match uploaded {
        Ok(()) => Collected {
            outcome: CollectOutcome {
                ok: true,
                bundles: vec![BundleOutcome {
                    key: key.clone(),
                    uploaded: true,
                    files,
                }],
                error: None,
            },
            key: Some(key),
        },
        Err(why) => Collected::failed(format!("uploading {key} to collections: {why}")),
    }
}

fn read_capped(path: &Path) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_LIST_BYTES)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The file list the run printed: an array of strings at `files_field` of the JSON in the
/// `#KANADE-COLLECT-BEGIN`/`-END` block, else of the whole stdout. Duplicates are dropped.
pub fn listed_files(stdout: &str, hint: &CollectHint) -> Result<Vec<String>, String> {
    let payload = hints::payload(stdout, HintKind::Collect, true)
        .map_err(|err| err.to_string())?
        .ok_or_else(|| {
            format!(
                "stdout has no file list (print JSON with `{}`: [paths], bare or between \
                 #KANADE-COLLECT-BEGIN and #KANADE-COLLECT-END)",
                hint.files_field
            )
        })?;
    let list = hints::lookup(&payload, &hint.files_field)
        .ok_or_else(|| format!("the stdout JSON has no `{}` field", hint.files_field))?;
    let items = list
        .as_array()
        .ok_or_else(|| format!("`{}` must be an array of paths", hint.files_field))?;
    if items.len() > collect::MAX_FILES {
        return Err(format!(
            "{} files listed, more than the {} a bundle may hold",
            items.len(),
            collect::MAX_FILES
        ));
    }
    let mut files: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let path = item
            .as_str()
            .ok_or_else(|| format!("`{}` must hold only strings", hint.files_field))?;
        if !files.iter().any(|f| f == path) {
            files.push(path.to_owned());
        }
    }
    Ok(files)
}

/// A listed file that passed every check: where it is and its name in the zip.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub path: PathBuf,
    pub name: String,
    pub len: u64,
}

/// Checks every listed path; the first refusal names the path and why.
pub fn check_paths(
    files: &[String],
    allow: &[String],
    cwd: Option<&Path>,
    max: u64,
) -> Result<Vec<Checked>, String> {
    let base = match cwd {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().map_err(|e| format!("no working folder: {e}"))?,
    };
    let mut checked = Vec::with_capacity(files.len());
    let mut total: u64 = 0;
    for raw in files {
        let refuse = |why: &str| format!("`{raw}` refused: {why}");
        if raw.trim().is_empty() || raw.contains('\0') {
            return Err(refuse("not a path"));
        }
        if collect::has_dot_segments(raw) {
            return Err(refuse(
                "`.` and `..` segments are not allowed (path traversal)",
            ));
        }
        let path = match Path::new(raw).is_absolute() {
            true => PathBuf::from(raw),
            false => base.join(raw),
        };
        let path: PathBuf = path.components().collect();
        if !allow.is_empty() && !allow.iter().any(|root| path.starts_with(root)) {
            return Err(refuse(&format!(
                "outside the folders the hint allows ({})",
                allow.join(", ")
            )));
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|e| refuse(&e.to_string()))?;
        if meta.file_type().is_symlink() {
            return Err(refuse("a symbolic link is not followed"));
        }
        if !meta.is_file() {
            return Err(refuse("not a regular file"));
        }
        let real = std::fs::canonicalize(&path).map_err(|e| refuse(&e.to_string()))?;
        if real != path {
            return Err(refuse(
                "its path goes through a symbolic link, which is not followed",
            ));
        }
        total = total.saturating_add(meta.len());
        if total > max {
            return Err(format!(
                "the listed files hold more than the hint's max_size of {max} bytes; nothing \
                 collected"
            ));
        }
        checked.push(Checked {
            name: entry_name(&path),
            path,
            len: meta.len(),
        });
    }
    Ok(checked)
}

/// The name of a file in the zip: its absolute path without the root (`/var/log/a.log` →
/// `var/log/a.log`, `C:\Logs\a.log` → `C/Logs/a.log`).
pub fn entry_name(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            Component::Prefix(prefix) => Some(
                prefix
                    .as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(':')
                    .to_owned(),
            ),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Writes the zip (deflated), reading each file without following a symbolic link and
/// stopping when the files grew past `max` since they were checked.
pub fn write_zip(files: &[Checked], out: &Path, max: u64) -> Result<(), String> {
    let file = std::fs::File::create(out).map_err(|e| format!("creating the zip: {e}"))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for item in files {
        let mut source = open_no_follow(&item.path)
            .map_err(|e| format!("`{}` refused: {e}", item.path.display()))?;
        zip.start_file(item.name.as_str(), options)
            .map_err(|e| format!("writing the zip: {e}"))?;
        loop {
            let n = source
                .read(&mut buf)
                .map_err(|e| format!("reading `{}`: {e}", item.path.display()))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > max {
                return Err(format!(
                    "the listed files grew past the hint's max_size of {max} bytes while \
                     being zipped; nothing collected"
                ));
            }
            zip.write_all(&buf[..n])
                .map_err(|e| format!("writing the zip: {e}"))?;
        }
    }
    let mut inner = zip.finish().map_err(|e| format!("writing the zip: {e}"))?;
    inner.flush().map_err(|e| format!("writing the zip: {e}"))?;
    Ok(())
}

fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits());
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Puts the zip into `collections` under `key`.
async fn upload(client: &async_nats::Client, key: &str, path: &Path) -> Result<(), String> {
    let js = jetstream::new(client.clone());
    let store = js
        .get_object_store(names::OBJ_COLLECTIONS)
        .await
        .map_err(|e| format!("opening object store collections: {e}"))?;
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("reopening the zip: {e}"))?;
    store.put(key, &mut file).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// The bundle key of a run of `job_id` on `pc_id` now.
pub fn key_now(pc_id: &str, job_id: &str) -> String {
    collect::bundle_key(pc_id, job_id, Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(allow: &[&str]) -> CollectHint {
        CollectHint {
            name: "t".into(),
            description: None,
            files_field: "files".into(),
            max_size: None,
            allow: allow.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_list_comes_from_the_fence_or_bare_json() {
        let h = hint(&[]);
        let fenced = "noise\n#KANADE-COLLECT-BEGIN\n{\"files\":[\"/a\",\"/a\",\"/b\"]}\n#KANADE-COLLECT-END\n";
        assert_eq!(listed_files(fenced, &h).unwrap(), vec!["/a", "/b"]);
        assert_eq!(
            listed_files("{\"files\":[]}", &h).unwrap(),
            Vec::<String>::new()
        );
        assert!(
            listed_files("hello", &h)
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            listed_files("{\"files\":\"/a\"}", &h)
                .unwrap_err()
                .contains("array")
        );
        assert!(listed_files("", &h).unwrap_err().contains("no file list"));
    }

    #[test]
    fn paths_outside_the_hint_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let inside = root.join("in.txt");
        std::fs::write(&inside, b"x").unwrap();
        let allow = [root.to_string_lossy().into_owned()];
        let ok = check_paths(&[inside.to_string_lossy().into()], &allow, None, 10).unwrap();
        assert_eq!(ok[0].name, entry_name(&inside));
        let up = format!("{}/../etc/passwd", root.display());
        assert!(
            check_paths(&[up], &allow, None, 10)
                .unwrap_err()
                .contains("traversal")
        );
        let outside = check_paths(&["/etc/hostname".into()], &allow, None, 10).unwrap_err();
        assert!(outside.contains("outside"), "{outside}");
        let big = check_paths(&[inside.to_string_lossy().into()], &allow, None, 0).unwrap_err();
        assert!(big.contains("max_size"), "{big}");
        let rel = check_paths(&["in.txt".into()], &allow, Some(&root), 10).unwrap();
        assert_eq!(rel[0].path, inside);
    }

    #[test]
    fn entry_names_drop_the_root() {
        assert_eq!(entry_name(Path::new("/var/log/a.log")), "var/log/a.log");
    }
}
