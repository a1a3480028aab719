//! One log file per log kind under an output directory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use botscope_event::{CarvedMessage, Event, Ts, Uid, X509};

use crate::clock::zeek_time_stamp;
use crate::fields::LOG_NAMES;
use crate::json::json_row;
use crate::tsv::{zeek_close_line, zeek_header, zeek_row};
use crate::Error;

/// Buffer size of every log file.
pub const LOG_BUFFER_BYTES: usize = 256 * 1024;

/// The on-disk format of the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// Zeek's default tab-separated format with `#` header lines.
    Zeek,
    /// Zeek's JSON format (`LogAscii::use_json=T`): one object per line,
    /// no header.
    Json,
}

/// What a [`LogWriterSet`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSummary {
    /// Rows written per log name (`"conn"`, `"http"`, ...); logs that got
    /// no row are absent.
    pub rows: BTreeMap<&'static str, u64>,
    /// Distinct message files written under `mail/`.
    pub mail_files: u64,
}

/// The file name of a carved message: `<uid>-<trans_depth>.eml`.
///
/// Deterministic, so the SMTP decoder can put the same name in
/// `smtp.log`'s `message_file` column.
pub fn mail_file_name(uid: Uid, trans_depth: u32) -> String {
    format!("{uid}-{trans_depth}.eml")
}

/// Write one carved message to `mail_dir/<uid>-<depth>.eml` (the folder
/// [`LogWriterSet::create`] makes), from any thread: messages need no
/// ordering, so decoding workers write them directly. Returns the name.
pub fn write_mail_file(mail_dir: &Path, m: &CarvedMessage) -> Result<String, Error> {
    let name = mail_file_name(m.meta.uid, m.trans_depth);
    let path = mail_dir.join(&name);
    fs::write(&path, &m.data).map_err(|e| Error::write(path, e))?;
    Ok(name)
}

struct LogFile {
    path: PathBuf,
    out: BufWriter<File>,
}

/// Writes events as Zeek logs: `conn.log`, `http.log`, `smtp.log`,
/// `dns.log`, `ssl.log`, `irc.log` and `weird.log` under one directory,
/// each created on its first row; carved mail goes to `mail/`.
///
/// Call [`finish`](LogWriterSet::finish) at the end: it writes Zeek's
/// `#close` lines and reports write errors that dropping would hide.
pub struct LogWriterSet {
    dir: PathBuf,
    mail_dir: PathBuf,
    format: LogFormat,
    open: String,
    files: [Option<LogFile>; LOG_NAMES.len()],
    rows: [u64; LOG_NAMES.len()],
    mail_written: HashSet<(Uid, u32)>,
    last_mail_file: Option<String>,
    /// The row being formatted, reused for every row.
    buf: Vec<u8>,
    /// Certificates logged, by fingerprint, with the times of their rows
    /// (ascending, the latest [`X509_TIMES_KEPT`]): like Zeek
    /// (`X509::relog_known_certificates_after`), a certificate is logged
    /// again only a day away from its rows.
    x509_logged: HashMap<String, Vec<Ts>>,
}

/// How long a logged certificate is not logged again (Zeek: 1 day).
pub const X509_RELOG_AFTER_MICROS: i64 = 86_400 * 1_000_000;
/// Most fingerprints remembered; past it the memory starts over (some
/// certificates are then logged again early).
pub const X509_MAX_REMEMBERED: usize = 100_000;
/// Row times kept per certificate (one a day at most: two months).
pub const X509_TIMES_KEPT: usize = 64;

impl LogWriterSet {
    /// Prepare to write logs in `format` under `dir`, creating `dir` and
    /// `dir/mail/`. `open_ts` is the `#open` time of the Zeek headers.
    pub fn create(dir: &Path, format: LogFormat, open_ts: SystemTime) -> Result<Self, Error> {
        let mail_dir = dir.join("mail");
        fs::create_dir_all(&mail_dir).map_err(|e| Error::create_dir(mail_dir.clone(), e))?;
        Ok(LogWriterSet {
            dir: dir.to_path_buf(),
            mail_dir,
            format,
            open: zeek_time_stamp(open_ts),
            files: Default::default(),
            rows: [0; LOG_NAMES.len()],
            mail_written: HashSet::new(),
            last_mail_file: None,
            buf: Vec::with_capacity(4096),
            x509_logged: HashMap::new(),
        })
    }

