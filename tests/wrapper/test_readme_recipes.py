"""The README's "On your own machine" recipes, run as written against the lab.

Only the machine around them is set here, as a user's would be: a fresh HOME, `pulltrace` on
PATH, ctr's daemon (CONTAINERD_ADDRESS), the docker daemon the user already has (DOCKER_HOST),
and podman's storage settings this machine needs (vfs, no systemd).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from wrapperhelpers import ROOT, pull_of, trace_in

pytestmark = pytest.mark.lab

_RECIPE = re.compile(r"<!-- recipe: (?P<name>[\w-]+) -->\n```sh\n(?P<script>.*?)```", re.DOTALL)


def recipes() -> dict[str, str]:
    return {m["name"]: m["script"] for m in _RECIPE.finditer((ROOT / "README.md").read_text())}


def test_the_readme_has_the_recipes_this_file_runs():
    assert sorted(recipes()) == ["containerd", "docker", "podman", "podman-mirror", "skopeo"]


@pytest.fixture(scope="module")
def user_daemon(lab):
    return lab.docker("wrapper-user")


@pytest.mark.parametrize("name", ["skopeo", "podman", "docker", "containerd", "podman-mirror"])
def test_a_recipe_runs_as_written(name, lab, env, tmp_path, containerd, user_daemon):
    script = recipes()[name]
    short = Path(tempfile.mkdtemp(prefix="wrapper-recipe-"))  # podman wants a short runroot
    (short / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{short}/run"\ngraphroot = "{short}/root"\n')
    (short / "containers.conf").write_text('[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n')
    containerd.forget()
    user_daemon.forget_images()
    machine = dict(env, PATH=f"{Path(sys.executable).parent}:{env['PATH']}", CONTAINERD_ADDRESS=str(containerd.address),
                   DOCKER_HOST=user_daemon.host, CONTAINERS_STORAGE_CONF=str(short / "storage.conf"),
                   CONTAINERS_CONF=str(short / "containers.conf"))
    try:
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=machine, cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    session = pull_of(trace_in(tmp_path / "out"), "library/tiny")
    image = lab.images["library/tiny"]
    downloads = [s for s in session.steps if s.kind.value == "cdn-download"]
    assert {s.exchange.body_sha256 for s in downloads} == {image.config_digest, *(x.digest for x in image.layers)}
    assert {s.kind.value for s in session.steps} >= {"token", "blob-redirect", "cdn-download"}
    if name == "docker":  # --load: the user's daemon has the very image
        inspect = user_daemon.docker("image", "inspect", "--format", "{{.Id}}", "hub.pulltrace.test/library/tiny")
        assert inspect.stdout.strip() == image.config_digest
        user_daemon.forget_images()
