//! The dashboard in a real browser: headless Chromium (Debian's
//! `chromium`) loads every page of a dashboard serving a dataset, over the
//! DevTools protocol.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use botscope_serve::{start, ServeConfig};
use common::cdp::Browser;
use common::*;
use serde_json::json;

#[test]
fn every_page_draws_in_chromium_with_attacker_text_as_text_and_no_request_off_loopback() {
    let Some(chrome) = chromium() else { return };
    let dir = temp("browser");
    let ds = dir.join("ds");
    dataset(&ds);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cfg = ServeConfig::new(ds.clone());
    let running = rt
        .block_on(start(cfg, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let addr = running.addr;
    let (_, alerts) = get_json(addr, "/api/alerts");
    let silence = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "silence" && a["key"] == "rustock")
        .unwrap_or_else(|| panic!("no silence alert for rustock: {alerts}"));
    let alert_page = format!("/alert/{}", silence["id"].as_str().unwrap());
    let pages = [
        "/",
        "/families",
        "/family/rustock",
        "/alerts",
        alert_page.as_str(),
        "/hosts",
        "/host/10.0.2.15",
        "/campaigns",
        "/campaign/c-lethic",
        "/brands",
        "/brand/Canadian%20Pharmacy",
        "/search?q=10.0.2.15",
        "/search?q=Cheap%20meds",
        "/sql?q=SELECT%20family%2C%20count(*)%20AS%20n%20FROM%20mail%20GROUP%20BY%20family",
    ];
    let mut b = Browser::launch(&chrome);
    let base = format!("http://{addr}");
    for p in pages {
        let t = std::time::Instant::now();
        b.goto(&format!("{base}{p}"), Duration::from_secs(30));
        eprintln!("{p}: drawn in {:?}", t.elapsed());
        if p.starts_with("/sql") {
            // The console runs the query from the address on load.
            let start = std::time::Instant::now();
            while b.eval("document.querySelectorAll('#sqlresult table tr').length") == json!(0) {
                assert!(start.elapsed() < Duration::from_secs(20), "no SQL result");
                std::thread::sleep(Duration::from_millis(50));
            }
            let rows = b.eval("document.querySelectorAll('#sqlresult table tr').length");
            assert_eq!(rows, json!(4), "header + three families");
        }
        let error = b.eval("(document.querySelector('main .error') || {}).textContent || ''");
        assert_eq!(error, json!(""), "{p} shows an error");
        let h1 = b.eval("document.querySelector('main h1').textContent");
        assert_ne!(h1, json!("Not found"), "{p}");
        assert_ne!(h1, json!("Error"), "{p}");

        match p {
            "/" => {
                // Both overview charts drawn, with their points in the DOM.
                let pts =
                    b.eval("[...document.querySelectorAll('.chart')].map(c => +c.dataset.points)");
                let pts: Vec<u64> = serde_json::from_value(pts).unwrap();
                assert_eq!(pts.len(), 2, "{pts:?}");
                assert!(pts.iter().all(|&n| n >= 60 * 3), "{pts:?}");
                assert_eq!(
                    b.eval("document.querySelectorAll('.chart canvas').length"),
                    json!(2)
                );
                let png = b.screenshot();
                let colours = distinct_colours(&png);
                assert!(colours > 50, "screenshot looks blank: {colours} colours");
                // Live: the event stream said hello.
                let start = std::time::Instant::now();
                while b.eval("document.getElementById('live').className") != json!("on") {
                    assert!(start.elapsed() < Duration::from_secs(10), "no event stream");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            "/campaign/c-lethic" | "/search?q=Cheap%20meds" => {
                let text = b.eval("document.querySelector('main').textContent");
                assert!(
                    text.as_str().unwrap().contains(HOSTILE_SUBJECT),
                    "{p}: {text}"
                );
                let html = b.eval("document.querySelector('main').innerHTML");
                assert!(
                    html.as_str()
                        .unwrap()
                        .contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                    "{p}"
                );
                assert_eq!(
                    b.eval("document.querySelectorAll('main script').length"),
                    json!(0)
                );
            }
            "/host/10.0.2.15" => {
                let text = b.eval("document.querySelector('main').textContent");
                let text = text.as_str().unwrap();
                assert!(text.contains(HOSTILE_EVIDENCE), "{text}");
                // Both activities on their own line, the small one too.
                assert_eq!(
                    b.eval("document.querySelectorAll('.activity').length"),
                    json!(2)
                );
                assert_eq!(
                    b.eval("document.querySelectorAll('main img').length"),
                    json!(0)
                );
            }
            _ => {}
        }
    }
    // No script ran from the data, nothing was refused by the policy, no
    // exception, and every request went to this server.
    let methods: BTreeSet<&str> = b
        .events
        .iter()
        .filter_map(|e| e["method"].as_str())
        .collect();
    assert!(
        !methods.contains("Page.javascriptDialogOpening"),
        "a dialog opened"
    );
    assert!(
        !methods.contains("Runtime.exceptionThrown"),
        "{:?}",
        b.events
            .iter()
            .find(|e| e["method"] == "Runtime.exceptionThrown")
    );
    for e in b.events.iter().filter(|e| e["method"] == "Log.entryAdded") {
        let t = e["params"]["entry"]["text"].as_str().unwrap_or("");
        assert!(!t.contains("Content Security Policy"), "{t}");
    }
    if std::env::var_os("BOTSCOPE_TEST_DEBUG").is_some() {
        for e in &b.events {
            let m = e["method"].as_str().unwrap_or("");
            if m.starts_with("Network.") || m.starts_with("Page.frame") || m == "Log.entryAdded" {
                eprintln!(
                    "{m} {} {} {}",
                    e["params"]["timestamp"],
                    e["params"]["request"]["url"],
                    e["params"]["errorText"]
                );
            }
        }
    }
    let reqs = b.requests();
    assert!(reqs.len() > pages.len() * 3, "{reqs:?}");
    for r in &reqs {
        assert!(
            r.starts_with(&format!("{base}/")),
            "request off this server: {r}"
        );
    }
    drop(b);
    rt.block_on(running.stop());
    std::fs::remove_dir_all(&dir).ok();
}

fn distinct_colours(png_bytes: &[u8]) -> usize {
    let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let mut set = std::collections::HashSet::new();
    for px in buf[..info.buffer_size()].chunks(ch) {
        set.insert(px.to_vec());
        if set.len() > 10_000 {
            break;
        }
    }
    set.len()
}