    /// Whether a certificate row should be written (no row of it within a
    /// day either side); remembers it if so. For rows in time order this
    /// is Zeek's rule (a day after the last row); rows from several
    /// shards or files arrive out of order, and a row a day before the
    /// ones logged is then a row of its own, as in time order.
    fn x509_is_new(&mut self, x: &X509) -> bool {
        let ts = x.meta.map_or(Ts(0), |m| m.ts);
        let near = |t: &Ts| ts.0.abs_diff(t.0) < X509_RELOG_AFTER_MICROS.unsigned_abs();
        if let Some(times) = self.x509_logged.get_mut(&x.fingerprint) {
            if times.iter().any(near) {
                return false;
            }
            let at = times.partition_point(|t| *t < ts);
            times.insert(at, ts);
            if times.len() > X509_TIMES_KEPT {
                times.remove(0);
            }
            return true;
        }
        if self.x509_logged.len() >= X509_MAX_REMEMBERED {
            self.x509_logged.clear();
        }
        self.x509_logged.insert(x.fingerprint.clone(), vec![ts]);
        true
    }

    /// The output directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write one event: a row of its log, or for [`Event::Message`] the
    /// message bytes to `mail/<uid>-<trans_depth>.eml` (see
    /// [`last_mail_file`](Self::last_mail_file)).
    pub fn write(&mut self, ev: &Event) -> Result<(), Error> {
        let idx = match ev {
            Event::Conn(_) => 0,
            Event::Http(_) => 1,
            Event::Smtp(_) => 2,
            Event::Dns(_) => 3,
            Event::Ssl(_) => 4,
            Event::Irc(_) => 5,
            Event::Weird(_) => 6,
            Event::Tunnel(_) => 7,
            Event::Ftp(_) => 8,
            Event::Ssh(_) => 9,
            Event::X509(x) => {
                if !self.x509_is_new(x) {
                    return Ok(());
                }
                10
            }
            Event::File(_) => 11,
            Event::Message(m) => return self.write_message(m).map(drop),
        };
        self.buf.clear();
        match self.format {
            LogFormat::Zeek => zeek_row(ev, &mut self.buf),
            LogFormat::Json => json_row(ev, &mut self.buf),
        }
        let file = match &mut self.files[idx] {
            Some(f) => f,
            slot => slot.insert(open_log(&self.dir, idx, self.format, &self.open)?),
        };
        file.out
            .write_all(&self.buf)
            .map_err(|e| Error::write(file.path.clone(), e))?;
        self.rows[idx] += 1;
        Ok(())
    }

    /// Write a carved message to `mail/<uid>-<trans_depth>.eml` and
    /// return that file name (without `mail/`). Writing the same uid and
    /// depth again replaces the file.
    pub fn write_message(&mut self, m: &CarvedMessage) -> Result<String, Error> {
        let name = mail_file_name(m.meta.uid, m.trans_depth);
        let path = self.mail_dir.join(&name);
        fs::write(&path, &m.data).map_err(|e| Error::write(path, e))?;
        self.mail_written.insert((m.meta.uid, m.trans_depth));
        self.last_mail_file = Some(name.clone());
        Ok(name)
    }

    /// The name of the last message file written, if any.
    pub fn last_mail_file(&self) -> Option<&str> {
        self.last_mail_file.as_deref()
    }

    /// Push buffered rows to the files.
    pub fn flush(&mut self) -> Result<(), Error> {
        for f in self.files.iter_mut().flatten() {
            f.out.flush().map_err(|e| Error::write(f.path.clone(), e))?;
        }
        Ok(())
    }

    /// Close every log, with the current time as Zeek's `#close`.
    pub fn finish(self) -> Result<LogSummary, Error> {
        self.finish_at(SystemTime::now())
    }

    /// Close every log with `close_ts` as Zeek's `#close` time (for
    /// reproducible output and tests).
    pub fn finish_at(self, close_ts: SystemTime) -> Result<LogSummary, Error> {
        let close = zeek_close_line(&zeek_time_stamp(close_ts));
        let mut summary = LogSummary {
            rows: BTreeMap::new(),
            mail_files: self.mail_written.len() as u64,
        };
        for (idx, file) in self.files.into_iter().enumerate() {
            let Some(LogFile { path, mut out }) = file else {
                continue;
            };
            if self.format == LogFormat::Zeek {
                out.write_all(close.as_bytes())
                    .map_err(|e| Error::write(path.clone(), e))?;
            }
            out.into_inner()
                .map_err(|e| Error::write(path.clone(), e.into_error()))?;
            summary.rows.insert(LOG_NAMES[idx], self.rows[idx]);
        }
        Ok(summary)
    }
}

fn open_log(dir: &Path, idx: usize, format: LogFormat, open: &str) -> Result<LogFile, Error> {
    let name = LOG_NAMES[idx];
    let path = dir.join(format!("{name}.log"));
    let file = File::create(&path).map_err(|e| Error::write(path.clone(), e))?;
    let mut out = BufWriter::with_capacity(LOG_BUFFER_BYTES, file);
    if format == LogFormat::Zeek {
        out.write_all(zeek_header(name, open).as_bytes())
            .map_err(|e| Error::write(path.clone(), e))?;
    }
    Ok(LogFile { path, out })
}
