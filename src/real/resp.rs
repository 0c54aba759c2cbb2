//! A small RESP2 client over `std::net::TcpStream`: one connection, typed replies, a timeout on
//! every command, optional pipelining.
//!
//! Why not the `redis` crate: simkv must choose the source address of every connection (each node
//! and client has its own `127.0.0.N`, which the link proxies use to know who is talking), must
//! bound every command by its own timeout, must see Redis's error texts byte for byte (they are
//! compared with the simulator's), and must never reconnect or retry behind the caller's back: an
//! operation that timed out is indeterminate, and a hidden retry would turn it into a duplicate.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Longest bulk string or array accepted from a server (Redis's own `proto-max-bulk-len` default).
const MAX_BULK_BYTES: usize = 512 * 1024 * 1024;
/// Deepest nesting of arrays accepted, so a malicious or broken peer cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// One RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+text`.
    Simple(String),
    /// `-text`: the full text after the dash, e.g. `READONLY You can't write against a read only replica.`
    Error(String),
    /// `:n`.
    Integer(i64),
    /// `$len` and its bytes; `None` for the null bulk string `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n` and its elements; `None` for the null array `*-1`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text when it is a simple string or a non-null bulk string.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
    /// The error text, if the reply is an error.
    pub fn error(&self) -> Option<&str> {
        match self {
            Reply::Error(e) => Some(e),
            _ => None,
        }
    }
}

/// What can go wrong talking to a server.
#[derive(Debug)]
pub enum RespError {
    /// The socket failed (refused, reset, closed) or the timeout expired.
    Io(io::Error),
    /// The server sent bytes that are not RESP2.
    Protocol(String),
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::Io(e) => write!(f, "i/o: {e}"),
            RespError::Protocol(m) => write!(f, "protocol: {m}"),
        }
    }
}

impl std::error::Error for RespError {}

impl From<io::Error> for RespError {
    fn from(e: io::Error) -> Self {
        RespError::Io(e)
    }
}

impl RespError {
    /// Whether the error is a timeout (the operation's outcome is unknown).
    pub fn is_timeout(&self) -> bool {
        matches!(self, RespError::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

/// Encodes a command as a RESP array of bulk strings, as clients send it.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses one reply from the front of `buf`. `Ok(None)` means more bytes are needed; on success
/// returns the reply and how many bytes it used.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, RespError> {
    parse_at(buf, 0, 0)
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

fn parse_int(bytes: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            RespError::Protocol(format!("bad integer {:?}", String::from_utf8_lossy(bytes)))
        })
}

fn length(n: i64) -> Result<Option<usize>, RespError> {
    match n {
        -1 => Ok(None),
        n if n < -1 || n as u64 > MAX_BULK_BYTES as u64 => {
            Err(RespError::Protocol(format!("bad length {n}")))
        }
        n => Ok(Some(n as usize)),
    }
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Reply, usize)>, RespError> {
    if depth > MAX_DEPTH {
        return Err(RespError::Protocol("arrays nested too deeply".into()));
    }
    let Some(end) = line_end(buf, at) else {
        return Ok(None);
    };
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let line = &buf[at + 1..end];
    let next = end + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    match kind {
        b'+' => Ok(Some((Reply::Simple(text()), next - at))),
        b'-' => Ok(Some((Reply::Error(text()), next - at))),
        b':' => Ok(Some((Reply::Integer(parse_int(line)?), next - at))),
        b'$' => {
            let Some(len) = length(parse_int(line)?)? else {
                return Ok(Some((Reply::Bulk(None), next - at)));
            };
            if buf.len() < next + len + 2 {
                return Ok(None);
            }
            if &buf[next + len..next + len + 2] != b"\r\n" {
                return Err(RespError::Protocol("bulk string not ended by CRLF".into()));
            }
            let bytes = buf[next..next + len].to_vec();
            Ok(Some((Reply::Bulk(Some(bytes)), next + len + 2 - at)))
        }
        b'*' => {
            let Some(count) = length(parse_int(line)?)? else {
                return Ok(Some((Reply::Array(None), next - at)));
            };
            let mut items = Vec::with_capacity(count.min(1024));
            let mut pos = next;
            for _ in 0..count {
                let Some((item, used)) = parse_at(buf, pos, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                pos += used;
            }
            Ok(Some((Reply::Array(Some(items)), pos - at)))
        }
        other => Err(RespError::Protocol(format!(
            "unknown reply type byte {other:#04x}"
        ))),
    }
}

/// One client connection.
pub struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Connection {
    /// Connects to `to` from the local address `from` (port 0: any port), with `timeout` for the
    /// connection and then for every command. Both addresses must be in 127.0.0.0/8.
    pub fn connect(
        from: SocketAddr,
        to: SocketAddr,
        timeout: Duration,
    ) -> Result<Connection, RespError> {
        let stream = connect_from(from, to, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Connection {
            stream,
            buf: Vec::new(),
            timeout,
        })
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Changes the timeout of the following commands.
    pub fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.timeout = timeout;
        self.stream.set_read_timeout(Some(timeout))?;
        self.stream.set_write_timeout(Some(timeout))
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, RespError> {
        self.stream.write_all(&encode(args))?;
        self.read_reply()
    }

    /// Sends one command given as text words (`conn.cmd(&["SET", "k", "v"])`).
    pub fn cmd(&mut self, words: &[&str]) -> Result<Reply, RespError> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.call(&args)
    }

    /// Sends several commands in one write and reads their replies in order.
    pub fn pipeline(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, RespError> {
        let mut out = Vec::new();
        for c in commands {
            let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            out.extend(encode(&args));
        }
        self.stream.write_all(&out)?;
        commands.iter().map(|_| self.read_reply()).collect()
    }

    /// Reads the next reply (also used after a command whose reply is read later).
    pub fn read_reply(&mut self) -> Result<Reply, RespError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((reply, used)) = parse(&self.buf)? {
                self.buf.drain(..used);
                return Ok(reply);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(RespError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A TCP connection to `to` whose local address is `from` (port 0: any), made within `timeout`.
pub fn connect_from(from: SocketAddr, to: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    if !from.ip().is_loopback() || !to.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{from} -> {to}: the real backend talks only to 127.0.0.0/8"),
        ));
    }
    let stream = connect_with_timeout(socket_bound_to(from)?, to, timeout)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn socket_bound_to(from: SocketAddr) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // std has no bind-before-connect, so the socket is made with libc.
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let addr = sockaddr(from)?;
    // SAFETY: addr is a valid sockaddr_in of the given length.
    let rc = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

fn sockaddr(a: SocketAddr) -> io::Result<libc::sockaddr_in> {
    let SocketAddr::V4(v4) = a else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "IPv4 loopback only",
        ));
    };
    Ok(libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    })
}

