//! The charts, drawn once for SVG and once for PNG from the same model.

use std::path::Path;

use botscope_timeline::{AlertKind, DailySeries, MixSeries};
use chrono::{Datelike, NaiveDate};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::html::clip;
use crate::{Error, ReportData, ReportOptions};

/// The charts of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chart {
    Total,
    Share,
    Families,
    Mix,
}

impl Chart {
    pub const ALL: [Chart; 4] = [Chart::Total, Chart::Share, Chart::Families, Chart::Mix];

    pub fn name(self) -> &'static str {
        match self {
            Chart::Total => "total",
            Chart::Share => "share",
            Chart::Families => "families",
            Chart::Mix => "mix",
        }
    }
}

/// One family's (or "other"'s) daily volume.
pub struct Family {
    pub name: String,
    pub color: RGBColor,
    pub counts: Vec<f64>,
    pub total: f64,
}

/// One family's daily activity mix.
pub struct FamilyMix {
    pub name: String,
    /// (class, colour), in stacking order.
    pub classes: Vec<(String, RGBColor)>,
    /// `shares[t][c]`, 0..1; all zero on days without connections.
    pub shares: Vec<Vec<f64>>,
}

/// An alert marker: its day, its number in the alert table and kind.
pub struct Marker {
    pub day: usize,
    pub number: usize,
    pub kind: AlertKind,
    pub family: String,
}

/// What the charts draw, on one shared run of days.
pub struct Model {
    pub first_day: NaiveDate,
    pub days: usize,
    pub unit: String,
    pub totals: Vec<f64>,
    /// Largest families first; "other" last.
    pub families: Vec<Family>,
    pub mix: Vec<FamilyMix>,
    pub markers: Vec<Marker>,
    /// Families left in "other".
    pub other_families: usize,
    /// Families left out of the mix chart.
    pub other_mix: usize,
    /// Series and rows left out by the caps ([`ReportOptions::max_keys`],
    /// `max_days`).
    pub left_out: botscope_timeline::Skipped,
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(82, 84, 163),
];
const OTHER: RGBColor = RGBColor(180, 180, 180);
const INK: RGBColor = RGBColor(40, 44, 52);
const GRID: RGBColor = RGBColor(225, 228, 232);

/// Colour of an activity class: the usual ones fixed, so every family's
/// panel reads the same.
fn class_color(class: &str, i: usize) -> RGBColor {
    match class {
        "spam" => RGBColor(31, 119, 180),
        "click_fraud" => RGBColor(255, 127, 14),
        "c2" => RGBColor(148, 103, 189),
        "download" => RGBColor(214, 39, 40),
        "scan" => RGBColor(140, 86, 75),
        "benign" => RGBColor(199, 199, 199),
        "dns" => RGBColor(225, 225, 225),
        _ => PALETTE[(i + 5) % PALETTE.len()],
    }
}

/// Colour of an alert kind (also used by the HTML badges).
pub fn kind_color(kind: AlertKind) -> RGBColor {
    match kind {
        AlertKind::Silence => RGBColor(55, 55, 60),
        AlertKind::Drop => RGBColor(214, 39, 40),
        AlertKind::Return => RGBColor(44, 160, 44),
        AlertKind::Shift => RGBColor(148, 103, 189),
        AlertKind::Changepoint => RGBColor(230, 120, 10),
        AlertKind::Move => RGBColor(23, 190, 207),
    }
}

fn class_rank(class: &str) -> usize {
    [
        "spam",
        "click_fraud",
        "c2",
        "download",
        "scan",
        "benign",
        "dns",
    ]
    .iter()
    .position(|c| *c == class)
    .unwrap_or(7)
}

