// hpmon dashboard: one small page for a phone next to the heat pump (docs/http-api.md).
// Plain browser JavaScript, no libraries, no external resources. Every value shown goes in
// as text (textContent / text nodes), never as HTML. Unknown values show as "–", never 0.
"use strict";

const $ = (id) => document.getElementById(id);
const S = {doc: {}, ch: {}, last: 0, link: "", auth: null, csrf: null, hist: null, minutes: 240, sys: null};
const DASH = "–";
const STATES = ["off", "standby", "running", "defrost", "dhw"];
const STATE_TEXT = {off: "Off", standby: "Standby", running: "Running", defrost: "Defrost", dhw: "Hot water"};

// ---- small helpers ------------------------------------------------------------------------
function add(e, kids) {
  for (const k of kids) {
    if (Array.isArray(k)) add(e, k);
    else if (k != null && k !== false) e.append(k instanceof Node ? k : String(k));
  }
}

// h("div", {class: "x", onclick: f}, "text", child...): an element; text is never parsed as HTML.
function h(tag, attrs, ...kids) {
  const svg = tag.startsWith("svg:");
  const e = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v == null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (!svg && (k === "value" || k === "checked" || k === "disabled")) e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  add(e, kids);
  return e;
}

function fill(e, ...kids) {
  e.replaceChildren();
  add(e, kids);
  return e;
}

const known = (v) => typeof v === "number" ? isFinite(v) : v != null;

function num(v, d) {
  return typeof v === "number" && isFinite(v) ? v.toFixed(d) : DASH;
}

// [value text, unit] of a channel value, with a sensible number of digits per unit.
function show(v, unit) {
  if (!known(v)) return [DASH, unit || ""];
  if (typeof v !== "number") return [String(v), unit || ""];
  const a = Math.abs(v);
  if (unit === "W") return a >= 1000 ? [(v / 1000).toFixed(a >= 10000 ? 1 : 2), "kW"] : [v.toFixed(0), "W"];
  if (unit === "kWh" || unit === "Wh") return [v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2), unit];
  if (unit === "°C" || unit === "K" || unit === "L/min" || unit === "%") return [v.toFixed(1), unit];
  if (unit === "V" || unit === "VA") return [v.toFixed(1), unit];
  if (Number.isInteger(v) && (unit === "" || unit === "s")) return [String(v), unit];
  if (unit === "A" || unit === "Hz" || unit === "") return [v.toFixed(a >= 100 ? 0 : 2), unit || ""];
  return [String(Math.round(v * 1000) / 1000), unit || ""];
}

const showText = (v, unit) => show(v, unit).join(" ").trim();

function duration(s) {
  if (!known(s)) return DASH;
  s = Math.round(s);
  const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? d + " d " + hh + " h" : hh ? hh + " h " + m + " min" : m ? m + " min " + s % 60 + " s" : s + " s";
}

const kb = (b) => known(b) ? (b / 1024).toFixed(1) + " KB" : DASH;
const chv = (name) => (S.ch[name] || {}).value;

// fetch JSON with the session cookie; POST/PUT carry the CSRF token. Errors throw with .status
// and .data (the JSON answer, e.g. {errors: {...}}).
async function api(method, path, body, raw) {
  const opt = {method: method, credentials: "same-origin", headers: {}};
  if (method !== "GET" && S.csrf) opt.headers["X-CSRF-Token"] = S.csrf;
  if (body !== undefined) {
    opt.body = raw ? body : JSON.stringify(body);
    if (!raw) opt.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(path, opt);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!r.ok) {
    let msg = data && data.error ? data.error : "HTTP " + r.status;
    if (r.status === 429) msg = "too many attempts; wait " + (r.headers.get("Retry-After") || "a few") + " s";
    const err = new Error(msg);
    err.status = r.status;
    err.data = data;
    if (r.status === 401 && S.auth) S.auth.logged_in = false;
    throw err;
  }
  return data;
}

function flash(box, text, bad) {
  fill(box, text ? h("p", {class: bad ? "msg bad" : "msg ok"}, text) : null);
}

// ---- the data link: one /api/state, then Server-Sent Events, polling as fallback -----------
// A unit for a channel first seen in the compact /api/state (which has none); the event
// stream's first message carries every channel's real unit.
function guessUnit(n) {
  return /kwh/.test(n) ? "kWh" : /_wh$/.test(n) ? "Wh" : /dT|deltaT|offset$/.test(n) ? "K" :
    /T(_today)?$|^t_/.test(n) ? "°C" : /flowrate/.test(n) ? "L/min" : /(_elec|_heat|power)$/.test(n) ? "W" :
      /runtime|cycle/.test(n) ? "s" : "";
}

// Events and the compact /api/state carry {name: value} plus status {name: status} for
// channels that are neither ok nor without data; events add units {name: unit} the first
// time they send a channel.
function merge(d) {
  for (const k in d) if (k !== "channels" && k !== "status" && k !== "units") S.doc[k] = d[k];
  const st = d.status || {}, un = d.units || {};
  for (const n in d.channels || {}) {
    const c = d.channels[n];
    S.ch[n] = {value: c, unit: un[n] != null ? un[n] : (S.ch[n] || {}).unit || guessUnit(n),
      status: st[n] || (c == null ? "no data" : "ok")};
  }
  S.last = Date.now();
  render();
}

async function poll() {
  try { merge(await api("GET", "/api/state")); } catch (e) { /* offline: the link shows it */ }
}

function stream() {
  if (!window.EventSource || S.es) return;
  const es = new EventSource("/api/events");
  S.es = es;
  es.addEventListener("state", (ev) => { S.link = "live"; merge(JSON.parse(ev.data)); });
  es.onerror = () => {
    if (es.readyState === 2) { // refused (e.g. 503: too many streams): poll, try again later
      S.es = null;
      S.link = "polling";
      setTimeout(stream, 30000);
    }
  };
}

