//! The `extract` step: HTML pages (and mail whose only body is HTML) to their main text.
//!
//! A document whose `metadata.content_type` contains `html` is parsed once (without the
//! text of its scripts and style sheets, which no pass reads), and:
//!
//! 1. its metadata is read from the markup: `title`, `canonical_url`
//!    (`<link rel=canonical>`), `date` (published date from meta tags, JSON-LD,
//!    `itemprop="datePublished"` or `time` elements) and `html_lang` (the declared
//!    language);
//! 2. the page is prepared: content that ships hidden until scripts run (a hidden page
//!    wrapper, React's streamed `<div hidden id="S:0">` chunks) is made visible, and
//!    `aria-hidden` (which hides from screen readers, not from the eye) is dropped;
//! 3. the **main** pass finds the main content with [`dom_smoothie`] (a port of
//!    Readability.js) and renders it as text, one line per paragraph, heading, list item
//!    or table row, leaving out captions and elements named as sharing, related links,
//!    bylines, breadcrumbs, ads or sign-ups; furniture lines at the edges of the text
//!    (breadcrumbs, datelines, "By ...", share prompts, "related" links, copyright) are
//!    trimmed;
//! 4. the **fallback** pass renders the whole visible text of the page without scripts,
//!    styles, navigation, page headers and footers, sidebars, dialogs, comment sections
//!    and cookie banners, blocks as lines.
//!
//! The fallback is used when the main pass finds nothing, or holds too little of the
//! page's prose (lines of eight words or more, outside links, legal notices and teaser
//! lists): under 35% on a page that declares itself an article, under 65% on others.
//! Readability then picked one box of a page made of many (a forum thread, a listing, a
//! product or service page). On a page that does not declare itself an article, it is
//! also used when the main pass left out the page's largest group of repeated items (at
//! least five siblings alike, each with a link: a listing's cards, a category's
//! entries) while they hold more text than it does. See `bench/extract/RESULTS.md` for
//! what this scores against rs-trafilatura, trafilatura and resiliparse.
//!
//! `doc.text` becomes the chosen text, `content_type` becomes `text/plain`, and
//! `extractor` says which pass produced it (`main` or `fallback`). Documents of any other
//! content type pass unchanged. [`extract_document`] runs the step on one document (the
//! `atelier extract` command uses it through [`ExtractConfig`]), and [`extract_html`]
//! works on a bare HTML string.
//!
//! Nothing here panics on any input: pages over `max_html_bytes` are refused before
//! parsing, elements nested deeper than browsers allow are flattened before parsing (a
//! page of 100,000 nested elements would otherwise take minutes), every walk over the
//! tree is iterative, and the parser and extractor run under `catch_unwind`, a panic
//! becoming a [`StepError`] that quarantines the one document.

mod boilerplate;
mod lighten;
mod meta;
mod prepare;
mod render;

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use atelier_core::{BoxError, Document, Step, StepConfig, StepError, Verdict};
use dom_query::NodeId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::render::{Items, Line, RenderOptions, render, render_page};

/// Elements nested deeper than this (counting elements whose end tag is required) are
/// flattened before parsing. Browsers cap their trees at a similar depth.
const MAX_NESTING: usize = 256;

/// Settings of the `extract` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractConfig {
    /// Fewest characters (after trimming) the extracted text must have; a page with fewer
    /// is dropped as `no_text`.
    pub min_text_chars: usize,
    /// When the main-content pass finds nothing or too little (a share of the page's
    /// prose, or not a listing's items: forum threads, listings, product pages), use the
    /// page's whole visible text
    /// instead: scripts, styles, navigation, page headers and footers, sidebars, comment
    /// sections and cookie banners removed, blocks as lines. When false such pages keep
    /// whatever the main pass found.
    pub fallback: bool,
    /// Keep data tables, one row a line with cells separated by ` | `. Tables used for
    /// page layout are always kept.
    pub include_tables: bool,
    /// Pages larger than this many bytes are not parsed: the document is quarantined.
    /// Protects memory and time from pathological inputs.
    pub max_html_bytes: usize,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        ExtractConfig {
            min_text_chars: 1,
            fallback: true,
            include_tables: true,
            max_html_bytes: 16 * 1024 * 1024,
        }
    }
}