impl Model {
    pub fn build(data: &ReportData, opts: &ReportOptions) -> Model {
        let (vol, mix): (DailySeries, MixSeries) = crate::series(data, opts);
        // One run of days for both.
        let mut first = None::<NaiveDate>;
        let mut last = None::<NaiveDate>;
        for (f, n) in [(vol.first_day, vol.days), (mix.first_day, mix.days)] {
            if n == 0 {
                continue;
            }
            let l = f
                .checked_add_days(chrono::Days::new(n as u64 - 1))
                .unwrap_or(f);
            first = Some(first.map_or(f, |x| x.min(f)));
            last = Some(last.map_or(l, |x| x.max(l)));
        }
        let (first_day, days) = match (first, last) {
            (Some(f), Some(l)) => {
                let n = ((l - f).num_days() + 1).clamp(1, opts.max_days.max(1) as i64) as usize;
                (f, n)
            }
            _ => (NaiveDate::default(), 0),
        };
        let offset = |d: NaiveDate| (d - first_day).num_days().max(0) as usize;

        let vo = offset(vol.first_day);
        let mut totals = vec![0.0; days];
        let mut fams: Vec<Family> = vol
            .keys
            .iter()
            .zip(&vol.counts)
            .map(|(k, c)| {
                let mut counts = vec![0.0; days];
                for (t, &v) in c.iter().enumerate() {
                    if let Some(x) = counts.get_mut(vo + t) {
                        *x = v as f64;
                    }
                }
                for (a, b) in totals.iter_mut().zip(&counts) {
                    *a += b;
                }
                Family {
                    name: clip(k, opts.max_text.min(40)),
                    color: OTHER,
                    total: counts.iter().sum(),
                    counts,
                }
            })
            .collect();
        fams.sort_by(|a, b| {
            b.total
                .total_cmp(&a.total)
                .then_with(|| a.name.cmp(&b.name))
        });
        let keep = opts.max_families.max(1);
        let mut other_families = 0;
        if fams.len() > keep {
            let rest = fams.split_off(keep);
            other_families = rest.len();
            let mut counts = vec![0.0; days];
            for f in &rest {
                for (a, b) in counts.iter_mut().zip(&f.counts) {
                    *a += b;
                }
            }
            fams.push(Family {
                name: format!("other ({} families)", rest.len()),
                color: OTHER,
                total: counts.iter().sum(),
                counts,
            });
        }
        for (i, f) in fams.iter_mut().enumerate() {
            if i < keep {
                f.color = PALETTE[i % PALETTE.len()];
            }
        }

        let mo = offset(mix.first_day);
        // The largest mixes only are made dense.
        let mut by_size: Vec<&botscope_timeline::KeyMix> = mix.keys.iter().collect();
        by_size.sort_by(|a, b| b.total().cmp(&a.total()).then_with(|| a.key.cmp(&b.key)));
        let other_mix = by_size.len().saturating_sub(keep);
        by_size.truncate(keep);
        let mut mixes: Vec<FamilyMix> = by_size
            .into_iter()
            .map(|km| {
                let mut order: Vec<usize> = (0..km.classes.len()).collect();
                order.sort_by_key(|&c| (class_rank(&km.classes[c]), km.classes[c].clone()));
                let classes = order
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| (clip(&km.classes[c], 30), class_color(&km.classes[c], i)))
                    .collect();
                let mut shares = vec![vec![0.0; order.len()]; days];
                for (t, row) in km.dense(mix.days).iter().enumerate() {
                    let n: f64 = row.iter().map(|&x| x as f64).sum();
                    if n <= 0.0 {
                        continue;
                    }
                    if let Some(s) = shares.get_mut(mo + t) {
                        for (j, &c) in order.iter().enumerate() {
                            s[j] = row[c] as f64 / n;
                        }
                    }
                }
                FamilyMix {
                    name: clip(&km.key, 40),
                    classes,
                    shares,
                }
            })
            .collect();
        // Same order as the volume chart where the family is there.
        mixes.sort_by_key(|m| {
            fams.iter()
                .position(|f| f.name == m.name)
                .unwrap_or(usize::MAX)
        });

        let markers = sorted_alerts(&data.alerts)
            .into_iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let d = a.date();
                if d < first_day || is_campaign_alert(a) {
                    return None;
                }
                let day = offset(d);
                (day < days).then(|| Marker {
                    day,
                    number: i + 1,
                    kind: a.kind,
                    family: clip(&a.family, 40),
                })
            })
            .collect();
        Model {
            first_day,
            days,
            unit: if data.volume_unit.is_empty() {
                "messages".into()
            } else {
                clip(&data.volume_unit, 30)
            },
            totals,
            families: fams,
            mix: mixes,
            markers,
            other_families,
            other_mix,
            left_out: botscope_timeline::Skipped {
                keys: vol.skipped.keys + mix.skipped.keys,
                key_rows: vol.skipped.key_rows + mix.skipped.key_rows,
                old_rows: vol.skipped.old_rows + mix.skipped.old_rows,
                classes: mix.skipped.classes,
            },
        }
    }

    fn date(&self, t: i64) -> NaiveDate {
        if t < 0 {
            return self.first_day;
        }
        self.first_day
            .checked_add_days(chrono::Days::new(t as u64))
            .unwrap_or(self.first_day)
    }

    /// Tick days: month starts on long runs, Mondays on a few weeks,
    /// every day on a short run.
    fn ticks(&self) -> Vec<i64> {
        let n = self.days as i64;
        let pick = |f: &dyn Fn(NaiveDate) -> bool| -> Vec<i64> {
            (0..n).filter(|&t| f(self.date(t))).collect()
        };
        let v = if n > 75 {
            pick(&|d| d.day() == 1)
        } else if n > 14 {
            pick(&|d| d.weekday() == chrono::Weekday::Mon)
        } else {
            (0..n).collect()
        };
        if v.is_empty() {
            vec![0]
        } else {
            v
        }
    }

    fn label(&self, t: i64) -> String {
        let d = self.date(t);
        if d.day() == 1 && d.month() == 1 || t == 0 {
            d.format("%-d %b %Y").to_string()
        } else {
            d.format("%-d %b").to_string()
        }
    }
}

