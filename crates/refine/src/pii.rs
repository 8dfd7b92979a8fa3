//! The `pii` step: replaces e-mail addresses and public IP addresses as datatrove's
//! `PIIFormatter` does, plus patterns the recipe adds, and records how many of each
//! kind it replaced in `metadata.pii`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use atelier_core::{BoxError, Document, Step, StepConfig, StepError, Verdict};
use regex::{Captures, Regex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// datatrove's e-mail pattern.
const EMAIL: &str = r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])";
/// datatrove's IPv4 pattern.
const IPV4: &str =
    r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)";

/// One extra pattern to replace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PiiPattern {
    /// The kind, as counted in `metadata.pii` (for example `phone`).
    pub name: String,
    /// A regular expression (Rust `regex` syntax, no look-around).
    pub regex: String,
    /// What each match becomes.
    pub replacement: String,
}

/// Replaces personal data in the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PiiConfig {
    /// Replace e-mail addresses.
    pub emails: bool,
    /// Replace IPv4 addresses.
    pub ips: bool,
    /// Replace only global (public) addresses, as Python's `ipaddress.is_global`.
    pub only_public_ips: bool,
    /// Replacements for e-mail addresses, used in turn.
    pub email_replacement: Vec<String>,
    /// Replacements for IP addresses, used in turn.
    pub ip_replacement: Vec<String>,
    /// More patterns, applied after e-mails and IPs in this order.
    pub patterns: Vec<PiiPattern>,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            emails: true,
            ips: true,
            only_public_ips: true,
            email_replacement: vec![
                "email@example.com".into(),
                "firstname.lastname@example.org".into(),
            ],
            ip_replacement: [
                "22.214.171.124",
                "126.96.36.199",
                "188.8.131.52",
                "184.108.40.206",
                "220.127.116.11",
                "18.104.22.168",
            ]
            .map(String::from)
            .to_vec(),
            patterns: Vec::new(),
        }
    }
}

impl StepConfig for PiiConfig {
    const NAME: &'static str = "pii";
    const SUMMARY: &'static str =
        "Replace e-mail addresses, public IPs and recipe patterns; count them in metadata.pii.";
    const VERSION: u32 = 1;

    fn validate(&self, problems: &mut Vec<String>) {
        if self.emails && self.email_replacement.is_empty() {
            problems.push("email_replacement is empty".into());
        }
        if self.ips && self.ip_replacement.is_empty() {
            problems.push("ip_replacement is empty".into());
        }
        for p in &self.patterns {
            if let Err(e) = Regex::new(&p.regex) {
                problems.push(format!("pattern {:?}: {e}", p.name));
            }
            if p.name.is_empty() {
                problems.push("a pattern has an empty name".into());
            }
        }
    }

    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        let mut replacers = Vec::new();
        if self.emails {
            replacers.push(Replacer {
                kind: "email".into(),
                regex: Regex::new(EMAIL).expect("compiles"),
                replacements: self.email_replacement.clone(),
                next: 0,
                check: Check::None,
            });
        }
        if self.ips {
            replacers.push(Replacer {
                kind: "ip".into(),
                regex: Regex::new(IPV4).expect("compiles"),
                replacements: self.ip_replacement.clone(),
                next: 0,
                check: if self.only_public_ips {
                    Check::PublicIp
                } else {
                    Check::Ip
                },
            });
        }
        for p in &self.patterns {
            replacers.push(Replacer {
                kind: p.name.clone(),
                regex: Regex::new(&p.regex).map_err(|e| e.to_string())?,
                replacements: vec![p.replacement.clone()],
                next: 0,
                check: Check::None,
            });
        }
        Ok(Box::new(Pii {
            replacers,
            counted: BTreeMap::new(),
        }))
    }
}

/// What a match must also be to be replaced.
enum Check {
    None,
    /// A valid IPv4 address (no leading zeros, as Python's `ipaddress`).
    Ip,
    /// A valid, globally routable IPv4 address.
    PublicIp,
}

/// Python's `ipaddress.ip_address(text).is_global` (3.11), `None` when invalid.
fn python_ip(text: &str) -> Option<bool> {
    if text.split('.').any(|o| o.len() > 1 && o.starts_with('0')) {
        return None;
    }
    let ip: Ipv4Addr = text.parse().ok()?;
    let bits = u32::from(ip);
    let within = |net: [u8; 4], prefix: u32| {
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        bits & mask == u32::from(Ipv4Addr::from(net)) & mask
    };
    let private = [
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 29),
        ([192, 0, 0, 170], 31),
        ([192, 0, 2, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([240, 0, 0, 0], 4),
        ([255, 255, 255, 255], 32),
    ]
    .iter()
    .any(|&(net, prefix)| within(net, prefix));
    Some(!within([100, 64, 0, 0], 10) && !private)
}

struct Replacer {
    kind: String,
    regex: Regex,
    replacements: Vec<String>,
    /// The next replacement to use; like datatrove's, it carries over documents.
    next: usize,
    check: Check,
}

impl Replacer {
    /// Replaces the matches in `text`; returns the new text (if any) and the count.
    fn apply(&mut self, text: &str) -> (Option<String>, u64) {
        let mut replaced = 0;
        let out = self.regex.replace_all(text, |caps: &Captures<'_>| {
            let m = &caps[0];
            let valid = match self.check {
                Check::None => true,
                Check::Ip => python_ip(m).is_some(),
                Check::PublicIp => python_ip(m) == Some(true),
            };
            if !valid {
                return m.to_string();
            }
            replaced += 1;
            let r = self.replacements[self.next].clone();
            self.next = (self.next + 1) % self.replacements.len();
            r
        });
        match out {
            std::borrow::Cow::Owned(s) if replaced > 0 => (Some(s), replaced),
            _ => (None, replaced),
        }
    }
}

