//! Derived groups end to end, in zero-trust mode: an admin defines a group by a SQL condition
//! over the inventory; the machine whose inventory matches joins it (KV
//! `agent_groups_derived`), is re-granted its group subjects and answers a command sent to
//! `commands.group.<g>`, while a machine that does not match gets nothing; deleting the
//! definition takes the machine out again.

use std::time::Duration;

use kanade_protocol::api::{ExecRequest, Target};
use kanade_protocol::derived::DerivedGroupRequest;
use kanade_protocol::names;
use kanade_protocol::wire::AgentGroups;

use crate::support::{System, pcs, wait_for};

const APPS: &str = r#"
id: apps
version: "1"
execute:
  shell: sh
  timeout: 20s
  script: |
    echo '#KANADE-INVENTORY-BEGIN'
    echo '{"apps":[{"name":"Firefox","version":"128"},{"name":"curl","version":"8"}]}'
    echo '#KANADE-INVENTORY-END'
inventory:
  explode:
    - field: apps
      table: inv_apps
      primary_key: [name]
      columns:
        - { field: name }
        - { field: version }
"#;

const HELLO: &str = "
id: hello
version: 1
execute:
  shell: sh
  script: echo hello from $(hostname)
  timeout: 20s
";

const FIREFOX: &str =
    "EXISTS (SELECT 1 FROM inv_apps a WHERE a.pc_id = machine.pc_id AND a.name = 'Firefox')";

#[tokio::test]
async fn a_machine_whose_inventory_matches_joins_the_group_and_takes_its_commands() {
    let system = System::start_zero_trust(&["dg-one", "dg-two"]).await;
    system.wait_online(2).await;
    let api = &system.api;
    api.create_job_yaml(APPS).await.unwrap();
    api.create_job_yaml(HELLO).await.unwrap();
    // Only dg-one reports inventory.
    let fired = system.exec("apps", pcs(&["dg-one"])).await;
    let done = system.wait_completed(&fired.exec_id).await;
    assert_eq!(done.execution.success_count, 1, "{done:#?}");

    // A condition that reads what it may not is refused, naming `where`.
    let err = api
        .derive_group(&DerivedGroupRequest {
            name: "firefox".into(),
            condition: "EXISTS (SELECT 1 FROM users)".into(),
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("where"), "{err}");

    let view = api
        .derive_group(&DerivedGroupRequest {
            name: "firefox".into(),
            condition: FIREFOX.into(),
        })
        .await
        .unwrap();
    assert_eq!(view.members, vec!["dg-one"]);

    let nats = system.backend_nats().await;
    let kv = async_nats::jetstream::new(nats)
        .get_key_value(names::KV_AGENT_GROUPS_DERIVED)
        .await
        .unwrap();
    let kv = &kv;
    wait_for(
        "dg-one in the derived group",
        Duration::from_secs(20),
        || async move {
            let Ok(Some(bytes)) = kv.get("dg-one").await else {
                return false;
            };
            serde_json::from_slice::<AgentGroups>(&bytes).is_ok_and(|g| g.groups == ["firefox"])
        },
    )
    .await;
    assert!(
        kv.get("dg-two").await.unwrap().is_none(),
        "dg-two does not match"
    );
    // The machine list filters by derived groups too, and the groups overview counts them.
    let listed = api
        .list_agents(&kanade_cli::client::AgentQuery {
            group: Some("firefox".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = listed.items.iter().map(|a| a.pc_id.as_str()).collect();
    assert_eq!(ids, ["dg-one"]);
    let groups = api.list_groups().await.unwrap();
    assert!(
        groups.iter().any(|g| g.name == "firefox" && g.members == 1),
        "{groups:?}"
    );

    // A command to the group reaches the member, and only it.
    wait_for(
        "a group command answered by the member",
        Duration::from_secs(60),
        || async move {
            let Ok(fired) = api
                .exec(
                    "hello",
                    &ExecRequest {
                        target: Target {
                            groups: vec!["firefox".to_owned()],
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                )
                .await
            else {
                return false;
            };
            tokio::time::sleep(Duration::from_secs(3)).await;
            api.get_execution(&fired.exec_id).await.is_ok_and(|e| {
                e.execution.success_count == 1 && e.results.iter().all(|r| r.pc_id == "dg-one")
            })
        },
    )
    .await;
    let violations: Vec<String> = system
        .broker_violations()
        .into_iter()
        .filter(|v| !v.contains("group.firefox") && !v.contains("groups.firefox"))
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");

    // Deleting the definition takes the machine out.
    api.delete_derived_group("firefox").await.unwrap();
    wait_for(
        "dg-one out of the derived group",
        Duration::from_secs(20),
        || async move { matches!(kv.get("dg-one").await, Ok(None)) },
    )
    .await;
    assert!(api.derived_groups().await.unwrap().is_empty());
}
