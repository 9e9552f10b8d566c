//! Test harness: the engine started in-process on port 0, a JSON-RPC WebSocket client, and a
//! synthetic H.264 camera sending real UDP packets.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use camview_media_engine::{Engine, Settings};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpStream, UdpSocket};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

pub async fn spawn_engine() -> Engine {
    spawn_engine_with(|_| {}).await
}

pub async fn spawn_engine_with(tweak: impl FnOnce(&mut Settings)) -> Engine {
    let mut cfg = Settings::for_tests();
    tweak(&mut cfg);
    Engine::start(cfg).await.expect("engine starts")
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    pub events: VecDeque<Value>,
}

impl Client {
    pub async fn connect(engine: &Engine) -> Client {
        Self::connect_url(&engine.ws_url()).await
    }

    pub async fn connect_url(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        // Ids stay unique across clients: a resumed session must never reuse an id (request cache).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let next_id = NEXT.fetch_add(1_000_000, std::sync::atomic::Ordering::Relaxed);
        Client { ws, next_id, events: VecDeque::new() }
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).await.expect("send");
    }

    /// The next frame that is not an event.
    pub async fn recv_response(&mut self) -> Value {
        loop {
            let v = self.recv_frame().await;
            if v.get("method").and_then(Value::as_str) == Some("onEvent") {
                self.events.push_back(v);
            } else {
                return v;
            }
        }
    }

    async fn recv_frame(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        match self.recv_frame_until(deadline).await {
            Some(v) => v,
            None => panic!("no frame in time; queued events: {:?}", self.events),
        }
    }

    async fn recv_frame_until(&mut self, deadline: tokio::time::Instant) -> Option<Value> {
        loop {
            let msg =
                tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?.expect("socket open").expect("frame");
            if let Message::Text(t) = msg {
                return Some(serde_json::from_str(t.as_str()).expect("JSON frame"));
            }
        }
    }

    /// Sends a request with a fresh id and returns the whole response.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.call_with_id(json!(id), method, params).await
    }

    pub async fn call_with_id(&mut self, id: Value, method: &str, params: Value) -> Value {
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_raw(&req.to_string()).await;
        let resp = self.recv_response().await;
        assert_eq!(resp["id"], id, "response to the request just sent: {resp}");
        resp
    }

    /// `result.value` of a call that must succeed.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params.clone()).await;
        assert!(r.get("error").is_none(), "{method} {params} failed: {r}");
        r["result"]["value"].clone()
    }

    /// `error` of a call that must fail.
    pub async fn err(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params.clone()).await;
        assert!(r.get("result").is_none(), "{method} {params} should fail: {r}");
        r["error"].clone()
    }

    pub async fn invoke(&mut self, object: &str, operation: &str, params: Value) -> Value {
        self.ok("invoke", json!({"object": object, "operation": operation, "operationParams": params})).await
    }

    pub async fn invoke_err(&mut self, object: &str, operation: &str, params: Value) -> Value {
        self.err("invoke", json!({"object": object, "operation": operation, "operationParams": params})).await
    }

    pub async fn create(&mut self, ty: &str, ctor: Value) -> String {
        self.ok("create", json!({"type": ty, "constructorParams": ctor})).await.as_str().expect("object id").to_string()
    }

    pub async fn subscribe(&mut self, object: &str, ty: &str) -> String {
        self.ok("subscribe", json!({"type": ty, "object": object})).await.as_str().expect("subscription id").to_string()
    }

    /// Waits for an `onEvent` of `ty` (on any object), keeping the others queued.
    pub async fn event(&mut self, ty: &str) -> Value {
        self.event_where(ty, |_| true).await
    }

    pub async fn event_where(&mut self, ty: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let matches = |e: &Value| e["params"]["value"]["type"] == ty && pred(&e["params"]["value"]);
        if let Some(pos) = self.events.iter().position(matches) {
            return self.events.remove(pos).expect("position is valid")["params"]["value"].clone();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let Some(v) = self.recv_frame_until(deadline).await else {
                panic!("no {ty} event in time; queued: {:?}", self.events)
            };
            if matches(&v) {
                return v["params"]["value"].clone();
            }
            self.events.push_back(v);
        }
    }

    /// Collects frames for `d` and reports whether an event of `ty` arrived.
    pub async fn saw_event_within(&mut self, ty: &str, d: Duration) -> bool {
        if self.events.iter().any(|e| e["params"]["value"]["type"] == ty) {
            return true;
        }
        let deadline = tokio::time::Instant::now() + d;
        while let Some(v) = self.recv_frame_until(deadline).await {
            let hit = v["params"]["value"]["type"] == ty;
            self.events.push_back(v);
            if hit {
                return true;
            }
        }
        false
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

pub fn camera_offer(rtp_port: u16) -> String {
    format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video {rtp_port} RTP/AVPF 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\na=rtcp-fb:96 nack pli\r\na=sendonly\r\n"
    )
}

pub fn camera_offer_vp8(rtp_port: u16) -> String {
    format!("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video {rtp_port} RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\na=sendonly\r\n")
}

/// The `m=video` port of an SDP.
pub fn video_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=video "))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .expect("m=video line")
}