struct Pii {
    replacers: Vec<Replacer>,
    /// Replacements by kind since the runner last took them.
    counted: BTreeMap<String, u64>,
}

impl Step for Pii {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        let mut counts = Map::new();
        for r in &mut self.replacers {
            let (text, n) = r.apply(&doc.text);
            if let Some(text) = text {
                doc.text = text;
            }
            if n > 0 {
                *self.counted.entry(r.kind.clone()).or_default() += n;
                let total = counts.get(&r.kind).and_then(Value::as_u64).unwrap_or(0) + n;
                counts.insert(r.kind.clone(), Value::from(total));
            }
        }
        if !counts.is_empty() {
            doc.metadata.insert("pii".into(), Value::Object(counts));
        }
        Ok(Verdict::Keep)
    }

    fn take_counts(&mut self, into: &mut BTreeMap<String, u64>) {
        for (kind, n) in std::mem::take(&mut self.counted) {
            *into.entry(kind).or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &PiiConfig, texts: &[&str]) -> Vec<Document> {
        let mut step = config.build().unwrap();
        texts
            .iter()
            .map(|t| {
                let mut doc = Document::new("d", *t);
                assert_eq!(step.process(&mut doc).unwrap(), Verdict::Keep);
                doc
            })
            .collect()
    }

    #[test]
    fn emails_and_public_ips_are_replaced_in_turn_and_counted() {
        let docs = run(
            &PiiConfig::default(),
            &[
                "Write to jane.doe@mail.example.net or bob+x@corp.io from 8.8.8.8.",
                "Private 192.168.1.4, loopback 127.0.0.1, leading zero 08.8.8.8 stay; 1.1.1.1 goes.",
                "nothing here",
            ],
        );
        assert_eq!(
            docs[0].text,
            "Write to email@example.com or firstname.lastname@example.org from 22.214.171.124."
        );
        assert_eq!(
            docs[0].metadata["pii"],
            serde_json::json!({"email": 2, "ip": 1})
        );
        // The IP replacements continue where the last document left off. The pattern
        // takes "08.8.8.8" whole, and Python rejects its leading zero: it stays.
        assert_eq!(
            docs[1].text,
            "Private 192.168.1.4, loopback 127.0.0.1, leading zero 08.8.8.8 stay; 126.96.36.199 goes."
        );
        assert_eq!(docs[1].metadata["pii"], serde_json::json!({"ip": 1}));
        assert!(!docs[2].metadata.contains_key("pii"));
    }

    #[test]
    fn python_ip_rules() {
        assert_eq!(python_ip("8.8.8.8"), Some(true));
        assert_eq!(python_ip("100.64.0.1"), Some(false));
        assert_eq!(python_ip("192.0.0.9"), Some(true));
        assert_eq!(
            python_ip("224.0.0.1"),
            Some(true),
            "multicast is global in 3.11"
        );
        assert_eq!(python_ip("01.2.3.4"), None);
    }

    #[test]
    fn recipe_patterns_are_counted_by_name() {
        let config = PiiConfig {
            patterns: vec![PiiPattern {
                name: "phone".into(),
                regex: r"\+?\d{3}[- ]\d{3}[- ]\d{4}".into(),
                replacement: "<PHONE>".into(),
            }],
            ..PiiConfig::default()
        };
        let docs = run(&config, &["Call 555-123-4567 or +123 456 7890."]);
        assert_eq!(docs[0].text, "Call <PHONE> or <PHONE>.");
        assert_eq!(docs[0].metadata["pii"], serde_json::json!({"phone": 2}));
        let mut problems = Vec::new();
        PiiConfig {
            patterns: vec![PiiPattern {
                name: "bad".into(),
                regex: "(".into(),
                replacement: String::new(),
            }],
            ..PiiConfig::default()
        }
        .validate(&mut problems);
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn replacements_are_counted_for_the_runner() {
        let mut step = PiiConfig::default().build().unwrap();
        for text in [
            "a@b.example and c@d.example",
            "from 8.8.8.8",
            "nothing here",
        ] {
            step.process(&mut Document::new("d", text)).unwrap();
        }
        let mut counts = BTreeMap::new();
        step.take_counts(&mut counts);
        assert_eq!(counts.get("email"), Some(&2), "{counts:?}");
        assert_eq!(counts.get("ip"), Some(&1), "{counts:?}");
        let mut again = BTreeMap::new();
        step.take_counts(&mut again);
        assert!(again.is_empty(), "taking drains the counts");
    }
}
