//! *1.2* (section 5): uploads and files against a real server, with the
//! crafted files that broke other chats: each is sent as an attacker would
//! send it, and what comes back is checked byte for byte.

mod common;

use common::files::*;
use common::*;
use image::ImageFormat;

/// Every header that keeps a served file from acting as a page.
fn assert_harmless(a: &Answer) {
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        a.header("content-security-policy"),
        Some("default-src 'none'; sandbox")
    );
    assert!(a.header("cache-control").unwrap().starts_with("private"));
}

/// A served download: octet-stream, attachment.
fn assert_download(a: &Answer) {
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    assert!(a
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; "));
    assert_harmless(a);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the files directory's `tmp/` holds.
fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir.join("files/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Waits until `tmp/` is empty (a refused upload's files are removed on
/// the blocking pool, just after the answer); panics if it never is.
async fn nothing_left(dir: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !leftovers(dir).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "left behind: {:?}",
            leftovers(dir)
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

async fn start(config: chat::Config) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (TestServer::start_in(config, dir.path()).await, dir)
}

#[tokio::test]
async fn an_svg_with_a_script_is_only_ever_a_download_that_cannot_run() {
    let (server, _dir) = start(fast()).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>window.__pwned=1</script></svg>"#;
    let up = upload_as(&server, &cookie, "cat.svg", "image/svg+xml", svg).await;
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    let file = up.json();
    assert!(file.get("width").is_none(), "not an image: {file}");
    assert_ne!(
        file["type"], "image/svg+xml",
        "the client's type is never taken"
    );
    let got = fetch(&server, &cookie, file["url"].as_str().unwrap()).await;
    assert_download(&got);
    assert_eq!(got.body, svg, "kept as it was, but never shown inline");
}

#[tokio::test]
async fn html_named_png_and_declared_png_is_a_download() {
    let (server, _dir) = start(fast()).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    let html = b"<!DOCTYPE html><html><body><script>window.__pwned=1</script></body></html>";
    let up = upload_as(&server, &cookie, "photo.png", "image/png", html).await;
    assert_eq!(up.status, 201);
    let file = up.json();
    assert_ne!(file["type"], "image/png", "{file}");
    assert!(file.get("thumb_url").is_none());
    let got = fetch(&server, &cookie, file["url"].as_str().unwrap()).await;
    assert_download(&got);
    assert!(got
        .header("content-disposition")
        .unwrap()
        .contains("filename=\"photo.png\""));
}

#[tokio::test]
async fn a_gif_that_is_also_javascript_comes_back_as_pixels_only() {
    let (server, _dir) = start(fast()).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    let mut polyglot = picture(8, 8, ImageFormat::Gif);
    polyglot.extend_from_slice(b"\n/*';window.__pwned=1;alert(1)//*/");
    let up = upload(&server, &cookie, "funny.gif", &polyglot).await;
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    let file = up.json();
    assert_eq!(file["type"], "image/gif");
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(8), Some(8))
    );
    let got = fetch(&server, &cookie, file["url"].as_str().unwrap()).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("image/gif"));
    assert!(got
        .header("content-disposition")
        .unwrap()
        .starts_with("inline; "));
    assert_harmless(&got);
    assert!(got.body.starts_with(b"GIF89a"));
    assert!(
        !contains(&got.body, b"pwned"),
        "the script after the image is gone"
    );
    image::load_from_memory(&got.body).expect("a whole GIF");
}

/// A PNG whose header says 30000×30000 (900 megapixels) and holds almost
/// nothing: refused from the header, before any pixel is decoded.
#[tokio::test]
async fn a_png_that_claims_30000_by_30000_is_refused_from_its_header() {
    let (server, dir) = start(fast()).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    let mut bomb = picture(1, 1, ImageFormat::Png);
    // IHDR's width and height are the 4 + 4 bytes after "IHDR".
    let at = bomb.windows(4).position(|w| w == b"IHDR").unwrap() + 4;
    bomb[at..at + 4].copy_from_slice(&30000u32.to_be_bytes());
    bomb[at + 4..at + 8].copy_from_slice(&30000u32.to_be_bytes());
    let crc = crc32(&bomb[at - 4..at + 13]);
    bomb[at + 13..at + 17].copy_from_slice(&crc.to_be_bytes());
    let up = upload(&server, &cookie, "bomb.png", &bomb).await;
    assert_eq!(up.status, 413, "{}", String::from_utf8_lossy(&up.body));
    let why = up.json();
    assert_eq!(why["code"], "too_large");
    assert!(
        why["message"].as_str().unwrap().contains("30000×30000"),
        "{why}"
    );
    nothing_left(dir.path()).await;
}