impl StepConfig for ExtractConfig {
    const NAME: &'static str = "extract";
    const SUMMARY: &'static str = "Replace HTML (pages, HTML-only mail) by its main text.";
    const VERSION: u32 = 1;
    const EXPENSIVE: bool = true;

    fn validate(&self, problems: &mut Vec<String>) {
        if self.max_html_bytes == 0 {
            problems.push("max_html_bytes must be above 0".into());
        }
    }

    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(ExtractStep::new(self.clone())))
    }
}

/// The runtime side of the `extract` step; see [`extract_document`].
#[derive(Debug, Clone)]
pub struct ExtractStep {
    config: ExtractConfig,
}

impl ExtractStep {
    /// A step with these settings.
    pub fn new(config: ExtractConfig) -> Self {
        ExtractStep { config }
    }
}

impl Step for ExtractStep {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        extract_document(doc, &self.config)
    }
}

/// Which pass produced the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Extractor {
    /// The main-content pass.
    Main,
    /// The whole visible text of the page.
    Fallback,
}

impl Extractor {
    /// The name written to `metadata.extractor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Extractor::Main => "main",
            Extractor::Fallback => "fallback",
        }
    }
}

/// What one page yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    /// The extracted text: one line per block, no trailing newline; may be empty.
    pub text: String,
    /// Which pass produced `text`.
    pub extractor: Extractor,
    /// The page title (from `og:title`, JSON-LD or `<title>`, site name trimmed).
    pub title: Option<String>,
    /// The `<link rel="canonical">` URL, resolved against the page URL when relative.
    pub canonical_url: Option<String>,
    /// The published date as the page writes it (usually ISO 8601).
    pub date: Option<String>,
    /// The declared language (`<html lang>`, `Content-Language`, `og:locale`).
    pub lang: Option<String>,
}

/// Whether the step treats this document as HTML: its `content_type` contains `html`.
pub fn is_html(doc: &Document) -> bool {
    doc.meta_str("content_type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("html"))
}

/// Runs the step on one document, as the recipe step and `atelier extract` do.
///
/// A non-HTML document is kept unchanged. An HTML one has its text replaced by the
/// extracted text and gets `title`, `canonical_url`, `date` and `html_lang` (those
/// found), `content_type = "text/plain"` and `extractor` in its metadata; it is dropped
/// as `no_text` when the text has fewer than `min_text_chars` characters. `metadata.url`,
/// when present, resolves a relative canonical link.
///
/// # Errors
/// A page over `max_html_bytes`, or one that made the HTML library panic.
pub fn extract_document(doc: &mut Document, config: &ExtractConfig) -> Result<Verdict, StepError> {
    if !is_html(doc) {
        return Ok(Verdict::Keep);
    }
    let extraction = extract_html(&doc.text, doc.meta_str("url"), config)?;
    let metadata = &mut doc.metadata;
    let found = [
        ("title", extraction.title),
        ("canonical_url", extraction.canonical_url),
        ("date", extraction.date),
        ("html_lang", extraction.lang),
    ];
    for (key, value) in found {
        if let Some(value) = value {
            metadata.insert(key.into(), Value::String(value));
        }
    }
    metadata.insert("content_type".into(), Value::from("text/plain"));
    metadata.insert(
        "extractor".into(),
        Value::from(extraction.extractor.as_str()),
    );
    doc.text = extraction.text;
    let chars = doc.text.trim().chars().take(config.min_text_chars).count();
    if chars < config.min_text_chars {
        return Ok(Verdict::Drop("no_text"));
    }
    Ok(Verdict::Keep)
}

/// Extracts the main text and metadata of one HTML page. `page_url`, when known,
/// resolves a relative canonical link.
///
/// # Errors
/// A page over `max_html_bytes`, or one that made the HTML library panic.
pub fn extract_html(
    html: &str,
    page_url: Option<&str>,
    config: &ExtractConfig,
) -> Result<Extraction, StepError> {
    if html.len() > config.max_html_bytes {
        return Err(StepError(format!(
            "HTML of {} bytes is over max_html_bytes ({})",
            html.len(),
            config.max_html_bytes
        )));
    }
    catch_unwind(AssertUnwindSafe(|| {
        extract_unchecked(html, page_url, config)
    }))
    .map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        StepError(format!("HTML extraction failed: {message}"))
    })
}

