//! A minimal HTTP/1.1 client for reading a test registry back (and putting
//! raw manifests into it): one `GET` or `PUT` per connection (`Connection:
//! close`), optional `Accept` and basic auth; the response body is framed by
//! `Content-Length`, chunked encoding or the end of stream.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `(status, headers (names as sent), body)`.
pub type Response = (u16, Vec<(String, String)>, Vec<u8>);

/// `GET path` on `addr` (`host:port`).
pub fn get(addr: &str, path: &str, accept: Option<&str>, auth: Option<(&str, &str)>) -> Result<Response, String> {
    let header = accept.map(|a| ("Accept", a));
    request(addr, "GET", path, header, &[], auth)
}

/// `PUT path` on `addr` with `body` of type `content_type`.
pub fn put(
    addr: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    auth: Option<(&str, &str)>,
) -> Result<Response, String> {
    request(addr, "PUT", path, Some(("Content-Type", content_type)), body, auth)
}

/// One request with an optional extra header and a body (sent with its
/// `Content-Length` unless it is a body-less `GET`).
fn request(
    addr: &str,
    method: &str,
    path: &str,
    header: Option<(&str, &str)>,
    body: &[u8],
    auth: Option<(&str, &str)>,
) -> Result<Response, String> {
    let what = format!("{method} http://{addr}{path}");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: bee-testutil\r\n");
    if let Some((name, value)) = header {
        req += &format!("{name}: {value}\r\n");
    }
    if let Some((user, password)) = auth {
        req += &format!("Authorization: Basic {}\r\n", base64(format!("{user}:{password}").as_bytes()));
    }
    if method != "GET" || !body.is_empty() {
        req += &format!("Content-Length: {}\r\n", body.len());
    }
    req += "\r\n";
    let mut s = TcpStream::connect(addr).map_err(|e| format!("{what}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| format!("{what}: {e}"))?;
    s.write_all(req.as_bytes()).map_err(|e| format!("{what}: {e}"))?;
    s.write_all(body).map_err(|e| format!("{what}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("{what}: {e}"))?;
    parse(&raw).map_err(|e| format!("{what}: {e}"))
}

/// Splits a whole response into status, headers and the (de-chunked) body.
fn parse(raw: &[u8]) -> Result<Response, String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "headers are not UTF-8")?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let body = if header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = header("Content-Length") {
        let len: usize = len.parse().map_err(|_| format!("bad Content-Length {len:?}"))?;
        rest.get(..len).ok_or_else(|| format!("body cut at {} of {len} bytes", rest.len()))?.to_vec()
    } else {
        rest.to_vec()
    };
    Ok((status, headers, body))
}

/// Decodes a chunked body (trailers ignored).
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").ok_or("chunk size line not terminated")?;
        let line = String::from_utf8_lossy(&rest[..eol]);
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| format!("bad chunk size {hex:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(rest.get(..size).ok_or("chunk cut short")?);
        rest = rest.get(size + 2..).ok_or("chunk not terminated")?;
    }
}

/// Standard base64 with padding (for `Authorization: Basic`).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pw"), "dXNlcjpwdw==");
    }

    #[test]
    fn parses_framings() -> Result<(), String> {
        let (st, h, b) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabcdef")?;
        assert_eq!((st, b.as_slice()), (200, &b"abc"[..]));
        assert!(h.contains(&("X-A".to_string(), "b".to_string())));
        let (_, _, b) =
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")?;
        assert_eq!(b, b"abcde");
        let (st, _, b) = parse(b"HTTP/1.0 401 Unauthorized\r\n\r\nno")?;
        assert_eq!((st, b.as_slice()), (401, &b"no"[..]));
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc").is_err());
        Ok(())
    }
}