/// The CRC-32 PNG chunks carry.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn a_truncated_jpeg_is_refused_with_the_reason_and_leaves_nothing() {
    let (server, dir) = start(fast()).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    let whole = picture(64, 64, ImageFormat::Jpeg);
    let cut = &whole[..whole.len() / 3];
    let up = upload(&server, &cookie, "cut.jpg", cut).await;
    assert_eq!(up.status, 422, "{}", String::from_utf8_lossy(&up.body));
    let why = up.json();
    assert_eq!(why["code"], "bad_image");
    assert!(
        why["message"].as_str().unwrap().contains("image/jpeg"),
        "{why}"
    );
    nothing_left(dir.path()).await;
}

/// A JPEG carrying EXIF: its orientation (6: turned a quarter) and a GPS
/// position. The position is gone; the orientation is applied.
#[tokio::test]
async fn a_photo_loses_its_gps_position_and_stands_the_way_it_was_taken() {
    let (server, _dir) = start(fast()).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    let plain = picture(40, 20, ImageFormat::Jpeg);
    let photo = with_exif(&plain);
    assert!(contains(&photo, b"Exif\0\0") && contains(&photo, b"N\0"));
    let up = upload(&server, &cookie, "IMG_0001.jpg", &photo).await;
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    let file = up.json();
    assert_eq!(file["type"], "image/jpeg");
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(20), Some(40)),
        "turned as its orientation says"
    );
    let got = fetch(&server, &cookie, file["url"].as_str().unwrap()).await;
    assert_eq!(got.status, 200);
    assert!(!contains(&got.body, b"Exif"), "no EXIF left");
    let back = image::load_from_memory(&got.body).unwrap();
    assert_eq!((back.width(), back.height()), (20, 40));
}

/// `jpeg` with an APP1 EXIF segment right after its start: orientation 6
/// and a GPS IFD with GPSLatitudeRef "N".
fn with_exif(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0: two entries, then no next IFD.
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
    let gps_at: u32 = 8 + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1]);
    tiff.extend_from_slice(&gps_at.to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    // The GPS IFD: GPSLatitudeRef = "N".
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let body = [b"Exif\0\0".as_slice(), &tiff].concat();
    let len = (body.len() + 2) as u16;
    [
        &jpeg[..2],
        &[0xFF, 0xE1],
        &len.to_be_bytes(),
        &body,
        &jpeg[2..],
    ]
    .concat()
}

#[tokio::test]
async fn a_file_exactly_at_the_limit_is_taken_and_one_byte_more_is_not() {
    let limit = 1 << 20;
    let config = chat::Config {
        max_upload_bytes: limit,
        ..fast()
    };
    let (server, dir) = start(config).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    let at = vec![7u8; limit as usize];
    let up = upload(&server, &cookie, "at.bin", &at).await;
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    assert_eq!(up.json()["size"], limit);
    let past = vec![7u8; limit as usize + 1];
    let declared = upload(&server, &cookie, "past.bin", &past).await;
    assert_eq!(declared.status, 413, "refused from its Content-Length");
    assert_eq!(declared.json()["code"], "too_large");
    // Without a length: cut off while it streams.
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
        ("X-Filename", "past.bin"),
    ];
    let streamed = http(
        server.addr,
        "POST",
        "/api/v1/uploads",
        &headers,
        &past,
        true,
    )
    .await;
    assert_eq!(streamed.status, 413);
    nothing_left(dir.path()).await;
    let got = fetch(&server, &cookie, up.json()["url"].as_str().unwrap()).await;
    assert_eq!(got.body.len() as u64, limit);
}

