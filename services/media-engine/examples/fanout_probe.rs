//! A quick measurement of the engine binary (not the project's benchmark, see tools/loadgen):
//! N receive-only str0m viewers of one synthetic 600 kbps H.264 camera, joined over Kurento
//! JSON-RPC. Prints the engine's CPU (% of a core) and RSS per viewer, delivered packets and the
//! join times. The engine runs as its own process (`ENGINE_BIN`), pinned with `taskset` if asked.
//!
//! `ENGINE_BIN=target/release/camview-media-engine VIEWERS=500 SECONDS=10 cargo run --release
//! --example fanout_probe`

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn env<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

struct Rpc {
    ws: Ws,
    id: u64,
    events: Vec<Value>,
}

impl Rpc {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let id = self.id;
        self.ws
            .send(Message::text(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()))
            .await
            .unwrap();
        loop {
            let Some(Ok(Message::Text(t))) = self.ws.next().await else { panic!("socket closed") };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"]["value"].clone();
            }
            self.events.push(v);
        }
    }

    async fn event_for(&mut self, object: &str, ty: &str) -> Value {
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["params"]["value"]["object"] == object && e["params"]["value"]["type"] == ty)
            {
                return self.events.remove(i)["params"]["value"].clone();
            }
            let Some(Ok(Message::Text(t))) = self.ws.next().await else { panic!("socket closed") };
            self.events.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }
}

#[derive(Default)]
struct Tally {
    packets: AtomicU64,
    connected: AtomicU64,
}

/// One viewer: str0m for ICE/DTLS/RTCP; SRTP packets are counted, not decrypted.
async fn viewer(
    mut rtc: Rtc,
    sock: UdpSocket,
    tally: Arc<Tally>,
    first: tokio::sync::oneshot::Sender<Instant>,
    stop: Instant,
) {
    let local = sock.local_addr().unwrap();
    let mut buf = vec![0u8; 2048];
    let mut first = Some(first);
    let mut connected = false;
    loop {
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = sock.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(Event::Connected)) => {
                    connected = true;
                    tally.connected.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => return,
            }
        };
        let now = Instant::now();
        if now >= stop {
            return;
        }
        let wait = timeout.min(stop).saturating_duration_since(now).max(Duration::from_millis(1));
        match tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
            Ok(Ok((n, source))) => {
                let d = &buf[..n];
                // SRTP (RTP version 2, not RTCP 192..=223): count it once connected.
                if connected && n > 12 && d[0] >> 6 == 2 && !(192..=223).contains(&d[1]) {
                    tally.packets.fetch_add(1, Ordering::Relaxed);
                    if let Some(f) = first.take() {
                        let _ = f.send(Instant::now());
                    }
                    continue;
                }
                let Ok(contents) = d.try_into() else { continue };
                let _ = rtc.handle_input(Input::Receive(
                    Instant::now(),
                    Receive { proto: Protocol::Udp, source, destination: local, contents },
                ));
            }
            _ => {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }
}