// Every 5 s: without a stream poll every 10 s, with one when it has been quiet for 25 s.
function watchdog() {
  const quiet = Date.now() - S.last;
  if ((!S.es && quiet > 9000) || quiet > 25000) { if (S.link === "live") S.link = "polling"; poll(); }
  if (S.tab === "system") loadSystem();
  renderLink();
}

function renderLink() {
  const age = S.last ? Math.round((Date.now() - S.last) / 1000) : null;
  const stale = age == null || age > 60;
  const e = $("live");
  e.className = "live " + (stale ? "off" : S.link === "live" ? "on" : "poll");
  e.textContent = stale ? (age == null ? "connecting" : "offline " + duration(age)) : S.link === "live" ? "live" : "polling";
  e.title = age == null ? "" : "last update " + age + " s ago";
}

// ---- header, alerts ---------------------------------------------------------------------------
function mode() {
  const m = chv("heatpump_mode");
  if (typeof m === "string") return m;
  const n = typeof m === "number" ? m : chv("heatpump_state");
  return typeof n === "number" ? STATES[n] || null : null;
}

function render() {
  const d = S.doc;
  $("node").textContent = d.node || "";
  document.title = "hpmon " + (d.node || "");
  const m = mode();
  const b = $("badge");
  b.className = "badge s-" + (m || "unknown");
  b.textContent = m ? STATE_TEXT[m] || m : "State unknown";
  const notes = [];
  if (d.safe_mode) notes.push(["bad", "Safe mode: the board runs defaults plus its access point. Check the settings."]);
  const sys = S.sys || {}, ce = Array.isArray(sys.config_errors) ? sys.config_errors : d.config_errors;
  if (Array.isArray(ce)) for (const e of ce) notes.push(["bad", "Configuration: " + e]);
  else if (ce > 0) notes.push(["bad", ce + " configuration problem(s): see System."]);
  const fs = sys.failed_services || {};
  for (const k in fs) notes.push(["bad", "Service " + k + " failed: " + fs[k]]);
  fill($("alerts"), notes.map((n) => h("p", {class: "msg " + n[0]}, n[1])));
  renderLink();
  if (S.tab === "dash") renderDash();
  if (S.tab === "sensors") renderChannels();
}

// ---- dashboard ----------------------------------------------------------------------------------
// [channel, label, optional, today's channel]; "dT" is flow minus return.
const BIG = [["heatpump_elec", "Electric", 0, "heatpump_elec_kwh_today"], ["heatpump_heat", "Heat", 0, "heatpump_heat_kwh_today"],
  ["heatpump_cop", "COP now", 0, "heatpump_cop_today"]];
const SMALL = [["heatpump_flowT", "Flow"], ["heatpump_returnT", "Return"], ["dT", "ΔT flow–return"],
  ["heatpump_flowrate", "Flow rate"], ["heatpump_outsideT", "Outside"], ["heatpump_roomT", "Room", 1]];

function tileValue(id) {
  if (id !== "dT") {
    const c = S.ch[id] || {};
    return [c.value, c.unit || "", c.status];
  }
  const f = chv("heatpump_flowT"), r = chv("heatpump_returnT");
  return [known(f) && known(r) ? f - r : null, "K", known(f) && known(r) ? "ok" : "no data"];
}

const cop = (v) => known(v) ? v.toFixed(1) : DASH;

function tile(box, spec) {
  const id = spec[0];
  let t = $("t-" + id);
  if (spec[2] && !S.ch[id]) { if (t) t.remove(); return; } // optional: only when the board has it
  if (!t) {
    t = h("div", {class: "tile", id: "t-" + id}, h("div", {class: "k"}, spec[1]),
      h("div", {}, h("span", {class: "v"}), " ", h("span", {class: "u"})),
      spec[3] && h("div", {class: "sub", id: "t-" + spec[3]}));
    box.append(t);
  }
  const tv = tileValue(id);
  const s = id === "heatpump_cop" ? [cop(tv[0]), ""] : show(tv[0], tv[1]);
  t.querySelector(".v").textContent = s[0];
  t.querySelector(".u").textContent = s[1];
  t.classList.toggle("unknown", !known(tv[0]));
  t.title = tv[2] && tv[2] !== "ok" ? "status: " + tv[2] : "";
  if (spec[3]) {
    const v = chv(spec[3]);
    t.querySelector(".sub").textContent = "today " + (id === "heatpump_cop" ? cop(v) : showText(v, "kWh"));
  }
}

// Yesterday's figures: the analytics summary (state or system document) when the board gives one.
function yesterday() {
  const a = (S.doc.analytics || (S.sys && S.sys.analytics) || {});
  return a.yesterday || {};
}

function renderDash() {
  for (const t of BIG) tile($("big"), t);
  for (const t of SMALL) tile($("small"), t);
  const y = yesterday();
  const kwh = (wh) => known(wh) ? show(wh / 1000, "kWh").join(" ") : DASH;
  const rows = [
    ["", "Today", "Yesterday"],
    ["Electricity", showText(chv("heatpump_elec_kwh_today"), "kWh"), kwh(y.elec_wh)],
    ["Heat", showText(chv("heatpump_heat_kwh_today"), "kWh"), kwh(y.heat_wh)],
    ["COP", num(chv("heatpump_cop_today"), 2), num(known(y.cop) ? y.cop : chv("heatpump_cop_yesterday"), 2)],
    ["COP while running", num(chv("heatpump_cop_run_today"), 2),
      num(known(y.running_cop) ? y.running_cop : chv("heatpump_cop_run_yesterday"), 2)],
    ["Starts", num(chv("heatpump_starts_today"), 0), num(y.starts, 0)],
    ["Defrosts", num(chv("heatpump_defrosts_today"), 0), num(y.defrosts, 0)],
    ["Running time", duration(chv("heatpump_runtime_today")), duration(y.run_s)],
  ];
  fill($("days"), rows.map((r, i) => h("tr", {}, r.map((c, j) => h(i && j ? "td" : "th", {}, c)))));
  fill($("longcop"), "COP 7 days " + num(chv("heatpump_cop_7d"), 2) + " · 30 days " + num(chv("heatpump_cop_30d"), 2) +
    " · lifetime " + num(chv("heatpump_cop_lifetime"), 2));
}

