//! The routes: pages (one HTML shell; the script draws each page from the
//! JSON API), static assets compiled in, the JSON API under `/api`, CSV
//! downloads, indicator export and the event stream. docs/serve.md lists
//! every endpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Path as AxPath, Query, State as AxState};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use botscope_event::Ts;
use botscope_report::TopRow;
use botscope_store::datafusion::arrow::util::display::array_value_to_string;
use botscope_store::datafusion::execution::context::SQLOptions;
use botscope_store::ActivityRow;
use botscope_zeeklog::ioc::{iocs_bytes, IocFormat};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::observe::family_of_source;
use crate::snapshot::{AlertView, Snapshot};
use crate::State;

type S = AxState<Arc<State>>;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const UPLOT_JS: &str = include_str!("../assets/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../assets/uPlot.LICENSE");

/// Most days drawn on one chart.
const MAX_DAYS: i64 = 4_000;
/// Most series on one chart (the rest are summed into `other`).
const MAX_SERIES: usize = 8;
const DAY_US: i64 = 86_400_000_000;

/// Every route, behind the guard.
pub fn router(state: Arc<State>) -> Router {
    let page = get(index);
    let api = Router::new()
        .route("/api", get(api_index))
        .route("/api/overview", get(overview))
        .route("/api/families", get(families))
        .route("/api/family/{name}", get(family))
        .route("/api/alerts", get(alerts))
        .route("/api/alert/{id}", get(alert))
        .route("/api/hosts", get(hosts))
        .route("/api/host/{ip}", get(host))
        .route("/api/campaigns", get(campaigns))
        .route("/api/campaign/{id}", get(campaign))
        .route("/api/brands", get(brands))
        .route("/api/brand/{name}", get(brand))
        .route("/api/search", get(search))
        .route("/api/sql", get(sql_get).post(sql_post))
        .route("/api/iocs.csv", get(|s: S| iocs(s, IocFormat::Csv)))
        .route("/api/iocs.stix.json", get(|s: S| iocs(s, IocFormat::Stix)))
        .route("/api/iocs.misp.json", get(|s: S| iocs(s, IocFormat::Misp)))
        .route("/api/events", get(events));
    Router::new()
        .route("/", page.clone())
        .route("/families", page.clone())
        .route("/family/{name}", page.clone())
        .route("/alerts", page.clone())
        .route("/alert/{id}", page.clone())
        .route("/hosts", page.clone())
        .route("/host/{ip}", page.clone())
        .route("/campaigns", page.clone())
        .route("/campaign/{id}", page.clone())
        .route("/brands", page.clone())
        .route("/brand/{name}", page.clone())
        .route("/search", page.clone())
        .route("/sql", page)
        .route("/static/app.js", get(|| asset(APP_JS, "text/javascript")))
        .route("/static/app.css", get(|| asset(APP_CSS, "text/css")))
        .route(
            "/static/uPlot.iife.min.js",
            get(|| asset(UPLOT_JS, "text/javascript")),
        )
        .route(
            "/static/uPlot.min.css",
            get(|| asset(UPLOT_CSS, "text/css")),
        )
        .route(
            "/static/uPlot.LICENSE",
            get(|| asset(UPLOT_LICENSE, "text/plain; charset=utf-8")),
        )
        .merge(api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.cfg.limits.max_body))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::guard::guard,
        ))
        .with_state(state)
}

