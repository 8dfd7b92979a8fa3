//! The report of a dataset: one self-contained HTML file (no scripts, no network) with
//! inline SVG plots drawn by plotters: the funnel of documents kept and dropped per step
//! and reason, the languages, a histogram of document lengths, the bill per step, and the
//! model's evaluation once there is one.
//!
//! Languages and lengths come from [`scan_shards`], which reads the dataset's JSONL
//! shards (plain, gzip or zstd), or from counts the caller already has.

use atelier_core::TaskStats;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::bill::{Bill, sig};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A shard could not be read.
    #[error("{path}: {message}")]
    Shard {
        /// The shard.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A plot could not be drawn.
    #[error("plot `{plot}`: {message}")]
    Plot {
        /// The plot's title.
        plot: String,
        /// What went wrong.
        message: String,
    },
}

/// Document lengths in characters, in bins that double: bin 0 holds lengths 0 and 1,
/// bin `k` lengths from `2^k` to `2^(k+1) - 1`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LengthHistogram {
    /// Documents per bin.
    pub counts: Vec<u64>,
}

impl LengthHistogram {
    /// Counts one document of `chars` characters.
    pub fn add(&mut self, chars: u64) {
        let bin = if chars <= 1 {
            0
        } else {
            63 - chars.leading_zeros() as usize
        };
        if self.counts.len() <= bin {
            self.counts.resize(bin + 1, 0);
        }
        self.counts[bin] += 1;
    }

    /// Documents counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The smallest length in bin `k`, written short (`512`, `1K`, `2M`).
    pub fn label(k: usize) -> String {
        if k == 0 {
            return "0".to_owned();
        }
        let lower = 1u64 << k;
        match lower {
            l if l >= 1 << 30 => format!("{}G", l >> 30),
            l if l >= 1 << 20 => format!("{}M", l >> 20),
            l if l >= 1 << 10 => format!("{}K", l >> 10),
            l => l.to_string(),
        }
    }
}

/// What a scan of the shards found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardScan {
    /// Documents read.
    pub documents: u64,
    /// Lines that were not documents.
    pub unreadable: u64,
    /// Lengths of the texts, in characters.
    pub lengths: LengthHistogram,
    /// Documents per `metadata.language`; documents without one are not counted.
    pub languages: BTreeMap<String, u64>,
}

/// Reads JSONL shards (`.gz` and `.zst` decompressed) and counts lengths and languages.
pub fn scan_shards(paths: &[PathBuf]) -> Result<ShardScan, ReportError> {
    #[derive(Deserialize)]
    struct Line {
        #[serde(default)]
        text: String,
        #[serde(default)]
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
    }
    let mut scan = ShardScan::default();
    for path in paths {
        let err = |e: std::io::Error| ReportError::Shard {
            path: path.clone(),
            message: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(err)?;
        let name = path.to_string_lossy();
        let reader: Box<dyn Read> = if name.ends_with(".gz") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else if name.ends_with(".zst") {
            Box::new(zstd::Decoder::new(file).map_err(err)?)
        } else {
            Box::new(file)
        };
        for line in BufReader::new(reader).lines() {
            let line = line.map_err(err)?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Line>(&line) {
                Ok(doc) => {
                    scan.documents += 1;
                    scan.lengths.add(doc.text.chars().count() as u64);
                    if let Some(lang) = doc
                        .metadata
                        .as_ref()
                        .and_then(|m| m.get("language"))
                        .and_then(|l| l.as_str())
                    {
                        *scan.languages.entry(lang.to_owned()).or_default() += 1;
                    }
                }
                Err(_) => scan.unreadable += 1,
            }
        }
    }
    Ok(scan)
}

/// A model's evaluation, for the report's last section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The model's name.
    pub model: String,
    /// Final metrics by name (accuracy, F1, perplexity, ...).
    pub metrics: BTreeMap<String, f64>,
    /// What the curve shows (`validation loss`).
    #[serde(default)]
    pub curve_label: String,
    /// A curve over training: (step, value) points.
    #[serde(default)]
    pub curve: Vec<(f64, f64)>,
}

