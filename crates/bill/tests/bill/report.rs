//! The report: every plot present, nothing loaded from the network, shards scanned, and
//! the funnel of a long chain readable (its geometry here, in a real browser in the `browser` module).

use atelier_bill::report::{self, ReportInput, scan_shards, titles};
use atelier_bill::{BillSettings, Evaluation, LengthHistogram, Summary, render_bill};
use atelier_core::{StepStats, TaskStats};
use std::collections::BTreeMap;
use std::io::Write;

fn stats() -> TaskStats {
    let mut read = StepStats::named("read");
    read.documents_in = 1210;
    read.kept = 1208;
    read.quarantined = 2;
    read.cpu_seconds = 0.09;
    read.wall_seconds = 0.09;
    let mut extract = StepStats::named("extract");
    extract.documents_in = 1208;
    extract.kept = 1200;
    extract.dropped.insert("no_text".into(), 8);
    extract.cpu_seconds = 0.16;
    extract.wall_seconds = 0.16;
    let mut length = StepStats::named("length");
    length.documents_in = 1200;
    length.kept = 1100;
    length.dropped.insert("too_short".into(), 60);
    length.dropped.insert("too_long".into(), 40);
    length.cpu_seconds = 0.01;
    length.wall_seconds = 0.01;
    TaskStats {
        tasks: 4,
        files: 5,
        steps: vec![read, extract, length],
        wall_seconds: 0.26,
        cpu_seconds: 0.26,
        peak_rss_bytes: 12 << 20,
    }
}

fn full_report() -> String {
    let stats = stats();
    let summary = Summary {
        dataset: "spam <demo>".into(),
        tasks: 4,
        tasks_resumed: 1,
        stats: stats.clone(),
        ..Summary::default()
    };
    let settings = BillSettings {
        cpu_watts_per_core: Some(5.0),
        ..BillSettings::default()
    };
    let bill = render_bill(&summary, &settings).unwrap();
    let languages: BTreeMap<String, u64> = [
        ("en".to_owned(), 1000),
        ("fr".to_owned(), 80),
        ("de".to_owned(), 20),
    ]
    .into();
    let mut lengths = LengthHistogram::default();
    for n in [30, 200, 900, 900, 4000, 20_000] {
        lengths.add(n);
    }
    let evaluation = Evaluation {
        model: "spam-classifier".into(),
        metrics: [("accuracy".to_owned(), 0.97), ("f1".to_owned(), 0.95)].into(),
        curve_label: "validation loss".into(),
        curve: vec![(0.0, 0.9), (100.0, 0.5), (200.0, 0.3)],
    };
    report::html(&ReportInput {
        dataset: &summary.dataset,
        version: Some("v2"),
        stats: &stats,
        bill: Some(&bill),
        languages: Some(&languages),
        lengths: Some(&lengths),
        tokens: None,
        evaluation: Some(&evaluation),
    })
    .unwrap()
}

#[test]
fn report_has_every_plot() {
    let page = full_report();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg").count(), 5, "five plots");
    for title in [
        titles::FUNNEL,
        titles::LANGUAGES,
        titles::LENGTHS,
        titles::BILL,
        titles::EVALUATION,
    ] {
        // Each plot carries its title as the SVG's <title> and as its caption.
        let svg_title = format!("<title>{title}</title>");
        assert!(page.contains(&svg_title), "no SVG titled {title}");
        assert!(page.contains(&format!("<figcaption>{title}</figcaption>")));
    }
    for id in ["funnel", "languages", "lengths", "bill", "evaluation"] {
        assert!(page.contains(&format!("<figure id=\"plot-{id}\">")), "{id}");
    }
    // The funnel names every step, and its hover text every drop reason.
    for label in [
        "extract",
        "length: 100 dropped",
        "\ntoo_short: 60\ntoo_long: 40</title>",
        "quarantined",
    ] {
        assert!(page.contains(label), "{label}");
    }
    // The dataset's name is escaped.
    assert!(page.contains("spam &lt;demo&gt; v2"));
    assert!(!page.contains("<demo>"));
}

#[test]
fn report_loads_nothing_from_the_network() {
    let page = full_report();
    assert!(!page.contains("http://"), "an http URL in the report");
    assert!(!page.contains("https://"), "an https URL in the report");
    for tag in ["<script", "<link", "<img", "<iframe", "@import", "url("] {
        assert!(!page.contains(tag), "{tag} in the report");
    }
}

