//! The model/tool loop shared by agents and team leaders, checkpointed turn by turn.
//!
//! The conversation (messages, token usage, counters) is checkpointed under
//! [`CONVERSATION_KEY`] after every completed model turn and every completed tool round, and
//! each tool call's result under its own key as soon as the call returns. A run recovered
//! after a crash reloads the conversation and goes on from there: a finished answer is not
//! asked again, and a tool call that completed is not executed again (its stored result is
//! used); only the model request or tool calls that were in flight are redone.

use crate::hitl;
use crate::toolbox::{CallResult, Toolbox};
use futures::StreamExt;
use kern_core::engine::{RunContext, RunFailure};
use kern_core::event::{EventKind, ToolExecution};
use kern_models::{
    ChatRequest, ChatResponse, Message, Model, ResponseFormat, Role, StreamEvent, Usage,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Instant;
use tracing::Instrument;

/// The checkpoint key of the conversation.
pub(crate) const CONVERSATION_KEY: &str = "conversation";

/// A run's conversation and counters, as checkpointed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Conversation {
    pub messages: Vec<Message>,
    pub usage: Usage,
    pub model_requests: u32,
    pub tool_rounds: u32,
    /// Seconds to the first streamed token of the run's first model request.
    pub time_to_first_token: Option<f64>,
    pub tools: Vec<ToolExecution>,
    /// Set when a call's result is the run's answer (routing teams).
    pub final_answer: Option<String>,
}

impl Conversation {
    /// The calls of the last assistant message that no tool message answers yet.
    fn pending_calls(&self) -> Vec<kern_models::ToolCall> {
        let Some(pos) = self
            .messages
            .iter()
            .rposition(|m| m.role == Role::Assistant)
        else {
            return Vec::new();
        };
        let answered: Vec<&str> = self.messages[pos + 1..]
            .iter()
            .filter_map(|m| m.tool_call_id.as_deref())
            .collect();
        self.messages[pos]
            .tool_calls
            .iter()
            .filter(|c| !answered.contains(&c.id.as_str()))
            .cloned()
            .collect()
    }

    /// The answer, once the last message is an assistant message without tool calls.
    fn answer(&self) -> Option<Option<String>> {
        if let Some(a) = &self.final_answer {
            return Some(Some(a.clone()));
        }
        match self.messages.last() {
            Some(m) if m.role == Role::Assistant && m.tool_calls.is_empty() => {
                Some(m.content.clone())
            }
            _ => None,
        }
    }
}

/// One run's loop.
pub(crate) struct Turns<'a> {
    pub ctx: &'a RunContext,
    pub model: &'a dyn Model,
    pub toolbox: &'a dyn Toolbox,
    pub max_tool_rounds: u32,
    /// Emit team events (`TeamRunContent`, …) instead of agent events.
    pub team: bool,
    pub response_format: Option<ResponseFormat>,
}