/// What the report shows; everything but the counters is optional.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The dataset's name.
    pub dataset: &'a str,
    /// The dataset's version, if any.
    pub version: Option<&'a str>,
    /// The run's counters.
    pub stats: &'a TaskStats,
    /// The run's bill.
    pub bill: Option<&'a Bill>,
    /// Documents per language.
    pub languages: Option<&'a BTreeMap<String, u64>>,
    /// Document lengths.
    pub lengths: Option<&'a LengthHistogram>,
    /// The model's evaluation.
    pub evaluation: Option<&'a Evaluation>,
    /// The token shards, when the recipe tokenizes.
    pub tokens: Option<&'a TokensSection>,
}

/// What the report shows of a dataset's token shards.
#[derive(Debug, Clone, Default)]
pub struct TokensSection {
    /// The tokenizer's hash.
    pub tokenizer: String,
    /// Documents and tokens per split.
    pub splits: Vec<(String, u64, u64)>,
    /// Documents by their number of tokens: `histogram[k]` counts `2^k ..= 2^(k+1) - 1`.
    pub histogram: Vec<u64>,
    /// Documents and tokens per source.
    pub sources: Vec<(String, u64, u64)>,
}

/// Plot titles, which the tests and readers look for.
pub mod titles {
    /// The funnel plot.
    pub const FUNNEL: &str = "Funnel: documents kept and dropped per step";
    /// The languages plot.
    pub const LANGUAGES: &str = "Languages";
    /// The lengths plot.
    pub const LENGTHS: &str = "Document lengths (characters)";
    /// The bill plot.
    pub const BILL: &str = "Bill per step (EUR)";
    /// The evaluation plot.
    pub const EVALUATION: &str = "Evaluation";
    /// The tokens-per-document plot.
    pub const TOKENS: &str = "Tokens per document";
}

const WIDTH: u32 = 860;
const HEIGHT: u32 = 380;
const KEPT: RGBColor = RGBColor(46, 139, 87);
const QUARANTINED: RGBColor = RGBColor(178, 34, 34);
const REUSED: RGBColor = RGBColor(160, 190, 220);
const SPENT: RGBColor = RGBColor(52, 101, 164);
const PALETTE: [RGBColor; 8] = [
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(240, 228, 66),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(150, 150, 150),
    RGBColor(120, 80, 160),
];

