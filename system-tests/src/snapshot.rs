//! Fetching a stream's snapshot the way a page does, and checking the picture.

use crate::PATIENCE;

/// Width and height from a JPEG's baseline/progressive SOF segment.
fn jpeg_size(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut i = 2;
    while i + 9 < jpeg.len() && jpeg[i] == 0xff {
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if (0xc0..=0xc2).contains(&jpeg[i + 1]) {
            return Some((
                u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]),
                u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]),
            ));
        }
        i += 2 + len;
    }
    None
}

/// GETs `url` until it answers a JPEG (a 503 before the first keyframe must say so with
/// `snapshot_unavailable` and `Retry-After`), and checks it is one of the test cameras' size
/// (camera-sim's and the RTSP test camera's: 320x240).
pub async fn fetch_snapshot(http: &reqwest::Client, url: &str, token: &str, output: impl Fn() -> String) -> Vec<u8> {
    let started = std::time::Instant::now();
    let mut unavailable = 0;
    let jpeg = loop {
        let r = http.get(url).bearer_auth(token).send().await.expect("GET snapshot.jpg");
        match r.status().as_u16() {
            200 => {
                assert_eq!(r.headers()["content-type"], "image/jpeg");
                assert_eq!(r.headers()["x-snapshot-size"], "320x240");
                break r.bytes().await.unwrap().to_vec();
            }
            503 => {
                assert!(r.headers().contains_key("retry-after"), "503 without Retry-After");
                let body: serde_json::Value = r.json().await.unwrap();
                assert_eq!(body["code"], "snapshot_unavailable", "{body}");
                unavailable += 1;
                assert!(started.elapsed() < PATIENCE, "no snapshot within {PATIENCE:?}\n{}", output());
            }
            status => panic!("snapshot answered {status}: {}\n{}", r.text().await.unwrap(), output()),
        }
    };
    println!("first snapshot after {:?} ({unavailable} times 503), {} bytes", started.elapsed(), jpeg.len());
    assert_eq!(&jpeg[..2], &[0xff, 0xd8], "starts like a JPEG");
    assert_eq!(&jpeg[jpeg.len() - 2..], &[0xff, 0xd9], "ends like a JPEG");
    assert_eq!(jpeg_size(&jpeg), Some((320, 240)), "the camera's picture size");
    jpeg
}
