//! Test support shared by atelier's crates' tests (a dev-dependency only).
//!
//! [`Nginx`] starts Debian's nginx on the loopback, serving a folder with the
//! configuration a test gives: byte ranges, redirects, errors, as a real server does
//! them. Without nginx a test says it is skipped, unless `ATELIER_REQUIRE_NGINX` is set
//! (as `scripts/test.sh` does where it could install it), where it fails.
//! [`FlakyServer`] fails each path a set number of times before answering; [`site`]
//! writes a generated site to crawl.

mod flaky;
pub mod site;

pub use flaky::FlakyServer;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx, stopped when dropped.
pub struct Nginx {
    child: Child,
    port: u16,
    prefix: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx serving `root` on a free loopback port. `server` is added inside
    /// the `server { }` block (locations, `return`s, `limit_rate`, ...), `http` inside
    /// the `http { }` block. `None` (after saying so) when nginx is not installed and
    /// not required.
    pub fn start(root: &Path, server: &str, http: &str) -> Option<Nginx> {
        let Some(binary) = nginx_binary() else {
            if std::env::var_os("ATELIER_REQUIRE_NGINX").is_some() {
                panic!("ATELIER_REQUIRE_NGINX is set but nginx is not installed");
            }
            eprintln!("skipped: nginx is not installed (Debian's nginx-light)");
            return None;
        };
        let prefix = tempfile::tempdir().expect("a temporary folder");
        let port = free_port();
        // As root, workers would switch to `nobody` and could not read a test's folder.
        let user = if is_root() { "user root;" } else { "" };
        let conf = format!(
            r#"{user}
worker_processes 1;
daemon off;
master_process off;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    default_type application/octet-stream;
    types {{
        text/html html htm;
        text/plain txt;
        application/xml xml;
        application/json json;
        application/gzip gz;
        image/png png;
    }}
    {http}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        {server}
    }}
}}
"#,
            prefix = prefix.path().display(),
            root = root.display(),
        );
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(binary)
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx {
            child,
            port,
            prefix,
        };
        nginx.wait_ready();
        Some(nginx)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The access log (its format can be set with `log_format` in the `http` part and
    /// `access_log {log} name` in the server part; see [`Nginx::log_path`]).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Path of the access log, for `access_log` directives.
    pub fn log_path(&self) -> PathBuf {
        self.prefix.path().join("access.log")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.prefix.path().join("error.log"))
                    .unwrap_or_default();
                panic!("nginx exited ({status}) before listening: {log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nginx did not listen on port {} within 20 s", self.port);
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// A port free on the loopback now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn serves_a_folder_with_ranges() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a.txt"), "0123456789").unwrap();
        let Some(nginx) = Nginx::start(root.path(), "", "") else {
            return;
        };
        let mut s = TcpStream::connect(("127.0.0.1", nginx.port())).unwrap();
        s.write_all(
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 206"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n234"), "{answer}");
    }
}