fn connect_with_timeout(
    fd: std::os::fd::OwnedFd,
    to: SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    let addr = sockaddr(to)?;
    // Non-blocking connect, then poll for writability, so the timeout bounds the handshake.
    // SAFETY: fcntl, connect, poll and getsockopt on a descriptor we own, with valid buffers.
    unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFL);
        libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK);
        let rc = libc::connect(
            raw,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
            let mut pfd = libc::pollfd {
                fd: raw,
                events: libc::POLLOUT,
                revents: 0,
            };
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            match libc::poll(&mut pfd, 1, ms) {
                0 => return Err(io::ErrorKind::TimedOut.into()),
                n if n < 0 => return Err(io::Error::last_os_error()),
                _ => {}
            }
            let mut err: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            libc::getsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            );
            if err != 0 {
                return Err(io::Error::from_raw_os_error(err));
            }
        }
        libc::fcntl(raw, libc::F_SETFL, flags);
    }
    Ok(TcpStream::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &[u8]) -> Reply {
        let (r, used) = parse(text).unwrap().expect("complete");
        assert_eq!(used, text.len(), "the whole reply is consumed");
        r
    }

    #[test]
    fn scalar_replies() {
        assert_eq!(one(b"+OK\r\n"), Reply::Simple("OK".into()));
        assert_eq!(one(b":-42\r\n"), Reply::Integer(-42));
        assert_eq!(one(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(one(b"$0\r\n\r\n"), Reply::Bulk(Some(vec![])));
        assert_eq!(
            one(b"$4\r\na\r\nb\r\n"),
            Reply::Bulk(Some(b"a\r\nb".to_vec()))
        );
        assert_eq!(one(b"*-1\r\n"), Reply::Array(None));
    }

    #[test]
    fn error_text_is_kept_exactly() {
        let r = one(b"-READONLY You can't write against a read only replica.\r\n");
        assert_eq!(
            r.error(),
            Some("READONLY You can't write against a read only replica.")
        );
    }

    #[test]
    fn nested_arrays() {
        let r = one(b"*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n*0\r\n");
        assert_eq!(
            r,
            Reply::Array(Some(vec![
                Reply::Integer(1),
                Reply::Array(Some(vec![
                    Reply::Simple("a".into()),
                    Reply::Bulk(Some(b"b".to_vec()))
                ])),
                Reply::Array(Some(vec![])),
            ]))
        );
    }

    #[test]
    fn every_partial_prefix_asks_for_more() {
        let full = b"*2\r\n$5\r\nhello\r\n*1\r\n-ERR x\r\n";
        for cut in 0..full.len() {
            assert!(
                parse(&full[..cut]).unwrap().is_none(),
                "prefix of {cut} bytes"
            );
        }
        assert!(parse(full).unwrap().is_some());
    }

    #[test]
    fn two_replies_in_one_buffer_are_read_one_at_a_time() {
        let buf = b"+OK\r\n:7\r\n";
        let (first, used) = parse(buf).unwrap().unwrap();
        assert_eq!(first, Reply::Simple("OK".into()));
        assert_eq!(parse(&buf[used..]).unwrap().unwrap().0, Reply::Integer(7));
    }

    #[test]
    fn malformed_input_is_a_protocol_error() {
        assert!(matches!(parse(b"?x\r\n"), Err(RespError::Protocol(_))));
        assert!(matches!(parse(b":12a\r\n"), Err(RespError::Protocol(_))));
        assert!(matches!(parse(b"$-5\r\n"), Err(RespError::Protocol(_))));
        assert!(matches!(
            parse(b"$1\r\nab\r\n"),
            Err(RespError::Protocol(_))
        ));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2) + ":1\r\n";
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(RespError::Protocol(_))
        ));
    }

    #[test]
    fn only_loopback_addresses_are_dialled() {
        let t = Duration::from_millis(100);
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let outside: SocketAddr = "192.0.2.1:6379".parse().unwrap();
        let e = Connection::connect(local, outside, t).err().unwrap();
        assert!(matches!(e, RespError::Io(ref e) if e.kind() == io::ErrorKind::InvalidInput));
        assert!(connect_from("192.0.2.2:0".parse().unwrap(), local, t).is_err());
    }

    #[test]
    fn encoding_matches_the_model_lengths() {
        let bytes = encode(&[b"SET", b"k", b"v"]);
        assert_eq!(bytes, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        assert_eq!(
            bytes.len() as u64,
            crate::redis::resp_array_len(&[b"SET", b"k", b"v"])
        );
    }
}
