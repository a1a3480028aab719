//! CLI manners: a reader that goes away (`botscope … | head`) ends the
//! command quietly — no panic, no error, no "Broken pipe" on stderr — and
//! text from the mail or the traffic cannot drive the terminal.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{botscope, data_dir, temp_dir};

/// Run `cmd`, read its first line, close the pipe, and check the end.
fn first_line_then_close(mut cmd: Command, what: &str) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run botscope");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(!line.is_empty(), "{what}: no output");
    drop(out);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("error"),
        "{what}: {err}"
    );
    // Killed by SIGPIPE like any Unix filter, or a clean exit.
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(
            o.status.success() || o.status.signal() == Some(libc_sigpipe()),
            "{what}: {:?}",
            o.status
        );
    }
}

#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn closed_pipe_ends_quietly() {
    // Far more than a pipe holds (64 KiB): the writer meets the closed end.
    let mut sql = botscope();
    let store = temp_dir("pipes-store");
    sql.args(["sql", "--store"])
        .arg(&store)
        .arg("SELECT value, 'a row long enough to fill a pipe quickly' AS pad FROM range(200000)");
    first_line_then_close(sql, "sql");
    // The same as one JSON array (a single `println!`).
    let mut json = botscope();
    json.args(["sql", "--format", "json", "--store"])
        .arg(&store)
        .arg("SELECT value, 'a row long enough to fill a pipe quickly' AS pad FROM range(200000)");
    first_line_then_close(json, "sql --format json");

    let Some(data) = data_dir() else { return };
    let mut mail = botscope();
    mail.arg("mail").arg(data.join("spam-csdmc2010"));
    first_line_then_close(mail, "mail");
}

#[test]
fn attacker_text_cannot_drive_the_terminal() {
    let dir = temp_dir("manners-eml");
    // A subject that would retitle the window, clear the screen and
    // reverse the rest of the line (RFC 2047 hides the bytes in transit).
    let eml = "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?utf-8?b?Q2hlYXAgcGlsbHMbXTA7cHduZWQHG1sySiDigK5nbml0c29w?=\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n";
    std::fs::write(dir.join("m.eml"), eml).unwrap();
    let o = botscope()
        .arg("mail")
        .arg(dir.join("m.eml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Cheap pills"), "{out}");
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
    assert!(out.contains("\\x1b]0;pwned\\x07"), "{out}");
    assert!(out.contains("\\u{202e}"), "{out}");
}
