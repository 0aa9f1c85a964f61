//! Logs go to stderr (`RUST_LOG` filters them); `run` also appends them to `LOG_FILE_PATH`
//! once its configuration is read, without colour codes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use anyhow::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, fmt};

static FILE: OnceLock<Mutex<File>> = OnceLock::new();

/// Installs the global subscriber: stderr, and the log file once [`log_to_file`] opened it.
pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(io::stderr))
        .with(fmt::layer().with_ansi(false).with_writer(|| FileSink))
        .init();
}

/// Writes to the log file if one is open, else nowhere.
struct FileSink;

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(file) = FILE.get()
            && let Ok(mut f) = file.lock()
        {
            f.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Appends logs to `pattern` from now on, with `{datetime:FORMAT}` (stellar-core's
/// placeholder; `%Y %m %d %H %M %S %%`) filled in with `unix_seconds` in UTC. An empty
/// pattern means no file. Returns the path opened.
pub fn log_to_file(pattern: &str, unix_seconds: u64) -> anyhow::Result<Option<PathBuf>> {
    if pattern.is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(expand(pattern, unix_seconds));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot open LOG_FILE_PATH {}: does its directory exist and is it writable?",
                path.display()
            )
        })?;
    FILE.set(Mutex::new(file))
        .map_err(|_| anyhow::anyhow!("the log file is already open"))?;
    Ok(Some(path))
}

/// `pattern` with each `{datetime:FORMAT}` replaced by the UTC time `unix_seconds`.
pub fn expand(pattern: &str, unix_seconds: u64) -> String {
    // "YYYY-MM-DD HH:MM:SS": the fields at fixed offsets.
    let t = crate::db::timestamp_to_text(unix_seconds);
    let field = |c: char| match c {
        'Y' => Some(&t[0..4]),
        'm' => Some(&t[5..7]),
        'd' => Some(&t[8..10]),
        'H' => Some(&t[11..13]),
        'M' => Some(&t[14..16]),
        'S' => Some(&t[17..19]),
        '%' => Some("%"),
        _ => None,
    };
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(start) = rest.find("{datetime:") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let format = &rest[start + "{datetime:".len()..start + len];
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some(f) => match field(f) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push('%');
                        out.push(f);
                    }
                },
                None => out.push('%'),
            }
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_placeholders_are_filled_in_utc() {
        // 2026-12-08 00:12:11 UTC.
        let t = 1_796_688_731;
        assert_eq!(
            expand("stellar-core-{datetime:%Y-%m-%d_%H-%M-%S}.log", t),
            "stellar-core-2026-12-08_00-12-11.log"
        );
        assert_eq!(expand("node.log", t), "node.log");
        assert_eq!(
            expand("a-{datetime:%Y}/b-{datetime:%H%M%%%q}.log", t),
            "a-2026/b-0012%%q.log"
        );
        assert_eq!(expand("open-{datetime:%Y", t), "open-{datetime:%Y");
    }
}
