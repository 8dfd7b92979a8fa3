//! Fixes to the parsed page before either pass looks at it.
//!
//! Pages that render with JavaScript often ship their whole content hidden: a wrapper
//! with `visibility: hidden` lifted once scripts run, or React's streamed chunks in
//! `<div hidden id="S:0">` moved into place by a script. Both passes skip hidden elements,
//! which would leave such pages empty, so a hidden element holding a large share of the
//! page's text (or a streamed chunk) is made visible here. `aria-hidden` only hides from
//! screen readers (it marks duplicate links and decorations, not invisible text), so it
//! is removed from elements that hold text.

use dom_query::{Document, NodeData, NodeId, NodeRef, local_name};

use crate::render::is_hidden;

/// A hidden element is shown when it holds at least this share of the page's text...
const SHOW_SHARE: f64 = 0.25;
/// ... and at least this many bytes of it.
const SHOW_MIN_BYTES: usize = 200;

/// Applies the fixes to `doc` in place.
pub(crate) fn prepare(doc: &Document) {
    let Some(body) = doc.body() else { return };
    let tree = &doc.tree;
    let lengths = text_lengths(doc, body.id);
    let total = lengths.get(body.id.value()).copied().unwrap_or(0);
    let mut to_show = Vec::new();
    let mut aria = Vec::new();
    for node in body.descendants_it() {
        let verdict = node.query(|n| match &n.data {
            NodeData::Element(e) => {
                let streamed = e.attr_ref(local_name!("id")).is_some_and(|id| id.starts_with("S:"))
                    && e.has_attr("hidden");
                let hidden = streamed || is_hidden(e);
                let aria_hidden = e
                    .attr_ref(local_name!("aria-hidden"))
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
                Some((streamed, hidden, aria_hidden))
            }
            _ => None,
        });
        let Some(Some((streamed, hidden, aria_hidden))) = verdict else { continue };
        let len = lengths.get(node.id.value()).copied().unwrap_or(0);
        if hidden
            && (streamed || (len >= SHOW_MIN_BYTES && len as f64 >= SHOW_SHARE * total as f64))
        {
            to_show.push(node.id);
        }
        if aria_hidden && len > 0 {
            aria.push(node.id);
        }
    }
    for id in to_show {
        let node = NodeRef::new(id, tree);
        node.remove_attrs(&["hidden", "style", "aria-hidden"]);
    }
    for id in aria {
        NodeRef::new(id, tree).remove_attr("aria-hidden");
    }
}

/// Bytes of non-blank text under each node (indexed by node id), scripts and styles
/// excluded. One iterative post-order walk.
fn text_lengths(doc: &Document, root: NodeId) -> Vec<usize> {
    let tree = &doc.tree;
    let mut lengths = vec![0usize; tree.len()];
    // (node, children already pushed)
    let mut stack: Vec<(NodeId, bool)> = vec![(root, false)];
    while let Some((id, expanded)) = stack.pop() {
        if expanded {
            let parent = tree.query_node(&id, |n| n.parent).flatten();
            let own = lengths.get(id.value()).copied().unwrap_or(0);
            if let Some(parent) = parent.filter(|_| id != root) {
                if let Some(slot) = lengths.get_mut(parent.value()) {
                    *slot += own;
                }
            }
            continue;
        }
        let first_child = tree.query_node(&id, |n| match &n.data {
            NodeData::Text { contents } => {
                if let Some(slot) = lengths.get_mut(id.value()) {
                    *slot = contents.trim().len();
                }
                None
            }
            NodeData::Element(e)
                if matches!(
                    e.name.local,
                    local_name!("script") | local_name!("style") | local_name!("template")
                ) =>
            {
                None
            }
            NodeData::Element(_) | NodeData::Document | NodeData::Fragment => n.first_child,
            _ => None,
        });
        stack.push((id, true));
        let mut child = first_child.flatten();
        while let Some(c) = child {
            stack.push((c, false));
            child = tree.query_node(&c, |n| n.next_sibling).flatten();
        }
    }
    lengths
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
        assert_eq!(doc.select("p[hidden]").length(), 1, "small hidden parts stay hidden");
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
}
