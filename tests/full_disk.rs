//! A disk that fills up: ingest refuses with 503 and `/readyz` says not ready while
//! the store cannot write; once space is freed the store reopens its data file by
//! itself, and every event it acknowledged is delivered.
//!
//! The disk is a real small filesystem: a tmpfs the test mounts, which needs root
//! (or CAP_SYS_ADMIN). Where mounting is not allowed the test says so and skips;
//! the recovery itself is also covered by the store's own test with an injected
//! I/O error (`src/store/writer.rs`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;

/// A tmpfs of `size`, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .ok()?;
        if !mounted.status.success() {
            eprintln!(
                "skipped: cannot mount a small tmpfs here ({}); run as root to test a full disk",
                String::from_utf8_lossy(&mounted.stderr).trim()
            );
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn readyz(admin: std::net::SocketAddr) -> StatusCode {
    let request = Request::get(format!("http://{admin}/readyz"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(request).await.status
}

async fn metric(admin: std::net::SocketAddr, name: &str) -> f64 {
    Scraped::from(admin).await.value(name, &[])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_makes_ingest_refuse_and_readyz_fail_until_space_is_freed_and_nothing_acked_is_lost()
 {
    let Some(disk) = SmallDisk::mount("24m") else {
        return;
    };
    let receiver = Receiver::ok().await;
    let hooks = admin_section() + &webhook("hook", &receiver.url("/hook"), "");
    let server = Router::start_in(&disk.path().join("data"), "", &hooks).await;
    let admin = server.admin_addr().unwrap();
    assert_eq!(readyz(admin).await, StatusCode::OK);

    let padding = "x".repeat(16 * 1024);
    let mut acked = Vec::new();
    for i in 0..20 {
        let id = format!("before-{i}");
        let body = format!(r#"{{"id":"{id}","type":"t.x","data":{{"pad":"{padding}"}}}}"#);
        let answer = post(server.ingest_addr(), "/v1/events", Some(TOKEN), &body).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json);
        acked.push(id);
    }
    let filler = disk.fill();
    let mut refused = None;
    for i in 0..5_000 {
        let body = format!(r#"{{"id":"e{i}","type":"t.x","data":{{"pad":"{padding}"}}}}"#);
        let answer = post(server.ingest_addr(), "/v1/events", Some(TOKEN), &body).await;
        match answer.status {
            StatusCode::ACCEPTED => acked.push(format!("e{i}")),
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = Some(answer);
                break;
            }
            other => panic!("unexpected answer {other}: {:?}", answer.json),
        }
    }
    let refused = refused.expect("a full disk refuses events");
    assert_eq!(refused.json["error"]["code"], "store_unavailable");
    assert!(refused.headers.contains_key("retry-after"));
    // The store is reopening now, or will once a write fails again.
    assert_eq!(readyz(admin).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(metric(admin, "switchyard_store_writable").await, 0.0);

    std::fs::remove_file(&filler).unwrap();
    // The router reopens its data file by itself: events are taken again.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let body = r#"{"id":"after","type":"t.x","data":{}}"#;
        let answer = post(server.ingest_addr(), "/v1/events", Some(TOKEN), body).await;
        if answer.status == StatusCode::ACCEPTED {
            acked.push("after".into());
            break;
        }
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            answer.json
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the store never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(readyz(admin).await, StatusCode::OK);
    assert_eq!(metric(admin, "switchyard_store_writable").await, 1.0);
    assert_eq!(metric(admin, "switchyard_store_reopens_total").await, 1.0);

    // Every event acknowledged, before the disk filled and after, is delivered.
    let delivered = receiver
        .wait_until(
            Duration::from_secs(120),
            "every acknowledged event",
            |requests| {
                acked
                    .iter()
                    .all(|id| requests.iter().any(|r| &r.event_id() == id))
            },
        )
        .await;
    assert!(delivered.len() >= acked.len());
    server.shutdown().await;
}
