// rally console (docs/observability.md, "The console"): an operator's view of
// fleets, game sessions and their players, matchmaking, a ticket's explain
// output, events and recent errors, read from rally's own APIs with an admin
// token and from Prometheus's query API through nginx. It changes only what
// an operator may change through the API (a game session's end, a location's
// capacity), each confirmed first. Every string from the server is shown as
// text (textContent, never markup), and the page loads no code but this file
// (nginx's Content-Security-Policy).
"use strict";

const TOKEN_KEY = "rally.console.token";
const REFRESH_MS = 5000;
let current = "fleets";
let timer = null;

// ---- DOM ---------------------------------------------------------------

// el("td", {class: "num"}, "text", childNode, ...): strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) =>
      c instanceof Node && c.tagName === "TD" ? c : el("td", typeof c === "number" ? {class: "num"} : {}, c))))));
}

function show(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes);
}

// ---- the API -------------------------------------------------------------

class NotOperator extends Error {}

async function call(method, path, body, headers) {
  const h = Object.assign({Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY)}, headers || {});
  if (body !== undefined && !h["Content-Type"]) h["Content-Type"] = "application/json";
  const r = await fetch(path, {method, headers: h, body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (r.status === 401 || r.status === 403) throw new NotOperator((json && json.message) || "not an operator's token");
  if (!r.ok) throw new Error(path + ": " + r.status + " " + ((json && (json.message || json.Message)) || text.slice(0, 200)));
  return json;
}

const gamelift = (op, body) => call("POST", "/", body || {},
  {"X-Amz-Target": "GameLift." + op, "Content-Type": "application/x-amz-json-1.1"});

async function prom(query) {
  const r = await call("GET", "/v1/admin/prometheus/api/v1/query?query=" + encodeURIComponent(query));
  return r.data.result;
}

async function promRange(query, minutes) {
  const end = Date.now() / 1000, start = end - minutes * 60;
  const r = await call("GET", "/v1/admin/prometheus/api/v1/query_range?query=" + encodeURIComponent(query) +
    "&start=" + start + "&end=" + end + "&step=" + Math.max(5, Math.round(minutes * 60 / 120)));
  return r.data.result;
}

const num = (v) => (v === undefined || v === null || Number.isNaN(Number(v)) ? "-" : Number(Number(v).toFixed(2)));

// ---- views ---------------------------------------------------------------

async function fleetsView() {
  const fleets = (await gamelift("ListFleets", {Limit: 100})).FleetIds || [];
  const cap = fleets.length ? (await gamelift("DescribeFleetCapacity", {FleetIds: fleets})).FleetCapacity : [];
  const rows = cap.map((c) => {
    const i = c.InstanceCounts || {};
    const change = el("button", {onclick: () => changeCapacity(c)}, "Change capacity");
    return [c.FleetId, c.Location || "", i.ACTIVE, i.IDLE, i.DESIRED, i.MINIMUM, i.MAXIMUM, el("td", {}, change)];
  });
  return [el("h2", {}, "Fleets and locations"),
    table(["Fleet", "Location", "Active", "Idle", "Desired", "Minimum", "Maximum", ""], rows)];
}

async function changeCapacity(c) {
  const i = c.InstanceCounts || {};
  const answer = prompt("Desired processes in " + c.FleetId + " " + (c.Location || "") +
    " (" + i.MINIMUM + " to " + i.MAXIMUM + ")", String(i.DESIRED));
  if (answer === null) return;
  const desired = Number(answer);
  if (!Number.isInteger(desired) || desired < 0) return alert("Not a whole number: " + answer);
  if (!confirm("Set " + c.FleetId + " " + (c.Location || "") + " to " + desired + " desired processes?")) return;
  await act(() => gamelift("UpdateFleetCapacity", {FleetId: c.FleetId, Location: c.Location, DesiredInstances: desired}));
}

async function sessionsView() {
  const fleets = (await gamelift("ListFleets", {Limit: 100})).FleetIds || [];
  const out = [el("h2", {}, "Game sessions")];
  for (const fleet of fleets) {
    const live = [];
    for (const status of ["ACTIVE", "ACTIVATING"])
      live.push(...((await gamelift("DescribeGameSessions", {FleetId: fleet, StatusFilter: status, Limit: 100}))
        .GameSessions || []));
    if (live.length === 0) continue;
    out.push(el("h3", {}, fleet));
    out.push(table(["Name", "Game session", "Status", "Location", "Players", "Created", ""],
      live.map((g) => [g.Name || "", g.GameSessionId, g.Status, g.Location || "",
        g.CurrentPlayerSessionCount + " / " + g.MaximumPlayerSessionCount,
        new Date(g.CreationTime * 1000).toLocaleTimeString(),
        el("td", {}, el("button", {onclick: (e) => players(g, e.target)}, "Players"), " ",
          el("button", {onclick: () => logOf(g)}, "Log"), " ",
          el("button", {class: "danger", onclick: () => terminate(g)}, "Terminate"))])));
  }
  if (out.length === 1) out.push(el("p", {class: "note"}, "No game session is running."));
  return out;
}

async function players(g, button) {
  const ps = (await gamelift("DescribePlayerSessions", {GameSessionId: g.GameSessionId, Limit: 50})).PlayerSessions || [];
  const cell = button.closest("td");
  cell.replaceChildren(ps.length ? table(["Player", "Player session", "Status"],
    ps.map((p) => [p.PlayerId, p.PlayerSessionId, p.Status])) : el("span", {class: "note"}, "no players"));
}

async function logOf(g) {
  try {
    const url = (await gamelift("GetGameSessionLogUrl", {GameSessionId: g.GameSessionId})).PreSignedUrl;
    window.open(url, "_blank", "noopener");
  } catch (e) {
    alert("No log of " + g.GameSessionId + " yet: its agent sends it every minute and when it ends.");
  }
}

async function terminate(g) {
  if (!confirm("End game session " + (g.Name || g.GameSessionId) + "? Its players are disconnected.")) return;
  await act(() => gamelift("TerminateGameSession", {GameSessionId: g.GameSessionId, TerminationMode: "TRIGGER_ON_PROCESS_TERMINATE"}));
}

const COLORS = ["#2f6fd6", "#d65a2f", "#2fa86b", "#a62fd6", "#d6b12f", "#2fc4d6"];

// A line chart of Prometheus range series, drawn as SVG elements.
function chart(series, label) {
  const w = 640, h = 160, ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  const points = series.flatMap((s) => s.values.map(([t, v]) => [Number(t), Number(v)])).filter(([, v]) => Number.isFinite(v));
  const legend = el("div", {class: "legend"});
  if (points.length === 0) return [el("p", {class: "note"}, label + ": no data yet"), svg];
  const t0 = Math.min(...points.map((p) => p[0])), t1 = Math.max(...points.map((p) => p[0])) || t0 + 1;
  const vmax = Math.max(1e-9, ...points.map((p) => p[1]));
  series.forEach((s, i) => {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("stroke", COLORS[i % COLORS.length]);
    line.setAttribute("points", s.values.filter(([, v]) => Number.isFinite(Number(v))).map(([t, v]) =>
      ((Number(t) - t0) / Math.max(1, t1 - t0) * (w - 10) + 5).toFixed(1) + "," +
      (h - 5 - Number(v) / vmax * (h - 20)).toFixed(1)).join(" "));
    svg.append(line);
    const key = el("span", {}, Object.values(s.metric).join(" ") || label);
    key.style.color = COLORS[i % COLORS.length]; // CSSOM: no inline style for the CSP to refuse
    legend.append(key);
  });
  return [el("h3", {}, label + " (max " + num(vmax) + ")"), svg, legend];
}

async function matchmakingView() {
  const confs = (await gamelift("DescribeMatchmakingConfigurations", {Limit: 100})).Configurations || [];
  const depth = await prom('sum by (configuration, status) (rally_matchmaking_tickets)');
  const wait = await prom('histogram_quantile(0.95, sum by (configuration, le) (rate(rally_matchmaking_time_to_match_seconds_bucket[5m])))');
  const by = (rows, conf) => rows.filter((r) => r.metric.configuration === conf);
  const rows = confs.map((c) => {
    const d = by(depth, c.Name);
    const n = (status) => num((d.find((r) => r.metric.status === status) || {value: [0, 0]}).value[1]);
    const p95 = by(wait, c.Name)[0];
    return [c.Name, c.FlexMatchMode || "", n("QUEUED"), n("SEARCHING"), n("REQUIRES_ACCEPTANCE"), n("PLACING"),
      p95 ? num(p95.value[1]) : "-", c.RequestTimeoutSeconds];
  });
  const queued = await promRange('sum by (configuration) (rally_matchmaking_tickets{status=~"QUEUED|SEARCHING"})', 30);
  const waits = await promRange('histogram_quantile(0.95, sum by (configuration, le) (rate(rally_matchmaking_time_to_match_seconds_bucket[5m])))', 30);
  return [el("h2", {}, "Matchmaking"),
    table(["Configuration", "Mode", "Queued", "Searching", "Accepting", "Placing", "Wait p95 (s)", "Timeout (s)"], rows),
    ...chart(queued, "Tickets waiting, last 30 minutes"),
    ...chart(waits.filter((s) => s.values.some(([, v]) => v !== "NaN")), "Wait to match p95 (s), last 30 minutes")];
}

function ticketView() {
  const out = el("pre", {id: "explain"});
  const input = el("input", {id: "ticket-id", placeholder: "ticket id", size: 40});
  const form = el("form", {onsubmit: async (e) => {
    e.preventDefault();
    out.textContent = "...";
    try {
      const r = await call("POST", "/v1/fleet/matchmaking/explain", {TicketId: input.value.trim()});
      out.textContent = JSON.stringify(r, null, 2);
    } catch (err) {
      if (err instanceof NotOperator) throw err;
      out.textContent = err.message;
    }
  }}, input, " ", el("button", {type: "submit"}, "Explain"));
  return [el("h2", {}, "Why has a ticket not matched?"), form, out];
}

async function eventsView() {
  const q = async (query) => { const r = await prom(query); return r.length ? num(r[0].value[1]) : "-"; };
  const deliveries = await prom("sum by (result) (increase(rally_events_deliveries_total[1h]))");
  const dead = (await call("GET", "/v1/admin/dead-letters?limit=50")).DeadLetters || [];
  return [el("h2", {}, "Events outbox"),
    table(["Waiting deliveries", "Most overdue (s)", "Dead letters"],
      [[await q("sum(rally_events_outbox_backlog)"), await q("max(rally_events_outbox_oldest_due_seconds)"),
        await q("sum(rally_events_dead_letters)")]]),
    el("h3", {}, "Deliveries in the last hour"),
    table(["Result", "Count"], deliveries.map((d) => [d.metric.result || "", num(d.value[1])])),
    ...chart(await promRange("sum(rally_events_outbox_backlog)", 60), "Waiting deliveries, last hour"),
    el("h3", {}, "Dead letters (the newest 50)"),
    dead.length ? table(["Failed", "Endpoint", "Topic", "Attempts", "Last error", "Message", ""], dead.map((d) =>
      [d.FailedAt, d.Endpoint, d.TopicArn, d.Attempts, d.LastError || "", d.Message.slice(0, 160),
        el("td", {}, el("button", {onclick: () => retry(d)}, "Retry"))]))
      : el("p", {class: "note"}, "None.")];
}

async function retry(d) {
  if (!confirm("Deliver message " + d.MessageId + " to " + d.Endpoint + " again?")) return;
  await act(() => call("POST", "/v1/admin/dead-letters/retry", {MessageId: d.MessageId, SubscriptionId: d.SubscriptionId}));
}

async function errorsView() {
  const alerts = (await call("GET", "/v1/admin/prometheus/api/v1/alerts")).data.alerts || [];
  const errors = await prom('topk(20, sum by (service, route, code) (increase(rally_http_requests_total{code=~"5.."}[1h])) > 0)');
  return [el("h2", {}, "Alerts"),
    alerts.length ? table(["Alert", "State", "Labels", "Summary"], alerts.map((a) =>
      [el("td", {class: a.state === "firing" ? "firing" : ""}, a.labels.alertname), a.state,
        Object.entries(a.labels).filter(([k]) => k !== "alertname").map(([k, v]) => k + "=" + v).join(" "),
        (a.annotations && a.annotations.summary) || ""]))
      : el("p", {class: "note"}, "No alert is pending or firing."),
    el("h2", {}, "Server errors in the last hour"),
    errors.length ? table(["Service", "Route", "Status", "Count"], errors.map((e) =>
      [e.metric.service || "", e.metric.route || "", e.metric.code || "", num(e.value[1])]))
      : el("p", {class: "note"}, "No 5xx answers.")];
}

const VIEWS = {fleets: fleetsView, sessions: sessionsView, matchmaking: matchmakingView,
  ticket: ticketView, events: eventsView, errors: errorsView};

// ---- the page ------------------------------------------------------------

function loggedOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(timer);
  document.getElementById("nav").hidden = true;
  document.getElementById("view").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-message").textContent = message || "";
}

