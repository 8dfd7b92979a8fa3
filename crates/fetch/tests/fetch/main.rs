//! Tests of atelier-fetch against real servers on the loopback (Debian's nginx, and
//! testkit's flaky server behind it); one test binary for the crate.

mod cc;
mod crawl;
