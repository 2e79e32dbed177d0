// Tagarela's web client (spec §21): the page's one script, built into the
// server binary. It speaks Tagarela's own lines (spec/PROTOCOL.md) over
// the WebSocket at /ws, one line per text message, with the `rooms` and
// `resume` features on (§19, §16.6). Every text from the server is put on
// the page as text (textContent), never as HTML, with control and bidi
// characters shown as <U+XXXX> as the terminal client does.

// Checked by TypeScript (`tsc -p server/src/transport/web`, in CI) from
// the JSDoc types below; served as it is, with no build step.

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @param {string} id */
const field = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/**
 * A room the page is in.
 * @typedef {object} Room
 * @property {string} name as the server spells it
 * @property {HTMLOListElement} log its messages
 * @property {number} unread messages come while it was not on screen
 * @property {HTMLButtonElement} button its place in the room bar
 * @property {HTMLLIElement} top the log's first item: "older messages"
 * @property {number} oldest the lowest number shown (scrolling back asks below it)
 * @property {boolean} more whether older messages may be kept
 * @property {boolean} loading whether a page of older ones is asked for
 * @property {number} got how many of that page came so far
 * @property {Node | null} anchor where that page goes (above it)
 */

/**
 * What one log item shows.
 * @typedef {object} Shown
 * @property {string | null} [room] the room's log, or the one on screen
 * @property {string} [ts] when (RFC 3339)
 * @property {string} [from] who
 * @property {string} text what
 * @property {"text" | "action"} [kind] an action reads `* name text`
 * @property {string[]} [cls] classes: notice, private, mention, error
 * @property {boolean} [counts] counts as unread where it is not on screen
 * @property {Node | null} [before] put above this item, not at the end
 */

