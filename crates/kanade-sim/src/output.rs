//! What a simulated script prints: optional inventory or check payload in the same fences a
//! real job uses, padded with filler lines to the requested size.

use crate::spec::Payload;

/// Stdout of one simulated run of `pc_id`, about `bytes` long (longer when the payload alone
/// is longer).
pub fn stdout(pc_id: &str, payload: Payload, bytes: usize, failed: bool) -> String {
    let mut out = String::with_capacity(bytes + 64);
    match payload {
        Payload::None => {}
        Payload::Inventory => {
            let doc = serde_json::json!({
                "hostname": pc_id,
                "os": {"family": "linux", "name": "Debian GNU/Linux", "version": "12"},
                "cpu": {"model": "Simulated CPU", "cores": 4 + (fastrand::u8(0..3) * 2)},
                "memory_bytes": 8u64 << 30,
                "disks": [
                    {"mount": "/", "size_bytes": 256u64 << 30, "free_bytes": fastrand::u64(10..200) << 30},
                ],
                "software": [
                    {"name": "openssl", "version": "3.0.15"},
                    {"name": "kanade-agent", "version": kanade_protocol::VERSION},
                ],
            });
            out.push_str("#KANADE-INVENTORY-BEGIN\n");
            out.push_str(&doc.to_string());
            out.push_str("\n#KANADE-INVENTORY-END\n");
        }
        Payload::Check => {
            let status = if failed { "fail" } else { "ok" };
            let doc = serde_json::json!({"status": status, "message": format!("simulated check: {status}")});
            out.push_str("#KANADE-CHECK-BEGIN\n");
            out.push_str(&doc.to_string());
            out.push_str("\n#KANADE-CHECK-END\n");
        }
    }
    let line = format!("{pc_id}: simulated output line\n");
    while out.len() + line.len() <= bytes {
        out.push_str(&line);
    }
    let rest = bytes.saturating_sub(out.len());
    out.extend(std::iter::repeat_n('.', rest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_has_the_requested_size() {
        for n in [0, 1, 50, 200, 4096] {
            assert_eq!(stdout("sim-1", Payload::None, n, false).len(), n);
        }
    }

    #[test]
    fn payloads_are_fenced_json_the_hint_readers_accept() {
        let inv = stdout("sim-7", Payload::Inventory, 0, false);
        let body = inv
            .strip_prefix("#KANADE-INVENTORY-BEGIN\n")
            .and_then(|s| s.strip_suffix("\n#KANADE-INVENTORY-END\n"))
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(doc["hostname"], "sim-7");
        let check = stdout("sim-7", Payload::Check, 300, true);
        assert!(check.contains("\"status\":\"fail\""), "{check}");
        assert_eq!(check.len(), 300);
    }
}
