//! Crash safety: a child process writes scalars continuously and flushes now and then; it
//! is killed with SIGKILL. Every record written before its last completed flush must be
//! read back, by our reader and by stock TensorBoard (both loaders).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::tensorboard::{Loader, TensorBoard};
use wick_tfevents::proto::{event, summary::value, Event};
use wick_tfevents::reader::EventFileReader;

const CHILD_ENV: &str = "WICK_CRASH_CHILD_DIR";
const BATCH: i64 = 150;

/// The child's side: runs only when the parent test starts this binary with CHILD_ENV.
#[test]
#[ignore = "entry point of the child process that `killed_writer_loses_nothing_flushed` starts and kills"]
fn crash_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let writer = wick_tfevents::SummaryWriter::new(dir).expect("writer");
    let mut step = 0i64;
    loop {
        for _ in 0..BATCH {
            writer.scalar("loss", step, step as f32 * 0.5).expect("scalar");
            step += 1;
        }
        writer.flush().expect("flush");
        // Everything up to step - 1 is now with the operating system.
        println!("flushed {}", step - 1);
        std::thread::sleep(Duration::from_millis(15));
    }
}

fn scalar_steps(events: &[Event]) -> Vec<(i64, f32)> {
    let mut out = Vec::new();
    for e in events {
        if let Some(event::What::Summary(s)) = &e.what {
            for v in &s.value {
                if let Some(value::Value::Tensor(t)) = &v.value {
                    out.push((e.step, t.float_val[0]));
                }
            }
        }
    }
    out
}

#[test]
fn killed_writer_loses_nothing_flushed() {
    let logdir = tempfile::tempdir().unwrap();
    let run = logdir.path().join("run");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child_entry", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &run)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_flushed = None;
    let mut flushes = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("flushed ") {
            last_flushed = Some(n.trim().parse::<i64>().unwrap());
            flushes += 1;
            if flushes == 6 {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
    }
    child.wait().unwrap();
    let last_flushed = last_flushed.expect("child reported no flush");

    // Our reader: every step 0..=last_flushed, in order, no error; a torn tail is allowed.
    let files = wick_tfevents::reader::event_files(&run).unwrap();
    assert_eq!(files.len(), 1);
    let mut reader = EventFileReader::open(&files[0]).unwrap();
    let mut events = Vec::new();
    while let Some(e) = reader.next_event().unwrap() {
        events.push(e.event);
    }
    let points = scalar_steps(&events);
    assert!(points.len() as i64 > last_flushed, "read {} points, flushed up to step {last_flushed}", points.len());
    for (i, (step, value)) in points.iter().enumerate() {
        assert_eq!((*step, *value), (i as i64, i as f32 * 0.5));
    }

    // Stock TensorBoard, both loaders.
    for loader in [Loader::Rust, Loader::Python] {
        let Some(tb) = TensorBoard::start(logdir.path(), loader) else { return };
        let url = "/data/plugin/scalars/scalars?run=run&tag=loss";
        let shown = tb
            .wait_for(Duration::from_secs(60), |tb| {
                let v = tb.try_get(url)?;
                let pts = v.as_array()?.clone();
                (pts.len() == points.len()).then_some(pts)
            })
            .unwrap_or_else(|| panic!("{loader:?} loader: TensorBoard never showed {} points", points.len()));
        for (i, p) in shown.iter().enumerate() {
            assert_eq!(p[1].as_i64(), Some(i as i64), "{loader:?} step");
            assert_eq!(p[2].as_f64(), Some(i as f64 * 0.5), "{loader:?} value");
        }
    }
}