#[tokio::test]
async fn a_multipart_upload_takes_its_file_part_and_its_name() {
    let (server, _dir) = start(fast()).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    let png = picture(5, 4, ImageFormat::Png);
    let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n".to_vec();
    body.extend_from_slice(
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"dot.png\"\r\n\
          Content-Type: text/html\r\n\r\n",
    );
    body.extend_from_slice(&png);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
        ("Content-Type", "multipart/form-data; boundary=XyZ"),
    ];
    let up = http(
        server.addr,
        "POST",
        "/api/v1/uploads",
        &headers,
        &body,
        false,
    )
    .await;
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    let file = up.json();
    assert_eq!(file["name"], "dot.png");
    assert_eq!(file["type"], "image/png");
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(5), Some(4))
    );
}

#[tokio::test]
async fn a_name_with_quotes_newlines_a_path_and_a_right_to_left_override_is_made_safe() {
    let (server, _dir) = start(fast()).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    // "../../a"b<LF><RLO>gnp.exe", percent-encoded as the page sends it.
    let name = "..%2F..%2Fa%22b%0A%E2%80%AEgnp.exe";
    let up = upload(&server, &cookie, name, b"MZ not really").await;
    assert_eq!(up.status, 201);
    let file = up.json();
    assert_eq!(file["name"], "a\"bgnp.exe");
    let got = fetch(&server, &cookie, file["url"].as_str().unwrap()).await;
    assert_download(&got);
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"a_bgnp.exe\"; filename*=UTF-8''a%22bgnp.exe")
    );
}

#[tokio::test]
async fn the_quota_takes_a_file_that_fills_it_and_refuses_one_byte_more() {
    let config = chat::Config {
        upload_quota_bytes: 3000,
        ..fast()
    };
    let (server, dir) = start(config).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    assert_eq!(upload(&server, &cookie, "a", &[1; 1000]).await.status, 201);
    assert_eq!(upload(&server, &cookie, "b", &[1; 2000]).await.status, 201);
    let over = upload(&server, &cookie, "c", &[1; 1]).await;
    assert_eq!(over.status, 507);
    assert_eq!(over.json()["code"], "quota_exceeded");
    let files: Vec<_> = std::fs::read_dir(dir.path().join("files"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 3, "two files and tmp/");
    // Another identity has a quota of its own.
    let (_ws2, other) = guest(&server, "bob").await;
    assert_eq!(upload(&server, &other, "d", &[1; 3000]).await.status, 201);
}

#[tokio::test]
async fn an_upload_needs_an_identity_and_the_chats_own_page() {
    let (server, _dir) = start(fast()).await;
    let nobody = upload(&server, "", "x.txt", b"hello").await;
    assert_eq!(nobody.status, 401);
    assert_eq!(nobody.json()["code"], "unauthorized");
    let (_ws, cookie) = guest(&server, "ann").await;
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Origin", "https://evil.example"),
        ("X-Filename", "x.txt"),
    ];
    let elsewhere = http(
        server.addr,
        "POST",
        "/api/v1/uploads",
        &headers,
        b"hello",
        false,
    )
    .await;
    assert_eq!(
        elsewhere.status, 403,
        "a page elsewhere cannot upload as her"
    );
}

#[tokio::test]
async fn an_upload_not_posted_is_its_uploaders_alone_and_others_get_what_a_missing_file_gets() {
    let (server, _dir) = start(fast()).await;
    let (_ws, ann) = guest(&server, "ann").await;
    let (_ws2, bob) = guest(&server, "bob").await;
    let file = upload(&server, &ann, "secret.txt", b"the plan")
        .await
        .json();
    let url = file["url"].as_str().unwrap();
    assert_eq!(fetch(&server, &ann, url).await.body, b"the plan");
    let for_bob = fetch(&server, &bob, url).await;
    let for_nobody = fetch(&server, "", url).await;
    let missing = fetch(&server, &bob, "/files/0123456789abcdef0123456789abcdef").await;
    for other in [&for_bob, &for_nobody] {
        assert_eq!(other.status, 404);
        assert_eq!(other.body, missing.body, "as a missing file");
    }
    assert_eq!(
        fetch(&server, &bob, "/files/..%2F..%2Fchat.db")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_range_request_gets_those_bytes_and_one_past_the_end_gets_416() {
    let (server, _dir) = start(fast()).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    let bytes: Vec<u8> = (0..=255).collect();
    let url = upload(&server, &cookie, "r.bin", &bytes).await.json()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let ask = |range: &'static str| {
        let (cookie, url, addr) = (cookie.clone(), url.clone(), server.addr);
        async move {
            let headers = [("Cookie", cookie.as_str()), ("Range", range)];
            http(addr, "GET", &url, &headers, b"", false).await
        }
    };
    let part = ask("bytes=10-19").await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &bytes[10..20]);
    assert_eq!(part.header("content-range"), Some("bytes 10-19/256"));
    let last = ask("bytes=255-").await;
    assert_eq!((last.status, last.body.as_slice()), (206, &bytes[255..]));
    let past = ask("bytes=256-").await;
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range"), Some("bytes */256"));
}