async fn index() -> Response {
    let mut r = INDEX_HTML.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

async fn asset(body: &'static str, ctype: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

async fn not_found() -> Response {
    err(StatusCode::NOT_FOUND, "no such page")
}

fn err(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, Json(json!({ "error": msg.into() }))).into_response()
}

/// A UTC date (`2010-12-25`) of a time in microseconds.
fn day(t: Ts) -> String {
    chrono::DateTime::from_timestamp_micros(t.0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A UTC time (`2010-12-25 06:45:19`) of a time in microseconds.
fn time(t: Ts) -> String {
    chrono::DateTime::from_timestamp_micros(t.0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// One chart's data as uPlot takes it: days (Unix seconds) and one array
/// of values per series, zeros filled in. Series beyond the largest
/// [`MAX_SERIES`] are summed into `other`.
pub fn chart(rows: &[(Ts, &str, u64)], keep_all: bool) -> Value {
    chart_over(rows, keep_all, day_range(rows))
}

/// The first and last day (days since 1970) of `rows`.
fn day_range(rows: &[(Ts, &str, u64)]) -> Option<(i64, i64)> {
    let lo = rows.iter().map(|r| r.0 .0).min()?.div_euclid(DAY_US);
    let hi = rows.iter().map(|r| r.0 .0).max()?.div_euclid(DAY_US);
    Some((lo, hi))
}

/// [`chart`] over the days `range` (both ends included), so that charts
/// drawn one above the other share one time axis.
fn chart_over(rows: &[(Ts, &str, u64)], keep_all: bool, range: Option<(i64, i64)>) -> Value {
    let Some((lo, hi)) = range else {
        return json!({ "x": [], "series": [] });
    };
    if rows.is_empty() {
        return json!({ "x": [], "series": [] });
    }
    let lo = lo.max(hi - MAX_DAYS + 1);
    let n = (hi - lo + 1) as usize;
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows {
        *totals.entry(r.1).or_insert(0) += r.2;
    }
    let mut keys: Vec<(&str, u64)> = totals.into_iter().collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let shown: Vec<&str> = if keep_all || keys.len() <= MAX_SERIES {
        keys.iter().map(|k| k.0).collect()
    } else {
        keys.iter().take(MAX_SERIES - 1).map(|k| k.0).collect()
    };
    let other = shown.len() < keys.len();
    let idx: BTreeMap<&str, usize> = shown.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let mut vals = vec![vec![0u64; n]; shown.len() + usize::from(other)];
    for r in rows {
        let d = r.0 .0.div_euclid(DAY_US);
        if d < lo || d > hi {
            continue;
        }
        let i = idx.get(r.1).copied().unwrap_or(shown.len());
        vals[i][(d - lo) as usize] += r.2;
    }
    let x: Vec<i64> = (lo..=hi).map(|d| d * 86_400).collect();
    let mut series: Vec<Value> = shown
        .iter()
        .zip(vals.iter())
        .map(|(k, v)| json!({ "name": k, "values": v }))
        .collect();
    if other {
        series.push(json!({ "name": "other", "values": vals[shown.len()] }));
    }
    json!({ "x": x, "series": series })
}

/// The same chart as shares of each day's total, in percent.
fn shares(c: &Value) -> Value {
    let Some(series) = c["series"].as_array() else {
        return c.clone();
    };
    let n = c["x"].as_array().map(|x| x.len()).unwrap_or(0);
    let mut tot = vec![0u64; n];
    for s in series {
        for (i, v) in s["values"].as_array().into_iter().flatten().enumerate() {
            if i < n {
                tot[i] += v.as_u64().unwrap_or(0);
            }
        }
    }
    let series: Vec<Value> = series
        .iter()
        .map(|s| {
            let v: Vec<Value> = s["values"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, v)| {
                    let t = tot.get(i).copied().unwrap_or(0);
                    if t == 0 {
                        Value::Null
                    } else {
                        let p = 100.0 * v.as_u64().unwrap_or(0) as f64 / t as f64;
                        json!((p * 100.0).round() / 100.0)
                    }
                })
                .collect();
            json!({ "name": s["name"], "values": v })
        })
        .collect();
    json!({ "x": c["x"], "series": series })
}

pub(crate) fn alert_json(a: &AlertView) -> Value {
    let x = &a.alert;
    json!({
        "id": a.id,
        "date": day(x.ts),
        "key": x.family,
        "kind": x.kind.as_str(),
        "level_before": (x.level_before * 100.0).round() / 100.0,
        "level_after": (x.level_after * 100.0).round() / 100.0,
        "evidence": x.evidence,
        "series": x.series,
    })
}

const TOP_COLS: &[&str] = &["name", "families", "messages", "sample"];

fn top_json(t: &TopRow) -> Value {
    json!({ "name": t.name, "families": t.families, "messages": t.count, "sample": t.detail })
}

fn activity_json(r: &ActivityRow) -> Value {
    json!({
        "host": r.host.to_string(),
        "class": r.class,
        "source": r.source,
        "family": family_of_source(&r.source),
        "first": time(r.first),
        "last": time(r.last),
        "connections": r.connections,
        "requests": r.requests,
        "bytes": r.bytes,
        "share": (r.share * 1000.0).round() / 1000.0,
        "peers": r.peers,
        "evidence": r.evidence,
        "confidence": r.confidence,
    })
}

#[derive(Deserialize, Default)]
struct Fmt {
    format: Option<String>,
}

impl Fmt {
    fn csv(&self) -> bool {
        self.format.as_deref() == Some("csv")
    }
}

/// A CSV cell: quoted when needed; a leading `=`, `+`, `-` or `@` is
/// prefixed with `'` so a spreadsheet does not run attacker text as a
/// formula.
fn csv_cell(v: &Value) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join(" | "),
        other => other.to_string(),
    };
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Objects as CSV, in the order of `cols`.
fn csv_of(rows: &[Value], cols: &[&str], name: &str) -> Response {
    let mut out = cols.join(",");
    out.push('\n');
    for r in rows {
        let line: Vec<String> = cols.iter().map(|c| csv_cell(&r[*c])).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    download(out.into_bytes(), "text/csv; charset=utf-8", name)
}

fn download(body: Vec<u8>, ctype: &'static str, name: &str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

fn list(rows: Vec<Value>, f: &Fmt, name: &str, cols: &[&str]) -> Response {
    if f.csv() {
        csv_of(&rows, cols, &format!("{name}.csv"))
    } else {
        Json(Value::Array(rows)).into_response()
    }
}

async fn api_index() -> Json<Value> {
    Json(json!({
        "endpoints": [
            "GET /api/overview", "GET /api/families", "GET /api/family/{name}",
            "GET /api/alerts[?format=csv]", "GET /api/alert/{id}",
            "GET /api/hosts[?format=csv]", "GET /api/host/{ip}",
            "GET /api/campaigns[?format=csv]", "GET /api/campaign/{id}",
            "GET /api/brands[?format=csv]", "GET /api/brand/{name}",
            "GET /api/search?q=IP|domain|URL|SHA-256|Message-ID|text",
            "GET /api/sql?q=SELECT…[&format=csv]", "POST /api/sql {\"sql\": \"SELECT…\"}",
            "GET /api/iocs.csv", "GET /api/iocs.stix.json", "GET /api/iocs.misp.json",
            "GET /api/events (text/event-stream: `update` on every change of the store)",
        ],
        "docs": "docs/serve.md",
    }))
}

fn family_chart(s: &Snapshot) -> Value {
    let rows: Vec<(Ts, &str, u64)> = s
        .series
        .volume
        .iter()
        .map(|r| (r.bucket, r.key.as_str(), r.count))
        .collect();
    chart(&rows, false)
}

async fn overview(AxState(st): S) -> Json<Value> {
    let s = st.snapshot();
    let total = s.messages();
    let fams: Vec<Value> = s
        .families()
        .into_iter()
        .map(|(k, n)| {
            json!({ "name": k, "messages": n,
                    "share": if total == 0 { 0.0 } else { (10_000.0 * n as f64 / total as f64).round() / 100.0 } })
        })
        .collect();
    let volume = family_chart(&s);
    let share = shares(&volume);
    let newest: Vec<Value> = s.alerts.iter().rev().take(10).map(alert_json).collect();
    let trap = st
        .trap
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|t| {
            let snap = t.stats.snapshot();
            let fed = t.feed.as_ref().map(|f| f.stats());
            json!({
                "listen": t.listen,
                "sessions": snap.sessions,
                "messages_stored": snap.messages_stored,
                "store_errors": snap.store_errors,
                "fed_to_dataset": fed.as_ref().map(|f| f.messages),
                "feed_dropped": fed.as_ref().map(|f| f.dropped),
            })
        });
    Json(json!({
        "version": s.version,
        "built_ms": s.built_ms,
        "totals": {
            "messages": total,
            "families": fams.len(),
            "campaigns": s.campaigns.len(),
            "brands": s.brands.len(),
            "hosts": s.hosts(),
            "activities": s.activity.len(),
            "alerts": s.alerts.len(),
            "inputs": s.inputs,
            "indicators": s.iocs.len(),
        },
        "families": fams,
        "volume": volume,
        "share": share,
        "alerts": newest,
        "trap": trap,
        "watch": if st.cfg.watch.is_empty() { Value::Null } else {
            json!(st.cfg.watch.iter().map(|p| p.display().to_string()).collect::<Vec<_>>())
        },
        "status": st.status(),
    }))
}

async fn families(AxState(st): S) -> Json<Value> {
    let s = st.snapshot();
    let mut by: BTreeMap<String, (String, u64, u64, usize)> = BTreeMap::new();
    for (k, n) in s.families() {
        let e = by.entry(k.to_ascii_lowercase()).or_default();
        e.0 = k;
        e.1 = n;
    }
    for (k, n) in s.sandbox_families() {
        let e = by.entry(k.to_ascii_lowercase()).or_default();
        if e.0.is_empty() {
            e.0 = k;
        }
        e.2 = n;
    }
    for a in &s.alerts {
        if let Some(e) = by.get_mut(&a.alert.family.to_ascii_lowercase()) {
            e.3 += 1;
        }
    }
    let total = s.messages();
    let mut v: Vec<Value> = by
        .into_values()
        .map(|(name, m, c, a)| {
            json!({ "name": name, "messages": m,
                    "share": if total == 0 { 0.0 } else { (10_000.0 * m as f64 / total as f64).round() / 100.0 },
                    "sandbox_connections": c, "alerts": a })
        })
        .collect();
    v.sort_by(|a, b| {
        b["messages"].as_u64().cmp(&a["messages"].as_u64()).then(
            b["sandbox_connections"]
                .as_u64()
                .cmp(&a["sandbox_connections"].as_u64()),
        )
    });
    Json(Value::Array(v))
}

async fn family(AxState(st): S, AxPath(name): AxPath<String>) -> Response {
    let s = st.snapshot();
    let same = |k: &str| k.eq_ignore_ascii_case(&name);
    let vol: Vec<(Ts, &str, u64)> = s
        .series
        .volume
        .iter()
        .filter(|r| same(&r.key))
        .map(|r| (r.bucket, "trap messages", r.count))
        .collect();
    let mix: Vec<(Ts, &str, u64)> = s
        .series
        .mix
        .iter()
        .filter(|r| same(&r.key))
        .map(|r| (r.bucket, r.class.as_str(), r.count))
        .collect();
    if vol.is_empty() && mix.is_empty() {
        return err(
            StatusCode::NOT_FOUND,
            format!("no family {name:?} in the store"),
        );
    }
    let alerts: Vec<Value> = s
        .alerts
        .iter()
        .filter(|a| same(&a.alert.family))
        .map(alert_json)
        .collect();
    let both = match (day_range(&vol), day_range(&mix)) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
        (a, b) => a.or(b),
    };
    let hosts: BTreeSet<String> = s
        .activity
        .iter()
        .filter(|r| same(&family_of_source(&r.source)))
        .map(|r| r.host.to_string())
        .collect();
    Json(json!({
        "name": name,
        "messages": vol.iter().map(|r| r.2).sum::<u64>(),
        // One time axis for both: the trap's days and the sandbox's.
        "volume": chart_over(&vol, true, both),
        "mix": chart_over(&mix, true, both),
        "alerts": alerts,
        "hosts": hosts,
    }))
    .into_response()
}

async fn alerts(AxState(st): S, Query(f): Query<Fmt>) -> Response {
    let s = st.snapshot();
    list(
        s.alerts.iter().rev().map(alert_json).collect(),
        &f,
        "alerts",
        &[
            "date",
            "key",
            "kind",
            "level_before",
            "level_after",
            "evidence",
            "series",
            "id",
        ],
    )
}

/// The rows of the series an alert was found in.
fn alert_series<'a>(s: &'a Snapshot, a: &'a AlertView) -> Vec<(Ts, &'a str, u64)> {
    let key = a.alert.family.as_str();
    let what = a.alert.series.as_str();
    let pick = |rows: &'a [botscope_timeline::CountRow]| -> Vec<(Ts, &'a str, u64)> {
        rows.iter()
            .filter(|r| r.key == key)
            .map(|r| (r.bucket, r.key.as_str(), r.count))
            .collect()
    };
    if what.contains("by campaign") {
        let mut v = pick(&s.series.campaigns);
        if v.is_empty() {
            v = s
                .series
                .senders
                .iter()
                .filter(|r| r.key == key)
                .map(|r| (r.bucket, r.class.as_str(), r.count))
                .collect();
        }
        v
    } else if what.contains("by brand") {
        pick(&s.series.brands)
    } else if what.starts_with("sandbox") {
        s.series
            .mix
            .iter()
            .filter(|r| r.key == key)
            .map(|r| (r.bucket, r.class.as_str(), r.count))
            .collect()
    } else {
        pick(&s.series.volume)
    }
}

async fn alert(AxState(st): S, AxPath(id): AxPath<String>) -> Response {
    let s = st.snapshot();
    let Some(a) = s.alert(&id) else {
        return err(
            StatusCode::NOT_FOUND,
            "no such alert (the store may have changed)",
        );
    };
    // Six weeks either side of the event.
    let (lo, hi) = (a.alert.ts.0 - 42 * DAY_US, a.alert.ts.0 + 42 * DAY_US);
    let rows: Vec<(Ts, &str, u64)> = alert_series(&s, a)
        .into_iter()
        .filter(|r| r.0 .0 >= lo && r.0 .0 <= hi)
        .collect();
    let related: Vec<Value> = s
        .alerts
        .iter()
        .filter(|b| b.alert.family == a.alert.family && b.id != a.id)
        .map(alert_json)
        .collect();
    Json(json!({
        "alert": alert_json(a),
        "chart": chart(&rows, false),
        "marker": a.alert.ts.0 / 1_000_000,
        "related": related,
    }))
    .into_response()
}

async fn hosts(AxState(st): S, Query(f): Query<Fmt>) -> Response {
    let s = st.snapshot();
    let mut by: BTreeMap<IpAddr, Vec<&ActivityRow>> = BTreeMap::new();
    for r in &s.activity {
        by.entry(r.host).or_default().push(r);
    }
    let rows: Vec<Value> = by
        .into_iter()
        .map(|(h, rs)| {
            let classes: BTreeSet<&str> = rs
                .iter()
                .filter(|r| r.class != "benign")
                .map(|r| r.class.as_str())
                .collect();
            let fams: BTreeSet<String> = rs.iter().map(|r| family_of_source(&r.source)).collect();
            let inputs: BTreeSet<&str> = rs.iter().map(|r| r.source.as_str()).collect();
            json!({
                "host": h.to_string(),
                "classes": classes,
                "families": fams,
                "inputs": inputs.len(),
                "connections": rs.iter().map(|r| r.connections).sum::<u64>(),
                "first": rs.iter().map(|r| r.first).min().map(time),
                "last": rs.iter().map(|r| r.last).max().map(time),
            })
        })
        .collect();
    list(
        rows,
        &f,
        "hosts",
        &[
            "host",
            "classes",
            "families",
            "inputs",
            "connections",
            "first",
            "last",
        ],
    )
}

async fn host(AxState(st): S, AxPath(ip): AxPath<String>) -> Response {
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return err(StatusCode::BAD_REQUEST, "not an IP address");
    };
    let s = st.snapshot();
    let rows = s.host(ip);
    if rows.is_empty() {
        return err(
            StatusCode::NOT_FOUND,
            format!("no activity of {ip} in the store"),
        );
    }
    let iocs: Vec<Value> = s
        .iocs
        .iter()
        .filter(|i| i.host == ip)
        .map(|i| {
            json!({ "kind": i.kind.as_str(), "value": i.value, "class": i.class.as_str(),
                    "first": time(i.first), "last": time(i.last), "count": i.count })
        })
        .collect();
    // Largest activity first, each on its own line, however small.
    let mut acts: Vec<&ActivityRow> = rows.iter().collect();
    acts.sort_by(|a, b| {
        b.connections
            .cmp(&a.connections)
            .then(a.first.cmp(&b.first))
    });
    Json(json!({
        "host": ip.to_string(),
        "activities": acts.into_iter().map(activity_json).collect::<Vec<_>>(),
        "iocs": iocs,
    }))
    .into_response()
}

