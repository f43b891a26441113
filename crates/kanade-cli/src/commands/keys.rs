//! `kanade keys list|rotate|retire <id>|break-glass --out FILE`: the keys agents accept command
//! signatures from. `rotate` makes the backend sign with a new key (the old one stays trusted
//! until retired); `break-glass` makes a key on this machine, stores its seed 0600 and has the
//! backend trust it, so `kanade run --signing-key FILE` works while the backend is down.

use std::path::Path;

use anyhow::Context;
use kanade_protocol::api::CommandKeyRow;
use kanade_protocol::signing::SigningKey;

use crate::cli::{Global, KeysCommand};
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_OK, render};

pub async fn run(command: KeysCommand, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    match command {
        KeysCommand::List => {
            let keys = client.command_keys().await?;
            match global.json {
                true => io.json(&keys)?,
                false => io.print(&table(&keys))?,
            }
        }
        KeysCommand::Rotate => {
            let key = client.rotate_command_key().await?;
            match global.json {
                true => io.json(&key)?,
                false => io.print(&format!(
                    "now signing with {}; once every agent reports the new one, retire the old \
                     key with `kanade keys retire <id>` (`kanade keys list` shows its id)\n",
                    key.key.key_id
                ))?,
            }
        }
        KeysCommand::Retire { key_id } => {
            client.retire_command_key(&key_id).await?;
            if !global.json {
                io.print(&format!(
                    "retired {key_id}: agents refuse its signatures from now on\n"
                ))?;
            }
        }
        KeysCommand::BreakGlass { out } => {
            if out.exists() {
                return Err(BadInput::err(format!(
                    "{} already exists; choose another --out",
                    out.display()
                )));
            }
            let key = SigningKey::generate();
            let row = client.add_command_key(&key.public_key()).await?;
            write_seed(&out, &key.seed())?;
            match global.json {
                true => io.json(&row)?,
                false => io.print(&format!(
                    "agents now trust {}; its seed is in {} (keep it offline, mode 0600); use it \
                     with `kanade run --signing-key {}`\n",
                    row.key.key_id,
                    out.display(),
                    out.display()
                ))?,
            }
        }
    }
    Ok(EXIT_OK)
}

fn table(keys: &[CommandKeyRow]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.key.key_id.clone(),
                if k.current { "signing" } else { "trusted" }.to_owned(),
                k.key.created_at.format("%Y-%m-%d %H:%M").to_string(),
                k.key.created_by.clone().unwrap_or_default(),
            ]
        })
        .collect();
    render::table(&["KEY", "STATE", "CREATED", "BY"], &rows)
}

/// Writes a new seed file readable only by the owner; never overwrites.
fn write_seed(path: &Path, seed: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{seed}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Reads a signing seed written by `kanade keys break-glass`. A file others may read, or one
/// that holds no seed, is bad input naming the file.
pub fn read_seed(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| BadInput::err(format!("--signing-key {}: {err}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(BadInput::err(format!(
                "--signing-key {}: readable by others (mode {mode:o}); run `chmod 600` on it",
                path.display()
            )));
        }
    }
    SigningKey::from_seed(&text)
        .map_err(|why| BadInput::err(format!("--signing-key {}: {why}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_written_private_read_back_and_refused_when_exposed_or_garbled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bg.seed");
        let key = SigningKey::generate();
        write_seed(&path, &key.seed()).unwrap();
        assert!(write_seed(&path, &key.seed()).is_err(), "never overwrites");
        assert_eq!(read_seed(&path).unwrap().key_id(), key.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = read_seed(&path).unwrap_err();
            assert!(
                err.is::<BadInput>() && err.to_string().contains("chmod 600"),
                "{err}"
            );
        }
        let garbled = dir.path().join("garbled");
        write_seed(&garbled, "nope").unwrap();
        assert!(read_seed(&garbled).unwrap_err().is::<BadInput>());
        assert!(
            read_seed(&dir.path().join("missing"))
                .unwrap_err()
                .is::<BadInput>()
        );
    }
}
