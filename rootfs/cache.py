"""Build the test and benchmark images from their recipes once, and keep them between runs.

The cache key is a hash of the recipe files, so a changed recipe rebuilds its image.
Default cache: /var/cache/pocketbox-images ($POCKETBOX_IMAGE_CACHE moves it)."""
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import ociimage
from helpers.netns import in_host_network  # debootstrap downloads from the machine's own network namespace

HERE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    return Path(os.environ.get("POCKETBOX_IMAGE_CACHE", "/var/cache/pocketbox-images"))


def _key(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def layout_from_recipe(name: str, tag: str = "latest") -> Path:
    """An OCI layout (tag `tag`) built from rootfs/NAME/build.sh, cached by recipe hash."""
    recipe = HERE / name / "build.sh"
    out = cache_dir() / f"{name}-{_key(recipe, HERE / 'ociimage.py')}"
    if (out / "index.json").exists():
        return out
    work = Path(f"{out}.building.{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        subprocess.run(in_host_network(["sh", str(recipe), str(work / "rootfs")]), check=True,
                       stdout=subprocess.DEVNULL)
        layout = ociimage.Layout(work / "layout")
        layout.tag(layout.image([ociimage.tar_dir(work / "rootfs")]), tag)
        shutil.rmtree(out, ignore_errors=True)
        os.rename(work / "layout", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
