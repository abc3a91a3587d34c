//! The OpenAPI 3 document served at `/openapi.json`, written by hand.

use serde_json::{json, Map, Value};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn sse_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "text/event-stream": { "schema": { "type": "string" } } }
    })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description,
            "schema": { "type": "string" } })
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description,
            "schema": schema })
}

fn form_body(schema_ref: &str, required: bool) -> Value {
    let schema = json!({ "$ref": format!("#/components/schemas/{schema_ref}") });
    json!({
        "required": required,
        "content": {
            "multipart/form-data": { "schema": schema },
            "application/x-www-form-urlencoded": { "schema": schema },
            "application/json": { "schema": schema },
        }
    })
}

fn op(tag: &str, id: &str, summary: &str, params: Vec<Value>, responses: Value) -> Value {
    let mut responses = responses;
    if let Value::Object(r) = &mut responses {
        r.entry("401")
            .or_insert_with(|| error_response("Missing or wrong security key"));
    }
    json!({
        "tags": [tag],
        "operationId": id,
        "summary": summary,
        "parameters": params,
        "responses": responses,
    })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn component_paths(paths: &mut Map<String, Value>, plural: &str, singular: &str, tag: &str) {
    let id = format!("{singular}_id");
    let idp = || path_param(&id, &format!("The {singular}'s id"));
    let run = || path_param("run_id", "The run's id");
    paths.insert(
        format!("/{plural}"),
        json!({ "get": op(tag, &format!("get_{plural}"), &format!("List {plural}"), vec![],
            json!({ "200": json_response("The registered components",
                json!({ "type": "array", "items": schema_ref("ComponentSummary") })) })) }),
    );
    paths.insert(
        format!("/{plural}/{{{id}}}"),
        json!({ "get": op(tag, &format!("get_{singular}"), &format!("Get one {singular}"), vec![idp()],
            json!({ "200": json_response("The component", schema_ref("ComponentDetail")),
                    "404": error_response("Unknown component") })) }),
    );
    let mut create = op(
        tag,
        &format!("create_{singular}_run"),
        &format!("Run the {singular}"),
        vec![idp()],
        json!({
            "200": {
                "description": "stream=true: the run's events (SSE); stream=false, background=false: the finished run",
                "content": {
                    "text/event-stream": { "schema": { "type": "string" } },
                    "application/json": { "schema": schema_ref("Run") }
                }
            },
            "202": json_response("background=true, stream=false: the run was queued",
                schema_ref("RunAccepted")),
            "400": error_response("Background execution without a durable database"),
            "404": error_response("Unknown component"),
            "413": error_response("Body over the configured limit"),
            "415": error_response("Unsupported media type"),
            "422": error_response("Missing message, malformed field"),
            "429": error_response("background=true: the queue is full (queue_full); see Retry-After"),
            "503": error_response("Shutting down, or the database is unavailable"),
        }),
    );
    create["requestBody"] = form_body("CreateRun", true);
    paths.insert(
        format!("/{plural}/{{{id}}}/runs"),
        json!({
            "get": op(tag, &format!("list_{singular}_runs"), "List runs, oldest first", vec![
                idp(),
                query_param("session_id", "Only this session's runs", json!({"type":"string"})),
                query_param("status", "Only runs with this status", schema_ref("RunStatus")),
                query_param("user_id", "Only this user's runs", json!({"type":"string"})),
                query_param("limit", "At most this many (default 100, max 1000)", json!({"type":"integer"})),
                query_param("offset", "Skip this many", json!({"type":"integer"})),
            ], json!({
                "200": json_response("The runs", json!({"type":"array","items": schema_ref("Run")})),
                "404": error_response("Unknown component"),
                "422": error_response("Unknown status"),
            })),
            "post": create,
        }),
    );
    paths.insert(
        format!("/{plural}/{{{id}}}/runs/{{run_id}}"),
        json!({ "get": op(tag, &format!("get_{singular}_run"), "Get a run (poll it)", vec![
            idp(), run(),
            query_param("session_id", "The run's session (optional)", json!({"type":"string"})),
        ], json!({
            "200": json_response("The run", schema_ref("Run")),
            "404": error_response("Unknown component or run"),
        })) }),
    );
    paths.insert(
        format!("/{plural}/{{{id}}}/runs/{{run_id}}/cancel"),
        json!({ "post": op(tag, &format!("cancel_{singular}_run"), "Cancel a run", vec![idp(), run()],
            json!({
                "200": json_response("Cancelled, cancel requested, or already finished (nothing changed)",
                    schema_ref("CancelResult")),
                "404": error_response("Unknown component or run"),
            })) }),
    );
    let mut resume = op(
        tag,
        &format!("resume_{singular}_run_stream"),
        "Resume a run's event stream",
        vec![
            idp(),
            run(),
            json!({ "name": "Last-Event-ID", "in": "header", "required": false,
                "description": "The last event index received (used when the form has none)",
                "schema": { "type": "integer" } }),
        ],
        json!({
            "200": sse_response("Meta frames (catch_up, subscribed, replay, error) and the run's events"),
            "404": error_response("Unknown component"),
            "422": error_response("Bad last_event_index"),
        }),
    );
    resume["requestBody"] = form_body("ResumeRun", false);
    paths.insert(
        format!("/{plural}/{{{id}}}/runs/{{run_id}}/resume"),
        json!({ "post": resume }),
    );
}

/// The document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    paths.insert(
        "/health".into(),
        json!({ "get": {
            "tags": ["Core"], "operationId": "health", "summary": "Health check (no authentication)",
            "security": [],
            "responses": { "200": json_response("The server is up", schema_ref("Health")) }
        } }),
    );
    paths.insert(
        "/config".into(),
        json!({ "get": op("Core", "get_config", "The OS: its agents, teams, workflows and database", vec![],
            json!({ "200": json_response("The configuration", json!({"type":"object"})) })) }),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({ "get": op("Core", "openapi", "This document", vec![],
            json!({ "200": json_response("OpenAPI 3 document", json!({"type":"object"})) })) }),
    );
    component_paths(&mut paths, "agents", "agent", "Agents");
    component_paths(&mut paths, "teams", "team", "Teams");
    component_paths(&mut paths, "workflows", "workflow", "Workflows");
    paths.insert(
        "/workflows/ws".into(),
        json!({ "get": {
            "tags": ["Workflows"], "operationId": "workflow_websocket",
            "summary": "WebSocket (upgrade). Actions: authenticate, ping, start-workflow, reconnect. Server events: connected, authenticated, auth_error, auth_required, pong, queued, catch_up, subscribed, replay, error, and the runs' events.",
            "security": [],
            "responses": {
                "101": { "description": "Switching protocols" },
                "400": error_response("Not a WebSocket upgrade request"),
            }
        } }),
    );
    let sid = || path_param("session_id", "The session's id");
    paths.insert(
        "/sessions".into(),
        json!({ "get": op("Sessions", "get_sessions", "List sessions", vec![
            query_param("type", "agent, team or workflow", json!({"type":"string","enum":["agent","team","workflow"]})),
            query_param("component_id", "Only this component's sessions", json!({"type":"string"})),
            query_param("user_id", "Only this user's sessions", json!({"type":"string"})),
            query_param("session_name", "Name contains (case-insensitive)", json!({"type":"string"})),
            query_param("page", "Page (from 1)", json!({"type":"integer"})),
            query_param("limit", "Per page (default 20)", json!({"type":"integer"})),
            query_param("sort_by", "created_at or updated_at", json!({"type":"string"})),
            query_param("sort_order", "asc or desc (default)", json!({"type":"string"})),
        ], json!({
            "200": json_response("A page of sessions", json!({"type":"object","properties":{
                "data": {"type":"array","items": schema_ref("Session")},
                "meta": {"type":"object","properties":{
                    "page":{"type":"integer"},"limit":{"type":"integer"},
                    "total_pages":{"type":"integer"},"total_count":{"type":"integer"}}}
            }})),
            "422": error_response("Bad query parameter"),
        })) }),
    );
    paths.insert(
        "/sessions/{session_id}".into(),
        json!({
            "get": op("Sessions", "get_session", "Get a session", vec![sid()], json!({
                "200": json_response("The session", schema_ref("Session")),
                "404": error_response("Unknown session"),
            })),
            "delete": op("Sessions", "delete_session", "Delete a session and its runs", vec![sid()], json!({
                "204": { "description": "Deleted" },
                "404": error_response("Unknown session"),
                "409": error_response("The session has runs still going"),
                "501": error_response("Not supported by this version's store yet"),
            })),
        }),
    );
    paths.insert(
        "/sessions/{session_id}/runs".into(),
        json!({ "get": op("Sessions", "get_session_runs", "A session's runs, oldest first", vec![sid(),
            query_param("status", "Only runs with this status", schema_ref("RunStatus"))], json!({
            "200": json_response("The runs", json!({"type":"array","items": schema_ref("Run")})),
            "404": error_response("Unknown session"),
        })) }),
    );
    paths.insert(
        "/sessions/{session_id}/runs/{run_id}".into(),
        json!({ "get": op("Sessions", "get_session_run", "One run of a session", vec![sid(),
            path_param("run_id", "The run's id")], json!({
            "200": json_response("The run", schema_ref("Run")),
            "404": error_response("Unknown run in this session"),
        })) }),
    );
    let mut rename = op(
        "Sessions",
        "rename_session",
        "Rename a session",
        vec![sid()],
        json!({
            "200": json_response("The session", schema_ref("Session")),
            "404": error_response("Unknown session"),
            "422": error_response("Missing session_name"),
            "501": error_response("Not supported by this version's store yet"),
        }),
    );
    rename["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": {
        "type": "object", "required": ["session_name"],
        "properties": { "session_name": { "type": "string" } } } } } });
    paths.insert(
        "/sessions/{session_id}/rename".into(),
        json!({ "post": rename }),
    );
    crate::queue::openapi_paths(&mut paths);

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Kern AgentOS API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "AgentOS-compatible routes for agents, teams and workflows, with durable, resumable runs. Every error is {\"detail\", \"code\"}. SSE frames carry `id: <event_index>`; idle streams get `: keepalive` comments.",
        },
        "security": [ { "bearer": [] } ],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer",
                "description": "The security key, when the server has one" } },
            "schemas": {
                "Error": { "type": "object", "required": ["detail", "code"], "properties": {
                    "detail": { "type": "string", "description": "Human-readable message" },
                    "code": { "type": "string", "description": "Stable snake_case code" } } },
                "Health": { "type": "object", "properties": {
                    "status": { "type": "string" }, "instantiated_at": { "type": "string", "format": "date-time" } } },
                "RunStatus": { "type": "string",
                    "enum": ["PENDING", "RUNNING", "COMPLETED", "ERROR", "CANCELLED", "PAUSED"] },
                "ComponentSummary": { "type": "object", "properties": {
                    "id": {"type":"string"}, "name": {"type":"string"}, "description": {"type":"string"},
                    "db_id": {"type":"string"}, "model": {"type":"object"} } },
                "ComponentDetail": { "type": "object", "additionalProperties": true, "properties": {
                    "id": {"type":"string"}, "name": {"type":"string"}, "description": {"type":"string"},
                    "db_id": {"type":"string"}, "steps": {"type":"array","items":{"type":"object"}} } },
                "CreateRun": { "type": "object", "required": ["message"], "properties": {
                    "message": { "type": "string" },
                    "stream": { "type": "boolean", "default": true },
                    "background": { "type": "boolean", "default": false },
                    "session_id": { "type": "string" },
                    "user_id": { "type": "string" },
                    "session_state": { "type": "string", "description": "JSON object" },
                    "dependencies": { "type": "string", "description": "JSON object" },
                    "metadata": { "type": "string", "description": "JSON object" },
                    "additional_data": { "type": "string", "description": "JSON" } } },
                "ResumeRun": { "type": "object", "properties": {
                    "last_event_index": { "type": "integer", "description": "The last index received; absent or -1: from the start" },
                    "session_id": { "type": "string" } } },
                "RunAccepted": { "type": "object", "properties": {
                    "run_id": {"type":"string"}, "session_id": {"type":"string"},
                    "status": schema_ref("RunStatus") } },
                "CancelResult": { "type": "object", "properties": {
                    "run_id": {"type":"string"}, "cancelled": {"type":"boolean"},
                    "already_finished": {"type":"boolean"}, "status": schema_ref("RunStatus"),
                    "message": {"type":"string"} } },
                "Run": { "type": "object", "additionalProperties": true, "properties": {
                    "run_id": {"type":"string"}, "session_id": {"type":"string"},
                    "user_id": {"type":"string","nullable":true},
                    "agent_id": {"type":"string"}, "team_id": {"type":"string"}, "workflow_id": {"type":"string"},
                    "status": schema_ref("RunStatus"),
                    "content": {}, "content_type": {"type":"string"},
                    "input": {}, "run_input": {"type":"string"},
                    "metrics": {"type":"object"},
                    "step_results": {"type":"array","items":{"type":"object"}},
                    "events": {"type":"array","items":{"type":"object"}},
                    "error": {"type":"string"},
                    "created_at": {"type":"integer","description":"Unix seconds"},
                    "event_count": {"type":"integer"} } },
                "Session": { "type": "object", "properties": {
                    "session_id": {"type":"string"}, "session_name": {"type":"string"},
                    "session_type": {"type":"string"}, "agent_id": {"type":"string"},
                    "team_id": {"type":"string"}, "workflow_id": {"type":"string"},
                    "user_id": {"type":"string","nullable":true}, "session_state": {"type":"object"},
                    "created_at": {"type":"integer"}, "updated_at": {"type":"integer"} } },
            }
        }
    })
}
