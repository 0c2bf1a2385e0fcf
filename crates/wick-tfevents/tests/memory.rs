//! Peak memory of `wick-events validate` and `dump` on one large event: a child process
//! reads a generated file, and its peak resident set size (`ru_maxrss` from
//! `getrusage(RUSAGE_CHILDREN)` in a small helper process that spawns it) must stay below
//! 10 times the event's size, plus the binary's own baseline measured on a tiny file.

use prost::Message;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use wick_tfevents::proto::summary::{value, Value};
use wick_tfevents::proto::summary_metadata::PluginData;
use wick_tfevents::proto::{event::What, DataType, Event, Summary, SummaryMetadata, TensorProto, TensorShapeProto};
use wick_tfevents::record::append_record;

/// What one run of the binary did.
struct Run {
    status: i32,
    /// Peak resident set size, bytes.
    max_rss: u64,
    /// Bytes and lines written to stdout.
    out_bytes: u64,
    out_lines: u64,
    /// Whether stdout started with `{`.
    json_head: bool,
}

/// The environment variable that turns [`rss_helper`] on: the arguments, `\x1f`-separated.
const HELPER_ARGS: &str = "WICK_RSS_HELPER_ARGS";

/// Runs `wick-events ARGS` through [`rss_helper`], a fresh small process (this test binary
/// again), so that the child's peak RSS is not inflated by this process's own peak (a
/// child spawned with `vfork` inherits its parent's high-water mark).
fn measure(args: &[&OsStr]) -> Run {
    let joined = args.iter().map(|a| a.to_str().unwrap()).collect::<Vec<_>>().join("\x1f");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "rss_helper", "--ignored", "--nocapture", "--test-threads=1"])
        .env(HELPER_ARGS, joined)
        .output()
        .expect("run the helper");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.split_once("RSS-HELPER ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("helper: {text}"));
    let f: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    Run { status: f[0] as i32, max_rss: f[1], out_bytes: f[2], out_lines: f[3], json_head: f[4] == 1 }
}

/// Not a test by itself: with [`HELPER_ARGS`] set, runs `wick-events` with those
/// arguments, counts its stdout as it streams, and prints its exit status and peak RSS
/// from `getrusage(RUSAGE_CHILDREN)` (this process has no other children).
#[test]
#[ignore = "entry point of the child process that `validate_and_dump_of_a_large_event_stay_within_ten_times_its_size` starts to measure wick-events' peak RSS"]
fn rss_helper() {
    let Some(args) = std::env::var_os(HELPER_ARGS) else { return };
    let args: Vec<String> = args.to_str().unwrap().split('\x1f').map(String::from).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wick-events"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wick-events");
    let mut stdout = child.stdout.take().unwrap();
    let (mut out_bytes, mut out_lines, mut first) = (0u64, 0u64, None);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        first = first.or(Some(buf[0]));
        out_bytes += n as u64;
        out_lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
    let status = child.wait().unwrap().code().unwrap_or(-1);
    // SAFETY: an all-zero `rusage` is a valid value (plain integers).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid for writes.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    // Linux reports ru_maxrss in KiB.
    let max_rss = usage.ru_maxrss as u64 * 1024;
    println!("RSS-HELPER {status} {max_rss} {out_bytes} {out_lines} {}", u8::from(first == Some(b'{')));
}