const state = {
  socket: /** @type {WebSocket | null} */ (null),
  name: /** @type {string | null} */ (null), // the name registered, or being asked for
  registered: false,
  greeted: false, // HELLO came on this connection
  leaving: false, // the user quit: no reconnect
  waiting: false, // closed before a name was given: reconnect when one is
  retry: 0, // reconnect attempts since the last success
  token: /** @type {string | null} */ (null), // the resume token of the name held (spec §16.6), a secret
  seq: 0, // the highest event number seen (§16.5)
  rooms: /** @type {Map<string, Room>} */ (new Map()), // by key()
  current: /** @type {string | null} */ (null), // the key of the room on screen
  byName: false, // this connection registered by name, not by resume
  joining: false, // the user typed /join: the room it enters comes on screen
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

const key = (room) => room.toLocaleLowerCase();
const same = (a, b) => !!a && !!b && a.toLocaleLowerCase() === b.toLocaleLowerCase();

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

// The room `name` (made on first sight: its log and its button).
function room(name) {
  const k = key(name);
  let r = state.rooms.get(k);
  if (r) return r;
  const log = document.createElement("ol");
  log.className = "log";
  log.dataset.room = name;
  log.setAttribute("aria-live", "polite");
  log.hidden = true;
  // Scrolling back: a button at the top (for the keyboard), and the top
  // reached by scrolling, ask the server for what came before.
  const older = document.createElement("button");
  older.type = "button";
  older.className = "older";
  older.textContent = "older messages";
  const top = document.createElement("li");
  top.className = "top";
  top.append(older);
  log.append(top);
  $("logs").append(log);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "room";
  button.addEventListener("click", () => switchTo(k));
  const li = document.createElement("li");
  li.append(button);
  $("rooms").append(li);
  // Everything said in the room before this page entered it is numbered
  // below the number seen last (§19.4: one sequence per server), so that
  // is where scrolling back starts; the page's own messages, which the
  // server does not send back, are all above it.
  r = { name, log, unread: 0, button, top, oldest: state.seq, more: true, loading: false, got: 0, anchor: null };
  older.addEventListener("click", () => loadOlder(r));
  log.addEventListener("scroll", () => {
    if (log.scrollTop === 0) loadOlder(r);
  });
  // What came before any room (the welcome) opens the first room's log.
  if (state.rooms.size === 0) log.append(...[...$("lobby").children]);
  state.rooms.set(k, r);
  label(r);
  if (!state.current) switchTo(k);
  return r;
}

function label(r) {
  r.button.textContent = r.unread ? `${neutralise(r.name)} (${r.unread})` : neutralise(r.name);
  r.button.setAttribute("aria-current", key(r.name) === state.current ? "true" : "false");
}

function switchTo(k) {
  const r = state.rooms.get(k);
  if (!r) return;
  state.current = k;
  $("lobby").hidden = true;
  for (const other of state.rooms.values()) {
    other.log.hidden = other !== r;
    label(other);
  }
  r.unread = 0;
  label(r);
  r.log.scrollTop = r.log.scrollHeight;
}

function forget(name) {
  const k = key(name);
  const r = state.rooms.get(k);
  if (!r) return;
  r.log.remove();
  r.button.parentElement?.remove();
  state.rooms.delete(k);
  if (state.current === k) {
    state.current = null;
    const next = state.rooms.keys().next();
    if (!next.done) switchTo(next.value);
    else $("lobby").hidden = false;
  }
}

// How many messages one scroll back asks for (at most 200, §16.3).
const PAGE = 50;

// Asks for the messages of room `r` before the oldest one shown: they
// come as HIST lines, oldest first, then HISTEND (§16.3, §19.3).
function loadOlder(r) {
  if (!r.more || r.loading || !state.registered || r.oldest < 1) return;
  if (send(`/history ${r.name} before ${r.oldest} ${PAGE}`)) {
    r.loading = true;
    r.got = 0;
    // What comes goes above what is shown now, in its order.
    r.anchor = r.top.nextSibling;
  }
}

// The log lines go to: a room's, or (for what has no room) the one on
// screen.
function logOf(roomName) {
  if (roomName) return room(roomName).log;
  const r = state.current && state.rooms.get(state.current);
  return r ? r.log : $("lobby");
}

/** @param {Shown} shown */
function show({ room: roomName, ts, from, text, kind, cls, counts, before }) {
  const log = logOf(roomName);
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
  if (before !== undefined) {
    // Above what is read now, which stays where it is on screen.
    const height = log.scrollHeight;
    log.insertBefore(li, before);
    log.scrollTop += log.scrollHeight - height;
    return li;
  }
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(li);
  if (atEnd) log.scrollTop = log.scrollHeight;
  if (counts && roomName && key(roomName) !== state.current) {
    const r = room(roomName);
    r.unread += 1;
    label(r);
  }
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

function message(roomName, ts, from, text, extra, before) {
  const action = text.startsWith("/me ");
  const body = action ? text.slice(4) : text;
  const cls = [...(extra || [])];
  const live = !cls.includes("notice");
  if (!same(from, state.name) && mentions(body) && live) {
    cls.push("mention");
    notify(`${from} mentioned you in ${roomName}`, body);
  }
  show({
    room: roomName,
    ts,
    from: action ? from : `<${from}>`,
    text: body,
    kind: action ? "action" : "text",
    cls,
    counts: live,
    before,
  });
}

// A room's line (`IN #room ...`, §19.3), or a line of no room.
function onRoomLine(roomName, words, text, line) {
  switch (words[0]) {
    case "SEQ": {
      const n = Number(words[1]);
      if (n > state.seq) state.seq = n;
      const rest = line.slice(line.indexOf(" ", 4) + 1);
      const inner = parse(rest);
      onRoomLine(roomName, inner.words, inner.text, rest);
      break;
    }
    case "JOIN":
      if (roomName && same(words[2], state.name)) {
        room(roomName);
        // The room the user's own /join entered comes on screen.
        if (state.joining) {
          state.joining = false;
          switchTo(key(roomName));
        }
        show({ room: roomName, ts: words[1], text: `→ you joined ${roomName}`, cls: ["notice"] });
      } else {
        show({ room: roomName, ts: words[1], text: `→ ${words[2]} joined`, cls: ["notice"] });
      }
      break;
    case "LEAVE":
      if (roomName && same(words[2], state.name) && words[3] === "part") {
        forget(roomName);
      } else {
        const why = `${words[3]}${text ? ": " + text : ""}`;
        show({ room: roomName, ts: words[1], text: `← ${words[2]} left (${why})`, cls: ["notice"] });
      }
      break;
    case "MSG":
      message(roomName, words[1], words[2], text || "");
      break;
    case "HIST": {
      // `HIST seq time name :text` (§16.1): a message from before, dimmed:
      // the backlog on entering a room goes at the end, a page asked for
      // by scrolling back above what is shown.
      const n = Number(words[1]);
      if (n > state.seq) state.seq = n;
      const r = roomName ? room(roomName) : null;
      if (r && n < r.oldest) r.oldest = n;
      if (r && r.loading) {
        r.got += 1;
        message(roomName, words[2], words[3], text || "", ["notice"], r.anchor || null);
      } else {
        message(roomName, words[2], words[3], text || "", ["notice"]);
      }
      break;
    }
    case "HISTEND": {
      const r = roomName ? room(roomName) : null;
      if (r && r.loading) {
        r.loading = false;
        if (r.got < PAGE) {
          // Nothing older is kept: say so where the button was.
          r.more = false;
          r.top.textContent = "— the start of what this room keeps —";
          r.top.classList.add("notice");
        }
      }
      break;
    }
    case "TOPIC":
      show({ room: roomName, ts: words[1], text: `topic (${words[2]}): ${text || ""}`, cls: ["notice"] });
      break;
    case "PRIV": {
      const [, ts, from, to] = words;
      const li = show({ ts, from: `[private] ${from} → ${to}:`, text: text || "", cls: ["private"] });
      if (!same(from, state.name)) notify(`${from} whispers`, text || "");
      li.dataset.private = "1";
      break;
    }
    case "CROWD":
      show({ room: roomName, ts: words[1], text: parse(line).words.slice(2).join(" "), cls: ["notice"] });
      break;
    case "ERR":
      show({ room: roomName, text: `⚠ ${text || words[1]}`, cls: ["error"] });
      break;
    case "WHOEND":
    case "BANS":
    case "OPS":
      break;
    case "WHO":
      show({ room: roomName, text: `here: ${words.slice(1).join(" ")}`, cls: ["notice"] });
      break;
    default:
      break;
  }
}

function onLine(line) {
  const { words, text } = parse(line);
  const [verb] = words;
  switch (verb) {
    case "HELLO":
      state.greeted = true;
      // Rooms, and a token to take the name back after a dropped
      // connection (§19.1, §16.5, §16.6).
      send("/features resume rooms");
      register();
      break;
    case "FEATURES":
      break;
    case "IN": {
      const rest = line.slice(4 + words[1].length);
      const inner = parse(rest);
      onRoomLine(words[1], inner.words, inner.text, rest);
      break;
    }
    case "SEQ":
    case "PRIV":
      onRoomLine(null, words, text, line);
      break;
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
      if (state.byName && state.rooms.size > 0) {
        // A new holding of the name (a restarted server forgot the old
        // one): back into the rooms on screen, ten a line (§19.3).
        const names = [...state.rooms.values()].map((r) => r.name);
        for (let i = 0; i < names.length; i += 10) send(`/join ${names.slice(i, i + 10).join(",")}`);
      }
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
        if (refused) field("name").value = refused;
        $("name").focus();
      } else {
        show({ text: `⚠ ${text || words[1]}`, cls: ["error"] });
      }
      break;
    case "ROOMS": {
      // One room of `/rooms` (§19.3): a button joins it, or shows it if
      // the page is in it already.
      const li = show({ text: ` ${words[2]} here${text ? " — " + text : ""}`, cls: ["notice", "listed"] });
      const go = document.createElement("button");
      go.type = "button";
      go.className = "join-room";
      go.textContent = neutralise(words[1]);
      go.addEventListener("click", () => {
        const k = key(words[1]);
        if (state.rooms.has(k)) {
          switchTo(k);
        } else if (state.registered && send(`/join ${words[1]}`)) {
          state.joining = true;
        }
        field("line").focus();
      });
      li.insertBefore(go, li.lastChild);
      break;
    }
    case "HELP":
      show({ text: text || "", cls: ["notice"] });
      break;
    case "PING":
      // The keepalive (§10): answered, or the server closes.
      send(words[1] ? `/pong ${words[1]}` : "/pong");
      break;
    case "JOIN":
    case "LEAVE":
    case "MSG":
    case "HIST":
    case "HISTEND":
    case "TOPIC":
    case "CROWD":
    case "WHO":
      // A server that did not turn `rooms` on (§19.1) sends the one
      // room's lines bare: they go to the log on screen.
      onRoomLine(null, words, text, line);
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

// Asks for the name: taken back with the token if there is one.
function register() {
  if (!state.name) return;
  state.byName = !state.token;
  if (state.token) send(`/resume ${state.name} ${state.token} ${state.seq}`);
  else send(state.name);
}

// What a typed line becomes on the wire, and the public text it sends
// (shown at once: the server does not send one's own messages back,
// §19.3), if any. Text goes to the room on screen (§19.3: the wire
// always names the room); commands go as typed, but `/part` alone parts
// the room on screen.
export function wire(line, current) {
  if (current && /^\/part\s*$/i.test(line)) return { line: `/part ${current}`, own: null };
  if (current && /^\/part [^#]/i.test(line)) return { line: `/part ${current} ${line.slice(6)}`, own: null };
  if (line.startsWith("@")) return { line, own: null };
  let own = null;
  if (!line.startsWith("/")) own = line;
  const say = /^\/say (.*)$/is.exec(line);
  if (say && say[1].trim()) own = say[1];
  const me = /^\/me (.*)$/is.exec(line);
  if (me && me[1].trim()) own = `/me ${me[1]}`;
  if (own === null) return { line, own: null };
  return { line: current ? `/msg ${current} ${own}` : line, own };
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
    const name = field("name").value.trim();
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
    const input = field("line");
    const typed = input.value;
    if (!typed.trim()) return;
    const current = state.current && state.rooms.get(state.current);
    const { line, own } = wire(typed, current ? current.name : null);
    // Only a registered connection takes chat lines: before, a line
    // would be taken for a name.
    if (state.registered && send(line)) {
      input.value = "";
      if (/^\/(quit|sair|exit|close)\b/i.test(typed)) state.leaving = true;
      if (/^\/join\s/i.test(typed)) state.joining = true;
      if (own !== null) message(current ? current.name : null, new Date().toISOString(), state.name, own);
    } else {
      setState("not connected: your message is kept until the server is back", true);
    }
  });
  connect();
});
