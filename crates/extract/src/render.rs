//! Turns a parsed DOM subtree into plain text: one line per block (paragraph, heading,
//! list item, table row), inline whitespace collapsed, invisible and non-text elements
//! left out.
//!
//! The walk is iterative (an explicit stack on the heap), so the depth of the tree never
//! touches the thread's stack.

use std::hash::{Hash, Hasher};
use std::ops::Range;

use dom_query::{Element, NodeData, NodeId, Tree, local_name};

/// What to leave out while rendering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RenderOptions {
    /// Render data tables (one row a line, cells separated by ` | `); when false only
    /// layout tables (whose cells hold blocks of text) are rendered.
    pub include_tables: bool,
    /// Leave out page chrome: `nav`, `header`, `footer`, `aside`, landmark roles of the
    /// same meaning, dialogs, and cookie or consent banners.
    pub skip_chrome: bool,
    /// With `skip_chrome`, still keep comment sections (a forum's posts are its text).
    pub keep_comments: bool,
    /// Leave out furniture inside an article: figures and captions, and elements whose
    /// class or id names sharing, related links, bylines, breadcrumbs, ads or sign-ups.
    pub skip_furniture: bool,
    /// Find the largest group of repeated items ([`Rendered::items`]).
    pub find_items: bool,
}

/// How an element takes part in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not rendered, nor anything inside it.
    Skip,
    /// Starts and ends a line.
    Block,
    /// A line break.
    Break,
    /// A list; its items get markers.
    List { ordered: bool },
    /// A list item.
    Item,
    /// A table row: starts and ends a line.
    Row,
    /// A table cell: separated from the previous cell on its row.
    Cell,
    /// Preformatted text: whitespace kept.
    Pre,
    /// A table: block, possibly skipped.
    Table,
    /// A heading: a block whose line is marked as a heading.
    Heading,
    /// A link: inline, its text counted as link text.
    Link,
    /// Text flows through.
    Inline,
}

/// One open element on the walk's stack.
struct Frame {
    kind: Kind,
    /// The next child to visit.
    next: Option<NodeId>,
    /// For lists: the number of items seen so far.
    items: u32,
    /// Whether this is an `article`, `main` or `section`.
    section: bool,
    /// The element (the document's root for the walk's own first frame).
    id: NodeId,
    /// The first line the element's text may be on.
    first_line: usize,
    /// Where the element's children's entries start in [`Walk::members`].
    members_from: usize,
    /// Whether a link is open inside the element, or is the element.
    linked: bool,
    /// Whether the element is named as navigation, a menu or a sidebar.
    aside: bool,
}

/// An element holding a link and lines of text, as a candidate item of a repeated
/// group (a card of a listing, a row of a results table).
struct Member {
    signature: u64,
    lines: Range<usize>,
}

/// The largest group of repeated items on a rendered page: at least [`MIN_ITEMS`]
/// sibling elements of the same name and first class, each holding a link and lines of text,
/// as a listing's cards, a category's entries or a results table's rows are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Items {
    /// The items' lines, as ranges of the rendered lines.
    pub lines: Vec<Range<usize>>,
    /// Bytes of text on those lines.
    pub bytes: usize,
}

/// Fewest siblings alike that make a group of items.
const MIN_ITEMS: usize = 5;

/// What [`render_page`] found.
pub(crate) struct Rendered {
    /// The lines.
    pub lines: Vec<Line>,
    /// Bytes of text of the comment sections left out as chrome.
    pub comment_bytes: usize,
    /// The largest group of repeated items among the lines.
    pub items: Items,
}

/// One rendered line (a paragraph, heading, list item, table row...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// The text, trimmed, with its list marker if any.
    pub text: String,
    /// Bytes of `text` that were inside links.
    pub link_bytes: usize,
    /// Bytes of `text` that are list markers or cell separators.
    pub marker_bytes: usize,
    /// Whether the line is a heading (`h1`..`h6`).
    pub heading: bool,
}

