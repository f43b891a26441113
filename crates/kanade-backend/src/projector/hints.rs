//! What the results projector does with a finished run of a job that has hints, inside the
//! same transaction as the result itself: inventory facts, explode tables and their history,
//! the check status and the alert decision. A payload that cannot be read is recorded on the
//! result (`hint_errors`) and never fails the batch; the other payloads still apply.

use chrono::{DateTime, Utc};
use kanade_protocol::hints::{self, CheckOutcome, lookup};
use kanade_protocol::manifest::{CheckHint, ExplodeSpec, InventoryHint, Manifest};
use kanade_protocol::wire::ExecResult;
use rusqlite::Transaction;
use serde_json::{Map, Value};

use crate::alerts::{self, Alert, Freshness};
use crate::projector::Meta;
use crate::store::{self, explode, inventory::Change, ts};

/// What the hint processing of one result needs besides the transaction.
pub struct Run<'a> {
    pub manifest: &'a Manifest,
    pub result: &'a ExecResult,
    pub meta: Meta,
    /// RESULTS sequence already seen before a rebuild (see `alerts::replay_horizon`).
    pub horizon: u64,
    pub now: DateTime<Utc>,
}

/// Applies the manifest's hints to a freshly recorded result; alerts go to `alerts`.
pub fn apply(tx: &Transaction<'_>, run: &Run<'_>, alerts: &mut Vec<Alert>) -> rusqlite::Result<()> {
    let (manifest, result) = (run.manifest, run.result);
    if result.skipped || (manifest.inventory.is_none() && manifest.check.is_none()) {
        return Ok(());
    }
    let mut errors = Vec::new();
    if result.stdout_object.is_some() {
        errors.push("stdout exceeded the inline cap; hints read only the inline part".to_owned());
    }
    let outcome = hints::evaluate(manifest, &result.stdout, result.exit_code);
    errors.extend(outcome.errors.iter().map(ToString::to_string));
    if let (Some(hint), Some(facts)) = (&manifest.inventory, outcome.inventory) {
        apply_inventory(tx, run, hint, facts, &mut errors)?;
    }
    if let (Some(check), Some(checked)) = (&manifest.check, outcome.check) {
        apply_check(tx, run, check, checked, alerts)?;
    }
    if !errors.is_empty() {
        store::results::set_hint_errors(tx, &result.result_id, &errors)?;
    }
    Ok(())
}

