//! The CLI against a backend served over HTTPS with a private CA: `--backend-ca` pins it and
//! the session works; without it the CLI refuses the server and says why.

use std::time::Duration;

use kanade_testkit::NatsServer;

async fn cli(argv: Vec<String>, stdin: &str) -> (i32, String) {
    let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io_stdin(argv, &mut input, &mut out, &mut err).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    (code, text)
}

#[tokio::test]
async fn the_cli_pins_the_ca_of_an_https_backend() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (tls, _) = kanade_pki::ensure(&dir.path().join("tls"), &["127.0.0.1".to_owned()]).unwrap();
    let mut config = kanade_backend::BackendConfig::default();
    config.nats.url = nats.url();
    config.nats.ca_file = nats.ca_file();
    config.db.sqlite_path = dir.path().join("backend/kanade.db");
    config.secrets.bootstrap_admin_password = Some("https-e2e-password".to_owned());
    config.server.tls_cert = Some(tls.server_cert.clone());
    config.server.tls_key = Some(tls.server_key.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let _backend = tokio::spawn(kanade_backend::serve(
        config,
        listener,
        std::future::pending(),
    ));

    let config_dir = dir.path().join("cli");
    let argv = |pin: bool, args: &[&str]| {
        let mut argv = vec![
            "kanade".to_owned(),
            "--backend-url".to_owned(),
            base.clone(),
            "--config-dir".to_owned(),
            config_dir.display().to_string(),
        ];
        if pin {
            argv.push("--backend-ca".to_owned());
            argv.push(tls.ca_cert.display().to_string());
        }
        argv.extend(args.iter().map(|s| (*s).to_owned()));
        argv
    };
    let login = ["login", "--username", "admin", "--password-stdin"];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (code, text) = cli(argv(true, &login), "https-e2e-password\n").await;
        if code == 0 {
            assert!(text.contains("signed in as admin"), "{text}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "login never worked: {text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (code, text) = cli(argv(true, &["whoami"]), "").await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("admin"), "{text}");

    // Without the CA the server's certificate is not trusted: refused, nothing sent.
    let (code, text) = cli(argv(false, &["whoami"]), "").await;
    assert_ne!(code, 0, "{text}");
    let (code, text) = cli(
        argv(false, &["--backend-ca", "/nonexistent/ca.pem", "whoami"]),
        "",
    )
    .await;
    assert_ne!(code, 0);
    assert!(text.contains("/nonexistent/ca.pem"), "{text}");
}