async fn campaigns(AxState(st): S, Query(f): Query<Fmt>) -> Response {
    let s = st.snapshot();
    list(
        s.campaigns.iter().map(top_json).collect(),
        &f,
        "campaigns",
        TOP_COLS,
    )
}

async fn brands(AxState(st): S, Query(f): Query<Fmt>) -> Response {
    let s = st.snapshot();
    list(
        s.brands.iter().map(top_json).collect(),
        &f,
        "brands",
        TOP_COLS,
    )
}

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

const MAIL_COLS: &str = "CAST(ts AS VARCHAR) AS ts, subject, sender_ip, helo, mail_from, \
    family, campaign, category, brand, message_id";

async fn mail_detail(
    st: Arc<State>,
    what: &str,
    name: String,
    rows: &[TopRow],
    series: &[botscope_timeline::CountRow],
) -> Response {
    let Some(t) = rows.iter().find(|r| r.name == name) else {
        return err(
            StatusCode::NOT_FOUND,
            format!("no {what} {name:?} in the store"),
        );
    };
    let c: Vec<(Ts, &str, u64)> = series
        .iter()
        .filter(|r| r.key == name)
        .map(|r| (r.bucket, r.key.as_str(), r.count))
        .collect();
    let q = format!(
        "SELECT {MAIL_COLS} FROM mail WHERE {what} = {} ORDER BY ts DESC LIMIT 100",
        lit(&name)
    );
    let messages = match run_sql(&st, &q, 100).await {
        Ok(r) => r.objects(),
        Err(e) => return e,
    };
    Json(json!({
        "row": top_json(t),
        "chart": chart(&c, true),
        "messages": messages,
    }))
    .into_response()
}

