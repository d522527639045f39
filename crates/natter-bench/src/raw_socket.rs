//! W5's second, lighter client: a Pusher subscriber on a bare TCP stream, with
//! the WebSocket handshake and framing written out by hand (no WebSocket
//! library, no JSON parsing). It exists to check the W5 figure with a client
//! that costs as little as possible per frame: with 10,000 sockets read on one
//! core, the reading side can otherwise be the slower half of the measurement.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A subscribed socket: the stream, and bytes read but not yet framed.
pub struct RawSubscriber {
    stream: TcpStream,
    pending: Vec<u8>,
}

/// One complete frame from the server.
enum ServerFrame {
    Text(Vec<u8>),
    Ping(Vec<u8>),
    Close,
    Other,
}

impl RawSubscriber {
    /// Connects from `local` (if given), upgrades to a WebSocket, waits for
    /// `pusher:connection_established`, subscribes to a public `channel` and
    /// waits for `pusher_internal:subscription_succeeded`.
    pub async fn subscribe(
        remote: SocketAddr,
        local: Option<IpAddr>,
        app_key: &str,
        channel: &str,
    ) -> Result<RawSubscriber> {
        let tcp = TcpSocket::new_v4()?;
        if let Some(ip) = local {
            tcp.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = tcp.connect(remote).await.context("connect")?;
        stream.set_nodelay(true)?;
        let mut socket = RawSubscriber {
            stream,
            pending: Vec::new(),
        };
        socket.handshake(remote, app_key).await?;
        socket
            .wait_for_event(b"pusher:connection_established")
            .await?;
        let subscribe =
            format!(r#"{{"event":"pusher:subscribe","data":{{"channel":"{channel}"}}}}"#);
        socket.send_text(subscribe.as_bytes()).await?;
        socket
            .wait_for_event(b"pusher_internal:subscription_succeeded")
            .await?;
        Ok(socket)
    }

    async fn handshake(&mut self, remote: SocketAddr, app_key: &str) -> Result<()> {
        // The key only has to be 16 bytes of base64; the server's accept value
        // is not checked (nothing here is a security decision).
        let request = format!(
            "GET /app/{app_key}?protocol=7&client=natter-bench-raw&version=1.0 HTTP/1.1\r\n\
             Host: {remote}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: bmF0dGVyLWJlbmNoLXJhdw==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        self.stream.write_all(request.as_bytes()).await?;
        loop {
            if let Some(end) = find(&self.pending, b"\r\n\r\n") {
                if !self.pending.starts_with(b"HTTP/1.1 101") {
                    bail!(
                        "upgrade refused: {}",
                        String::from_utf8_lossy(&self.pending[..end])
                    );
                }
                self.pending.drain(..end + 4);
                return Ok(());
            }
            self.fill().await?;
        }
    }

    /// Reads frames until a text frame naming `event` (answering pings).
    async fn wait_for_event(&mut self, event: &[u8]) -> Result<()> {
        loop {
            match self.next_frame().await? {
                ServerFrame::Text(text) if find(&text, event).is_some() => return Ok(()),
                ServerFrame::Text(text) if find(&text, b"pusher:error").is_some() => {
                    bail!("{}", String::from_utf8_lossy(&text))
                }
                ServerFrame::Close => bail!("closed by the server"),
                _ => {}
            }
        }
    }

    /// Calls `on_text` with each text frame's payload until the server closes
    /// the socket or the stream ends; answers pings on the way.
    pub async fn read_texts(mut self, mut on_text: impl FnMut(&[u8])) {
        while let Ok(frame) = self.next_frame().await {
            match frame {
                ServerFrame::Text(text) => on_text(&text),
                ServerFrame::Close => return,
                _ => {}
            }
        }
    }

    async fn next_frame(&mut self) -> Result<ServerFrame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.pending) {
                self.pending.drain(..used);
                match &frame {
                    ServerFrame::Ping(payload) => self.send(0x8A, &payload.clone()).await?,
                    ServerFrame::Text(text) if find(text, b"\"pusher:ping\"").is_some() => {
                        self.send_text(br#"{"event":"pusher:pong","data":{}}"#)
                            .await?
                    }
                    _ => {}
                }
                return Ok(frame);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        self.pending.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn send_text(&mut self, payload: &[u8]) -> Result<()> {
        self.send(0x81, payload).await
    }

    /// Writes one masked client frame (`first` is FIN + opcode). The mask is
    /// all zeroes: valid, and the payload goes out as it is.
    async fn send(&mut self, first: u8, payload: &[u8]) -> Result<()> {
        let mut frame = vec![first];
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len @ 126..=65535 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).await?;
        Ok(())
    }
}

/// One unmasked server frame at the start of `bytes`, and how many bytes it
/// took; None while incomplete.
fn parse_frame(bytes: &[u8]) -> Option<(ServerFrame, usize)> {
    let (&first, rest) = bytes.split_first()?;
    let (&second, rest) = rest.split_first()?;
    let (len, header) = match second & 0x7F {
        126 => (
            u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(rest.get(..8)?.try_into().ok()?) as usize,
            10,
        ),
        len => (len as usize, 2),
    };
    let payload = bytes.get(header..header + len)?.to_vec();
    let frame = match first & 0x0F {
        0x1 => ServerFrame::Text(payload),
        0x8 => ServerFrame::Close,
        0x9 => ServerFrame::Ping(payload),
        _ => ServerFrame::Other,
    };
    Some((frame, header + len))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_each_length_form_are_parsed_and_partial_ones_wait() {
        let short = [0x81, 3, b'a', b'b', b'c'];
        assert!(matches!(parse_frame(&short), Some((ServerFrame::Text(t), 5)) if t == b"abc"));
        assert!(parse_frame(&short[..4]).is_none());
        let mut medium = vec![0x81, 126, 0x01, 0x00];
        medium.extend(std::iter::repeat_n(b'x', 256));
        assert!(
            matches!(parse_frame(&medium), Some((ServerFrame::Text(t), 260)) if t.len() == 256)
        );
        assert!(matches!(
            parse_frame(&[0x89, 0]),
            Some((ServerFrame::Ping(_), 2))
        ));
    }
}
