//! Page metadata read from markup: canonical URL, declared language, published date,
//! and whether the page declares itself an article.
//!
//! The title comes from the main-content pass (which weighs `og:title`, JSON-LD and the
//! `<title>` element); what is here is read before that pass changes the tree.

use dom_query::{Document, NodeData, local_name};
use serde_json::Value;

/// What the page says about itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PageMeta {
    /// `<link rel="canonical" href>`, resolved against the page URL when relative.
    pub canonical_url: Option<String>,
    /// `<html lang>`, else `Content-Language` or `og:locale`.
    pub lang: Option<String>,
    /// The published date, as written on the page.
    pub date: Option<String>,
    /// The page declares itself an article: `og:type` is `article`, or a JSON-LD item
    /// has one of the [`ARTICLE_TYPES`].
    pub article: bool,
}

/// schema.org types of a page whose content is one piece of prose.
const ARTICLE_TYPES: &[&str] = &[
    "Article",
    "NewsArticle",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
    "ReportageNewsArticle",
    "BackgroundNewsArticle",
    "ReviewNewsArticle",
    "BlogPosting",
    "LiveBlogPosting",
    "ScholarlyArticle",
    "TechArticle",
    "Report",
];

/// Meta names and properties (lowercase) that carry the published date, best first.
const DATE_KEYS: &[&str] = &[
    "article:published_time",
    "og:published_time",
    "datepublished",
    "article.published",
    "published_time",
    "publishdate",
    "publish-date",
    "publish_date",
    "pubdate",
    "pub-date",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dcterms.created",
    "dc.date.created",
    "dcterms.date",
    "dc.date",
    "citation_publication_date",
    "citation_date",
    "date",
];

/// Reads the metadata of a parsed page. `page_url` resolves a relative canonical link.
pub(crate) fn read(doc: &Document, page_url: Option<&str>) -> PageMeta {
    let mut meta = PageMeta::default();
    let mut date_rank = usize::MAX;
    let mut content_language = None;
    let mut og_locale = None;

    let html = doc.html_root();
    meta.lang = html
        .attr("lang")
        .or_else(|| html.attr("xml:lang"))
        .and_then(clean);

    for node in doc.root().descendants_it() {
        let interesting = node.query(|n| match &n.data {
            NodeData::Element(e) => match e.name.local {
                local_name!("meta") | local_name!("link") | local_name!("script") => {
                    Some(e.name.local.clone())
                }
                local_name!("time") if e.has_attr("datetime") => Some(e.name.local.clone()),
                _ if e.has_attr("itemprop") => Some(e.name.local.clone()),
                _ => None,
            },
            _ => None,
        });
        let Some(Some(name)) = interesting else {
            continue;
        };
        match name.as_ref() {
            "link" => {
                let is_canonical = node.attr("rel").is_some_and(|rel| {
                    rel.split_ascii_whitespace()
                        .any(|t| t.eq_ignore_ascii_case("canonical"))
                });
                if is_canonical && meta.canonical_url.is_none() {
                    meta.canonical_url = node
                        .attr("href")
                        .and_then(clean)
                        .map(|href| resolve(&href, page_url));
                }
            }
            "meta" => {
                let Some(content) = node.attr("content").and_then(clean) else {
                    continue;
                };
                if let Some(equiv) = node.attr("http-equiv")
                    && equiv.eq_ignore_ascii_case("content-language")
                    && content_language.is_none()
                {
                    content_language = Some(content.clone());
                }
                for key in ["property", "name", "itemprop"] {
                    let Some(key) = node.attr(key) else { continue };
                    let key = key.trim().to_ascii_lowercase();
                    if key == "og:locale" && og_locale.is_none() {
                        og_locale = Some(content.replace('_', "-"));
                    }
                    if key == "og:type" && content.eq_ignore_ascii_case("article") {
                        meta.article = true;
                    }
                    if let Some(rank) = DATE_KEYS.iter().position(|k| *k == key)
                        && rank < date_rank
                    {
                        date_rank = rank;
                        meta.date = Some(content.clone());
                    }
                }
            }
            "script" => {
                let is_ld = node
                    .attr("type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json"));
                if is_ld && let Some(ld) = JsonLd::read(&node.text()) {
                    meta.article |= ld.article;
                    if date_rank > 0
                        && let Some(date) = ld.date
                    {
                        date_rank = 0;
                        meta.date = Some(date);
                    }
                }
            }
            _ => {
                // `itemprop="datePublished"` on any element, or a `time` element.
                let itemprop = node.attr("itemprop").map(|p| p.trim().to_ascii_lowercase());
                let value = node
                    .attr("datetime")
                    .or_else(|| node.attr("content"))
                    .and_then(clean);
                let rank = match (itemprop.as_deref(), name.as_ref()) {
                    (Some("datepublished"), _) => DATE_KEYS.len(),
                    (_, "time") if node.has_attr("pubdate") => DATE_KEYS.len() + 1,
                    (_, "time") => DATE_KEYS.len() + 2,
                    _ => continue,
                };
                if rank < date_rank
                    && let Some(value) = value
                {
                    date_rank = rank;
                    meta.date = Some(value);
                }
            }
        }
    }
    if meta.lang.is_none() {
        meta.lang = content_language.or(og_locale);
    }
    meta
}

