// Tagarela's web client (spec §21): the page's one script, built into the
// server binary. It speaks Tagarela's own lines (spec/PROTOCOL.md) over
// the WebSocket at /ws, one line per text message. Every text from the
// server is put on the page as text (textContent), never as HTML, with
// control and bidi characters shown as <U+XXXX> as the terminal client
// does.

const $ = (id) => document.getElementById(id);

const state = {
  socket: null,
  name: null, // the name registered, or being asked for
  registered: false,
  greeted: false, // HELLO came on this connection
  leaving: false, // the user quit: no reconnect
  waiting: false, // closed before a name was given: reconnect when one is
  retry: 0, // reconnect attempts since the last success
  token: null, // the resume token of the name held (spec §16.6), a secret
  seq: 0, // the highest event number seen (§16.5)
};

// Control characters (but TAB) and the bidi controls that could reorder
// what others read.
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

export function neutralise(text) {
  return text.replace(UNSAFE, (c) => `<U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}>`);
}

// One server line: its words before " :", and the text after it.
export function parse(line) {
  const cut = line.indexOf(" :");
  const head = cut < 0 ? line : line.slice(0, cut);
  const text = cut < 0 ? null : line.slice(cut + 2);
  return { words: head.split(" "), text };
}

function clock(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function setState(text, away) {
  const el = $("state");
  el.textContent = text;
  el.classList.toggle("away", !!away);
}

function mentions(text) {
  if (!state.name) return false;
  const me = state.name.toLocaleLowerCase();
  const words = text.toLocaleLowerCase().split(/[^\p{L}\p{N}_.-]+/u);
  return words.includes(me) || words.includes("@" + me);
}

function show({ ts, from, text, kind, cls }) {
  const log = $("log");
  const li = document.createElement("li");
  if (cls) li.classList.add(...cls);
  if (ts) {
    const t = document.createElement("time");
    t.className = "time";
    t.dateTime = ts;
    t.textContent = clock(ts);
    li.append(t);
  }
  if (kind === "action") {
    li.append(document.createTextNode(`* ${neutralise(from)} ${neutralise(text)}`));
  } else if (from) {
    const f = document.createElement("span");
    f.className = "from";
    f.textContent = neutralise(from);
    li.append(f, document.createTextNode(neutralise(text)));
  } else {
    li.append(document.createTextNode(neutralise(text)));
  }
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(li);
  if (atEnd) log.scrollTop = log.scrollHeight;
  return li;
}

function notify(title, body) {
  if (!document.hidden || !("Notification" in window)) return;
  if (Notification.permission === "granted") {
    new Notification(neutralise(title), { body: neutralise(body) });
  }
}

function send(line) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(line);
    return true;
  }
  return false;
}

function message(ts, from, text, extra) {
  const action = text.startsWith("/me ");
  const body = action ? text.slice(4) : text;
  const cls = [...(extra || [])];
  const mine = state.name && from.toLocaleLowerCase() === state.name.toLocaleLowerCase();
  if (!mine && mentions(body)) {
    cls.push("mention");
    notify(`${from} mentioned you`, body);
  }
  show({ ts, from: action ? from : `<${from}>`, text: body, kind: action ? "action" : "text", cls });
}

