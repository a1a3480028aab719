//! The HTML page: escaped text, inline SVG charts, no script, no fetch.

use std::collections::BTreeMap;
use std::fmt::Write;

use botscope_timeline::fmt::{count, pct};
use botscope_timeline::AlertKind;

use crate::charts::{is_campaign_alert, kind_color, sorted_alerts, Model};
use crate::{ReportData, ReportOptions, TopRow};

/// Text made safe for HTML element content and quoted attribute values:
/// `& < > " '` become entities, control characters (but tab and
/// newline) become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `s`, with "…" when cut.
pub fn clip(s: &str, max: usize) -> String {
    let max = max.max(1);
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn esc(s: &str, opts: &ReportOptions) -> String {
    escape(&clip(s, opts.max_text))
}

const STYLE: &str = r#"
:root { --ink:#282c34; --muted:#5c6370; --line:#e1e4e8; --bg:#f6f7f9; --accent:#1f77b4; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.5 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color:var(--ink); background:var(--bg); }
header { background:#1d2530; color:#fff; padding:28px 40px 22px; }
header h1 { margin:0 0 4px; font-size:26px; font-weight:600; letter-spacing:.2px; }
header p { margin:0; color:#c8d0da; }
main { max-width:1100px; margin:0 auto; padding:24px 40px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:6px; padding:18px 22px; margin:0 0 22px; }
h2 { font-size:18px; margin:0 0 12px; font-weight:600; }
h2 small { font-weight:400; color:var(--muted); font-size:13px; margin-left:8px; }
.figures { display:flex; flex-wrap:wrap; gap:12px; }
.figure { flex:1 1 150px; border:1px solid var(--line); border-radius:6px; padding:10px 14px; background:#fbfcfd; }
.figure b { display:block; font-size:22px; font-weight:600; }
.figure span { color:var(--muted); font-size:13px; }
table { border-collapse:collapse; width:100%; font-size:13.5px; }
th { text-align:left; color:var(--muted); font-weight:600; border-bottom:2px solid var(--line); padding:6px 8px; }
td { border-bottom:1px solid var(--line); padding:6px 8px; vertical-align:top; overflow-wrap:anywhere; }
td.n, th.n { text-align:right; white-space:nowrap; font-variant-numeric:tabular-nums; }
td.date, td.fam { white-space:nowrap; }
.kind { display:inline-block; white-space:nowrap; color:#fff; border-radius:3px; padding:1px 7px; font-size:12px; font-weight:600; }
.series { color:var(--muted); font-size:12px; }
figure { margin:0; }
figure svg { width:100%; height:auto; display:block; }
figcaption { color:var(--muted); font-size:12.5px; margin-top:6px; }
figcaption a { color:var(--accent); }
.empty { color:var(--muted); font-style:italic; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:0 0 30px; }
"#;

fn hex(c: plotters::style::RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// The whole page.
pub fn page(
    data: &ReportData,
    m: &Model,
    opts: &ReportOptions,
    svgs: &BTreeMap<&'static str, String>,
) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let title = if data.title.is_empty() {
        "botscope report".to_string()
    } else {
        data.title.clone()
    };
    let period = if m.days > 0 {
        let last = m
            .first_day
            .checked_add_days(chrono::Days::new(m.days as u64 - 1))
            .unwrap_or(m.first_day);
        format!(
            "{} – {} ({} days)",
            m.first_day.format("%-d %b %Y"),
            last.format("%-d %b %Y"),
            m.days
        )
    } else {
        "no data".to_string()
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{}</h1>\n<p>{}{}{}</p>\n</header>\n<main>\n",
        esc(&title, opts),
        esc(&title, opts),
        esc(&data.subtitle, opts),
        if data.subtitle.is_empty() { "" } else { " · " },
        escape(&period),
    );

    // Key figures.
    let total: f64 = m.totals.iter().sum();
    let peak = m.totals.iter().enumerate().fold(
        (0usize, 0.0f64),
        |b, (t, &v)| if v > b.1 { (t, v) } else { b },
    );
    let peak_day = m
        .first_day
        .checked_add_days(chrono::Days::new(peak.0 as u64))
        .unwrap_or(m.first_day);
    let mut figures: Vec<(String, String)> = vec![
        (count(total), m.unit.clone()),
        (
            (m.families.len() - usize::from(m.other_families > 0) + m.other_families).to_string(),
            "families".into(),
        ),
        (data.alerts.len().to_string(), "alerts".into()),
    ];
    if m.days > 0 {
        figures.push((
            count(peak.1),
            format!("peak day, {}", peak_day.format("%-d %b %Y")),
        ));
    }
    figures.extend(data.figures.iter().cloned());
    h.push_str("<section>\n<h2>Key figures</h2>\n<div class=\"figures\">\n");
    for (v, label) in figures.iter().take(opts.max_rows) {
        let _ = writeln!(
            h,
            "<div class=\"figure\"><b>{}</b><span>{}</span></div>",
            esc(v, opts),
            esc(label, opts)
        );
    }
    h.push_str("</div>\n</section>\n");

    // Alerts.
    let alerts = sorted_alerts(&data.alerts);
    let _ = write!(
        h,
        "<section>\n<h2>What happened<small>{} alerts; the numbers mark them on the charts</small></h2>\n",
        alerts.len()
    );
    if alerts.is_empty() {
        h.push_str("<p class=\"empty\">No alert.</p>\n");
    } else {
        h.push_str("<table>\n<tr><th class=\"n\">#</th><th>date</th><th>family</th><th>kind</th><th class=\"n\">before</th><th class=\"n\">after</th><th>evidence</th></tr>\n");
        let mut in_campaigns = false;
        for (i, a) in alerts.iter().enumerate() {
            if is_campaign_alert(a) && !in_campaigns {
                in_campaigns = true;
                h.push_str(
                    "<tr><th colspan=\"7\">Single campaigns (not marked on the charts)</th></tr>\n",
                );
            }
            let level = |v: f64| {
                if a.kind == AlertKind::Shift {
                    pct(v)
                } else {
                    format!("{}/day", count(v))
                }
            };
            let _ = writeln!(
                h,
                "<tr><td class=\"n\">{}</td><td class=\"date\">{}</td><td class=\"fam\">{}</td>\
<td><span class=\"kind\" style=\"background:{}\">{}</span></td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}<div class=\"series\">{}</div></td></tr>",
                i + 1,
                a.date().format("%Y-%m-%d"),
                esc(&a.family, opts),
                hex(kind_color(a.kind)),
                a.kind.as_str(),
                escape(&level(a.level_before)),
                escape(&level(a.level_after)),
                esc(&a.evidence, opts),
                esc(&a.series, opts),
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</section>\n");

    // Charts.
    let captions = [
        ("total", "Total volume", "Every family's messages per day added up. Dashed lines: alerts, coloured by kind."),
        ("share", "Share per family", "Each family's part of the day's volume; the largest family at the bottom."),
        ("families", "Volume per family", "Messages per day of each family; dots: that family's alerts."),
        ("mix", "Activity mix per family", "What each family's sandbox host did each day, as a share of its connections by activity class."),
    ];
    for (name, heading, caption) in captions {
        let Some(svg) = svgs.get(name) else { continue };
        let more = match name {
            "mix" if m.other_mix > 0 => format!(" ({} smaller families not drawn.)", m.other_mix),
            "share" | "families" if m.other_families > 0 => {
                format!(
                    " ({} smaller families summed as \"other\".)",
                    m.other_families
                )
            }
            _ => String::new(),
        };
        let _ = write!(
            h,
            "<section>\n<h2>{heading}</h2>\n<figure>\n{}\n<figcaption>{caption}{more} Files: <a href=\"{name}.png\">{name}.png</a> · <a href=\"{name}.svg\">{name}.svg</a></figcaption>\n</figure>\n</section>\n",
            strip_xml_prolog(svg)
        );
    }

    // Top tables.
    let tables: [(&str, &str, &str, &str, &[TopRow]); 4] = [
        (
            "Top campaigns",
            "campaign",
            "sample subject",
            "messages",
            &data.campaigns,
        ),
        ("Top brands", "brand", "", "messages", &data.brands),
        (
            "Top clicked sites",
            "site",
            "forged Referer",
            "clicks",
            &data.clicked_sites,
        ),
        (
            "Top C&amp;C servers",
            "server",
            "sample request",
            "check-ins",
            &data.c2_servers,
        ),
    ];
    for (heading, name_col, detail_col, count_col, rows) in tables {
        let _ = write!(h, "<section>\n<h2>{heading}</h2>\n");
        if rows.is_empty() {
            h.push_str("<p class=\"empty\">None seen.</p>\n</section>\n");
            continue;
        }
        let _ = write!(h, "<table>\n<tr><th>{name_col}</th>");
        if !detail_col.is_empty() {
            let _ = write!(h, "<th>{detail_col}</th>");
        }
        let _ = writeln!(h, "<th>families</th><th class=\"n\">{count_col}</th></tr>");
        let mut sorted: Vec<&TopRow> = rows.iter().collect();
        sorted.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        for r in sorted.iter().take(opts.max_rows) {
            let _ = write!(h, "<tr><td>{}</td>", esc(&r.name, opts));
            if !detail_col.is_empty() {
                let _ = write!(h, "<td>{}</td>", esc(&r.detail, opts));
            }
            let fams = r
                .families
                .iter()
                .take(8)
                .map(|f| esc(f, opts))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                h,
                "<td>{fams}</td><td class=\"n\">{}</td></tr>",
                count(r.count as f64)
            );
        }
        if rows.len() > opts.max_rows {
            let _ = writeln!(
                h,
                "<tr><td colspan=\"4\" class=\"series\">… and {} more</td></tr>",
                rows.len() - opts.max_rows
            );
        }
        h.push_str("</table>\n</section>\n");
    }
    let lo = &m.left_out;
    if lo.keys + lo.old_rows + lo.classes > 0 {
        let _ = writeln!(
            h,
            "<p class=\"series\">Left out by the report's caps: {} series ({} rows), {} rows older than the charted days, {} activity classes.</p>",
            lo.keys, lo.key_rows, lo.old_rows, lo.classes
        );
    }
    h.push_str("</main>\n<footer>Made by botscope · charts drawn with plotters, text in DejaVu Sans · this page loads nothing from the network</footer>\n</body>\n</html>\n");
    h
}

/// Inline SVG needs no XML prolog.
fn strip_xml_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_clip() {
        assert_eq!(
            escape(r#""><img src=x onerror=alert(1)>"#),
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(escape("a&b'c\u{0}"), "a&amp;b&#39;c\u{FFFD}");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("żółw", 4), "żółw");
        assert_eq!(clip("żółw", 2), "żó…");
    }
}
