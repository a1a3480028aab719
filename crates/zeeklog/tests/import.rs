//! Importers on real data: Stratosphere Zeek logs (Simda, NjRAT) and a
//! CTU-13 binetflow window, plus broken copies of them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use botscope_event::Event;
use botscope_zeeklog::{read_binetflow, read_zeek_log};

/// `../shared/data` beside the repository; `None` (skip) when missing,
/// a failure under `CI=true`.
fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.join("SOURCES.md").exists() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("shared data not found at {} (CI=true)", dir.display());
    }
    eprintln!("SKIP: shared data not found at {}", dir.display());
    None
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("botscope-import-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Data lines of a Zeek TSV file (not starting with `#`).
fn data_lines(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count() as u64
}

#[test]
fn simda_logs_import_and_link_by_uid() {
    let Some(data) = data_dir() else { return };
    let d = data.join("stratosphere-zeek-logs");
    let conn = read_zeek_log(&d.join("simda-005-conn.log")).expect("conn");
    let http = read_zeek_log(&d.join("simda-005-http.log")).expect("http");
    let dns = read_zeek_log(&d.join("simda-005-dns.log")).expect("dns");
    for (name, r) in [("conn", &conn), ("http", &http), ("dns", &dns)] {
        let p = d.join(format!("simda-005-{name}.log"));
        assert_eq!(r.lines, data_lines(&p), "{name}");
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
        assert_eq!(r.events.len() as u64, r.lines, "{name}: {:?}", r.skipped);
        assert!(
            r.events.iter().all(|e| e.log_name() == name),
            "{name}: wrong kind"
        );
    }
    // Every request carries the forged Referer.
    let mut http_uids = HashSet::new();
    for e in &http.events {
        let Event::Http(h) = e else { unreachable!() };
        assert_eq!(h.referrer.as_deref(), Some("http://www.google.com"));
        http_uids.insert(h.meta.expect("meta").uid);
    }
    // The same uid string gives the same Uid in conn.log and http.log.
    let conn_uids: HashSet<_> = conn
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Conn(c) => Some(c.meta.uid),
            _ => None,
        })
        .collect();
    let linked = http_uids.intersection(&conn_uids).count();
    eprintln!(
        "simda: {} http connections, {linked} found in conn.log",
        http_uids.len()
    );
    assert!(linked > 0);
}

#[test]
fn njrat_labelled_conn_log_imports() {
    let Some(data) = data_dir() else { return };
    let p = data.join("stratosphere-zeek-logs/njrat-001-labeled-conn.log");
    let r = read_zeek_log(&p).expect("njrat");
    eprintln!(
        "njrat: {} lines, {} events, skipped {:?}",
        r.lines,
        r.events.len(),
        r.skipped
    );
    assert_eq!(r.lines, data_lines(&p));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.events.len() as u64, r.lines);
    assert_eq!(r.labels.len(), r.events.len());
    let cc = r.labels.iter().filter(|(_, l)| l == "Malicious").count();
    assert!(cc > 0, "no Malicious label read");
}

#[test]
fn ctu13_binetflow_imports_every_line() {
    let Some(data) = data_dir() else { return };
    let p = data.join("ctu13/capture20110818-2.window-154750-154920.binetflow");
    let text = std::fs::read_to_string(&p).expect("read");
    let expected = text.lines().count() as u64 - 1;
    let r = read_binetflow(&p).expect("binetflow");
    let skipped: u64 = r.skipped.values().sum();
    eprintln!(
        "binetflow: {} lines, {} conns, skipped {:?}",
        r.lines,
        r.events.len(),
        r.skipped
    );
    assert_eq!(r.lines, expected);
    assert!(
        r.errors.is_empty(),
        "{:?}",
        &r.errors[..r.errors.len().min(5)]
    );
    assert_eq!(r.events.len() as u64 + skipped, expected);
    assert_eq!(r.labels.len(), r.events.len());
    // First row: 2011/08/18 15:49:07.792518 (UTC).
    let Event::Conn(c) = &r.events[0] else {
        panic!("not a conn")
    };
    assert_eq!(c.meta.ts.0, 1_313_682_547_792_518);
    assert_eq!(c.meta.id.resp_p, 13363);

    // A copy with broken lines: each is reported with its line number
    // and reading goes on.
    let dir = temp_dir("binetflow");
    let mut lines: Vec<String> = text.lines().take(30).map(str::to_string).collect();
    lines[4] = "2011/08/18 15:49:07.79,2.9,tcp,1.2.3.4,80".into(); // too few columns
    let set_col = |line: &str, col: usize, v: &str| {
        let mut c: Vec<&str> = line.split(',').collect();
        c[col] = v;
        c.join(",")
    };
    lines[8] = set_col(&lines[8], 3, "1.2.3.999"); // bad address
    lines[11] = set_col(&lines[11], 11, "x"); // bad number
    lines[14] = set_col(&lines[14], 0, "2011/18/08 15:47:50.0"); // bad time
    let broken = dir.join("broken.binetflow");
    std::fs::write(&broken, lines.join("\n") + "\n").expect("write");
    let r = read_binetflow(&broken).expect("broken");
    assert_eq!(r.lines, 29);
    assert_eq!(r.skipped.get("bad line"), Some(&4), "{:?}", r.errors);
    assert_eq!(r.errors.len(), 4);
    for (e, n) in r.errors.iter().zip([5, 9, 12, 15]) {
        assert!(
            e.contains(&format!("broken.binetflow:{n}: ")),
            "{e} (line {n})"
        );
    }
    let skipped: u64 = r.skipped.values().sum();
    assert_eq!(r.events.len() as u64 + skipped, 29);
}

