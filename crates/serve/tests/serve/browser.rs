//! The page in a real headless Chromium, driven through ChromeDriver's WebDriver API
//! (Debian's `chromium` and `chromium-driver`): it loads, lists the versions and the
//! bill, and its try box returns a label.
//!
//! Without a browser the test says it is skipped, unless `ATELIER_REQUIRE_BROWSER=1`
//! (set by `scripts/test.sh` where it installs one), where a missing browser fails it.

use crate::common::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn find(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A ChromeDriver process with one browser session; both ended when dropped.
struct Driver {
    child: Child,
    addr: SocketAddr,
    session: Option<String>,
}

impl Driver {
    fn start(driver: &PathBuf, chromium: &PathBuf, profile: &std::path::Path) -> Driver {
        let port = free_port();
        let log = std::fs::File::create(artefacts().join("chromedriver.log")).unwrap();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
        let mut d = Driver {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: None,
        };
        wait_for("chromedriver", Duration::from_secs(30), || {
            std::net::TcpStream::connect(d.addr).is_ok()
                && d.call("GET", "/status", None)["ready"] == true
        });
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v = d.call("POST", "/session", Some(caps));
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        d.session = Some(id);
        d
    }

    /// One WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let r = Client::connect(self.addr).request(method, path, &[], body.as_bytes());
        let v = r.json();
        assert!(r.status < 300, "{method} {path}: {} {v}", r.status);
        v["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let id = self.session.as_ref().unwrap();
        self.call(method, &format!("/session/{id}{path}"), body)
    }

    /// Runs a script in the page; its result.
    fn js(&self, script: &str) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn element(&self, css: &str) -> String {
        let v = self.session(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn text_of(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : '';",
            json!(css)
        );
        self.js(&script).as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = Client::connect(self.addr).try_request(
                "DELETE",
                &format!("/session/{id}"),
                &[],
                b"",
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ChromeDriver and Chromium, or `None` after saying the test is skipped.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let required = std::env::var("ATELIER_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let driver = find("ATELIER_CHROMEDRIVER", &["chromedriver"]);
    let chromium = find("ATELIER_CHROMIUM", &["chromium", "chromium-browser"]);
    let (Some(driver), Some(chromium)) = (driver, chromium) else {
        assert!(
            !required,
            "ATELIER_REQUIRE_BROWSER=1 but chromium or chromedriver is missing"
        );
        eprintln!(
            "skipped: no chromium and chromedriver on PATH (apt-get install chromium \
             chromium-driver; scripts/test.sh does it as root)"
        );
        return None;
    };
    Some((driver, chromium))
}

/// The script errors and blocked requests the browser logged.
fn severe_logs(d: &Driver) -> Vec<Value> {
    let logs = d.session("POST", "/se/log", Some(json!({"type": "browser"})));
    logs.as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["level"] == "SEVERE")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_page_chats_with_a_live_language_model() {
    let Some((driver, chromium)) = browser() else {
        return;
    };
    let p = Project::new();
    let path = p.path().join("tiny.gguf");
    atelier_lm::tiny::write(&path, &atelier_lm::tiny::Spec::endless());
    p.store
        .commit(atelier_store::NewVersion {
            kind: atelier_store::Kind::Lm,
            name: "tiny".into(),
            shards: vec![("model.gguf".into(), path)],
            aliases: vec!["prod".into()],
            ..atelier_store::NewVersion::default()
        })
        .unwrap();
    let s = Running::start(p.config());
    let profile = tempfile::tempdir().unwrap();
    let d = Driver::start(&driver, &chromium, profile.path());
    d.session("POST", "/url", Some(json!({"url": s.url("/")})));
    wait_for("the chat box", Duration::from_secs(20), || {
        d.js("return !document.getElementById('chat-box').hidden") == true
    });
    assert_eq!(d.js("return document.getElementById('try').hidden"), true);
    let max = d.element("#chat-max-tokens");
    d.session("POST", &format!("/element/{max}/clear"), Some(json!({})));
    d.session(
        "POST",
        &format!("/element/{max}/value"),
        Some(json!({"text": "12"})),
    );
    let input = d.element("#chat-input");
    d.session(
        "POST",
        &format!("/element/{input}/value"),
        Some(json!({"text": "hello there"})),
    );
    let send = d.element("#chat-send");
    d.session("POST", &format!("/element/{send}/click"), Some(json!({})));
    wait_for("a streamed answer", Duration::from_secs(20), || {
        d.text_of("#chat-status").contains("answered by tiny v1")
            && d.text_of("#chat-status").contains("cut at max tokens")
    });
    let answer = d.js(
        "const m = document.querySelector('#chat-log .msg.assistant'); \
         return m.textContent.length - m.querySelector('.who').textContent.length",
    );
    assert!(answer.as_i64().unwrap() > 0, "the answer has text");
    assert!(
        d.text_of("#chat-status").contains("12 tokens"),
        "{}",
        d.text_of("#chat-status")
    );
    assert!(d.text_of("#chat-log .msg.user").contains("hello there"));
    assert_eq!(s.metrics.generations_now(), 0);
    let severe = severe_logs(&d);
    assert!(severe.is_empty(), "browser errors: {severe:?}");
}

#[test]
fn the_page_loads_and_its_try_box_returns_a_label() {
    let Some((driver, chromium)) = browser() else {
        return;
    };
    let p = Project::two_models();
    let s = Running::start(p.config());
    let profile = tempfile::tempdir().unwrap();
    let d = Driver::start(&driver, &chromium, profile.path());

    d.session("POST", "/url", Some(json!({"url": s.url("/")})));
    wait_for("the versions table", Duration::from_secs(20), || {
        d.js("return document.querySelectorAll('#versions-table tr[data-version]').length") == 2
    });
    assert_eq!(d.text_of("#live-version"), "v2");
    assert!(
        d.text_of("tr.live").contains("prod"),
        "the live row shows its alias"
    );
    assert!(d.text_of("#versions").contains("0.97"), "metrics are shown");
    wait_for("the bill", Duration::from_secs(20), || {
        d.text_of("#bill").contains("train")
    });
    assert!(d.text_of("#bill-version").contains("v2"));

    // The try box.
    let input = d.element("#try-text");
    d.session(
        "POST",
        &format!("/element/{input}/value"),
        Some(json!({"text": "buy cheap pills now, winner of a prize"})),
    );
    let button = d.element("#try-button");
    d.session("POST", &format!("/element/{button}/click"), Some(json!({})));
    wait_for("a label", Duration::from_secs(20), || {
        d.text_of("#try-result .label") == "spam"
    });
    assert!(
        d.text_of("#try-status").contains("spam v2"),
        "{}",
        d.text_of("#try-status")
    );
    assert!(d.text_of("#try-result").contains('%'));

    // A swap shows on the page without a reload.
    assert_eq!(
        s.admin("/v1/admin/activate", br#"{"version": "v3"}"#)
            .status,
        200
    );
    wait_for("the page to show v3", Duration::from_secs(20), || {
        d.text_of("#live-version") == "v3"
    });
    d.session("POST", &format!("/element/{button}/click"), Some(json!({})));
    wait_for("v3's answer", Duration::from_secs(20), || {
        d.text_of("#try-status").contains("v3")
    });
    assert_eq!(
        d.text_of("#try-result .label"),
        "ham",
        "v3 has its labels flipped"
    );

    let png = d.session("GET", "/screenshot", None);
    let png = decode_base64(png.as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG"));
    std::fs::write(artefacts().join("page.png"), png).unwrap();

    // No script error, no blocked request.
    let severe = severe_logs(&d);
    assert!(severe.is_empty(), "browser errors: {severe:?}");
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &d)| acc | u32::from(d) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}
