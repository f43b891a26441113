//! What a heartbeat says about the machine itself: its addresses (interfaces that are up,
//! without loopback and link-local ones), uptime and load average.

use std::net::IpAddr;

use nix::net::if_::InterfaceFlags;
use sysinfo::System;

/// The machine's addresses, IPv4 first, each once.
pub fn ip_addresses() -> Vec<String> {
    let Ok(found) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let up = found.filter(|i| {
        i.flags.contains(InterfaceFlags::IFF_UP) && !i.flags.contains(InterfaceFlags::IFF_LOOPBACK)
    });
    let ips = up.filter_map(|i| {
        let addr = i.address?;
        if let Some(v4) = addr.as_sockaddr_in() {
            return Some(IpAddr::V4(v4.ip()));
        }
        addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
    });
    reportable(ips)
}

/// Drops loopback, unspecified and link-local addresses, sorts IPv4 before IPv6, dedups.
pub fn reportable(ips: impl IntoIterator<Item = IpAddr>) -> Vec<String> {
    let mut kept: Vec<IpAddr> = ips
        .into_iter()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
        })
        .collect();
    kept.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    kept.dedup();
    kept.iter().map(IpAddr::to_string).collect()
}

/// Seconds since boot, when the platform says.
pub fn uptime_secs() -> Option<u64> {
    System::uptime().ok().filter(|s| *s > 0)
}

/// The 1, 5 and 15 minute load average; empty where the platform has none.
pub fn load_avg() -> Vec<f64> {
    match System::load_average() {
        Ok(l) => vec![l.one, l.five, l.fifteen],
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reportable_keeps_what_reaches_the_machine() {
        let ips = [
            "fe80::1",
            "10.0.0.7",
            "127.0.0.1",
            "::1",
            "2001:db8::5",
            "169.254.3.4",
            "10.0.0.7",
            "0.0.0.0",
            "192.168.1.2",
        ]
        .map(|s| s.parse::<IpAddr>().unwrap());
        assert_eq!(reportable(ips), ["10.0.0.7", "192.168.1.2", "2001:db8::5"]);
    }

    #[test]
    fn this_machine_reports_uptime_and_load() {
        assert!(uptime_secs().is_some());
        assert_eq!(load_avg().len(), 3);
    }
}
