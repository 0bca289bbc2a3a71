"""The click-free reader of `run`/`exec` command lines must agree with click on every line it
accepts, and leave to click every line click would refuse (cli/quickparse.py)."""
import random

import click
import pytest

from pocketbox.cli import container_commands, container_run
from pocketbox.cli.quickparse import parse

COMMANDS = {"run": (container_run.RUN, container_commands.run), "exec": (container_run.EXEC, container_commands.exec_)}


def click_reads(command, args):
    """click's parameters for args, or None when click refuses them (usage error, --help)."""
    try:
        ctx = command.make_context(command.name, list(args))
    except (click.ClickException, click.exceptions.Exit):
        return None
    return ctx.params


def agree(name, args):
    spec, command = COMMANDS[name]
    fast = parse(list(args), spec)
    slow = click_reads(command, args)
    if fast is not None:
        assert slow is not None, f"click refuses {args} but quickparse read {fast}"
        assert fast == slow, args
    return fast


@pytest.mark.parametrize("args", [
    ["busybox"],
    ["--rm", "--network", "none", "busybox", "true"],
    ["-it", "--rm", "debian", "bash"],
    ["-dit", "--name=web", "-p8080:80", "-p", "127.0.0.1:9000:90/udp", "httpd", "httpd", "-f"],
    ["-e", "A=1", "--env", "B=2", "-eC=3", "--env=D", "busybox", "env"],
    ["-v", "/srv:/data:ro", "--mount", "type=tmpfs,target=/t", "--tmpfs", "/run", "busybox"],
    ["-m", "32m", "--memory-swap=-1", "--cpus", "0.5", "-c", "512", "--pids-limit", "-1", "busybox"],
    ["--pull=never", "--restart", "on-failure:3", "-a", "stdout", "-astderr", "busybox"],
    ["-h", "myhost", "-w", "/tmp", "-u", "1000:1000", "--entrypoint", "", "busybox", "-c", "echo hi"],
    ["--cap-add", "NET_ADMIN", "--cap-drop=ALL", "--privileged", "--read-only", "-P", "busybox"],
    ["--", "busybox", "--", "x"],
    ["busybox", "--rm", "-it"],  # after the image: the container's command
    ["--name", "-d", "busybox"],  # a value may look like an option
    ["", "x"],
    ["-", "x"],
])
def test_run_lines_read_as_click_reads_them(args):
    assert agree("run", args) is not None


@pytest.mark.parametrize("args", [
    ["ctr", "true"],
    ["-it", "ctr", "sh"],
    ["-d", "-e", "A=1", "-w", "/", "-u", "nobody", "ctr", "sleep", "1"],
    ["-uroot", "--env=X=y", "ctr", "sh", "-c", "exit 3"],
])
def test_exec_lines_read_as_click_reads_them(args):
    assert agree("exec", args) is not None


@pytest.mark.parametrize("name,args", [
    ("run", ["--help"]), ("run", ["--rm=yes", "busybox"]), ("run", ["--bogus", "busybox"]), ("run", ["-Z", "busybox"]),
    ("run", ["--pull", "sometimes", "busybox"]), ("run", ["-a", "stdnothing", "busybox"]), ("run", ["-c", "lots", "x"]),
    ("run", ["--name"]), ("run", ["-e"]), ("run", []), ("run", ["--rm"]), ("run", ["-dp"]),
    ("exec", ["ctr"]), ("exec", ["-h"]), ("exec", ["-it"]), ("exec", []), ("exec", ["--help", "ctr", "true"]),
])
def test_anything_unsure_is_left_to_click(name, args):
    spec, command = COMMANDS[name]
    assert parse(list(args), spec) is None
    assert click_reads(command, args) is None


TOKENS = ["--rm", "-d", "-i", "-t", "-it", "-dit", "-ti", "--name", "--name=x", "-e", "-eA=1", "--env", "--env=B",
          "-p", "-p80", "80:80", "--network", "none", "--net=host", "-a", "stdout", "stdin", "-astderr", "--pull",
          "never", "missing", "-c", "12", "1_0", "x1", "--pids-limit", "-1", "-h", "-w", "/", "-u", "0", "--", "-",
          "", "busybox", "sh", "--help", "--bogus", "-Z", "--rm=1", "=", "-v", "/a:/b", "--read-only", "-P",
          "--restart", "always", "--entrypoint", "-m", "4m", "--cpus=1", "--userns", "auto", "-ep", "-pe"]


def test_random_lines_agree_with_click():
    """Thousands of random lines: quickparse is either silent or reads exactly what click reads."""
    rng = random.Random(20261128)
    read = 0
    for _ in range(4000):
        name = rng.choice(["run", "exec"])
        args = [rng.choice(TOKENS) for _ in range(rng.randint(0, 7))]
        read += agree(name, args) is not None
    assert read > 400  # and it does read a good share of them
