//! Operating-system readings for host and process performance: raw counters only, rates are
//! computed by `perf`. Linux reads `/proc` and `/sys/block` (a handful of small files per
//! sample, no long-lived state); on every other OS the readers return an `Unsupported` error
//! and the agent publishes no perf, saying so once in its log.

/// Whole-host counters at one instant. CPU times are in kernel ticks (`USER_HZ`), byte
/// counters are totals since boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostCounters {
    pub cpu_total_ticks: u64,
    pub cpu_idle_ticks: u64,
    pub cpu_count: u32,
    pub mem_total_bytes: u64,
    pub mem_used_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    pub disk_read_bytes: u64,
    pub disk_written_bytes: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
}

/// One process at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessCounters {
    pub pid: u32,
    /// Start time in ticks since boot: with the pid, tells a reused pid from the old process.
    pub start_ticks: u64,
    pub name: String,
    /// User plus system CPU time, in ticks.
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
}

/// Every process, with the host's CPU ticks read at the same moment (the denominator of
/// per-process CPU %).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessTable {
    pub cpu_total_ticks: u64,
    pub cpu_count: u32,
    pub processes: Vec<ProcessCounters>,
}

/// Bytes a process made the storage layer read and write (`/proc/<pid>/io`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessIo {
    pub read_bytes: u64,
    pub written_bytes: u64,
}

#[cfg(target_os = "linux")]
pub use linux::{host_counters, process_io, process_table};

#[cfg(not(target_os = "linux"))]
pub fn host_counters() -> std::io::Result<HostCounters> {
    Err(unsupported())
}

#[cfg(not(target_os = "linux"))]
pub fn process_table() -> std::io::Result<ProcessTable> {
    Err(unsupported())
}

#[cfg(not(target_os = "linux"))]
pub fn process_io(_pid: u32) -> Option<ProcessIo> {
    None
}

