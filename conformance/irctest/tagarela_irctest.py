"""irctest's controller for Tagarela's IRC port (spec §20).

irctest (../shared/irctest, the suite IRC servers test themselves with)
loads this module with `--controller tagarela_irctest` when this folder is
on PYTHONPATH. It starts the real `tagarela-server` binary (found through
$TAGARELA_SERVER, else on PATH) with an IRC port, in a directory of its
own, and stops it after each test. Written by the Tagarela team; it uses
irctest's base classes and nothing else of the suite.
"""

import os
import shutil
from typing import Optional, Set, Type

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController


class TagarelaController(BaseServerController, DirectoryBasedController):
    software_name = "Tagarela"
    supported_sasl_mechanisms: Set[str] = set()
    supports_sts = False
    # irctest checks that a line reached another client by sending PING on
    # that client's own connection and waiting for the PONG: that orders
    # two connections only for a server that reads them one at a time.
    # Ours reads each connection on its own task, on several threads, so
    # a line sent on one connection a moment before a PING on another may
    # be read after it. irctest's knob for such servers (Sable uses 0.1 s)
    # waits a little before each read.
    sync_sleep_time = 0.01

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str],
        websocket_port: Optional[int],
    ) -> None:
        if websocket_hostname is not None and websocket_hostname != hostname:
            raise NotImplementedByController("Websocket on another address")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        assert self.directory
        binary = os.environ.get("TAGARELA_SERVER") or shutil.which("tagarela-server")
        if binary is None:
            raise RuntimeError("tagarela-server not found: set TAGARELA_SERVER")
        command = [
            binary,
            "--listen",
            hostname,
            # Tagarela's own port is not under test: any free one.
            "--port",
            "0",
            "--no-audit-log",
            "--no-history",
            # irctest expects this name in numerics' sources.
            "--irc-name",
            "My.Little.Server",
        ]
        if ssl:
            self.gen_ssl()
            command += [
                "--tls-cert",
                str(self.pem_path),
                "--tls-key",
                str(self.key_path),
                "--tls-port",
                "0",
                "--irc-tls-port",
                str(port),
            ]
        else:
            command += ["--irc-port", str(port)]
        if websocket_port is not None:
            # IRC over WebSocket is served by the web door (spec §21.4).
            command += ["--web-port", str(websocket_port)]
        env = dict(os.environ)
        env["XDG_STATE_HOME"] = str(self.directory)
        # The operator block irctest's cases use (OPER operuser
        # operpassword), as our operators file (spec §20.6).
        operators = self.directory / "operators.txt"
        operators.write_text("operuser operpassword\n")
        operators.chmod(0o600)
        command += ["--operators-file", str(operators)]
        if password is not None:
            path = self.directory / "password.txt"
            path.write_text(password + "\n")
            command += ["--password-file", str(path)]
        self.proc = self.execute(command, env=env)


    def wait_for_services(self) -> None:
        # Tagarela is its own services: nothing else to wait for.
        pass

    def registerUser(self, case, username, password=None) -> None:  # type: ignore[no-untyped-def]
        # Names are not accounts (spec §19.6): there is nothing to
        # register, so cases that need an account are skipped.
        raise NotImplementedByController("account registration")


def get_irctest_controller_class() -> Type[TagarelaController]:
    return TagarelaController