/// On a page that declares itself an article, the main pass is set aside for the
/// fallback when it holds less than this share of the page's prose (see
/// [`prose_chars`]): it then found one part of a page made of many (a forum thread, a
/// listing, a product page) rather than the article.
const ARTICLE_MAIN_SHARE: f64 = 0.35;
/// The same share on other pages (products, listings, services, forums, or articles that
/// do not say so), where content more often spreads over several blocks and the main
/// pass, which looks for one, must hold more of it.
const OTHER_MAIN_SHARE: f64 = 0.65;
/// Lines with fewer words than this are not prose (menus, labels, prices, bylines).
const PROSE_MIN_WORDS: usize = 8;

/// Characters of prose in `lines`: the text outside links of lines of at least
/// [`PROSE_MIN_WORDS`] words, leaving out legal lines (copyright, privacy, cookies) and
/// list items that are mostly links (teasers to other pages).
fn prose_chars(lines: &[Line]) -> f64 {
    lines
        .iter()
        .filter(|l| l.text.split_whitespace().nth(PROSE_MIN_WORDS - 1).is_some())
        .filter(|l| !boilerplate::is_legal(&l.text))
        .filter(|l| !(l.text.starts_with("- ") && l.link_density() > 0.1))
        .map(|l| l.text.chars().count() as f64 * (1.0 - l.link_density()))
        .sum()
}

/// Characters outside links of all `lines`.
fn text_chars(lines: &[Line]) -> f64 {
    lines
        .iter()
        .map(|l| l.text.chars().count() as f64 * (1.0 - l.link_density()))
        .sum()
}

/// Whether the main pass found the page's content: something, and at least
/// [`ARTICLE_MAIN_SHARE`] of it on a declared article, else [`OTHER_MAIN_SHARE`].
fn main_is_enough(main: &[Line], full: &[Line], article: bool) -> bool {
    let needed = if article {
        ARTICLE_MAIN_SHARE
    } else {
        OTHER_MAIN_SHARE
    };
    !main.is_empty() && main_share(main, full) >= needed
}

/// Whether the main pass is kept: it found enough of the page's content
/// ([`main_is_enough`]) and, on a page that does not declare itself an article, did
/// not leave out a listing beside what it found ([`ItemsHeld::missed`]).
fn keep_main(passes: &Passes) -> bool {
    let article = passes.page.article;
    main_is_enough(&passes.main, &passes.full, article) && (article || !passes.items_held.missed())
}

/// The share of the page's content that the main pass holds: of the prose of the whole
/// visible text; on a page without prose (a grid of products, a list of categories), of
/// its text outside links; all of it when the page has none either.
fn main_share(main: &[Line], full: &[Line]) -> f64 {
    let (held, whole) = match prose_chars(full) {
        prose if prose > 0.0 => (prose_chars(main), prose),
        _ => (text_chars(main), text_chars(full)),
    };
    if whole > 0.0 { held / whole } else { 1.0 }
}

/// Whether the main pass found its text in what the fallback left out as comment
/// sections: most of its characters are on lines the fallback does not have. Its
/// comments are then the page's content (a forum's posts, named `ipsComment` or
/// `comment-body`), not reader comments under an article.
fn found_in_comments(main: &[Line], full: &[Line]) -> bool {
    let (inside, all) = found_on_lines_of(main, full, |text| text.chars().count());
    2 * (all - inside) > all
}

/// The size of the `lines` that are also lines of `other`, and of all of them, each
/// line measured by `size`.
fn found_on_lines_of<'a>(
    lines: impl IntoIterator<Item = &'a Line>,
    other: &[Line],
    size: impl Fn(&str) -> usize,
) -> (usize, usize) {
    let in_other: HashSet<&str> = other.iter().map(|l| l.text.as_str()).collect();
    let (mut found, mut all) = (0, 0);
    for line in lines {
        let n = size(&line.text);
        all += n;
        if in_other.contains(line.text.as_str()) {
            found += n;
        }
    }
    (found, all)
}