impl Line {
    /// The share of the line's text (markers aside) inside links.
    pub(crate) fn link_density(&self) -> f64 {
        let text = self.text.len().saturating_sub(self.marker_bytes);
        if text == 0 {
            0.0
        } else {
            self.link_bytes as f64 / text as f64
        }
    }
}

/// Joins lines into text, one a line.
pub(crate) fn join(lines: &[Line]) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.text.len() + 1).sum());
    for line in lines {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line.text);
    }
    out
}

/// Collects text into lines.
#[derive(Default)]
struct LineWriter {
    lines: Vec<Line>,
    /// The line being written.
    current: String,
    link_bytes: usize,
    marker_bytes: usize,
    heading: bool,
    /// A space is owed before the next word on this line.
    space: bool,
    /// How many links are open around the text being written.
    links: usize,
    /// Bytes of words (not markers) on the current line.
    content_bytes: usize,
    /// The current line holds preformatted text: its indentation is kept.
    verbatim: bool,
}

impl LineWriter {
    fn at_line_start(&self) -> bool {
        self.current.is_empty()
    }

    /// Adds flowing text, collapsing whitespace.
    fn text(&mut self, text: &str) {
        if text.starts_with(char::is_whitespace) {
            self.space = true;
        }
        for word in text.split_whitespace() {
            if self.space && !self.at_line_start() {
                self.current.push(' ');
            }
            self.current.push_str(word);
            self.content_bytes += word.len();
            if self.links > 0 {
                self.link_bytes += word.len();
            }
            self.space = true;
        }
        if !text.ends_with(char::is_whitespace) {
            self.space = false;
        }
    }

    /// Adds text verbatim, line by line (for `pre`).
    fn verbatim(&mut self, text: &str) {
        let mut lines = text.split('\n');
        if let Some(first) = lines.next() {
            self.push_verbatim(first);
        }
        for line in lines {
            self.newline();
            self.push_verbatim(line);
        }
        self.space = false;
    }

    fn push_verbatim(&mut self, line: &str) {
        let line = line.trim_end();
        self.current.push_str(line);
        self.content_bytes += line.trim_start().len();
        self.verbatim = true;
    }

    /// Adds a marker (list bullet, cell separator) that counts as part of the line.
    fn marker(&mut self, marker: &str) {
        self.current.push_str(marker);
        self.marker_bytes += marker.len();
        self.space = false;
    }

    /// Ends the current line if it has anything on it.
    fn newline(&mut self) {
        let text = std::mem::take(&mut self.current);
        let trimmed = if self.verbatim {
            text.trim_end()
        } else {
            text.trim()
        };
        if self.content_bytes > 0 {
            let marker_bytes = self.marker_bytes.min(trimmed.len());
            self.lines.push(Line {
                text: if trimmed.len() == text.len() {
                    text
                } else {
                    trimmed.to_owned()
                },
                link_bytes: self.link_bytes,
                marker_bytes,
                heading: self.heading,
            });
        }
        self.link_bytes = 0;
        self.marker_bytes = 0;
        self.content_bytes = 0;
        self.verbatim = false;
        self.heading = false;
        self.space = false;
    }

    /// The lines written.
    fn finish(mut self) -> Vec<Line> {
        self.newline();
        self.lines
    }
}

/// Renders the subtree under `root` (the root itself included) as lines.
pub(crate) fn render(tree: &Tree, root: NodeId, options: RenderOptions) -> Vec<Line> {
    render_page(tree, root, options).lines
}

