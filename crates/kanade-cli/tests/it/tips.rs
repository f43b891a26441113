//! Tips cannot rot: every `kanade …` command quoted in the CLI's help (about and argument help
//! of every command) and in the messages of the CLI and the backend (string literals in their
//! sources) names subcommands and flags that exist, and flag values a choice allows. Quoted
//! commands may be partial (`kanade exec`) or carry placeholders (`<pc>`, `{}`, `FILE`,
//! `[--reason]`, `fleet|top`).

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use kanade_cli::cli::Cli;

/// Every backticked `kanade …` in `text`.
fn quoted(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("`kanade ") {
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        out.push(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    out
}

/// Help texts of `cmd` and everything under it, each with where it was found.
fn help_texts(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
    let texts = [cmd.get_about(), cmd.get_long_about(), cmd.get_after_help()]
        .into_iter()
        .chain(
            cmd.get_arguments()
                .flat_map(|a| [a.get_help(), a.get_long_help()]),
        );
    for text in texts.flatten() {
        out.push((format!("help of `{path}`"), text.to_string()));
    }
    for sub in cmd.get_subcommands() {
        help_texts(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// Lines outside comments of every .rs file under `dir` (messages, not developer docs).
fn source_texts(dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_texts(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                if !line.trim_start().starts_with("//") {
                    out.push((format!("{}:{}", path.display(), n + 1), line.to_owned()));
                }
            }
        }
    }
}

/// A placeholder or a value, not a subcommand or flag name.
fn is_value(word: &str) -> bool {
    word.contains(['<', '{', '='])
        || word.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        || word.starts_with(['"', '\''])
}

/// Why `command` (without the leading `kanade`) does not match the CLI, if it does not.
fn check(root: &clap::Command, command: &str) -> Result<(), String> {
    let words: Vec<&str> = command
        .split_whitespace()
        .map(|w| w.trim_matches(['[', ']', '(', ')']).trim_end_matches("..."))
        .filter(|w| !w.is_empty() && *w != "…" && *w != "|")
        .collect();
    let mut levels = vec![root];
    let mut i = 0;
    let mut positional_only = false;
    while i < words.len() {
        let word = words[i];
        let cmd = *levels.last().unwrap();
        i += 1;
        if word == "--" {
            positional_only = true;
            continue;
        }
        if word.starts_with('-') && !positional_only {
            let name = word.split('=').next().unwrap();
            let arg = levels.iter().rev().find_map(|c| {
                c.get_arguments().find(|a| match name.strip_prefix("--") {
                    Some(long) => a.get_long() == Some(long),
                    None => a.get_short().map(|s| format!("-{s}")).as_deref() == Some(name),
                })
            });
            let Some(arg) = arg else {
                return Err(format!("`{name}` is not a flag of `{}`", cmd.get_name()));
            };
            let takes_value = arg.get_action().takes_values();
            if takes_value && !word.contains('=') && i < words.len() {
                let value = words[i];
                i += 1;
                let choices = arg.get_possible_values();
                if !choices.is_empty() && !is_value(value) {
                    for alt in value.split('|') {
                        if !choices.iter().any(|p| p.matches(alt, false)) {
                            return Err(format!("`{alt}` is not a value of `{name}`"));
                        }
                    }
                }
            }
            continue;
        }
        if positional_only || is_value(word) {
            continue;
        }
        let alternatives: Vec<&str> = word.split('|').collect();
        let subs: Vec<&clap::Command> = alternatives
            .iter()
            .filter_map(|alt| cmd.find_subcommand(alt))
            .collect();
        if subs.len() == alternatives.len() {
            levels.push(subs[0]);
            continue;
        }
        if !subs.is_empty() || cmd.get_positionals().next().is_none() {
            return Err(format!(
                "`{word}` is not a subcommand of `{}`",
                cmd.get_name()
            ));
        }
    }
    Ok(())
}

#[test]
fn every_kanade_command_quoted_in_help_and_messages_exists() {
    let root = Cli::command();
    let mut texts = Vec::new();
    help_texts(&root, "kanade", &mut texts);
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    source_texts(&crates.join("kanade-cli/src"), &mut texts);
    source_texts(&crates.join("kanade-backend/src"), &mut texts);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (place, text) in &texts {
        for command in quoted(text) {
            checked += 1;
            let rest = command.strip_prefix("kanade ").unwrap();
            if let Err(why) = check(&root, rest) {
                wrong.push(format!("{place}: `{command}`: {why}"));
            }
        }
    }
    assert!(checked > 30, "only {checked} quoted commands found");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_checker_catches_what_rots() {
    let root = Cli::command();
    for good in [
        "group add <pc> <group> --allow-unknown",
        "perf fleet|top",
        "perf -- fleet",
        "results output {}{flag}",
        "machines --status pending",
        "reject <exec_id> [--reason]",
        "run --signing-key FILE",
        "perf top --metric cpu|mem",
        "--json agents",
    ] {
        assert_eq!(check(&root, good), Ok(()), "{good}");
    }
    for bad in [
        "enroll create",
        "group add pc1 lab --force",
        "machines --status lost",
        "perf fleet|bottom",
        "agents list",
    ] {
        assert!(check(&root, bad).is_err(), "{bad}");
    }
}
