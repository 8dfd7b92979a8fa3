//! A tiny HTTP server whose answers fail a set number of times per path before they
//! succeed: the stateful part nginx cannot play (put it behind nginx's `proxy_pass` to
//! keep one server and one access log).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A server on a free loopback port, stopped when dropped. For each path, the first
/// `failures` requests get `503` with `Retry-After: {retry_after}` when the path ends
/// in `-ra.html`, else `500`; later ones get `200` with a small HTML page.
pub struct FlakyServer {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Requests seen per path.
    pub hits: Arc<Mutex<HashMap<String, u32>>>,
}

impl FlakyServer {
    /// Starts it.
    pub fn start(failures: u32, retry_after: u32) -> FlakyServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the loopback");
        let port = listener.local_addr().expect("an address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let (stop2, hits2) = (Arc::clone(&stop), Arc::clone(&hits));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let hits = Arc::clone(&hits2);
                std::thread::spawn(move || answer(stream, &hits, failures, retry_after));
            }
        });
        FlakyServer { port, stop, hits }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FlakyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(stream: TcpStream, hits: &Mutex<HashMap<String, u32>>, failures: u32, retry_after: u32) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let seen = {
        let mut hits = hits.lock().expect("hits");
        let n = hits.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    let response = if seen <= failures {
        if path.ends_with("-ra.html") {
            format!(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {retry_after}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        } else {
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_string()
        }
    } else {
        let body = format!("<html><body><p>recovered {path}</p></body></html>");
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let _ = (&stream).write_all(response.as_bytes());
}
