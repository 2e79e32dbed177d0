"""A conformance peer built on a real IRC client library (spec §20).

The conformance runner's `spawn P irc-library` starts this program: it
connects to the server's IRC port with Python's `irc` package (PyPI
`irc`, the library many IRC bots are built on), registers as NICK, and
then turns lines on stdin into calls of the library's own API and the
events the library reports into lines on stdout, so that a scenario can
script it as it scripts the Tagarela client:

  stdin                      the library call
  join #room                 connection.join("#room")
  part #room                 connection.part("#room")
  privmsg TARGET text        connection.privmsg(TARGET, "text")
  notice TARGET text         connection.notice(TARGET, "text")
  action TARGET text         connection.action(TARGET, "text")   (CTCP ACTION)
  mode #room CHANGE          connection.mode("#room", "CHANGE")  (+o nick, +b mask...)
  quit text                  connection.quit("text")
  /ping TOKEN                connection.ping(TOKEN)  (the runner's barrier)

  stdout, one line per event the library reported
  welcome NICK               registered
  join NICK #room            (also its own)
  part NICK #room
  quit NICK :message
  kick BY #room NICK :comment
  pubmsg NICK #room :text
  privmsg NICK :text
  pubnotice NICK #room :text
  privnotice NICK :text      (from users only; the server's own notices are not shown)
  action NICK TARGET :text
  names #room :a b c         (sorted, prefixes kept)
  topic #room :text          (the topic as shown on joining)
  mode BY #room CHANGE       a room's mode changed (+o nick, +b mask...)
  nicknameinuse NICK
  erroneusnickname NICK :why (the library's spelling, after RFC 1459's)
  nosuchnick NICK
  error :message
  PONG TOKEN                 the barrier came back
  disconnected

Numerics and everything else the library reports are not shown: the
scenario checks what a user of the library would act on. Never used
outside the conformance runner.
"""

import argparse
import os
import select
import sys

import irc.client


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def nick_of(event):
    return irc.client.NickMask(event.source).nick


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nick", required=True)
    args = parser.parse_args()

    reactor = irc.client.Reactor()
    names = {}
    done = []

    def on(kind, handler):
        reactor.add_global_handler(kind, handler)

    on("welcome", lambda c, e: out(f"welcome {e.target}"))
    on("join", lambda c, e: out(f"join {nick_of(e)} {e.target}"))
    on("part", lambda c, e: out(f"part {nick_of(e)} {e.target}"))
    on("quit", lambda c, e: out(f"quit {nick_of(e)} :{' '.join(e.arguments)}"))
    on(
        "kick",
        lambda c, e: out(
            f"kick {nick_of(e)} {e.target} {e.arguments[0]} :{' '.join(e.arguments[1:])}"
        ),
    )
    on("pubmsg", lambda c, e: out(f"pubmsg {nick_of(e)} {e.target} :{e.arguments[0]}"))
    on("privmsg", lambda c, e: out(f"privmsg {nick_of(e)} :{e.arguments[0]}"))
    on(
        "pubnotice",
        lambda c, e: out(f"pubnotice {nick_of(e)} {e.target} :{e.arguments[0]}"),
    )

    def privnotice(c, e):
        # The server's own notices have a server name as their source.
        if e.source and "!" in e.source:
            out(f"privnotice {nick_of(e)} :{e.arguments[0]}")

    on("privnotice", privnotice)
    on(
        "action",
        lambda c, e: out(f"action {nick_of(e)} {e.target} :{e.arguments[0]}"),
    )

    def namreply(c, e):
        # arguments: "=", channel, "a b c"
        names.setdefault(e.arguments[1], []).extend(e.arguments[2].split())

    def endofnames(c, e):
        room = e.arguments[0]
        out(f"names {room} :{' '.join(sorted(names.pop(room, [])))}")

    on("namreply", namreply)
    on("endofnames", endofnames)
    on("currenttopic", lambda c, e: out(f"topic {e.arguments[0]} :{e.arguments[1]}"))
    on("mode", lambda c, e: out(f"mode {nick_of(e)} {e.target} {' '.join(e.arguments)}"))
    on("nicknameinuse", lambda c, e: out(f"nicknameinuse {e.arguments[0]}"))
    on(
        "erroneusnickname",
        lambda c, e: out(f"erroneusnickname {e.arguments[0]} :{e.arguments[1]}"),
    )
    on("nosuchnick", lambda c, e: out(f"nosuchnick {e.arguments[0]}"))
    on("error", lambda c, e: out(f"error :{e.target}"))
    on("pong", lambda c, e: out(f"PONG {e.arguments[0]}"))

    def disconnected(c, e):
        out("disconnected")
        done.append(True)

    on("disconnect", disconnected)

    try:
        connection = reactor.server().connect(args.host, args.port, args.nick)
    except irc.client.ServerConnectionError as e:
        out(f"error :{e}")
        return 1

    def command(line):
        verb, _, rest = line.partition(" ")
        if verb == "/ping":
            connection.ping(rest)
        elif verb == "join":
            connection.join(rest)
        elif verb == "part":
            connection.part(rest)
        elif verb in ("privmsg", "notice", "action"):
            target, _, text = rest.partition(" ")
            getattr(connection, verb)(target, text)
        elif verb == "mode":
            target, _, change = rest.partition(" ")
            connection.mode(target, change)
        elif verb == "quit":
            connection.quit(rest)
        else:
            out(f"error :unknown command {verb}")

    stdin = sys.stdin.fileno()
    pending = b""
    while not done:
        ready, _, _ = select.select([stdin], [], [], 0)
        if ready:
            chunk = os.read(stdin, 4096)
            if not chunk:
                if connection.is_connected():
                    connection.quit("stdin closed")
                break
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                command(line.decode("utf-8").rstrip("\r"))
        reactor.process_once(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())
