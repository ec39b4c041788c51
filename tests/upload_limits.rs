//! *1.2* (section 5): how much uploading the server takes, against a real
//! server: uploads per person and per address (429 past them, with
//! `Retry-After`), and images waiting to be re-made (503 one past the
//! queue's bound), each at its bound and one past.

mod common;

use common::files::*;
use common::*;
use image::{DynamicImage, ImageFormat, RgbImage};
use std::io::Cursor;

async fn start(config: chat::Config) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (TestServer::start_in(config, dir.path()).await, dir)
}

#[tokio::test]
async fn a_person_gets_their_burst_of_uploads_and_an_address_its_own_across_people() {
    let config = chat::Config {
        upload_burst: 3.0,
        upload_rate_per_min: 1e-6,
        upload_addr_burst: 4.0,
        upload_addr_rate_per_min: 1e-6,
        ..fast()
    };
    let (server, _dir) = start(config).await;
    let (_ws, ann) = guest(&server, "ann").await;
    for n in 0..3 {
        let up = upload(&server, &ann, &format!("{n}.txt"), b"note").await;
        assert_eq!(up.status, 201, "upload {n} of the burst");
    }
    let past = upload(&server, &ann, "3.txt", b"note").await;
    assert_eq!(past.status, 429);
    assert_eq!(past.json()["code"], "rate_limited");
    assert!(past.json()["message"]
        .as_str()
        .unwrap()
        .contains("per person"));
    let retry: u64 = past.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
    // Ann's refused upload took nothing from the address: one is left.
    let (_ws2, bob) = guest(&server, "bob").await;
    assert_eq!(upload(&server, &bob, "b.txt", b"note").await.status, 201);
    let full = upload(&server, &bob, "c.txt", b"note").await;
    assert_eq!(full.status, 429);
    assert!(
        full.json()["message"]
            .as_str()
            .unwrap()
            .contains("from one address"),
        "{}",
        full.json()
    );
}

/// `chat_image_jobs` on the server's operations listener.
async fn image_jobs(server: &TestServer) -> u64 {
    let ask = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let text = raw_http(server.ops_addr, ask).await;
    text.lines()
        .find_map(|l| l.strip_prefix("chat_image_jobs "))
        .unwrap_or_else(|| panic!("chat_image_jobs in {text}"))
        .trim()
        .parse::<f64>()
        .unwrap() as u64
}

/// Waits until the server holds `n` images (running and waiting).
async fn jobs_reach(server: &TestServer, n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while image_jobs(server).await != n {
        assert!(tokio::time::Instant::now() < deadline, "never {n} jobs");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn images_wait_their_turn_up_to_the_queues_bound_and_one_more_gets_503() {
    let config = chat::Config {
        image_queue: 1,
        ..fast()
    };
    let (server, _dir) = start(config).await;
    let server = std::sync::Arc::new(server);
    let (_ws, ann) = guest(&server, "ann").await;
    // 36 megapixels of one colour: a small file, seconds to re-make.
    let big = {
        let img = RgbImage::from_pixel(6000, 6000, image::Rgb([40, 90, 160]));
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(img)
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        std::sync::Arc::new(out.into_inner())
    };
    let send = |name: &'static str| {
        let (server, ann, big) = (server.clone(), ann.clone(), big.clone());
        tokio::spawn(async move { upload(&server, &ann, name, &big).await })
    };
    let running = send("running.png");
    jobs_reach(&server, 1).await;
    let waiting = send("waiting.png");
    jobs_reach(&server, 2).await;
    // The bound: one running and one waiting. One more is refused at once.
    let past = upload(&server, &ann, "past.png", &big).await;
    assert_eq!(past.status, 503, "{}", String::from_utf8_lossy(&past.body));
    assert_eq!(past.json()["code"], "unavailable");
    assert!(past.header("retry-after").is_some());
    assert_eq!(
        image_jobs(&server).await,
        2,
        "the refused one took no place"
    );
    for (what, job) in [("running", running), ("waiting", waiting)] {
        let up = job.await.unwrap();
        assert_eq!(
            up.status,
            201,
            "{what}: {}",
            String::from_utf8_lossy(&up.body)
        );
        assert_eq!(up.json()["width"], 6000);
    }
    assert_eq!(image_jobs(&server).await, 0);
    let small = picture(64, 64, ImageFormat::Png);
    assert_eq!(upload(&server, &ann, "after.png", &small).await.status, 201);
}
