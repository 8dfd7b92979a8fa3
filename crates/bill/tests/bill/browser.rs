//! The funnel of a FineWeb-style chain in a real headless Chromium, driven through
//! ChromeDriver's WebDriver API over plain HTTP: the legend, measured by the browser's own
//! layout, lies beside the bars and inside the SVG, and no two texts overlap. A screenshot
//! of the figure is left in cargo's test folder (`CARGO_TARGET_TMPDIR/bill/funnel.png`).
//!
//! Without a browser the test says it is skipped, unless `ATELIER_REQUIRE_BROWSER=1`,
//! where a missing browser fails it. `ATELIER_CHROMIUM` and `ATELIER_CHROMEDRIVER` name
//! other binaries than the `chromium` and `chromedriver` on `PATH`.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the screenshot and the page go.
fn artefacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bill");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn find(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
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
             chromium-driver)"
        );
        return None;
    };
    Some((driver, chromium))
}

/// One HTTP/1.1 request on a fresh connection; the answer's status and JSON body.
/// ChromeDriver answers with a `Content-Length` (written `Content-Length:252`) and keeps
/// the connection open whatever the request says, so the body is read by its length.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length = length.ok_or_else(|| std::io::Error::other("no content-length"))?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok((status, value))
}

/// A ChromeDriver process with one browser session; both ended when dropped.
struct Driver {
    child: Child,
    addr: SocketAddr,
    session: Option<String>,
}

impl Driver {
    fn start(driver: &Path, chromium: &Path, profile: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http(d.addr, "GET", "/status", "").is_ok_and(|(_, v)| v["value"]["ready"] == true) {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1000",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
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
        let (status, v) =
            http(self.addr, method, path, &body).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(status < 300, "{method} {path}: {status} {v}");
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

    /// A PNG of the element `css` selects.
    fn screenshot(&self, css: &str) -> Vec<u8> {
        let v = self.session(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let element = v["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no {css}: {v}"));
        let png = self.session("GET", &format!("/element/{element}/screenshot"), None);
        decode_base64(png.as_str().expect("a base64 screenshot"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = http(self.addr, "DELETE", &format!("/session/{id}"), "");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let sextet = |c: u8| match c {
        b'A'..=b'Z' => u32::from(c - b'A'),
        b'a'..=b'z' => u32::from(c - b'a') + 26,
        b'0'..=b'9' => u32::from(c - b'0') + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u32> = text
        .bytes()
        .filter(|c| !b"=\r\n".contains(c))
        .map(sextet)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | d << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// A box as the browser measured it: `[left, top, right, bottom]`.
type Box4 = [f64; 4];

fn box_of(v: &Value) -> Box4 {
    let a = v.as_array().unwrap_or_else(|| panic!("not a box: {v}"));
    std::array::from_fn(|i| a[i].as_f64().unwrap())
}

fn overlap(a: Box4, b: Box4) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

fn inside(a: Box4, outer: Box4) -> bool {
    a[0] >= outer[0] - 0.5
        && a[1] >= outer[1] - 0.5
        && a[2] <= outer[2] + 0.5
        && a[3] <= outer[3] + 0.5
}

/// The funnel's boxes as laid out: the SVG, its plot area, the bars, the legend's swatches
/// and texts, and every text of the SVG.
const MEASURE: &str = "
const svg = document.querySelector('#plot-funnel svg');
const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
const described = e => ({tag: e.tagName, text: e.textContent.trim(), fill: e.getAttribute('fill'), box: box(e)});
return {
  svg: box(svg),
  plot: box(svg.querySelector('.plot-area')),
  bars: [...svg.querySelectorAll('.bars rect')].map(described),
  legend: [...svg.querySelectorAll('.legend rect, .legend text')].map(described),
  texts: [...svg.querySelectorAll('text')].map(described),
};";

#[test]
fn the_funnel_legend_lies_beside_the_bars_in_chromium() {
    let Some((driver, chromium)) = browser() else {
        return;
    };
    let page = artefacts().join("funnel-report.html");
    std::fs::write(&page, crate::report::fineweb_report()).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let d = Driver::start(&driver, &chromium, profile.path());
    let url = format!("file://{}", page.display());
    d.session("POST", "/url", Some(json!({"url": url})));

    let m = d.js(MEASURE);
    let svg = box_of(&m["svg"]);
    let plot = box_of(&m["plot"]);
    let list = |key: &str| m[key].as_array().cloned().unwrap_or_default();
    let (bars, legend, texts) = (list("bars"), list("legend"), list("texts"));
    assert!(svg[2] - svg[0] > 500.0, "the SVG is drawn: {svg:?}");
    assert!(inside(plot, svg), "plot {plot:?} in svg {svg:?}");
    assert!(!bars.is_empty() && legend.len() == 22, "{m}");
    for bar in &bars {
        assert!(
            inside(box_of(&bar["box"]), plot),
            "a bar outside the plot: {bar}"
        );
    }
    for entry in &legend {
        let b = box_of(&entry["box"]);
        assert!(b[2] > b[0] && b[3] > b[1], "an empty legend entry: {entry}");
        assert!(inside(b, svg), "legend past the SVG {svg:?}: {entry}");
        assert!(!overlap(b, plot), "legend over the plot {plot:?}: {entry}");
        for bar in &bars {
            assert!(!overlap(b, box_of(&bar["box"])), "{entry} over {bar}");
        }
    }
    // Every text, the axes' labels included, is inside the SVG and clear of the others.
    for (i, a) in texts.iter().enumerate() {
        let ba = box_of(&a["box"]);
        assert!(inside(ba, svg), "a text past the SVG {svg:?}: {a}");
        for b in &texts[i + 1..] {
            assert!(!overlap(ba, box_of(&b["box"])), "{a} overlaps {b}");
        }
    }
    // The legend's swatches: one colour each.
    let mut fills: Vec<&str> = legend
        .iter()
        .filter(|e| e["tag"] == "rect")
        .map(|e| e["fill"].as_str().unwrap())
        .collect();
    fills.sort_unstable();
    fills.dedup();
    assert_eq!(fills.len(), 11, "{fills:?}");

    let png = d.screenshot("#plot-funnel");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let shot = artefacts().join("funnel.png");
    std::fs::write(&shot, png).unwrap();
    eprintln!("screenshot: {}", shot.display());
}