impl Turns<'_> {
    fn event(&self, kind: EventKind) -> EventKind {
        if self.team {
            kind.for_team()
        } else {
            kind
        }
    }

    /// Checkpoints the conversation with `events`, and with `done` (a unit's key) marks that
    /// unit of work finished.
    async fn save(
        &self,
        conv: &Conversation,
        events: &[EventKind],
        done: Option<String>,
    ) -> Result<(), RunFailure> {
        let value = serde_json::to_value(conv).map_err(|e| RunFailure(e.to_string()))?;
        let mut checkpoints = vec![(CONVERSATION_KEY.to_owned(), value)];
        checkpoints.extend(done.map(|key| (key, Value::Bool(true))));
        self.ctx
            .checkpoint_with(events, checkpoints)
            .await
            .map_err(|e| RunFailure(e.to_string()))
    }

    /// Runs turns until the model answers without calling tools (or a call gives the final
    /// answer), or a call waits for a person (the run pauses). `initial` is used unless a
    /// checkpointed conversation exists.
    pub(crate) async fn run(&self, initial: Vec<Message>) -> Result<TurnsEnd, RunFailure> {
        let mut conv = match self.ctx.checkpoint(CONVERSATION_KEY) {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                RunFailure(format!("the checkpointed conversation is unreadable: {e}"))
            })?,
            None => Conversation {
                messages: initial,
                ..Default::default()
            },
        };
        loop {
            if let Some(answer) = conv.answer() {
                return Ok(TurnsEnd::Answer(answer, conv));
            }
            let pending = conv.pending_calls();
            if !pending.is_empty() {
                if let Some(waiting) = self.tool_round(&mut conv, pending).await? {
                    return Ok(TurnsEnd::Paused(waiting));
                }
                continue;
            }
            let allow_tools = conv.tool_rounds < self.max_tool_rounds;
            // The turn's events (its start, every streamed delta) belong to it until its
            // result is checkpointed: a run interrupted mid-turn asks again, and voids them.
            let turn = format!("turn:{}", conv.model_requests);
            let span = tracing::info_span!(
                "model_call",
                model = %self.model.id(),
                provider = %self.model.provider(),
                turn = conv.model_requests,
            );
            let (response, ttft) = self
                .model_turn(&self.ctx.scoped(turn.as_str()), &conv, allow_tools)
                .instrument(span)
                .await?;
            conv.messages.push(response.to_message());
            conv.model_requests += 1;
            conv.usage.add(&response.usage);
            if conv.time_to_first_token.is_none() {
                conv.time_to_first_token = ttft;
            }
            let done = self.event(EventKind::ModelRequestCompleted {
                model: self.model.id().to_owned(),
                model_provider: self.model.provider().to_owned(),
                input_tokens: response.usage.input_tokens,
                output_tokens: response.usage.output_tokens,
                total_tokens: response.usage.total_tokens,
                time_to_first_token: ttft,
            });
            self.save(&conv, &[done], Some(turn)).await?;
        }
    }

    /// One model request, streamed: text deltas become `RunContent` events as they arrive.
    async fn model_turn(
        &self,
        ctx: &RunContext,
        conv: &Conversation,
        allow_tools: bool,
    ) -> Result<(ChatResponse, Option<f64>), RunFailure> {
        let model = self.model;
        ctx.emit(self.event(EventKind::ModelRequestStarted {
            model: model.id().to_owned(),
            model_provider: model.provider().to_owned(),
        }));
        let mut request = ChatRequest::new(conv.messages.clone());
        if allow_tools {
            request = request.tools(self.toolbox.specs());
        }
        if let Some(format) = &self.response_format {
            request = request.response_format(format.clone());
        }
        let failure = |e: kern_models::ModelError| {
            RunFailure(format!(
                "model {}:{} failed: {e}",
                model.provider(),
                model.id()
            ))
        };
        let started = Instant::now();
        let mut stream = model.stream(request).await.map_err(failure)?;
        let mut ttft = None;
        while let Some(item) = stream.next().await {
            match item.map_err(failure)? {
                StreamEvent::TextDelta(delta) => {
                    ttft.get_or_insert_with(|| started.elapsed().as_secs_f64());
                    ctx.emit(self.event(EventKind::RunContent {
                        content: delta,
                        content_type: "str".into(),
                    }));
                }
                StreamEvent::Completed(response) => {
                    let ttft = ttft.or_else(|| Some(started.elapsed().as_secs_f64()));
                    return Ok((response, ttft));
                }
                _ => {}
            }
        }
        Err(failure(kern_models::ModelError::StreamDropped))
    }

    /// Runs the pending calls concurrently; each result is checkpointed as it arrives. If a
    /// call waits for a person (see `hitl`), nothing runs: returns the waiting calls.
    async fn tool_round(
        &self,
        conv: &mut Conversation,
        calls: Vec<kern_models::ToolCall>,
    ) -> Result<Option<Vec<Value>>, RunFailure> {
        let round = conv.tool_rounds;
        let decisions = hitl::decisions(self.ctx);
        let mut gates = Vec::with_capacity(calls.len());
        let mut waiting = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            if self.ctx.checkpoint(&format!("tool:{round}:{i}")).is_some() {
                gates.push(None); // done before: its result is checkpointed
                continue;
            }
            let args = parse_args(call);
            let g = match &args {
                Ok(a) => hitl::gate(
                    &self.toolbox.human_in_loop(&call.name),
                    call,
                    a.clone(),
                    decisions.get(&call.id),
                ),
                Err(_) => hitl::Gate::Run(Value::Null),
            };
            if let hitl::Gate::Wait(w) = &g {
                waiting.push(w.clone());
            }
            gates.push(Some(g));
        }
        if !waiting.is_empty() {
            return Ok(Some(waiting));
        }
        let runs = calls.iter().zip(gates).enumerate().map(|(i, (call, g))| {
            let span = tracing::info_span!("tool_call", tool = %call.name, round, index = i);
            self.tool_call(round, i, call, g).instrument(span)
        });
        let results = futures::future::join_all(runs).await;
        let mut final_answer = None;
        for (call, result) in calls.iter().zip(results) {
            let (exec, is_final) = result?;
            let content = exec.result.clone().unwrap_or_default();
            if is_final && final_answer.is_none() {
                final_answer = Some(content.clone());
            }
            conv.messages
                .push(Message::tool(call.id.clone(), call.name.clone(), content));
            conv.tools.push(exec);
        }
        conv.tool_rounds += 1;
        conv.final_answer = final_answer;
        self.save(conv, &[], None).await?;
        Ok(None)
    }

    async fn tool_call(
        &self,
        round: u32,
        i: usize,
        call: &kern_models::ToolCall,
        gate: Option<hitl::Gate>,
    ) -> Result<(ToolExecution, bool), RunFailure> {
        let key = format!("tool:{round}:{i}");
        if let Some(done) = self.ctx.checkpoint(&key) {
            #[derive(Deserialize)]
            struct Done {
                exec: ToolExecution,
                #[serde(default)]
                final_answer: bool,
            }
            let done: Done = serde_json::from_value(done.clone())
                .map_err(|e| RunFailure(format!("checkpoint {key} is unreadable: {e}")))?;
            return Ok((done.exec, done.final_answer));
        }
        let parsed = match &gate {
            Some(hitl::Gate::Run(args)) if !args.is_null() => Ok(args.clone()),
            _ => parse_args(call),
        };
        let mut exec = ToolExecution {
            tool_call_id: call.id.clone(),
            tool_name: call.name.clone(),
            tool_args: parsed
                .as_ref()
                .cloned()
                .unwrap_or(Value::String(call.arguments.clone())),
            ..Default::default()
        };
        // The call's events, and those of the child run it may start (a team member), belong
        // to it until its result is checkpointed.
        let ctx = self.ctx.scoped(key.as_str());
        let start = self.event(EventKind::ToolCallStarted { tool: exec.clone() });
        if self.toolbox.at_most_once(&call.name) && !matches!(gate, Some(hitl::Gate::Answer(_))) {
            // At most once: a durable mark before the call; a run interrupted during it fails
            // instead of calling the tool again (unless an operator requeued it since).
            let mark = format!("attempting:{key}");
            if let Some(marked) = self.ctx.checkpoint(&mark).and_then(Value::as_u64) {
                let requeued = self
                    .ctx
                    .checkpoint("requeued_attempt")
                    .and_then(Value::as_u64)
                    .is_some_and(|at| at >= marked);
                if !requeued {
                    return Err(RunFailure(format!(
                        "the tool call {:?} is at-most-once and was interrupted while it ran (the process running it stopped): it was not called again, since it may already have had its effects; requeue the run to call it again",
                        call.name
                    )));
                }
            }
            let attempt = u64::from(self.ctx.record().attempt);
            ctx.checkpoint_with(&[start], vec![(mark, Value::from(attempt))])
                .await
                .map_err(|e| RunFailure(e.to_string()))?;
        } else {
            ctx.emit(start);
        }
        let started = Instant::now();
        let result = match (gate, parsed) {
            (Some(hitl::Gate::Answer(answer)), _) => answer,
            (_, Ok(args)) => self.toolbox.call(&ctx, call, args).await,
            (_, Err(e)) => CallResult::error(format!(
                "Error: the arguments are not valid JSON ({e}); call {:?} again with a JSON object",
                call.name
            )),
        };
        exec.result = Some(result.content.clone());
        exec.tool_call_error = Some(result.error);
        exec.child_run_id = result.child_run_id.map(|id| id.to_string());
        exec.metrics = Some(json!({ "duration": started.elapsed().as_secs_f64() }));
        let event = self.event(EventKind::ToolCallCompleted {
            tool: exec.clone(),
            content: Some(result.content),
        });
        let saved = json!({ "exec": exec, "final_answer": result.final_answer });
        ctx.checkpoint_with(&[event], vec![(key, saved)])
            .await
            .map_err(|e| RunFailure(e.to_string()))?;
        Ok((exec, result.final_answer))
    }
}

/// How a run's turns ended.
pub(crate) enum TurnsEnd {
    /// The model answered.
    Answer(Option<String>, Conversation),
    /// Calls wait for a person (as the pause reports them); the conversation is checkpointed.
    Paused(Vec<Value>),
}

fn parse_args(call: &kern_models::ToolCall) -> Result<Value, serde_json::Error> {
    if call.arguments.trim().is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_str::<Value>(&call.arguments)
    }
}

/// Run metrics as AgentOS reports them.
pub(crate) fn metrics(conv: &Conversation, duration: f64) -> Value {
    json!({
        "input_tokens": conv.usage.input_tokens,
        "output_tokens": conv.usage.output_tokens,
        "total_tokens": conv.usage.total_tokens,
        "time_to_first_token": conv.time_to_first_token,
        "duration": duration,
        "model_requests": conv.model_requests,
        "tool_calls": conv.tools.len(),
    })
}