/// Renders the report as one HTML document.
pub fn html(input: &ReportInput<'_>) -> Result<String, ReportError> {
    let mut out = String::new();
    let title = match input.version {
        Some(v) => format!("{} {}", input.dataset, v),
        None => input.dataset.to_owned(),
    };
    let s = input.stats;
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>atelier report: {t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Dataset <code>{t}</code></h1>\n\
         <p class=\"lead\">{} records read, {} documents written, {} quarantined; {} task(s).</p>\n",
        s.records(),
        s.written(),
        s.quarantined(),
        s.tasks,
        t = escape(&title)
    );

    // Funnel.
    out.push_str("<section id=\"funnel\">\n<h2>Funnel</h2>\n");
    out.push_str(&funnel_svg(s)?);
    out.push_str("<table>\n<tr><th>step</th><th>in</th><th>kept</th><th>dropped</th><th>quarantined</th><th>dropped by reason</th></tr>\n");
    for step in &s.steps {
        let reasons: Vec<String> = step
            .dropped
            .iter()
            .map(|(r, n)| format!("{} {n}", escape(r)))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&step.name),
            step.documents_in,
            step.kept,
            step.dropped_total(),
            step.quarantined,
            reasons.join(", ")
        );
    }
    out.push_str("</table>\n</section>\n");

    // Languages.
    out.push_str("<section id=\"languages\">\n<h2>Languages</h2>\n");
    match input.languages.filter(|l| !l.is_empty()) {
        Some(langs) => out.push_str(&languages_svg(langs)?),
        None => out.push_str(
            "<p class=\"none\">No language counts: the documents carry no <code>metadata.language</code>.</p>\n",
        ),
    }
    out.push_str("</section>\n");

    // Lengths.
    out.push_str("<section id=\"lengths\">\n<h2>Lengths</h2>\n");
    match input.lengths.filter(|h| h.total() > 0) {
        Some(h) => out.push_str(&lengths_svg(h)?),
        None => out.push_str("<p class=\"none\">No length histogram was given.</p>\n"),
    }
    out.push_str("</section>\n");

    // Bill.
    out.push_str("<section id=\"bill\">\n<h2>Bill</h2>\n");
    match input.bill {
        Some(bill) => {
            out.push_str(&bill_svg(bill)?);
            let _ = writeln!(
                out,
                "<p>{} grid at {:.1} gCO2e/kWh, PUE {:.2}; energy {}.</p>",
                escape(&bill.country),
                bill.gco2_per_kwh,
                bill.pue,
                escape(&bill.energy_basis)
            );
            out.push_str("<table>\n<tr><th>step</th><th>wall s</th><th>CPU s</th><th>kWh</th><th>EUR</th><th>gCO2e</th><th>reused EUR</th></tr>\n");
            for st in &bill.steps {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&st.name),
                    st.total.wall_seconds,
                    st.total.cpu_seconds,
                    sig(st.total.kwh),
                    sig(st.total.eur),
                    sig(st.total.gco2),
                    sig(st.reused.eur)
                );
            }
            let t = &bill.total;
            let _ = writeln!(
                out,
                "<tr class=\"total\"><td>total (storage {} EUR)</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n</table>",
                sig(bill.storage.eur),
                t.wall_seconds,
                t.cpu_seconds,
                sig(t.kwh),
                sig(t.eur),
                sig(t.gco2),
                sig(bill.reused.eur)
            );
        }
        None => out.push_str("<p class=\"none\">No bill was given.</p>\n"),
    }
    out.push_str("</section>\n");

    if let Some(tokens) = input.tokens {
        tokens_section(&mut out, tokens)?;
    }

    // Evaluation.
    out.push_str("<section id=\"evaluation\">\n<h2>Evaluation</h2>\n");
    match input.evaluation {
        Some(e) => {
            let _ = writeln!(out, "<p>Model <code>{}</code>.</p>", escape(&e.model));
            if !e.curve.is_empty() || !e.metrics.is_empty() {
                out.push_str(&evaluation_svg(e)?);
            }
            out.push_str("<table>\n<tr><th>metric</th><th>value</th></tr>\n");
            for (name, value) in &e.metrics {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    escape(name),
                    sig(*value)
                );
            }
            out.push_str("</table>\n");
        }
        None => {
            out.push_str("<p class=\"none\">No model has been evaluated on this dataset yet.</p>\n")
        }
    }
    out.push_str("</section>\n");

    out.push_str(
        "<footer>Made by atelier. Grid carbon intensity: Ember, yearly electricity data (2023). \
         Energy is estimated from CPU time unless the bill says it was measured.</footer>\n\
         </body>\n</html>\n",
    );
    Ok(out)
}

/// The token shards: tokens per document, per split and per source.
fn tokens_section(out: &mut String, t: &TokensSection) -> Result<(), ReportError> {
    const SOURCES: usize = 20;
    out.push_str("<section id=\"tokens\">\n<h2>Tokens</h2>\n");
    let _ = writeln!(
        out,
        "<p>Tokenizer <code>{}</code>.</p>",
        escape(t.tokenizer.get(..12).unwrap_or(&t.tokenizer))
    );
    if let Some(first) = t.histogram.iter().position(|&c| c > 0) {
        let names: Vec<String> = (first..t.histogram.len())
            .map(|k| format!("{}", 1u64 << k))
            .collect();
        let values: Vec<f64> = t.histogram[first..].iter().map(|&c| c as f64).collect();
        out.push_str(&bars_svg(
            "tokens",
            titles::TOKENS,
            "documents (tokens from)",
            &names,
            &values,
            PALETTE[2],
        )?);
    }
    out.push_str("<table>\n<tr><th>split</th><th>documents</th><th>tokens</th></tr>\n");
    for (split, docs, tokens) in &t.splits {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{docs}</td><td>{tokens}</td></tr>",
            escape(split)
        );
    }
    out.push_str("</table>\n");
    let mut sources = t.sources.clone();
    sources.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    out.push_str("<table>\n<tr><th>source</th><th>documents</th><th>tokens</th></tr>\n");
    for (source, docs, tokens) in sources.iter().take(SOURCES) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{docs}</td><td>{tokens}</td></tr>",
            escape(source)
        );
    }
    if sources.len() > SOURCES {
        let (docs, tokens) = sources[SOURCES..]
            .iter()
            .fold((0, 0), |(d, t), s| (d + s.1, t + s.2));
        let _ = writeln!(
            out,
            "<tr><td>{} other sources</td><td>{docs}</td><td>{tokens}</td></tr>",
            sources.len() - SOURCES
        );
    }
    out.push_str("</table>\n</section>\n");
    Ok(())
}