#[cfg(not(target_os = "linux"))]
fn unsupported() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!(
            "performance readings are not supported on {}",
            std::env::consts::OS
        ),
    )
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeSet;
    use std::io;
    use std::sync::OnceLock;

    use super::{HostCounters, ProcessCounters, ProcessIo, ProcessTable};

    /// `/proc/diskstats` counts 512-byte sectors whatever the device's sector size.
    const SECTOR: u64 = 512;

    pub fn host_counters() -> io::Result<HostCounters> {
        let stat = std::fs::read_to_string("/proc/stat")?;
        let (cpu_total_ticks, cpu_idle_ticks, cpu_count) = parse_stat(&stat)?;
        let meminfo = std::fs::read_to_string("/proc/meminfo")?;
        let mem = parse_meminfo(&meminfo)?;
        // Disk and network are best effort: a container may hide them.
        let (disk_read_bytes, disk_written_bytes) = std::fs::read_to_string("/proc/diskstats")
            .map(|text| parse_diskstats(&text, &whole_disks(&text)))
            .unwrap_or_default();
        let (net_rx_bytes, net_tx_bytes) = std::fs::read_to_string("/proc/net/dev")
            .map(|text| parse_net_dev(&text))
            .unwrap_or_default();
        Ok(HostCounters {
            cpu_total_ticks,
            cpu_idle_ticks,
            cpu_count,
            mem_total_bytes: mem.total,
            mem_used_bytes: mem.total.saturating_sub(mem.available),
            swap_total_bytes: mem.swap_total,
            swap_used_bytes: mem.swap_total.saturating_sub(mem.swap_free),
            disk_read_bytes,
            disk_written_bytes,
            net_rx_bytes,
            net_tx_bytes,
        })
    }

    pub fn process_table() -> io::Result<ProcessTable> {
        let stat = std::fs::read_to_string("/proc/stat")?;
        let (cpu_total_ticks, _, cpu_count) = parse_stat(&stat)?;
        let page = page_size();
        let mut processes = Vec::new();
        for entry in std::fs::read_dir("/proc")? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // A process may exit between the listing and the read.
            let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if let Some(process) = parse_pid_stat(pid, &text, page) {
                processes.push(process);
            }
        }
        Ok(ProcessTable {
            cpu_total_ticks,
            cpu_count,
            processes,
        })
    }

    /// `None` when the file is not readable (another user's process without privileges).
    pub fn process_io(pid: u32) -> Option<ProcessIo> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
        parse_pid_io(&text)
    }

    fn page_size() -> u64 {
        static PAGE: OnceLock<u64> = OnceLock::new();
        *PAGE.get_or_init(
            || match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
                Ok(Some(size)) if size > 0 => size as u64,
                _ => 4096,
            },
        )
    }

    fn bad(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, format!("cannot parse {what}"))
    }

    /// `(total ticks, idle ticks, cpu count)` from `/proc/stat`. Guest time is already part
    /// of user time, so only the first eight columns are summed; iowait counts as idle.
    pub(super) fn parse_stat(text: &str) -> io::Result<(u64, u64, u32)> {
        let mut total = None;
        let mut count = 0u32;
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("cpu") => {
                    let ticks: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
                    if ticks.len() < 4 {
                        return Err(bad("/proc/stat"));
                    }
                    let idle = ticks[3] + ticks.get(4).copied().unwrap_or(0);
                    total = Some((ticks.iter().sum(), idle));
                }
                Some(name) if name.starts_with("cpu") => count += 1,
                _ => {}
            }
        }
        let (total, idle) = total.ok_or_else(|| bad("/proc/stat"))?;
        Ok((total, idle, count.max(1)))
    }

    pub(super) struct Mem {
        pub total: u64,
        pub available: u64,
        pub swap_total: u64,
        pub swap_free: u64,
    }

    pub(super) fn parse_meminfo(text: &str) -> io::Result<Mem> {
        let mut values = std::collections::HashMap::new();
        for line in text.lines() {
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            let Some(kib) = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
            else {
                continue;
            };
            values.insert(key.trim(), kib * 1024);
        }
        let get = |key: &str| values.get(key).copied();
        let total = get("MemTotal").ok_or_else(|| bad("/proc/meminfo"))?;
        // Kernels before 3.14 have no MemAvailable.
        let available = get("MemAvailable").unwrap_or_else(|| {
            get("MemFree").unwrap_or(0) + get("Buffers").unwrap_or(0) + get("Cached").unwrap_or(0)
        });
        Ok(Mem {
            total,
            available: available.min(total),
            swap_total: get("SwapTotal").unwrap_or(0),
            swap_free: get("SwapFree").unwrap_or(0),
        })
    }

    /// The whole physical disks: the `/sys/block` entries that are not virtual (loop, ram,
    /// zram, device-mapper and md sit on top of physical disks and would count their I/O
    /// twice). Without `/sys`, every device in `diskstats` that is not a partition of another.
    fn whole_disks(diskstats: &str) -> BTreeSet<String> {
        if let Ok(entries) = std::fs::read_dir("/sys/block") {
            return entries
                .flatten()
                .filter(|entry| {
                    std::fs::canonicalize(entry.path())
                        .map(|target| !target.to_string_lossy().contains("/devices/virtual/"))
                        .unwrap_or(true)
                })
                // sysfs writes `/` in device names as `!` (cciss!c0d0).
                .map(|entry| entry.file_name().to_string_lossy().replace('!', "/"))
                .collect();
        }
        let names: Vec<&str> = diskstats
            .lines()
            .filter_map(|line| line.split_whitespace().nth(2))
            .collect();
        names
            .iter()
            .filter(|name| !names.iter().any(|other| is_partition_of(name, other)))
            .map(|name| (*name).to_owned())
            .collect()
    }

    /// `sda1` of `sda`, `nvme0n1p2` of `nvme0n1`, `mmcblk0p1` of `mmcblk0`.
    pub(super) fn is_partition_of(name: &str, disk: &str) -> bool {
        let Some(rest) = name.strip_prefix(disk) else {
            return false;
        };
        let digits = rest.strip_prefix('p').unwrap_or(rest);
        !rest.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    }

    /// `(read bytes, written bytes)` summed over `disks`.
    pub(super) fn parse_diskstats(text: &str, disks: &BTreeSet<String>) -> (u64, u64) {
        let mut read = 0u64;
        let mut written = 0u64;
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || !disks.contains(fields[2]) {
                continue;
            }
            let sectors = |i: usize| fields[i].parse::<u64>().unwrap_or(0);
            read = read.saturating_add(sectors(5) * SECTOR);
            written = written.saturating_add(sectors(9) * SECTOR);
        }
        (read, written)
    }

    /// `(received bytes, transmitted bytes)` over every interface but loopback.
    pub(super) fn parse_net_dev(text: &str) -> (u64, u64) {
        let mut rx = 0u64;
        let mut tx = 0u64;
        for line in text.lines() {
            let Some((name, counters)) = line.split_once(':') else {
                continue;
            };
            if name.trim() == "lo" {
                continue;
            }
            let fields: Vec<u64> = counters
                .split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            if fields.len() < 9 {
                continue;
            }
            rx = rx.saturating_add(fields[0]);
            tx = tx.saturating_add(fields[8]);
        }
        (rx, tx)
    }

    /// `/proc/<pid>/stat`: "pid (comm) state ppid ..."; comm may hold spaces and parentheses,
    /// so the fields are counted after the last `)`.
    pub(super) fn parse_pid_stat(pid: u32, text: &str, page: u64) -> Option<ProcessCounters> {
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        let name = text.get(open + 1..close)?.to_owned();
        let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
        // After the comm: state is field 3 of the man page, so field n sits at index n - 3.
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        let cpu_ticks = field(14)? + field(15)?;
        Some(ProcessCounters {
            pid,
            start_ticks: field(22)?,
            name,
            cpu_ticks,
            rss_bytes: field(24)? * page,
        })
    }

    pub(super) fn parse_pid_io(text: &str) -> Option<ProcessIo> {
        let mut read = None;
        let mut written = None;
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().parse::<u64>().ok();
            match key {
                "read_bytes" => read = value,
                "write_bytes" => written = value,
                _ => {}
            }
        }
        Some(ProcessIo {
            read_bytes: read?,
            written_bytes: written?,
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::linux::*;
    use std::collections::BTreeSet;

    #[test]
    fn proc_stat_sums_cpu_time_and_counts_cores() {
        let text = "cpu  100 5 50 800 20 1 2 3 7 0\ncpu0 50 0 25 400 10 0 1 1 0 0\n\
                    cpu1 50 5 25 400 10 1 1 2 7 0\nintr 1 2 3\nctxt 9\n";
        let (total, idle, count) = parse_stat(text).unwrap();
        assert_eq!(total, 100 + 5 + 50 + 800 + 20 + 1 + 2 + 3);
        assert_eq!(idle, 820);
        assert_eq!(count, 2);
        assert!(parse_stat("intr 1\n").is_err());
    }

    #[test]
    fn meminfo_in_bytes_with_a_fallback_for_old_kernels() {
        let text = "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\n\
                    Buffers: 50 kB\nCached: 200 kB\nSwapTotal: 300 kB\nSwapFree: 100 kB\n";
        let mem = parse_meminfo(text).unwrap();
        assert_eq!(mem.total, 1_024_000);
        assert_eq!(mem.available, 614_400);
        assert_eq!(mem.swap_total - mem.swap_free, 204_800);
        let old = parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nCached: 200 kB\n").unwrap();
        assert_eq!(old.available, 300 * 1024);
        assert!(parse_meminfo("SwapTotal: 1 kB\n").is_err());
    }

    #[test]
    fn diskstats_count_whole_disks_only() {
        let text = "   8       0 sda 10 0 100 0 5 0 40 0 0 0 0\n\
                       8       1 sda1 10 0 100 0 5 0 40 0 0 0 0\n\
                     259       0 nvme0n1 1 0 2 0 1 0 4 0 0 0 0\n\
                     259       1 nvme0n1p1 1 0 2 0 1 0 4 0 0 0 0\n\
                       7       0 loop0 9 0 900 0 0 0 0 0 0 0 0\n";
        let disks: BTreeSet<String> = ["sda", "nvme0n1"].map(String::from).into();
        assert_eq!(parse_diskstats(text, &disks), (102 * 512, 44 * 512));
        assert!(is_partition_of("sda1", "sda"));
        assert!(is_partition_of("nvme0n1p1", "nvme0n1"));
        assert!(!is_partition_of("sdab", "sda"));
        assert!(!is_partition_of("sda", "sda"));
        assert!(!is_partition_of("nvme0n1", "nvme0"));
    }

    #[test]
    fn net_dev_leaves_out_loopback() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n\
                        lo: 500 5 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n\
                      eth0: 1000 10 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n\
                     wlan0: 30 1 0 0 0 0 0 0 4 1 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(text), (1030, 204));
    }

    #[test]
    fn pid_stat_survives_odd_process_names() {
        let text = "42 (my (odd) proc) S 1 42 42 0 -1 4194560 100 0 0 0 \
                    70 30 0 0 20 0 1 0 5000 1000000 25 18446744073709551615";
        let p = parse_pid_stat(42, text, 4096).unwrap();
        assert_eq!(p.name, "my (odd) proc");
        assert_eq!(p.cpu_ticks, 100);
        assert_eq!(p.start_ticks, 5000);
        assert_eq!(p.rss_bytes, 25 * 4096);
        assert!(parse_pid_stat(1, "1 (x) S 0", 4096).is_none());
    }

    #[test]
    fn pid_io_reads_storage_bytes() {
        let text = "rchar: 9\nwchar: 8\nsyscr: 1\nsyscw: 1\nread_bytes: 4096\n\
                    write_bytes: 8192\ncancelled_write_bytes: 0\n";
        let io = parse_pid_io(text).unwrap();
        assert_eq!((io.read_bytes, io.written_bytes), (4096, 8192));
        assert!(parse_pid_io("rchar: 1\n").is_none());
    }

    #[test]
    fn this_machine_can_be_read() {
        let host = super::host_counters().unwrap();
        assert!(host.cpu_count >= 1);
        assert!(host.mem_total_bytes > 0);
        let table = super::process_table().unwrap();
        let me = std::process::id();
        assert!(
            table
                .processes
                .iter()
                .any(|p| p.pid == me && p.rss_bytes > 0)
        );
        assert!(super::process_io(me).is_some());
    }
}
