//! Recognises lines of page furniture by their wording and links, and trims them from
//! the edges of the main text.
//!
//! Readability-style extraction keeps the article's container, and with it what sits at
//! its edges: breadcrumbs, bylines and dates above the text; share prompts, "related"
//! links, newsletter sign-ups and copyright notices below it. Only the edges are
//! trimmed, and only while lines look like that, so text in the middle is never touched.

use crate::render::Line;

/// A line with at least this share of link text is navigation-like.
const LINKY: f64 = 0.5;
/// Furniture lines are short: at most this many words.
const SHORT_WORDS: usize = 12;

/// Removes furniture lines from the start and the end of the main text.
pub(crate) fn trim_edges(mut lines: Vec<Line>) -> Vec<Line> {
    let head = lines.iter().take_while(|l| is_head_furniture(l)).count();
    lines.drain(..head);
    let tail = lines
        .iter()
        .rev()
        .take_while(|l| is_tail_furniture(l))
        .count();
    lines.truncate(lines.len() - tail);
    lines
}

/// Furniture above an article: breadcrumbs and author links, datelines, "By ...",
/// "Updated ...", photo credits (headings aside), legal notices.
fn is_head_furniture(line: &Line) -> bool {
    let words = word_count(&line.text);
    (line.link_density() >= LINKY && words <= 10)
        || (!line.heading
            && words <= SHORT_WORDS
            && (looks_like_date(&line.text) || starts_with_credit(&line.text)))
        || is_legal(&line.text)
}

/// Furniture below an article: link lists, legal notices, and short lines about sharing,
/// subscribing, comments or related stories.
fn is_tail_furniture(line: &Line) -> bool {
    line.link_density() >= LINKY
        || is_legal(&line.text)
        || (word_count(&line.text) <= SHORT_WORDS && mentions_follow_up(&line.text))
}

/// Whether a line is a legal or site notice: copyright, rights reserved, privacy or
/// cookie policy, terms of use.
pub(crate) fn is_legal(line: &str) -> bool {
    if line.len() > 300 {
        return false;
    }
    line.contains('©')
        || contains_any_lower(
            line,
            &[
                "copyright",
                "all rights reserved",
                "privacy policy",
                "terms of use",
                "terms of service",
                "cookie",
            ],
        )
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Case-insensitive (Unicode lowercase) search for any of `words`, given in lowercase.
fn contains_any_lower(text: &str, words: &[&str]) -> bool {
    let lower = text.to_lowercase();
    words.iter().any(|w| lower.contains(w))
}

/// Starts like a byline or credit: "By", "Posted", "Published", "Updated", "Photo", ...
fn starts_with_credit(text: &str) -> bool {
    const STARTS: &[&str] = &[
        "by",
        "posted",
        "published",
        "updated",
        "photo",
        "image",
        "credit",
        "source",
        "written by",
        "reading time",
        "last updated",
        "first published",
    ];
    let lower = text.trim_start_matches(['-', ' ', '|']).to_lowercase();
    STARTS.iter().any(|s| {
        lower.starts_with(s) && !lower[s.len()..].starts_with(|c: char| c.is_alphanumeric())
    })
}

/// Mentions what follows an article: sharing, subscribing, comments, related stories.
fn mentions_follow_up(text: &str) -> bool {
    contains_any_lower(
        text,
        &[
            "share",
            "subscribe",
            "sign up",
            "newsletter",
            "follow us",
            "comment",
            "related",
            "you may also like",
            "read more",
            "more from",
            "recommended",
            "popular",
            "trending",
            "advert",
            "filed under",
            "tags:",
        ],
    )
}

/// Month name prefixes, English.
const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Looks like a dateline: a year (19xx, 20xx), a clock time, a numeric date, "ago", or a
/// month name next to a day number.
fn looks_like_date(text: &str) -> bool {
    let tokens: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let is_day = |t: &str| t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit());
    let is_month = |t: &str| {
        t.len() >= 3
            && t.len() <= 9
            && t.chars().all(|c| c.is_ascii_alphabetic())
            && MONTHS.iter().any(|m| t[..3].eq_ignore_ascii_case(m))
    };
    for (i, token) in tokens.iter().enumerate() {
        let year = token.len() == 4
            && token.bytes().all(|b| b.is_ascii_digit())
            && (token.starts_with("19") || token.starts_with("20"));
        if year || token.eq_ignore_ascii_case("ago") {
            return true;
        }
        if is_month(token)
            && (tokens.get(i + 1).is_some_and(|t| is_day(t)) || (i > 0 && is_day(tokens[i - 1])))
        {
            return true;
        }
    }
    // A clock time (7:05) or a numeric date (19/11/2019).
    let bytes = text.as_bytes();
    bytes.windows(4).any(|w| {
        w[0].is_ascii_digit()
            && matches!(w[1], b':' | b'/' | b'.')
            && w[2].is_ascii_digit()
            && w[3].is_ascii_digit()
            && (w[1] != b'.' || bytes.len() < 40)
    })
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

    #[test]
    fn legal_lines() {
        assert!(is_legal("© 2024 Example Inc."));
        assert!(is_legal("Copyright 2019 Jpost Inc. All rights reserved"));
        assert!(is_legal("We use cookies to improve your experience."));
        assert!(!is_legal(
            &"The court ruled on the copyright case, a long story. ".repeat(6)
        ));
        assert!(!is_legal("An ordinary sentence about rights."));
    }

    #[test]
    fn dates_and_credits() {
        for date in [
            "Updated 1:39 am EST, Wednesday, November 20, 2019",
            "Nov 18, 2019 @17:19 PM",
            "18 NOV 2019",
            "Published 1 day ago",
            "19/11/2019",
        ] {
            assert!(looks_like_date(date), "{date}");
        }
        assert!(!looks_like_date("The minister spoke for an hour."));
        assert!(starts_with_credit("By Justine Coleman"));
        assert!(starts_with_credit("Photo: Hau Dinh, AP"));
        assert!(!starts_with_credit("Byzantine art was everywhere."));
    }

    #[test]
    fn edges_are_trimmed_and_the_middle_kept() {
        let body = "The council voted on Tuesday to approve the new budget for the city.";
        let lines = vec![
            line("Home > News", 11),
            line("By Jane Doe", 0),
            line("November 19, 2019", 0),
            line(body, 0),
            line("Share this article", 0),
            line(body, 0),
            line("Related stories", 0),
            line("Another story entirely", 22),
            line("© 2019 Example News", 0),
        ];
        let kept: Vec<String> = trim_edges(lines).into_iter().map(|l| l.text).collect();
        assert_eq!(kept, [body, "Share this article", body]);
    }
}