/// [`render`], also giving what it left out as comment sections and the largest group
/// of repeated items it rendered.
pub(crate) fn render_page(tree: &Tree, root: NodeId, options: RenderOptions) -> Rendered {
    let mut walk = Walk {
        tree,
        options,
        stack: Vec::new(),
        writer: LineWriter::default(),
        pre: 0,
        sections: 0,
        furniture_limit: if options.skip_furniture {
            (text_len(tree, root, usize::MAX, false) as f64 * FURNITURE_SHARE) as usize
        } else {
            0
        },
        skipped_comments: 0,
        members: Vec::new(),
        asides: 0,
        items: Items::default(),
    };
    walk.enter(root);
    while let Some(frame) = walk.stack.last_mut() {
        let Some(child) = frame.next else {
            let frame = walk.stack.pop().expect("stack is not empty");
            if frame.kind == Kind::Pre {
                walk.pre -= 1;
            }
            walk.sections -= usize::from(frame.section);
            leave(frame.kind, &mut walk.writer);
            walk.close(frame);
            continue;
        };
        frame.next = tree.query_node(&child, |n| n.next_sibling).flatten();
        walk.enter(child);
    }
    Rendered {
        lines: walk.writer.finish(),
        comment_bytes: walk.skipped_comments,
        items: walk.items,
    }
}

/// The state of one rendering walk.
struct Walk<'a> {
    tree: &'a Tree,
    options: RenderOptions,
    stack: Vec<Frame>,
    writer: LineWriter,
    /// How many `pre` elements are open.
    pre: usize,
    /// How many `article`, `main` and `section` elements are open.
    sections: usize,
    /// Furniture holding this many bytes of text or more is kept.
    furniture_limit: usize,
    /// Bytes of text in the comment sections left out as chrome.
    skipped_comments: usize,
    /// The candidate items among the children of the open elements.
    members: Vec<Member>,
    /// How many elements named as navigation, menus or sidebars are open: what is in
    /// them is no list of the page's own.
    asides: usize,
    /// The largest group of items so far.
    items: Items,
}

