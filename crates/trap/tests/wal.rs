//! The write-ahead log across a crash: messages an earlier run
//! acknowledged but had not filed are written into `new/` at the next
//! start (not the ones a reader already moved to `cur/`), a record cut by
//! the crash is skipped and counted, and the log is gone once replayed.

use std::path::PathBuf;

use botscope_trap::{wal, Trap, TrapConfig, TrapOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("botscope-trap-wal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The trap's settings in these tests: a fixed host name, no STARTTLS.
fn config() -> TrapConfig {
    TrapConfig {
        hostname: "trap.example".into(),
        starttls: false,
        ..TrapConfig::default()
    }
}

fn names(d: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// One session with one message (Subject: `subject`, body "body"); the
/// replies must be the usual ones, ending with QUIT's 221.
async fn one_message(trap: &Trap, subject: &str) -> botscope_trap::SessionRecord {
    let (client, server) = tokio::io::duplex(4096);
    let (r, mut w) = tokio::io::split(client);
    let mut r = BufReader::new(r);
    let driver = async {
        let mut l = String::new();
        r.read_line(&mut l).await.unwrap();
        w.write_all(format!("HELO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@trap.example>\r\nDATA\r\nSubject: {subject}\r\n\r\nbody\r\n.\r\nQUIT\r\n").as_bytes())
            .await
            .unwrap();
        let mut codes = Vec::new();
        for _ in 0..6 {
            l.clear();
            r.read_line(&mut l).await.unwrap();
            codes.push(l[..3].to_string());
        }
        assert_eq!(codes, ["250", "250", "250", "354", "250", "221"]);
    };
    let peer = "192.0.2.1:4711".parse().unwrap();
    let (rec, ()) = tokio::join!(trap.serve_stream(server, peer), driver);
    rec
}

#[tokio::test]
async fn a_crashed_runs_log_is_replayed_into_new_and_removed() {
    let d = dir("replay");
    let trap_dir = d.join("trap");
    let (walp, cur, new) = (
        trap_dir.join("wal"),
        trap_dir.join("maildir/cur"),
        trap_dir.join("maildir/new"),
    );
    for p in [&walp, &cur, &new] {
        std::fs::create_dir_all(p).unwrap();
    }
    // Two segments of a killed run: the second ends in a torn write.
    let mut seg1 = Vec::new();
    wal::encode(&mut seg1, "100.M1P9Q0.trap,S=5", b"first");
    wal::encode(&mut seg1, "100.M1P9Q1.trap,S=6", b"second");
    wal::encode(&mut seg1, "100.M1P9Q5.trap,S=5", b"fifth");
    std::fs::write(wal::segment_path(&walp, 3), &seg1).unwrap();
    let mut seg2 = Vec::new();
    wal::encode(&mut seg2, "100.M1P9Q2.trap,S=5", b"third");
    let whole = seg2.len();
    wal::encode(&mut seg2, "100.M1P9Q3.trap,S=4", b"torn");
    seg2.truncate(whole + 9);
    std::fs::write(wal::segment_path(&walp, 4), &seg2).unwrap();
    // A reader had already moved the second message to cur/ (and kept
    // the first in new/ whole: written again, same bytes).
    std::fs::write(cur.join("100.M1P9Q1.trap,S=6:2,S"), b"second").unwrap();
    // ... and moved another one there whose data a power loss lost (an
    // empty file): rewritten in place from the log.
    std::fs::write(cur.join("100.M1P9Q5.trap,S=5:2,"), b"").unwrap();
    std::fs::write(new.join("100.M1P9Q0.trap,S=5"), b"first").unwrap();

    let cfg = config();
    let trap = Trap::new(TrapOptions::new(cfg, d.clone())).expect("trap starts");
    let s = trap.stats().snapshot();
    assert_eq!(s.wal_replayed, 3, "{s:?}");
    assert_eq!(s.wal_torn_bytes, 9);
    assert!(names(&walp).is_empty(), "{:?}", names(&walp));
    assert_eq!(names(&new), ["100.M1P9Q0.trap,S=5", "100.M1P9Q2.trap,S=5"]);
    assert_eq!(
        std::fs::read(new.join("100.M1P9Q2.trap,S=5")).unwrap(),
        b"third"
    );
    assert_eq!(
        names(&cur),
        ["100.M1P9Q1.trap,S=6:2,S", "100.M1P9Q5.trap,S=5:2,"]
    );
    assert_eq!(
        std::fs::read(cur.join("100.M1P9Q5.trap,S=5:2,")).unwrap(),
        b"fifth"
    );

    // Mail flows again; a clean close files everything and leaves no log
    // behind.
    let rec = one_message(&trap, "hi").await;
    trap.close();
    assert!(names(&walp).is_empty(), "{:?}", names(&walp));
    let path = d.join(rec.messages[0].path.as_ref().unwrap());
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .ends_with("Subject: hi\r\n\r\nbody\r\n"));
    assert_eq!(names(&new).len(), 3);
    let _ = std::fs::remove_dir_all(d);
}

#[tokio::test]
async fn a_segment_of_many_records_is_replayed_whole() {
    // Records as the committer encodes them, of many sizes (empty too),
    // in a segment never retired (the process killed).
    let d = dir("own");
    let cfg = config();
    let trap = Trap::new(TrapOptions::new(cfg.clone(), d.clone())).expect("trap starts");
    trap.close();
    drop(trap);
    let walp = d.join("trap/wal");
    let msgs: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| {
            let body: Vec<u8> = (0..i * 97).map(|j| (j * 31 + i) as u8).collect();
            (format!("200.M{i}P1Q{i}.trap,S={}", body.len()), body)
        })
        .collect();
    let mut seg = Vec::new();
    for (n, b) in &msgs {
        wal::encode(&mut seg, n, b);
    }
    std::fs::write(wal::segment_path(&walp, 1), &seg).unwrap();
    let trap = Trap::new(TrapOptions::new(cfg, d.clone())).expect("trap restarts");
    assert_eq!(trap.stats().snapshot().wal_replayed, 50);
    trap.close();
    for (n, b) in &msgs {
        assert_eq!(
            &std::fs::read(d.join("trap/maildir/new").join(n)).unwrap(),
            b,
            "{n}"
        );
    }
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn a_file_in_wal_too_big_to_be_a_segment_stops_the_start_with_its_name() {
    let d = dir("big");
    let walp = d.join("trap/wal");
    std::fs::create_dir_all(&walp).unwrap();
    let p = wal::segment_path(&walp, 1);
    // Sparse: nothing is written.
    std::fs::File::create(&p)
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    let cfg = config();
    let err = match Trap::new(TrapOptions::new(cfg, d.clone())) {
        Ok(_) => panic!("started over a 1 GiB segment"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("0000000000000001.log"), "{err}");
    assert!(p.exists(), "the file is left for the operator");
    let _ = std::fs::remove_dir_all(d);
}

struct Panicking;

impl botscope_trap::Sink for Panicking {
    fn message_stored(&self, _m: &botscope_trap::StoredMessage) {
        panic!("a sink that fails");
    }
}

#[tokio::test]
async fn a_panicking_sink_neither_stops_the_filing_nor_hangs_the_close() {
    let d = dir("panic");
    let cfg = config();
    let mut opts = TrapOptions::new(cfg, d.clone());
    opts.sink = std::sync::Arc::new(Panicking);
    let trap = Trap::new(opts).expect("trap starts");
    for i in 0..3 {
        let rec = one_message(&trap, &i.to_string()).await;
        assert_eq!(rec.messages[0].outcome, "stored");
    }
    trap.close();
    assert_eq!(names(&d.join("trap/maildir/new")).len(), 3);
    assert!(names(&d.join("trap/wal")).is_empty());
    let _ = std::fs::remove_dir_all(d);
}