#[tokio::test]
async fn a_large_image_gets_a_thumbnail_and_a_small_one_does_not() {
    let (server, _dir) = start(fast()).await;
    let (_ws, cookie) = guest(&server, "ann").await;
    let big = upload(
        &server,
        &cookie,
        "wide.png",
        &picture(640, 321, ImageFormat::Png),
    )
    .await;
    let big = big.json();
    let thumb = fetch(&server, &cookie, big["thumb_url"].as_str().unwrap()).await;
    assert_eq!(thumb.header("content-type"), Some("image/png"));
    let small = image::load_from_memory(&thumb.body).unwrap();
    assert!(
        small.width() <= 320 && small.height() <= 320,
        "{}×{}",
        small.width(),
        small.height()
    );
    let exact = upload(
        &server,
        &cookie,
        "s.png",
        &picture(320, 320, ImageFormat::Png),
    )
    .await;
    assert!(
        exact.json().get("thumb_url").is_none(),
        "320 is small enough"
    );
}

#[tokio::test]
async fn a_file_posted_in_a_private_room_is_its_members_alone_and_goes_with_its_message() {
    use common::http::{accounts_config, hello_with, signed_up};
    // The timed sweep is 10 minutes away: the deletion itself wakes it.
    let (server, dir) = start(accounts_config()).await;
    let ann = signed_up(&server, "Ann").await;
    let (mut ann_ws, _) = hello_with(&server, &ann, "").await;
    let bob = signed_up(&server, "Bob").await;
    let (mut bob_ws, _) = hello_with(&server, &bob, "").await;
    let eve = signed_up(&server, "Eve").await;
    let (_eve_ws, _) = hello_with(&server, &eve, "").await;
    let made = answer(
        &mut ann_ws,
        serde_json::json!({"type": "create", "room": "team", "visibility": "private"}),
        "joined",
    )
    .await;
    assert_eq!(made["type"], "joined", "{made}");
    answer(
        &mut ann_ws,
        serde_json::json!({"type": "invite", "room": "team", "user": "Bob"}),
        "invited",
    )
    .await;
    bob_ws.recv_type("invited").await;
    bob_ws.join("team").await;

    let file = upload(
        &server,
        &ann,
        "plan.png",
        &picture(400, 300, ImageFormat::Png),
    )
    .await;
    assert_eq!(file.status, 201);
    let file = file.json();
    let id = file["id"].as_str().unwrap();
    let sent = post_with(&mut ann_ws, "team", "the plan", &[id]).await;
    assert_eq!(sent["type"], "message", "{sent}");
    assert_eq!(
        sent["attachments"][0], file,
        "the message carries the upload"
    );
    let live = bob_ws.recv_type("message").await;
    assert_eq!(live["attachments"][0]["width"], 400);

    let url = file["url"].as_str().unwrap();
    let seen = fetch(&server, &bob, url).await;
    assert_eq!(
        (seen.status, seen.header("content-type")),
        (200, Some("image/png"))
    );
    assert_eq!(
        fetch(&server, &bob, file["thumb_url"].as_str().unwrap())
            .await
            .status,
        200
    );
    let missing = fetch(&server, &eve, "/files/0123456789abcdef0123456789abcdef").await;
    for outsider in [&eve, ""] {
        let got = fetch(&server, outsider, url).await;
        assert_eq!(
            (got.status, &got.body),
            (404, &missing.body),
            "as a missing file"
        );
    }
    // A room's history carries them too.
    let (mut later, _) = hello_with(&server, &bob, "").await;
    let joined = later.join("team").await;
    assert_eq!(
        joined["messages"][0]["attachments"][0]["id"], id,
        "{joined}"
    );

    let message_id = sent["id"].as_u64().unwrap();
    ann_ws
        .send(serde_json::json!({"type": "delete", "room": "team", "id": message_id}))
        .await;
    ann_ws.recv_type("deleted").await;
    for member in [&ann, &bob] {
        assert_eq!(
            fetch(&server, member, url).await.status,
            404,
            "gone with its message"
        );
    }
    removed(&dir.path().join("files").join(id)).await;
    removed(&dir.path().join("files").join(format!("{id}.thumb"))).await;
}