/// An alert on one campaign's series (there can be dozens): listed in
/// the table after the others, not marked on the charts.
pub fn is_campaign_alert(a: &botscope_timeline::Alert) -> bool {
    a.series.contains(" by campaign")
}

/// The alerts in table order: family and brand alerts by date, family,
/// kind; then campaign alerts in the same order.
pub fn sorted_alerts(alerts: &[botscope_timeline::Alert]) -> Vec<&botscope_timeline::Alert> {
    let mut v: Vec<_> = alerts.iter().collect();
    v.sort_by(|a, b| {
        is_campaign_alert(a)
            .cmp(&is_campaign_alert(b))
            .then_with(|| a.ts.cmp(&b.ts))
            .then_with(|| a.family.cmp(&b.family))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    v
}

/// Pixel size of a chart.
fn size(m: &Model, chart: Chart, opts: &ReportOptions) -> (u32, u32) {
    let w = opts.width.clamp(300, 4000);
    let h = opts.height.clamp(150, 2000);
    match chart {
        Chart::Mix => (w, 40 + (h * 3 / 5).max(120) * m.mix.len().max(1) as u32),
        Chart::Families => (w, h + 60),
        _ => (w, h),
    }
}

/// The chart as SVG text.
pub fn svg(m: &Model, chart: Chart, opts: &ReportOptions) -> Result<String, Error> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size(m, chart, opts)).into_drawing_area();
        draw(&root, m, chart).map_err(|e| Error::chart(chart.name(), e))?;
        root.present()
            .map_err(|e| Error::chart(chart.name(), e.to_string()))?;
    }
    Ok(out)
}

/// The chart as a PNG file at `path` (written under a temporary name,
/// then renamed).
pub fn png(m: &Model, chart: Chart, opts: &ReportOptions, path: &Path) -> Result<(), Error> {
    let tmp = path.with_file_name(format!(".{}.tmp.png", chart.name()));
    let result = (|| {
        let root = BitMapBackend::new(&tmp, size(m, chart, opts)).into_drawing_area();
        draw(&root, m, chart)?;
        root.present().map_err(|e| e.to_string())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::chart(chart.name(), e));
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

type Res = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, m: &Model, chart: Chart) -> Res {
    root.fill(&WHITE).map_err(err)?;
    if m.days == 0 {
        root.draw(&Text::new(
            "no data",
            (20, 20),
            ("sans-serif", 16).into_font().color(&INK),
        ))
        .map_err(err)?;
        return Ok(());
    }
    match chart {
        Chart::Total => total(root, m),
        Chart::Share => share(root, m),
        Chart::Families => families(root, m),
        Chart::Mix => mixes(root, m),
    }
}

/// Top of the percentage charts: room above 100% for alert labels.
const PCT_TOP: f64 = 120.0;

/// `40%`; nothing above 100% (the room for labels).
fn pct_label(v: f64) -> String {
    if v > 100.5 {
        String::new()
    } else {
        format!("{v:.0}%")
    }
}

fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for f in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if f * p >= v {
            return f * p;
        }
    }
    10.0 * p
}

fn fmt_count(v: f64) -> String {
    botscope_timeline::fmt::count(v)
}

