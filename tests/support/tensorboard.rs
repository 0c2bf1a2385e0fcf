//! A stock TensorBoard server for one test: bound to 127.0.0.1 on a free port, queried
//! over HTTP, and always stopped when dropped.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which of TensorBoard's two loaders serves the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    /// The default Rust data server (`--load_fast=true`).
    Rust,
    /// The legacy Python multiplexer (`--load_fast=false`).
    Python,
}

/// A running TensorBoard.
pub struct TensorBoard {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl TensorBoard {
    /// Starts `tensorboard` (from the venv) on `logdir`, reloading every second and
    /// keeping every sample; `None` when the venv is missing outside CI.
    pub fn start(logdir: &Path, loader: Loader) -> Option<TensorBoard> {
        let bin = super::python::venv_program("tensorboard")?;
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg("--logdir")
            .arg(logdir)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--reload_interval", "1"])
            // Keep every sample. Not `=0`: RustBoard 0.7.2 then keeps *no* scalar at all
            // (checked by experiment), although TensorBoard documents 0 as "keep all".
            .arg("--samples_per_plugin=scalars=1000000,images=10000,histograms=10000,text=10000,pr_curves=10000,hparams=10000,tensors=10000")
            .arg(match loader {
                Loader::Rust => "--load_fast=true",
                Loader::Python => "--load_fast=false",
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("start tensorboard");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(20)))
            .http_status_as_error(false)
            .build()
            .into();
        Some(TensorBoard { child, base: format!("http://127.0.0.1:{port}"), agent })
    }

    /// GET `path` and parse JSON; `None` on connection errors or a non-200 status.
    pub fn try_get(&self, path: &str) -> Option<Value> {
        let mut resp = self.agent.get(&format!("{}{}", self.base, path)).call().ok()?;
        if resp.status() != 200 {
            return None;
        }
        resp.body_mut().read_json().ok()
    }

    /// GET `path` as raw bytes (e.g. an image blob); panics on failure.
    pub fn get_bytes(&self, path: &str) -> Vec<u8> {
        let mut resp = self.agent.get(&format!("{}{}", self.base, path)).call().expect("GET");
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.body_mut().read_to_vec().expect("body")
    }

    /// GET `path` as JSON; panics on failure.
    pub fn get(&self, path: &str) -> Value {
        self.try_get(path).unwrap_or_else(|| panic!("GET {path} failed"))
    }

    /// POST a JSON body (with `Content-Type: application/json`) and parse the JSON answer.
    pub fn post(&self, path: &str, body: &Value) -> Value {
        let mut resp = self
            .agent
            .post(&format!("{}{}", self.base, path))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .expect("POST");
        assert_eq!(resp.status(), 200, "POST {path}");
        resp.body_mut().read_json().expect("json")
    }

    /// Polls `probe` every 500 ms until it returns `Some`, for at most `timeout`.
    pub fn wait_for<T>(&self, timeout: Duration, mut probe: impl FnMut(&Self) -> Option<T>) -> Option<T> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(v) = probe(self) {
                return Some(v);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// URL-encodes one query component.
    pub fn q(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
}

impl Drop for TensorBoard {
    fn drop(&mut self) {
        // SIGTERM lets TensorBoard stop its data server; SIGKILL if it lingers. Closing
        // stdin also ends the data server, which runs with --die-after-stdin.
        let pid = self.child.id() as i32;
        unsafe {
            // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
            libc::kill(pid, libc::SIGTERM);
        }
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Scalar `tag` of the run in `dir` (read with wick's own reader), as `(step, value)` in
/// file order.
pub fn scalars(dir: &std::path::Path, tag: &str) -> Vec<(i64, f32)> {
    use wick::tfevents::proto::{event, summary::value};
    let mut points = Vec::new();
    for e in wick::tfevents::reader::read_run(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        if let Some(event::What::Summary(s)) = e.event.what {
            for v in s.value.into_iter().filter(|v| v.tag == tag) {
                match v.value {
                    Some(value::Value::Tensor(t)) => points.push((e.event.step, t.float_val[0])),
                    Some(value::Value::SimpleValue(x)) => points.push((e.event.step, x)),
                    other => panic!("{}/{tag}: unexpected value {other:?}", dir.display()),
                }
            }
        }
    }
    points
}

/// One node of a graph as TensorBoard's Graphs plugin serves it: `(name, inputs, Keras
/// class)`.
pub type GraphNode = (String, Vec<String>, String);

/// The conceptual (Keras) graph of `run`/`tag` as the Graphs plugin draws it, parsed from
/// the GraphDef text it serves at `/data/plugin/graphs/graph?…&conceptual=true`; `None`
/// while the plugin does not list the tag as a conceptual graph yet.
pub fn conceptual_graph(tb: &TensorBoard, run: &str, tag: &str) -> Option<Vec<GraphNode>> {
    let info = tb.try_get("/data/plugin/graphs/info")?;
    if info[run]["tags"][tag]["conceptual_graph"].as_bool() != Some(true) {
        return None;
    }
    let path =
        format!("/data/plugin/graphs/graph?run={}&tag={}&conceptual=true", TensorBoard::q(run), TensorBoard::q(tag));
    Some(parse_graph_pbtxt(&String::from_utf8_lossy(&tb.get_bytes(&path))))
}

/// The nodes of a `GraphDef` in protobuf text format (what Python's `str(graph_def)` prints).
fn parse_graph_pbtxt(text: &str) -> Vec<GraphNode> {
    let unquote = |s: &str| s.trim().trim_matches('"').to_string();
    let (mut nodes, mut depth, mut in_class) = (Vec::new(), 0usize, false);
    for line in text.lines().map(str::trim) {
        if line.ends_with('{') {
            if depth == 0 && line.starts_with("node") {
                nodes.push((String::new(), Vec::new(), String::new()));
            }
            depth += 1;
        } else if line == "}" {
            depth = depth.saturating_sub(1);
        } else if let Some(node) = nodes.last_mut() {
            if let Some(v) = line.strip_prefix("name:").filter(|_| depth == 1) {
                node.0 = unquote(v);
            } else if let Some(v) = line.strip_prefix("input:").filter(|_| depth == 1) {
                node.1.push(unquote(v));
            } else if let Some(key) = line.strip_prefix("key:") {
                in_class = unquote(key) == "keras_class";
            } else if let Some(v) = line.strip_prefix("s:").filter(|_| in_class) {
                node.2 = unquote(v);
                in_class = false;
            }
        }
    }
    nodes
}