fn apply_inventory(
    tx: &Transaction<'_>,
    run: &Run<'_>,
    hint: &InventoryHint,
    facts: Map<String, Value>,
    errors: &mut Vec<String>,
) -> rusqlite::Result<()> {
    let r = run.result;
    let previous = store::inventory::current(tx, &r.pc_id, &r.job_id)?;
    if previous.as_ref().is_some_and(|(at, _)| *at > r.finished_at) {
        // A newer run of this job on this machine is already stored.
        return Ok(());
    }
    let facts = Value::Object(facts);
    let baseline = previous.is_none();
    for spec in &hint.explode {
        let items = match facts.get(&spec.field) {
            Some(Value::Array(items)) => items,
            Some(_) => {
                errors.push(format!(
                    "inventory: `{}` is not an array; {} kept its rows",
                    spec.field, spec.table
                ));
                continue;
            }
            None => {
                errors.push(format!(
                    "inventory: no `{}` array; {} kept its rows",
                    spec.field, spec.table
                ));
                continue;
            }
        };
        if !explode::is_safe(spec) {
            errors.push(format!(
                "inventory: explode spec for `{}` has unsafe names; skipped",
                spec.field
            ));
            continue;
        }
        tx.execute_batch("SAVEPOINT explode")?;
        match explode_one(tx, run, spec, items, !baseline && spec.track_history) {
            Ok(problems) => {
                tx.execute_batch("RELEASE explode")?;
                errors.extend(problems.into_iter().map(|p| format!("inventory: {p}")));
            }
            Err(err) => {
                tx.execute_batch("ROLLBACK TO explode; RELEASE explode")?;
                errors.push(format!("inventory: {} not updated: {err}", spec.table));
            }
        }
    }
    if let (false, Some((_, before))) = (baseline, &previous) {
        for field in &hint.history_scalars {
            let (old, new) = (lookup(before, field), lookup(&facts, field));
            if let Some(kind) = change_kind(old, new) {
                store::inventory::record_change(
                    tx,
                    &Change {
                        pc_id: &r.pc_id,
                        job_id: &r.job_id,
                        field_path: field,
                        identity: Value::Null,
                        kind,
                        before: old.cloned().unwrap_or(Value::Null),
                        after: new.cloned().unwrap_or(Value::Null),
                        observed_at: r.finished_at,
                    },
                )?;
            }
        }
    }
    let summary: Map<String, Value> = hint
        .summary
        .iter()
        .map(|f| {
            (
                f.field.clone(),
                lookup(&facts, &f.field).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    store::inventory::upsert(
        tx,
        &store::inventory::NewFacts {
            pc_id: &r.pc_id,
            job_id: &r.job_id,
            facts: &facts,
            display: &serde_json::to_value(&hint.display).unwrap_or_default(),
            summary: &Value::Object(summary),
            collected_at: r.finished_at,
            recorded_at: run.meta.published,
        },
    )
}

/// `added`, `removed` or `changed` between two values of a field; `None` when equal.
pub fn change_kind(before: Option<&Value>, after: Option<&Value>) -> Option<&'static str> {
    match (
        before.filter(|v| !v.is_null()),
        after.filter(|v| !v.is_null()),
    ) {
        (None, None) => None,
        (None, Some(_)) => Some("added"),
        (Some(_), None) => Some("removed"),
        (Some(a), Some(b)) if a == b => None,
        (Some(_), Some(_)) => Some("changed"),
    }
}

/// Reconciles the table, replaces the machine's rows and records the item changes. Returns
/// the items that could not be stored.
fn explode_one(
    tx: &Transaction<'_>,
    run: &Run<'_>,
    spec: &ExplodeSpec,
    items: &[Value],
    track: bool,
) -> rusqlite::Result<Vec<String>> {
    let r = run.result;
    explode::reconcile(tx, spec)?;
    let before = match track {
        true => Some(explode::rows(tx, spec, &r.pc_id, &r.job_id)?),
        false => None,
    };
    let (after, problems) = explode::normalise(spec, items);
    explode::replace(tx, spec, &r.pc_id, &r.job_id, &ts(r.finished_at), &after)?;
    let Some(before) = before else {
        return Ok(problems);
    };
    let identities: std::collections::BTreeSet<&String> =
        before.keys().chain(after.keys()).collect();
    for identity in identities {
        let (old, new) = (before.get(identity), after.get(identity));
        let (old, new) = (
            old.cloned().map(Value::Object),
            new.cloned().map(Value::Object),
        );
        let Some(kind) = change_kind(old.as_ref(), new.as_ref()) else {
            continue;
        };
        store::inventory::record_change(
            tx,
            &Change {
                pc_id: &r.pc_id,
                job_id: &r.job_id,
                field_path: &spec.field,
                identity: serde_json::from_str(identity).unwrap_or(Value::Null),
                kind,
                before: old.unwrap_or(Value::Null),
                after: new.unwrap_or(Value::Null),
                observed_at: r.finished_at,
            },
        )?;
    }
    Ok(problems)
}

fn apply_check(
    tx: &Transaction<'_>,
    run: &Run<'_>,
    check: &CheckHint,
    checked: CheckOutcome,
    alerts: &mut Vec<Alert>,
) -> rusqlite::Result<()> {
    let r = run.result;
    let previous = store::checks::current(tx, &r.pc_id, &check.name)?;
    let status = store::checks::NewStatus {
        pc_id: &r.pc_id,
        check_name: &check.name,
        status: checked.status,
        detail: checked.detail.as_deref(),
        label: check.label.as_deref(),
        job_id: &r.job_id,
        exec_id: &r.exec_id,
        result_id: &r.result_id,
        finished_at: r.finished_at,
        recorded_at: run.meta.published,
    };
    store::checks::record_history(tx, &status)?;
    let stored = store::checks::upsert(tx, &status)?;
    let Some(spec) = check.alert.as_ref().filter(|_| stored) else {
        return Ok(());
    };
    let fresh = Freshness {
        published: run.meta.published,
        stream_seq: run.meta.stream_seq,
        horizon: run.horizon,
        now: run.now,
    };
    if alerts::is_alert(
        previous.map(|(status, _)| status),
        checked.status,
        spec,
        fresh,
    ) && store::checks::record_alert(
        tx,
        &r.result_id,
        &check.name,
        &r.pc_id,
        checked.status,
        run.now,
    )? {
        alerts.push(Alert {
            last_logon: store::checks::last_logon_user(tx, &r.pc_id)?,
            pc_id: r.pc_id.clone(),
            check_name: check.name.clone(),
            label: check.label.clone(),
            status: checked.status,
            detail: checked.detail,
            spec: spec.clone(),
        });
    }
    Ok(())
}