fn total<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, m: &Model) -> Res {
    let peak = m.totals.iter().cloned().fold(0.0, f64::max);
    let ymax = nice_max(peak * 1.2);
    let n = m.days as i64;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Total volume ({}/day), alerts numbered as in the table",
                m.unit
            ),
            ("sans-serif", 17).into_font().color(&INK),
        )
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d((0..n.max(2) - 1).with_key_points(m.ticks()), 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .axis_style(INK.mix(0.6))
        .x_label_formatter(&|t| m.label(*t))
        .y_label_formatter(&|v| fmt_count(*v))
        .label_style(("sans-serif", 12).into_font().color(&INK))
        .draw()
        .map_err(err)?;
    let blue = RGBColor(31, 119, 180);
    chart
        .draw_series(
            AreaSeries::new(
                m.totals.iter().enumerate().map(|(t, &v)| (t as i64, v)),
                0.0,
                blue.mix(0.25),
            )
            .border_style(blue.stroke_width(2)),
        )
        .map_err(err)?;
    markers_generic(&mut chart, m, ymax, None)
}

/// Markers on any chart whose x is a day index and y a float.
fn markers_generic<DB: DrawingBackend, X>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    m: &Model,
    ymax: f64,
    only: Option<&str>,
) -> Res
where
    X: Ranged<ValueType = i64>,
{
    let mut by_day: std::collections::BTreeMap<usize, Vec<&Marker>> = Default::default();
    for mk in &m.markers {
        if only.is_none_or(|f| f == mk.family) {
            by_day.entry(mk.day).or_default().push(mk);
        }
    }
    // Labels of alerts a few days apart alternate between two rows.
    let close = (m.days / 30).max(1);
    let (mut prev, mut row) = (None::<usize>, 0i32);
    for (day, mks) in &by_day {
        row = match prev {
            Some(p) if day - p <= close => 1 - row,
            _ => 0,
        };
        prev = Some(*day);
        let x = *day as i64;
        let color = kind_color(mks[0].kind);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x, 0.0), (x, ymax * 0.86)],
                4,
                3,
                color.mix(0.85).stroke_width(1),
            ))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(TriangleMarker::new(
                (x, ymax * 0.875),
                5,
                color.filled(),
            )))
            .map_err(err)?;
        let label = mks
            .iter()
            .map(|k| k.number.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let text = EmptyElement::at((x, ymax * 0.995))
            + Text::new(
                label,
                (0, row * 12),
                ("sans-serif", 11).into_font().color(&color).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Top,
                    ),
                ),
            );
        chart.draw_series(std::iter::once(text)).map_err(err)?;
    }
    Ok(())
}

fn share<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, m: &Model) -> Res {
    let n = m.days as i64;
    let (plot, legend) = root.split_horizontally(root.dim_in_pixel().0.saturating_sub(170));
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "Share of each family (stacked, % of the day's volume)",
            ("sans-serif", 17).into_font().color(&INK),
        )
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(50)
        .build_cartesian_2d((0..n.max(2) - 1).with_key_points(m.ticks()), 0f64..PCT_TOP)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .axis_style(INK.mix(0.6))
        .x_label_formatter(&|t| m.label(*t))
        .y_label_formatter(&|v| pct_label(*v))
        .label_style(("sans-serif", 12).into_font().color(&INK))
        .draw()
        .map_err(err)?;
    // Cumulative shares; the largest family at the bottom.
    let mut cum = vec![vec![0.0; m.days]; m.families.len()];
    for (t, &tot) in m.totals.iter().enumerate() {
        let mut acc = 0.0;
        for (row, f) in cum.iter_mut().zip(&m.families) {
            if tot > 0.0 {
                acc += 100.0 * f.counts[t] / tot;
            }
            row[t] = acc;
        }
    }
    for k in (0..m.families.len()).rev() {
        let f = &m.families[k];
        chart
            .draw_series(
                AreaSeries::new(
                    cum[k].iter().enumerate().map(|(t, &v)| (t as i64, v)),
                    0.0,
                    f.color.filled(),
                )
                .border_style(WHITE.stroke_width(1)),
            )
            .map_err(err)?;
    }
    markers_generic(&mut chart, m, PCT_TOP, None)?;
    legend_box(
        &legend,
        m.families.iter().map(|f| (f.name.as_str(), f.color)),
    )
}

fn legend_box<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: impl Iterator<Item = (&'a str, RGBColor)>,
) -> Res {
    let font = ("sans-serif", 13).into_font().color(&INK);
    for (i, (name, color)) in items.enumerate() {
        let y = 44 + i as i32 * 20;
        area.draw(&Rectangle::new([(6, y), (20, y + 12)], color.filled()))
            .map_err(err)?;
        area.draw(&Text::new(name.to_string(), (26, y), font.clone()))
            .map_err(err)?;
    }
    Ok(())
}

