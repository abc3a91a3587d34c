//! OpenTelemetry export (`--features otel`): `kern serve --otlp-endpoint` sends each run as a
//! trace over OTLP/HTTP (protobuf). A local receiver decodes what it gets (a protobuf reader
//! written here from the OTLP schema's field numbers) and checks the tree of one workflow run
//! whose agent step calls a tool: run -> step -> (the agent's child) run -> model calls and a
//! tool call, one trace, each span where it belongs, with the run ids.

#![cfg(feature = "otel")]

mod common;

use common::{listening_url, terminate};
use kern_models::testing::{FakeOpenAi, Reply, Scripted};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------------
// A minimal OTLP/HTTP receiver.

/// Request bodies received, by path.
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// Serves HTTP/1.1 on a loopback port: every request is recorded and answered 200.
fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got: Received = Arc::default();
    let sink = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (mut len, mut ctype) = (0usize, String::new());
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap(),
                            "content-type" => ctype = v.trim().to_owned(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    sink.lock().unwrap().push((path, ctype, body));
                    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .unwrap();
                }
            });
        }
    });
    (url, got)
}

// ---------------------------------------------------------------------------------------------
// Protobuf, as much as OTLP's trace messages need.

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed(u64),
}

fn varint(b: &mut &[u8]) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[0];
        *b = &b[1..];
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// The fields of one message, in order.
fn fields(mut b: &[u8]) -> Vec<(u64, Field<'_>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let field = match key & 7 {
            0 => Field::Varint(varint(&mut b)),
            1 => {
                let v = u64::from_le_bytes(b[..8].try_into().unwrap());
                b = &b[8..];
                Field::Fixed(v)
            }
            2 => {
                let n = varint(&mut b) as usize;
                let (v, rest) = b.split_at(n);
                b = rest;
                Field::Bytes(v)
            }
            5 => {
                let v = u64::from(u32::from_le_bytes(b[..4].try_into().unwrap()));
                b = &b[4..];
                Field::Fixed(v)
            }
            t => panic!("unexpected wire type {t}"),
        };
        out.push((key >> 3, field));
    }
    out
}