async function render(name) {
  current = name;
  clearTimeout(timer);
  for (const b of document.querySelectorAll("nav button[data-view]"))
    b.classList.toggle("active", b.dataset.view === name);
  try {
    const nodes = await VIEWS[name]();
    // A form being typed into is not redrawn under the operator.
    if (name !== "ticket" || !document.getElementById("ticket-id")) show(...[].concat(nodes));
    document.body.dataset.view = name;
    document.body.dataset.rendered = String(Date.now());
  } catch (e) {
    if (e instanceof NotOperator) return loggedOut("Log in as an operator: " + e.message);
    show(el("p", {class: "message"}, e.message));
  }
  if (name !== "ticket") timer = setTimeout(() => render(current), REFRESH_MS);
}

function loggedIn() {
  document.getElementById("login").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("view").hidden = false;
  render(current);
}

async function act(fn) {
  try {
    await fn();
  } catch (e) {
    if (e instanceof NotOperator) return loggedOut("Log in as an operator: " + e.message);
    alert(e.message);
  }
  render(current);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    const r = await fetch("/v1/admin/login", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({username: f.username.value, password: f.password.value})});
    const j = await r.json().catch(() => ({}));
    if (!r.ok) return loggedOut(j.message || "login refused");
    sessionStorage.setItem(TOKEN_KEY, j.auth_token);
    f.password.value = "";
    loggedIn();
  });
  document.getElementById("logout").addEventListener("click", () => loggedOut("Logged out."));
  for (const b of document.querySelectorAll("nav button[data-view]"))
    b.addEventListener("click", () => render(b.dataset.view));
  if (sessionStorage.getItem(TOKEN_KEY)) loggedIn(); else loggedOut("");
});
