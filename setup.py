"""setuptools reads cffi_modules from setup(), and builds the two C programs here (the supervisor
and the static exec step); everything else is in pyproject.toml."""
import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

PROGRAMS = {
    # name in the package: (source, flags)
    "pocketbox-monitor": ("csrc/pocketbox_monitor.c", ["-O2", "-Wall"]),
    "pocketbox-proxy": ("csrc/pocketbox_proxy.c", ["-O2", "-Wall"]),
    # static, no libc: it runs after pivot_root, where only the container's files are left
    "pocketbox-exec": ("csrc/pocketbox_exec.c", ["-Os", "-Wall", "-static", "-nostdlib", "-ffreestanding",
                                                  "-fno-stack-protector", "-fno-builtin", "-s"]),
}


def compile_programs(target_dir: str) -> None:
    """cc FLAGS csrc/X.c -o <package>/X for each plain C program (no Python in them)."""
    os.makedirs(target_dir, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    for name, (source, flags) in PROGRAMS.items():
        subprocess.run([cc, *flags, "-o", os.path.join(target_dir, name), source], check=True)


class BuildWithPrograms(build_py):
    def run(self):
        super().run()
        compile_programs(os.path.join(self.build_lib, "pocketbox"))


setup(cffi_modules=["csrc/build_sys.py:ffibuilder", "csrc/build_seccomp.py:ffibuilder"],
      cmdclass={"build_py": BuildWithPrograms})