// ---- charts: inline SVG from /api/history --------------------------------------------------------
const CHARTS = [
  ["Power", "W", [["heatpump_elec", "Electric", "#e8a100"], ["heatpump_heat", "Heat", "#e03131"]]],
  ["COP", "", [["heatpump_cop", "COP", "#1c7ed6"]]],
  ["Temperatures", "°C", [["heatpump_flowT", "Flow", "#e03131"], ["heatpump_returnT", "Return", "#1c7ed6"],
    ["heatpump_outsideT", "Outside", "#2f9e44"]]],
];

function nice(span) {
  const p = Math.pow(10, Math.floor(Math.log10(span || 1)));
  const f = span / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

const hhmm = (t) => { const d = new Date(t * 1000); return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2); };

function chart(spec, t, series) {
  const box = h("div", {class: "chart", "data-chart": spec[0]});
  const W = Math.max(280, $("charts").clientWidth || 600), H = 170, L = 42, R = 8, T = 8, B = 20;
  let lo = Infinity, hi = -Infinity, n = 0;
  for (const l of spec[2]) for (const v of series[l[0]] || []) if (known(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); n++; }
  const legend = h("div", {class: "legend"}, h("b", {}, spec[0]), spec[2].map((l) => {
    const vals = (series[l[0]] || []).filter(known);
    return h("span", {}, h("i", {style: "background:" + l[2]}), l[1] + " " + (vals.length ? showText(vals[vals.length - 1], spec[1]) : DASH));
  }));
  box.append(legend);
  if (!n || t.length < 2) { box.append(h("p", {class: "muted nodata"}, "no data yet")); return box; }
  if (spec[1] === "W" || spec[0] === "COP") lo = Math.min(lo, 0);
  const min = spec[1] === "W" ? 200 : spec[1] === "°C" ? 2 : 1; // a flat line stays flat
  if (hi - lo < min) { const mid = (hi + lo) / 2; lo = Math.max(mid - min / 2, lo >= 0 ? 0 : -Infinity); hi = lo + min; }
  const step = nice((hi - lo) / 4);
  lo = Math.floor(lo / step) * step;
  hi = Math.max(lo + step, Math.ceil(hi / step) * step);
  const t0 = t[0], t1 = t[t.length - 1];
  const x = (ti) => L + (ti - t0) / (t1 - t0 || 1) * (W - L - R);
  const y = (v) => T + (hi - v) / (hi - lo) * (H - T - B);
  const svg = h("svg:svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", "aria-label": spec[0] + " chart"});
  const kw = spec[1] === "W" && hi >= 2000;
  for (let v = lo; v <= hi + step / 2; v += step) {
    svg.append(h("svg:line", {x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid"}));
    svg.append(h("svg:text", {x: L - 4, y: y(v) + 4, "text-anchor": "end"}, kw ? +(v / 1000).toFixed(1) + "k" : +v.toFixed(2)));
  }
  const tstep = [60, 120, 300, 600, 1800, 3600, 7200, 10800, 21600].find((s) => (t1 - t0) / s <= (W - L) / 60) || 43200;
  let ticks = 0;
  for (let ti = Math.ceil(t0 / tstep) * tstep; ti <= t1; ti += tstep, ticks++) {
    svg.append(h("svg:line", {x1: x(ti), x2: x(ti), y1: T, y2: H - B, class: "grid"}));
    svg.append(h("svg:text", {x: x(ti), y: H - 5, "text-anchor": "middle"}, hhmm(ti)));
  }
  if (!ticks) svg.append(h("svg:text", {x: W - R, y: H - 5, "text-anchor": "end"}, hhmm(t1)));
  for (const l of spec[2]) {
    let d = "", pen = "M";
    (series[l[0]] || []).forEach((v, i) => {
      if (!known(v)) { pen = "M"; return; }
      d += pen + x(t[i]).toFixed(1) + " " + y(v).toFixed(1);
      pen = "L";
    });
    if (d) svg.append(h("svg:path", {d: d, stroke: l[2], class: "line", "data-series": l[0]}));
  }
  box.append(svg);
  return box;
}

function renderCharts() {
  const hs = S.hist;
  if (!hs) return;
  fill($("charts"), CHARTS.map((c) => chart(c, hs.t || [], hs.series || {})));
}

async function loadHistory() {
  const names = [];
  for (const c of CHARTS) for (const l of c[2]) names.push(l[0]);
  try {
    const hs = await api("GET", "/api/history?channels=" + names.join(",") + "&minutes=" + S.minutes);
    let t = hs.t0;
    hs.t = hs.dt ? hs.dt.map((d, i) => (t = i ? t + d : hs.t0)) : [];  // times come as t0 + steps
    S.hist = hs;
    renderCharts();
  } catch (e) {
    fill($("charts"), h("p", {class: "muted"}, "History unavailable: " + e.message));
  }
  clearTimeout(S.histTimer);
  S.histTimer = setTimeout(() => S.tab === "dash" && loadHistory(), Math.max(30, (S.hist && S.hist.step_s) || 60) * 1000);
}

function rangeButtons() {
  fill($("range"), [[60, "1 h"], [240, "4 h"], [720, "12 h"]].map((r) =>
    h("button", {type: "button", class: S.minutes === r[0] ? "on" : "", onclick: () => { S.minutes = r[0]; rangeButtons(); loadHistory(); }}, r[1])));
}

// ---- login -------------------------------------------------------------------------------------------
async function authState() {
  try {
    S.auth = await api("GET", "/api/auth");
    S.csrf = S.auth.csrf || S.csrf;
  } catch (e) {
    S.auth = {password_set: true, logged_in: false};
  }
  $("nav").classList.toggle("admin", !!S.auth.logged_in);
  return S.auth;
}

// A login (or first-time setup) form; then() runs once logged in.
function loginForm(then) {
  const old = $("login");  // one login form at a time (ids are unique): drop one on another tab
  if (old) old.remove();
  const setup = !S.auth.password_set;
  const msg = h("div");
  const pw = h("input", {type: "password", id: "login-pw", autocomplete: setup ? "new-password" : "current-password", required: true, minlength: setup ? 8 : null, maxlength: 64});
  const pw2 = setup ? h("input", {type: "password", id: "login-pw2", autocomplete: "new-password", required: true}) : null;
  // proof of ownership: the access point's password, printed on the board's serial console
  const ap = setup ? h("input", {type: "password", id: "login-ap", autocomplete: "off", required: true}) : null;
  const form = h("form", {class: "card narrow", id: "login", novalidate: true},
    h("h2", {}, setup ? "Set the admin password" : "Log in"),
    h("p", {class: "muted"}, setup ? "No admin password is set yet. Choose one (8 to 64 characters) to protect the settings. " +
      "To prove the board is yours, also give its access point's Wi-Fi password (the board prints it on the serial console)." :
      "Settings and system actions need the admin password."),
    ap && h("label", {}, "Access point password", ap),
    h("label", {}, "Password", pw), pw2 && h("label", {}, "Repeat password", pw2),
    h("button", {type: "submit", class: "primary"}, setup ? "Set password" : "Log in"), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (setup && pw.value.length < 8) return flash(msg, "Use at least 8 characters.", true);
    if (setup && pw.value !== pw2.value) return flash(msg, "The two passwords differ.", true);
    try {
      const r = await api("POST", setup ? "/api/auth/setup" : "/api/auth/login",
        setup ? {password: pw.value, ap_password: ap.value} : {password: pw.value});
      S.csrf = r.csrf;
      await authState();
      then();
    } catch (e) {
      flash(msg, e.status === 401 ? "Wrong password." : e.message, true);
    }
  });
  return form;
}

// Show build() in the section when logged in, else the login form.
async function gate(sec, build) {
  await authState();
  if (S.auth.logged_in) return build();
  fill($(sec), loginForm(() => show_tab(S.tab)));
}

async function logout() {
  try { await api("POST", "/api/auth/logout"); } catch (e) { /* the session ended anyway */ }
  S.csrf = null;
  await authState();
  show_tab(S.tab);
}

// ---- sensors ---------------------------------------------------------------------------------------
function table(head, rows, cls) {
  return h("table", {class: cls || "list"}, h("tr", {}, head.map((x) => h("th", {}, x))),
    rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))));
}