fn families<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, m: &Model) -> Res {
    let n = m.days as i64;
    let peak = m
        .families
        .iter()
        .flat_map(|f| f.counts.iter().cloned())
        .fold(0.0, f64::max);
    let ymax = nice_max(peak * 1.12);
    let (plot, legend) = root.split_horizontally(root.dim_in_pixel().0.saturating_sub(170));
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            format!("Volume of each family ({}/day)", m.unit),
            ("sans-serif", 17).into_font().color(&INK),
        )
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d((0..n.max(2) - 1).with_key_points(m.ticks()), 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .axis_style(INK.mix(0.6))
        .x_label_formatter(&|t| m.label(*t))
        .y_label_formatter(&|v| fmt_count(*v))
        .label_style(("sans-serif", 12).into_font().color(&INK))
        .draw()
        .map_err(err)?;
    for f in &m.families {
        chart
            .draw_series(LineSeries::new(
                f.counts.iter().enumerate().map(|(t, &v)| (t as i64, v)),
                f.color.stroke_width(2),
            ))
            .map_err(err)?;
    }
    // Each volume alert as a dot on its family's line (shifts are
    // about the mix: the mix chart marks them).
    for mk in m.markers.iter().filter(|k| k.kind != AlertKind::Shift) {
        let Some(f) = m.families.iter().find(|f| f.name == mk.family) else {
            continue;
        };
        let y = f.counts.get(mk.day).copied().unwrap_or(0.0);
        let color = kind_color(mk.kind);
        let dot = EmptyElement::at((mk.day as i64, y))
            + Circle::new((0, 0), 6, WHITE.filled())
            + Circle::new((0, 0), 4, color.filled())
            + Text::new(
                mk.number.to_string(),
                (7, -16),
                ("sans-serif", 12).into_font().color(&color),
            );
        chart.draw_series(std::iter::once(dot)).map_err(err)?;
    }
    legend_box(
        &legend,
        m.families.iter().map(|f| (f.name.as_str(), f.color)),
    )
}

fn mixes<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, m: &Model) -> Res {
    let (title, body) = root.split_vertically(34);
    title
        .draw(&Text::new(
            "Activity mix of each family (share of its sandbox connections by class)",
            (12, 10),
            ("sans-serif", 17).into_font().color(&INK),
        ))
        .map_err(err)?;
    if m.mix.is_empty() {
        body.draw(&Text::new(
            "no activity data",
            (12, 10),
            ("sans-serif", 14).into_font().color(&INK),
        ))
        .map_err(err)?;
        return Ok(());
    }
    let n = m.days as i64;
    let panels = body.split_evenly((m.mix.len(), 1));
    for (fm, panel) in m.mix.iter().zip(panels.iter()) {
        let (plot, legend) = panel.split_horizontally(panel.dim_in_pixel().0.saturating_sub(170));
        let mut chart = ChartBuilder::on(&plot)
            .caption(fm.name.clone(), ("sans-serif", 14).into_font().color(&INK))
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(50)
            .build_cartesian_2d((0..n.max(2) - 1).with_key_points(m.ticks()), 0f64..PCT_TOP)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(INK.mix(0.6))
            .x_label_formatter(&|t| m.label(*t))
            .y_label_formatter(&|v| pct_label(*v))
            .label_style(("sans-serif", 11).into_font().color(&INK))
            .draw()
            .map_err(err)?;
        let k = fm.classes.len();
        let mut cum = vec![vec![0.0; m.days]; k];
        for (t, day) in fm.shares.iter().enumerate() {
            let mut acc = 0.0;
            for (row, share) in cum.iter_mut().zip(day) {
                acc += 100.0 * share;
                row[t] = acc;
            }
        }
        for c in (0..k).rev() {
            chart
                .draw_series(AreaSeries::new(
                    cum[c].iter().enumerate().map(|(t, &v)| (t as i64, v)),
                    0.0,
                    fm.classes[c].1.filled(),
                ))
                .map_err(err)?;
        }
        markers_generic(&mut chart, m, PCT_TOP, Some(&fm.name))?;
        let (_, lower) = legend.split_vertically(0);
        legend_box(&lower, fm.classes.iter().map(|(c, col)| (c.as_str(), *col)))?;
    }
    Ok(())
}