const STYLE: &str = "body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}\
h1 code{font-size:1em}table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}tr.total{font-weight:bold}\
p.none{color:#777;font-style:italic}figure{margin:0}footer{margin-top:3em;color:#777;font-size:.9em}";

/// Escapes text for HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// Draws into an SVG string and wraps it in a figure: the SVG gets a `<title>` and loses
/// its namespace URL, which HTML does not need.
fn figure(
    id: &str,
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> PlotResult,
) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(|e| e.into())
            .and_then(|_| draw(&root))
            .and_then(|_| root.present().map_err(|e| e.into()));
        drawn.map_err(|e| ReportError::Plot {
            plot: title.to_owned(),
            message: e.to_string(),
        })?;
    }
    let svg = svg.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "");
    let svg = match svg.find('>') {
        Some(end) => format!(
            "{}><title>{}</title>{}",
            &svg[..end],
            escape(title),
            &svg[end + 1..]
        ),
        None => svg,
    };
    Ok(format!(
        "<figure id=\"plot-{id}\">\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n",
        escape(title)
    ))
}

fn category_label(names: &[String]) -> impl Fn(&SegmentValue<usize>) -> String + '_ {
    move |v| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            names.get(*i).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    }
}

fn funnel_svg(stats: &TaskStats) -> Result<String, ReportError> {
    let names: Vec<String> = stats.steps.iter().map(|s| s.name.clone()).collect();
    let reasons: Vec<String> = {
        let mut r: Vec<String> = stats
            .steps
            .iter()
            .flat_map(|s| s.dropped.keys().cloned())
            .collect();
        r.sort();
        r.dedup();
        r
    };
    let top = stats
        .steps
        .iter()
        .map(|s| s.documents_in)
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.1;
    let n = names.len().max(1);
    figure("funnel", titles::FUNNEL, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(titles::FUNNEL, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&category_label(&names))
            .light_line_style(WHITE)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("documents")
            .draw()?;
        let bar = stacked_bar;
        // Kept at the bottom, then each reason, then quarantined.
        chart
            .draw_series(
                stats
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| bar(i, 0.0, s.kept as f64, KEPT)),
            )?
            .label("kept")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], KEPT.filled()));
        let mut base: Vec<f64> = stats.steps.iter().map(|s| s.kept as f64).collect();
        for (k, reason) in reasons.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let bars: Vec<_> = stats
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let n = s.dropped.get(reason).copied().unwrap_or(0) as f64;
                    let b = bar(i, base[i], base[i] + n, color);
                    base[i] += n;
                    b
                })
                .collect();
            chart
                .draw_series(bars)?
                .label(format!("dropped: {reason}"))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .draw_series(
                stats
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| bar(i, base[i], base[i] + s.quarantined as f64, QUARANTINED)),
            )?
            .label("quarantined")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], QUARANTINED.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

fn bars_svg(
    id: &str,
    title: &str,
    y_desc: &str,
    names: &[String],
    values: &[f64],
    color: RGBColor,
) -> Result<String, ReportError> {
    let n = names.len().max(1);
    let top = values
        .iter()
        .cloned()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.1;
    figure(id, title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&category_label(names))
            .light_line_style(WHITE)
            .y_label_formatter(&|v| sig(*v))
            .y_desc(y_desc)
            .draw()?;
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(color.filled())
                .margin(6)
                .data(values.iter().enumerate().map(|(i, v)| (i, *v))),
        )?;
        Ok(())
    })
}

fn languages_svg(langs: &BTreeMap<String, u64>) -> Result<String, ReportError> {
    const SHOWN: usize = 15;
    let mut sorted: Vec<(&String, &u64)> = langs.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut names: Vec<String> = sorted
        .iter()
        .take(SHOWN)
        .map(|(l, _)| (*l).clone())
        .collect();
    let mut values: Vec<f64> = sorted.iter().take(SHOWN).map(|(_, n)| **n as f64).collect();
    let rest: u64 = sorted.iter().skip(SHOWN).map(|(_, n)| **n).sum();
    if rest > 0 {
        names.push("other".into());
        values.push(rest as f64);
    }
    bars_svg(
        "languages",
        titles::LANGUAGES,
        "documents",
        &names,
        &values,
        PALETTE[4],
    )
}