function onLine(line) {
  const { words, text } = parse(line);
  const [verb] = words;
  switch (verb) {
    case "HELLO":
      state.greeted = true;
      // Sequence numbers and a token to take the name back after a
      // dropped connection (§16.5, §16.6).
      send("/features resume");
      register();
      break;
    case "FEATURES":
      break;
    case "SEQ": {
      // `SEQ n` and the event line (§16.5).
      const n = Number(words[1]);
      if (n > state.seq) state.seq = n;
      onLine(line.slice(line.indexOf(" ", 4) + 1));
      break;
    }
    case "RESUMED": {
      const count = Number(words[1]);
      const gap = words[2] === "gap" ? " (some older ones are gone)" : "";
      show({ text: `— reconnected; ${count} message${count === 1 ? "" : "s"} you missed ${count === 1 ? "is" : "are"} above${gap} —`, cls: ["notice"] });
      break;
    }
    case "WELCOME":
      state.registered = true;
      state.retry = 0;
      state.name = words[1];
      for (const w of words.slice(2)) {
        if (w.startsWith("seq=")) state.seq = Math.max(state.seq, Number(w.slice(4)));
        if (w.startsWith("resume=")) state.token = w.slice(7);
      }
      $("join").hidden = true;
      $("chat").hidden = false;
      setState(`connected as ${state.name}`);
      show({ text: text || "", cls: ["notice"] });
      $("line").focus();
      break;
    case "ERR":
      if (!state.registered && words[1] === "resume-refused") {
        // The token is spent or forgotten: register by name instead.
        state.token = null;
        register();
      } else if (!state.registered) {
        // The name was refused (on a reconnect too, while the old
        // connection still holds it): say why, and let the user try
        // again; nothing typed in the chat is sent until then.
        const refused = state.name;
        state.name = null;
        $("join-error").textContent = neutralise(text || words[1]);
        $("chat").hidden = true;
        $("join").hidden = false;
        if (refused) $("name").value = refused;
        $("name").focus();
      } else {
        show({ text: `⚠ ${text || words[1]}`, cls: ["error"] });
      }
      break;
    case "JOIN":
      show({ ts: words[1], text: `→ ${words[2]} joined`, cls: ["notice"] });
      break;
    case "LEAVE":
      show({ ts: words[1], text: `← ${words[2]} left (${words[3]}${text ? ": " + text : ""})`, cls: ["notice"] });
      break;
    case "MSG":
      message(words[1], words[2], text || "");
      break;
    case "HIST": {
      // `HIST seq time name :text` (§16.1): a message from before, dimmed.
      const n = Number(words[1]);
      if (n > state.seq) state.seq = n;
      message(words[2], words[3], text || "", ["notice"]);
      break;
    }
    case "PRIV": {
      const [, ts, from, to] = words;
      const li = show({ ts, from: `[private] ${from} → ${to}:`, text: text || "", cls: ["private"] });
      const mine = state.name && from.toLocaleLowerCase() === state.name.toLocaleLowerCase();
      if (!mine) notify(`${from} whispers`, text || "");
      li.dataset.private = "1";
      break;
    }
    case "CROWD":
      show({ ts: words[1], text: line.slice(6), cls: ["notice"] });
      break;
    case "WHO":
    case "HELP":
      show({ text: text || words.slice(1).join(" "), cls: ["notice"] });
      break;
    case "PING":
      // The keepalive (§10): answered, or the server closes.
      send(words[1] ? `/pong ${words[1]}` : "/pong");
      break;
    case "BYE":
      if (words[1] === "quit") state.leaving = true;
      // Nobody gave a name in time: connect again only once one is.
      if (!state.registered && !state.name) state.waiting = true;
      show({ text: `connection closed: ${words[1]}${text ? " — " + text : ""}`, cls: ["notice"] });
      break;
    default:
      break;
  }
}

// The public text a typed line sends, if it sends one: a plain line,
// `/say text` or `/me text` (spec §5.3).
function ownText(line) {
  if (line.startsWith("@")) return null;
  if (!line.startsWith("/")) return line;
  const say = /^\/say (.*)$/is.exec(line);
  if (say && say[1].trim()) return say[1];
  const me = /^\/me (.*)$/is.exec(line);
  if (me && me[1].trim()) return `/me ${me[1]}`;
  return null;
}

// Asks for the name: taken back with the token if there is one.
function register() {
  if (!state.name) return;
  if (state.token) send(`/resume ${state.name} ${state.token} ${state.seq}`);
  else send(state.name);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws`);
  state.socket = socket;
  state.registered = false;
  state.greeted = false;
  setState(state.retry ? "reconnecting…" : "connecting…");
  socket.onmessage = (e) => {
    if (typeof e.data === "string") onLine(e.data);
  };
  socket.onclose = () => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (state.leaving) {
      setState("you left; reload the page to come back", true);
      return;
    }
    if (state.waiting) {
      setState("disconnected while idle; type your name to connect again", true);
      return;
    }
    // The server is away: try again, waiting longer each time (at most
    // 30 s); the draft in the input stays where it is.
    const wait = Math.min(30, 2 ** state.retry);
    state.retry += 1;
    setState(`the server is away; trying again in ${wait} s`, true);
    setTimeout(connect, wait * 1000);
  };
}

window.addEventListener("DOMContentLoaded", () => {
  $("join").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("name").value.trim();
    if (!name) return;
    $("join-error").textContent = "";
    if (name !== state.name) state.token = null; // a token is its name's
    state.name = name;
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
    if (state.waiting) {
      state.waiting = false;
      connect();
      return;
    }
    if (!state.greeted || !send(name)) {
      setState("not connected yet; your name is sent when the server answers", true);
    }
  });
  $("say").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("line");
    const line = input.value;
    if (!line.trim()) return;
    // Only a registered connection takes chat lines: before, a line
    // would be taken for a name.
    if (state.registered && send(line)) {
      input.value = "";
      if (/^\/(quit|sair|exit|close)\b/i.test(line)) state.leaving = true;
      // The server does not send one's own public messages back (§5.2):
      // they are shown here as sent.
      const own = ownText(line);
      if (own !== null) message(new Date().toISOString(), state.name, own);
    } else {
      setState("not connected: your message is kept until the server is back", true);
    }
  });
  connect();
});
