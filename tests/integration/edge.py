"""A second nginx in front of the running stack's functions, for tests that
need another edge configuration (rate limits on, a function missing or
silent) without reloading the stack's own nginx under the other tests.

scripts/nginx-conf.sh renders it exactly as for the stack, with the given
environment, on a free port, in its own runtime directory: its socket
directory holds links to the stack's function sockets, except the functions
a test names as missing (no socket: nginx answers 502) or silent (a socket
that accepts and never answers: 504 once fastcgi_read_timeout passes)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from rally import ENV, TOP, URL_HOST


def free_port():
    with socket.socket() as s:
        s.bind((URL_HOST, 0))
        return s.getsockname()[1]


class SideNginx:
    def __init__(self, env=None, missing=(), silent=(), read_timeout=None):
        self.port = free_port()
        # Under the stack's runtime directory: nginx's workers (www-data when
        # run as root) reach it, and the stack's cleanup removes it.
        self.rt = tempfile.mkdtemp(prefix="side-nginx-", dir=ENV["RALLY_RT_DIR"])
        os.chmod(self.rt, 0o755)
        sock = os.path.join(self.rt, "sock")
        for d in ("sock", "logs", "nginx/tmp"):
            os.makedirs(os.path.join(self.rt, d), mode=0o755)
        os.makedirs(os.path.join(self.rt, "push"), mode=0o700)  # its own publisher, unused
        os.symlink(os.path.join(ENV["RALLY_RT_DIR"], "www"), os.path.join(self.rt, "www"))
        for name in os.listdir(ENV["RALLY_SOCKET_DIR"]):
            f = name[:-len(".sock")]
            if name.endswith(".sock") and f != "push" and f not in missing and f not in silent:
                os.symlink(os.path.join(ENV["RALLY_SOCKET_DIR"], name), os.path.join(sock, name))
        self.listeners = []
        for f in silent:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(os.path.join(sock, f + ".sock"))
            os.chmod(os.path.join(sock, f + ".sock"), 0o666)
            s.listen(64)
            self.listeners.append(s)
            threading.Thread(target=self._hold, args=(s,), daemon=True).start()

        e = dict(os.environ)
        for k, v in (env or {}).items():  # None: unset, for the script's default
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        conf = subprocess.run([os.path.join(TOP, "scripts", "nginx-conf.sh"), self.rt, str(self.port),
                               os.path.join(self.rt, "logs")],
                              env=e, capture_output=True, text=True, check=True).stdout
        self.conf = os.path.join(self.rt, "nginx", "nginx.conf")
        with open(self.conf, "w") as fh:
            fh.write(conf)
        if read_timeout is not None:
            # This nginx's own copy of the FastCGI settings: a silent
            # function times out in seconds instead of the real 15 s.
            params = os.path.join(self.rt, "nginx", "rally-fastcgi.conf")
            with open(params) as fh:
                text = fh.read()
            with open(params, "w") as fh:
                fh.write(text.replace("fastcgi_read_timeout 15s;", "fastcgi_read_timeout %s;" % read_timeout))
        self.held = []
        subprocess.run(self._nginx(), check=True, capture_output=True)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection((URL_HOST, self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def _nginx(self, *args):
        return ["nginx", "-p", os.path.join(self.rt, "nginx"), "-c", self.conf,
                "-e", os.path.join(self.rt, "logs", "nginx-error.log")] + list(args)

    def _hold(self, listener):
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            self.held.append(c)  # never answered; closed by stop()

    def stop(self):
        pidfile = os.path.join(self.rt, "nginx", "nginx.pid")
        if os.path.exists(pidfile):
            subprocess.run(self._nginx("-s", "quit"), capture_output=True)
            deadline = time.time() + 10
            while os.path.exists(pidfile) and time.time() < deadline:
                time.sleep(0.05)
            if os.path.exists(pidfile):  # a held subscriber kept it: stop now
                with open(pidfile) as fh:
                    pid = int(fh.read())
                os.kill(pid, signal.SIGTERM)
                while os.path.exists(pidfile):
                    time.sleep(0.05)
        for s in self.listeners + self.held:
            s.close()
        shutil.rmtree(self.rt, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
