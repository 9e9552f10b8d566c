//! The keepalive loop against a tiny HTTP/1.1 server speaking the real API's JSON.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camera_sim::keepalive::{self, KeepaliveConfig};
use camview_proto::rest::{DesiredRtp, KeepaliveRequest, KeepaliveResponse};
use camview_proto::stream::Codec;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::support::{small_config, start, Receiver, WAIT};

/// What the fake API answers next: an HTTP status and, for 200, the keepalive answer.
type Answer = (u16, KeepaliveResponse);

struct FakeApi {
    base: String,
    answer: Arc<Mutex<Answer>>,
    requests: mpsc::UnboundedReceiver<(String, KeepaliveRequest)>,
}

impl FakeApi {
    async fn start(first: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(first));
        let (tx, requests) = mpsc::unbounded_channel();
        let shared = Arc::clone(&answer);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let mut stream = BufReader::new(stream);
                let mut request_line = String::new();
                stream.read_line(&mut request_line).await.unwrap();
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    stream.read_line(&mut header).await.unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap();
                        }
                    }
                }
                let mut body = vec![0; length];
                stream.read_exact(&mut body).await.unwrap();
                let target = request_line.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                let _ignored_when_the_test_ended = tx.send((target, serde_json::from_slice(&body).unwrap()));
                let (status, response) = shared.lock().unwrap().clone();
                let json = serde_json::to_string(&response).unwrap();
                let reply = if status == 200 {
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}", json.len())
                } else {
                    format!("HTTP/1.1 {status} Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                };
                stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
                stream.get_mut().shutdown().await.unwrap();
            }
        });
        Self { base, answer, requests }
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// Waits for a keepalive whose body satisfies `condition`.
    async fn request_where(
        &mut self,
        mut condition: impl FnMut(&KeepaliveRequest) -> bool,
    ) -> (String, KeepaliveRequest) {
        tokio::time::timeout(WAIT, async {
            loop {
                let (target, body) = self.requests.recv().await.expect("server alive");
                if condition(&body) {
                    return (target, body);
                }
            }
        })
        .await
        .expect("a matching keepalive")
    }
}

fn send_to(port: u16) -> KeepaliveResponse {
    let rtp = DesiredRtp {
        host: "localhost".into(),
        port,
        codec: Codec::H264,
        payload_type: 101,
        max_bandwidth: 3000,
        audio: None,
    };
    KeepaliveResponse { rtp: Some(rtp), keepalive_interval_seconds: 1 }
}

fn silent() -> KeepaliveResponse {
    KeepaliveResponse { rtp: None, keepalive_interval_seconds: 1 }
}

/// Log lines written while the guard lives, on this thread (the tests run single-threaded).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || logs.clone()).finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn lines_with(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn config(api: &FakeApi) -> KeepaliveConfig {
    KeepaliveConfig {
        api: api.base.clone(),
        camera_id: "CAM-1".into(),
        interval: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        secret: None,
        local_ip: None,
    }
}

#[tokio::test]
async fn keepalive_starts_rtp_where_the_api_says_and_stops_it_when_the_answer_turns_null() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let receiver = Receiver::bind().await;
    let mut api = FakeApi::start((200, send_to(receiver.addr().port()))).await;
    let camera = Arc::new(start(small_config(None)).await);
    let (stop, stopped) = oneshot::channel::<()>();
    let loop_camera = Arc::clone(&camera);
    let config = config(&api);
    let keepalive = tokio::spawn(async move {
        keepalive::run(config, &loop_camera, async {
            let _ = stopped.await;
        })
        .await
    });

    let (target, first) = api.request_where(|_| true).await;
    assert_eq!(target, "POST /cameras/CAM-1/keepalive");
    assert!(!first.stats.sending);
    let packet = receiver.recv(WAIT).await.expect("RTP after start");
    assert_eq!(packet[1] & 0x7f, 101, "payload type from the answer");
    let (_, sending) = api.request_where(|r| r.stats.sending && r.stats.packets_sent > 0).await;
    assert_eq!(sending.stats.target.as_deref(), Some(receiver.addr().to_string().as_str()));
    assert!(sending.stats.frames_sent > 0 && sending.stats.bytes_sent > 0);
    assert_eq!(logs.lines_with("start rtp").len(), 1, "{:?}", logs.lines_with("rtp"));

    api.answer((200, silent()));
    camera.wait_for(WAIT, |s| !s.sending).await.expect("camera told to stop");
    while receiver.recv(Duration::from_millis(300)).await.is_some() {}
    assert!(receiver.recv(Duration::from_millis(500)).await.is_none(), "no RTP after stop");
    api.request_where(|r| !r.stats.sending).await;
    assert_eq!(logs.lines_with("stop rtp").len(), 1);

    stop.send(()).unwrap();
    keepalive.await.unwrap().unwrap();
    Arc::into_inner(camera).expect("sole owner").stop().await.unwrap();
}

#[tokio::test]
async fn keepalive_keeps_retrying_while_the_api_fails_and_starts_rtp_once_it_answers() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let receiver = Receiver::bind().await;
    let mut api = FakeApi::start((503, silent())).await;
    let camera = Arc::new(start(small_config(None)).await);
    let (stop, stopped) = oneshot::channel::<()>();
    let loop_camera = Arc::clone(&camera);
    let config = config(&api);
    let keepalive = tokio::spawn(async move {
        keepalive::run(config, &loop_camera, async {
            let _ = stopped.await;
        })
        .await
    });

    api.request_where(|_| true).await;
    api.request_where(|_| true).await;
    assert!(camera.stats().packets_sent == 0 && !camera.stats().sending);
    assert!(!logs.lines_with("keepalive failed").is_empty());

    api.answer((200, send_to(receiver.addr().port())));
    receiver.recv(WAIT).await.expect("RTP once the API answers");
    assert_eq!(logs.lines_with("start rtp").len(), 1);

    stop.send(()).unwrap();
    keepalive.await.unwrap().unwrap();
    Arc::into_inner(camera).expect("sole owner").stop().await.unwrap();
}
