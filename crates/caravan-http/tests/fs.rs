//! The allocation file system and logs, served from a temp dir through a fake client.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use common::{FakeClient, Harness, TempDir, frame_data, frames, job, start_with_client};
use http_body_util::BodyExt;
use serde_json::Value;

const NODE: &str = "c0ffee00-0000-4000-8000-000000000001";

/// A harness with one placed allocation whose directory holds a task dir and logs.
struct Fixture {
    h: Harness,
    alloc: String,
    dir: PathBuf,
    _tmp: TempDir,
}

async fn fixture() -> Fixture {
    let tmp = TempDir::new();
    let h = start_with_client(FakeClient::new(NODE, tmp.path()));
    h.add_node(NODE).await;
    let alloc = h.place(job("web", 1), 1).await[0]["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tmp.path().join(&alloc);
    std::fs::create_dir_all(dir.join("alloc/logs")).unwrap();
    std::fs::create_dir_all(dir.join("server/local")).unwrap();
    std::fs::write(dir.join("server/local/config.txt"), "listen = 8080\n").unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "not yours\n").unwrap();
    Fixture {
        h,
        alloc,
        dir,
        _tmp: tmp,
    }
}

impl Fixture {
    fn log(&self, name: &str, content: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("alloc/logs").join(name))
            .unwrap();
        file.write_all(content.as_bytes()).unwrap();
    }

    fn uri(&self, route: &str, query: &str) -> String {
        format!("/v1/client/fs/{route}/{}?{query}", self.alloc)
    }
}

