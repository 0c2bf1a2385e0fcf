//! A bound on how long a collective may wait for the other ranks.
#![cfg_attr(not(feature = "mpi"), allow(dead_code))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The default bound on one collective's wait, in seconds (`WICK_DIST_TIMEOUT` changes it).
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// How long a collective may wait before the process gives up: `WICK_DIST_TIMEOUT`
/// seconds (a positive integer) or [`DEFAULT_TIMEOUT_SECS`]. Launchers (mpirun, srun)
/// already end the job when a rank dies; the bound catches the cases they do not see, a
/// rank that hangs or never arrives. It must exceed the longest time one rank works
/// alone between two collectives (the chief writing a checkpoint, say).
pub fn collective_timeout() -> Duration {
    let secs = std::env::var("WICK_DIST_TIMEOUT").ok().and_then(|v| v.trim().parse::<u64>().ok()).filter(|&s| s > 0);
    Duration::from_secs(secs.unwrap_or(DEFAULT_TIMEOUT_SECS))
}

/// Milliseconds since the epoch at which the collective in progress started; 0 when none.
static SINCE_MS: AtomicU64 = AtomicU64::new(0);
static WHAT: Mutex<String> = Mutex::new(String::new());
static START: Once = Once::new();

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Starts the watchdog thread once per process: when a collective has waited longer than
/// [`collective_timeout`], it prints which collective on which rank, and exits with code 70.
pub(crate) fn start(rank: usize, world_size: usize) {
    START.call_once(|| {
        let limit = collective_timeout();
        let spawned = std::thread::Builder::new().name("wick-dist-watchdog".into()).spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let since = SINCE_MS.load(Ordering::Acquire);
            if since != 0 && now_ms().saturating_sub(since) > limit.as_millis() as u64 {
                let what = WHAT.lock().map(|w| w.clone()).unwrap_or_default();
                eprintln!(
                    "wick-dist: rank {rank} of {world_size}: collective `{what}` has waited {} s for the other \
                     ranks (WICK_DIST_TIMEOUT); another rank has died or hangs. Exiting.",
                    limit.as_secs()
                );
                std::process::exit(70);
            }
        });
        if let Err(e) = spawned {
            eprintln!("wick-dist: could not start the collective watchdog ({e}); collectives are unbounded");
        }
    });
}

/// Marks a collective as in progress until dropped.
pub(crate) struct Armed;

impl Armed {
    pub(crate) fn new(what: &str) -> Self {
        if let Ok(mut w) = WHAT.lock() {
            w.clear();
            w.push_str(what);
        }
        SINCE_MS.store(now_ms().max(1), Ordering::Release);
        Armed
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        SINCE_MS.store(0, Ordering::Release);
    }
}
