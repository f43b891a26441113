//! `execute.cwd`: environment variables in it are expanded the way the original does it
//! (`%NAME%` as on Windows, plus `$NAME` and `${NAME}`), in the environment the script will
//! get (the run_as user's HOME, USER, … included), and the folder must exist before the
//! script starts: a missing one, or a variable that is not set, fails the run naming it.

use std::collections::HashMap;
use std::path::Path;

/// `cwd` with its variables replaced from `lookup`; Err names a variable that is not set.
pub fn expand(cwd: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(cwd.len());
    let mut rest = cwd;
    while let Some(i) = rest.find(['%', '$']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (name, used, shown) = if let Some(after) = tail.strip_prefix('%') {
            match after.find('%') {
                Some(end) if end > 0 && is_name(&after[..end]) => {
                    (&after[..end], end + 2, format!("%{}%", &after[..end]))
                }
                _ => {
                    out.push('%');
                    rest = after;
                    continue;
                }
            }
        } else if let Some(after) = tail.strip_prefix("${") {
            match after.find('}') {
                Some(end) if end > 0 && is_name(&after[..end]) => {
                    (&after[..end], end + 3, format!("${{{}}}", &after[..end]))
                }
                _ => return Err(format!("cwd {cwd:?} has an unterminated or empty ${{…}}")),
            }
        } else {
            let after = &tail[1..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if end == 0 {
                out.push('$');
                rest = after;
                continue;
            }
            (&after[..end], end + 1, format!("${}", &after[..end]))
        };
        match lookup(name) {
            Some(value) => out.push_str(&value),
            None => return Err(format!("cwd {cwd:?} names {shown}, which is not set")),
        }
        rest = &tail[used..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '(' || c == ')')
}

/// The working folder a run starts in: `cwd` expanded in the agent's environment overlaid
/// with `extra` (what the script gets on top), checked to be an existing folder. Err is the
/// line for the failed result.
pub fn resolve(cwd: &str, extra: &[(String, String)]) -> Result<String, String> {
    let overlay: HashMap<&str, &str> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let expanded = expand(cwd, |name| {
        overlay
            .get(name)
            .map(|v| (*v).to_owned())
            .or_else(|| std::env::var(name).ok())
    })
    .map_err(|err| format!("kanade: {err}"))?;
    let shown = if expanded == cwd {
        expanded.clone()
    } else {
        format!("{expanded} (cwd {cwd})")
    };
    match std::fs::metadata(Path::new(&expanded)) {
        Ok(meta) if meta.is_dir() => Ok(expanded),
        Ok(_) => Err(format!(
            "kanade: the working directory {shown} is not a directory"
        )),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "kanade: the working directory {shown} does not exist"
        )),
        Err(err) => Err(format!(
            "kanade: the working directory {shown} cannot be used: {err}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "ProgramData" => Some("C:\\ProgramData".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_expand_in_every_form() {
        assert_eq!(expand("$HOME/x", env).unwrap(), "/home/u/x");
        assert_eq!(expand("${HOME}x", env).unwrap(), "/home/ux");
        assert_eq!(
            expand("%ProgramData%\\Kanade", env).unwrap(),
            "C:\\ProgramData\\Kanade"
        );
        assert_eq!(expand("/plain/path", env).unwrap(), "/plain/path");
        assert_eq!(expand("100% sure $", env).unwrap(), "100% sure $");
        let err = expand("$NOPE/x", env).unwrap_err();
        assert!(err.contains("$NOPE, which is not set"), "{err}");
        let err = expand("%NOPE%", env).unwrap_err();
        assert!(err.contains("%NOPE%"), "{err}");
        assert!(expand("${HOME", env).is_err());
    }

    #[test]
    fn a_missing_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let extra = vec![("KANADE_T".to_owned(), dir.path().display().to_string())];
        assert_eq!(
            resolve("$KANADE_T", &extra).unwrap(),
            dir.path().display().to_string()
        );
        let err = resolve("${KANADE_T}/gone", &extra).unwrap_err();
        assert!(
            err.contains("/gone (cwd ${KANADE_T}/gone) does not exist"),
            "{err}"
        );
    }
}