function renderChannels() {
  const box = $("channels");
  if (!box) return;
  const names = Object.keys(S.ch).sort();
  fill(box, table(["Channel", "Value", "Status"], names.map((n) => {
    const c = S.ch[n];
    return [n, showText(c.value, c.unit), h("span", {class: c.status === "ok" ? "st ok" : "st bad"}, c.status || DASH)];
  })));
}

async function sensors() {
  const sec = $("sensors");
  const msg = h("div");
  fill(sec, msg, h("div", {class: "card"}, h("h2", {}, "Temperature sensors (DS18B20)"), h("div", {id: "ow"}), h("div", {id: "dtcheck"})),
    h("div", {class: "card"}, h("h2", {}, "CT clamps and voltage"), h("div", {id: "ct"})),
    h("div", {class: "card"}, h("h2", {}, "M-Bus and other meters"), h("div", {id: "meters"})),
    h("div", {class: "card"}, h("h2", {}, "All channels"), h("div", {id: "channels"})));
  renderChannels();
  let s, cfg = null;
  try {
    s = await api("GET", "/api/sensors");
  } catch (e) { return flash(msg, "Sensors unavailable: " + e.message, true); }
  await authState();
  if (S.auth.logged_in) { try { cfg = await api("GET", "/api/config"); } catch (e) { cfg = null; } }
  renderOnewire(s, cfg, msg);
  renderDtcheck(s.dtcheck || {}, cfg);
  renderCt(s.ct, cfg, msg);
  try { renderMeters(await api("GET", "/api/meters")); } catch (e) { fill($("meters"), e.message); }
}

const SAVED = "Saved. The change applies after a restart (System → Restart).";

// An API error as text: every field's error of a 400, else the board's error or the HTTP status.
function errText(e) {
  const errs = e.data && e.data.errors;
  return errs ? Object.keys(errs).map((k) => k + ": " + errs[k]).join("; ") : e.message;
}

async function saveConfig(patch, msg) {
  try {
    await api("POST", "/api/config", patch);
    flash(msg, SAVED);
    return true;
  } catch (e) {
    flash(msg, errText(e), true);
    return false;
  }
}

// The flow/return self-check (pump on, compressor off): its learned offset, which an admin may
// add to the return sensor's offset (POST /api/dtcheck/apply; never done without a click).
function renderDtcheck(d, cfg) {
  const box = $("dtcheck"), out = h("div");
  const v = d.offset_k;
  if (!known(v)) return fill(box);
  fill(box, h("p", {}, "Flow/return self-check: learned offset " + (v < 0 ? "" : "+") + num(v, 2) + " K (" +
      (known(d.samples) ? d.samples : DASH) + " samples)"),
    cfg ? h("button", {type: "button", id: "dtcheck-apply", onclick: async () => {
      try {
        const r = await api("POST", "/api/dtcheck/apply");
        cfg.onewire.offsets[r.rom] = r.offset;  // later offset edits on this page keep it
        flash(out, "Return sensor " + r.rom + ": offset " + num(r.offset, 2) + " K. " + SAVED);
      } catch (e) { flash(out, errText(e), true); }
    }}, "Apply to the return sensor") : h("p", {class: "muted"}, "Log in (Settings) to apply it."), out);
}