#[tokio::test]
async fn ls_and_stat() {
    let f = fixture().await;
    let root = f.h.get(&f.uri("ls", "path=/")).await;
    assert_eq!(root.status, StatusCode::OK, "{}", root.text());
    let entries = root.json();
    let names: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alloc", "server"]);
    let entry = &entries[0];
    for key in [
        "Name",
        "IsDir",
        "Size",
        "FileMode",
        "ModTime",
        "ContentType",
    ] {
        assert!(entry.get(key).is_some(), "file info lacks {key}: {entry}");
    }
    assert_eq!(entry["IsDir"], true);
    assert!(entry["FileMode"].as_str().unwrap().starts_with('d'));
    assert!(entry["ModTime"].as_str().unwrap().ends_with('Z'));

    let local = f.h.get(&f.uri("ls", "path=/server/local")).await.json();
    assert_eq!(local[0]["Name"], "config.txt");
    assert_eq!(local[0]["Size"], 14);
    assert_eq!(local[0]["IsDir"], false);

    let stat =
        f.h.get(&f.uri("stat", "path=/server/local/config.txt"))
            .await
            .json();
    assert_eq!(stat["Name"], "config.txt");
    assert_eq!(stat["Size"], 14);
    assert_eq!(stat["ContentType"], "text/plain; charset=utf-8");
    assert!(stat["FileMode"].as_str().unwrap().starts_with("-rw"));

    let not_dir = f.h.get(&f.uri("ls", "path=/server/local/config.txt")).await;
    assert_eq!(not_dir.status, StatusCode::BAD_REQUEST);
    let missing = f.h.get(&f.uri("stat", "path=/nope")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cat_and_readat() {
    let f = fixture().await;
    let cat = f.h.get(&f.uri("cat", "path=server/local/config.txt")).await;
    assert_eq!(cat.status, StatusCode::OK, "{}", cat.text());
    assert_eq!(cat.text(), "listen = 8080\n");
    let part =
        f.h.get(&f.uri("readat", "path=/server/local/config.txt&offset=2&limit=4"))
            .await;
    assert_eq!(part.text(), "sten");
    let tail =
        f.h.get(&f.uri("readat", "path=/server/local/config.txt&offset=9"))
            .await;
    assert_eq!(tail.text(), "8080\n");
    let dir = f.h.get(&f.uri("cat", "path=/server")).await;
    assert_eq!(dir.status, StatusCode::BAD_REQUEST);

    // A file bigger than one chunk comes through whole.
    let big: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    std::fs::write(f.dir.join("alloc/big.txt"), &big).unwrap();
    assert_eq!(
        f.h.get(&f.uri("cat", "path=/alloc/big.txt")).await.text(),
        big
    );
}

#[tokio::test]
async fn paths_cannot_leave_the_allocation_directory() {
    let f = fixture().await;
    std::os::unix::fs::symlink("../../secret.txt", f.dir.join("alloc/link")).unwrap();
    for (route, path) in [
        ("ls", "/.."),
        ("ls", "../"),
        ("cat", "/../secret.txt"),
        ("cat", "alloc/../../secret.txt"),
        ("stat", "/alloc/../../"),
        ("readat", "../secret.txt"),
        ("cat", "/alloc/link"),
    ] {
        let reply = f.h.get(&f.uri(route, &format!("path={path}"))).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{route} {path}: {}",
            reply.text()
        );
        assert!(
            reply.text().contains("escapes the allocation directory"),
            "{}",
            reply.text()
        );
    }
    // Dots that stay inside are fine.
    let inside =
        f.h.get(&f.uri("cat", "path=/alloc/../server/./local/config.txt"))
            .await;
    assert_eq!(inside.status, StatusCode::OK);
}

#[tokio::test]
async fn logs_as_frames_and_plain() {
    let f = fixture().await;
    f.log("server.stdout.0", "hello ");
    f.log("server.stdout.1", "world\n");
    f.log("server.stderr.0", "oops\n");

    let reply = f.h.get(&f.uri("logs", "task=server&type=stdout")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let decoded = frames(&reply.body);
    assert_eq!(frame_data(&decoded), "hello world\n");
    assert_eq!(decoded[0]["File"], "alloc/logs/server.stdout.0");
    assert_eq!(decoded[0]["Offset"], 6);
    assert_eq!(
        decoded.last().unwrap()["File"],
        "alloc/logs/server.stdout.1"
    );

    let plain =
        f.h.get(&f.uri("logs", "task=server&type=stdout&plain=true"))
            .await;
    assert_eq!(plain.text(), "hello world\n");
    let tail =
        f.h.get(&f.uri(
            "logs",
            "task=server&type=stdout&plain=true&origin=end&offset=3",
        ))
        .await;
    assert_eq!(tail.text(), "ld\n");
    let skip =
        f.h.get(&f.uri("logs", "task=server&type=stdout&plain=true&offset=8"))
            .await;
    assert_eq!(skip.text(), "rld\n");
    let stderr =
        f.h.get(&f.uri("logs", "task=server&type=stderr&plain=true"))
            .await;
    assert_eq!(stderr.text(), "oops\n");

    let missing = f.h.get(&f.uri("logs", "task=other&type=stdout")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let no_task = f.h.get(&f.uri("logs", "type=stdout")).await;
    assert_eq!(no_task.status, StatusCode::BAD_REQUEST);
    let bad_type = f.h.get(&f.uri("logs", "task=server&type=stdin")).await;
    assert_eq!(bad_type.status, StatusCode::BAD_REQUEST);
}

/// Reads the stream until the decoded data satisfies `done`; returns every frame so far.
async fn read_until(body: &mut Body, buf: &mut Vec<u8>, done: impl Fn(&str) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let decoded = frames(buf);
        if done(&frame_data(&decoded)) {
            return decoded;
        }
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("timed out waiting for log data")
            .expect("stream ended early")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
}

#[tokio::test]
async fn follow_streams_new_output_across_rotation() {
    let f = fixture().await;
    f.log("server.stdout.0", "one\n");
    let response =
        f.h.send(
            "GET",
            &f.uri("logs", "task=server&type=stdout&follow=true"),
            Vec::new(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut buf = Vec::new();

    read_until(&mut body, &mut buf, |d| d == "one\n").await;
    f.log("server.stdout.0", "two\n");
    read_until(&mut body, &mut buf, |d| d == "one\ntwo\n").await;
    // The writer rotates to the next file.
    f.log("server.stdout.0", "three\n");
    f.log("server.stdout.1", "four\n");
    let all = read_until(&mut body, &mut buf, |d| d == "one\ntwo\nthree\nfour\n").await;
    let last = all
        .iter()
        .rev()
        .find(|fr| fr.get("Data").is_some())
        .unwrap();
    assert_eq!(last["File"], "alloc/logs/server.stdout.1");
    assert_eq!(last["Offset"], 5);
    drop(body);
}

#[tokio::test]
async fn follow_waits_for_the_first_file_and_sees_truncation() {
    let f = fixture().await;
    let response =
        f.h.send(
            "GET",
            &f.uri("logs", "task=server&type=stderr&follow=true"),
            Vec::new(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut buf = Vec::new();
    tokio::time::sleep(Duration::from_millis(150)).await;
    f.log("server.stderr.0", "late start\n");
    read_until(&mut body, &mut buf, |d| d == "late start\n").await;

    std::fs::write(f.dir.join("alloc/logs/server.stderr.0"), "new\n").unwrap();
    let all = read_until(&mut body, &mut buf, |d| d.ends_with("new\n")).await;
    assert!(
        all.iter().any(|fr| fr["FileEvent"] == "file truncated"),
        "{all:?}"
    );
}

#[tokio::test]
async fn fs_routes_need_a_client() {
    let h = common::start();
    h.add_node(NODE).await;
    let alloc = h.place(job("web", 1), 1).await[0]["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = h.get(&format!("/v1/client/fs/ls/{alloc}?path=/")).await;
    assert_eq!(reply.status, StatusCode::NOT_IMPLEMENTED);
    let unknown = h
        .get("/v1/client/fs/logs/ffff0000?task=x&type=stdout")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