/// How much of the page's largest group of repeated items (a listing's entries, a
/// category's members, a results table's rows) the main pass holds.
#[derive(Debug, Clone, Copy, Default)]
struct ItemsHeld {
    /// Bytes of text of the items.
    items: usize,
    /// Bytes of those on lines the main pass has too.
    held: usize,
    /// Bytes of text of the main pass.
    main: usize,
}

impl ItemsHeld {
    /// Whether the main pass left the page's items out: they hold more text than it
    /// does, and it has less than half of theirs. Readability then took the text above
    /// a listing (an introduction, a filter panel's labels) for the page's content.
    fn missed(&self) -> bool {
        self.items > self.main && 2 * self.held < self.items
    }

    /// Compares the main pass's lines with `items`, lines of the fallback's `full`.
    fn measure(main: &[Line], full: &[Line], items: &Items) -> Self {
        let main_bytes = main.iter().map(|l| l.text.len()).sum();
        if items.bytes <= main_bytes {
            // Fewer items than the main pass's text: nothing it can have missed.
            return ItemsHeld::default();
        }
        let item_lines = items.lines.iter().flat_map(|range| &full[range.clone()]);
        let (held, _) = found_on_lines_of(item_lines, main, str::len);
        ItemsHeld {
            items: items.bytes,
            held,
            main: main_bytes,
        }
    }
}

/// The two candidate texts of a page, as lines.
struct Passes {
    /// What the main-content pass found (empty when it found nothing).
    main: Vec<Line>,
    /// The whole visible text (empty when the fallback is off).
    full: Vec<Line>,
    /// How much of the page's repeated items the main pass holds.
    items_held: ItemsHeld,
    /// The page's largest group of repeated items, lines of `full` (for debugging).
    item_lines: Items,
    /// The title the main pass read.
    title: Option<String>,
    /// Metadata read from the markup.
    page: meta::PageMeta,
}

fn run_passes(html: &str, page_url: Option<&str>, config: &ExtractConfig) -> Passes {
    let html = lighten::lighten(html, MAX_NESTING);
    let dom = dom_query::Document::from(html.as_ref());
    let page = meta::read(&dom, page_url);
    prepare::prepare(&dom);
    let (full, with_comments, items) = if config.fallback {
        let options = RenderOptions {
            include_tables: config.include_tables,
            skip_chrome: true,
            keep_comments: false,
            skip_furniture: false,
            // Only pages that do not declare themselves articles are checked for a
            // listing the main pass missed.
            find_items: !page.article,
        };
        let body = dom.body().map_or_else(|| dom.root().id, |b| b.id);
        let rendered = render_page(&dom.tree, body, options);
        // Rendered now, while the tree is whole (the main pass rewrites it), when the
        // comments could be most of the page.
        let text_bytes: usize = rendered.lines.iter().map(|l| l.text.len()).sum();
        let with_comments = (rendered.comment_bytes > text_bytes).then(|| {
            let options = RenderOptions {
                keep_comments: true,
                find_items: false,
                ..options
            };
            render(&dom.tree, body, options)
        });
        (rendered.lines, with_comments, rendered.items)
    } else {
        (Vec::new(), None, Items::default())
    };
    let (main, title) = main_pass(dom, config);
    let items_held = ItemsHeld::measure(&main, &full, &items);
    let (full, items) = match with_comments {
        Some(with_comments) if found_in_comments(&main, &full) => (with_comments, Items::default()),
        _ => (full, items),
    };
    Passes {
        main,
        full,
        items_held,
        item_lines: items,
        title,
        page,
    }
}

fn extract_unchecked(html: &str, page_url: Option<&str>, config: &ExtractConfig) -> Extraction {
    let passes = run_passes(html, page_url, config);
    let use_main = !config.fallback || keep_main(&passes);
    let (lines, extractor) = if use_main {
        (passes.main, Extractor::Main)
    } else {
        (passes.full, Extractor::Fallback)
    };
    Extraction {
        text: render::join(&lines),
        extractor,
        title: passes.title,
        canonical_url: passes.page.canonical_url,
        date: passes.page.date,
        lang: passes.page.lang,
    }
}