function renderOnewire(s, cfg, msg) {
  const list = s.onewire || [];
  if (!list.length) return fill($("ow"), h("p", {class: "muted"}, "No DS18B20 found."));
  const rows = list.map((x) => {
    let role = x.role || "", off = x.offset;
    if (cfg) {
      const pick = h("select", {"data-rom": x.rom, "aria-label": "role of " + x.rom},
        h("option", {value: ""}, "(none)"), (s.roles || []).map((r) => h("option", {value: r}, r)));
      pick.value = role;
      pick.addEventListener("change", () => {
        const roles = Object.assign({}, cfg.onewire.roles); // the overlay replaces the map whole
        for (const k in roles) if (roles[k] === pick.value && k !== x.rom) delete roles[k];
        if (pick.value) roles[x.rom] = pick.value; else delete roles[x.rom];
        saveConfig({onewire: {roles: roles}}, msg).then((ok) => ok && (cfg.onewire.roles = roles));
      });
      role = pick;
      const o = h("input", {type: "number", step: "0.01", value: off || 0, class: "short", "aria-label": "offset of " + x.rom});
      o.addEventListener("change", () => {
        const offs = Object.assign({}, cfg.onewire.offsets);
        const v = Number(o.value);
        if (v) offs[x.rom] = v; else delete offs[x.rom];
        saveConfig({onewire: {offsets: offs}}, msg).then((ok) => ok && (cfg.onewire.offsets = offs));
      });
      off = o;
    } else off = num(off, 2) + " K";
    return [h("code", {}, x.rom), x.bus == null ? DASH : "GPIO " + x.bus, showText(x.value, "°C"),
      h("span", {class: x.status === "ok" ? "st ok" : "st bad"}, x.status || DASH), role, off];
  });
  fill($("ow"), table(["ROM", "Bus", "Value", "Status", "Role", "Offset (K)"], rows),
    cfg ? null : h("p", {class: "muted"}, "Log in (Settings) to assign roles and offsets."));
}

// New calibration = old × reference / measured (the meter reading is linear in ical and vratio).
function renderCt(ct, cfg, msg) {
  const box = $("ct");
  if (!ct) return fill(box, h("p", {class: "muted"}, "CT input is off."));
  const vr = ct.vrms || {};
  const rows = (ct.inputs || []).map((c) => ["CT" + c.ct, showText((c.power || {}).value, "W"),
    showText((c.irms || {}).value, "A"), num((c.pf || {}).value, 2), num(c.ical, 3)]);
  const ref = h("input", {type: "number", step: "any", id: "ct-ref", class: "short"});
  const what = h("select", {id: "ct-what"}, h("option", {value: "v"}, "voltage (V)"),
    (ct.inputs || []).map((c) => h("option", {value: c.ct}, "CT" + c.ct + " current (A)")));
  const out = h("p", {id: "ct-out", class: "muted"});
  const calc = () => {
    const r = Number(ref.value);
    let res = null;
    if (what.value === "v") {
      if (r > 0 && known(vr.value) && vr.value > 0) res = {key: "vratio", v: +(ct.vratio * r / vr.value).toFixed(3)};
    } else {
      const c = ct.inputs.find((i) => String(i.ct) === what.value);
      const m = c && (c.irms || {}).value;
      if (r > 0 && known(m) && m > 0) res = {key: "ical", ct: c.ct, v: +(c.ical * r / m).toFixed(3)};
    }
    out.textContent = res ? "New " + res.key + ": " + res.v : "Type the reading of a reference meter (it must be above 0, and the board must measure something).";
    return res;
  };
  ref.addEventListener("input", calc);
  what.addEventListener("change", calc);
  const apply = h("button", {type: "button", disabled: !cfg, onclick: () => {
    const r = calc();
    if (!r || !cfg) return;
    if (r.key === "vratio") return saveConfig({ct: {vratio: r.v}}, msg);
    const ical = cfg.ct.ical.slice();
    ical[r.ct - 1] = r.v;
    saveConfig({ct: {ical: ical}}, msg).then((ok) => ok && (cfg.ct.ical = ical));
  }}, "Apply");
  fill(box, h("p", {}, "Voltage " + showText(vr.value, "V") + " · frequency " + showText((ct.freq || {}).value, "Hz") +
      " · vratio " + num(ct.vratio, 3) + (ct.acac ? "" : " (no AC-AC adapter: fixed voltage)")),
    table(["Input", "Power", "Irms", "PF", "ical"], rows),
    h("h3", {}, "Calibrate from a reference reading"),
    h("div", {class: "row"}, what, ref, apply), out,
    cfg ? null : h("p", {class: "muted"}, "Log in (Settings) to apply a calibration."));
  calc();
}

// Any JSON as nested definition lists (for meter and system details whose fields vary).
function dl(o) {
  if (o == null || typeof o !== "object") return h("span", {}, o == null ? DASH : String(o));
  if (Array.isArray(o) && o.every((x) => x == null || typeof x !== "object")) return h("span", {}, o.length ? o.join(", ") : DASH);
  return h("dl", {}, Object.keys(o).map((k) => [h("dt", {}, k), h("dd", {}, dl(o[k]))]));
}

function renderMeters(m) {
  const box = $("meters");
  const parts = [];
  const rec = m.records || {};
  for (const name in rec) {
    const r = rec[name];
    parts.push(h("h3", {}, name), table(["Record", "Value", "Status"], Object.keys(r).sort().map((k) =>
      [k, showText(r[k].value, r[k].unit), h("span", {class: r[k].status === "ok" ? "st ok" : "st bad"}, r[k].status)])));
  }
  const rest = Object.assign({}, m);
  delete rest.records;
  if (Object.keys(rest).length) parts.push(h("details", {}, h("summary", {}, "Bus details"), dl(rest)));
  fill(box, parts.length ? parts : h("p", {class: "muted"}, "No meters configured."));
}