#[test]
fn broken_zeek_lines_are_reported_and_reading_goes_on() {
    let dir = temp_dir("zeek");
    let tsv = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
#path\thttp\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tmethod\tproxied\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tset[string]\n\
1.5\tCa\t10.0.0.1\t1025\t10.0.0.2\t80\tGET\t(empty)\n\
1.6\tCa\t10.0.0.1\t1025\n\
x\tCa\t10.0.0.1\t1025\t10.0.0.2\t80\tGET\t-\n\
1.7\tCb\t10.0.0.999\t1025\t10.0.0.2\t80\tGET\t-\n\
1.8\tCb\t10.0.0.1\t1025\t10.0.0.2\t80\t\\x2d\ta,b\n\
#path\tfiles\n#fields\tts\tfuid\n2.0\tFx\n";
    let p = dir.join("x.log");
    std::fs::write(&p, tsv).unwrap();
    let r = read_zeek_log(&p).unwrap();
    assert_eq!(r.lines, 6);
    assert_eq!(r.events.len(), 2);
    let lines: Vec<_> = r
        .errors
        .iter()
        .map(|e| e.split(':').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(lines, ["9", "10", "11"], "{:?}", r.errors);
    assert_eq!(r.skipped.get("files log (not imported)"), Some(&1));
    let Event::Http(h) = &r.events[1] else {
        panic!()
    };
    assert_eq!(h.method.as_deref(), Some("-"));
    assert_eq!(h.proxied, ["a", "b"]);
    assert_eq!(h.meta.unwrap().ts.0, 1_800_000);

    // JSON lines, kind from the file name.
    let json = "{\"ts\":1.25,\"uid\":\"Ca\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":53000,\
\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":53,\"proto\":\"udp\",\"query\":\"a.com\",\
\"answers\":[\"1.2.3.4\"],\"TTLs\":[60.0],\"RD\":true}\n{broken\n\n";
    let p = dir.join("dns.log");
    std::fs::write(&p, json).unwrap();
    let r = read_zeek_log(&p).unwrap();
    assert_eq!(r.lines, 2);
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].contains("dns.log:2: "), "{:?}", r.errors);
    let Event::Dns(d) = &r.events[0] else {
        panic!()
    };
    assert_eq!(d.query.as_deref(), Some("a.com"));
    assert_eq!(d.ttls, [60]);
    assert!(d.rd);
    assert_eq!(d.meta.unwrap().ts.0, 1_250_000);
}

/// The line numbers named in `errors` (`<path>:<line>: <reason>`).
fn error_lines(errors: &[String]) -> Vec<u64> {
    errors
        .iter()
        .filter_map(|e| e.rsplit_once(".binetflow:").or(e.rsplit_once(".log:")))
        .filter_map(|(_, rest)| rest.split(':').next()?.parse().ok())
        .collect()
}