impl Walk<'_> {
    /// Visits one node: writes text nodes, and for elements writes what comes before
    /// their content and pushes a frame to walk the content.
    fn enter(&mut self, id: NodeId) {
        let (tree, options) = (self.tree, self.options);
        let writer = &mut self.writer;
        let in_pre = self.pre > 0;
        let in_section = self.sections > 0;
        let furniture_limit = self.furniture_limit;
        let decided = tree.query_node(&id, |node| match &node.data {
            NodeData::Text { contents } => {
                if in_pre {
                    writer.verbatim(contents);
                } else {
                    writer.text(contents);
                }
                None
            }
            NodeData::Element(element) => {
                let kind = classify(tree, id, element, options, in_section, furniture_limit);
                let comments = kind == Kind::Skip
                    && options.skip_chrome
                    && !options.keep_comments
                    && is_comment_section(element);
                let section = kind != Kind::Skip
                    && matches!(
                        element.name.local,
                        local_name!("article") | local_name!("main") | local_name!("section")
                    );
                // Navigation and sidebars are containers: blocks and lists.
                let aside = options.find_items
                    && matches!(kind, Kind::Block | Kind::List { .. })
                    && is_aside(element);
                Some((kind, section, comments, aside, node.first_child))
            }
            NodeData::Document | NodeData::Fragment => {
                Some((Kind::Inline, false, false, false, node.first_child))
            }
            _ => None,
        });
        let Some(Some((kind, section, comments, aside, first_child))) = decided else {
            return;
        };
        if comments {
            self.skipped_comments += text_len(tree, id, usize::MAX, false);
        }
        match kind {
            Kind::Skip => return,
            Kind::Break => {
                self.writer.newline();
                return;
            }
            Kind::Pre => {
                self.pre += 1;
                self.writer.newline();
            }
            Kind::Block | Kind::Table | Kind::Row | Kind::List { .. } => self.writer.newline(),
            Kind::Heading => {
                self.writer.newline();
                self.writer.heading = true;
            }
            Kind::Link => self.writer.links += 1,
            Kind::Item => {
                self.writer.newline();
                let list = self
                    .stack
                    .iter_mut()
                    .rev()
                    .find(|f| matches!(f.kind, Kind::List { .. }));
                let marker = match list {
                    Some(list) => {
                        list.items += 1;
                        match list.kind {
                            Kind::List { ordered: true } => format!("{}. ", list.items),
                            _ => "- ".to_owned(),
                        }
                    }
                    None => "- ".to_owned(),
                };
                self.writer.marker(&marker);
            }
            Kind::Cell => {
                if !self.writer.at_line_start() {
                    self.writer.marker(" | ");
                }
            }
            Kind::Inline => {}
        }
        self.sections += usize::from(section);
        self.asides += usize::from(aside);
        self.stack.push(Frame {
            kind,
            next: first_child,
            items: 0,
            section,
            id,
            first_line: self.writer.lines.len(),
            members_from: self.members.len(),
            linked: kind == Kind::Link,
            aside,
        });
    }

    /// Takes stock of an element whose content has been written: its children that are
    /// alike form groups of items, the largest of the page is kept, and the element
    /// becomes a candidate item of its parent.
    fn close(&mut self, frame: Frame) {
        if !self.options.find_items {
            return;
        }
        let children = &mut self.members[frame.members_from..];
        if children.len() >= MIN_ITEMS {
            children.sort_unstable_by_key(|m| m.signature);
            for group in children.chunk_by(|a, b| a.signature == b.signature) {
                if group.len() < MIN_ITEMS {
                    continue;
                }
                let bytes = group
                    .iter()
                    .flat_map(|m| &self.writer.lines[m.lines.clone()])
                    .map(|l| l.text.len())
                    .sum();
                if bytes > self.items.bytes {
                    self.items = Items {
                        lines: group.iter().map(|m| m.lines.clone()).collect(),
                        bytes,
                    };
                }
            }
        }
        self.members.truncate(frame.members_from);
        self.asides -= usize::from(frame.aside);
        let lines = frame.first_line..self.writer.lines.len();
        if let Some(parent) = self.stack.last_mut() {
            parent.linked |= frame.linked;
            if frame.linked && !frame.aside && self.asides == 0 && !lines.is_empty() {
                let signature = self
                    .tree
                    .query_node(&frame.id, |n| n.as_element().map(signature))
                    .flatten()
                    .unwrap_or(0);
                self.members.push(Member { signature, lines });
            }
        }
    }
}

/// Words in a class or id that mark navigation, menus and sidebars, which list links
/// to other pages beside a page's content.
const ASIDES: &[&str] = &["sidebar", "widget", "menu", "navbar", "navigation"];

/// Whether an element is named as navigation, a menu or a sidebar: a class or id
/// holding one of [`ASIDES`], or the class `nav`.
fn is_aside(element: &Element) -> bool {
    element.attrs.iter().any(|attr| match attr.name.local {
        local_name!("id") => contains_any(&attr.value, ASIDES),
        local_name!("class") => {
            contains_any(&attr.value, ASIDES)
                || attr.value.split_ascii_whitespace().any(|c| c == "nav")
        }
        _ => false,
    })
}

/// An element's name and first class, hashed: siblings alike in both are items of one
/// list.
fn signature(element: &Element) -> u64 {
    let class = element
        .attrs
        .iter()
        .find(|a| a.name.local == local_name!("class"))
        .and_then(|a| a.value.split_ascii_whitespace().next())
        .unwrap_or("");
    let mut hasher = std::hash::DefaultHasher::new();
    (&*element.name.local, class).hash(&mut hasher);
    hasher.finish()
}

/// Writes what comes after an element's content.
fn leave(kind: Kind, writer: &mut LineWriter) {
    match kind {
        Kind::Block
        | Kind::Heading
        | Kind::Pre
        | Kind::Table
        | Kind::Row
        | Kind::List { .. }
        | Kind::Item => writer.newline(),
        Kind::Cell => writer.space = true,
        Kind::Link => writer.links = writer.links.saturating_sub(1),
        Kind::Skip | Kind::Break | Kind::Inline => {}
    }
}

