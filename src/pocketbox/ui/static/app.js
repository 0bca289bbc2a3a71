// pocketbox ui: the page. It talks to the Docker Engine API (under /engine/, the same routes
// `docker` uses) and to the teaching views (under /ui/). No framework, no external file.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
};

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (!response.ok) {
    const message = (data && data.message) || text || response.statusText;
    showError(message);  // the engine's own words, as the CLI prints them
    throw new Error(message);
  }
  if (method !== "GET") showError("");  // an action that worked clears the last error; the refreshes do not
  return data;
}

function size(bytes) {  // Docker's units (1000s)
  if (bytes == null) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let n = bytes, i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toPrecision(3) : n) + units[i];
}

// --- views ---------------------------------------------------------------------------------
function show(view) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.view === view);
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== "view-" + view;
  refresh();
}
for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => show(b.dataset.view));

// --- containers ----------------------------------------------------------------------------
let lastUsage = {}, lastUsageTime = 0;

async function refreshContainers() {
  const [list, usage] = await Promise.all([api("GET", "engine/containers/json?all=1"), api("GET", "ui/usage")]);
  const now = performance.now();
  const body = $("#containers tbody");
  body.replaceChildren();
  for (const c of list) {
    const name = c.Names[0].replace(/^\//, "");
    const u = usage[c.Id];
    let cpu = "", mem = "";
    if (u) {
      const before = lastUsage[c.Id];
      if (before && lastUsageTime) cpu = (100 * (u.cpu_ns - before.cpu_ns) / ((now - lastUsageTime) * 1e6)).toFixed(1) + "%";
      mem = size(u.memory) + (u.memory_limit ? " / " + size(u.memory_limit) : "");
    }
    const ports = (c.Ports || []).filter(p => p.PublicPort).map(p => `${p.IP || "0.0.0.0"}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`).join(", ");
    const running = c.State === "running";
    const act = (label, fn) => el("button", { class: label, onclick: fn }, label);
    body.append(el("tr", { "data-name": name, "data-id": c.Id },
      el("td", {}, name), el("td", {}, c.Image), el("td", { class: "state state-" + c.State }, c.State),
      el("td", {}, c.Status), el("td", {}, ports), el("td", { class: "cpu" }, cpu), el("td", { class: "mem" }, mem),
      el("td", {},
        running ? act("stop", () => api("POST", `engine/containers/${c.Id}/stop`).then(refresh))
                : act("start", () => api("POST", `engine/containers/${c.Id}/start`).then(refresh)),
        act("restart", () => api("POST", `engine/containers/${c.Id}/restart`).then(refresh)),
        act("remove", () => api("DELETE", `engine/containers/${c.Id}?force=1`).then(refresh)),
        act("logs", () => followLogs(c.Id, name, c)),
        running ? act("terminal", () => openTerminal(c.Id, name)) : "",
        act("anatomy", () => { show("anatomy"); loadAnatomy(c.Id); }))));
  }
  lastUsage = usage; lastUsageTime = now;
}

$("#run-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const body = { Image: f.get("image"), HostConfig: {} };
  const command = f.get("command").trim();
  if (command) body.Cmd = ["sh", "-c", command];
  const ports = f.get("ports").trim();
  if (ports) {
    const [host, container] = ports.split(":");
    const key = container.includes("/") ? container : container + "/tcp";
    body.ExposedPorts = { [key]: {} };
    body.HostConfig.PortBindings = { [key]: [{ HostIp: "", HostPort: host }] };
  }
  if (f.get("volume").trim()) body.HostConfig.Binds = [f.get("volume").trim()];
  if (f.get("memory")) body.HostConfig.Memory = Number(f.get("memory")) * 1024 * 1024;
  const name = f.get("name").trim();
  const created = await api("POST", "engine/containers/create" + (name ? "?name=" + encodeURIComponent(name) : ""), body);
  await api("POST", `engine/containers/${created.Id}/start`);
  refresh();
});