#[test]
fn missing_inputs_are_said_not_drawn() {
    let stats = stats();
    let page = report::html(&ReportInput {
        dataset: "bare",
        version: None,
        stats: &stats,
        bill: None,
        languages: None,
        lengths: None,
        tokens: None,
        evaluation: None,
    })
    .unwrap();
    assert_eq!(page.matches("<svg").count(), 1, "only the funnel");
    assert!(page.contains("No language counts"));
    assert!(page.contains("No model has been evaluated"));
}

#[test]
fn shards_are_scanned_in_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"id":"a","text":"hello","metadata":{"language":"en"}}"#,
        r#"{"id":"b","text":"été","metadata":{"language":"fr"}}"#,
        r#"{"id":"c","text":"","metadata":{}}"#,
        "not json",
    ]
    .join("\n");
    let plain = dir.path().join("part-00000.jsonl");
    std::fs::write(&plain, &lines).unwrap();
    let gz = dir.path().join("part-00001.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(lines.as_bytes()).unwrap();
    enc.finish().unwrap();
    let zst = dir.path().join("part-00002.jsonl.zst");
    std::fs::write(&zst, zstd::encode_all(lines.as_bytes(), 3).unwrap()).unwrap();

    let scan = scan_shards(&[plain, gz, zst]).unwrap();
    assert_eq!(scan.documents, 9);
    assert_eq!(scan.unreadable, 3);
    assert_eq!(scan.languages["en"], 3);
    assert_eq!(scan.languages["fr"], 3);
    // Lengths in characters: "hello" 5 -> bin 2, "été" 3 -> bin 1, "" -> bin 0.
    assert_eq!(scan.lengths.counts, vec![3, 3, 3]);
    assert!(scan_shards(&[dir.path().join("absent.jsonl")]).is_err());
}

/// A step that dropped `dropped` and quarantined `quarantined` of `documents_in`.
fn step(name: &str, documents_in: u64, dropped: &[(&str, u64)], quarantined: u64) -> StepStats {
    let mut s = StepStats::named(name);
    s.documents_in = documents_in;
    s.dropped = dropped.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect();
    s.quarantined = quarantined;
    s.kept = documents_in - s.dropped_total() - quarantined;
    s
}

/// The counters of a FineWeb-style chain: Gopher's repetition and quality rules, C4's
/// and FineWeb's, 27 drop reasons over 9 of its 12 steps.
fn fineweb_chain() -> TaskStats {
    let steps = vec![
        step("read", 1890, &[], 5),
        step("extract", 1885, &[("no_text", 31)], 2),
        step("language", 1852, &[("not_english", 451)], 0),
        step(
            "url",
            1401,
            &[("blocklisted_domain", 22), ("soft_blocklisted_words", 8)],
            0,
        ),
        step("pii", 1371, &[], 0),
        step(
            "gopher_repetition",
            1371,
            &[
                ("dup_para_frac", 61),
                ("dup_para_char_frac", 23),
                ("dup_line_frac", 118),
                ("dup_line_char_frac", 37),
                ("top_2_gram", 52),
                ("top_3_gram", 29),
                ("top_4_gram", 18),
                ("duplicated_5_n_grams", 49),
                ("duplicated_10_n_grams", 28),
            ],
            0,
        ),
        step(
            "gopher_quality",
            956,
            &[
                ("gopher_short_doc", 44),
                ("gopher_below_avg_threshold", 6),
                ("gopher_above_avg_threshold", 3),
                ("gopher_too_many_hashes", 2),
                ("gopher_too_many_ellipsis", 11),
                ("gopher_below_alpha_threshold", 57),
                ("gopher_enough_stop_words", 25),
            ],
            0,
        ),
        step(
            "c4_quality",
            808,
            &[("too_few_sentences", 38), ("curly_bracket", 4)],
            0,
        ),
        step(
            "fineweb_quality",
            766,
            &[("line_punct_ratio", 51), ("char_dup_ratio", 19)],
            0,
        ),
        step("length", 696, &[("too_short", 12), ("too_long", 3)], 0),
        step("dedup", 681, &[("duplicate", 97)], 0),
        step("write", 584, &[], 0),
    ];
    for pair in steps.windows(2) {
        assert_eq!(pair[0].kept, pair[1].documents_in, "{}", pair[1].name);
    }
    TaskStats {
        tasks: 8,
        files: 8,
        steps,
        wall_seconds: 4.2,
        cpu_seconds: 4.1,
        peak_rss_bytes: 80 << 20,
    }
}

