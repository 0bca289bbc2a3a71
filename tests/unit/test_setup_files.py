"""The set-up paths: the Vagrant box provisions with the very script the README tells Linux users to run."""
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_vagrant_provisions_with_install_script():
    vagrantfile = (REPO / "Vagrantfile").read_text()
    # uploaded by Vagrant itself (works on Windows hosts: no rsync), then installed by install.sh
    assert re.search(r'config\.vm\.provision "file", source: "\.", destination: "/tmp/pocketbox-src"', vagrantfile)
    assert re.search(r'config\.vm\.provision "shell", inline: ".*sh /opt/pocketbox-src/scripts/install\.sh"',
                     vagrantfile)
    assert 'synced_folder ".", "/vagrant", disabled: true' in vagrantfile
    assert "bookworm" in vagrantfile


def test_scripts_are_plain_posix_sh():
    for script in ("scripts/install.sh", "scripts/test.sh", "scripts/packages.sh", ".ci/run",
                   "rootfs/busybox/build.sh",
                   "rootfs/debian/build.sh"):
        text = (REPO / script).read_text()
        assert text.startswith("#!/bin/sh"), script
        subprocess.run(["dash", "-n", str(REPO / script)], check=True)


def test_readme_has_exactly_the_two_setup_commands():
    readme = (REPO / "README.md").read_text()
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    block = setup.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.splitlines()] == ["sh scripts/install.sh",
                                                                          "sh scripts/test.sh"]
    ci = (REPO / ".ci/run").read_text()
    assert "sh scripts/install.sh" in ci and "sh scripts/test.sh" in ci