#[tokio::test]
async fn an_attachment_must_be_the_senders_own_upload_posted_once_and_at_most_ten() {
    let (server, _dir) = start(fast()).await;
    let (mut ann_ws, ann) = guest(&server, "ann").await;
    let (mut bob_ws, _bob) = guest(&server, "bob").await;
    ann_ws.join("general").await;
    bob_ws.join("general").await;
    let mut ids = Vec::new();
    for n in 0..11 {
        let up = upload(
            &server,
            &ann,
            &format!("{n}.txt"),
            format!("file {n}").as_bytes(),
        )
        .await;
        ids.push(up.json()["id"].as_str().unwrap().to_owned());
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let theirs = post_with(&mut bob_ws, "general", "mine now", &ids[..1]).await;
    assert_eq!(
        (theirs["type"].as_str(), theirs["code"].as_str()),
        (Some("error"), Some("bad_request"))
    );
    let eleven = post_with(&mut ann_ws, "general", "eleven", &ids).await;
    assert_eq!(eleven["code"], "bad_request", "{eleven}");
    let twice = post_with(&mut ann_ws, "general", "twice", &[ids[0], ids[0]]).await;
    assert_eq!(twice["code"], "bad_request");
    let shapeless = post_with(&mut ann_ws, "general", "shapeless", &["../../x"]).await;
    assert_eq!(shapeless["code"], "bad_request");
    let ten = post_with(&mut ann_ws, "general", "ten", &ids[..10]).await;
    assert_eq!(ten["type"], "message", "{ten}");
    let names: Vec<&str> = ten["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "0.txt", "1.txt", "2.txt", "3.txt", "4.txt", "5.txt", "6.txt", "7.txt", "8.txt",
            "9.txt"
        ]
    );
    let again = post_with(&mut ann_ws, "general", "again", &ids[..1]).await;
    assert_eq!(again["code"], "bad_request", "posted once only: {again}");
    // The refused sends used no id: the next message follows "ten".
    let next = post_with(&mut ann_ws, "general", "plain", &[]).await;
    assert_eq!(next["id"].as_u64(), ten["id"].as_u64().map(|id| id + 1));
    // A member of the public room reads the files.
    let got = fetch(&server, "", ten["attachments"][3]["url"].as_str().unwrap()).await;
    assert_eq!(got.body, b"file 3", "public room: anyone may read");
}

#[tokio::test]
async fn an_upload_never_posted_is_removed_after_its_time() {
    let config = chat::Config {
        files_sweep_every: std::time::Duration::from_millis(20),
        unposted_ttl: std::time::Duration::ZERO,
        ..fast()
    };
    let (server, dir) = start(config).await;
    let (_ws, ann) = guest(&server, "ann").await;
    let up = upload(&server, &ann, "left.txt", b"never posted").await;
    assert_eq!(up.status, 201);
    let id = up.json()["id"].as_str().unwrap().to_owned();
    removed(&dir.path().join("files").join(&id)).await;
    assert_eq!(
        fetch(&server, &ann, &format!("/files/{id}")).await.status,
        404
    );
}

#[tokio::test]
async fn search_results_carry_their_messages_files() {
    let (server, _dir) = start(fast()).await;
    let (mut ws, ann) = guest(&server, "ann").await;
    ws.join("general").await;
    let up = upload(&server, &ann, "minutes.txt", b"we met").await.json();
    let id = up["id"].as_str().unwrap();
    post_with(&mut ws, "general", "zebrafish minutes", &[id]).await;
    let results = answer(
        &mut ws,
        serde_json::json!({"type": "search", "query": "zebrafish"}),
        "results",
    )
    .await;
    assert_eq!(results["messages"][0]["attachments"][0], up, "{results}");
}