// --- logs: Docker's multiplexed frames (8-byte headers) unless the container has a terminal --
let logsAbort = null;
async function followLogs(id, name, summary) {
  if (logsAbort) logsAbort.abort();
  logsAbort = new AbortController();
  $("#logs-panel").hidden = false;
  $("#logs-name").textContent = name;
  const out = $("#logs");
  out.textContent = "";
  const inspect = await api("GET", `engine/containers/${id}/json`);
  const framed = !inspect.Config.Tty;
  const response = await fetch(`engine/containers/${id}/logs?follow=1&stdout=1&stderr=1&tail=200`, { signal: logsAbort.signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = new Uint8Array(0);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!framed) { out.textContent += decoder.decode(value, { stream: true }); continue; }
      const joined = new Uint8Array(pending.length + value.length);
      joined.set(pending); joined.set(value, pending.length);
      let at = 0;
      while (joined.length - at >= 8) {
        const length = new DataView(joined.buffer, at + 4, 4).getUint32(0);
        if (joined.length - at < 8 + length) break;
        out.textContent += decoder.decode(joined.slice(at + 8, at + 8 + length));
        at += 8 + length;
      }
      pending = joined.slice(at);
      out.scrollTop = out.scrollHeight;
    }
  } catch (e) { /* closed */ }
}
$("#logs-close").addEventListener("click", () => { if (logsAbort) logsAbort.abort(); $("#logs-panel").hidden = true; });

// --- terminal: exec -it sh on a pty, over a WebSocket ---------------------------------------
let socket = null;
function openTerminal(id, name) {
  if (socket) socket.close();
  $("#term-panel").hidden = false;
  $("#term-name").textContent = name;
  const term = $("#term");
  term.textContent = "";
  const url = new URL(`ui/exec/${id}`, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = "";
  socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  const decoder = new TextDecoder();
  socket.onmessage = (m) => {
    if (typeof m.data === "string") {
      const info = JSON.parse(m.data);
      term.textContent += info.error ? `\n[${info.error}]\n` : `\n[exit ${info.exit}]\n`;
      return;
    }
    writeTerminal(term, decoder.decode(new Uint8Array(m.data), { stream: true }));
  };
  term.focus();
}
// the little a shell prompt needs of a terminal: no colours or cursor moves, \r, backspace
function writeTerminal(term, text) {
  text = text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\x1b[()][A-Z0-9]/g, "").replace(/\r\n/g, "\n");
  let content = term.textContent;
  for (const ch of text) {
    if (ch === "\b") content = content.slice(0, -1);
    else if (ch === "\r") content = content.slice(0, content.lastIndexOf("\n") + 1);
    else if (ch === "\x07") continue;
    else content += ch;
  }
  term.textContent = content;
  term.scrollTop = term.scrollHeight;
}
const KEYS = { Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b", ArrowUp: "\x1b[A", ArrowDown: "\x1b[B",
               ArrowRight: "\x1b[C", ArrowLeft: "\x1b[D" };
$("#term").addEventListener("keydown", (e) => {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  let data = KEYS[e.key];
  if (!data && e.ctrlKey && e.key.length === 1) data = String.fromCharCode(e.key.toUpperCase().charCodeAt(0) - 64);
  else if (!data && e.key.length === 1) data = e.key;
  if (data) { socket.send(new TextEncoder().encode(data)); e.preventDefault(); }
});
$("#term").addEventListener("paste", (e) => {
  if (socket) socket.send(new TextEncoder().encode(e.clipboardData.getData("text")));
  e.preventDefault();
});
$("#term-close").addEventListener("click", () => { if (socket) socket.close(); $("#term-panel").hidden = true; });

// --- images, volumes, networks ------------------------------------------------------------
async function refreshImages() {
  const list = await api("GET", "engine/images/json");
  const body = $("#images tbody");
  body.replaceChildren();
  for (const i of list) {
    for (const tag of i.RepoTags && i.RepoTags.length ? i.RepoTags : ["<none>:<none>"]) {
      const at = tag.lastIndexOf(":");
      body.append(el("tr", { "data-ref": tag }, el("td", {}, tag.slice(0, at)), el("td", {}, tag.slice(at + 1)),
        el("td", {}, i.Id.replace("sha256:", "").slice(0, 12)), el("td", {}, size(i.Size)),
        el("td", {}, el("button", { onclick: () => api("DELETE", `engine/images/${encodeURIComponent(tag)}`).then(refresh) }, "remove"))));
    }
  }
}
$("#pull-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const ref = new FormData(e.target).get("ref").trim();
  const at = ref.lastIndexOf(":") > ref.lastIndexOf("/") ? ref.lastIndexOf(":") : -1;
  const query = at > 0 ? `fromImage=${encodeURIComponent(ref.slice(0, at))}&tag=${encodeURIComponent(ref.slice(at + 1))}`
                       : `fromImage=${encodeURIComponent(ref)}&tag=latest`;
  const out = $("#pull-progress");
  out.textContent = "";
  const response = await fetch("engine/images/create?" + query, { method: "POST" });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const lines = new Map();  // one line per layer, updated in place (as `docker pull` does)
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      const m = JSON.parse(line);
      const text = m.error ? "error: " + m.error : [m.id, m.status, m.progress].filter(Boolean).join(" ");
      lines.set(m.id || text, text);
      out.textContent = [...lines.values()].join("\n");
    }
  }
  refresh();
});

