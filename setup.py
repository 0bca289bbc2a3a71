"""setuptools reads cffi_modules from setup(), and builds the C supervisor program here;
everything else is in pyproject.toml."""
import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

MONITOR_SOURCE = "csrc/pocketbox_monitor.c"
MONITOR_NAME = "pocketbox-monitor"


def compile_monitor(target_dir: str) -> None:
    """cc -O2 csrc/pocketbox_monitor.c -o <package>/pocketbox-monitor (a plain program, no Python)."""
    os.makedirs(target_dir, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-Wall", "-o", os.path.join(target_dir, MONITOR_NAME), MONITOR_SOURCE], check=True)


class BuildWithMonitor(build_py):
    def run(self):
        super().run()
        compile_monitor(os.path.join(self.build_lib, "pocketbox"))


setup(cffi_modules=["csrc/build_sys.py:ffibuilder", "csrc/build_seccomp.py:ffibuilder"], cmdclass={"build_py": BuildWithMonitor})
