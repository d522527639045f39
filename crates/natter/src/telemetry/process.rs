//! The process's own metrics, under the names Prometheus's client libraries
//! (and the `metrics-process` crate) use, so stock dashboards work: resident
//! and virtual memory, CPU seconds, open and allowed file descriptors,
//! threads, start time. Read from `/proc/self` at scrape time, on Linux;
//! elsewhere nothing is recorded.
//!
//! Read here rather than through `metrics-process`: on Linux that crate reads
//! the same files through `procfs`, a dependency tree larger than these
//! hundred lines.

pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
pub const PROCESS_VIRTUAL_MEMORY: &str = "process_virtual_memory_bytes";
pub const PROCESS_CPU_SECONDS: &str = "process_cpu_seconds_total";
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
pub const PROCESS_MAX_FDS: &str = "process_max_fds";
pub const PROCESS_THREADS: &str = "process_threads";
pub const PROCESS_START_TIME: &str = "process_start_time_seconds";

pub fn describe() {
    metrics::describe_gauge!(
        PROCESS_RESIDENT_MEMORY,
        metrics::Unit::Bytes,
        "Resident memory of the natter process"
    );
    metrics::describe_gauge!(
        PROCESS_VIRTUAL_MEMORY,
        metrics::Unit::Bytes,
        "Virtual memory of the natter process"
    );
    metrics::describe_gauge!(
        PROCESS_CPU_SECONDS,
        metrics::Unit::Seconds,
        "CPU time the process has used, user and system (only ever grows: use rate())"
    );
    metrics::describe_gauge!(PROCESS_OPEN_FDS, "Open file descriptors (sockets included)");
    metrics::describe_gauge!(PROCESS_MAX_FDS, "The soft limit on open file descriptors");
    metrics::describe_gauge!(PROCESS_THREADS, "Threads of the process");
    metrics::describe_gauge!(
        PROCESS_START_TIME,
        metrics::Unit::Seconds,
        "When the process started, in seconds since the Unix epoch"
    );
}

/// Reads the process's figures and sets the gauges (Linux only).
pub fn record() {
    #[cfg(target_os = "linux")]
    if let Some(sample) = linux::sample() {
        let set = |name: &'static str, value: Option<f64>| {
            if let Some(value) = value {
                metrics::gauge!(name).set(value);
            }
        };
        set(PROCESS_RESIDENT_MEMORY, sample.resident_bytes);
        set(PROCESS_VIRTUAL_MEMORY, sample.virtual_bytes);
        set(PROCESS_CPU_SECONDS, sample.cpu_seconds);
        set(PROCESS_OPEN_FDS, sample.open_fds);
        set(PROCESS_MAX_FDS, sample.max_fds);
        set(PROCESS_THREADS, sample.threads);
        set(PROCESS_START_TIME, sample.start_time);
    }
}

#[cfg(target_os = "linux")]
mod linux {
    /// Clock ticks per second of `/proc` times. The kernel fixes USER_HZ at
    /// 100 for user space on every architecture Rust targets; Prometheus's Go
    /// `procfs` assumes the same rather than calling sysconf.
    const USER_HZ: f64 = 100.0;

    #[derive(Debug, Default)]
    pub struct Sample {
        pub resident_bytes: Option<f64>,
        pub virtual_bytes: Option<f64>,
        pub cpu_seconds: Option<f64>,
        pub open_fds: Option<f64>,
        pub max_fds: Option<f64>,
        pub threads: Option<f64>,
        pub start_time: Option<f64>,
    }

    pub fn sample() -> Option<Sample> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let mut sample = from_stat(&stat);
        sample.resident_bytes = first_number_after(&status, "VmRSS:").map(|kib| kib * 1024.0);
        sample.virtual_bytes = first_number_after(&status, "VmSize:").map(|kib| kib * 1024.0);
        sample.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| entries.count() as f64);
        sample.max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| first_number_after(&limits, "Max open files"));
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| boot_time(&stat));
        sample.start_time = match (boot, sample.start_time) {
            (Some(boot), Some(ticks)) => Some(boot + ticks),
            _ => None,
        };
        Some(sample)
    }

    /// CPU seconds, threads and the start (in seconds after boot, for now)
    /// from `/proc/self/stat`. Its second field, the command name, is in
    /// parentheses and may hold spaces: fields are counted after the last `)`.
    pub fn from_stat(stat: &str) -> Sample {
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // Field n of proc(5) (1-based) is fields[n - 3].
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
        let cpu = match (field(14), field(15)) {
            (Some(user), Some(system)) => Some((user + system) / USER_HZ),
            _ => None,
        };
        Sample {
            cpu_seconds: cpu,
            threads: field(20),
            start_time: field(22).map(|ticks| ticks / USER_HZ),
            ..Sample::default()
        }
    }

    /// The first number after `name` on the line that starts with it: a
    /// `Name:   1234 kB` line of `/proc/self/status` (in KiB), or the soft limit
    /// of a `/proc/self/limits` row ("unlimited" is none).
    pub fn first_number_after(text: &str, name: &str) -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    }

    /// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
    pub fn boot_time(stat: &str) -> Option<f64> {
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_proc_files() {
            // A command name with a space and a parenthesis, as proc(5) allows.
            let stat = "4242 (nat ter)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 \
                        7 0 123400 104857600 2560 18446744073709551615";
            let sample = from_stat(stat);
            assert_eq!(sample.cpu_seconds, Some(3.0));
            assert_eq!(sample.threads, Some(7.0));
            assert_eq!(sample.start_time, Some(1234.0));
            let status = "Name:\tnatter\nVmSize:\t  204800 kB\nVmRSS:\t   10240 kB\n";
            assert_eq!(first_number_after(status, "VmRSS:"), Some(10240.0));
            let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                          Max open files            1024                 524288               files\n";
            assert_eq!(first_number_after(limits, "Max open files"), Some(1024.0));
            assert_eq!(
                boot_time("cpu  1 2 3\nbtime 1764748800\n"),
                Some(1_764_748_800.0)
            );
        }

        #[test]
        fn reads_this_process() {
            let sample = sample().expect("/proc is there on Linux");
            assert!(sample.resident_bytes.unwrap() > 1024.0 * 1024.0);
            assert!(sample.open_fds.unwrap() >= 3.0);
            assert!(sample.threads.unwrap() >= 1.0);
            let started = sample.start_time.unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            assert!(started <= now + 1.0 && started > now - 86_400.0 * 365.0);
        }
    }
}
