//! Helpers: projects with model versions, a server on a background runtime, and a small
//! blocking HTTP/1.1 client that can also misbehave on purpose.

use atelier_fasttext::{TrainArgs, train};
use atelier_serve::{Config, Metrics, Models, Server};
use atelier_store::{Kind, Manifest, NewVersion, Store};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The admin token the tests configure.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// Training data: two labels with distinct words.
fn data(flip: bool) -> Vec<u8> {
    let (a, b) = if flip {
        ("ham", "spam")
    } else {
        ("spam", "ham")
    };
    let mut out = String::new();
    for i in 0..200 {
        out.push_str(&format!(
            "__label__{a} buy cheap pills now winner prize money offer {i}\n\
             __label__{b} meeting notes for tomorrow project agenda lunch {i}\n"
        ));
    }
    out.into_bytes()
}

/// Writes a file anew (the store hard-links committed files and seals them, so they are
/// replaced, never rewritten in place).
fn write_new(path: &Path, bytes: impl AsRef<[u8]>) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
}

/// A project folder with a store.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        Project { dir, store }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Commits a dataset version (so model versions have something to name).
    pub fn dataset(&self) -> Manifest {
        let shard = self.path().join("part-00000.jsonl");
        write_new(&shard, "{\"id\":\"a\",\"text\":\"x\"}\n");
        self.store
            .commit(NewVersion {
                name: "mail".into(),
                shards: vec![("part-00000.jsonl".into(), shard)],
                documents: 1,
                aliases: vec!["latest".into()],
                ..NewVersion::default()
            })
            .unwrap()
    }

    /// Trains a tiny model (`flip` swaps its labels, so two versions answer
    /// differently) and commits it as a model version named `name`, moving `aliases`.
    pub fn model(&self, name: &str, flip: bool, aliases: &[&str]) -> Manifest {
        let args = TrainArgs {
            dim: 8,
            epoch: 5,
            lr: 0.5,
            threads: 1,
            bucket: 1000,
            minn: 2,
            maxn: 3,
            ..TrainArgs::default()
        };
        let model = train(&args, &data(flip)).unwrap().model;
        let path = self.path().join(format!("model-{flip}.bin"));
        model.save(&path).unwrap();
        self.commit_model(name, &path, aliases)
    }

    /// Commits `file` as a model version, with metrics, a bill and the preprocessing
    /// the trainer records (lowercase, punctuation set apart).
    pub fn commit_model(&self, name: &str, file: &Path, aliases: &[&str]) -> Manifest {
        let settings = serde_json::json!({
            "preprocess": {"lowercase": true, "split_punctuation": true}
        });
        self.commit_model_with(name, file, aliases, settings)
    }

    /// As [`Project::commit_model`], with these manifest settings.
    pub fn commit_model_with(
        &self,
        name: &str,
        file: &Path,
        aliases: &[&str],
        settings: serde_json::Value,
    ) -> Manifest {
        let bill = self.path().join("bill.json");
        write_new(
            &bill,
            serde_json::json!({
                "dataset": name, "country": "FR", "gco2_per_kwh": 56.0, "pue": 1.2,
                "measured": false, "energy_basis": "estimated from CPU time",
                "tasks": 1, "tasks_resumed": 0,
                "steps": [{"name": "train", "documents_in": 400, "kept": 400, "dropped": 0,
                           "quarantined": 0,
                           "total": {"wall_seconds": 0.5, "cpu_seconds": 0.5, "gpu_hours": 0.0,
                                     "kwh": 0.0001, "eur": 0.00002, "gco2": 0.0056},
                           "reused": {"wall_seconds": 0.0, "cpu_seconds": 0.0, "gpu_hours": 0.0,
                                      "kwh": 0.0, "eur": 0.0, "gco2": 0.0}}],
                "total": {"wall_seconds": 0.5, "cpu_seconds": 0.5, "gpu_hours": 0.0,
                          "kwh": 0.0001, "eur": 0.00002, "gco2": 0.0056}
            })
            .to_string(),
        );
        self.store
            .commit(NewVersion {
                kind: Kind::Model,
                name: name.into(),
                trained_on: vec!["v1".into()],
                shards: vec![("model.bin".into(), file.to_path_buf())],
                files: vec![("bill.json".into(), bill)],
                metrics: serde_json::json!({
                    "test": {"accuracy": 0.97, "examples": 80,
                             "classes": {"spam": {"precision": 0.96, "recall": 0.98, "f1": 0.97, "support": 40},
                                         "ham": {"precision": 0.98, "recall": 0.96, "f1": 0.97, "support": 40}}},
                    "train_seconds": 0.5
                }),
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
                settings,
                ..NewVersion::default()
            })
            .unwrap()
    }

    /// Commits a model version whose file is not a model.
    pub fn broken_model(&self, name: &str) -> Manifest {
        let path = self.path().join("broken.bin");
        write_new(&path, b"this is not a fastText model, only some bytes");
        self.store
            .commit(NewVersion {
                kind: Kind::Model,
                name: name.into(),
                shards: vec![("model.bin".into(), path)],
                ..NewVersion::default()
            })
            .unwrap()
    }

    /// A project with a dataset (v1) and two models of `spam`: v2 (answers `spam` for
    /// spammy text, `prod`) and v3 (labels flipped).
    pub fn two_models() -> Project {
        let p = Project::new();
        p.dataset();
        p.model("spam", false, &["prod", "model"]);
        p.model("spam", true, &["model"]);
        p
    }

    pub fn config(&self) -> Config {
        let mut config = Config::new(self.path());
        config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.admin_token = Some(TOKEN.into());
        config.model.poll = Duration::from_millis(20);
        config.log = std::env::var_os("ATELIER_SERVE_TEST_LOG").is_some();
        config
    }
}