async function refreshVolumes() {
  const data = await api("GET", "engine/volumes");
  $("#volumes tbody").replaceChildren(...(data.Volumes || []).map(v =>
    el("tr", {}, el("td", {}, v.Name), el("td", {}, v.Driver), el("td", {}, v.Mountpoint))));
}
async function refreshNetworks() {
  const list = await api("GET", "engine/networks");
  $("#networks tbody").replaceChildren(...list.map(n =>
    el("tr", {}, el("td", {}, n.Name), el("td", {}, n.Driver),
      el("td", {}, ((n.IPAM && n.IPAM.Config) || []).map(c => c.Subnet).join(", ")),
      el("td", {}, Object.values(n.Containers || {}).map(c => c.Name).join(", ")))));
}

// --- anatomy -------------------------------------------------------------------------------
let anatomyId = null;
async function loadAnatomy(id) {
  anatomyId = id;
  const a = await api("GET", `ui/anatomy/${id}`);
  $("#anatomy").hidden = false;
  $("#an-title").textContent = `${a.name} (${a.status}, PID ${a.pid} on the host): ${a.command.join(" ")}`;
  $("#ns-table tbody").replaceChildren(...a.namespaces.map(n =>
    el("tr", { "data-type": n.type }, el("td", {}, n.type), el("td", { class: "inode" }, n.inode),
      el("td", {}, n.host ? "yes: the host's own" : "no: its own"), el("td", {}, n.shared_with.join(", ")))));
  $("#cg-mode").textContent = `(${a.cgroup.mode}; ${Object.values(a.cgroup.paths).length} director${Object.values(a.cgroup.paths).length === 1 ? "y" : "ies"})`;
  $("#cgroup-files tbody").replaceChildren(...a.cgroup.files.map(f =>
    el("tr", { "data-what": f.what }, el("td", {}, f.what), el("td", { class: "value" }, f.value), el("td", {}, el("code", {}, f.file)))));
  $("#layers").replaceChildren(...a.layers.map(l =>
    el("li", { class: l.writable ? "layer-upper" : "" }, `${l.name}: ${size(l.size)} `, el("code", {}, l.path))));
  $("#mounts tbody").replaceChildren(...a.mounts.map(m =>
    el("tr", {}, el("td", {}, m.target), el("td", {}, m.type), el("td", {}, m.source), el("td", {}, m.options))));
  const s = a.security;
  $("#security").replaceChildren(
    el("dt", {}, "capabilities"), el("dd", { id: "caps" }, (s.effective || []).join(" ") || "none"),
    el("dt", {}, "seccomp"), el("dd", { id: "seccomp" }, `${s.seccomp} (${s.seccomp_filters} filter${s.seccomp_filters === 1 ? "" : "s"})`),
    el("dt", {}, "no_new_privs"), el("dd", {}, s.no_new_privs ? "on" : "off"));
  $("#procs tbody").replaceChildren(...a.processes.map(p =>
    el("tr", { "data-host-pid": p.host_pid }, el("td", {}, p.container_pid), el("td", {}, p.host_pid),
      el("td", {}, p.ppid), el("td", {}, p.command || p.name))));
}
$("#layer-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const path = new FormData(e.target).get("path");
  const r = await api("GET", `ui/layer-of/${anatomyId}?path=${encodeURIComponent(path)}`);
  $("#layer-answer").textContent = !r.layer ? "in no layer" : r.deleted ? `deleted in the ${r.layer}` : `the ${r.layer} (${size(r.size)})`;
});