#[test]
fn binetflow_columns_missing_extra_reordered() {
    let dir = temp_dir("binetflow-columns");
    let header = "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label";
    let row = "2011/08/18 15:48:00.25,0.03,tcp,147.32.84.165,1027,   ->,74.125.232.201,80,SRPA_SPA,0,0,7,882,629,flow=x";
    // A header without a needed column: an error naming the file and the
    // column, nothing imported.
    let p = dir.join("nodport.binetflow");
    std::fs::write(&p, format!("{}\n{row}\n", header.replace(",Dport", ""))).unwrap();
    let e = read_binetflow(&p).expect_err("no Dport");
    let msg = e.to_string();
    assert!(
        msg.contains("nodport.binetflow") && msg.contains("Dport"),
        "{msg}"
    );
    // An empty file and a file of garbage: the same, never a panic.
    for (name, body) in [
        ("empty", &b""[..]),
        ("junk", &b"\xff\xfe\x00garbage\n,,,\n"[..]),
    ] {
        let p = dir.join(format!("{name}.binetflow"));
        std::fs::write(&p, body).unwrap();
        assert!(read_binetflow(&p).is_err(), "{name}");
    }
    // Columns in another order, an unknown extra column, CRLF line ends:
    // read by name.
    let cols: Vec<&str> = header.split(',').collect();
    let vals: Vec<&str> = row.split(',').collect();
    let order = [14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
    let re_h: Vec<&str> = order.iter().map(|&i| cols[i]).chain(["Extra"]).collect();
    let re_v: Vec<&str> = order.iter().map(|&i| vals[i]).chain(["42"]).collect();
    let p = dir.join("reordered.binetflow");
    std::fs::write(&p, format!("{}\r\n{}\r\n", re_h.join(","), re_v.join(","))).unwrap();
    let r = read_binetflow(&p).expect("reordered");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.events.len(), 1);
    let Event::Conn(c) = &r.events[0] else {
        panic!()
    };
    assert_eq!(c.meta.id.resp_p, 80);
    assert_eq!((c.orig_bytes, c.resp_bytes), (Some(629), Some(253)));
    assert_eq!(r.labels[0].1, "flow=x");
    // Rows with an extra or a missing column, an empty count, a negative
    // duration, a port out of range, a non-UTF-8 byte: one error each
    // with its line, the good rows around them kept.
    let bad = [
        format!("{row},extra"),
        row.replacen(",flow=x", "", 1),
        row.replace(",7,882,", ",,882,"),
        row.replace(",0.03,", ",-x,"),
        row.replace(",80,", ",65536,"),
        row.replace("147.32.84.165", "147.32.84.16\u{fffd}"),
    ];
    let mut body = format!("{header}\n{row}\n");
    for b in &bad {
        body.push_str(b);
        body.push('\n');
        body.push_str(row);
        body.push('\n');
    }
    let mut bytes = body.into_bytes();
    bytes.extend_from_slice(
        b"2011/08/18 15:48:00.25,0.03,tcp,1.2.3.4,\xff\xfe,  ->,5.6.7.8,80,S_,0,0,1,60,60,flow=y\n",
    );
    let p = dir.join("rows.binetflow");
    std::fs::write(&p, &bytes).unwrap();
    let r = read_binetflow(&p).expect("rows");
    assert_eq!(r.lines, 14);
    assert_eq!(r.events.len(), 7, "{:?}", r.errors);
    assert_eq!(
        error_lines(&r.errors),
        [3, 5, 7, 9, 11, 13, 15],
        "{:?}",
        r.errors
    );
    assert_eq!(r.skipped.get("bad line"), Some(&7));
    assert!(
        r.errors[0].contains("16 columns, header has 15"),
        "{:?}",
        r.errors
    );
}

#[test]
fn zeek_columns_missing_extra_and_error_cap() {
    let dir = temp_dir("zeek-columns");
    let head = |fields: &str| {
        format!(
            "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\t{fields}\n"
        )
    };
    // An unknown extra column is ignored; a missing optional one is unset.
    let p = dir.join("extra-conn.log");
    std::fs::write(
        &p,
        head("ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tmy_column")
            + "1.5\tCa\t10.0.0.1\t1025\t10.0.0.2\t80\ttcp\twhatever\n",
    )
    .unwrap();
    let r = read_zeek_log(&p).unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.events.len(), 1);
    // Without a needed column (the responder address) every row is an
    // error naming it, with its line.
    let p = dir.join("noresp-conn.log");
    std::fs::write(
        &p,
        head("ts\tuid\tid.orig_h\tid.orig_p\tid.resp_p")
            + "1.5\tCa\t10.0.0.1\t1025\t80\n1.6\tCb\t10.0.0.1\t1026\t80\n",
    )
    .unwrap();
    let r = read_zeek_log(&p).unwrap();
    assert_eq!(r.events.len(), 0);
    assert_eq!(error_lines(&r.errors), [7, 8], "{:?}", r.errors);
    assert!(r.errors[0].contains("id.resp_h"), "{:?}", r.errors);
    // Data before any #fields line, and 500 bad rows: counts stay
    // complete, messages are capped.
    let mut body = String::from("1.5\tCa\t10.0.0.1\n");
    body += &head("ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p");
    for i in 0..500 {
        body += &format!("{i}.0\tC{i}\t10.0.0.1\tport\t10.0.0.2\t80\n");
    }
    body += "9.0\tCz\t10.0.0.1\t1\t10.0.0.2\t80\n";
    let p = dir.join("many-conn.log");
    std::fs::write(&p, body).unwrap();
    let r = read_zeek_log(&p).unwrap();
    assert_eq!(r.lines, 502);
    assert_eq!(r.events.len(), 1);
    // (The good row has no conn_state: imported as OTH, counted.)
    assert_eq!(r.skipped.get("bad line"), Some(&501), "{:?}", r.skipped);
    assert_eq!(r.errors.len(), botscope_zeeklog::import::MAX_ERRORS);
    assert!(
        r.errors[0].contains("many-conn.log:1: "),
        "{:?}",
        r.errors[0]
    );
    // JSON lines: wrong types and missing keys are per-line errors.
    let p = dir.join("j-conn.log");
    std::fs::write(
        &p,
        "{\"ts\":1.0,\"uid\":\"Ca\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":1,\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":80}\n\
{\"ts\":\"soon\",\"uid\":\"Cb\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":1,\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":80}\n\
{\"ts\":1.0,\"uid\":\"Cc\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":1}\n\
[1,2,3]\n\
{\"ts\":1.0,\"uid\":\"Cd\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":99999,\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":80}\n",
    )
    .unwrap();
    let r = read_zeek_log(&p).unwrap();
    assert_eq!(r.events.len(), 1, "{:?}", r.errors);
    assert_eq!(error_lines(&r.errors), [2, 3, 4, 5], "{:?}", r.errors);
}
