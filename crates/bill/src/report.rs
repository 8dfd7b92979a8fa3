//! The report of a dataset: one self-contained HTML file (no scripts, no network) with
//! inline SVG plots drawn by plotters: the funnel of documents kept and dropped per step
//! (each step's reasons in its hover text and in the table), the languages, a histogram of
//! document lengths, the bill per step, and the model's evaluation once there is one.
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
/// Colours of the plots, and of the steps in the funnel in this order: none of them is
/// the green of `KEPT` or the red of `QUARANTINED`.
const PALETTE: [RGBColor; 12] = [
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(240, 228, 66),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(150, 150, 150),
    RGBColor(120, 80, 160),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(44, 62, 80),
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

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws into an SVG string of the usual size and wraps it in a figure.
fn figure(
    id: &str,
    title: &str,
    draw: impl FnOnce(&Area<'_>) -> PlotResult,
) -> Result<String, ReportError> {
    sized_figure(id, title, (WIDTH, HEIGHT), |root| {
        draw(root).map(|()| String::new())
    })
}

/// Draws into an SVG string of `size` pixels and wraps it in a figure: `draw` returns
/// markup that plotters cannot draw (groups, hover titles), which goes last. The SVG gets a
/// `<title>` and loses its namespace URL, which HTML does not need.
fn sized_figure(
    id: &str,
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<String, Box<dyn std::error::Error>>,
) -> Result<String, ReportError> {
    let mut svg = String::new();
    let extra = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(|e| e.into())
            .and_then(|_| draw(&root))
            .and_then(|extra| root.present().map(|_| extra).map_err(|e| e.into()));
        drawn.map_err(|e| ReportError::Plot {
            plot: title.to_owned(),
            message: e.to_string(),
        })?
    };
    if let Some(end) = svg.rfind("</svg>") {
        svg.insert_str(end, &extra);
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

/// The funnel's layout, in SVG pixels: one row per step, bars growing to the right, and
/// the legend in a column right of the plot, never over it.
mod funnel {
    /// Height of a step's row.
    pub const ROW: u32 = 28;
    /// Space above and below a bar in its row.
    pub const BAR_GAP: i32 = 5;
    /// Height of a legend entry.
    pub const LEGEND_ROW: i32 = 20;
    /// Side of a legend swatch.
    pub const SWATCH: i32 = 12;
    /// Space between a swatch and its label.
    pub const GAP: i32 = 6;
    /// Font size of the legend and of the axes' labels.
    pub const FONT: f64 = 12.0;
    /// Width of a character, in ems, that labels are sized with: wider than sans-serif
    /// fonts draw step names and counts (DejaVu Sans, a wide one, about 0.55 em in
    /// Chromium), so that a wider font still fits.
    pub const CHAR_EM: f64 = 0.66;
    /// Longest legend label, in characters; longer ones end in `…`.
    pub const LEGEND_CHARS: usize = 34;
    /// Longest step name on the axis, in characters.
    pub const NAME_CHARS: usize = 24;
    /// Margin around the figure.
    pub const MARGIN: u32 = 12;
    /// Height of the x axis's labels and description.
    pub const X_AXIS: u32 = 44;
    /// Height of the caption.
    pub const CAPTION: u32 = 34;
    /// Smallest height of the figure.
    pub const MIN_HEIGHT: u32 = 200;

    /// Width in pixels of `chars` characters of the legend's font.
    pub fn text_width(chars: usize) -> f64 {
        chars as f64 * FONT * CHAR_EM
    }
}

/// A colour for each step that dropped documents, `None` for the others: the palette in
/// order, then hues a golden angle apart, and never one colour for two steps or the colour
/// of kept or quarantined documents.
fn step_colours(stats: &TaskStats) -> Vec<Option<RGBColor>> {
    let mut used = vec![KEPT, QUARANTINED];
    let mut next = 0usize;
    let mut fresh = || loop {
        let colour = match PALETTE.get(next) {
            Some(&c) => c,
            None => {
                let k = next - PALETTE.len();
                let hue = (k as f64 * 137.508) % 360.0 / 360.0;
                let lightness = [0.42, 0.58, 0.5][k % 3];
                let (r, g, b) = HSLColor(hue, 0.62, lightness).rgb();
                RGBColor(r, g, b)
            }
        };
        next += 1;
        if !used.contains(&colour) {
            used.push(colour);
            return colour;
        }
    };
    stats
        .steps
        .iter()
        .map(|s| (s.dropped_total() > 0).then(&mut fresh))
        .collect()
}

/// `text` cut to `max` characters, the last one `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// What a step dropped, for hover text: the total, then each reason, most frequent first.
fn drop_reasons(step: &atelier_core::StepStats) -> String {
    let mut reasons: Vec<(&String, &u64)> = step.dropped.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut text = format!("{}: {} dropped", step.name, step.dropped_total());
    for (reason, n) in reasons {
        let _ = write!(text, "\n{reason}: {n}");
    }
    text
}

/// One SVG rectangle with hover text.
fn svg_rect(out: &mut String, (x, y, w, h): (i32, i32, i32, i32), fill: RGBColor, hover: &str) {
    let RGBColor(r, g, b) = fill;
    let _ = writeln!(
        out,
        "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"#{r:02X}{g:02X}{b:02X}\"><title>{}</title></rect>",
        escape(hover)
    );
}

/// The funnel: one horizontal bar per step, from the reader at the top to the writer, each
/// split into the documents kept, dropped and quarantined. A step's drops are one segment in
/// the step's own colour, whose hover text (and the table below the plot) gives the
/// reasons. The legend is a column right of the plot; the SVG is as tall as the rows or
/// the legend need.
fn funnel_svg(stats: &TaskStats) -> Result<String, ReportError> {
    use funnel::*;
    let steps = &stats.steps;
    let n = steps.len().max(1);
    let colours = step_colours(stats);

    // The legend: kept, each step that dropped documents, quarantined.
    let mut legend: Vec<(RGBColor, String, String)> = vec![(
        KEPT,
        "kept".to_owned(),
        "documents a step passed on".to_owned(),
    )];
    for (step, colour) in steps.iter().zip(&colours) {
        if let Some(colour) = colour {
            let label = format!("{}: {} dropped", step.name, step.dropped_total());
            legend.push((*colour, shorten(&label, LEGEND_CHARS), drop_reasons(step)));
        }
    }
    if stats.quarantined() > 0 {
        legend.push((
            QUARANTINED,
            "quarantined".to_owned(),
            "records and documents that failed and went to quarantine".to_owned(),
        ));
    }
    let legend_chars = legend
        .iter()
        .map(|l| l.1.chars().count())
        .max()
        .unwrap_or(0);
    let legend_width =
        (text_width(legend_chars) as u32 + (SWATCH + GAP) as u32 + 2 * MARGIN).max(120);
    let names: Vec<String> = steps.iter().map(|s| shorten(&s.name, NAME_CHARS)).collect();
    let name_chars = names.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let name_width = (text_width(name_chars) as u32 + 16).max(48);

    let rows = CAPTION + 2 * MARGIN + n as u32 * ROW + X_AXIS;
    let legend_height = CAPTION + 2 * MARGIN + legend.len() as u32 * LEGEND_ROW as u32;
    let height = rows.max(legend_height).max(MIN_HEIGHT);

    let top = steps
        .iter()
        .map(|s| s.documents_in)
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.05;
    // Row `p` from the bottom shows step `n - 1 - p`, so that the reader is at the top
    // (and step `i` is in row `n - 1 - i`).
    let row_of = |i: usize| n - 1 - i;
    let label_of = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(p) | SegmentValue::Exact(p) if *p < n => {
            names.get(row_of(*p)).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    // Plotters writes a font's size divided by 1.24 into the SVG.
    let font = ("sans-serif", FONT * 1.24);
    sized_figure("funnel", titles::FUNNEL, (WIDTH, height), |root| {
        let body = root.titled(titles::FUNNEL, ("sans-serif", 20))?;
        let (left, _) = body.split_horizontally(WIDTH - legend_width);
        let mut chart = ChartBuilder::on(&left)
            .margin(MARGIN)
            .x_label_area_size(X_AXIS)
            .y_label_area_size(name_width)
            .build_cartesian_2d(0f64..top, (0..n - 1).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label_of)
            .x_labels(6)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .x_desc("documents")
            .label_style(font)
            .light_line_style(WHITE)
            .draw()?;

        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<rect class=\"plot-area\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#CCCCCC\"/>",
            xs.start,
            ys.start,
            xs.end - xs.start,
            ys.end - ys.start
        );
        out.push_str("<g class=\"bars\">\n");
        for (i, (step, colour)) in steps.iter().zip(&colours).enumerate() {
            let p = row_of(i);
            let (_, y0) = chart.backend_coord(&(0.0, SegmentValue::Exact(p + 1)));
            let (_, y1) = chart.backend_coord(&(0.0, SegmentValue::Exact(p)));
            let (y, h) = (y0.min(y1) + BAR_GAP, (y1 - y0).abs() - 2 * BAR_GAP);
            let kept = format!("{}: {} of {} kept", step.name, step.kept, step.documents_in);
            let quarantined = format!("{}: {} quarantined", step.name, step.quarantined);
            let segments = [
                Some((step.kept, KEPT, kept)),
                colour.map(|c| (step.dropped_total(), c, drop_reasons(step))),
                Some((step.quarantined, QUARANTINED, quarantined)),
            ];
            let (mut count, mut x) = (0u64, chart.backend_coord(&(0.0, SegmentValue::Exact(p))).0);
            for (documents, fill, hover) in segments.into_iter().flatten() {
                if documents == 0 {
                    continue;
                }
                count += documents;
                // A segment of a few documents is still seen: two pixels at least.
                let end = chart
                    .backend_coord(&(count as f64, SegmentValue::Exact(p)))
                    .0
                    .max(x + 2)
                    .min(xs.end);
                svg_rect(&mut out, (x, y, end - x, h), fill, &hover);
                x = end;
            }
        }
        out.push_str("</g>\n<g class=\"legend\">\n");
        let (x0, y0) = (
            (WIDTH - legend_width + MARGIN) as i32,
            ys.start.max((CAPTION + MARGIN) as i32),
        );
        for (k, (colour, label, hover)) in legend.iter().enumerate() {
            let y = y0 + k as i32 * LEGEND_ROW;
            svg_rect(&mut out, (x0, y, SWATCH, SWATCH), *colour, hover);
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"{FONT}\" fill=\"#222222\">{}</text>",
                x0 + SWATCH + GAP,
                y + SWATCH - 1,
                escape(label)
            );
        }
        out.push_str("</g>\n");
        Ok(out)
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

    /// A chain of `n` steps, every one dropping a tenth of what it gets for two reasons.
    fn chain(n: usize) -> TaskStats {
        let mut documents = 10_000;
        let steps = (0..n)
            .map(|i| {
                let mut s = atelier_core::StepStats::named(format!("step_{i}"));
                s.documents_in = documents;
                s.dropped.insert("too_short".into(), documents / 20);
                s.dropped.insert("too_long".into(), documents / 20);
                s.kept = documents - s.dropped_total();
                documents = s.kept;
                s
            })
            .collect();
        TaskStats {
            steps,
            ..TaskStats::default()
        }
    }

    #[test]
    fn every_dropping_step_has_its_own_colour() {
        let mut stats = chain(60);
        stats.steps[3].dropped.clear();
        let colours = step_colours(&stats);
        assert_eq!(
            colours[3], None,
            "a step that dropped nothing has no colour"
        );
        let mut seen: Vec<RGBColor> = colours.iter().flatten().copied().collect();
        assert_eq!(seen.len(), 59);
        assert!(!seen.contains(&KEPT) && !seen.contains(&QUARANTINED));
        assert_eq!(seen[..PALETTE.len()], PALETTE, "the palette first");
        seen.sort_by_key(|c| (c.0, c.1, c.2));
        seen.dedup();
        assert_eq!(seen.len(), 59, "no colour for two steps");
    }

    #[test]
    fn a_long_chain_makes_the_funnel_taller_not_its_legend_longer_than_the_svg() {
        let height = |svg: &str| -> i32 {
            let at = svg.find("height=\"").unwrap() + "height=\"".len();
            svg[at..at + svg[at..].find('"').unwrap()].parse().unwrap()
        };
        let short = funnel_svg(&chain(3)).unwrap();
        let long = funnel_svg(&chain(40)).unwrap();
        assert_eq!(height(&short), funnel::MIN_HEIGHT as i32);
        assert!(
            height(&long) >= 40 * funnel::ROW as i32,
            "{}",
            height(&long)
        );
        // The legend's last entry ends above the bottom of the SVG.
        let legend = &long[long.find("<g class=\"legend\">").unwrap()..];
        let last_y: i32 = legend
            .match_indices("<rect x=")
            .map(|(at, _)| {
                let y = &legend[at..][legend[at..].find("y=\"").unwrap() + 3..];
                y[..y.find('"').unwrap()].parse::<i32>().unwrap()
            })
            .max()
            .unwrap();
        assert!(last_y + funnel::LEGEND_ROW < height(&long));
        assert_eq!(legend.matches("<text").count(), 41, "kept and 40 steps");
        // No steps at all is drawn too.
        assert!(funnel_svg(&TaskStats::default()).is_ok());
    }

    #[test]
    fn long_names_are_shortened() {
        assert_eq!(shorten("dedup", 8), "dedup");
        assert_eq!(shorten("gopher_repetition", 8), "gopher_…");
        assert_eq!(shorten("gopher_repetition", 8).chars().count(), 8);
    }

    #[test]
    fn drop_reasons_list_the_most_frequent_first() {
        let mut s = atelier_core::StepStats::named("c4_quality");
        s.dropped.insert("curly_bracket".into(), 4);
        s.dropped.insert("too_few_sentences".into(), 38);
        assert_eq!(
            drop_reasons(&s),
            "c4_quality: 42 dropped\ntoo_few_sentences: 38\ncurly_bracket: 4"
        );
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
