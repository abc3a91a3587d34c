// Kern's dashboard: a client of the server's own routes (see crates/kern-server/src/ui/mod.rs).
// No framework, no build step. Views: runs (#/), one run (#/run/{kinds}/{id}/{run_id}), and
// the components with a form to start a run (#/components).
"use strict";

(() => {
  const TOKEN_KEY = "kern.token";
  const POLL_MS = 2000;
  const PAGE_SIZE = 20;
  const STATUSES = ["PENDING", "RUNNING", "PAUSED", "COMPLETED", "ERROR", "CANCELLED"];
  const TERMINAL = new Set(["COMPLETED", "ERROR", "CANCELLED"]);
  const KINDS = { agent: "agents", team: "teams", workflow: "workflows" };
  const SINGULAR = { agents: "agent", teams: "team", workflows: "workflow" };

  // ---------------------------------------------------------------------------------------
  // Small helpers.

  const $ = (sel, root = document) => root.querySelector(sel);

  /** An element with properties/attributes and children (strings become text nodes). */
  function el(tag, props = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "html") e.innerHTML = v; // only ever given escaped markup
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  const delay = (ms) => new Promise((r) => setTimeout(r, ms));
  const now = () => Date.now() / 1000;

  function ago(secs) {
    if (secs === null || secs === undefined) return "–";
    const d = Math.max(0, now() - secs);
    if (d < 60) return `${Math.floor(d)}s ago`;
    if (d < 3600) return `${Math.floor(d / 60)}m ago`;
    if (d < 86400) return `${Math.floor(d / 3600)}h ago`;
    return `${Math.floor(d / 86400)}d ago`;
  }

  function dur(secs) {
    if (secs === null || secs === undefined || Number.isNaN(secs)) return "–";
    if (secs < 0.001) return "<1 ms";
    if (secs < 1) return `${Math.round(secs * 1000)} ms`;
    if (secs < 60) return `${secs.toFixed(secs < 10 ? 1 : 0)} s`;
    const m = Math.floor(secs / 60);
    if (m < 60) return `${m}m ${Math.round(secs % 60)}s`;
    return `${Math.floor(m / 60)}h ${m % 60}m`;
  }

  /** A run's duration in whole seconds (records carry Unix seconds), as text. */
  function runDuration(r) {
    if (!r.started_at) return "–";
    const end = r.finished_at || (r.status === "PAUSED" ? r.updated_at : null);
    const d = (end || now()) - r.started_at;
    return end && d < 1 ? "<1 s" : dur(Math.max(0, Math.round(d)));
  }

  function when(secs) {
    return secs ? new Date(secs * 1000).toLocaleString() : "–";
  }

  function text(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;
    if (typeof v === "object" && typeof v.input_content === "string") return v.input_content;
    return JSON.stringify(v, null, 2);
  }

  const statusBadge = (s) => el("span", { class: `status st-${s}`, "data-status": s, text: s });

  // ---------------------------------------------------------------------------------------
  // Markdown: a small, safe renderer. The source is HTML-escaped before any markup is added,
  // so nothing in it can become a tag or an attribute; links keep only http(s) and mailto.

  function markdown(src) {
    const lines = String(src).replace(/\u0000/g, "").replace(/\r\n?/g, "\n").split("\n");
    const out = [];
    let para = [];
    const flush = () => {
      if (para.length) out.push(`<p>${inline(para.join("\n"))}</p>`);
      para = [];
    };
    const listItem = /^\s*([-*+]|\d+[.)])\s+(.*)$/;
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if ((m = line.match(/^\s*(```|~~~)\s*([\w+#.-]*)\s*$/))) {
        flush();
        const fence = m[1];
        const lang = m[2];
        const code = [];
        i++;
        while (i < lines.length && !lines[i].trim().startsWith(fence)) code.push(lines[i++]);
        i++;
        const cls = lang ? ` class="lang-${esc(lang)}"` : "";
        out.push(`<pre><code${cls}>${esc(code.join("\n"))}</code></pre>`);
      } else if ((m = line.match(/^(#{1,6})\s+(.*?)\s*#*\s*$/))) {
        flush();
        const n = m[1].length;
        out.push(`<h${n}>${inline(m[2])}</h${n}>`);
        i++;
      } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
        flush();
        out.push("<hr>");
        i++;
      } else if ((m = line.match(listItem))) {
        flush();
        const ordered = /\d/.test(m[1]);
        const items = [];
        while (i < lines.length && (m = lines[i].match(listItem)) && /\d/.test(m[1]) === ordered) {
          items.push(m[2]);
          i++;
          while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !listItem.test(lines[i])) {
            items[items.length - 1] += `\n${lines[i++].trim()}`;
          }
        }
        const tag = ordered ? "ol" : "ul";
        out.push(`<${tag}>${items.map((t) => `<li>${inline(t)}</li>`).join("")}</${tag}>`);
      } else if (/^\s*>/.test(line)) {
        flush();
        const quote = [];
        while (i < lines.length && (m = lines[i].match(/^\s*>\s?(.*)$/))) {
          quote.push(m[1]);
          i++;
        }
        out.push(`<blockquote>${markdown(quote.join("\n"))}</blockquote>`);
      } else if (!line.trim()) {
        flush();
        i++;
      } else {
        para.push(line);
        i++;
      }
    }
    flush();
    return out.join("\n");
  }

  function inline(raw) {
    const kept = [];
    const keep = (html) => `\u0000${kept.push(html) - 1}\u0000`;
    let s = esc(raw);
    s = s.replace(/`([^`\n]+)`/g, (_, code) => keep(`<code>${code}</code>`));
    s = s.replace(/\[([^\]\n]+)\]\(([^()\s]+)\)/g, (_, label, url) => {
      const plain = url.replace(/&amp;/g, "&");
      if (!/^(https?:\/\/|mailto:)/i.test(plain)) return label;
      return keep(`<a href="${url}" target="_blank" rel="noopener noreferrer nofollow">`) + label + keep("</a>");
    });
    s = s.replace(/\*\*([^*\n]+)\*\*|__([^_\n]+)__/g, (_, a, b) => `<strong>${a || b}</strong>`);
    s = s.replace(/(^|[^*\w])\*([^*\n]+)\*(?![*\w])/g, "$1<em>$2</em>");
    s = s.replace(/(^|[^_\w])_([^_\n]+)_(?![_\w])/g, "$1<em>$2</em>");
    s = s.replace(/\n/g, "<br>");
    return s.replace(/\u0000(\d+)\u0000/g, (_, n) => kept[Number(n)]);
  }

  // ---------------------------------------------------------------------------------------
  // The API, with the token the person entered.

  class HttpError extends Error {
    constructor(status, detail, code) {
      super(detail || `HTTP ${status}`);
      this.status = status;
      this.code = code;
    }
  }

  function token() {
    return localStorage.getItem(TOKEN_KEY) || "";
  }

  async function api(path, { method = "GET", form, headers = {}, signal } = {}) {
    const h = { Accept: "application/json", ...headers };
    if (token()) h.Authorization = `Bearer ${token()}`;
    const body = form ? new URLSearchParams(form) : undefined;
    const resp = await fetch(path, { method, headers: h, body, signal, cache: "no-store" });
    if (!resp.ok) {
      let detail = resp.statusText;
      let code;
      try {
        const j = await resp.json();
        detail = j.detail || detail;
        code = j.code;
      } catch (_) {
        /* not JSON */
      }
      if (resp.status === 401) askToken(token() ? "The token was refused." : "This server needs a token.");
      throw new HttpError(resp.status, detail, code);
    }
    return resp;
  }

  const getJson = async (path, opts) => (await api(path, opts)).json();

  /** SSE frames ({id, event, data}) of a fetch response, as they arrive. */
  async function* sseFrames(resp) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    let frame = { id: null, event: "message", data: [] };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          let line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.endsWith("\r")) line = line.slice(0, -1);
          if (line === "") {
            if (frame.data.length) yield { id: frame.id, event: frame.event, data: frame.data.join("\n") };
            frame = { id: null, event: "message", data: [] };
          } else if (!line.startsWith(":")) {
            const c = line.indexOf(":");
            const field = c < 0 ? line : line.slice(0, c);
            const val = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
            if (field === "id") frame.id = val;
            else if (field === "event") frame.event = val;
            else if (field === "data") frame.data.push(val);
          }
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  // ---------------------------------------------------------------------------------------
  // The token dialog.

  let tokenAsked = false;

  function askToken(why) {
    if (tokenAsked) return;
    tokenAsked = true;
    $("#token-why").textContent = `${why} Enter the server's security key, or a JWT.`;
    $("#token-input").value = "";
    const d = $("#token-dialog");
    if (!d.open) d.showModal();
  }

  function setupToken() {
    $("#token-button").addEventListener("click", () => {
      tokenAsked = false;
      askToken(token() ? "A token is saved." : "No token is saved.");
    });
    $("#token-form").addEventListener("submit", () => {
      const t = $("#token-input").value.trim();
      if (t) localStorage.setItem(TOKEN_KEY, t);
      tokenAsked = false;
      route();
    });
    $("#token-clear").addEventListener("click", () => {
      localStorage.removeItem(TOKEN_KEY);
      $("#token-dialog").close();
      tokenAsked = false;
      route();
    });
    $("#token-dialog").addEventListener("close", () => {
      tokenAsked = false;
    });
  }

  // ---------------------------------------------------------------------------------------
  // Components (cached for the filters and the start form).

  let componentCache = null;

  async function components() {
    if (!componentCache) {
      const lists = await Promise.all(
        Object.values(KINDS).map((plural) =>
          getJson(`/${plural}`).then((l) => l.map((c) => ({ ...c, kind: SINGULAR[plural], plural }))),
        ),
      );
      componentCache = lists.flat();
    }
    return componentCache;
  }

  const componentKey = (c) => `${c.kind}:${c.id}`;
  const runKind = (r) => r.component_type || (r.workflow_id ? "workflow" : r.team_id ? "team" : "agent");
  const runComponent = (r) => r.component_id || r.workflow_id || r.team_id || r.agent_id;
  const runName = (r) => r.workflow_name || r.team_name || r.agent_name || runComponent(r);
  const runHref = (r) => `#/run/${KINDS[runKind(r)]}/${encodeURIComponent(runComponent(r))}/${r.run_id}`;

  // ---------------------------------------------------------------------------------------
  // The queue's figures, in the header (operators only: others get 403 and see nothing).

  async function refreshQueue() {
    const box = $("#queue");
    try {
      const q = await getJson("/queue/stats");
      const c = q.counts || {};
      box.replaceChildren(
        el("span", {}, "pending ", el("b", { id: "q-pending", text: c.pending ?? 0 })),
        el("span", {}, "running ", el("b", { id: "q-running", text: c.running ?? 0 })),
        el("span", {}, "paused ", el("b", { id: "q-paused", text: c.paused ?? 0 })),
        el("span", {}, "failed ", el("b", { id: "q-failed", text: c.failed ?? 0 })),
        el("span", {}, "oldest pending ", el("b", { text: q.oldest_queued_age_seconds == null ? "–" : dur(q.oldest_queued_age_seconds) })),
      );
      box.hidden = false;
    } catch (_) {
      box.hidden = true;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Runs: newest first, filtered and paged by the server, polled while visible.

  function runsView(params) {
    let stopped = false;
    let timer = null;
    let polls = 0;
    const page = Math.max(1, Number(params.get("page")) || 1);
    const main = $("#main");
    const statusSel = el("select", { name: "status", id: "f-status" }, el("option", { value: "", text: "any status" }), STATUSES.map((s) => el("option", { value: s, text: s })));
    statusSel.value = params.get("status") || "";
    const compSel = el("select", { name: "component", id: "f-component" }, el("option", { value: "", text: "any component" }));
    const session = el("input", { name: "session", id: "f-session", placeholder: "session id", value: params.get("session") || "" });
    const user = el("input", { name: "user", id: "f-user", placeholder: "user id", value: params.get("user") || "" });
    const apply = (e) => {
      if (e) e.preventDefault();
      const q = new URLSearchParams();
      if (statusSel.value) q.set("status", statusSel.value);
      if (compSel.value) q.set("component", compSel.value);
      if (session.value.trim()) q.set("session", session.value.trim());
      if (user.value.trim()) q.set("user", user.value.trim());
      location.hash = `#/?${q}`;
    };
    statusSel.addEventListener("change", apply);
    compSel.addEventListener("change", apply);
    const form = el("form", { class: "filters", onsubmit: apply }, statusSel, compSel, session, user, el("button", { type: "submit", class: "secondary", text: "Filter" }));
    const tbody = el("tbody", { id: "runs-body" });
    const table = el(
      "table",
      { id: "runs" },
      el("thead", {}, el("tr", {}, ["Status", "Component", "Created", "Duration", "Input"].map((t) => el("th", { text: t })))),
      tbody,
    );
    const info = el("span", { id: "runs-info", class: "muted" });
    const prev = el("button", { type: "button", class: "secondary", id: "prev", text: "← Newer" });
    const next = el("button", { type: "button", class: "secondary", id: "next", text: "Older →" });
    const go = (p) => {
      const q = new URLSearchParams(params);
      q.set("page", String(p));
      location.hash = `#/?${q}`;
    };
    prev.addEventListener("click", () => go(page - 1));
    next.addEventListener("click", () => go(page + 1));
    const error = el("p", { class: "error", id: "runs-error" });
    main.replaceChildren(
      el("div", { class: "row" }, el("h1", { text: "Runs" }), el("a", { href: "#/components", text: "Start a run →" })),
      form,
      error,
      table,
      el("div", { class: "pager" }, prev, info, next),
    );

    components()
      .then((list) => {
        for (const c of list) compSel.append(el("option", { value: componentKey(c), text: `${c.kind}: ${c.name || c.id}` }));
        compSel.value = params.get("component") || "";
      })
      .catch(() => {});

    const query = () => {
      const q = new URLSearchParams({ page: String(page), limit: String(PAGE_SIZE) });
      if (params.get("status")) q.set("status", params.get("status"));
      const comp = params.get("component");
      if (comp) {
        const [kind, ...id] = comp.split(":");
        q.set("component_type", kind);
        q.set("component_id", id.join(":"));
      }
      if (params.get("session")) q.set("session_id", params.get("session"));
      if (params.get("user")) q.set("user_id", params.get("user"));
      return q;
    };

    const render = (data) => {
      const rows = data.data.map((r) =>
        el(
          "tr",
          { class: "run-row", dataset: { runId: r.run_id, status: r.status }, onclick: () => (location.hash = runHref(r)) },
          el("td", {}, el("a", { href: runHref(r) }, statusBadge(r.status))),
          el("td", {}, el("span", { class: "kind", text: runKind(r) }), " ", runName(r)),
          el("td", { class: "num", title: when(r.created_at), text: ago(r.created_at) }),
          el("td", { class: "num", text: runDuration(r) }),
          el("td", { class: "excerpt", title: text(r.run_input).slice(0, 500), text: text(r.run_input).slice(0, 140) }),
        ),
      );
      if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 5, class: "muted", text: "No runs." })));
      tbody.replaceChildren(...rows);
      const m = data.meta;
      info.textContent = `page ${m.page} of ${Math.max(1, m.total_pages)} · ${m.total_count} runs`;
      prev.disabled = page <= 1;
      next.disabled = page >= m.total_pages;
      main.dataset.loaded = String(Date.now());
    };

    const load = async () => {
      timer = null;
      if (stopped) return;
      if (!document.hidden) {
        try {
          // The queue's figures cost a grouped count over the runs table: every 5th poll.
          const stats = polls++ % 5 === 0 ? refreshQueue() : null;
          const [data] = await Promise.all([getJson(`/ui/api/runs?${query()}`), stats]);
          if (stopped) return;
          error.textContent = "";
          render(data);
        } catch (e) {
          if (!stopped) error.textContent = e.message;
        }
      }
      if (!stopped) timer = setTimeout(load, POLL_MS);
    };
    const onVisible = () => {
      if (!document.hidden && timer !== null) {
        clearTimeout(timer);
        load();
      }
    };
    document.addEventListener("visibilitychange", onVisible);
    load();
    return {
      stop() {
        stopped = true;
        if (timer) clearTimeout(timer);
        document.removeEventListener("visibilitychange", onVisible);
      },
    };
  }

  // ---------------------------------------------------------------------------------------
  // One run: its record, its events as they arrive (from the last index rendered), actions.

  /** Foreground streaming runs started by the form: their open response, handed over. */
  const handoffs = new Map();

  function freshState() {
    return { last: -1, pieces: [], voids: [], timeline: [], gaps: 0 };
  }

  function loadState(runId) {
    try {
      const s = JSON.parse(sessionStorage.getItem(`kern.run.${runId}`) || "null");
      if (s && Number.isInteger(s.last) && Array.isArray(s.pieces)) return s;
    } catch (_) {
      /* unreadable: start over */
    }
    return null;
  }

  function saveState(runId, state) {
    const key = `kern.run.${runId}`;
    try {
      sessionStorage.setItem(key, JSON.stringify(state));
    } catch (_) {
      // Too big for sessionStorage: a reload then replays the log from the start (still no
      // gap and no duplicate, only slower).
      sessionStorage.removeItem(key);
    }
  }

  const inRanges = (i, ranges) => ranges.some(([a, b]) => i >= a && i <= b);

  function runView(plural, componentId, runId) {
    const kind = SINGULAR[plural];
    const base = `/${plural}/${encodeURIComponent(componentId)}/runs/${encodeURIComponent(runId)}`;
    const main = $("#main");
    let stopped = false;
    let record = null;
    let controller = new AbortController();
    let following = false;
    let flushTimer = null;
    let stored = loadState(runId);
    const state = stored || freshState();
    const resumedFrom = stored ? stored.last : -1;

    const title = el("h1", {}, kind, ": ", componentId);
    const badge = el("span", { id: "run-status" });
    const actions = el("div", { class: "row", id: "actions" });
    const meta = el("dl", { class: "meta", id: "run-meta" });
    const input = el("pre", { class: "stream", id: "run-input" });
    const output = el("div", { class: "markdown", id: "run-output" });
    const errorBox = el("p", { class: "error", id: "run-error" });
    const pausedBox = el("div", { id: "paused" });
    const stream = el("pre", { class: "stream", id: "stream", dataset: { resumedFrom: String(resumedFrom) } });
    const timeline = el("ol", { class: "timeline", id: "timeline" });
    const notice = el("p", { class: "muted", id: "run-notice" });
    main.replaceChildren(
      el("p", {}, el("a", { href: "#/", text: "← Runs" })),
      el("div", { class: "row" }, title, badge),
      actions,
      notice,
      el("div", { class: "card" }, meta),
      errorBox,
      pausedBox,
      el("h2", { text: "Input" }),
      el("div", { class: "card" }, input),
      el("h2", { text: "Output" }),
      el("div", { class: "card" }, output),
      el("h2", { text: "Stream" }),
      el("div", { class: "card" }, stream),
      el("h2", { text: "Timeline" }),
      el("div", { class: "card" }, timeline),
    );

    // --- events -> state
    const piece = (v) => (typeof v === "string" ? v : JSON.stringify(v));

    function applyVoids(ranges) {
      state.voids.push(...ranges);
      state.pieces = state.pieces.filter(([i]) => !inRanges(i, ranges));
      state.timeline = state.timeline.filter((t) => !inRanges(t.start, ranges));
      for (const t of state.timeline) {
        if (t.end !== null && inRanges(t.end, ranges)) {
          t.end = null;
          t.duration = null;
          t.failed = false;
        }
      }
    }

    function openEntry(pred) {
      for (let k = state.timeline.length - 1; k >= 0; k--) {
        const t = state.timeline[k];
        if (t.end === null && pred(t)) return t;
      }
      return null;
    }

    function close(t, idx, ev, failed) {
      t.end = idx;
      const m = ev.step_response?.metrics?.duration ?? ev.metrics?.duration;
      t.duration = typeof m === "number" ? m : Math.max(0, (ev.created_at || t.at) - t.at);
      t.failed = failed;
    }

    function onEvent(idx, ev) {
      if (idx <= state.last) return; // already rendered (a reconnect overlapping)
      if (idx !== state.last + 1) state.gaps += 1; // never expected: the log is gapless
      state.last = idx;
      const type = ev.event;
      const own = ev.run_id === runId;
      if (Array.isArray(ev.voided) && ev.voided.length) applyVoids(ev.voided);
      if ((type === "RunContent" || type === "TeamRunContent") && (own || kind === "workflow") && ev.content != null) {
        state.pieces.push([idx, piece(ev.content)]);
      } else if (type === "StepOutput" && ev.content != null) {
        state.pieces.push([idx, `${piece(ev.content)}\n`]);
      } else if (type === "StepStarted") {
        state.timeline.push({ kind: "step", name: ev.step_name, start: idx, at: ev.created_at, end: null, duration: null, failed: false });
      } else if (type === "StepCompleted" || type === "StepError") {
        const t = openEntry((t) => t.kind === "step" && t.name === ev.step_name);
        if (t) close(t, idx, ev, type === "StepError" || ev.step_response?.success === false);
      } else if ((type === "RunStarted" || type === "TeamRunStarted") && !own) {
        state.timeline.push({ kind: "member", name: ev.agent_name || ev.team_name || ev.agent_id || ev.team_id || "member", run: ev.run_id, start: idx, at: ev.created_at, end: null, duration: null, failed: false });
      } else if (/^(Team)?Run(Completed|Error|Cancelled)$/.test(type) && !own) {
        const t = openEntry((t) => t.kind === "member" && t.run === ev.run_id);
        if (t) close(t, idx, ev, !type.endsWith("Completed"));
      }
      if (own && /^(Workflow|Run|TeamRun)(Started|Completed|Error|Cancelled)$|^Run(Paused|Continued|Requeued|Restarted)$/.test(type)) {
        refreshSoon();
      }
      scheduleFlush();
    }

    // --- state -> page (and sessionStorage, in the same step: what is stored was rendered)
    function flush() {
      flushTimer = null;
      stream.textContent = state.pieces.map(([, t]) => t).join("");
      stream.dataset.lastIndex = String(state.last);
      stream.dataset.gaps = String(state.gaps);
      timeline.replaceChildren(
        ...state.timeline.map((t) =>
          el(
            "li",
            { class: `${t.kind}${t.failed ? " failed" : ""}`, dataset: { name: t.name } },
            el("span", { class: "name", text: t.name }),
            el("span", { class: "muted", text: t.kind }),
            el("span", { class: "num", text: t.end === null ? "running…" : dur(t.duration) }),
          ),
        ),
      );
      if (!state.timeline.length) timeline.append(el("li", { class: "muted", text: "No steps or member runs yet." }));
      saveState(runId, state);
    }

    function scheduleFlush() {
      if (flushTimer === null) flushTimer = setTimeout(flush, 16);
    }

    // --- the record
    function renderRecord() {
      const r = record;
      badge.replaceChildren(statusBadge(r.status));
      title.replaceChildren(kind, ": ", runName(r));
      meta.replaceChildren(
        ...[
          ["run", r.run_id],
          ["session", r.session_id],
          ["user", r.user_id || "–"],
          ["mode", r.background ? "background" : "foreground"],
          ["created", when(r.created_at)],
          ["started", when(r.started_at)],
          ["finished", when(r.finished_at)],
          ["duration", runDuration(r)],
          ["events", r.event_count],
        ].flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { class: "mono", text: v })]),
      );
      stream.dataset.empty = TERMINAL.has(r.status) || r.status === "PAUSED" ? "(nothing was streamed)" : "(nothing streamed yet)";
      input.textContent = text(r.input);
      if (r.content === null || r.content === undefined) {
        output.replaceChildren(el("span", { class: "muted", text: TERMINAL.has(r.status) ? "(no output)" : "(not finished yet)" }));
      } else if (typeof r.content === "string") {
        output.innerHTML = markdown(r.content);
      } else {
        output.innerHTML = `<pre><code>${esc(JSON.stringify(r.content, null, 2))}</code></pre>`;
      }
      errorBox.textContent = r.error ? `Error: ${r.error}` : "";
      renderActions();
      renderPaused();
    }

    function renderActions() {
      const r = record;
      const buttons = [];
      if (!TERMINAL.has(r.status)) {
        buttons.push(el("button", { type: "button", class: "danger", id: "cancel", text: "Cancel", onclick: cancel }));
      }
      if (r.status === "ERROR" || r.status === "CANCELLED") {
        buttons.push(el("button", { type: "button", id: "requeue", text: "Requeue", onclick: requeue }));
      }
      actions.replaceChildren(...buttons);
    }

    function pendingRequirements(r) {
      if (kind === "workflow") return (r.step_requirements || r.requirements || []).map((q) => ({ ...q }));
      return (r.tools || []).map((t) => ({ ...t }));
    }

    // What the waiting panel shows, so that a refresh of the same pause (the stream ending
    // at RunPaused, a poll) keeps the person's half-made decisions instead of redrawing it.
    let pausedShown = null;

    function renderPaused() {
      const r = record;
      if (r.status !== "PAUSED") {
        pausedShown = null;
        pausedBox.replaceChildren();
        return;
      }
      const reqs = pendingRequirements(r);
      const shown = JSON.stringify([r.event_count, reqs]);
      if (shown === pausedShown) return;
      pausedShown = shown;
      const decisions = new Map();
      const submit = el("button", { type: "button", id: "continue", text: "Continue", disabled: true });
      const items = reqs.map((q, i) => {
        const waiting = q.confirmed === null || q.confirmed === undefined;
        const label = q.confirmation_message || (q.tool_name ? `${q.tool_name}(${JSON.stringify(q.tool_args || {})})` : q.step_name || `requirement ${i + 1}`);
        const pick = (v) => {
          decisions.set(i, v);
          submit.disabled = reqs.some((q2, j) => (q2.confirmed === null || q2.confirmed === undefined) && !decisions.has(j));
          for (const b of box.querySelectorAll("button")) b.classList.toggle("secondary", b.dataset.value !== String(v));
        };
        const box = el(
          "div",
          { class: "requirement", dataset: { index: i } },
          el("p", {}, el("b", { text: q.step_name || q.tool_name || "" }), " ", label),
          waiting
            ? el(
                "div",
                { class: "row" },
                el("button", { type: "button", class: "secondary confirm", dataset: { value: "true" }, text: "Confirm", onclick: () => pick(true) }),
                el("button", { type: "button", class: "secondary reject", dataset: { value: "false" }, text: "Reject", onclick: () => pick(false) }),
              )
            : el("p", { class: "muted", text: `decided: ${q.confirmed}` }),
        );
        return box;
      });
      submit.addEventListener("click", async () => {
        submit.disabled = true;
        for (const [i, v] of decisions) reqs[i].confirmed = v;
        const form = { background: "true", stream: "false", session_id: r.session_id };
        form[kind === "workflow" ? "step_requirements" : "tools"] = JSON.stringify(reqs);
        try {
          await api(`${base}/continue`, { method: "POST", form });
          notice.textContent = "Continued.";
          await refresh();
          follow();
        } catch (e) {
          notice.textContent = `Continue failed: ${e.message}`;
          submit.disabled = false;
        }
      });
      pausedBox.replaceChildren(el("div", { class: "card" }, el("h2", { text: "Waiting for a person" }), ...items, submit));
    }

    async function refresh() {
      try {
        const r = await getJson(base);
        if (stopped) return;
        record = r;
        renderRecord();
        return r;
      } catch (e) {
        if (!stopped) notice.textContent = e.status === 404 ? "Run not found." : `Could not load the run: ${e.message}`;
        throw e;
      }
    }

    let refreshTimer = null;
    function refreshSoon() {
      if (refreshTimer === null) {
        refreshTimer = setTimeout(() => {
          refreshTimer = null;
          refresh().catch(() => {});
        }, 50);
      }
    }

    async function cancel() {
      try {
        const res = await getJson(`${base}/cancel`, { method: "POST" });
        notice.textContent = res.message || "Cancel requested.";
      } catch (e) {
        notice.textContent = `Cancel failed: ${e.message}`;
      }
      refreshSoon();
    }

    async function requeue() {
      try {
        await api(`/queue/jobs/${encodeURIComponent(runId)}/requeue`, { method: "POST" });
        notice.textContent = "Requeued: the run resumes from its checkpoints.";
        await refresh();
        follow();
      } catch (e) {
        notice.textContent = `Requeue failed: ${e.message}`;
      }
    }

    // --- following the log: a handed-over foreground stream, else POST …/resume with
    // Last-Event-ID = the last index rendered; reconnects until the run settles.
    async function follow() {
      if (following || stopped) return;
      following = true;
      let backoff = 200;
      try {
        while (!stopped) {
          let frames;
          const handed = handoffs.get(runId);
          if (handed) {
            handoffs.delete(runId);
            controller = handed.controller;
            notice.textContent = "Foreground run: leaving this page cancels it.";
            frames = handed.frames;
            onEvent(Number(handed.first.id), JSON.parse(handed.first.data));
          } else {
            controller = new AbortController();
            const headers = { Accept: "text/event-stream" };
            if (state.last >= 0) headers["Last-Event-ID"] = String(state.last);
            try {
              frames = sseFrames(await api(`${base}/resume`, { method: "POST", headers, signal: controller.signal }));
            } catch (e) {
              if (stopped || e.status === 401 || e.status === 404) return;
              if (e.code === "invalid_last_event_index") {
                Object.assign(state, freshState());
                continue;
              }
              throw e;
            }
          }
          try {
            for await (const f of frames) {
              if (stopped) return;
              if (f.id !== null && f.id !== "") onEvent(Number(f.id), JSON.parse(f.data));
              else if (f.event === "error") notice.textContent = JSON.parse(f.data).error || "stream error";
            }
            backoff = 200;
          } catch (e) {
            if (stopped) return;
          }
          const r = await refresh().catch(() => null);
          if (stopped) return;
          if (r && (TERMINAL.has(r.status) || r.status === "PAUSED") && state.last >= r.event_count - 1) return;
          await delay(backoff);
          backoff = Math.min(backoff * 2, 5000);
        }
      } finally {
        following = false;
      }
    }

    flush();
    refresh()
      .then(() => follow())
      .catch(() => {});
    return {
      stop() {
        stopped = true;
        controller.abort();
        if (flushTimer !== null) {
          clearTimeout(flushTimer);
          flush();
        }
      },
    };
  }

  // ---------------------------------------------------------------------------------------
  // Components and the start form.

  function componentsView(params) {
    const main = $("#main");
    const grid = el("div", { class: "components", id: "component-list" });
    const select = el("select", { id: "start-component", name: "component", required: true });
    const message = el("textarea", { id: "start-message", name: "message", required: true, placeholder: "message / input" });
    const session = el("input", { id: "start-session", name: "session_id", placeholder: "session id (optional)" });
    const background = el("input", { id: "start-background", type: "checkbox", name: "background", checked: true });
    const streamBox = el("input", { id: "start-stream", type: "checkbox", name: "stream" });
    const status = el("p", { class: "muted", id: "start-status" });
    const submit = el("button", { type: "submit", id: "start-submit", text: "Start run" });
    const form = el(
      "form",
      { class: "card", id: "start-form" },
      el("h2", { text: "Start a run" }),
      el("div", { class: "row" }, el("label", {}, "Component ", select), el("label", {}, background, "background"), el("label", {}, streamBox, "stream")),
      el("p", {}, message),
      el("div", { class: "row" }, session, submit),
      el("p", { class: "hint", text: "Background runs go on whatever this page does. A foreground run belongs to this page: leaving it cancels the run (streaming), or the page waits for the answer (not streaming)." }),
      status,
    );
    main.replaceChildren(el("h1", { text: "Agents, teams and workflows" }), form, grid);
    let stopped = false;
    let pending = null;

    components()
      .then((list) => {
        if (stopped) return;
        grid.replaceChildren(
          ...list.map((c) =>
            el(
              "div",
              { class: "card", dataset: { component: componentKey(c) } },
              el("div", { class: "kind", text: c.kind }),
              el("b", { text: c.name || c.id }),
              " ",
              el("span", { class: "muted mono", text: c.id }),
              el("p", { class: "muted", text: c.description || "" }),
              el(
                "div",
                { class: "row" },
                el("button", { type: "button", class: "secondary", text: "Start…", onclick: () => { select.value = componentKey(c); message.focus(); } }),
                el("a", { href: `#/?component=${encodeURIComponent(componentKey(c))}`, text: "Runs" }),
              ),
            ),
          ),
        );
        select.replaceChildren(...list.map((c) => el("option", { value: componentKey(c), text: `${c.kind}: ${c.name || c.id}` })));
        if (params.get("c")) select.value = params.get("c");
      })
      .catch((e) => (status.textContent = e.message));

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const [k, ...rest] = select.value.split(":");
      const plural = KINDS[k];
      const id = rest.join(":");
      const bg = background.checked;
      const st = streamBox.checked;
      const body = { message: message.value, background: String(bg), stream: String(st) };
      if (session.value.trim()) body.session_id = session.value.trim();
      const url = `/${plural}/${encodeURIComponent(id)}/runs`;
      submit.disabled = true;
      status.textContent = bg ? "Starting…" : "Running…";
      pending = new AbortController();
      try {
        const resp = await api(url, { method: "POST", form: body, signal: pending.signal, headers: st ? { Accept: "text/event-stream" } : {} });
        let runId;
        if (!st) {
          runId = (await resp.json()).run_id;
        } else {
          const frames = sseFrames(resp);
          // Read up to the first event by hand: leaving a for-await loop would close the stream.
          let first = null;
          while (!first) {
            const { value, done } = await frames.next();
            if (done) break;
            if (value.id !== null && value.id !== "") first = value;
          }
          if (!first) throw new Error("the stream ended before its first event");
          runId = JSON.parse(first.data).run_id;
          if (bg) {
            pending.abort(); // a background run goes on without this stream
          } else {
            handoffs.set(runId, { first, frames, controller: pending });
          }
        }
        pending = null;
        location.hash = `#/run/${plural}/${encodeURIComponent(id)}/${runId}`;
      } catch (err) {
        if (!stopped) {
          status.textContent = `Could not start: ${err.message}`;
          submit.disabled = false;
        }
      }
    });
    return {
      stop() {
        stopped = true;
        if (pending) pending.abort();
      },
    };
  }

  // ---------------------------------------------------------------------------------------
  // Routing (hash routes: #/, #/components, #/run/{kinds}/{id}/{run_id}).

  let view = null;

  function route() {
    if (view) view.stop();
    view = null;
    const hash = location.hash.replace(/^#/, "") || "/";
    const [path, qs] = hash.split("?");
    const params = new URLSearchParams(qs || "");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    let name = "runs";
    if (parts[0] === "run" && parts.length === 4 && SINGULAR[parts[1]]) {
      name = "run";
      view = runView(parts[1], parts[2], parts[3]);
    } else if (parts[0] === "components") {
      name = "components";
      view = componentsView(params);
    } else {
      view = runsView(params);
    }
    document.body.dataset.view = name;
    for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === name);
  }

  window.addEventListener("hashchange", route);
  document.addEventListener("DOMContentLoaded", () => {
    setupToken();
    route();
  });
})();
