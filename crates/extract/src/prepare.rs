//! Fixes to the parsed page before either pass looks at it.
//!
//! Pages that render with JavaScript often ship their whole content hidden: a wrapper
//! with `visibility: hidden` lifted once scripts run, or React's streamed chunks in
//! `<div hidden id="S:0">` moved into place by a script. Both passes skip hidden elements,
//! which would leave such pages empty, so a hidden element holding more text than the
//! visible rest of the page (or a streamed chunk) is made visible here, as is what a
//! reader opens with a click: hidden tab panels (`role="tabpanel"`: the code for each
//! language of a quickstart), the panels that a button names in `aria-controls` (a
//! product's specifications) and those whose class names an FAQ or an accordion.
//! `aria-hidden` only hides from screen readers (it marks duplicate links and
//! decorations, not invisible text), so it is removed from elements that hold text.

use std::collections::HashSet;

use dom_query::{Document, NodeData, NodeRef, local_name};

use crate::render::{contains_any, is_hidden, text_len};

/// A hidden element is shown when it holds more text than this times the page's
/// visible text (the page is mostly hidden)...
const SHOW_SHARE: f64 = 1.0;
/// ... and at least this many bytes of it.
const SHOW_MIN_BYTES: usize = 200;

/// Words in the class of a panel that a reader opens: an FAQ's answers, an accordion's
/// sections, often hidden by an inline style and opened by a script without ARIA.
const PANELS: &[&str] = &["faq", "answer", "accordion"];

/// Applies the fixes to `doc` in place.
pub(crate) fn prepare(doc: &Document) {
    let Some(body) = doc.body() else { return };
    let tree = &doc.tree;
    let visible = text_len(tree, body.id, usize::MAX, true);
    let mut to_show = Vec::new();
    let mut aria = Vec::new();
    // Hidden elements with an id, and the ids that controls on the page open.
    let mut hidden_ids = Vec::new();
    let mut controlled = HashSet::new();
    for node in body.descendants_it() {
        let verdict = node.query(|n| match &n.data {
            NodeData::Element(e) => {
                let id = e.attr_ref(local_name!("id"));
                let streamed = id.is_some_and(|id| id.starts_with("S:")) && e.has_attr("hidden");
                let hidden = streamed || is_hidden(e);
                // Whether it is a panel matters only when it is hidden.
                let panel = hidden
                    && (e
                        .attr_ref(local_name!("role"))
                        .is_some_and(|r| r.trim().eq_ignore_ascii_case("tabpanel"))
                        || e.attr_ref(local_name!("class"))
                            .is_some_and(|c| contains_any(c, PANELS)));
                let aria_hidden = e
                    .attr_ref(local_name!("aria-hidden"))
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
                if let Some(ids) = e.attr_ref(local_name!("aria-controls")) {
                    controlled.extend(ids.split_ascii_whitespace().map(str::to_owned));
                }
                let id = id.filter(|_| hidden).map(|id| id.trim().to_owned());
                Some((streamed || panel, hidden, aria_hidden, id))
            }
            _ => None,
        });
        // A streamed chunk, a tab panel or another panel is shown whatever it holds.
        let Some(Some((always, hidden, aria_hidden, id))) = verdict else {
            continue;
        };
        if hidden {
            let mostly_hidden = || {
                let len = text_len(tree, node.id, usize::MAX, false);
                len >= SHOW_MIN_BYTES && len as f64 >= SHOW_SHARE * visible as f64
            };
            if always || mostly_hidden() {
                to_show.push(node.id);
            } else if let Some(id) = id {
                hidden_ids.push((node.id, id));
            }
        }
        if aria_hidden && text_len(tree, node.id, 1, false) > 0 {
            aria.push(node.id);
        }
    }
    // What a disclosure button or an accordion's header opens (`aria-controls`).
    to_show.extend(
        hidden_ids
            .into_iter()
            .filter(|(_, id)| controlled.contains(id))
            .map(|(node, _)| node),
    );
    for id in to_show {
        NodeRef::new(id, tree).remove_attrs(&["hidden", "style", "aria-hidden"]);
    }
    for id in aria {
        NodeRef::new(id, tree).remove_attr("aria-hidden");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(html: &str) -> Document {
        let doc = Document::from(html);
        prepare(&doc);
        doc
    }

    #[test]
    fn a_hidden_page_wrapper_is_shown() {
        let text = "Long article text. ".repeat(30);
        let doc = prepared(&format!(
            "<body><div style='visibility:hidden'><p>{text}</p><p hidden>tiny</p></div></body>"
        ));
        assert_eq!(doc.select("div[style]").length(), 0);
        assert_eq!(
            doc.select("p[hidden]").length(),
            1,
            "small hidden parts stay hidden"
        );
    }

    #[test]
    fn streamed_chunks_are_shown_and_aria_hidden_text_kept() {
        let doc = prepared(
            "<body><p>x</p><div hidden id='S:0'>chunk</div><a aria-hidden='true'>desc</a>\
             <span aria-hidden='true'></span></body>",
        );
        assert_eq!(doc.select("[hidden]").length(), 0);
        assert_eq!(doc.select("a[aria-hidden]").length(), 0);
        assert_eq!(doc.select("span[aria-hidden]").length(), 1);
    }

    #[test]
    fn hidden_tab_panels_are_shown() {
        let doc = prepared(
            "<body><div role='tablist'><button>Node.js</button><button>Java</button></div>\
             <div role='tabpanel'>npm install</div>\
             <div role='tabpanel' hidden style='display:none'>mvn install</div>\
             <p hidden>a hidden note</p></body>",
        );
        assert_eq!(doc.select("[role=tabpanel][hidden]").length(), 0);
        assert_eq!(doc.select("[role=tabpanel][style]").length(), 0);
        assert_eq!(
            doc.select("p[hidden]").length(),
            1,
            "other hidden parts stay"
        );
    }
}