// ---- settings ----------------------------------------------------------------------------------------
// "path|label|type": t text, n number, b on/off, s secret (write-only), l list of numbers.
const SETTINGS = [
  ["Wi-Fi", "wifi.ssid|Network (SSID)|t", "wifi.key|Wi-Fi password|s", "wifi.ap_after_s|Open the access point after (s) offline|n"],
  ["Device", "node|Node name|t", "interval_s|Reporting interval (s)|n", "analytics.tz|Time zone (POSIX TZ)|t"],
  ["MQTT", "mqtt.enabled|MQTT on|b", "mqtt.host|Broker host|t", "mqtt.port|Port|n", "mqtt.user|User|t",
    "mqtt.password|Password|s", "mqtt.prefix|Topic prefix|t", "mqtt.keepalive_s|Keep-alive (s)|n", "mqtt.tls|TLS|b"],
  ["Home Assistant", "ha.enabled|MQTT discovery|b", "ha.prefix|Discovery prefix|t"],
  ["emoncms", "emoncms.enabled|emoncms on|b", "emoncms.url|Server address|t", "emoncms.apikey|Write API key|s",
    "emoncms.node|Node (empty: node name)|t", "emoncms.timeout_s|Timeout (s)|n"],
  ["Intervals", "web.history_s|Chart sample (s)|n", "totals.min_interval_s|Save totals at most every (s)|n", "watchdog_s|Watchdog (s)|n"],
  ["Calibration", "ct.inputs|CT inputs used|l", "ct.ical|CT current calibration (1, 2, 3)|l", "ct.lead_deg|CT phase lead ° (1, 2, 3)|l",
    "ct.vratio|Voltage calibration|n", "ct.acac|AC-AC voltage adapter fitted|b", "pulse.wh_per_pulse|Wh per pulse|n"],
  ["Pin map"],
];

function getPath(o, path) {
  for (const p of path.split(".")) { if (o == null || typeof o !== "object" || !(p in o)) return undefined; o = o[p]; }
  return o;
}

function setPath(o, path, v) {
  const parts = path.split(".");
  for (const p of parts.slice(0, -1)) o = o[p] = o[p] || {};
  o[parts[parts.length - 1]] = v;
}

function field(cfg, spec) {
  const [path, label, type] = spec.split("|");
  const cur = getPath(cfg, path);
  if (cur === undefined) return null;
  const id = "f-" + path;
  let input;
  if (type === "b") input = h("input", {type: "checkbox", id: id, checked: !!cur});
  else if (type === "s") input = h("input", {type: "password", id: id, autocomplete: "new-password", placeholder: cur ? "set (type to change)" : "not set"});
  else if (type === "n") input = h("input", {type: "number", step: "any", id: id, value: cur, inputmode: "decimal"});
  else input = h("input", {type: "text", id: id, value: type === "l" ? (cur || []).join(", ") : cur});
  input.dataset.path = path;
  input.dataset.type = type;
  input.dataset.orig = JSON.stringify(cur);
  const err = h("span", {class: "ferr", id: "e-" + path, "data-err": path});
  return type === "b" ? h("div", {class: "f chk"}, h("label", {}, input, " " + label), err) :
    h("div", {class: "f"}, h("label", {for: id}, label), input, err);
}

// The value typed in a field: numbers as numbers, a number-less text as typed (the board says why it is wrong).
function fieldValue(input) {
  const t = input.dataset.type, v = input.value.trim();
  if (t === "b") return input.checked;
  if (t === "n") return v !== "" && isFinite(Number(v)) ? Number(v) : v;
  if (t === "l") return v === "" ? [] : v.split(/[\s,;]+/).map((x) => x !== "" && isFinite(Number(x)) ? Number(x) : x);
  return input.value;
}

async function wifiScan(btn) {
  const box = $("scan");
  btn.disabled = true;
  fill(box, h("p", {class: "muted"}, "Scanning…"));
  try {
    const r = await api("GET", "/api/wifi/scan");
    const nets = (r.networks || []).sort((a, b) => b.rssi - a.rssi);
    fill(box, nets.length ? nets.map((n) => h("button", {type: "button", class: "net", onclick: () => { $("f-wifi.ssid").value = n.ssid; $("f-wifi.key").focus(); }},
      n.ssid + " (" + n.rssi + " dBm" + (n.security && n.security !== "open" ? ", " + n.security : "") + ")")) : h("p", {class: "muted"}, "No network found."));
  } catch (e) { flash(box, e.message, true); }
  btn.disabled = false;
}

async function settings() {
  const sec = $("settings");
  let cfg;
  try { cfg = await api("GET", "/api/config"); } catch (e) {
    if (e.status === 401) return gate("settings", settings);
    return fill(sec, h("p", {class: "msg bad"}, "Settings unavailable: " + e.message));
  }
  const msg = h("div", {id: "settings-msg"});
  const form = h("form", {id: "settings-form", novalidate: true});
  for (const group of SETTINGS) {
    let fields = group.slice(1).map((f) => field(cfg, f));
    if (group[0] === "Pin map") {
      fields = Object.keys(cfg.pins || {}).map((p) => field(cfg, "pins." + p + "|" + p + "|" + (Array.isArray(cfg.pins[p]) ? "l" : "n")));
    }
    fields = fields.filter(Boolean);
    if (!fields.length) continue;
    const card = h("fieldset", {class: group[0] === "Pin map" ? "card pins" : "card"}, h("legend", {}, group[0]), fields);
    if (group[0] === "Wi-Fi") {
      const b = h("button", {type: "button", onclick: () => wifiScan(b)}, "Scan for networks");
      card.append(h("div", {class: "row"}, b), h("div", {id: "scan", class: "nets"}));
    }
    if (group[0] === "Pin map") card.append(h("p", {class: "muted"}, "GPIO numbers; -1 = not fitted. A wrong pin map can stop a sensor: check hardware/pinout.md."));
    form.append(card);
  }
  const gen = h("span", {class: "ferr", "data-err": "_"});
  form.append(h("div", {class: "actions"}, h("button", {type: "submit", class: "primary", id: "save"}, "Save"), gen, msg));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const patch = {};
    let n = 0;
    for (const i of form.querySelectorAll("input[data-path]")) {
      const t = i.dataset.type;
      if (t === "s") { if (i.value !== "") { setPath(patch, i.dataset.path, i.value); n++; } continue; }
      const v = fieldValue(i);
      if (JSON.stringify(v) !== i.dataset.orig) { setPath(patch, i.dataset.path, v); n++; }
    }
    for (const e of form.querySelectorAll(".ferr")) e.textContent = "";
    for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
    if (!n) return flash(msg, "Nothing changed.");
    try {
      const r = await api("POST", "/api/config", patch);
      for (const i of form.querySelectorAll("input[data-path]")) {
        if (i.dataset.type === "s") { if (i.value) { i.value = ""; i.placeholder = "set (type to change)"; } } else i.dataset.orig = JSON.stringify(fieldValue(i));
      }
      fill(msg, h("p", {class: "msg ok"}, "Saved. ", r && r.restart_needed ? ["The new settings apply after a restart. ",
        h("button", {type: "button", onclick: restart}, "Restart now")] : null));
    } catch (e) {
      const errs = e.data && e.data.errors;
      if (!errs) return flash(msg, e.status === 401 ? "Your session ended: log in again." : e.message, true);
      let first = null;
      for (const k in errs) {
        const span = form.querySelector('[data-err="' + CSS.escape(k) + '"]') || gen;
        span.textContent = (span === gen && k !== "_" ? k + ": " : "") + errs[k];
        const input = $("f-" + k);
        if (input) { input.setAttribute("aria-invalid", "true"); first = first || input; }
      }
      flash(msg, "Nothing was saved: fix the marked fields.", true);
      if (first) first.focus();
    }
  });
  fill(sec, h("div", {class: "row end"}, h("button", {type: "button", onclick: logout}, "Log out")), form, passwordForm());
}