fn bytes_of<'a>(f: &'a [(u64, Field<'a>)], n: u64) -> Vec<&'a [u8]> {
    f.iter()
        .filter_map(|(k, v)| match v {
            Field::Bytes(b) if *k == n => Some(*b),
            _ => None,
        })
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// `KeyValue`s (`key` = 1, `value` = 2: `AnyValue` with string 1, bool 2, int 3, double 4).
fn attributes(kvs: Vec<&[u8]>) -> HashMap<String, String> {
    kvs.into_iter()
        .map(|kv| {
            let f = fields(kv);
            let key = text(bytes_of(&f, 1)[0]);
            let value = bytes_of(&f, 2)
                .first()
                .and_then(|any| fields(any).into_iter().next())
                .map(|(k, v)| match (k, v) {
                    (1, Field::Bytes(s)) => text(s),
                    (2 | 3, Field::Varint(n)) => n.to_string(),
                    (4, Field::Fixed(bits)) => f64::from_bits(bits).to_string(),
                    _ => String::new(),
                })
                .unwrap_or_default();
            (key, value)
        })
        .collect()
}

#[derive(Debug)]
struct Span {
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
    name: String,
    attrs: HashMap<String, String>,
    service: String,
}

/// The spans of an `ExportTraceServiceRequest` (resource_spans = 1 → resource = 1 /
/// scope_spans = 2 → spans = 2 → trace_id 1, span_id 2, parent_span_id 4, name 5,
/// attributes 9).
fn spans(body: &[u8]) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in bytes_of(&fields(body), 1) {
        let rs = fields(rs);
        let resource = bytes_of(&rs, 1)
            .first()
            .map(|r| attributes(bytes_of(&fields(r), 1)))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for ss in bytes_of(&rs, 2) {
            for span in bytes_of(&fields(ss), 2) {
                let f = fields(span);
                let one = |n| {
                    bytes_of(&f, n)
                        .first()
                        .map(|b| b.to_vec())
                        .unwrap_or_default()
                };
                out.push(Span {
                    trace_id: one(1),
                    span_id: one(2),
                    parent: one(4),
                    name: text(&one(5)),
                    attrs: attributes(bytes_of(&f, 9)),
                    service: service.clone(),
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------

fn config(model_url: &str) -> String {
    format!(
        r#"
model = "openai-compatible:{model_url}#fake-model"

[[agents]]
id = "helper"
tools = [{{ name = "hackernews", base_url = "http://127.0.0.1:9" }}]

[[workflows]]
id = "flow"
steps = [{{ name = "Ask", agent = "helper" }}]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_exported_as_a_trace() {
    // The model asks for a tool first, then answers once the tool's result is in.
    let fake = FakeOpenAi::with_handler(|req: &Value, _n| -> Reply {
        let answered = req["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
        if answered {
            Scripted::text("done").into()
        } else {
            Scripted::new()
                .tool_call(
                    "call_1",
                    "get_top_hackernews_stories",
                    r#"{"num_stories": 1}"#,
                )
                .into()
        }
    })
    .await;
    let (collector, received) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kern.toml");
    std::fs::write(&cfg, config(&fake.base_url())).unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kern"))
        .args(["--db", &db, "serve", "--port", "0"])
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--otlp-endpoint",
            &collector,
        ])
        .env_remove("KERN_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let url = listening_url(&log);
    let run: Value = reqwest::Client::new()
        .post(format!("{url}/workflows/flow/runs"))
        .form(&[("message", "top story?"), ("stream", "false")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    // A graceful stop flushes what the batch has not sent yet.
    terminate(&mut child);

    let got = received.lock().unwrap().clone();
    assert!(
        !got.is_empty(),
        "nothing exported: {}",
        std::fs::read_to_string(&log).unwrap()
    );
    for (path, ctype, _) in &got {
        assert_eq!(path, "/v1/traces");
        assert_eq!(ctype, "application/x-protobuf");
    }
    let all: Vec<Span> = got.iter().flat_map(|(_, _, b)| spans(b)).collect();
    let named = |n: &str| all.iter().filter(|s| s.name == n).collect::<Vec<_>>();
    let runs = named("run");
    let workflow = runs
        .iter()
        .find(|s| s.attrs.get("run_id") == Some(&run_id))
        .unwrap_or_else(|| panic!("no span of run {run_id}: {all:#?}"));
    assert_eq!(workflow.attrs["kind"], "workflow");
    assert_eq!(workflow.attrs["component"], "flow");
    assert_eq!(workflow.service, "kern");
    let step = named("step");
    assert_eq!(step.len(), 1, "{all:#?}");
    assert_eq!(step[0].attrs["step"], "Ask");
    assert_eq!(step[0].parent, workflow.span_id);
    let agent = runs
        .iter()
        .find(|s| s.attrs.get("component").map(String::as_str) == Some("helper"))
        .unwrap_or_else(|| panic!("no span of the agent's run: {all:#?}"));
    assert_eq!(agent.attrs["kind"], "agent");
    assert_ne!(agent.attrs["run_id"], run_id);
    assert_eq!(agent.parent, step[0].span_id);
    let models = named("model_call");
    assert_eq!(models.len(), 2, "{all:#?}");
    let tools = named("tool_call");
    assert_eq!(tools.len(), 1, "{all:#?}");
    assert_eq!(tools[0].attrs["tool"], "get_top_hackernews_stories");
    for s in models.iter().chain(&tools) {
        assert_eq!(s.parent, agent.span_id, "{s:#?}");
    }
    assert_eq!(models[0].attrs["model"], "fake-model");
    // One trace.
    for s in [*workflow, *agent]
        .into_iter()
        .chain(step)
        .chain(models)
        .chain(tools)
    {
        assert_eq!(s.trace_id, workflow.trace_id);
        assert_eq!(s.trace_id.len(), 16);
    }
}
