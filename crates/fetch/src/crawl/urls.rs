//! URLs: normalization (the seen-set's key), the host a URL counts against, links out of
//! HTML and locations out of sitemaps.

use regex::Regex;
use std::sync::LazyLock;
use url::Url;

/// `url` resolved against `base` and normalized: fragment dropped, scheme and host
/// lowercase, default port and dot segments removed, percent-encoding as the URL
/// standard writes it. `None` for what is not an `http`/`https` URL with a host.
pub fn normalize(base: Option<&Url>, url: &str) -> Option<Url> {
    let url = url.trim();
    let mut parsed = match base {
        Some(base) => base.join(url).ok()?,
        None => Url::parse(url).ok()?,
    };
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return None;
    }
    parsed.set_fragment(None);
    if parsed.query() == Some("") {
        parsed.set_query(None);
    }
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    Some(parsed)
}

/// The host a URL's requests count against for politeness: host and port.
pub fn host_key(url: &Url) -> String {
    match url.port_or_known_default() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    }
}

/// The links of an HTML page (`<a href>`, `<area href>`, `<frame src>`,
/// `<iframe src>`), as written (entities `&amp;` and friends decoded), honouring
/// `<base href>`; the caller resolves them against the page's URL.
pub fn html_links(html: &str) -> (Option<String>, Vec<String>) {
    static LINK: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?is)<(a|area|base|frame|iframe)\b[^>]*?\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#,
        )
        .expect("valid regex")
    });
    let mut base = None;
    let mut links = Vec::new();
    for caps in LINK.captures_iter(html) {
        let value = caps
            .get(2)
            .or_else(|| caps.get(3))
            .or_else(|| caps.get(4))
            .map_or("", |m| m.as_str());
        let value = decode_entities(value);
        if caps[1].eq_ignore_ascii_case("base") {
            base.get_or_insert(value);
        } else if !value.is_empty() {
            links.push(value);
        }
    }
    (base, links)
}

/// The `<loc>` entries of a sitemap, and whether it is a sitemap index (its entries
/// are sitemaps).
pub fn sitemap_locs(xml: &str) -> (bool, Vec<String>) {
    static LOC: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?is)<loc>\s*(.*?)\s*</loc>").expect("valid regex"));
    let index = xml.contains("<sitemapindex");
    let locs = LOC
        .captures_iter(xml)
        .map(|caps| {
            decode_entities(
                caps[1]
                    .trim_start_matches("<![CDATA[")
                    .trim_end_matches("]]>"),
            )
        })
        .collect();
    (index, locs)
}

/// The five XML entities and numeric references.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_drops_what_does_not_name_another_page() {
        let n = |u: &str| normalize(None, u).map(|u| u.to_string());
        assert_eq!(
            n("HTTP://Example.COM:80/a/./b/../c?#frag").as_deref(),
            Some("http://example.com/a/c")
        );
        assert_eq!(
            n("https://u:p@x.org:443").as_deref(),
            Some("https://x.org/")
        );
        assert_eq!(
            n("http://x.org/%7Euser?q=1").as_deref(),
            Some("http://x.org/%7Euser?q=1")
        );
        assert_eq!(n("mailto:a@b.c"), None);
        assert_eq!(n("ftp://x.org/"), None);
        let base = Url::parse("http://x.org/dir/page.html").unwrap();
        assert_eq!(
            normalize(Some(&base), "../other.html#top")
                .unwrap()
                .as_str(),
            "http://x.org/other.html"
        );
        assert_eq!(normalize(Some(&base), "javascript:void(0)"), None);
        assert_eq!(host_key(&base), "x.org:80");
    }

    #[test]
    fn links_come_out_of_html_with_entities_decoded() {
        let (base, links) = html_links(
            r#"<base href="/b/"><A HREF="one.html">1</A> <a class=x href='two?a=1&amp;b=2'>
            <a href=three.html>3</a><img src="no.png"><iframe src="frame.html"></iframe><a name="x">"#,
        );
        assert_eq!(base.as_deref(), Some("/b/"));
        assert_eq!(
            links,
            ["one.html", "two?a=1&b=2", "three.html", "frame.html"]
        );
    }

    #[test]
    fn sitemap_locations_and_indexes() {
        let (index, locs) = sitemap_locs(
            "<urlset><url><loc> http://x.org/a?b=1&amp;c=2 </loc></url><url><loc><![CDATA[http://x.org/b]]></loc></url></urlset>",
        );
        assert!(!index);
        assert_eq!(locs, ["http://x.org/a?b=1&c=2", "http://x.org/b"]);
        let (index, locs) = sitemap_locs(
            "<sitemapindex><sitemap><loc>http://x.org/s1.xml</loc></sitemap></sitemapindex>",
        );
        assert!(index);
        assert_eq!(locs, ["http://x.org/s1.xml"]);
    }
}
