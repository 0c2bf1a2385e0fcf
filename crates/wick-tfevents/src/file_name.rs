//! Event-file names: `events.out.tfevents.<10-digit secs>.<host>.<pid>.<counter><suffix>`.

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new event-file name for a file created at `wall_time`. The per-process counter
/// keeps two writers opened in the same second from colliding.
pub fn event_file_name(wall_time: f64, suffix: &str) -> String {
    let host = gethostname::gethostname().to_string_lossy().replace(['/', '\\'], "_");
    let host = if host.is_empty() { "localhost".to_string() } else { host };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("events.out.tfevents.{:010}.{}.{}.{}{}", wall_time as u64, host, std::process::id(), n, suffix)
}

/// True when TensorBoard would read `file_name` as an event file.
pub fn is_event_file(file_name: &str) -> bool {
    file_name.contains("tfevents")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        let a = event_file_name(1_700_000_000.7, "");
        let b = event_file_name(1_700_000_000.7, ".v2");
        assert_ne!(a, b);
        assert!(a.starts_with("events.out.tfevents.1700000000."));
        assert!(b.ends_with(".v2"));
        assert!(is_event_file(&a));
        let pid = std::process::id().to_string();
        assert!(a.split('.').any(|p| p == pid));
    }
}
