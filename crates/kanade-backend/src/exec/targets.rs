//! Target resolution for `POST /api/exec`: the named machines and the members of the named
//! groups, each online or not. A machine that never sent a heartbeat or a group without
//! members cannot answer, so the API refuses them (422 naming them) unless the request says
//! `allow_unknown`; a machine known but offline is accepted (its command waits for it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kanade_protocol::api::{ExecRequest, TargetMachine};
use kanade_protocol::manifest::ManifestError;

use super::Fanout;
use crate::store::{self, StoreError};

/// Why a target cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A rule of the request is broken; the field names the offending list.
    #[error(transparent)]
    Invalid(#[from] ManifestError),
    /// The read model could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker (KV `agent_groups`) could not be read.
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
}

/// The machines `req` reaches by name (pcs, group members, wave groups), sorted by id, each
/// with whether it is online; empty for `all`.
pub async fn resolve(
    fanout: &Fanout,
    req: &ExecRequest,
    now: DateTime<Utc>,
) -> Result<Vec<TargetMachine>, ResolveError> {
    let (groups, group_field) = match &req.rollout {
        Some(rollout) => (rollout.groups(), "rollout.waves"),
        None => (req.target.groups.clone(), "target.groups"),
    };
    if req.rollout.is_none() && req.target.all {
        return Ok(Vec::new());
    }
    let all_groups = crate::desired::all_groups(&fanout.js)
        .await
        .map_err(ResolveError::Unavailable)?;
    let empty: Vec<String> = groups
        .iter()
        .filter(|g| !all_groups.iter().any(|(_, of)| of.contains(*g)))
        .cloned()
        .collect();
    if !empty.is_empty() && !req.allow_unknown {
        return Err(ManifestError::Invalid {
            field: group_field.to_owned(),
            message: format!(
                "no machine is a member of {}: nothing would run (add members with \
                 `kanade group add`, or set allow_unknown to send anyway)",
                quoted(&empty)
            ),
        }
        .into());
    }
    let mut names: Vec<String> = all_groups
        .into_iter()
        .filter(|(_, of)| of.iter().any(|g| groups.contains(g)))
        .map(|(pc, _)| pc)
        .collect();
    names.extend(req.target.pcs.iter().cloned());
    names.sort();
    names.dedup();
    let window = fanout.online_window;
    let lookup = names.clone();
    let known: BTreeMap<String, bool> = fanout
        .store
        .read(move |conn| store::agents::known(conn, &lookup, now, window))
        .await?
        .into_iter()
        .collect();
    let unknown: Vec<String> = req
        .target
        .pcs
        .iter()
        .filter(|pc| !known.contains_key(*pc))
        .cloned()
        .collect();
    if !unknown.is_empty() && !req.allow_unknown {
        return Err(ManifestError::Invalid {
            field: "target.pcs".to_owned(),
            message: format!(
                "unknown machine(s) {}: never seen by this backend (check the name with \
                 `kanade agents`, or set allow_unknown to send anyway)",
                quoted(&unknown)
            ),
        }
        .into());
    }
    Ok(names
        .into_iter()
        .map(|pc_id| TargetMachine {
            online: known.get(&pc_id).copied().unwrap_or(false),
            pc_id,
        })
        .collect())
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
