//! Native journald protocol: one datagram per entry on
//! /run/systemd/journal/socket, one field per decoded struct member.
//! (tracing-journald needs field names known at compile time; event fields
//! come from each probe's BTF, so events are written here directly.)

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use bee_object::decode;
use bee_object::schema::Plan;

/// Default socket of journald.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// The journal socket: [`SOCKET`], or `$BEED_JOURNAL_SOCKET` (for tests and
/// containers that expose journald elsewhere).
pub fn socket_path() -> std::path::PathBuf {
    std::env::var_os("BEED_JOURNAL_SOCKET").map_or_else(|| SOCKET.into(), Into::into)
}

/// Field names journald or beed itself set; members with these names are
/// written as `BEE_<NAME>`.
const RESERVED: &[&str] = &[
    "MESSAGE",
    "MESSAGE_ID",
    "PRIORITY",
    "CODE_FILE",
    "CODE_LINE",
    "CODE_FUNC",
    "ERRNO",
    "SYSLOG_FACILITY",
    "SYSLOG_IDENTIFIER",
    "SYSLOG_PID",
    "SYSLOG_TIMESTAMP",
    "SYSLOG_RAW",
    "DOCUMENTATION",
    "TID",
    "UNIT",
    "USER_UNIT",
    "INVOCATION_ID",
    "PROBE",
    "MAP",
];

/// The journal field name of a struct member: upper-case, `[A-Z0-9_]`, not
/// starting with `_` or a digit, not one of the reserved names.
pub fn field_name(member: &str) -> String {
    let mut s: String =
        member.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    if s.is_empty() || s.starts_with(|c: char| c == '_' || c.is_ascii_digit()) || RESERVED.contains(&s.as_str()) {
        s.insert_str(0, if s.starts_with('_') { "BEE" } else { "BEE_" });
    }
    s
}

/// Appends one `NAME=value` field in the native protocol's encoding.
pub fn push_field(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    buf.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        buf.push(b'\n');
        buf.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        buf.push(b'=');
    }
    buf.extend_from_slice(value);
    buf.push(b'\n');
}

/// A connection to journald.
pub struct Journal {
    sock: UnixDatagram,
    path: PathBuf,
    buf: Vec<u8>,
    text: String,
}

impl Journal {
    /// Opens a datagram socket towards `path` (usually [`SOCKET`]).
    pub fn connect(path: &Path) -> io::Result<Self> {
        let sock = UnixDatagram::unbound()?;
        sock.connect(path)?;
        // a busy journald must not stall the engine: a full socket buffer
        // makes send fail with WouldBlock, and the event is counted as dropped
        sock.set_nonblocking(true)?;
        Ok(Journal { sock, path: path.to_path_buf(), buf: Vec::with_capacity(1024), text: String::new() })
    }

    /// Sends one event: MESSAGE, PRIORITY, PROBE, MAP and one field per member.
    pub fn send_record(&mut self, probe: &str, map: &str, names: &[String], plan: &Plan, rec: &[u8]) -> io::Result<()> {
        self.buf.clear();
        self.text.clear();
        self.text.push_str(probe);
        self.text.push(' ');
        self.text.push_str(map);
        for f in &plan.fields {
            self.text.push(' ');
            self.text.push_str(&f.name);
            self.text.push('=');
            decode::write_field_text(f, rec, &mut self.text);
        }
        push_field(&mut self.buf, "MESSAGE", self.text.as_bytes());
        push_field(&mut self.buf, "PRIORITY", b"6");
        push_field(&mut self.buf, "SYSLOG_IDENTIFIER", b"beed");
        push_field(&mut self.buf, "PROBE", probe.as_bytes());
        push_field(&mut self.buf, "MAP", map.as_bytes());
        for (f, name) in plan.fields.iter().zip(names) {
            self.text.clear();
            decode::write_field_text(f, rec, &mut self.text);
            push_field(&mut self.buf, name, self.text.as_bytes());
        }
        self.send()
    }

    /// Sends a pre-rendered entry (hash map changes): MESSAGE is the JSON.
    pub fn send_message(&mut self, probe: &str, map: &str, message: &str) -> io::Result<()> {
        self.buf.clear();
        push_field(&mut self.buf, "MESSAGE", message.as_bytes());
        push_field(&mut self.buf, "PRIORITY", b"6");
        push_field(&mut self.buf, "SYSLOG_IDENTIFIER", b"beed");
        push_field(&mut self.buf, "PROBE", probe.as_bytes());
        push_field(&mut self.buf, "MAP", map.as_bytes());
        self.send()
    }

    fn send(&mut self) -> io::Result<()> {
        match self.sock.send(&self.buf) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(111) || e.raw_os_error() == Some(2) => {
                // journald restarted: reconnect once
                self.sock = UnixDatagram::unbound()?;
                self.sock.connect(&self.path)?;
                self.sock.set_nonblocking(true)?;
                self.sock.send(&self.buf).map(|_| ())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names() {
        assert_eq!(field_name("pid"), "PID");
        assert_eq!(field_name("saddr_v6"), "SADDR_V6");
        assert_eq!(field_name("message"), "BEE_MESSAGE");
        assert_eq!(field_name("map"), "BEE_MAP");
        assert_eq!(field_name("_x"), "BEE_X");
        assert_eq!(field_name("1st"), "BEE_1ST");
    }

    #[test]
    fn binary_safe_encoding() {
        let mut b = Vec::new();
        push_field(&mut b, "A", b"x");
        push_field(&mut b, "B", b"1\n2");
        assert_eq!(b, b"A=x\nB\n\x03\0\0\0\0\0\0\x001\n2\n");
    }
}