/// The report of the FineWeb-style chain, funnel and table only.
pub fn fineweb_report() -> String {
    let stats = fineweb_chain();
    report::html(&ReportInput {
        dataset: "fineweb-style",
        version: None,
        stats: &stats,
        bill: None,
        languages: None,
        lengths: None,
        tokens: None,
        evaluation: None,
    })
    .unwrap()
}

/// A `<rect>` or `<text>` of an SVG, with the class of the group it is in.
#[derive(Debug)]
struct Element {
    tag: String,
    attrs: BTreeMap<String, String>,
    /// A text's content, or a rectangle's `<title>`.
    text: String,
    group: Option<String>,
}

impl Element {
    fn num(&self, name: &str) -> f64 {
        let v = self
            .attrs
            .get(name)
            .unwrap_or_else(|| panic!("no {name}: {self:?}"));
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: {self:?}"))
    }

    fn fill(&self) -> &str {
        &self.attrs["fill"]
    }

    /// The box it covers: `(left, top, right, bottom)`. A text's is estimated with
    /// characters 0.66 em wide and glyphs from 0.8 em above the baseline to 0.25 below.
    fn bounds(&self) -> (f64, f64, f64, f64) {
        let (x, y) = (self.num("x"), self.num("y"));
        if self.tag == "rect" {
            return (x, y, x + self.num("width"), y + self.num("height"));
        }
        assert!(
            !self.attrs.contains_key("transform"),
            "a turned text: {self:?}"
        );
        let size = self.num("font-size");
        let width = self.text.trim().chars().count() as f64 * 0.66 * size;
        let left = match self.attrs.get("text-anchor").map(String::as_str) {
            Some("middle") => x - width / 2.0,
            Some("end") => x - width,
            _ => x,
        };
        let baseline = match self.attrs.get("dy").map(String::as_str) {
            Some("0.76em") => y + 0.76 * size,
            Some("0.5ex") => y + 0.25 * size,
            Some("-0.5ex") => y - 0.25 * size,
            None => y,
            Some(other) => panic!("dy {other}"),
        };
        (
            left,
            baseline - 0.8 * size,
            left + width,
            baseline + 0.25 * size,
        )
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The attributes of a tag, `rect x="1" fill="#FFF"/` without its brackets.
fn attributes(tag: &str) -> BTreeMap<String, String> {
    tag.split('"')
        .collect::<Vec<_>>()
        .chunks_exact(2)
        .map(|kv| {
            let key = kv[0].trim_end_matches('=').split_whitespace().last();
            (key.unwrap_or_default().to_owned(), unescape(kv[1]))
        })
        .collect()
}

/// The rectangles and texts of an SVG as plotters and the report write it: one tag per
/// `<...>`, attributes in double quotes.
fn elements(svg: &str) -> Vec<Element> {
    let mut out = Vec::new();
    let mut groups: Vec<Option<String>> = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let close = rest.find('>').expect("an unclosed tag");
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        let name = tag.split_whitespace().next().unwrap_or_default();
        let attrs = attributes(tag);
        match name {
            "g" => groups.push(attrs.get("class").cloned()),
            "/g" => {
                groups.pop();
            }
            "rect" | "text" => {
                let text = if name == "text" {
                    &rest[..rest.find('<').unwrap()]
                } else if !tag.ends_with('/') && rest.starts_with("<title>") {
                    &rest["<title>".len()..rest.find("</title>").unwrap()]
                } else {
                    ""
                };
                out.push(Element {
                    tag: name.to_owned(),
                    attrs,
                    text: unescape(text),
                    group: groups.iter().rev().flatten().next().cloned(),
                });
            }
            _ => {}
        }
    }
    out
}

fn overlap(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// The funnel's `<svg>` element in a report.
fn funnel_svg(page: &str) -> &str {
    let figure = &page[page.find("<figure id=\"plot-funnel\">").unwrap()..];
    &figure[figure.find("<svg").unwrap()..figure.find("</svg>").unwrap() + "</svg>".len()]
}

#[test]
fn the_funnel_of_a_fineweb_chain_keeps_its_legend_beside_the_bars() {
    let stats = fineweb_chain();
    let page = fineweb_report();
    let svg = funnel_svg(&page);
    let all = elements(svg);

    let view: Vec<f64> = attributes(&svg[..svg.find('>').unwrap()])["viewBox"]
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    let view = (view[0], view[1], view[0] + view[2], view[1] + view[3]);
    let inside = |b: (f64, f64, f64, f64), outer: (f64, f64, f64, f64)| {
        b.0 >= outer.0 - 0.5 && b.1 >= outer.1 - 0.5 && b.2 <= outer.2 + 0.5 && b.3 <= outer.3 + 0.5
    };
    // Nothing, plotters' axes included, lies outside the viewBox.
    for e in &all {
        assert!(
            inside(e.bounds(), view),
            "outside the viewBox {view:?}: {e:?}"
        );
    }

    let plot: Vec<&Element> = all
        .iter()
        .filter(|e| e.attrs.get("class").is_some_and(|c| c == "plot-area"))
        .collect();
    assert_eq!(plot.len(), 1, "one plot area");
    let plot = plot[0].bounds();
    let bars: Vec<&Element> = all
        .iter()
        .filter(|e| e.group.as_deref() == Some("bars"))
        .collect();
    let legend: Vec<&Element> = all
        .iter()
        .filter(|e| e.group.as_deref() == Some("legend"))
        .collect();
    assert!(
        bars.len() >= stats.steps.len(),
        "{} bar segments",
        bars.len()
    );
    for bar in &bars {
        assert!(
            inside(bar.bounds(), plot),
            "a bar outside the plot: {bar:?}"
        );
    }
    // The legend is neither over the plot nor over a bar.
    for e in &legend {
        assert!(
            !overlap(e.bounds(), plot),
            "legend over the plot {plot:?}: {e:?}"
        );
        for bar in &bars {
            assert!(!overlap(e.bounds(), bar.bounds()), "{e:?} over {bar:?}");
        }
    }

    // One colour per step that drops, shared with no other step, nor with kept or
    // quarantined documents; its legend entry has the same colour.
    let kept_fill = "#2E8B57";
    let quarantined_fill = "#B22222";
    let mut step_fills: Vec<(&str, String)> = Vec::new();
    for s in &stats.steps {
        let own: Vec<&&Element> = bars
            .iter()
            .filter(|b| b.text.starts_with(&format!("{}: ", s.name)))
            .filter(|b| b.fill() != kept_fill && b.fill() != quarantined_fill)
            .collect();
        if s.dropped_total() == 0 {
            assert!(own.is_empty(), "{} dropped nothing: {own:?}", s.name);
            continue;
        }
        let fills: BTreeMap<&str, usize> = own.iter().fold(BTreeMap::new(), |mut m, b| {
            *m.entry(b.fill()).or_default() += 1;
            m
        });
        assert_eq!(fills.len(), 1, "{}: one colour, not {fills:?}", s.name);
        let fill = fills.keys().next().unwrap().to_string();
        // The hover text gives every reason.
        let hover = &own[0].text;
        assert!(hover.starts_with(&format!("{}: {} dropped", s.name, s.dropped_total())));
        for (reason, n) in &s.dropped {
            assert!(
                hover.contains(&format!("\n{reason}: {n}")),
                "{reason} in {hover:?}"
            );
        }
        let swatch = legend
            .iter()
            .find(|e| e.tag == "rect" && e.text == *hover)
            .unwrap_or_else(|| panic!("no legend entry for {}", s.name));
        assert_eq!(swatch.fill(), fill, "{}'s legend colour", s.name);
        step_fills.push((&s.name, fill));
    }
    assert_eq!(step_fills.len(), 9, "nine steps drop documents");
    for (i, (a, fa)) in step_fills.iter().enumerate() {
        assert!(fa != kept_fill && fa != quarantined_fill, "{a}");
        for (b, fb) in &step_fills[i + 1..] {
            assert_ne!(fa, fb, "{a} and {b} share a colour");
        }
    }
    // The legend: kept, nine steps, quarantined; one text per swatch.
    let texts: Vec<&str> = legend
        .iter()
        .filter(|e| e.tag == "text")
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(texts.len(), 11, "{texts:?}");
    assert_eq!(texts[0], "kept");
    assert_eq!(texts[4], "gopher_repetition: 415 dropped");
    assert_eq!(texts[10], "quarantined");
    // Every step is named on the axis, outside the plot.
    for s in &stats.steps {
        let label = all
            .iter()
            .find(|e| e.tag == "text" && e.group.is_none() && e.text.trim() == s.name)
            .unwrap_or_else(|| panic!("no axis label {}", s.name));
        assert!(!overlap(label.bounds(), plot), "{label:?}");
    }
}
