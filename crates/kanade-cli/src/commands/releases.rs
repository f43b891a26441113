//! `kanade agent publish|releases|rollout`: upload an agent binary (admin), list the published
//! ones, and roll a version out to a scope by setting its `target_version` (and
//! `target_version_jitter`) in the layered config, or `--clear` them.

use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::cli::{Global, RolloutArgs};
use crate::commands::config::is_version;
use crate::commands::{Io, api_client, config};
use crate::{BadInput, EXIT_OK, render};

pub async fn publish(
    binary: &Path,
    version: &str,
    platform: Option<&str>,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    for (flag, value) in [("--version", Some(version)), ("--platform", platform)] {
        if let Some(value) = value
            && !is_version(value)
        {
            return Err(BadInput::err(format!(
                "{flag}: `{value}` may use letters, digits, '.', '-' and '_' only"
            )));
        }
    }
    let bytes = std::fs::read(binary)
        .map_err(|err| BadInput::err(format!("cannot read {}: {err}", binary.display())))?;
    if bytes.is_empty() {
        return Err(BadInput::err(format!("{} is empty", binary.display())));
    }
    let local = sha256_hex(&bytes);
    let release = api_client(global)?
        .publish_release(version, platform, bytes)
        .await?;
    if release.sha256 != local {
        anyhow::bail!(
            "the backend stored {} with SHA-256 {}, but {} has {local}: publish it again",
            release.key,
            release.sha256,
            binary.display()
        );
    }
    match global.json {
        true => io.json(&release)?,
        false => io.print(&format!(
            "published {} ({})\nsha256 {}\n",
            release.key,
            render::bytes(release.size),
            release.sha256
        ))?,
    }
    Ok(EXIT_OK)
}

/// Lowercase hex SHA-256, as the backend and agents write it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub async fn list(global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let releases = api_client(global)?.list_releases().await?;
    if global.json {
        io.json(&releases)?;
        return Ok(EXIT_OK);
    }
    if releases.is_empty() {
        io.print(
            "no agent releases yet: upload one with `kanade agent publish <binary> --version V`\n",
        )?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = releases
        .iter()
        .map(|r| {
            vec![
                render::cell(&r.key),
                render::cell(&r.version),
                render::cell(&r.platform),
                render::bytes(r.size),
                r.sha256.clone(),
                render::cell(r.published_by.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    io.print(&render::table(
        &[
            "key",
            "version",
            "platform",
            "size",
            "sha256",
            "published by",
        ],
        &rows,
    ))?;
    Ok(EXIT_OK)
}

/// The PATCH a rollout sends: the version and, when given, the jitter; with `--clear` both
/// unset.
pub fn rollout_patch(args: &RolloutArgs) -> anyhow::Result<Map<String, Value>> {
    let mut patch = Map::new();
    if args.clear {
        patch.insert("target_version".to_owned(), Value::Null);
        patch.insert("target_version_jitter".to_owned(), Value::Null);
        return Ok(patch);
    }
    let Some(version) = &args.target_version else {
        return Err(BadInput::err("name the version to roll out, or --clear"));
    };
    if !is_version(version) {
        return Err(BadInput::err(format!(
            "`{version}` is not a version (letters, digits, '.', '-' and '_' only)"
        )));
    }
    patch.insert("target_version".to_owned(), Value::String(version.clone()));
    if let Some(jitter) = args.jitter {
        patch.insert(
            "target_version_jitter".to_owned(),
            Value::String(jitter.to_string()),
        );
    }
    Ok(patch)
}

pub async fn rollout(args: RolloutArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    for (flag, name) in [("--group", &args.group), ("--pc", &args.pc)] {
        let valid = |name: &str| match flag {
            "--pc" => kanade_protocol::subject::is_valid_pc_id(name),
            _ => kanade_protocol::subject::is_valid_token(name),
        };
        if let Some(name) = name
            && !valid(name)
        {
            return Err(BadInput::err(format!(
                "{flag}: `{name}` is not a valid name (letters, digits, '-' and '_' only)"
            )));
        }
    }
    let scope = config::parse_scope(&args.scope())?;
    let patch = rollout_patch(&args)?;
    let client = api_client(global)?;
    if let Some(version) = &args.target_version {
        // Best effort: a version nobody published leaves agents with nothing to download.
        if let Ok(releases) = client.list_releases().await
            && !releases.iter().any(|r| r.version == *version)
        {
            io.note(&format!(
                "warning: no published release has version {version}; agents cannot update until one is (`kanade agent publish`)"
            ));
        }
    }
    let written = client.patch_config(&scope, &patch).await?;
    if global.json {
        io.json(&written)?;
        return Ok(EXIT_OK);
    }
    let line = match (&args.target_version, args.jitter) {
        (Some(version), Some(jitter)) => {
            format!("{scope}: target_version {version}, each machine within {jitter}\n")
        }
        (Some(version), None) => format!("{scope}: target_version {version}\n"),
        (None, _) => {
            format!("{scope}: target_version cleared; machines follow the lower scopes again\n")
        }
    };
    io.print(&line)?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{AgentCommand, Cli, Command};
    use clap::Parser;
    use serde_json::json;

    fn rollout_args(line: &str) -> Result<RolloutArgs, String> {
        let args = ["kanade", "agent", "rollout"]
            .into_iter()
            .chain(line.split_whitespace());
        match Cli::try_parse_from(args)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Agent(AgentCommand::Rollout(args)) => Ok(args),
            other => panic!("not rollout: {other:?}"),
        }
    }

    #[test]
    fn rollout_scope_flags_pick_one_scope() {
        let cases = [
            ("1.2.0 --global", "global"),
            ("1.2.0 --group canary --jitter 10m", "groups.canary"),
            ("1.2.0 --pc pc-7", "pcs.pc-7"),
            ("--clear --group lab", "groups.lab"),
        ];
        for (line, want) in cases {
            let args = rollout_args(line).unwrap();
            assert_eq!(args.scope(), want, "{line}");
        }
        let refused = [
            ("1.2.0", "the following required arguments"),
            ("1.2.0 --global --group a", "cannot be used with"),
            ("1.2.0 --group a --pc b", "cannot be used with"),
            ("--global", "required"),
            ("1.2.0 --clear --global", "cannot be used with"),
            ("--clear --jitter 5m --global", "cannot be used with"),
            ("1.2.0 --global --jitter soon", "`soon` is not a duration"),
        ];
        for (line, want) in refused {
            let err = rollout_args(line).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn rollout_patches_the_version_and_jitter_or_clears_them() {
        let patch = rollout_patch(&rollout_args("1.2.0 --global --jitter 10m").unwrap()).unwrap();
        assert_eq!(
            Value::Object(patch),
            json!({"target_version": "1.2.0", "target_version_jitter": "10m"})
        );
        let patch = rollout_patch(&rollout_args("1.2.0 --pc a").unwrap()).unwrap();
        assert_eq!(Value::Object(patch), json!({"target_version": "1.2.0"}));
        let patch = rollout_patch(&rollout_args("--clear --global").unwrap()).unwrap();
        assert_eq!(
            Value::Object(patch),
            json!({"target_version": null, "target_version_jitter": null})
        );
        let err = rollout_patch(&rollout_args("1/2 --global").unwrap()).unwrap_err();
        assert!(err.is::<BadInput>());
        assert!(
            err.to_string().starts_with("`1/2` is not a version"),
            "{err}"
        );
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