async fn campaign(AxState(st): S, AxPath(id): AxPath<String>) -> Response {
    let s = st.snapshot();
    mail_detail(st, "campaign", id, &s.campaigns, &s.series.campaigns).await
}

async fn brand(AxState(st): S, AxPath(name): AxPath<String>) -> Response {
    let s = st.snapshot();
    mail_detail(st, "brand", name, &s.brands, &s.series.brands).await
}

/// Rows of a query, as text cells.
#[derive(Clone)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub truncated: bool,
    pub elapsed_ms: u64,
}

impl Rows {
    fn objects(&self) -> Vec<Value> {
        self.rows
            .iter()
            .map(|r| {
                let mut o = serde_json::Map::new();
                for (c, v) in self.columns.iter().zip(r) {
                    o.insert(
                        c.clone(),
                        v.clone().map(Value::String).unwrap_or(Value::Null),
                    );
                }
                Value::Object(o)
            })
            .collect()
    }
}

/// Run one read-only statement over the store: no DDL, no DML, no `SET`;
/// at most `max_rows` rows and [`Limits::sql_timeout`](crate::Limits).
pub async fn run_sql(st: &State, q: &str, max_rows: usize) -> Result<Rows, Response> {
    if q.len() > st.cfg.limits.max_query_len {
        return Err(err(StatusCode::PAYLOAD_TOO_LARGE, "query too long"));
    }
    // The same query over the same store state answers from memory: a
    // page many analysts open runs its queries once per commit. The key
    // is the store's version, read now (not the snapshot's, which lags).
    let version = crate::snapshot::ledger_version(&st.cfg.store);
    let key = (q.to_string(), max_rows);
    if let Some(r) = st
        .sql_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(version, &key)
    {
        return Ok(r);
    }
    let _permit = match tokio::time::timeout(st.cfg.limits.sql_timeout, st.sql_gate.acquire()).await
    {
        Ok(Ok(p)) => p,
        _ => {
            return Err(err(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many queries running",
            ))
        }
    };
    // Whoever ran it while this one waited for the gate left its answer.
    if let Some(r) = st
        .sql_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(version, &key)
    {
        return Ok(r);
    }
    let started = Instant::now();
    let dir = st.cfg.store.clone();
    let cached_ctx = st
        .sql_ctx
        .lock()
        .await
        .clone()
        .filter(|(v, _)| *v == version);
    let work = async move {
        let ctx = match cached_ctx {
            Some((_, c)) => c,
            None => botscope_store::query::context(&dir)
                .await
                .map_err(|e| e.to_string())?,
        };
        let fresh = ctx.clone();
        let opts = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = ctx
            .sql_with_options(q, opts)
            .await
            .map_err(|e| e.to_string())?;
        let columns: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut stream = df.execute_stream().await.map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        let mut truncated = false;
        while let Some(b) = stream.next().await {
            let b = b.map_err(|e| e.to_string())?;
            for i in 0..b.num_rows() {
                if rows.len() >= max_rows {
                    truncated = true;
                    break;
                }
                let mut r = Vec::with_capacity(b.num_columns());
                for c in b.columns() {
                    r.push(if c.is_null(i) {
                        None
                    } else {
                        Some(array_value_to_string(c, i).map_err(|e| e.to_string())?)
                    });
                }
                rows.push(r);
            }
            if truncated {
                break;
            }
        }
        Ok::<_, String>((columns, rows, truncated, fresh))
    };
    match tokio::time::timeout(st.cfg.limits.sql_timeout, work).await {
        Ok(Ok((columns, rows, truncated, ctx))) => {
            *st.sql_ctx.lock().await = Some((version, ctx));
            let r = Rows {
                columns,
                rows,
                truncated,
                elapsed_ms: started.elapsed().as_millis() as u64,
            };
            st.sql_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .put(version, key, &r);
            Ok(r)
        }
        Ok(Err(e)) => Err(err(StatusCode::BAD_REQUEST, e)),
        Err(_) => Err(err(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the query ran longer than {} s and was stopped",
                st.cfg.limits.sql_timeout.as_secs()
            ),
        )),
    }
}