/// Runs dom_smoothie on the parsed page; returns the rendered main text (empty when it
/// found nothing) and the title.
fn main_pass(dom: dom_query::Document, config: &ExtractConfig) -> (Vec<Line>, Option<String>) {
    let settings = dom_smoothie::Config {
        max_elements_to_parse: 400_000,
        ..dom_smoothie::Config::default()
    };
    let Ok(mut readability) = dom_smoothie::Readability::with_document(dom, None, Some(settings))
    else {
        return (Vec::new(), None);
    };
    let options = RenderOptions {
        include_tables: config.include_tables,
        skip_chrome: false,
        keep_comments: false,
        skip_furniture: true,
        find_items: false,
    };
    match readability.parse() {
        Ok(article) => {
            let root: Option<NodeId> = readability
                .doc
                .select_single("#readability-page-1")
                .nodes()
                .first()
                .map(|n| n.id);
            let lines = root
                .map(|id| render(&readability.doc.tree, id, options))
                .unwrap_or_default();
            (boilerplate::trim_edges(lines), non_empty(article.title))
        }
        Err(_) => {
            let metadata = readability.get_article_metadata(readability.parse_json_ld());
            (Vec::new(), non_empty(metadata.title))
        }
    }
}

fn non_empty(s: String) -> Option<String> {
    let trimmed = s.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Debugging aid: what the choice between the two passes of a page sees.
#[doc(hidden)]
pub struct PassesDebug {
    /// The main pass's lines, each as `link density|heading|text`.
    pub main: Vec<String>,
    /// The fallback's lines, the same way.
    pub full: Vec<String>,
    /// The share of the page's content the main pass holds.
    pub main_share: f64,
    /// Whether the page declares itself an article.
    pub article: bool,
    /// Indexes in `full` of the lines of the page's largest group of repeated items.
    pub item_lines: Vec<usize>,
    /// Whether the main pass left those items out (checked on pages that do not
    /// declare themselves articles).
    pub items_missed: bool,
}

/// Debugging aid: both candidate texts of a page, before choosing.
#[doc(hidden)]
pub fn debug_passes(html: &str, config: &ExtractConfig) -> PassesDebug {
    let passes = run_passes(html, None, config);
    let show = |lines: &[Line]| {
        lines
            .iter()
            .map(|l| format!("{:.2}|{}|{}", l.link_density(), u8::from(l.heading), l.text))
            .collect()
    };
    PassesDebug {
        main: show(&passes.main),
        full: show(&passes.full),
        main_share: main_share(&passes.main, &passes.full),
        article: passes.page.article,
        item_lines: passes
            .item_lines
            .lines
            .iter()
            .flat_map(Clone::clone)
            .collect(),
        items_missed: passes.items_held.missed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, link_bytes: usize) -> Line {
        Line {
            text: text.into(),
            link_bytes,
            marker_bytes: 0,
            heading: false,
        }
    }

    const PROSE: &str = "A sentence of prose that is long enough to count as real text here.";

    #[test]
    fn prose_leaves_out_short_legal_and_linked_lines() {
        let lines = [
            line(PROSE, 0),
            line("Home About Contact", 0),
            line(
                "© 2024 Example Inc. All rights reserved, every one of them, worldwide.",
                0,
            ),
            line(
                "- A teaser for another story that links away from this page",
                40,
            ),
        ];
        assert_eq!(prose_chars(&lines), PROSE.chars().count() as f64);
        // Half-linked prose counts half.
        let half = line(PROSE, PROSE.len() / 2);
        assert!((prose_chars(&[half]) - PROSE.len() as f64 / 2.0).abs() < 1.0);
    }

    #[test]
    fn the_fallback_wins_when_main_holds_a_sliver_of_the_prose() {
        let one = vec![line(PROSE, 0)];
        let two = vec![line(PROSE, 0), line(PROSE, 0)];
        let ten = vec![line(PROSE, 0); 10];
        let menu = vec![line("Home", 4), line("News", 4), line(PROSE, 0)];
        for article in [true, false] {
            assert!(main_is_enough(&one, &menu, article), "the rest is menus");
            assert!(!main_is_enough(&one, &ten, article), "a tenth of the prose");
            assert!(!main_is_enough(&[], &menu, article), "nothing found");
        }
        // Half of the prose is enough on a declared article, not on other pages.
        assert!(main_is_enough(&one, &two, true));
        assert!(!main_is_enough(&one, &two, false));
    }

    #[test]
    fn a_listing_the_main_pass_left_out_is_the_content() {
        let card = |n: usize| {
            format!(
                "<div class='product-card'><a href='/p/{n}'>Walnut bookcase model {n}, five \
                 shelves</a><span class='price'>{n}49.00 EUR</span></div>"
            )
        };
        let cards: String = (1..=8).map(card).collect();
        let page = |head: &str, grid_class: &str| {
            format!(
                "<html><head>{head}</head><body><h1>Bookcases</h1>\
                 <div class='intro'><p>{PROSE}</p><p>Solid wood, made to last.</p></div>\
                 <div class='{grid_class}'>{cards}</div></body></html>"
            )
        };
        let extract = |html: &str| extract_html(html, None, &ExtractConfig::default()).unwrap();
        let listing = extract(&page("", "grid"));
        assert_eq!(listing.extractor, Extractor::Fallback, "{}", listing.text);
        for n in [1, 8] {
            assert!(listing.text.contains(&format!("model {n}, five shelves")));
        }
        // A page that declares itself an article keeps its text, and a sidebar of links
        // is no listing of the page's own.
        let article = extract(&page("<meta property='og:type' content='article'>", "grid"));
        let sidebar = extract(&page("", "sidebar"));
        for kept in [article, sidebar] {
            assert_eq!(kept.extractor, Extractor::Main, "{}", kept.text);
            assert!(kept.text.contains("long enough") && !kept.text.contains("model 1,"));
        }
    }

    #[test]
    fn comments_are_the_content_where_the_main_pass_found_them() {
        let post = |who: &str, text: &str| {
            format!(
                "<article class='cPost ipsComment'><aside class='cAuthorPane'>{who}</aside>\
                 <div class='cPost_contentWrap'><p>{text}</p></div></article>"
            )
        };
        let posts = [
            post(
                "alice",
                "The new interface hides the notebook list behind a menu, and every search \
                 now takes three clicks where it took one before the update.",
            ),
            post("bob", "Same here: the sidebar is gone for me too."),
            post(
                "carol",
                "Support says a fix is planned for the next release.",
            ),
        ];
        let page = format!(
            "<html><body><nav><a href='/'>Forums</a> <a href='/new'>New</a></nav>\
             <h1>New UI 2024</h1>{}<footer>Powered by Invision Community</footer></body></html>",
            posts.concat()
        );
        let text = extract_html(&page, None, &ExtractConfig::default())
            .expect("extracts")
            .text;
        for said in ["three clicks", "sidebar is gone", "a fix is planned"] {
            assert!(text.contains(said), "`{said}` missing from:\n{text}");
        }
        // Reader comments under an article stay out.
        let article = format!(
            "<html><body><article><h1>Title</h1><p>{PROSE}</p><p>{PROSE}</p><p>{PROSE}</p>\
             </article><section id='comments'><div class='comment'><p>First! This is a \
             reader writing under the story with enough words.</p></div></section>\
             </body></html>"
        );
        let text = extract_html(&article, None, &ExtractConfig::default())
            .expect("extracts")
            .text;
        assert!(
            text.contains("long enough") && !text.contains("First!"),
            "{text}"
        );
    }

    #[test]
    fn without_prose_the_text_outside_links_decides() {
        // A grid of categories: no line is prose. Main found a footer credit.
        let credit = vec![line(
            "Designed by Elegant Themes | Powered by WordPress",
            22,
        )];
        let grid: Vec<Line> = (10..40)
            .map(|i| line(&format!("Bluetooth Speakers ({i})"), 20))
            .collect();
        let mut full = grid.clone();
        full.push(line("Product Categories", 0));
        assert_eq!(prose_chars(&full), 0.0);
        assert!(
            !main_is_enough(&credit, &full, false),
            "the credit is not the page"
        );
        assert!(
            main_is_enough(&grid, &full, false),
            "the grid is most of its text"
        );
    }
}
