"""The user's terminal <-> the container's pty: raw mode, copying both ways, window size.

The container's pty comes from its own devpts (/dev/pts newinstance); we hold the master.
Ctrl-C is just a byte here: the container's line discipline turns it into SIGINT for its
foreground process, as on a real terminal."""
import errno
from contextlib import contextmanager, nullcontext
import fcntl
import os
import select
import signal
import sys
import termios
import tty


def copy_winsize(src_fd: int, dst_fd: int) -> None:
    try:
        size = fcntl.ioctl(src_fd, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst_fd, termios.TIOCSWINSZ, size)
    except OSError:
        pass


@contextmanager
def raw_terminal(fd: int, on_resize):
    """The user's terminal in raw mode (typed-ahead input kept), on_resize() now and at every
    SIGWINCH; everything restored on the way out."""
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)
    on_resize()
    previous = signal.signal(signal.SIGWINCH, lambda *a: on_resize())
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, previous)


def proxy(master: int, stdin_open: bool = True, pid: int | None = None, on_output=None) -> None:
    """Copy until the container side closes (its processes exited), or until process `pid`
    exits (exec: a background job of the shell may keep the pty open; Docker ends there too).
    `on_output(data)` also gets what the container wrote (its log)."""
    stdin = sys.stdin.fileno()
    stdout = sys.stdout.fileno()
    with raw_terminal(stdin, lambda: copy_winsize(stdin, master)) if os.isatty(stdin) else nullcontext():
        _copy_loop(master, stdin, stdout, stdin_open, pid, on_output)


def _copy_loop(master: int, stdin: int, stdout: int, stdin_open: bool, pid: int | None, on_output=None) -> None:
    watch = [master] + ([stdin] if stdin_open else [])
    pidfd = os.pidfd_open(pid) if pid else None
    if pidfd is not None:
        watch.append(pidfd)
    try:
        while True:
            try:
                ready, _, _ = select.select(watch, [], [])
            except InterruptedError:
                continue
            if pidfd is not None and pidfd in ready:
                _drain(master, stdout)
                break
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as e:
                    if e.errno == errno.EIO:  # the slave side is closed: the container is done
                        break
                    raise
                if not data:
                    break
                if on_output:
                    on_output(data)
                _write_all(stdout, data)
            if stdin in ready:
                data = os.read(stdin, 65536)
                if not data:
                    watch.remove(stdin)
                    continue
                _write_all(master, data)
    finally:
        os.close(master)
        if pidfd is not None:
            os.close(pidfd)


def _drain(master: int, stdout: int) -> None:
    """What the exited process wrote last, without waiting for more."""
    os.set_blocking(master, False)
    while True:
        try:
            data = os.read(master, 65536)
        except (BlockingIOError, OSError):
            return
        if not data:
            return
        _write_all(stdout, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