#[derive(Deserialize)]
struct SqlQuery {
    q: Option<String>,
    format: Option<String>,
}

#[derive(Deserialize)]
struct SqlBody {
    sql: String,
}

fn sql_answer(r: Rows, csv: bool) -> Response {
    if csv {
        let mut out = r.columns.join(",");
        out.push('\n');
        for row in &r.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|c| csv_cell(&c.clone().map(Value::String).unwrap_or(Value::Null)))
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        return download(out.into_bytes(), "text/csv; charset=utf-8", "query.csv");
    }
    Json(json!({
        "columns": r.columns,
        "rows": r.rows,
        "truncated": r.truncated,
        "elapsed_ms": r.elapsed_ms,
    }))
    .into_response()
}

async fn sql_get(AxState(st): S, Query(q): Query<SqlQuery>) -> Response {
    let Some(text) = q.q.filter(|s| !s.trim().is_empty()) else {
        return err(StatusCode::BAD_REQUEST, "give the query as ?q=");
    };
    match run_sql(&st, &text, st.cfg.limits.sql_rows).await {
        Ok(r) => sql_answer(r, q.format.as_deref() == Some("csv")),
        Err(e) => e,
    }
}

async fn sql_post(AxState(st): S, Json(b): Json<SqlBody>) -> Response {
    match run_sql(&st, &b.sql, st.cfg.limits.sql_rows).await {
        Ok(r) => sql_answer(r, false),
        Err(e) => e,
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
}

/// What a search string is.
pub fn search_kind(q: &str) -> &'static str {
    if q.parse::<IpAddr>().is_ok() {
        "ip"
    } else if q.len() == 64 && q.bytes().all(|b| b.is_ascii_hexdigit()) {
        "sha256"
    } else if q.contains("://") {
        "url"
    } else if q.contains('@') {
        "message_id"
    } else if q.contains('.')
        && !q.contains(char::is_whitespace)
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        "domain"
    } else {
        "text"
    }
}

