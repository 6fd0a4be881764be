"""The runtime process of one execution environment: spawn in its own process group, stop and continue
the whole group, kill it, read its memory, and describe how it ended."""

from __future__ import annotations

import os
import signal
import subprocess

from heartbench.children import die_with_parent

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")

# How Lambda (written in Go) names the signals that end a runtime: "signal: killed".
_SIGNAL_WORDS = {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault",
                 signal.SIGABRT: "aborted", signal.SIGTERM: "terminated", signal.SIGBUS: "bus error",
                 signal.SIGINT: "interrupt", signal.SIGFPE: "floating point exception",
                 signal.SIGILL: "illegal instruction", signal.SIGHUP: "hangup"}


def rss_bytes(pid: int) -> int:
    """Resident set size of a process now (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


def describe_exit(returncode: int) -> str:
    """'exit status 1' or 'signal: killed', as in `Runtime exited with error: ...`."""
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:  # real-time signals have no name: Go says "signal 40"
            return f"signal: signal {-returncode}"
        return f"signal: {_SIGNAL_WORDS.get(sig, sig.name.lower())}"
    return f"exit status {returncode}"


class RuntimeProcess:
    """A runtime client process leading its own process group; output goes to one pipe."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str):
        read_fd, write_fd = os.pipe()
        try:
            self.popen = subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=write_fd, stderr=write_fd,
                start_new_session=True, preexec_fn=die_with_parent, close_fds=True)
        except OSError:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.output_fd = read_fd
        self.pid = self.popen.pid
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except OSError:
            self._signal_group(signal.SIGKILL)
            self.popen.wait()
            os.close(read_fd)
            raise
        self.returncode: int | None = None

    def _signal_group(self, sig: int) -> bool:
        try:
            os.killpg(self.pid, sig)
            return True
        except ProcessLookupError:
            return False

    def freeze(self) -> None:
        """SIGSTOP every process of the group: no thread of the runtime runs until thaw()."""
        self._signal_group(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_group(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the whole group (works on a stopped group too)."""
        if self.returncode is None:
            self._signal_group(signal.SIGKILL)

    def reap(self) -> int:
        """Collect the exit status; call once the pidfd is readable (or after kill()).

        Other members of the group (processes the handler started) go too: until the leader is
        reaped its pid, and so the group id, cannot be reused, so signalling the group is safe.
        """
        if self.returncode is None:
            self._signal_group(signal.SIGKILL)
            self.returncode = self.popen.wait()
            try:
                os.close(self.pidfd)
            except OSError:
                pass
        return self.returncode

    def close_output(self) -> None:
        try:
            os.close(self.output_fd)
        except OSError:
            pass

    def read_output(self) -> bytes | None:
        """Whatever the pipe holds now: b'' if nothing, None at end of file."""
        chunks = []
        while True:
            try:
                chunk = os.read(self.output_fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                return None if not chunks else b"".join(chunks)
            if not chunk:
                return None if not chunks else b"".join(chunks)
            chunks.append(chunk)
        return b"".join(chunks)

    def rss_bytes(self) -> int:
        """Resident set size of the leader process now (0 once it is gone)."""
        return rss_bytes(self.pid)

    def peak_rss_bytes(self) -> int:
        """VmHWM: the highest resident set size the leader process has had."""
        try:
            with open(f"/proc/{self.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        return 0

    def group_member_pids(self) -> list[int]:
        """Other live processes in the group (children the handler started)."""
        pids = []
        try:
            entries = os.listdir("/proc")
        except OSError:
            return pids
        for entry in entries:
            if not entry.isdigit() or int(entry) == self.pid:
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                if int(fields[2]) == self.pid:  # field 5 (pgrp), counted after the comm field
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
        return pids
