//! The `url` step: drops documents whose `metadata.url` is on a block list, after
//! datatrove's `URLFilter` (domains, exact URLs, banned words, soft-banned words,
//! banned substrings).
//!
//! List files hold one entry a line; blank lines and lines starting with `#` are
//! skipped. Relative paths are relative to the recipe's folder.

use std::collections::HashSet;
use std::path::Path;

use aho_corasick::AhoCorasick;
use atelier_core::{BoxError, Document, Step, StepConfig, StepError, Verdict};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Drops documents by their URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UrlConfig {
    /// Files of blocked domains; a URL whose host is one of them or under one of them
    /// drops as `url:domain`.
    pub domain_files: Vec<String>,
    /// Blocked domains, in the recipe.
    pub domains: Vec<String>,
    /// Files of blocked URLs, matched exactly: `url:url`.
    pub url_files: Vec<String>,
    /// Files of banned words: a URL with one of them among its words (split at
    /// anything but ASCII letters and digits, lower-cased) drops as `url:banned_word`.
    pub banned_word_files: Vec<String>,
    /// Banned words, in the recipe.
    pub banned_words: Vec<String>,
    /// Files of soft-banned words: `soft_word_threshold` of them drop a URL as
    /// `url:soft_banned_words`.
    pub soft_banned_word_files: Vec<String>,
    /// How many distinct soft-banned words drop a URL.
    pub soft_word_threshold: usize,
    /// Files of banned substrings, looked for in the URL lower-cased with everything
    /// but letters and digits removed: `url:banned_subword`.
    pub banned_subword_files: Vec<String>,
    /// Drop documents without `metadata.url` (`url:missing`) instead of keeping them.
    pub drop_without_url: bool,
}

impl Default for UrlConfig {
    fn default() -> Self {
        UrlConfig {
            domain_files: Vec::new(),
            domains: Vec::new(),
            url_files: Vec::new(),
            banned_word_files: Vec::new(),
            banned_words: Vec::new(),
            soft_banned_word_files: Vec::new(),
            soft_word_threshold: 2,
            banned_subword_files: Vec::new(),
            drop_without_url: false,
        }
    }
}

impl UrlConfig {
    fn files(&self) -> impl Iterator<Item = &String> {
        self.domain_files
            .iter()
            .chain(&self.url_files)
            .chain(&self.banned_word_files)
            .chain(&self.soft_banned_word_files)
            .chain(&self.banned_subword_files)
    }
}

/// The entries of list files: trimmed, without blanks and `#` comments.
fn read_lists(files: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    Ok(out)
}

/// datatrove's `normalize`: lower-case, letters and digits only.
fn normalize(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl StepConfig for UrlConfig {
    const NAME: &'static str = "url";
    const SUMMARY: &'static str =
        "Drop documents whose metadata.url is on block lists of domains, URLs and words.";
    const VERSION: u32 = 1;

    fn resolve_paths(&mut self, recipe_dir: &Path) {
        for file in self
            .domain_files
            .iter_mut()
            .chain(&mut self.url_files)
            .chain(&mut self.banned_word_files)
            .chain(&mut self.soft_banned_word_files)
            .chain(&mut self.banned_subword_files)
        {
            *file = recipe_dir.join(&*file).to_string_lossy().into_owned();
        }
    }

    fn inputs(&self) -> Vec<std::path::PathBuf> {
        self.files().map(std::path::PathBuf::from).collect()
    }

    fn validate(&self, problems: &mut Vec<String>) {
        for file in self.files() {
            if !Path::new(file).is_file() {
                problems.push(format!("list {file:?} is not a file"));
            }
        }
        if self.soft_word_threshold == 0 {
            problems.push("soft_word_threshold must be at least 1".into());
        }
    }

    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        let lower = |v: Vec<String>| -> HashSet<String> {
            v.into_iter().map(|s| s.to_lowercase()).collect()
        };
        let mut domains = lower(read_lists(&self.domain_files)?);
        domains.extend(self.domains.iter().map(|d| d.to_lowercase()));
        let mut banned_words: HashSet<String> = read_lists(&self.banned_word_files)?
            .iter()
            .map(|w| normalize(w))
            .collect();
        banned_words.extend(self.banned_words.iter().map(|w| normalize(w)));
        let soft: HashSet<String> = read_lists(&self.soft_banned_word_files)?
            .iter()
            .map(|w| normalize(w))
            .collect();
        let subwords: Vec<String> = read_lists(&self.banned_subword_files)?
            .iter()
            .map(|w| normalize(w))
            .filter(|w| !w.is_empty())
            .collect();
        Ok(Box::new(Url {
            domains,
            urls: read_lists(&self.url_files)?.into_iter().collect(),
            banned_words,
            soft,
            soft_threshold: self.soft_word_threshold,
            subwords: if subwords.is_empty() {
                None
            } else {
                Some(AhoCorasick::new(&subwords).map_err(|e| e.to_string())?)
            },
            drop_without_url: self.drop_without_url,
        }))
    }
}