/// Decides how an element is rendered.
///
/// `in_section` says whether an `article`, `main` or `section` is open around it: a
/// `header` or `footer` there belongs to that content, not to the page. An element that
/// looks like furniture is only left out while it holds under `furniture_limit` bytes of
/// text (a wrapper named `has-share-buttons` may hold the whole article).
fn classify(
    tree: &Tree,
    id: NodeId,
    element: &Element,
    options: RenderOptions,
    in_section: bool,
    furniture_limit: usize,
) -> Kind {
    let kind = match element.name.local {
        local_name!("script")
        | local_name!("style")
        | local_name!("template")
        | local_name!("head")
        | local_name!("title")
        | local_name!("meta")
        | local_name!("link")
        | local_name!("base")
        | local_name!("svg")
        | local_name!("math")
        | local_name!("canvas")
        | local_name!("iframe")
        | local_name!("frame")
        | local_name!("frameset")
        | local_name!("object")
        | local_name!("embed")
        | local_name!("applet")
        | local_name!("select")
        | local_name!("datalist")
        | local_name!("option")
        | local_name!("optgroup")
        | local_name!("button")
        | local_name!("input")
        | local_name!("textarea")
        | local_name!("audio")
        | local_name!("video")
        | local_name!("picture")
        | local_name!("img")
        | local_name!("map")
        | local_name!("area")
        | local_name!("param")
        | local_name!("source")
        | local_name!("track")
        | local_name!("dialog") => Kind::Skip,
        local_name!("nav") | local_name!("aside") if options.skip_chrome => Kind::Skip,
        local_name!("header") | local_name!("footer") if options.skip_chrome && !in_section => {
            Kind::Skip
        }
        local_name!("br") | local_name!("hr") => Kind::Break,
        local_name!("h1")
        | local_name!("h2")
        | local_name!("h3")
        | local_name!("h4")
        | local_name!("h5")
        | local_name!("h6") => Kind::Heading,
        local_name!("a") => Kind::Link,
        local_name!("ul") | local_name!("menu") | local_name!("dir") => {
            Kind::List { ordered: false }
        }
        local_name!("ol") => Kind::List { ordered: true },
        local_name!("li") => Kind::Item,
        local_name!("tr") => Kind::Row,
        local_name!("td") | local_name!("th") => Kind::Cell,
        local_name!("pre")
        | local_name!("listing")
        | local_name!("plaintext")
        | local_name!("xmp") => Kind::Pre,
        local_name!("table") => {
            if !options.include_tables && is_data_table(tree, id) {
                Kind::Skip
            } else {
                Kind::Table
            }
        }
        local_name!("address")
        | local_name!("article")
        | local_name!("aside")
        | local_name!("blockquote")
        | local_name!("body")
        | local_name!("caption")
        | local_name!("center")
        | local_name!("dd")
        | local_name!("details")
        | local_name!("div")
        | local_name!("dl")
        | local_name!("dt")
        | local_name!("fieldset")
        | local_name!("figcaption")
        | local_name!("figure")
        | local_name!("footer")
        | local_name!("form")
        | local_name!("header")
        | local_name!("hgroup")
        | local_name!("html")
        | local_name!("legend")
        | local_name!("main")
        | local_name!("nav")
        | local_name!("noscript")
        | local_name!("p")
        | local_name!("section")
        | local_name!("summary")
        | local_name!("tbody")
        | local_name!("thead")
        | local_name!("tfoot") => Kind::Block,
        _ => Kind::Inline,
    };
    // The page itself is never chrome: WordPress and others put state classes such as
    // `comments-open` or `cookies-not-set` on `<body>`.
    let page = matches!(
        element.name.local,
        local_name!("body") | local_name!("html")
    );
    if kind != Kind::Skip
        && (is_hidden(element)
            || (options.skip_chrome && !page && is_chrome(element, options.keep_comments))
            || (options.skip_furniture
                && is_furniture(element)
                && text_len(tree, id, furniture_limit, false) < furniture_limit))
    {
        return Kind::Skip;
    }
    kind
}