/// Trims a value; `None` when nothing is left.
fn clean(value: impl AsRef<str>) -> Option<String> {
    let value = value.as_ref().trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// What a JSON-LD block says of the page.
struct JsonLd {
    /// The first `datePublished` string, else the first `dateCreated`.
    date: Option<String>,
    /// Whether an item's `@type` is one of the [`ARTICLE_TYPES`].
    article: bool,
}

impl JsonLd {
    /// Reads one `<script type="application/ld+json">` block; `None` when it is not JSON.
    fn read(text: &str) -> Option<JsonLd> {
        let text = text.trim();
        let text = text
            .strip_prefix("<![CDATA[")
            .and_then(|t| t.strip_suffix("]]>"))
            .unwrap_or(text);
        let value: Value = serde_json::from_str(text.trim()).ok()?;
        let (mut published, mut created, mut article) = (None, None, false);
        let mut stack = vec![&value];
        while let Some(value) = stack.pop() {
            match value {
                Value::Object(map) => {
                    if published.is_none() {
                        published = map.get("datePublished").and_then(first_string);
                    }
                    if created.is_none() {
                        created = map.get("dateCreated").and_then(first_string);
                    }
                    article |= map.get("@type").is_some_and(|t| match t {
                        Value::String(t) => ARTICLE_TYPES.contains(&t.as_str()),
                        Value::Array(ts) => ts
                            .iter()
                            .any(|t| t.as_str().is_some_and(|t| ARTICLE_TYPES.contains(&t))),
                        _ => false,
                    });
                    stack.extend(map.values().rev());
                }
                Value::Array(items) => stack.extend(items.iter().rev()),
                _ => {}
            }
        }
        Some(JsonLd {
            date: published.or(created),
            article,
        })
    }
}

fn first_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => clean(s),
        Value::Array(items) => items.iter().find_map(first_string),
        _ => None,
    }
}

/// Resolves `href` against `base` for the common relative forms (`//host/x`, `/x`, `x`);
/// anything already absolute, or without a usable base, is returned as is.
fn resolve(href: &str, base: Option<&str>) -> String {
    let has_scheme = href.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    let Some(base) = base.filter(|_| !has_scheme) else {
        return href.to_owned();
    };
    let Some((scheme, rest)) = base.split_once("://") else {
        return href.to_owned();
    };
    if let Some(net) = href.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = &base[..scheme.len() + 3 + host_end];
    if href.starts_with('/') {
        return format!("{origin}{href}");
    }
    let path = &rest[host_end..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    format!("{origin}{dir}{href}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(html: &str) -> PageMeta {
        read(
            &Document::from(html),
            Some("https://example.org/news/story.html?x=1"),
        )
    }

    #[test]
    fn canonical_lang_and_meta_date() {
        let m = meta(
            r#"<html lang="de-AT"><head><link rel="Canonical" href="/a/b">
               <meta name="date" content="2020-01-01">
               <meta property="article:published_time" content="2024-05-06T07:08:09Z">
               </head><body></body></html>"#,
        );
        assert_eq!(m.canonical_url.as_deref(), Some("https://example.org/a/b"));
        assert_eq!(m.lang.as_deref(), Some("de-AT"));
        assert_eq!(m.date.as_deref(), Some("2024-05-06T07:08:09Z"));
    }

    #[test]
    fn json_ld_and_time_elements() {
        let m = meta(
            r#"<script type="application/ld+json">{"@graph":[{"@type":"WebPage"},
               {"@type":"NewsArticle","datePublished":"2023-02-03"}]}</script>
               <time datetime="2001-01-01">x</time>"#,
        );
        assert_eq!(m.date.as_deref(), Some("2023-02-03"));
        assert!(m.article, "a NewsArticle item in the graph");
        let m = meta(r#"<p>By x, <time datetime="2019-09-09T10:00">Sept 9</time></p>"#);
        assert!(!m.article);
        assert_eq!(m.date.as_deref(), Some("2019-09-09T10:00"));
        assert_eq!(m.canonical_url, None);
        assert_eq!(m.lang, None);
    }

    #[test]
    fn a_page_declares_itself_an_article() {
        assert!(meta(r#"<meta property="og:type" content="Article">"#).article);
        assert!(!meta(r#"<meta property="og:type" content="website">"#).article);
        let ld = |t: &str| {
            meta(&format!(
                r#"<script type="application/ld+json">{t}</script>"#
            ))
        };
        assert!(ld(r#"{"@type":["WebPage","BlogPosting"]}"#).article);
        assert!(!ld(r#"{"@type":"Product","offers":{"@type":"Offer"}}"#).article);
        assert!(!ld(r#"{"@type":"Article""#).article, "not JSON");
    }

    #[test]
    fn language_falls_back_to_meta() {
        let m = meta(r#"<meta http-equiv="Content-Language" content="fr">"#);
        assert_eq!(m.lang.as_deref(), Some("fr"));
        let m = meta(r#"<meta property="og:locale" content="pt_BR">"#);
        assert_eq!(m.lang.as_deref(), Some("pt-BR"));
    }

    #[test]
    fn relative_urls_resolve() {
        let base = Some("https://h.org/a/b.html?q#f");
        assert_eq!(resolve("c.html", base), "https://h.org/a/c.html");
        assert_eq!(resolve("/c", base), "https://h.org/c");
        assert_eq!(resolve("//cdn.org/c", base), "https://cdn.org/c");
        assert_eq!(resolve("http://o.org/", base), "http://o.org/");
        assert_eq!(resolve("c", None), "c");
        assert_eq!(resolve("c", Some("https://h.org")), "https://h.org/c");
    }
}
