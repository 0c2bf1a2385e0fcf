//! A write error in the background thread reaches the caller: on the next write, on
//! `flush` and on `close`, naming the file. The error is provoked for real in a child
//! process whose file-size limit (RLIMIT_FSIZE) is a few KiB, so `write` fails with EFBIG.

use std::process::Command;

const CHILD_ENV: &str = "WICK_WRITE_ERROR_CHILD_DIR";

#[test]
#[ignore = "entry point of the child process that `disk_errors_reach_the_caller` starts"]
fn write_error_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    // SAFETY: plain libc calls on this (single-purpose) child process: ignore SIGXFSZ so
    // an oversized write fails with EFBIG instead of killing us, then cap file size.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let lim = libc::rlimit { rlim_cur: 8192, rlim_max: 8192 };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
    let writer = wick_tfevents::SummaryWriter::new(&dir).expect("the first record fits");
    let path = writer.path().display().to_string();
    let mut write_error = None;
    for step in 0..100_000 {
        if let Err(e) = writer.scalar("loss", step, 1.0) {
            write_error = Some(e.to_string());
            break;
        }
        if step % 100 == 99 {
            if let Err(e) = writer.flush() {
                write_error = Some(e.to_string());
                break;
            }
        }
    }
    let write_error = write_error.expect("some call reported the failed write");
    let flush_error = writer.flush().expect_err("flush still reports it").to_string();
    let close_error = writer.close().expect_err("close still reports it").to_string();
    for e in [&write_error, &flush_error, &close_error] {
        assert!(e.contains(&path), "error names the file: {e}");
        assert!(e.contains("too large"), "error carries the OS reason: {e}");
    }
    println!("child-ok");
}

#[test]
fn disk_errors_reach_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "write_error_child_entry", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child-ok"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