function passwordForm() {
  const old = h("input", {type: "password", id: "pw-old", autocomplete: "current-password"});
  const nw = h("input", {type: "password", id: "pw-new", autocomplete: "new-password", minlength: 8, maxlength: 64});
  const msg = h("div");
  return h("form", {class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/api/auth/password", {old: old.value, new: nw.value});
      if (r && r.csrf) S.csrf = r.csrf;
      old.value = nw.value = "";
      flash(msg, "Password changed. Other sessions have been logged out.");
    } catch (e) {
      const errs = e.data && e.data.errors;
      flash(msg, errs ? Object.keys(errs).map((k) => errs[k]).join("; ") : e.message, true);
    }
  }}, h("h2", {}, "Admin password"), h("div", {class: "f"}, h("label", {for: "pw-old"}, "Current password"), old),
  h("div", {class: "f"}, h("label", {for: "pw-new"}, "New password (8 to 64 characters)"), nw),
  h("button", {type: "submit"}, "Change password"), msg);
}

// ---- system -------------------------------------------------------------------------------------------
async function restart() {
  if (!confirm("Restart the monitor now? Totals are saved first.")) return;
  try {
    await api("POST", "/api/restart");
  } catch (e) { return alert("Restart failed: " + e.message); }
  S.last = 0;
  fill($("alerts"), h("p", {class: "msg"}, "Restarting… the page reloads when the monitor is back."));
  const t0 = Date.now();
  const wait = async () => {
    await new Promise((r) => setTimeout(r, 2000));
    try { const d = await api("GET", "/api/state"); if (d.uptime_s < (Date.now() - t0) / 1000 + 5) return location.reload(); } catch (e) { /* not back yet */ }
    if (Date.now() - t0 < 180000) wait();
  };
  wait();
}

function infoRows(d) {
  const w = d.wifi || {}, m = d.mqtt, e = d.emoncms;
  const rows = [["Firmware", d.version], ["Up for", duration(d.uptime_s)], ["Last reset", d.reset_cause],
    ["Free memory", kb(d.free_heap) + " (lowest " + kb(d.min_free_heap) + ")"],
    ["Longest stall", known(d.longest_stall_ms) ? d.longest_stall_ms + " ms" : DASH],
    ["Wi-Fi", w.sta_connected ? (w.ssid || "") + " · " + (w.rssi != null ? w.rssi + " dBm" : "") + " · " + (w.ip || "") :
      w.ap_active ? "access point " + (w.ap_ssid || "") : "not connected"],
    ["MQTT", m ? (m.connected ? "connected" : "not connected" + (m.error ? " (" + m.error + ")" : "")) +
      " · " + (m.published || 0) + " sent, " + (m.failures || 0) + " failures" : "off"],
    ["emoncms", e ? (e.ok || e.connected ? "ok" : "not reachable" + (e.error ? " (" + e.error + ")" : "")) : "off"]];
  for (const k in d.forward || {}) {
    const f = d.forward[k];
    rows.push(["Buffer " + k, (f.pending || 0) + " waiting (" + (f.ram || 0) + " RAM, " + (f.flash || 0) + " flash), " +
      (f.delivered || 0) + " delivered, " + (f.dropped || 0) + " dropped"]);
  }
  if (d.restart_needed) rows.push(["Settings", "saved; restart to apply"]);
  return rows;
}

async function loadSystem() {
  try { S.sys = await api("GET", "/api/system"); } catch (e) { return flash($("sysinfo"), "System state unavailable: " + e.message, true); }
  const d = S.sys;
  fill($("sysinfo"), h("table", {class: "kv"}, infoRows(d).map((r) => h("tr", {}, h("th", {}, r[0]), h("td", {}, r[1] == null ? DASH : r[1])))));
  const log = Array.isArray(d.log) ? d.log.join("\n") : d.log || "";
  const pre = $("log");
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = log;
  if (atEnd) pre.scrollTop = pre.scrollHeight;
  const more = Object.assign({}, d);
  for (const k of ["log", "version", "uptime_s", "reset_cause", "free_heap", "min_free_heap", "longest_stall_ms", "node", "time"]) delete more[k];
  fill($("sysmore"), h("summary", {}, "All details"), dl(more));
}

