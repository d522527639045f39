//! A Pusher protocol 7 client: connect to `/app/{key}`, subscribe (authorising
//! private and presence channels through `/broadcasting/auth`), whisper, and
//! read the server's frames. Answers the server's pings by itself.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{Client, Error, Result};

/// A frame from the server, `data` parsed when it was a JSON string.
#[derive(Debug, Clone)]
pub struct ServerFrame {
    pub event: String,
    pub channel: Option<String>,
    pub data: Value,
    /// The raw text, as received.
    pub raw: String,
}

/// How a connection ended, when the server closed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

pub struct PusherSocket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    socket_id: String,
    pub activity_timeout: u64,
    closed: Option<Closed>,
}

fn transport(err: impl std::fmt::Display) -> Error {
    Error::Transport(err.to_string())
}

/// `http://host:port` -> `ws://host:port/app/{key}?protocol=7&client=natter-client`.
pub fn socket_url(base_url: &str, key: &str) -> String {
    let ws = base_url
        .replacen("http://", "ws://", 1)
        .replacen("https://", "wss://", 1);
    format!("{ws}/app/{key}?protocol=7&client=natter-client&version=1.0")
}

impl PusherSocket {
    /// Connects and waits for `pusher:connection_established`.
    pub async fn connect(base_url: &str, key: &str) -> Result<PusherSocket> {
        let (stream, _) = tokio_tungstenite::connect_async(socket_url(base_url, key))
            .await
            .map_err(transport)?;
        Self::established(stream).await
    }

    /// Connects from a given local address (to spread many sockets over
    /// several 127.0.0.x sources) and/or with a small receive buffer (to play a
    /// client that reads slowly).
    pub async fn connect_from(
        base_url: &str,
        key: &str,
        local: Option<std::net::IpAddr>,
        recv_buffer: Option<u32>,
    ) -> Result<PusherSocket> {
        let url = socket_url(base_url, key);
        let host = base_url
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        let remote: std::net::SocketAddr = tokio::net::lookup_host(host)
            .await
            .map_err(transport)?
            .next()
            .ok_or_else(|| transport("no address"))?;
        let tcp = tokio::net::TcpSocket::new_v4().map_err(transport)?;
        if let Some(ip) = local {
            tcp.bind(std::net::SocketAddr::new(ip, 0))
                .map_err(transport)?;
        }
        if let Some(size) = recv_buffer {
            tcp.set_recv_buffer_size(size).map_err(transport)?;
        }
        let stream = tcp.connect(remote).await.map_err(transport)?;
        let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
            .await
            .map_err(transport)?;
        Self::established(stream).await
    }

    async fn established(
        stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    ) -> Result<PusherSocket> {
        let mut socket = PusherSocket {
            stream,
            socket_id: String::new(),
            activity_timeout: 0,
            closed: None,
        };
        let first = socket
            .next_frame(Duration::from_secs(10))
            .await
            .ok_or_else(|| transport(format!("no connection_established ({:?})", socket.closed)))?;
        if first.event != "pusher:connection_established" {
            return Err(transport(format!("unexpected first frame: {}", first.raw)));
        }
        socket.socket_id = first.data["socket_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        socket.activity_timeout = first.data["activity_timeout"].as_u64().unwrap_or_default();
        Ok(socket)
    }

    pub fn socket_id(&self) -> &str {
        &self.socket_id
    }

    /// The close code and reason, once the server closed the socket.
    pub fn closed(&self) -> Option<&Closed> {
        self.closed.as_ref()
    }

    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.stream
            .send(Message::Text(text.to_string().into()))
            .await
            .map_err(transport)
    }

    pub async fn send_json(&mut self, frame: &Value) -> Result<()> {
        self.send_text(&frame.to_string()).await
    }

    /// Gets the signature from `/broadcasting/auth` with `client`'s token.
    pub async fn authorize(&self, client: &Client, channel: &str) -> Result<Value> {
        client
            .json(
                reqwest::Method::POST,
                "/broadcasting/auth",
                Some(json!({ "socket_id": self.socket_id, "channel_name": channel })),
            )
            .await
    }