fn lengths_svg(h: &LengthHistogram) -> Result<String, ReportError> {
    let first = h.counts.iter().position(|&c| c > 0).unwrap_or(0);
    let names: Vec<String> = (first..h.counts.len())
        .map(LengthHistogram::label)
        .collect();
    let values: Vec<f64> = h.counts[first..].iter().map(|&c| c as f64).collect();
    bars_svg(
        "lengths",
        titles::LENGTHS,
        "documents",
        &names,
        &values,
        PALETTE[1],
    )
}

fn bill_svg(bill: &Bill) -> Result<String, ReportError> {
    let names: Vec<String> = bill.steps.iter().map(|s| s.name.clone()).collect();
    let n = names.len().max(1);
    let top = bill
        .steps
        .iter()
        .map(|s| s.total.eur)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.15;
    figure("bill", titles::BILL, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(titles::BILL, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&category_label(&names))
            .light_line_style(WHITE)
            .y_label_formatter(&|v| sig(*v))
            .y_desc("EUR")
            .draw()?;
        let bar = stacked_bar;
        chart
            .draw_series(
                bill.steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| bar(i, 0.0, s.spent().eur.max(0.0), SPENT)),
            )?
            .label("spent by this run")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], SPENT.filled()));
        chart
            .draw_series(bill.steps.iter().enumerate().map(|(i, s)| {
                let spent = s.spent().eur.max(0.0);
                bar(i, spent, spent + s.reused.eur, REUSED)
            }))?
            .label("reused (saved)")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], REUSED.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

fn evaluation_svg(e: &Evaluation) -> Result<String, ReportError> {
    if e.curve.is_empty() {
        let names: Vec<String> = e.metrics.keys().cloned().collect();
        let values: Vec<f64> = e.metrics.values().cloned().collect();
        return bars_svg(
            "evaluation",
            titles::EVALUATION,
            "value",
            &names,
            &values,
            PALETTE[0],
        );
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &e.curve {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let pad = (y1 - y0) * 0.05;
    let label = if e.curve_label.is_empty() {
        "value".to_owned()
    } else {
        e.curve_label.clone()
    };
    figure("evaluation", titles::EVALUATION, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(titles::EVALUATION, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(label.as_str())
            .draw()?;
        chart
            .draw_series(LineSeries::new(
                e.curve.iter().cloned(),
                SPENT.stroke_width(2),
            ))?
            .label(label.as_str())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], SPENT.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Writes the report next to a dataset: `report.html` in `dir`, returning its path.
pub fn write(dir: &Path, input: &ReportInput<'_>) -> Result<PathBuf, ReportError> {
    let page = html(input)?;
    let path = dir.join("report.html");
    std::fs::write(&path, page).map_err(|e| ReportError::Shard {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(path)
}

/// One segment of a stacked bar: category `i`, from `y0` to `y1`.
fn stacked_bar(
    i: usize,
    y0: f64,
    y1: f64,
    color: RGBColor,
) -> Rectangle<(SegmentValue<usize>, f64)> {
    let mut r = Rectangle::new(
        [
            (SegmentValue::Exact(i), y0),
            (SegmentValue::Exact(i + 1), y1),
        ],
        color.filled(),
    );
    r.set_margin(0, 0, 10, 10);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bins_double() {
        let mut h = LengthHistogram::default();
        for n in [0, 1, 2, 3, 4, 7, 8, 1023, 1024, 5000] {
            h.add(n);
        }
        // bins: 0:{0,1} 1:{2,3} 2:{4,7} 3:{8} 9:{1023} 10:{1024} 12:{5000}
        assert_eq!(h.counts, vec![2, 2, 2, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1]);
        assert_eq!(h.total(), 10);
        assert_eq!(LengthHistogram::label(0), "0");
        assert_eq!(LengthHistogram::label(9), "512");
        assert_eq!(LengthHistogram::label(10), "1K");
        assert_eq!(LengthHistogram::label(21), "2M");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
