//! The agent installer script behind `POST /api/enrollment/install-command`: POSIX sh that
//! downloads one agent release from this backend, checks its SHA-256, writes agent.toml
//! (broker URL, the pinned CA, a single-use enrollment token) and a systemd unit, and starts
//! the service. `KANADE_INSTALL_ROOT` installs under another root folder (paths in the files
//! written point inside it), `KANADE_INSTALL_START=0` does not touch systemd, and
//! `KANADE_AGENT_ID` names the machine (default: its host name), for tests and images.

use base64::Engine;

/// The unit the packages install; the script writes the same one.
const AGENT_UNIT: &str = include_str!("../../../packaging/systemd/kanade-agent.service");

/// What goes into one script. Every value was checked to hold no quote or space.
pub struct Params<'a> {
    pub download_url: &'a str,
    pub sha256: &'a str,
    pub nats_url: &'a str,
    /// The broker's CA certificate (PEM), pinned by the agent; none: plain TCP.
    pub ca_pem: Option<&'a str>,
    pub token: &'a str,
    pub release: &'a str,
}

/// The script itself.
pub fn script(p: &Params<'_>) -> String {
    let ca = match p.ca_pem {
        Some(pem) => format!(
            "cat >\"$ROOT/etc/kanade/ca.pem\" <<'KANADE_CA'\n{}\nKANADE_CA\nchmod 0644 \"$ROOT/etc/kanade/ca.pem\"\nCA_LINE=\"nats_ca = \\\"$ROOT/etc/kanade/ca.pem\\\"\"\n",
            pem.trim_end()
        ),
        None => "CA_LINE=\"\"\n".to_owned(),
    };
    format!(
        r#"#!/bin/sh
# kanade agent installer: {release}. Run as root.
set -eu
umask 077
ROOT="${{KANADE_INSTALL_ROOT:-}}"
URL='{url}'
SHA256='{sha}'
[ "$(id -u)" -eq 0 ] || [ -n "$ROOT" ] || {{ echo "kanade: run this as root" >&2; exit 1; }}
TMP="$(mktemp)"
trap 'rm -f "$TMP"' EXIT
echo "kanade: downloading $URL"
if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$TMP" "$URL"
elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$TMP" "$URL"
else
    echo "kanade: needs curl or wget" >&2; exit 1
fi
GOT="$(sha256sum "$TMP" | cut -d' ' -f1)"
if [ "$GOT" != "$SHA256" ]; then
    echo "kanade: the download's SHA-256 is $GOT, expected $SHA256: not installing" >&2
    exit 1
fi
install -d -m 0755 "$ROOT/usr/bin" "$ROOT/etc/kanade" "$ROOT/etc/systemd/system"
install -d -m 0700 "$ROOT/var/lib/kanade" "$ROOT/var/lib/kanade/agent"
install -d -m 0750 "$ROOT/var/log/kanade"
install -m 0755 "$TMP" "$ROOT/usr/bin/kanade-agent"
{ca}ID_LINE=""
[ -z "${{KANADE_AGENT_ID:-}}" ] || ID_LINE="id = \"$KANADE_AGENT_ID\""
if [ -f "$ROOT/etc/kanade/agent.toml" ]; then
    mv "$ROOT/etc/kanade/agent.toml" "$ROOT/etc/kanade/agent.toml.before-install"
    echo "kanade: kept the previous config as $ROOT/etc/kanade/agent.toml.before-install"
fi
cat >"$ROOT/etc/kanade/agent.toml" <<KANADE_TOML
# Written by the kanade installer ({release}). Keep it 0600: it holds an enrollment token.
[agent]
$ID_LINE
nats_url = "{nats}"
$CA_LINE
data_dir = "$ROOT/var/lib/kanade/agent"
enrollment_token = "{token}"

[log]
path = "$ROOT/var/log/kanade"
KANADE_TOML
chmod 0600 "$ROOT/etc/kanade/agent.toml"
sed -e "s|/usr/bin/kanade-agent|$ROOT/usr/bin/kanade-agent|" \
    -e "s|/etc/kanade/agent.toml|$ROOT/etc/kanade/agent.toml|" \
    >"$ROOT/etc/systemd/system/kanade-agent.service" <<'KANADE_UNIT'
{unit}
KANADE_UNIT
chmod 0644 "$ROOT/etc/systemd/system/kanade-agent.service"
if [ "${{KANADE_INSTALL_START:-1}}" = "1" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable kanade-agent.service
    systemctl restart kanade-agent.service
    echo "kanade: kanade-agent is running; the machine joins the fleet in a few seconds"
else
    echo "kanade: installed under ${{ROOT:-/}}; start it with: $ROOT/usr/bin/kanade-agent --config $ROOT/etc/kanade/agent.toml"
fi
"#,
        release = p.release,
        url = p.download_url,
        sha = p.sha256,
        ca = ca,
        nats = p.nats_url,
        token = p.token,
        unit = AGENT_UNIT.trim_end(),
    )
}

/// The bytes of release `key` from object store `agent_releases`, with its SHA-256 as
/// published; None when there is no such release.
pub async fn binary(
    js: &async_nats::jetstream::Context,
    key: &str,
) -> anyhow::Result<Option<(Vec<u8>, String)>> {
    use anyhow::Context;
    use tokio::io::AsyncReadExt;
    let store = js
        .get_object_store(kanade_protocol::names::OBJ_AGENT_RELEASES)
        .await
        .context("opening object store agent_releases")?;
    let Ok(info) = store.info(key).await else {
        return Ok(None);
    };
    if info.deleted {
        return Ok(None);
    }
    let sha = info.metadata.get("sha256").cloned().unwrap_or_default();
    let mut object = store
        .get(key)
        .await
        .with_context(|| format!("reading {key}"))?;
    let mut bytes = Vec::with_capacity(info.size);
    object
        .read_to_end(&mut bytes)
        .await
        .with_context(|| format!("reading {key}"))?;
    Ok(Some((bytes, sha)))
}

/// One line that runs `script` in a root shell: the script travels base64-encoded, so the
/// line survives any copy and paste.
pub fn command(script: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(script.as_bytes());
    format!("echo '{encoded}' | base64 -d | sh")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_carries_the_script() {
        let s = script(&Params {
            download_url: "http://backend:8080/api/agent-releases/1.0.0-linux-x86_64/binary",
            sha256: "ab",
            nats_url: "tls://broker:4222",
            ca_pem: Some("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"),
            token: "kanade-enroll-abc",
            release: "1.0.0-linux-x86_64",
        });
        assert!(s.contains("enrollment_token = \"kanade-enroll-abc\""));
        assert!(s.contains("ExecStart=/usr/bin/kanade-agent"));
        let line = command(&s);
        assert!(!line.contains('\n'));
        let b64 = line.split('\'').nth(1).unwrap();
        let back = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(String::from_utf8(back).unwrap(), s);
    }
}