fn proc_stat(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (ticks as f64 / 100.0, rss_kb)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1))).copied().unwrap_or_default()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let viewers: usize = env("VIEWERS", 100);
    let seconds: u64 = env("SECONDS", 10);
    let bin = std::env::var("ENGINE_BIN").unwrap_or_else(|_| "target/release/camview-media-engine".into());
    let ws_port: u16 = env("WS_PORT", 18888);
    let mut cmd = match std::env::var("ENGINE_CPU") {
        Ok(cpu) => {
            let mut c = std::process::Command::new("taskset");
            c.args(["-c", &cpu, &bin]);
            c
        }
        Err(_) => std::process::Command::new(&bin),
    };
    cmd.env("ENGINE_WS_ADDR", format!("127.0.0.1:{ws_port}"))
        .env("ENGINE_WEBRTC_PORT", env("WEBRTC_PORT", 18000u16).to_string())
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("EXTERNAL_IP", "127.0.0.1")
        .env("RUST_LOG", "warn");
    let mut child = cmd.spawn().expect("engine binary starts");
    let pid = child.id();
    let url = format!("ws://127.0.0.1:{ws_port}/kurento");
    let ws = loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => break ws,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let (_, rss_idle) = proc_stat(pid);
    let mut rpc = Rpc { ws, id: 0, events: vec![] };
    let pipe = rpc.call("create", json!({"type": "MediaPipeline", "constructorParams": {}})).await;
    let rtp = rpc.call("create", json!({"type": "RtpEndpoint", "constructorParams": {"mediaPipeline": pipe}})).await;
    let cam = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let offer = format!("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video {} RTP/AVPF 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\na=sendonly\r\n", cam.local_addr().unwrap().port());
    let answer = rpc
        .call("invoke", json!({"object": rtp, "operation": "processOffer", "operationParams": {"offer": offer}}))
        .await;
    let port: u16 = answer
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("m=video "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let dest = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // The camera: 25 frames/s of 3 packets of 1,000 bytes (600 kbps, 75 packets/s), a keyframe every 50.
    let sent = Arc::new(AtomicU64::new(0));
    let s2 = sent.clone();
    let camera_on = std::env::var("NO_CAMERA").is_err();
    tokio::spawn(async move {
        if !camera_on {
            return;
        }
        let (mut seq, mut ts, mut frame) = (0u16, 0u32, 0u32);
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        loop {
            tick.tick().await;
            let key = frame % 50 == 0;
            let mut payloads: Vec<Vec<u8>> = vec![];
            if key {
                payloads.push(vec![0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80, 0xf6, 0x80]);
                payloads.push(vec![0x68, 0xce, 0x3c, 0x80]);
            }
            for i in 0..3u8 {
                let mut p = vec![
                    0x7c,
                    (if key { 5 } else { 1 }) | if i == 0 { 0x80 } else { 0 } | if i == 2 { 0x40 } else { 0 },
                ];
                p.resize(1000, 0xab);
                payloads.push(p);
            }
            let n = payloads.len();
            for (i, p) in payloads.into_iter().enumerate() {
                let mut pkt = vec![0x80, 96 | if i + 1 == n { 0x80 } else { 0 }];
                pkt.extend_from_slice(&seq.to_be_bytes());
                pkt.extend_from_slice(&ts.to_be_bytes());
                pkt.extend_from_slice(&[1, 2, 3, 4]);
                pkt.extend_from_slice(&p);
                seq = seq.wrapping_add(1);
                let _ = cam.send_to(&pkt, dest).await;
                s2.fetch_add(1, Ordering::Relaxed);
            }
            ts = ts.wrapping_add(3600);
            frame += 1;
        }
    });
    let tally = Arc::new(Tally::default());
    let stop = Instant::now() + Duration::from_secs(3600);
    let mut joins = vec![];
    let mut firsts = vec![];
    let started = Instant::now();
    for _ in 0..viewers {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let mut rtc = Rtc::builder().set_rtp_mode(true).clear_codecs().enable_h264(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(sock.local_addr().unwrap(), "udp").unwrap());
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let web =
            rpc.call("create", json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": pipe}})).await;
        let web = web.as_str().unwrap().to_string();
        rpc.call("subscribe", json!({"type": "IceCandidateFound", "object": web})).await;
        rpc.call("invoke", json!({"object": rtp, "operation": "connect", "operationParams": {"sink": web}})).await;
        let t0 = Instant::now();
        let answer = rpc.call("invoke", json!({"object": web, "operation": "processOffer", "operationParams": {"offer": offer.to_sdp_string()}})).await;
        let answered = Instant::now();
        rtc.sdp_api()
            .accept_answer(pending, str0m::change::SdpAnswer::from_sdp_string(answer.as_str().unwrap()).unwrap())
            .unwrap();
        let cand = Candidate::host(sock.local_addr().unwrap(), "udp").unwrap().to_sdp_string();
        rpc.call("invoke", json!({"object": web, "operation": "addIceCandidate", "operationParams": {"candidate": {"candidate": cand, "sdpMid": "0", "sdpMLineIndex": 0}}})).await;
        rpc.call("invoke", json!({"object": web, "operation": "gatherCandidates", "operationParams": {}})).await;
        let ev = rpc.event_for(&web, "IceCandidateFound").await;
        rtc.add_remote_candidate(
            Candidate::from_sdp_string(ev["data"]["candidate"]["candidate"].as_str().unwrap()).unwrap(),
        );
        let (ftx, frx) = tokio::sync::oneshot::channel();
        tokio::spawn(viewer(rtc, sock, tally.clone(), ftx, stop));
        joins.push(answered - t0);
        firsts.push((answered, frx));
    }
    let join_secs = started.elapsed().as_secs_f64();
    let mut first_packet = vec![];
    for (answered, rx) in firsts {
        if !camera_on {
            continue;
        }
        if let Ok(Ok(t)) = tokio::time::timeout(Duration::from_secs(10), rx).await {
            first_packet.push(t - answered);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, _) = proc_stat(pid);
    let (p0, s0, t0) = (tally.packets.load(Ordering::Relaxed), sent.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu1, rss) = proc_stat(pid);
    let (p1, s1, dt) =
        (tally.packets.load(Ordering::Relaxed), sent.load(Ordering::Relaxed), t0.elapsed().as_secs_f64());
    let cpu_pct = (cpu1 - cpu0) / dt * 100.0;
    let expected = (s1 - s0) as f64 * viewers as f64;
    println!("viewers {viewers} (connected {}), joined in {join_secs:.1}s", tally.connected.load(Ordering::Relaxed));
    println!(
        "engine CPU {cpu_pct:.1}% of a core = {:.4}% per viewer -> {:.0} viewers per core",
        cpu_pct / viewers as f64,
        viewers as f64 * 100.0 / cpu_pct.max(0.01)
    );
    println!(
        "engine RSS {rss} KB (idle {rss_idle} KB) -> {:.1} KB per viewer",
        (rss.saturating_sub(rss_idle)) as f64 / viewers as f64
    );
    println!(
        "delivered {:.1}% of camera packets x viewers ({} of {expected:.0}), camera {:.1} packets/s",
        (p1 - p0) as f64 * 100.0 / expected.max(1.0),
        p1 - p0,
        (s1 - s0) as f64 / dt
    );
    println!("offer->answer p50 {:?} p99 {:?}", pct(&mut joins, 0.5), pct(&mut joins, 0.99));
    println!(
        "answer->first RTP p50 {:?} p99 {:?} ({} of {viewers} got video)",
        pct(&mut first_packet, 0.5),
        pct(&mut first_packet, 0.99),
        first_packet.len()
    );
    let _ = child.kill();
    let _ = child.wait();
}