/// Writes `events` as an event file in `dir`; returns its path and the size of the
/// largest record.
fn write_file(dir: &Path, events: &[Event]) -> (PathBuf, u64) {
    let mut bytes = Vec::new();
    let mut largest = 0;
    for e in events {
        let before = bytes.len();
        append_record(&mut bytes, &e.encode_to_vec());
        largest = largest.max((bytes.len() - before) as u64);
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("events.out.tfevents.1700000000.memtest");
    std::fs::write(&path, bytes).unwrap();
    (path, largest)
}

fn version() -> Event {
    Event { wall_time: 1.0, what: Some(What::FileVersion("brain.Event:2".into())), ..Default::default() }
}

fn summary(step: i64, values: Vec<Value>) -> Event {
    Event { wall_time: 2.0, step, what: Some(What::Summary(Summary { value: values })), ..Default::default() }
}

const N: usize = 2_000_000;

/// One tensor summary of 2 M f32 (8 MB of `tensor_content`).
fn big_tensor() -> Event {
    let meta = SummaryMetadata {
        plugin_data: Some(PluginData { plugin_name: "memtest".into(), content: Vec::new() }),
        data_class: 2, // DATA_CLASS_TENSOR: TensorBoard keeps it
        ..Default::default()
    };
    let tensor = TensorProto {
        dtype: DataType::DtFloat as i32,
        tensor_shape: Some(TensorShapeProto {
            dim: vec![wick_tfevents::proto::tensor_shape_proto::Dim { size: N as i64, name: String::new() }],
            unknown_rank: false,
        }),
        tensor_content: (0..N).flat_map(|i| (i as f32 * 0.25).to_le_bytes()).collect(),
        ..Default::default()
    };
    summary(
        1,
        vec![Value {
            tag: "big".into(),
            metadata: Some(meta),
            value: Some(value::Value::Tensor(tensor)),
            ..Default::default()
        }],
    )
}

/// One summary of 2 M scalar values with distinct tags (≈ 31 MB, as in the issue).
fn many_values() -> Event {
    let values = (0..N)
        .map(|i| Value { tag: format!("s{i}"), value: Some(value::Value::SimpleValue(i as f32)), ..Default::default() })
        .collect();
    summary(1, values)
}

/// One legacy histogram with 2 M buckets (32 MB of doubles).
fn big_histogram() -> Event {
    let h = wick_tfevents::proto::HistogramProto {
        min: 0.0,
        max: N as f64,
        num: N as f64,
        sum: 1.0,
        sum_squares: 1.0,
        bucket_limit: (1..=N).map(|i| i as f64).collect(),
        bucket: vec![1.0; N],
    };
    summary(1, vec![Value { tag: "h".into(), value: Some(value::Value::Histo(h)), ..Default::default() }])
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Name, generator, and the least bytes `dump` must print.
type Case = (&'static str, fn() -> Event, u64);

#[test]
fn validate_and_dump_of_a_large_event_stay_within_ten_times_its_size() {
    let dir = tempfile::tempdir().unwrap();
    // WICK_MEMTEST_KEEP=DIR keeps the generated files there, for profiling.
    let dir = std::env::var_os("WICK_MEMTEST_KEEP").map_or_else(|| dir.path().to_path_buf(), PathBuf::from);
    let (tiny, _) = write_file(&dir.join("tiny"), &[version(), summary(1, vec![])]);
    let baseline = ["validate", "dump"]
        .iter()
        .map(|cmd| {
            let r = measure(&[os(cmd), tiny.as_os_str()]);
            assert_eq!(r.status, 0, "{cmd} on a tiny file");
            r.max_rss
        })
        .max()
        .unwrap();
    eprintln!("baseline peak RSS: {:.1} MiB", baseline as f64 / 1048576.0);

    let cases: [Case; 3] = [
        ("tensor_2m_f32", big_tensor, 3),
        ("scalars_2m_tags", many_values, 2 * N as u64 + 2),
        ("histogram_2m", big_histogram, 3),
    ];
    let mut failures = Vec::new();
    for (name, make, dump_lines_min) in cases {
        let (path, size) = write_file(&dir.join(name), &[version(), make()]);
        let bound = baseline + 10 * size;
        let v = measure(&[os("validate"), path.as_os_str()]);
        let d = measure(&[os("dump"), path.as_os_str()]);
        let mib = |b: u64| b as f64 / 1048576.0;
        eprintln!(
            "{name}: event {:.1} MiB; validate peak {:.1} MiB (status {}), dump peak {:.1} MiB (status {}, {:.1} MiB out); bound {:.1} MiB",
            mib(size),
            mib(v.max_rss),
            v.status,
            mib(d.max_rss),
            d.status,
            mib(d.out_bytes),
            mib(bound)
        );
        assert_eq!(v.status, 0, "{name}: validate");
        assert_eq!(d.status, 0, "{name}: dump");
        assert!(d.json_head, "{name}: dump does not print JSON");
        // Two events, or for the scalars one line per event (values are on its line).
        assert_eq!(d.out_lines, 2, "{name}");
        assert!(d.out_bytes > dump_lines_min, "{name}: dump printed only {} bytes", d.out_bytes);
        for (cmd, r) in [("validate", &v), ("dump", &d)] {
            if r.max_rss >= bound {
                failures.push(format!(
                    "{name}: {cmd} peak RSS {:.1} MiB >= bound {:.1} MiB",
                    mib(r.max_rss),
                    mib(bound)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