struct Url {
    domains: HashSet<String>,
    urls: HashSet<String>,
    banned_words: HashSet<String>,
    soft: HashSet<String>,
    soft_threshold: usize,
    subwords: Option<AhoCorasick>,
    drop_without_url: bool,
}

/// The host of a URL, lower-cased, without user, port or trailing dot.
fn host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    host.trim_end_matches('.').to_lowercase()
}

impl Step for Url {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        let Some(url) = doc.meta_str("url") else {
            return Ok(if self.drop_without_url {
                Verdict::Drop("url:missing")
            } else {
                Verdict::Keep
            });
        };
        if !self.domains.is_empty() {
            let host = host(url);
            let mut domain = host.as_str();
            loop {
                if self.domains.contains(domain) {
                    return Ok(Verdict::Drop("url:domain"));
                }
                match domain.split_once('.') {
                    Some((_, parent)) if !parent.is_empty() => domain = parent,
                    _ => break,
                }
            }
        }
        if self.urls.contains(url) {
            return Ok(Verdict::Drop("url:url"));
        }
        let lower = url.to_ascii_lowercase();
        let words: HashSet<&str> = lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if words.iter().any(|w| self.banned_words.contains(*w)) {
            return Ok(Verdict::Drop("url:banned_word"));
        }
        if !self.soft.is_empty()
            && words.iter().filter(|w| self.soft.contains(**w)).count() >= self.soft_threshold
        {
            return Ok(Verdict::Drop("url:soft_banned_words"));
        }
        if let Some(subwords) = &self.subwords
            && subwords.is_match(&normalize(url))
        {
            return Ok(Verdict::Drop("url:banned_subword"));
        }
        Ok(Verdict::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(step: &mut Box<dyn Step>, url: Option<&str>) -> Verdict {
        let mut doc = Document::new("d", "text");
        if let Some(url) = url {
            doc.metadata.insert("url".into(), url.into());
        }
        step.process(&mut doc).unwrap()
    }

    #[test]
    fn lists_from_files_and_recipe_block_urls() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.to_string_lossy().into_owned()
        };
        let config = UrlConfig {
            domain_files: vec![write("domains.txt", "# blocked\nbad.example\n\n")],
            domains: vec!["Worse.Example".into()],
            url_files: vec![write("urls.txt", "https://ok.example/exact\n")],
            banned_word_files: vec![write("words.txt", "casino\n")],
            soft_banned_word_files: vec![write("soft.txt", "free\nprize\nwin\n")],
            banned_subword_files: vec![write("sub.txt", "xxx\n")],
            ..UrlConfig::default()
        };
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let mut step = config.build().unwrap();
        let cases = [
            ("https://bad.example/page", Verdict::Drop("url:domain")),
            (
                "http://user@www.BAD.example:8080/",
                Verdict::Drop("url:domain"),
            ),
            ("https://sub.worse.example", Verdict::Drop("url:domain")),
            ("https://notbad.example/", Verdict::Keep),
            ("https://ok.example/exact", Verdict::Drop("url:url")),
            ("https://ok.example/exact/more", Verdict::Keep),
            (
                "https://ok.example/Casino-night",
                Verdict::Drop("url:banned_word"),
            ),
            ("https://ok.example/casinos", Verdict::Keep),
            (
                "https://ok.example/free-prize",
                Verdict::Drop("url:soft_banned_words"),
            ),
            ("https://ok.example/free-stuff", Verdict::Keep),
            (
                "https://ok.example/a-x-x-x",
                Verdict::Drop("url:banned_subword"),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(verdict(&mut step, Some(url)), want, "{url}");
        }
        assert_eq!(verdict(&mut step, None), Verdict::Keep);
    }

    #[test]
    fn missing_lists_are_reported_and_missing_urls_can_drop() {
        let mut problems = Vec::new();
        UrlConfig {
            domain_files: vec!["/nonexistent/list.txt".into()],
            ..UrlConfig::default()
        }
        .validate(&mut problems);
        assert_eq!(problems.len(), 1);
        let mut step = UrlConfig {
            drop_without_url: true,
            ..UrlConfig::default()
        }
        .build()
        .unwrap();
        assert_eq!(verdict(&mut step, None), Verdict::Drop("url:missing"));
    }
}
