"""The wheel carries the catalogs: build it, install it into a clean virtual environment and
load catalog entries by name from there, far from this source tree."""

import json
import subprocess
import sys
import sysconfig
import textwrap
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _dependency_modules(name: str) -> set[str]:
    """Top-level files and directories of the distributions ``name`` needs, recursively."""
    seen: set[str] = set()
    modules: set[str] = set()
    todo = list(metadata.requires(name) or [])
    while todo:
        requirement = Requirement(todo.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if requirement.name.lower() in seen:
            continue
        seen.add(requirement.name.lower())
        dist = metadata.distribution(requirement.name)
        for file in dist.files or []:
            top = file.parts[0]
            if not top.endswith((".dist-info", ".pth")) and top != "..":
                modules.add(top)
        todo += list(dist.requires or [])
    return modules


def test_the_wheel_ships_the_catalogs(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    [wheel] = dist.glob("oisa-*.whl")
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
                   check=True, capture_output=True)
    # The clean environment gets oisa's dependencies (and theirs) from ours, linked one by one
    # into a directory of their own, so that it imports the installed wheel and sees no other
    # plug-in of this environment.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = tmp_path / "deps"
    deps.mkdir()
    for top in sorted(_dependency_modules("oisa")):
        (deps / top).symlink_to(Path(sysconfig.get_paths()["purelib"]) / top)
    Path(site, "dependencies-from-test-runner.pth").write_text(f"{deps}\n")
    script = textwrap.dedent("""
        import json, oisa, oisa.catalog
        from oisa.fabric import load_fabric
        from oisa.device import load_profile
        from oisa.observe import dissector_path
        print(json.dumps({
            "module": oisa.__file__,
            "devices": oisa.catalog.catalog_names("devices"),
            "fabrics": oisa.catalog.catalog_names("fabrics"),
            "pair": [c.device.name for c in load_fabric("pair").cards],
            "dissector": str(dissector_path()) if dissector_path().is_file() else None,
        }))
    """)
    done = subprocess.run([str(python), "-c", script], cwd=tmp_path, check=True, capture_output=True, text=True)
    found = json.loads(done.stdout)
    assert found["module"].startswith(str(env_dir))
    assert "h100-like" in found["devices"] and "pair" in found["fabrics"]
    assert found["pair"] == ["h100-like", "h100-like"]
    assert found["dissector"].startswith(str(env_dir))  # the Wireshark dissector is package data
