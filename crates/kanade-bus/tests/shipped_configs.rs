//! The broker configurations we ship give JetStream room for everything kanade reserves, and
//! lift nats-server 2.15's default cap of 1,000 consumers per stream: a shipped config that
//! fails either makes the backend refuse to start, or a fleet past 1,000 machines fail its
//! watches, on a fresh install.

use kanade_bus::resources::reserved_bytes;

const SHIPPED: [&str; 2] = [
    "packaging/etc/nats-server.conf",
    "deploy/examples/broker.conf",
];

fn read(relative: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// nats-server's size syntax as used in our files: `32G`, `64GB`, `10GiB`, or bytes.
fn bytes_of(value: &str) -> u64 {
    let value = value.trim().trim_matches('"');
    let digits: String = value.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("not a size: {value}"));
    let unit = value[digits.len()..].trim().to_ascii_uppercase();
    let scale: u64 = match unit.trim_end_matches('B').trim_end_matches('I') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        other => panic!("unknown size unit {other:?} in {value}"),
    };
    n * scale
}

/// The value of the first uncommented `key:` line.
fn setting<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix(':'))
}

#[test]
fn shipped_broker_configs_hold_what_kanade_reserves() {
    let reserved = u64::try_from(reserved_bytes()).unwrap();
    for file in SHIPPED {
        let text = read(file);
        let store = setting(&text, "max_file_store")
            .unwrap_or_else(|| {
                panic!("{file} sets no max_file_store (the default depends on the free disk)")
            })
            .trim();
        assert!(
            bytes_of(store) >= reserved,
            "{file}: max_file_store {store} is below the {} MiB kanade's streams reserve",
            reserved >> 20
        );
    }
}

#[test]
fn shipped_broker_configs_lift_the_per_stream_consumer_cap() {
    for file in SHIPPED {
        let text = read(file);
        assert!(
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .any(|l| l.contains("default_max_consumers: -1")),
            "{file} keeps nats-server's 1,000 consumers per stream"
        );
    }
}
