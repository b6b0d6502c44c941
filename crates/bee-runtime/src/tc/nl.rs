//! Listing tc filters and qdiscs through rtnetlink (libbpf only queries one
//! filter at a known priority and handle).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// linux/rtnetlink.h
use libc::{RTM_GETQDISC, RTM_GETTFILTER, RTM_NEWQDISC, RTM_NEWTFILTER, TCA_KIND, TCA_OPTIONS};

// linux/netlink.h, which libc spells as c_int: the header fields are u16
const NLMSG_HDRLEN: usize = std::mem::size_of::<libc::nlmsghdr>();
const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;
const NLM_F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
const NLM_F_DUMP: u16 = libc::NLM_F_DUMP as u16;
const NLA_TYPE_MASK: u16 = libc::NLA_TYPE_MASK as u16;
// not in libc: sizeof(struct tcmsg) and TCA_BPF_ID (linux/pkt_cls.h)
const TCMSG_LEN: usize = 20;
const TCA_BPF_ID: u16 = 11;

/// A qdisc, or a filter (or the header of a priority's filter list).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TcObject {
    pub ifindex: i32,
    pub handle: u32,
    pub parent: u32,
    /// Priority (filters).
    pub prio: u32,
    pub kind: String,
    /// The program of a `bpf` filter.
    pub bpf_id: Option<u32>,
}

/// Every filter on the clsact class `parent` of interface `ifindex`, in
/// every chain (none when there is no clsact qdisc).
pub fn filters(ifindex: i32, parent: u32) -> io::Result<Vec<TcObject>> {
    dump(RTM_GETTFILTER, RTM_NEWTFILTER, ifindex, parent)
}

/// The kind of the qdisc with handle `handle` on `ifindex`, if any.
pub fn qdisc_kind(ifindex: i32, handle: u32) -> io::Result<Option<String>> {
    let all = dump(RTM_GETQDISC, RTM_NEWQDISC, ifindex, 0)?;
    Ok(all.into_iter().find(|q| q.ifindex == ifindex && q.handle == handle).map(|q| q.kind))
}