// --- a run, step by step --------------------------------------------------------------------
$("#replay-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const out = $("#replay");
  out.textContent = "running...";
  const r = await api("POST", "ui/replay", { image: f.get("image"), command: f.get("command").trim().split(/\s+/).filter(Boolean) });
  out.replaceChildren(el("p", {}, `exit ${r.exit}` + (r.error ? `: ${r.error}` : "")), el("pre", {}, r.output),
    ...r.steps.map((s, n) => el("div", { class: "step" }, el("h3", {}, `${n + 1}. ${s.step}`),
      el("ol", {}, ...s.events.map(ev => el("li", {}, ev.what, " ", ev.call ? el("code", {}, ev.call) : "",
        ev.man ? ` (${ev.man})` : ""))))));
});

// --- live: the feed lights up the architecture and refreshes the lists ----------------------
const LIGHTS = {
  request: ["box-client", "box-api", "box-engine"],
  container: ["box-engine", "box-runtime", "box-kernel"],
  image: ["box-engine", "box-registry"],
  network: ["box-engine", "box-kernel"],
  volume: ["box-engine", "box-kernel"],
};
function light(ids) {
  for (const id of ids) {
    const box = document.getElementById(id);
    if (!box) continue;
    box.classList.add("lit");
    setTimeout(() => box.classList.remove("lit"), 700);
  }
}
let refreshTimer = null;
function refreshSoon() { clearTimeout(refreshTimer); refreshTimer = setTimeout(refresh, 150); }
const live = new EventSource("ui/live");
live.onmessage = (m) => {
  const item = JSON.parse(m.data);
  const when = new Date(item.time * 1000).toLocaleTimeString();
  const text = item.kind === "request" ? `${when}  ${item.method} ${item.path}  (${item.via})`
                                       : `${when}  event: ${item.type} ${item.action} ${item.actor || ""}`;
  const feed = $("#feed");
  feed.prepend(el("li", { class: item.kind }, text));
  while (feed.children.length > 100) feed.lastChild.remove();
  light(item.kind === "request" ? LIGHTS.request : LIGHTS[item.type] || LIGHTS.container);
  if (item.kind === "event") refreshSoon();
};

async function refresh() {
  const view = document.querySelector("#tabs button.active").dataset.view;
  try {
    if (view === "containers") await refreshContainers();
    else if (view === "images") await refreshImages();
    else if (view === "volumes") await refreshVolumes();
    else if (view === "networks") await refreshNetworks();
    else if (view === "anatomy" && anatomyId) await loadAnatomy(anatomyId);
  } catch (e) { /* shown by api() */ }
}
setInterval(() => { if (!document.hidden) refresh(); }, 2000);
refresh();