/// A synthetic H.264 camera: keyframe (SPS, PPS, IDR in FU-A) every `gop` frames, one-packet P
/// frames otherwise. Its RTCP socket (RTP port + 1) receives the engine's PLIs.
pub struct FakeCamera {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub dest: SocketAddr,
    seq: u16,
    ts: u32,
    frame: u32,
    pub gop: u32,
    /// Send VP8 (payload descriptor + key/delta frames) instead of H.264.
    pub vp8: bool,
    /// Send H.265 (RFC 7798: libx265's VPS/SPS/PPS, IDR in FUs) instead of H.264.
    pub h265: bool,
    /// The H.264 SPS sent before each keyframe.
    pub sps: &'static [u8],
}

pub const SPS: &[u8] = &[0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80, 0xf6, 0x80];
pub const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
/// libx264's SPS for `-profile:v main -level 3.1` (640x360): `profile-level-id` 4d401f.
pub const SPS_MAIN_31: &[u8] = &[
    0x67, 0x4d, 0x40, 0x1f, 0xec, 0xa0, 0x50, 0x17, 0xfc, 0xb8, 0x08, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00,
    0x19, 0x07, 0x8c, 0x18, 0xcb,
];

/// libx265's parameter sets for a 640x360 test pattern: Main, Main tier, level 2.1.
pub const H265_VPS: &str = "40010c01ffff01600000030090000003000003003f959809";
pub const H265_SPS: &str = "42010101600000030090000003000003003fa00502016965959a4932bc05a02000000300200000030321";
pub const H265_PPS: &str = "4401c172b46240";

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

impl FakeCamera {
    pub async fn new() -> FakeCamera {
        // Find an even port whose +1 is free too.
        for _ in 0..50 {
            let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let p = rtp.local_addr().unwrap().port();
            if p % 2 == 1 || p == u16::MAX {
                continue;
            }
            if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", p + 1)).await {
                return FakeCamera {
                    rtp,
                    rtcp,
                    dest: "127.0.0.1:9".parse().unwrap(),
                    seq: 1000,
                    ts: 90000,
                    frame: 0,
                    gop: 30,
                    vp8: false,
                    h265: false,
                    sps: SPS,
                };
            }
        }
        panic!("no even port pair")
    }

    pub fn port(&self) -> u16 {
        self.rtp.local_addr().unwrap().port()
    }

    fn packet(&mut self, marker: bool, payload: &[u8]) -> Vec<u8> {
        let pt = if self.vp8 { 100 } else { 96 };
        let mut v = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.ts.to_be_bytes());
        v.extend_from_slice(&0x0a0b0c0du32.to_be_bytes());
        v.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        v
    }

    /// Sends one frame; returns whether it was a keyframe.
    pub async fn send_frame(&mut self) -> bool {
        let key = self.frame.is_multiple_of(self.gop);
        let mut pkts = vec![];
        if self.vp8 {
            // Payload descriptor S=1 PID=0, then the VP8 header (bit 0 clear = key frame).
            let mut first = vec![0x10, if key { 0x00 } else { 0x01 }];
            first.extend_from_slice(&[0x22; 800]);
            let mut second = vec![0x00];
            second.extend_from_slice(&[0x33; 300]);
            pkts.push(self.packet(false, &first));
            pkts.push(self.packet(true, &second));
        } else if self.h265 && key {
            for ps in [H265_VPS, H265_SPS, H265_PPS] {
                pkts.push(self.packet(false, &unhex(ps)));
            }
            let body = vec![0xabu8; 3000];
            let chunks: Vec<&[u8]> = body.chunks(1100).collect();
            for (i, c) in chunks.iter().enumerate() {
                // FU (type 49) of an IDR_N_LP (type 20) slice.
                let last = i == chunks.len() - 1;
                let mut fu = vec![49 << 1, 1, 20 | if i == 0 { 0x80 } else { 0 } | if last { 0x40 } else { 0 }];
                fu.extend_from_slice(c);
                pkts.push(self.packet(last, &fu));
            }
        } else if self.h265 {
            let mut p = vec![0x02, 0x01, (self.frame & 0xff) as u8];
            p.extend_from_slice(&[0x11; 200]);
            pkts.push(self.packet(true, &p));
        } else if key {
            let sps = self.sps;
            pkts.push(self.packet(false, sps));
            pkts.push(self.packet(false, PPS));
            let body = vec![0xabu8; 3000];
            let chunks: Vec<&[u8]> = body.chunks(1100).collect();
            for (i, c) in chunks.iter().enumerate() {
                let mut fu =
                    vec![0x7c, 0x05 | if i == 0 { 0x80 } else { 0 } | if i == chunks.len() - 1 { 0x40 } else { 0 }];
                fu.extend_from_slice(c);
                let last = i == chunks.len() - 1;
                pkts.push(self.packet(last, &fu));
            }
        } else {
            let mut p = vec![0x41, (self.frame & 0xff) as u8];
            p.extend_from_slice(&[0x11; 200]);
            pkts.push(self.packet(true, &p));
        }
        for p in pkts {
            self.rtp.send_to(&p, self.dest).await.unwrap();
        }
        self.frame += 1;
        self.ts = self.ts.wrapping_add(3000);
        key
    }

    pub async fn send_frames(&mut self, n: usize) {
        for _ in 0..n {
            self.send_frame().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
