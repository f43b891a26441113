//! Inventory and compliance end to end: a shipped job registered with the CLI runs on a real
//! agent, and `kanade inventory` / `kanade compliance` show what the backend made of it.

use crate::support::System;

async fn kanade(system: &System, args: &[&str]) -> (i32, String, String) {
    let mut argv = vec![
        "kanade".to_owned(),
        "--backend-url".to_owned(),
        system.base.clone(),
    ];
    argv.extend(args.iter().map(|s| (*s).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io(argv, &mut out, &mut err).await;
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[tokio::test]
async fn a_shipped_job_runs_on_an_agent_and_the_cli_shows_inventory_and_compliance() {
    let system = System::start_without_auth(&["pc-inv"]).await;
    let job = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../jobs/disk-usage.yaml"
    ));
    let (code, out, err) = kanade(&system, &["job", "create", job.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = kanade(
        &system,
        &["exec", "disk-usage", "--pcs", "pc-inv", "--wait"],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = kanade(&system, &["inventory", "show", "disk-usage"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("PC") && out.contains("pc-inv"), "{out}");
    let (code, out, err) = kanade(
        &system,
        &["inventory", "show", "disk-usage", "--pc", "pc-inv"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("File systems:") && out.contains("MOUNT"),
        "{out}"
    );

    let (code, out, err) = kanade(
        &system,
        &[
            "inventory",
            "search",
            "inv_filesystems",
            "mount=/",
            "used_pct__gte=0",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("pc-inv") && err.contains("1 of 1 rows"),
        "{out}{err}"
    );
    let (code, _, err) = kanade(
        &system,
        &["inventory", "search", "inv_filesystems", "colour=red"],
    )
    .await;
    assert_eq!(code, 2, "bad input: {err}");
    assert!(err.contains("unknown column `colour`"), "{err}");

    let (code, out, err) = kanade(&system, &["compliance"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("disk-usage") && out.contains("Disk space"),
        "{out}"
    );
    let (code, out, err) = kanade(&system, &["compliance", "disk-usage"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pc-inv") && out.contains("% full"), "{out}");
}
