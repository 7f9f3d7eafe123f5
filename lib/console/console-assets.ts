/*
 * The console's only stylesheet and script, served by the console itself (`<path>/assets/...`):
 * nothing is fetched from anywhere else, and the CSP allows nothing else.
 */

/** The stylesheet: plain, readable, dense tables (an operator's screen, not a brochure). */
export const CONSOLE_CSS = `
:root { --fg:#1d2330; --muted:#5b6577; --line:#d9dee7; --bg:#f6f7f9; --ok:#1a7f37; --bad:#c62828;
  --warn:#9a6700; --accent:#0b5cad; --add:#e6ffec; --del:#ffebe9; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; gap:16px; align-items:center; padding:8px 20px; background:#1d2330; color:#fff; }
header a { color:#fff; text-decoration:none; font-weight:600; }
header nav a { font-weight:400; margin-right:12px; opacity:.9; }
header .mode { margin-left:auto; font-size:12px; padding:2px 8px; border-radius:10px; background:#3b4457; }
header .mode.rw { background:#9a3412; }
.banner { padding:6px 20px; background:#fff8c5; border-bottom:1px solid #e9d98f; font-size:13px; }
main { padding:16px 20px 40px; max-width:1400px; }
h1 { font-size:20px; margin:4px 0 12px; } h2 { font-size:16px; margin:24px 0 8px; }
.crumbs { color:var(--muted); font-size:13px; } .crumbs a { color:var(--accent); }
table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#eef1f5; font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.02em; color:var(--muted); }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
a { color:var(--accent); }
code, pre, textarea, .mono { font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12.5px; }
h1.mono { font-size:19px; }
pre { margin:0; white-space:pre-wrap; word-break:break-word; }
.value { max-height:8em; overflow:auto; }
.ok { color:var(--ok); } .bad { color:var(--bad); } .warn { color:var(--warn); } .muted { color:var(--muted); }
.pill { display:inline-block; padding:0 6px; border-radius:8px; font-size:12px; background:#eef1f5; margin:1px 2px 1px 0; }
.pill.ok { background:#dafbe1; } .pill.bad { background:#ffebe9; } .pill.warn { background:#fff8c5; }
.msg { padding:8px 12px; margin:8px 0 12px; border-radius:4px; border:1px solid var(--line); background:#fff; }
.msg.bad { border-color:#f5b5b0; background:#fff5f5; } .msg.ok { border-color:#a7e3b5; background:#f3fff5; }
form.inline { display:inline; }
textarea { width:100%; min-height:16em; padding:8px; border:1px solid var(--line); border-radius:4px; }
input[type=text], select { padding:4px 6px; border:1px solid var(--line); border-radius:4px; }
button { padding:4px 12px; border:1px solid #8c96a8; border-radius:4px; background:#fff; cursor:pointer; }
button.primary { background:var(--accent); color:#fff; border-color:var(--accent); }
button.danger { color:var(--bad); border-color:var(--bad); }
.diff { background:#fff; border:1px solid var(--line); }
.diff div { padding:0 8px; white-space:pre-wrap; word-break:break-word; }
.diff .add { background:var(--add); } .diff .del { background:var(--del); } .diff .gap { color:var(--muted); }
.row { display:flex; gap:24px; flex-wrap:wrap; } .row > * { flex:1 1 420px; }
.live-dot { display:inline-block; width:8px; height:8px; border-radius:50%; background:#8c96a8; margin-left:6px; }
.live-dot.on { background:var(--ok); }
`;

/**
 * The script: live regions (server-sent events carry re-rendered, already escaped fragments:
 * `{ id, html }`), nothing else. No framework, no build.
 */
export const CONSOLE_JS = `
(function () {
  var main = document.querySelector('[data-live]');
  if (!main || !window.EventSource) return;
  var dot = document.getElementById('live-dot');
  var source = new EventSource(main.getAttribute('data-live'));
  source.onopen = function () { if (dot) dot.className = 'live-dot on'; };
  source.onerror = function () { if (dot) dot.className = 'live-dot'; };
  source.onmessage = function (event) {
    var update;
    try { update = JSON.parse(event.data); } catch (e) { return; }
    var target = update && document.getElementById(update.id);
    if (target && typeof update.html === 'string') target.innerHTML = update.html;
  };
  window.addEventListener('pagehide', function () { source.close(); });
})();
`;

/** The Content-Security-Policy of every page: only the console's own script and stylesheet. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
