//! The live command subscriptions of one machine: `commands.all` and `commands.pc.<pc_id>`
//! for good, and one `commands.group.<g>` per group, made and ended (unsubscribed) as the
//! membership changes, without a restart. Their subjects are what the catch-up reads.
//! After a live join the first catch-up passes over the group's commands stored before the
//! join: they were never meant for this machine.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use async_nats::jetstream;
use async_nats::{Client, Subscriber};
use futures::stream::{AbortHandle, Abortable, SelectAll};
use kanade_protocol::{names, subject};

/// The live command subscriptions: `commands.all` and `commands.pc.<pc_id>` for good, one
/// `commands.group.<g>` per group, each of those ended (and unsubscribed) when the machine
/// leaves the group.
pub(crate) struct Subscriptions {
    pub(crate) streams: SelectAll<Abortable<Subscriber>>,
    groups: BTreeMap<String, AbortHandle>,
    pc_id: String,
    /// Subjects of groups joined live since the last catch-up, with the EXEC sequence at the
    /// moment the live subscription was in place: EXEC may still hold the group's newest
    /// command from before, which was never meant for this machine. Anything later arrives
    /// live.
    pub(crate) joined: BTreeMap<String, u64>,
}

impl Subscriptions {
    pub(crate) async fn open(
        client: &Client,
        pc_id: &str,
        groups: &BTreeSet<String>,
    ) -> anyhow::Result<Subscriptions> {
        let mut subs = Subscriptions {
            streams: SelectAll::new(),
            groups: BTreeMap::new(),
            pc_id: pc_id.to_owned(),
            joined: BTreeMap::new(),
        };
        for subject in [
            subject::COMMANDS_ALL.to_owned(),
            subject::commands_pc(pc_id),
        ] {
            let sub = client
                .subscribe(subject.clone())
                .await
                .with_context(|| format!("subscribing to {subject}"))?;
            // Never aborted.
            let (stream, _) = futures::stream::abortable(sub);
            subs.streams.push(stream);
        }
        for group in groups {
            subs.join(client, group).await?;
        }
        Ok(subs)
    }

    /// Every subject listened to, as the catch-up reads them.
    pub(crate) fn subjects(&self) -> Vec<String> {
        let mut subjects = vec![
            subject::COMMANDS_ALL.to_owned(),
            subject::commands_pc(&self.pc_id),
        ];
        subjects.extend(self.groups.keys().map(|g| subject::commands_group(g)));
        subjects
    }

    async fn join(&mut self, client: &Client, group: &str) -> anyhow::Result<()> {
        let subject = subject::commands_group(group);
        let sub = client
            .subscribe(subject.clone())
            .await
            .with_context(|| format!("subscribing to {subject}"))?;
        let (stream, handle) = futures::stream::abortable(sub);
        self.streams.push(stream);
        self.groups.insert(group.to_owned(), handle);
        Ok(())
    }

    /// Joins new groups and leaves old ones; true when the subjects changed. A failed
    /// subscription is left out and tried again at the next call.
    pub(crate) async fn follow_groups(
        &mut self,
        client: &Client,
        js: &jetstream::Context,
        wanted: &BTreeSet<String>,
    ) -> bool {
        if self.groups.keys().eq(wanted.iter()) {
            return false;
        }
        let left: Vec<String> = self
            .groups
            .keys()
            .filter(|g| !wanted.contains(*g))
            .cloned()
            .collect();
        for group in &left {
            if let Some(handle) = self.groups.remove(group) {
                handle.abort();
            }
            self.joined.remove(&subject::commands_group(group));
        }
        let mut joined = Vec::new();
        for group in wanted {
            if self.groups.contains_key(group) {
                continue;
            }
            match self.join(client, group).await {
                Ok(()) => joined.push(group.clone()),
                Err(err) => {
                    tracing::warn!(
                        group,
                        error = format!("{err:#}"),
                        "cannot join group; retrying"
                    )
                }
            }
        }
        if left.is_empty() && joined.is_empty() {
            return false;
        }
        if !joined.is_empty() {
            let floor = exec_sequence_after(client, js).await;
            for group in &joined {
                self.joined.insert(subject::commands_group(group), floor);
            }
        }
        tracing::info!(?joined, ?left, "group subscriptions changed");
        true
    }
}

/// The last sequence in EXEC once the subscriptions made so far are in place at the server;
/// when unknown, everything stored so far counts as before.
async fn exec_sequence_after(client: &Client, js: &jetstream::Context) -> u64 {
    let sequence = async {
        // The server handles a connection's commands in order: after the flush's PONG the
        // subscriptions are in place.
        client.flush().await?;
        let mut stream = js.get_stream(names::STREAM_EXEC).await?;
        anyhow::Ok(stream.info().await?.state.last_sequence)
    };
    match sequence.await {
        Ok(sequence) => sequence,
        Err(err) => {
            tracing::debug!(
                error = format!("{err:#}"),
                "cannot read EXEC's last sequence"
            );
            u64::MAX
        }
    }
}
