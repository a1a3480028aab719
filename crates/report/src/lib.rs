//! The lab report: charts and one self-contained HTML page.
//!
//! [`write_report`] takes a plain [`ReportData`] — daily counts per
//! family, the activity mix, alerts and top tables, however they were
//! obtained — and writes into a folder:
//!
//! | file | what |
//! | --- | --- |
//! | `index.html` | the page: key figures, alerts, every chart (inline SVG), top tables; opens from disk, fetches nothing |
//! | `total.{png,svg}` | total volume per day, with the alerts marked on the time axis |
//! | `share.{png,svg}` | each family's share of the volume, stacked |
//! | `families.{png,svg}` | each family's volume per day, alerts marked |
//! | `mix.{png,svg}` | each family's activity mix per day (share of its connections by class), stacked |
//!
//! Charts are drawn with `plotters`; PNG text is rasterised with
//! `ab_glyph` from the DejaVu Sans font shipped in `fonts/` (free licence
//! in `fonts/LICENSE-DejaVu.txt`), so no system font library is needed.
//!
//! Everything in the data may come from an attacker (subjects, URLs,
//! host names, campaign names, even family labels): every string is
//! escaped for HTML, cut to [`ReportOptions::max_text`] characters,
//! and the page carries a Content-Security-Policy that forbids scripts
//! and every fetch, so even a missed escape could not run or load
//! anything.
//!
//! This crate is separate from `botscope-zeeklog` (the Zeek log writer)
//! because `plotters` brings an image encoder and a font rasteriser that
//! the log writer, its fuzz target and every crate using it need not
//! build.

mod charts;
mod error;
mod html;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use botscope_timeline::{Alert, CountRow, DailySeries, MixRow, MixSeries};

pub use error::{Error, ErrorKind};
pub use html::escape;

/// The font charts are drawn with (DejaVu Sans, Bitstream Vera licence).
pub const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// One row of a top table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopRow {
    /// What is counted: a campaign, a brand, a clicked URL or site, a
    /// C&C server.
    pub name: String,
    /// A detail shown beside it: a sample subject, a forged Referer, a
    /// request line…
    pub detail: String,
    /// Families seen with it.
    pub families: Vec<String>,
    /// How many (messages, clicks, check-ins…).
    pub count: u64,
}

/// Everything the report shows, as plain values.
#[derive(Clone, Debug, Default)]
pub struct ReportData {
    /// Page title, e.g. "Spam trap report".
    pub title: String,
    /// A line under the title (the source: trap, store path…).
    pub subtitle: String,
    /// Volume per family per day (trap messages).
    pub volume: Vec<CountRow>,
    /// Unit of `volume`, plural ("messages").
    pub volume_unit: String,
    /// Connections per family, activity class and day (sandbox).
    pub mix: Vec<MixRow>,
    /// Alerts (from `botscope-timeline`).
    pub alerts: Vec<Alert>,
    /// More key figures to show, as (label, value).
    pub figures: Vec<(String, String)>,
    /// Top campaigns (detail: a sample subject).
    pub campaigns: Vec<TopRow>,
    /// Top brands.
    pub brands: Vec<TopRow>,
    /// Top clicked sites (detail: the forged Referer).
    pub clicked_sites: Vec<TopRow>,
    /// Top C&C servers (detail: a sample request).
    pub c2_servers: Vec<TopRow>,
}

/// Sizes and caps of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOptions {
    /// Chart width in pixels.
    pub width: u32,
    /// Height of one chart (or of one family's panel in the mix chart).
    pub height: u32,
    /// Rows per top table.
    pub max_rows: usize,
    /// Longest text shown from the data, in characters (longer is cut
    /// with "…").
    pub max_text: usize,
    /// Families drawn separately (the rest are summed as "other").
    pub max_families: usize,
    /// Activity classes left out of the mix chart.
    pub mix_ignore: Vec<String>,
    /// Most days charted (the last ones).
    pub max_days: usize,
    /// Most families read from the data (the largest); the series are
    /// dense, so memory is about `max_keys × max_days × 8` bytes.
    pub max_keys: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            width: 1000,
            height: 340,
            max_rows: 25,
            max_text: 160,
            max_families: 10,
            mix_ignore: vec!["dns".into()],
            max_days: 3_660,
            max_keys: 200,
        }
    }
}

/// What [`write_report`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFiles {
    /// Every file, `index.html` first.
    pub files: Vec<PathBuf>,
}

/// Register the embedded font with plotters (once per process).
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is ours and valid; should it ever fail, PNG charts
        // report a font error instead of drawing text.
        let _ =
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, FONT);
    });
}

/// Write the report of `data` into `out` (created if needed). Every file
/// goes through a temporary name, then is renamed.
pub fn write_report(
    data: &ReportData,
    opts: &ReportOptions,
    out: &Path,
) -> Result<ReportFiles, Error> {
    register_font();
    fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let model = charts::Model::build(data, opts);
    let mut files = vec![out.join("index.html")];
    let mut svgs = BTreeMap::new();
    for chart in charts::Chart::ALL {
        let svg = charts::svg(&model, chart, opts)?;
        let svg_path = out.join(format!("{}.svg", chart.name()));
        write_atomic(&svg_path, svg.as_bytes())?;
        let png_path = out.join(format!("{}.png", chart.name()));
        charts::png(&model, chart, opts, &png_path)?;
        files.push(png_path);
        files.push(svg_path);
        svgs.insert(chart.name(), svg);
    }
    let page = html::page(data, &model, opts, &svgs);
    write_atomic(&out.join("index.html"), page.as_bytes())?;
    Ok(ReportFiles { files })
}

/// Daily series of the report's data (for callers that want the numbers
/// the charts show).
pub fn series(data: &ReportData, opts: &ReportOptions) -> (DailySeries, MixSeries) {
    (
        DailySeries::from_rows(&data.volume, opts.max_keys, opts.max_days),
        MixSeries::from_rows(
            &data.mix,
            &opts.mix_ignore,
            opts.max_keys,
            opts.max_days,
            64,
        ),
    )
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