async fn search(AxState(st): S, Query(sq): Query<SearchQuery>) -> Response {
    let q = sq.q.trim().to_string();
    if q.is_empty() || q.len() > 2048 {
        return err(
            StatusCode::BAD_REQUEST,
            "give 1 to 2048 characters to search",
        );
    }
    let kind = search_kind(&q);
    let s = st.snapshot();
    let l = lit(&q);
    let lower = lit(&q.to_ascii_lowercase());
    let mut queries: Vec<(&str, String)> = Vec::new();
    let mut activity: Vec<Value> = Vec::new();
    let peer_match = |p: &str| {
        p == q
            || p.strip_prefix(q.as_str())
                .is_some_and(|rest| rest.starts_with(':'))
            || p.contains(&format!("://{q}"))
    };
    match kind {
        "ip" => {
            let ip: IpAddr = q.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
            activity.extend(
                s.activity
                    .iter()
                    .filter(|r| r.host == ip || r.peers.iter().any(|p| peer_match(p)))
                    .take(200)
                    .map(activity_json),
            );
            queries.push((
                "mail",
                format!(
                    "SELECT {MAIL_COLS} FROM mail WHERE sender_ip = {l} ORDER BY ts DESC LIMIT 50"
                ),
            ));
            queries.push(("conn", format!("SELECT CAST(ts AS VARCHAR) AS ts, source, uid, orig_h, orig_p, resp_h, resp_p, proto, conn_state FROM conn WHERE orig_h = {l} OR resp_h = {l} ORDER BY ts LIMIT 50")));
        }
        "sha256" => {
            queries.push(("http", format!("SELECT CAST(ts AS VARCHAR) AS ts, source, orig_h, resp_h, method, host, uri, status_code, resp_body_sha256 FROM http WHERE resp_body_sha256 = {lower} OR req_body_sha256 = {lower} ORDER BY ts LIMIT 50")));
        }
        "url" => {
            queries.push(("mail", format!("SELECT t AS ts, subject, sender_ip, family, campaign, brand, url FROM (SELECT CAST(ts AS VARCHAR) AS t, subject, sender_ip, family, campaign, brand, unnest(urls) AS url FROM mail) WHERE url = {l} LIMIT 50")));
            let rest = q.split_once("://").map(|x| x.1).unwrap_or("");
            let (h, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            queries.push(("http", format!("SELECT CAST(ts AS VARCHAR) AS ts, source, orig_h, resp_h, method, host, uri, referrer, status_code FROM http WHERE host = {} AND uri = {} ORDER BY ts LIMIT 50", lit(h), lit(path))));
            activity.extend(
                s.activity
                    .iter()
                    .filter(|r| r.peers.iter().any(|p| p == &q))
                    .take(200)
                    .map(activity_json),
            );
        }
        "message_id" => {
            let bare = q.trim_start_matches('<').trim_end_matches('>');
            queries.push(("mail", format!("SELECT {MAIL_COLS} FROM mail WHERE message_id = {} OR message_id = {} LIMIT 50", lit(bare), lit(&format!("<{bare}>")))));
            queries.push(("smtp", format!("SELECT CAST(ts AS VARCHAR) AS ts, source, orig_h, helo, mailfrom, subject, msg_id FROM smtp WHERE msg_id = {} OR msg_id = {} LIMIT 50", lit(bare), lit(&format!("<{bare}>")))));
        }
        "domain" => {
            let like = lit(&format!("%.{}", q.to_ascii_lowercase()));
            queries.push(("mail", format!("SELECT t AS ts, subject, sender_ip, family, campaign, brand, domain FROM (SELECT CAST(ts AS VARCHAR) AS t, subject, sender_ip, family, campaign, brand, unnest(domains) AS domain FROM mail) WHERE domain = {lower} LIMIT 50")));
            queries.push(("http", format!("SELECT CAST(ts AS VARCHAR) AS ts, source, orig_h, resp_h, method, host, uri, referrer, user_agent FROM http WHERE lower(host) = {lower} OR lower(host) LIKE {like} ORDER BY ts LIMIT 50")));
            queries.push(("dns", format!("SELECT CAST(ts AS VARCHAR) AS ts, source, orig_h, query, qtype_name, rcode_name FROM dns WHERE lower(query) = {lower} OR lower(query) LIKE {like} ORDER BY ts LIMIT 50")));
            queries.push(("ssl", format!("SELECT CAST(ts AS VARCHAR) AS ts, source, orig_h, resp_h, server_name, ja3, ja4 FROM ssl WHERE lower(server_name) = {lower} ORDER BY ts LIMIT 50")));
            activity.extend(
                s.activity
                    .iter()
                    .filter(|r| r.peers.iter().any(|p| peer_match(p)))
                    .take(200)
                    .map(activity_json),
            );
        }
        _ => {
            let like = lit(&format!(
                "%{}%",
                q.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            ));
            queries.push(("mail", format!("SELECT {MAIL_COLS} FROM mail WHERE subject ILIKE {like} ORDER BY ts DESC LIMIT 50")));
        }
    }
    let mut results = Vec::new();
    if !activity.is_empty() {
        results.push(json!({ "table": "activity", "rows": activity }));
    }
    for (table, sql) in queries {
        match run_sql(&st, &sql, 50).await {
            Ok(r) if !r.rows.is_empty() => {
                results.push(json!({ "table": table, "rows": r.objects() }))
            }
            Ok(_) => {}
            Err(e) => return e,
        }
    }
    Json(json!({ "q": q, "kind": kind, "results": results })).into_response()
}

async fn iocs(AxState(st): S, f: IocFormat) -> Response {
    let s = st.snapshot();
    let (ctype, name) = match f {
        IocFormat::Csv => ("text/csv; charset=utf-8", "iocs.csv"),
        IocFormat::Stix => ("application/json", "iocs.stix.json"),
        IocFormat::Misp => ("application/json", "iocs.misp.json"),
    };
    download(iocs_bytes(f, &s.iocs), ctype, name)
}

/// Decrements the open-stream count when a stream ends.
struct StreamSlot(Arc<State>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn events(AxState(st): S) -> Response {
    let n = st.streams.fetch_add(1, Ordering::SeqCst);
    let slot = StreamSlot(Arc::clone(&st));
    if n >= st.cfg.limits.event_streams {
        drop(slot);
        return err(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many open event streams",
        );
    }
    let hello = json!({ "version": st.snapshot().version }).to_string();
    let rx = st.updates.subscribe();
    let first = futures_util::stream::once(async move {
        Ok::<Event, Infallible>(Event::default().event("hello").data(hello))
    });
    let rest = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(move |m| {
        let _keep = &slot;
        let ev = match m {
            Ok(data) => Some(Ok::<Event, Infallible>(
                Event::default().event("update").data(data),
            )),
            // A slow reader missed updates: tell it to reload.
            Err(_) => Some(Ok(Event::default().event("update").data("{}"))),
        };
        async move { ev }
    });
    let mut closing = st.closing.subscribe();
    let closed = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    Sse::new(first.chain(rest).take_until(closed))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_fills_missing_days_and_folds_small_series_into_other() {
        let d = |n: i64| Ts(n * DAY_US);
        let mut rows = vec![(d(10), "a", 5), (d(12), "a", 7), (d(11), "b", 1)];
        let c = chart(&rows, false);
        assert_eq!(c["x"].as_array().unwrap().len(), 3);
        assert_eq!(c["series"][0]["name"], "a");
        assert_eq!(c["series"][0]["values"], json!([5, 0, 7]));
        assert_eq!(c["series"][1]["values"], json!([0, 1, 0]));
        let names: Vec<String> = (0..12).map(|i| format!("k{i:02}")).collect();
        for (i, n) in names.iter().enumerate() {
            rows.push((d(10), n.as_str(), 100 - i as u64));
        }
        let c = chart(&rows, false);
        let s = c["series"].as_array().unwrap();
        assert_eq!(s.len(), MAX_SERIES);
        assert_eq!(s.last().unwrap()["name"], "other");
        let sum: u64 = s
            .iter()
            .flat_map(|x| x["values"].as_array().unwrap().clone())
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(sum, rows.iter().map(|r| r.2).sum::<u64>(), "nothing lost");
        let sh = shares(&chart(&[(d(1), "a", 1), (d(1), "b", 3)], false));
        assert_eq!(sh["series"][0]["values"], json!([75.0]));
    }

    #[test]
    fn search_strings_are_told_apart() {
        assert_eq!(search_kind("10.0.2.15"), "ip");
        assert_eq!(search_kind("2001:db8::1"), "ip");
        assert_eq!(search_kind(&"ab".repeat(32)), "sha256");
        assert_eq!(search_kind("http://x.example/a?b"), "url");
        assert_eq!(search_kind("<abc@mail.example>"), "message_id");
        assert_eq!(search_kind("canadian-pharmacy.example"), "domain");
        assert_eq!(search_kind("cheap meds"), "text");
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell(&json!("a,b")), "\"a,b\"");
        assert_eq!(
            csv_cell(&json!("=HYPERLINK(\"x\")")),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(csv_cell(&json!("-3")), "-3");
        assert_eq!(csv_cell(&json!(["a", "b"])), "a | b");
        assert_eq!(lit("o'brien"), "'o''brien'");
    }
}
