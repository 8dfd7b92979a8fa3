//! A generated web site to crawl: `index.html` and pages `pages/pN.html` linked as a
//! binary tree (page `i` links to `2i+1` and `2i+2`), each with some text.

use std::path::Path;

/// Writes `index.html` (linking to page 0) and `pages` pages under `root`; `extra(i)`
/// gives more HTML for page `i` (more links). Gives the pages' paths, index first.
pub fn write_tree_site(root: &Path, pages: usize, extra: impl Fn(usize) -> String) -> Vec<String> {
    std::fs::create_dir_all(root.join("pages")).expect("create the site");
    std::fs::write(
        root.join("index.html"),
        "<html><head><title>index</title></head><body><a href=\"/pages/p0.html\">start</a></body></html>",
    )
    .expect("write index.html");
    let mut paths = vec!["/index.html".to_string()];
    for i in 0..pages {
        let mut links = String::new();
        for child in [2 * i + 1, 2 * i + 2] {
            if child < pages {
                links.push_str(&format!("<a href=\"p{child}.html\">page {child}</a>\n"));
            }
        }
        let html = format!(
            "<!doctype html><html><head><title>page {i}</title></head><body><h1>Page {i}</h1>\n<p>This is page number {i} of a generated site, with a few sentences of text so that it weighs something like a real page. {}</p>\n{links}{}</body></html>\n",
            "Lorem ipsum dolor sit amet. ".repeat(8),
            extra(i)
        );
        std::fs::write(root.join(format!("pages/p{i}.html")), html).expect("write a page");
        paths.push(format!("/pages/p{i}.html"));
    }
    paths
}
