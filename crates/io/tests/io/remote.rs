//! Remote files: read over HTTP from a tiny server on the loopback that serves byte
//! ranges and can cut a body once, as a broken connection would.

use crate::common::*;
use crate::warc::records;
use atelier_core::recipe::SourceSettings;
use atelier_core::{Document, Format};
use atelier_io::{Location, ReadOptions, Unit, list, read_unit, split};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A server of one file: `HEAD`, `GET` and `GET` with `Range: bytes=a-` or `a-b`. When
/// `cut` is set, the first whole `GET` sends the full `Content-Length` but only half
/// the body, then closes. It sends an `ETag` when `etag` is set, never a
/// `Last-Modified`.
struct Server {
    url: String,
    /// Each request line, with its `Range` when there was one.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(name: &str, body: Vec<u8>, cut: bool, etag: bool) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/{name}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            let mut cut = cut;
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                serve(stream, &body, &mut cut, etag, &log);
            }
        });
        Server { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, body: &[u8], cut: &mut bool, etag: bool, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    let request = request.trim().to_string();
    log.lock()
        .unwrap()
        .push(format!("{request} {}", range.clone().unwrap_or_default()));
    let len = body.len();
    let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap();
            let a: usize = a.parse().unwrap();
            let b = if b.is_empty() {
                len - 1
            } else {
                b.parse::<usize>().unwrap().min(len - 1)
            };
            (a, b + 1)
        }
        None => (0, len),
    };
    let status = if range.is_some() {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{}\
         Content-Range: bytes {start}-{}/{len}\r\nConnection: close\r\n\r\n",
        end - start,
        if etag { "ETag: \"v1\"\r\n" } else { "" },
        end - 1
    );
    let _ = stream.write_all(head.as_bytes());
    if request.starts_with("HEAD") {
        return;
    }
    let mut part = &body[start..end];
    if *cut && range.is_none() {
        *cut = false;
        part = &part[..part.len() / 2];
    }
    let _ = stream.write_all(part);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Documents without `metadata.source`, which names the path or the URL.
fn unsourced(mut docs: Vec<Document>) -> Vec<Document> {
    for doc in &mut docs {
        doc.metadata.remove("source");
    }
    docs
}

#[test]
fn a_broken_connection_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = records().concat();
    let local = write(dir.path(), "crawl.warc", &bytes);
    let (expected, errors) = read(&unit(&local, Format::Warc));
    assert!(errors.is_empty(), "{errors:?}");

    let server = Server::start("crawl.warc", bytes.clone(), true, false);
    // Neither ETag nor Last-Modified: nothing tells one state of the file from another.
    let listing = list(&SourceSettings::path(&server.url)).unwrap();
    assert_eq!(listing.files[0].version, None);
    server.requests.lock().unwrap().clear();
    let remote = Unit {
        location: Location::Remote(server.url.clone()),
        ..unit(&local, Format::Warc)
    };
    let (docs, errors) = read(&remote);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(unsourced(docs.clone()), unsourced(expected));
    assert_eq!(docs[0].metadata["source"], server.url.as_str());
    let requests = server.requests();
    let resumed = format!("bytes={}-", bytes.len() / 2);
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET") && r.ends_with(&resumed)),
        "{requests:?}"
    );
}

#[test]
fn remote_warc_gz_is_listed_split_and_read_by_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Vec<u8>> = records().iter().map(|r| gzip(r)).collect();
    let bytes = members.concat();
    let local = write(dir.path(), "crawl.warc.gz", &bytes);
    let (expected, errors) = read(&unit(&local, Format::Warc));
    assert!(errors.is_empty(), "{errors:?}");

    let server = Server::start("crawl.warc.gz", bytes.clone(), false, true);
    let listing = list(&SourceSettings::path(&server.url)).unwrap();
    let file = &listing.files[0];
    assert_eq!(file.location, Location::Remote(server.url.clone()));
    assert_eq!((file.size, file.ranges), (bytes.len() as u64, true));
    assert_eq!(file.version.as_deref(), Some("etag:\"v1\""));
    for task_bytes in [100, 333, 1000] {
        let units = split(file, task_bytes);
        assert!(units.len() > 1);
        let mut docs = Vec::new();
        for unit in &units {
            for item in read_unit(unit, &ReadOptions::default()) {
                docs.push(item.unwrap());
            }
        }
        assert_eq!(unsourced(docs), unsourced(expected.clone()), "{task_bytes}");
    }
}

#[test]
fn a_missing_remote_file_is_an_error_naming_its_url_and_status() {
    let base = Server404::start();
    let err = list(&SourceSettings::path(format!("{base}/nope.warc.gz"))).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{base}/nope.warc.gz: HTTP 404")),
        "{err}"
    );
}

/// A server that answers 404 to everything.
struct Server404;

impl Server404 {
    fn start() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        url
    }
}