/// A server running on its own runtime; stopped and drained when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    pub models: Arc<Models>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn start(config: Config) -> Running {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(Server::bind(config)).unwrap();
        let addr = server.local_addr();
        let metrics = server.metrics();
        let models = server.models();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(server.run(async {
                let _ = stopped.await;
            }));
        });
        Running {
            addr,
            metrics,
            models,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops it and waits for the drain to finish.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        Client::connect(self.addr).request("GET", path, &[], b"")
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Reply {
        Client::connect(self.addr).request("POST", path, &[], body)
    }

    pub fn admin(&self, path: &str, body: &[u8]) -> Reply {
        let auth = format!("Bearer {TOKEN}");
        Client::connect(self.addr).request("POST", path, &[("authorization", &auth)], body)
    }

    pub fn live(&self) -> String {
        self.models.live().id.clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `condition` until it holds or `within` has passed.
pub fn wait_for(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error code of a JSON error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// One keep-alive connection.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }

    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Reply> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\n",
            body.len()
        );
        if !body.is_empty() {
            head.push_str("content-type: application/json\r\n");
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        self.read_reply()
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        self.try_request(method, path, headers, body).unwrap()
    }

    /// Reads one answer (Content-Length or chunked).
    pub fn read_reply(&mut self) -> std::io::Result<Reply> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').unwrap();
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if let Some(len) = find("content-length") {
            body.resize(len.parse().unwrap(), 0);
            self.reader.read_exact(&mut body)?;
        } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Whether the server closed the connection (reads end-of-file or a reset).
    pub fn closed_by_server(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// The version a classify answer came from.
pub fn version_of(reply: &Reply) -> String {
    reply.json()["version"].as_str().unwrap().to_owned()
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where test artefacts (screenshots) go.
pub fn artefacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Why a server refuses to start with this configuration.
pub fn bind_error(config: Config) -> atelier_serve::ServeError {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(atelier_serve::Server::bind(config))
        .unwrap_err()
}
