//! Integration tests of `atelier serve`: real servers on loopback, real model versions in
//! temporary projects, and a real browser for the page.

mod api;
mod browser;
mod common;
mod hostile;
mod lm;
mod openai;
mod swap;