async function system() {
  const sec = $("system");
  const admin = h("div", {id: "sysadmin"});
  fill(sec, h("div", {class: "card"}, h("h2", {}, "System"), h("div", {id: "sysinfo"}), h("details", {id: "sysmore"})),
    h("div", {class: "card"}, h("h2", {}, "Log"), h("pre", {id: "log", class: "log"})), admin);
  loadSystem();
  await authState();
  if (!S.auth.logged_in) return fill(admin, loginForm(() => show_tab("system")));
  const msg = h("div");
  const up = h("input", {type: "file", id: "cfg-file", accept: ".json,application/json"});
  up.addEventListener("change", async () => {
    try {
      const doc = JSON.parse(await up.files[0].text());
      const r = await api("POST", "/api/config/upload", doc);
      flash(msg, "Configuration uploaded." + (r && r.restart_needed ? " Restart to apply it." : ""));
    } catch (e) {
      const errs = e.data && e.data.errors;
      flash(msg, "Upload refused: " + (errs ? Object.keys(errs).map((k) => k + ": " + errs[k]).join("; ") : e.message), true);
    }
    up.value = "";
  });
  fill(admin, h("div", {class: "card"}, h("h2", {}, "Actions"),
    h("div", {class: "row"}, h("button", {type: "button", class: "danger", id: "restart", onclick: restart}, "Restart"),
      h("a", {class: "button", href: "/api/config/download", download: "hpmon-config.json"}, "Download configuration"),
      h("label", {class: "button"}, "Upload configuration", up),
      h("button", {type: "button", onclick: logout}, "Log out")), msg),
  updateForm());
}

// ---- firmware update: a folder or .zip holding manifest.json ({version, files: {path: sha256}}) --------
async function unzip(file) {
  const buf = new Uint8Array(await file.arrayBuffer());
  const dv = new DataView(buf.buffer);
  let e = buf.length - 22;
  while (e >= 0 && dv.getUint32(e, true) !== 0x06054b50) e--;
  if (e < 0) throw new Error("not a zip file");
  const out = {};
  let p = dv.getUint32(e + 16, true);
  for (let n = dv.getUint16(e + 10, true); n > 0; n--) {
    const method = dv.getUint16(p + 10, true), size = dv.getUint32(p + 20, true);
    const nlen = dv.getUint16(p + 28, true), skip = nlen + dv.getUint16(p + 30, true) + dv.getUint16(p + 32, true);
    const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nlen));
    const lh = dv.getUint32(p + 42, true);
    const start = lh + 30 + dv.getUint16(lh + 26, true) + dv.getUint16(lh + 28, true);
    const raw = buf.subarray(start, start + size);
    if (!name.endsWith("/")) {
      out[name] = method === 0 ? raw : method === 8 ? () => new Response(new Blob([raw]).stream()
        .pipeThrough(new DecompressionStream("deflate-raw"))).arrayBuffer() : null;
    }
    p += 46 + skip;
  }
  return out;
}

function updateForm() {
  const msg = h("div", {id: "update-msg"});
  const dir = h("input", {type: "file", id: "fw-dir", webkitdirectory: true, multiple: true});
  const zip = h("input", {type: "file", id: "fw-zip", accept: ".zip"});
  const go = async (files) => {
    try {
      const mk = Object.keys(files).find((k) => k === "manifest.json" || k.endsWith("/manifest.json"));
      if (!mk) throw new Error("no manifest.json in the set");
      const base = mk.slice(0, mk.length - "manifest.json".length);
      const read = async (k) => { const f = files[k]; return typeof f === "function" ? f() : f.arrayBuffer ? f.arrayBuffer() : f; };
      const man = JSON.parse(new TextDecoder().decode(await read(mk)));
      const paths = Object.keys(man.files || {});
      if (!paths.length) throw new Error("the manifest lists no files");
      await api("DELETE", "/api/update"); // drop what an earlier, failed attempt left staged
      for (let i = 0; i < paths.length; i++) {
        const k = base + paths[i];
        if (!(k in files) || files[k] == null) throw new Error("missing or unreadable in the set: " + paths[i]);
        flash(msg, "Uploading " + (i + 1) + " of " + paths.length + ": " + paths[i]);
        await api("PUT", "/api/update/file?path=" + encodeURIComponent(paths[i]), await read(k), true);
      }
      flash(msg, "Checking the files…");
      await api("POST", "/api/update/commit", {version: man.version, files: man.files});
      flash(msg, "Firmware " + (man.version || "") + " accepted: the monitor restarts into it.");
    } catch (e) { flash(msg, "Update failed: " + e.message, true); }
  };
  dir.addEventListener("change", () => {
    const files = {};
    for (const f of dir.files) files[f.webkitRelativePath || f.name] = f;
    go(files);
  });
  zip.addEventListener("change", async () => { try { go(await unzip(zip.files[0])); } catch (e) { flash(msg, "Update failed: " + e.message, true); } });
  return h("div", {class: "card"}, h("h2", {}, "Firmware update"),
    h("p", {class: "muted"}, "Pick the built firmware folder (or a .zip of it) with its manifest.json. Every file is checked before the monitor switches; it goes back to the old firmware if the new one does not start."),
    h("div", {class: "row"}, h("label", {class: "button"}, "Choose folder", dir), h("label", {class: "button"}, "Choose .zip", zip)), msg);
}

// ---- tabs ---------------------------------------------------------------------------------------------
function show_tab(tab) {
  S.tab = tab;
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== tab;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("on", a.getAttribute("href") === "#" + tab);
  if (tab === "dash") { renderDash(); loadHistory(); }
  if (tab === "sensors") sensors();
  if (tab === "settings") gate("settings", settings);
  if (tab === "system") system();
}

function route() {
  const t = location.hash.slice(1);
  show_tab(["dash", "sensors", "settings", "system"].indexOf(t) >= 0 ? t : "dash");
}

window.addEventListener("hashchange", route);
let resizeTimer;
window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => S.tab === "dash" && renderCharts(), 200); });
rangeButtons();
route();
// The stream's first event carries every channel; poll only without EventSource.
if (window.EventSource) stream(); else poll();
authState();
setInterval(watchdog, 5000);
