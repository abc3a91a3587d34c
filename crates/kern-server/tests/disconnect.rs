//! Client disconnects over real TCP: a foreground streaming run is cancelled when its client
//! goes away; a background streaming run is not.

mod common;

use common::*;
use kern_core::store::{RunId, RunStatus};
use kern_testkit::{both_backends, Backend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// POSTs a form over a raw connection and reads until `n` `StepOutput` frames arrived; returns
/// the connection (still open) and the run id.
async fn stream_until(s: &TestServer, form: &str, n: usize) -> (TcpStream, RunId) {
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "POST /workflows/count/runs HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        s.addr,
        form.len()
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while seen.matches("event: StepOutput").count() < n {
        let read = tokio::time::timeout_at(deadline, conn.read(&mut buf))
            .await
            .expect("events in time")
            .unwrap();
        assert!(read > 0, "connection closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..read]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    let at = seen.find("\"run_id\":\"").unwrap() + 10;
    let run_id = seen[at..at + 36].parse().unwrap();
    (conn, run_id)
}

async fn foreground_stream_disconnect_cancels(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let (conn, run_id) = stream_until(&s, "message=100000+20&stream=true", 2).await;
    assert_eq!(
        s.engine.get_run(run_id).await.unwrap().unwrap().status,
        RunStatus::Running
    );
    drop(conn);
    let run = s.wait_status(run_id, RunStatus::is_terminal).await;
    assert_eq!(run.status, RunStatus::Cancelled);
    s.shutdown().await;
}

async fn background_stream_disconnect_does_not_cancel(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let (conn, run_id) = stream_until(&s, "message=30+10&stream=true&background=true", 2).await;
    drop(conn);
    let run = s.wait_status(run_id, RunStatus::is_terminal).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.content().unwrap(), "counted to 30");
    s.shutdown().await;
}

both_backends!(
    foreground_stream_disconnect_cancels,
    background_stream_disconnect_does_not_cancel,
);