fn dump(request: u16, reply: u16, ifindex: i32, parent: u32) -> io::Result<Vec<TcObject>> {
    // SAFETY: plain socket(2) call; the fd is owned right below.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new socket nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let seq: u32 = 1;
    let mut req = Vec::with_capacity(NLMSG_HDRLEN + TCMSG_LEN);
    req.extend_from_slice(&((NLMSG_HDRLEN + TCMSG_LEN) as u32).to_ne_bytes());
    req.extend_from_slice(&request.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    // struct tcmsg: family, pad, pad, ifindex, handle, parent, info
    req.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    req.extend_from_slice(&ifindex.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&parent.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    // SAFETY: req is a valid buffer of req.len() bytes; an unbound
    // netlink socket sends to the kernel.
    let sent = unsafe { libc::send(sock.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let data = buf.get(..n as usize).unwrap_or(&[]);
        if data.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "netlink socket closed"));
        }
        if parse(data, seq, reply, &mut out)? {
            return Ok(out);
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn bad() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed netlink message")
}

/// The netlink attributes in `data`: (type, value).
fn attrs(mut data: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = usize::from(u16_at(data, 0)?);
        let kind = u16_at(data, 2)? & NLA_TYPE_MASK;
        out.push((kind, data.get(4..len)?));
        data = data.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Some(out)
}

/// A tcmsg, its TCA_KIND and (bpf filters) program id.
fn tc_object(payload: &[u8]) -> Option<TcObject> {
    let mut o = TcObject {
        ifindex: u32_at(payload, 4)? as i32,
        handle: u32_at(payload, 8)?,
        parent: u32_at(payload, 12)?,
        prio: u32_at(payload, 16)? >> 16,
        ..Default::default()
    };
    let mut bpf_id = None;
    for (kind, value) in attrs(payload.get(TCMSG_LEN..)?)? {
        match kind {
            TCA_KIND => {
                let name = value.split(|b| *b == 0).next().unwrap_or(&[]);
                o.kind = String::from_utf8_lossy(name).into_owned();
            }
            TCA_OPTIONS => {
                bpf_id = attrs(value)?.into_iter().find(|(k, _)| *k == TCA_BPF_ID).and_then(|(_, v)| u32_at(v, 0))
            }
            _ => {}
        }
    }
    o.bpf_id = bpf_id.filter(|_| o.kind == "bpf");
    Some(o)
}

/// Adds the `reply` messages in `data`; true once the dump is done.
fn parse(mut data: &[u8], seq: u32, reply: u16, out: &mut Vec<TcObject>) -> io::Result<bool> {
    while data.len() >= NLMSG_HDRLEN {
        let len = u32_at(data, 0).ok_or_else(bad)? as usize;
        let kind = u16_at(data, 4).ok_or_else(bad)?;
        let msg_seq = u32_at(data, 8).ok_or_else(bad)?;
        let msg = data.get(..len).filter(|_| len >= NLMSG_HDRLEN).ok_or_else(bad)?;
        let payload = msg.get(NLMSG_HDRLEN..).unwrap_or(&[]);
        if msg_seq == seq {
            match kind {
                NLMSG_DONE => {
                    // newer kernels put the dump's error there
                    return match u32_at(payload, 0).map(|e| e as i32) {
                        Some(e) if e < 0 => Err(io::Error::from_raw_os_error(-e)),
                        _ => Ok(true),
                    };
                }
                NLMSG_ERROR => {
                    let err = u32_at(payload, 0).ok_or_else(bad)? as i32;
                    if err != 0 {
                        return Err(io::Error::from_raw_os_error(-err));
                    }
                    return Ok(true);
                }
                k if k == reply => out.push(tc_object(payload).ok_or_else(bad)?),
                _ => {}
            }
        }
        let next = (len + 3) & !3;
        data = data.get(next..).unwrap_or(&[]);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn attr(t: &mut Vec<u8>, kind: u16, value: &[u8]) {
        t.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        t.extend_from_slice(&kind.to_ne_bytes());
        t.extend_from_slice(value);
        while t.len() % 4 != 0 {
            t.push(0);
        }
    }

    fn tcmsg(ifindex: i32, handle: u32, info: u32, kind: &str) -> Vec<u8> {
        let mut t = vec![0u8; 4];
        t.extend_from_slice(&ifindex.to_ne_bytes());
        t.extend_from_slice(&handle.to_ne_bytes());
        t.extend_from_slice(&0xFFFF_FFF2u32.to_ne_bytes());
        t.extend_from_slice(&info.to_ne_bytes());
        attr(&mut t, TCA_KIND, format!("{kind}\0").as_bytes());
        let mut options = Vec::new();
        attr(&mut options, 7, b"prog:[42]\0"); // TCA_BPF_NAME
        attr(&mut options, TCA_BPF_ID, &42u32.to_ne_bytes());
        attr(&mut t, TCA_OPTIONS | 0x8000, &options); // NLA_F_NESTED
        t
    }

    #[test]
    fn parses_filters_done_and_errors() {
        let t = tcmsg(3, 1, (7u32 << 16) | 0x0300, "bpf");
        let mut data = msg(RTM_NEWTFILTER, 1, &t);
        data.extend(msg(RTM_NEWTFILTER, 2, &t)); // another request's
        data.extend(msg(RTM_NEWQDISC, 1, &t)); // not asked for
        let mut out = Vec::new();
        assert!(matches!(parse(&data, 1, RTM_NEWTFILTER, &mut out), Ok(false)));
        let want =
            TcObject { ifindex: 3, handle: 1, parent: 0xFFFF_FFF2, prio: 7, kind: "bpf".into(), bpf_id: Some(42) };
        assert_eq!(out, vec![want]);
        out.clear();
        // TCA_BPF_ID means something else in other kinds' options
        let u32_filter = msg(RTM_NEWTFILTER, 1, &tcmsg(3, 1, 0, "u32"));
        assert!(matches!(parse(&u32_filter, 1, RTM_NEWTFILTER, &mut out), Ok(false)));
        assert_eq!(out.first().map(|o| (o.kind.as_str(), o.bpf_id)), Some(("u32", None)));
        assert!(matches!(parse(&msg(NLMSG_DONE, 1, &[0; 4]), 1, RTM_NEWTFILTER, &mut out), Ok(true)));
        let e = parse(&msg(NLMSG_DONE, 1, &(-libc::EBUSY).to_ne_bytes()), 1, RTM_NEWTFILTER, &mut out);
        assert!(e.is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY)));
        let e = parse(&msg(NLMSG_ERROR, 1, &(-libc::EPERM).to_ne_bytes()), 1, RTM_NEWTFILTER, &mut out);
        assert!(e.is_err_and(|e| e.raw_os_error() == Some(libc::EPERM)));
        assert!(parse(&msg(RTM_NEWTFILTER, 1, &[0; 3]), 1, RTM_NEWTFILTER, &mut out).is_err());
        let mut truncated = tcmsg(3, 1, 0, "clsact");
        truncated.truncate(TCMSG_LEN + 6);
        assert!(parse(&msg(RTM_NEWQDISC, 1, &truncated), 1, RTM_NEWQDISC, &mut out).is_err());
    }
}