/// Whether an element is hidden from readers: the `hidden` attribute, an inline
/// `display: none` or `visibility: hidden`, or a screen-reader-only class. (`aria-hidden`
/// hides from screen readers only, not from the eye.)
pub(crate) fn is_hidden(element: &Element) -> bool {
    for attr in &element.attrs {
        match attr.name.local {
            local_name!("hidden") => return true,
            local_name!("style") if contains_any(&attr.value, &["none", "hidden"]) => {
                let style: String = attr
                    .value
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                if style.contains("display:none") || style.contains("visibility:hidden") {
                    return true;
                }
            }
            local_name!("class") => {
                if attr.value.split_ascii_whitespace().any(|c| {
                    matches!(
                        c,
                        "sr-only"
                            | "visually-hidden"
                            | "visuallyhidden"
                            | "screen-reader-text"
                            | "screen-reader-only"
                            | "element-invisible"
                    )
                }) {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Whether `haystack` contains any of `words` (given in lowercase), ignoring ASCII case.
pub(crate) fn contains_any(haystack: &str, words: &[&str]) -> bool {
    // The words' first bytes, as a set of ASCII bytes: most bytes of a class list start
    // none of them and cost one test.
    let firsts = words
        .iter()
        .filter_map(|w| w.bytes().next())
        .filter(u8::is_ascii)
        .fold(0u128, |set, b| set | 1 << b);
    let hay = haystack.as_bytes();
    (0..hay.len()).any(|at| {
        let first = hay[at].to_ascii_lowercase();
        first.is_ascii()
            && firsts & (1 << first) != 0
            && words.iter().any(|w| {
                let w = w.as_bytes();
                hay.len() - at >= w.len() && hay[at..at + w.len()].eq_ignore_ascii_case(w)
            })
    })
}

/// Words in a class or id that mark page chrome: cookie and consent banners.
const CHROME: &[&str] = &["cookie", "consent", "gdpr"];
/// Words in a class or id that mark comment sections: reader comments under an article
/// are not its text, but a forum's posts often carry the same names.
const COMMENTS: &[&str] = &["comment", "disqus"];

/// Whether an element is page chrome by its landmark role or a class or id naming one of
/// [`CHROME`].
fn is_chrome(element: &Element, keep_comments: bool) -> bool {
    element.attrs.iter().any(|attr| match attr.name.local {
        local_name!("role") => [
            "navigation",
            "banner",
            "contentinfo",
            "complementary",
            "search",
            "dialog",
            "alertdialog",
            "menu",
            "menubar",
        ]
        .iter()
        .any(|role| attr.value.trim().eq_ignore_ascii_case(role)),
        local_name!("id") | local_name!("class") => {
            contains_any(&attr.value, CHROME)
                || (!keep_comments && contains_any(&attr.value, COMMENTS))
        }
        _ => false,
    })
}

/// Whether a class or id names a comment section ([`COMMENTS`]).
fn is_comment_section(element: &Element) -> bool {
    element.attrs.iter().any(|attr| {
        matches!(attr.name.local, local_name!("id") | local_name!("class"))
            && contains_any(&attr.value, COMMENTS)
    })
}

/// Furniture is kept when it holds at least this share of the text being rendered.
const FURNITURE_SHARE: f64 = 0.4;

/// Words in a class or id that mark furniture inside an article.
const FURNITURE: &[&str] = &[
    "caption",
    "credit",
    "breadcrumb",
    "share",
    "social",
    "related",
    "newsletter",
    "subscribe",
    "promo",
    "advert",
    "sponsor",
    "outbrain",
    "taboola",
    "byline",
];

/// Whether an element is article furniture: a caption, or a class or id naming one of
/// [`FURNITURE`].
fn is_furniture(element: &Element) -> bool {
    if element.name.local == local_name!("figcaption") {
        return true;
    }
    element.attrs.iter().any(|attr| match attr.name.local {
        local_name!("id") | local_name!("class") => contains_any(&attr.value, FURNITURE),
        _ => false,
    })
}

/// A table holding data rather than page layout: no nested table and no cell holding
/// block content.
fn is_data_table(tree: &Tree, table: NodeId) -> bool {
    let mut stack = vec![table];
    let mut first = true;
    while let Some(id) = stack.pop() {
        let layout = tree
            .query_node(&id, |node| {
                let layout = match &node.data {
                    NodeData::Element(e) => {
                        matches!(
                            e.name.local,
                            local_name!("table")
                                | local_name!("p")
                                | local_name!("div")
                                | local_name!("ul")
                                | local_name!("ol")
                                | local_name!("h1")
                                | local_name!("h2")
                                | local_name!("h3")
                                | local_name!("blockquote")
                                | local_name!("article")
                                | local_name!("section")
                        ) && !first
                    }
                    _ => false,
                };
                let mut child = node.first_child;
                while let Some(c) = child {
                    stack.push(c);
                    child = tree.query_node(&c, |n| n.next_sibling).flatten();
                }
                layout
            })
            .unwrap_or(false);
        first = false;
        if layout {
            return false;
        }
    }
    true
}

/// Bytes of non-blank text under `root`, scripts and styles excluded (and hidden
/// elements when `visible_only`); counting stops once `limit` is reached. Iterative.
pub(crate) fn text_len(tree: &Tree, root: NodeId, limit: usize, visible_only: bool) -> usize {
    let mut total = 0;
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        let first_child = tree.query_node(&id, |n| match &n.data {
            NodeData::Text { contents } => {
                total += contents.trim().len();
                None
            }
            NodeData::Element(e)
                if matches!(
                    e.name.local,
                    local_name!("script") | local_name!("style") | local_name!("template")
                ) || (visible_only && is_hidden(e)) =>
            {
                None
            }
            NodeData::Element(_) | NodeData::Document | NodeData::Fragment => n.first_child,
            _ => None,
        });
        if total >= limit {
            break;
        }
        let mut child = first_child.flatten();
        while let Some(c) = child {
            stack.push(c);
            child = tree.query_node(&c, |n| n.next_sibling).flatten();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use dom_query::Document;

    fn text(html: &str, options: RenderOptions) -> String {
        let doc = Document::from(html);
        join(&render(&doc.tree, doc.root().id, options))
    }

    const ALL: RenderOptions = RenderOptions {
        include_tables: true,
        skip_chrome: false,
        keep_comments: false,
        skip_furniture: false,
        find_items: false,
    };
    const NO_TABLES: RenderOptions = RenderOptions {
        include_tables: false,
        ..ALL
    };
    const CHROME: RenderOptions = RenderOptions {
        skip_chrome: true,
        ..ALL
    };

    #[test]
    fn blocks_become_lines_and_inline_text_flows() {
        let html = "<h1>Title</h1><p>One <b>bold</b>\n  word.</p><div>Two<br>three</div>";
        assert_eq!(text(html, ALL), "Title\nOne bold word.\nTwo\nthree");
    }

    #[test]
    fn lists_get_markers_and_tables_rows() {
        let html = "<ul><li>a</li><li>b</li></ul><ol><li>x<li>y</ol>\
                    <table><tr><th>k</th><th>v</th></tr><tr><td>1</td><td>2</td></tr></table>";
        assert_eq!(text(html, ALL), "- a\n- b\n1. x\n2. y\nk | v\n1 | 2");
        assert_eq!(text(html, NO_TABLES), "- a\n- b\n1. x\n2. y");
    }

    #[test]
    fn layout_tables_stay_without_tables() {
        let html = "<table><tr><td><p>Real text here.</p></td></tr></table>";
        assert_eq!(text(html, NO_TABLES), "Real text here.");
    }

    #[test]
    fn invisible_and_non_text_elements_are_left_out() {
        let html = "<script>x()</script><style>p{}</style><p hidden>h</p>\
                    <p style='display: none'>n</p><p>seen<span class='sr-only'>sr</span></p>\
                    <button>Click</button><select><option>o</select>";
        assert_eq!(text(html, ALL), "seen");
    }

    #[test]
    fn chrome_is_skipped_only_when_asked() {
        let html = "<nav>Menu</nav><div id='cookie-banner'>We use cookies</div><p>Body</p>\
                    <footer>Foot</footer>";
        assert_eq!(text(html, ALL), "Menu\nWe use cookies\nBody\nFoot");
        assert_eq!(text(html, CHROME), "Body");
    }

    #[test]
    fn the_page_itself_is_never_chrome() {
        // WordPress marks `<body>` with classes such as `comments-open`.
        let html = "<html class='no-comments'><body class='single comments-open cookies-not-set'>\
                    <div class='comments'>A reader</div><p>The article.</p></body></html>";
        assert_eq!(text(html, CHROME), "The article.");
    }

    #[test]
    fn comment_sections_are_chrome_unless_kept() {
        let html = "<div id='cookie-notice'>We use cookies</div><p>The article.</p>\
                    <section class='comments'><p>A reader</p></section>";
        let doc = Document::from(html);
        let page = render_page(&doc.tree, doc.root().id, CHROME);
        assert_eq!(
            (join(&page.lines).as_str(), page.comment_bytes),
            ("The article.", 8)
        );
        let kept = RenderOptions {
            keep_comments: true,
            ..CHROME
        };
        let page = render_page(&doc.tree, doc.root().id, kept);
        assert_eq!(
            (join(&page.lines).as_str(), page.comment_bytes),
            ("The article.\nA reader", 0)
        );
        let doc = Document::from("<p>No comments here.</p>");
        assert_eq!(
            render_page(&doc.tree, doc.root().id, CHROME).comment_bytes,
            0
        );
    }

    /// The lines of the largest group of items `render_page` finds in `html`.
    fn items(html: &str) -> Vec<String> {
        let doc = Document::from(html);
        let options = RenderOptions {
            find_items: true,
            ..CHROME
        };
        let page = render_page(&doc.tree, doc.root().id, options);
        let mut lines: Vec<String> = page
            .items
            .lines
            .iter()
            .flat_map(|range| &page.lines[range.clone()])
            .map(|l| l.text.clone())
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn siblings_alike_with_links_are_items() {
        let card = |n: usize| {
            format!("<div class='card card--{n}'><a href='/{n}'>Item {n}</a><p>{n} EUR</p></div>")
        };
        let cards: String = (1..=5).map(card).collect();
        let html = format!(
            "<h1>Shop</h1><div class='grid'>{cards}<div class='more'>More</div></div>\
             <ul><li><a href='/a'>A</a><li><a href='/b'>B</a></ul>"
        );
        let found = items(&html);
        assert_eq!(found.len(), 10);
        assert!(found.contains(&"Item 3".to_owned()) && found.contains(&"3 EUR".to_owned()));
        // Four cards are not a listing, nor are paragraphs without links.
        let four: String = (1..=4).map(card).collect();
        assert!(items(&format!("<div>{four}</div>")).is_empty());
        assert!(items(&"<p>Prose without links.</p>".repeat(8)).is_empty());
    }

    #[test]
    fn pre_keeps_its_lines() {
        let html = "<p>code:</p><pre>fn main() {\n    x;\n}</pre>";
        assert_eq!(text(html, ALL), "code:\nfn main() {\n    x;\n}");
    }
}