    /// Subscribes (authorising first unless the channel is public) and waits
    /// for `pusher_internal:subscription_succeeded`; returns its data.
    pub async fn subscribe(&mut self, client: &Client, channel: &str) -> Result<Value> {
        let mut data = json!({ "channel": channel });
        if channel.starts_with("private-") || channel.starts_with("presence-") {
            let auth = self.authorize(client, channel).await?;
            data["auth"] = auth["auth"].clone();
            if let Some(channel_data) = auth.get("channel_data") {
                data["channel_data"] = channel_data.clone();
            }
        }
        self.subscribe_with(data).await
    }

    /// Sends `pusher:subscribe` with the given data and waits for the outcome.
    pub async fn subscribe_with(&mut self, data: Value) -> Result<Value> {
        let channel = data["channel"].as_str().unwrap_or_default().to_string();
        self.send_json(&json!({ "event": "pusher:subscribe", "data": data }))
            .await?;
        loop {
            let frame = self
                .next_frame(Duration::from_secs(10))
                .await
                .ok_or_else(|| transport(format!("no answer to subscribing to {channel}")))?;
            match frame.event.as_str() {
                "pusher_internal:subscription_succeeded"
                    if frame.channel.as_deref() == Some(&channel) =>
                {
                    return Ok(frame.data);
                }
                "pusher:subscription_error" if frame.channel.as_deref() == Some(&channel) => {
                    return Err(Error::Api {
                        status: 403,
                        body: frame.data,
                        retry_after: None,
                    });
                }
                _ => continue,
            }
        }
    }

    pub async fn unsubscribe(&mut self, channel: &str) -> Result<()> {
        self.send_json(&json!({ "event": "pusher:unsubscribe", "data": { "channel": channel } }))
            .await
    }

    /// Sends a client event (a whisper) on a channel.
    pub async fn whisper(&mut self, channel: &str, event: &str, data: Value) -> Result<()> {
        self.send_json(&json!({ "event": event, "channel": channel, "data": data }))
            .await
    }

    /// The next frame within `wait`; None on timeout or when the socket closed.
    /// Server pings are answered and not returned.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<ServerFrame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match message {
                Ok(Message::Text(text)) => {
                    let frame = parse_frame(text.as_str());
                    if frame.event == "pusher:ping" {
                        let _ = self
                            .send_json(&json!({ "event": "pusher:pong", "data": {} }))
                            .await;
                        continue;
                    }
                    return Some(frame);
                }
                Ok(Message::Close(close)) => {
                    self.closed = Some(match close {
                        Some(frame) => Closed {
                            code: frame.code.into(),
                            reason: frame.reason.to_string(),
                        },
                        None => Closed {
                            code: 1005,
                            reason: String::new(),
                        },
                    });
                    return None;
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The next text frame as received, without parsing it (for load
    /// generators); server pings are answered. None on timeout or close.
    pub async fn next_raw(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match message {
                Ok(Message::Text(text)) => {
                    if text.as_str().starts_with("{\"event\":\"pusher:ping\"") {
                        let _ = self
                            .send_json(&json!({ "event": "pusher:pong", "data": {} }))
                            .await;
                        continue;
                    }
                    return Some(text.as_str().to_string());
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Waits for a frame with this event name (on this channel, if given),
    /// skipping others.
    pub async fn expect(
        &mut self,
        event: &str,
        channel: Option<&str>,
        wait: Duration,
    ) -> Option<ServerFrame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.next_frame(left).await?;
            if frame.event == event && (channel.is_none() || frame.channel.as_deref() == channel) {
                return Some(frame);
            }
        }
    }

    /// Every frame that arrives within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<ServerFrame> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await {
                Some(frame) => frames.push(frame),
                None => return frames,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// Parses a server frame; `data` sent as a string holding JSON is parsed too.
pub fn parse_frame(text: &str) -> ServerFrame {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let data = match &value["data"] {
        Value::String(inner) => serde_json::from_str(inner).unwrap_or(Value::String(inner.clone())),
        other => other.clone(),
    };
    ServerFrame {
        event: value["event"].as_str().unwrap_or_default().to_string(),
        channel: value["channel"].as_str().map(str::to_string),
        data,
        raw: text.to_string(),
    }
}
