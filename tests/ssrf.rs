//! The SSRF guard in force is the running router's: a reload cannot widen it.

mod common;

use common::*;

/// A config with the guard as `allow_private` says, and `webhooks`.
fn config(data_dir: &std::path::Path, allow_private: bool, webhooks: &str) -> switchyard::Config {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nallow_private_networks = {allow_private}\n\n[[senders]]\nname = \"test\"\ntoken = \"{TOKEN}\"\n\n{webhooks}",
        data_dir.display()
    );
    switchyard::Config::parse(
        &text,
        std::path::Path::new("test.toml"),
        &switchyard::config::ProcessEnv,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_allows_private_networks_cannot_point_a_webhook_at_loopback_before_a_restart()
{
    let dir = tempfile::tempdir().unwrap();
    let server = switchyard::Server::start(config(dir.path(), false, ""))
        .await
        .unwrap();
    let receiver = Receiver::ok().await;
    for url in [
        receiver.url("/v4"),
        format!("http://[::1]:{}/v6", receiver.addr.port()),
    ] {
        let inward = webhook("inward", &url, "");
        let error = server
            .reload(config(dir.path(), true, &inward))
            .await
            .expect_err("the running guard refuses a loopback URL");
        let text = error.to_string();
        assert!(text.contains("webhooks[0].url"), "{text}");
        assert!(text.contains("restart"), "{text}");
    }
    // Nothing changed: an event now has no webhook to go to, and none reached the receiver.
    let answer = post(
        server.ingest_addr(),
        "/v1/events",
        Some(TOKEN),
        r#"{"id":"e","type":"t.x","data":{}}"#,
    )
    .await;
    assert_eq!(answer.status, http::StatusCode::ACCEPTED);
    let deliveries = server.store().deliveries_of("test", "e").await.unwrap();
    assert!(deliveries.is_empty(), "{deliveries:?}");
    server.shutdown().await;
}
